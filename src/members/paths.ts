import type { MemberKind } from './schema.js';

const folders: Record<string, MemberKind> = { human_members: 'human', virtual_members: 'virtual' };

/**
 * The kind of member a storage key describes, or undefined when it is no member file: the parent
 * folder decides, at any depth (`data/samples/human_members/syota.yml` is a human), and only
 * `.yml` / `.yaml` files count.
 */
export function memberKindOf(key: string): MemberKind | undefined {
  const parts = key.split('/');
  const fileName = parts.at(-1) ?? '';
  if (parts.length < 2 || !/^[^.].*\.ya?ml$/i.test(fileName)) return undefined;
  return folders[parts.at(-2) ?? ''];
}
