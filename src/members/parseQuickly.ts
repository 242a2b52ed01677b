import { isUtf8 } from 'node:buffer';
import { readFlatMapping } from './flatYaml.js';
import type { ParseLimits } from './limits.js';
import { type HumanMemberFile, type Member, type MemberKind, schemaOf, toHumanMember, toVirtualMember, type VirtualMemberFile } from './schema.js';

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });

/**
 * The fast path of `parseMemberFile`: the member, when the file is within the limits, UTF-8, of
 * the flat shape nearly all member files have (`readFlatMapping`) and valid; else undefined, and
 * `parseMemberFile` judges. Apart from it, so that a command whose files all pass here (`vecr
 * validate` in a pre-commit hook) never loads the `yaml` package, a third of what it would load.
 */
export function parseQuickly(kind: MemberKind, bytes: Uint8Array, limits: ParseLimits): Member | undefined {
  // The flat shape nests two deep (a mapping, a list) and has no aliases: under tighter limits,
  // the careful reader judges.
  if (bytes.byteLength > limits.maxBytes || limits.maxDepth < 2 || !isUtf8(bytes)) return undefined;
  const data = readFlatMapping(utf8.decode(bytes));
  if (!data) return undefined;
  const result = schemaOf[kind].safeParse(data);
  return result.success ? toMember(kind, result.data) : undefined;
}

export function toMember(kind: MemberKind, data: unknown): Member {
  return kind === 'human' ? { kind, member: toHumanMember(data as HumanMemberFile) } : { kind, member: toVirtualMember(data as VirtualMemberFile) };
}
