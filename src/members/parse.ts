import { isUtf8 } from 'node:buffer';
import { Composer, type Document, isMap, isPair, isScalar, isSeq, LineCounter, type Node, Parser, type YAMLMap } from 'yaml';
import type * as z from 'zod';
import { findFullWidthSlips, fullWidthComma } from './fullWidth.js';
import { type IssueCode, isIssueCode, type MemberIssue } from './issues.js';
import { defaultLimits, type ParseLimits } from './limits.js';
import { parseQuickly, toMember } from './parseQuickly.js';
import { githubLoginFormat, type Member, type MemberKind, schemaOf } from './schema.js';

export { defaultLimits, type ParseLimits };

export type ParseResult = { ok: true; value: Member } | { ok: false; issues: MemberIssue[] };

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });

/**
 * Reads one member file: bytes → text → exactly one YAML document → a validated member. Never
 * throws on bad input; every problem comes back as an issue naming file, field and position.
 *
 * Two readers, each for what it does best. Member files nearly all have one flat shape, which
 * our own reader (`readFlatMapping`) reads several times faster than a general YAML reader; a file
 * of that shape that is valid is done with there. Anything else — a file of another shape, one
 * with aliases, one that fails validation — is read again by the `yaml` package, whose syntax tree
 * has the positions that errors point at and the limits a hostile file needs.
 */
export function parseMemberFile(file: string, kind: MemberKind, bytes: Uint8Array, limits: ParseLimits = defaultLimits): ParseResult {
  const quick = parseQuickly(kind, bytes, limits);
  if (quick) return { ok: true, value: quick };
  if (bytes.byteLength > limits.maxBytes) {
    // Storage reads one byte past the limit, no more: the size read is not the file's.
    return failure(file, 'too_large', `is larger than ${limits.maxBytes} bytes, the limit`, {
      hint: 'a member file is a few lines of YAML; VECR_MAX_FILE_BYTES raises the limit',
    });
  }
  if (!isUtf8(bytes)) {
    const before = utf8.decode(bytes.subarray(0, firstInvalidUtf8(bytes)));
    return failure(file, 'encoding', 'is not valid UTF-8', { ...endOf(before), hint: 'save the file as UTF-8' });
  }
  return parseCarefully(file, kind, utf8.decode(bytes), limits);
}

function failure(file: string, code: IssueCode, message: string, extra: Partial<MemberIssue> = {}): ParseResult {
  return { ok: false, issues: [{ file, code, message, ...extra }] };
}

/**
 * The careful path: a concrete syntax tree with positions, checked before it is composed.
 * `parseMemberFile` takes it whenever the fast path declines; exported so that tests can hold
 * the two paths to the same verdicts. A file that fails and has a Japanese keyboard's slips in
 * its syntax (`name：太郎`) is told about those instead: they are the cause, and what the parser
 * or the schema makes of them is no help.
 */
export function parseCarefully(file: string, kind: MemberKind, text: string, limits: ParseLimits): ParseResult {
  const result = readCarefully(file, kind, text, limits);
  if (result.ok) return result;
  const slips = findFullWidthSlips(text);
  if (slips.length === 0) return result;
  return { ok: false, issues: slips.map((slip) => ({ file, ...slip, code: 'full_width' as const })) };
}

function readCarefully(file: string, kind: MemberKind, text: string, limits: ParseLimits): ParseResult {
  const fail = (code: IssueCode, message: string, extra: Partial<MemberIssue> = {}) => failure(file, code, message, extra);
  const lineCounter = new LineCounter();
  const position = (offset: number | undefined) => (offset === undefined ? {} : linePos(lineCounter, offset));
  const cst = [...new Parser(lineCounter.addNewLine).parse(text)];
  const shape = checkSyntaxTree(cst, limits.maxDepth);
  if (shape?.problem === 'too_deep') {
    return fail('too_deep', `nests collections more than ${limits.maxDepth} levels deep`, position(shape.offset));
  }
  if (shape?.problem === 'tag') {
    return fail('yaml', `uses the tag ${shape.tag}, which member files do not allow`, {
      ...position(shape.offset),
      hint: 'remove the tag; quote the value if it must be a string',
    });
  }
  const documents = [...new Composer({ schema: 'core', uniqueKeys: true, prettyErrors: false }).compose(cst, true, text.length)];

  const yamlProblems = documents.flatMap((doc) => [...doc.errors, ...doc.warnings]);
  if (yamlProblems.length > 0) {
    return {
      ok: false,
      issues: yamlProblems.map((problem) => ({
        file,
        code: 'yaml' as const,
        message: yamlMessage(problem.code, problem.message),
        ...position(problem.pos[0]),
      })),
    };
  }
  if (documents.length > 1) {
    return fail('documents', `holds ${documents.length} YAML documents; a member file holds exactly one`, position(documents[1]?.range[0]));
  }
  const document = documents[0];
  if (!document || document.contents === null || (isScalar(document.contents) && document.contents.value === null)) {
    return fail('empty', 'is empty (or holds only comments)', { hint: 'a member file needs at least a name: field' });
  }
  if (!isMap(document.contents)) {
    return fail('not_a_mapping', 'must be a mapping of fields (name: ..., role: ...)', position(document.contents.range?.[0]));
  }

  const commaSlips = fullWidthCommaItems(file, document.contents, lineCounter);
  if (commaSlips.length > 0) return { ok: false, issues: commaSlips };

  let data: unknown;
  try {
    data = document.toJS({ maxAliasCount: limits.maxAliases });
  } catch (error) {
    return fail('aliases', `uses too many aliases: ${(error as Error).message}`);
  }

  const result = schemaOf[kind].safeParse(data, { reportInput: true });
  if (!result.success) {
    const issues = result.error.issues.flatMap((issue) => toIssues(file, kind, issue, document, lineCounter, text));
    return { ok: false, issues };
  }
  return { ok: true, value: toMember(kind, result.data) };
}

/**
 * Unquoted items of flow lists that hold a full-width comma: YAML reads `[a，b]` as the one item
 * `a，b`, so the member would be registered with the wrong list. (`parseCarefully` then tells the
 * slip with its fix, from the text.)
 */
function fullWidthCommaItems(file: string, mapping: YAMLMap, lineCounter: LineCounter): MemberIssue[] {
  return mapping.items.flatMap((pair) => {
    if (!isSeq(pair.value) || !pair.value.flow) return [];
    const field = isScalar(pair.key) ? String(pair.key.value) : undefined;
    return pair.value.items
      .filter((item) => isScalar(item) && item.type === 'PLAIN' && typeof item.value === 'string' && fullWidthComma.test(item.value))
      .map((item) => ({
        file,
        code: 'full_width' as const,
        ...(field === undefined ? {} : { field }),
        message: 'writes a list item with a full-width comma, which YAML does not read as one',
        ...(isScalar(item) && item.range ? linePos(lineCounter, item.range[0]) : {}),
      }));
  });
}

function linePos(lineCounter: LineCounter, offset: number): { line: number; column: number } {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

/** The offset of the first byte that does not belong to a well-formed UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    const length = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (length === 0 || !isUtf8(bytes.subarray(i, i + length))) return i;
    i += length;
  }
  return bytes.length;
}

/** The line and column just after `text`. */
function endOf(text: string): { line: number; column: number } {
  const lines = text.split('\n');
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}

function yamlMessage(code: string, message: string): string {
  if (code === 'DUPLICATE_KEY') return 'has the same key twice; keep one';
  if (code === 'TAG_RESOLVE_FAILED' || /tag/i.test(message)) return `uses a tag this format does not allow: ${message}`;
  return message;
}

/** Tags a member file may carry: the core schema's own (`!!str 123` is a way to write a string). */
const coreTags = ['str', 'int', 'float', 'bool', 'null', 'seq', 'map'];
const allowedTags = new Set(['!', ...coreTags.map((t) => `!!${t}`), ...coreTags.map((t) => `!<tag:yaml.org,2002:${t}>`)]);

type TreeProblem = { problem: 'too_deep'; offset?: number } | { problem: 'tag'; tag: string; offset?: number };

/**
 * Walks the concrete syntax tree, without recursion, before anything is composed: composing a
 * hostile, deeply nested file overflows the stack, and custom tags (`!!js/function`, `!!binary`)
 * must never reach a constructor.
 */
function checkSyntaxTree(tokens: readonly unknown[], maxDepth: number): TreeProblem | undefined {
  type Token = {
    type?: string;
    offset?: number;
    source?: string;
    value?: unknown;
    key?: unknown;
    items?: unknown[];
    start?: unknown;
    sep?: unknown;
    props?: unknown;
    end?: unknown;
  };
  const stack: Array<{ token: unknown; depth: number }> = tokens.map((token) => ({ token, depth: 0 }));
  while (stack.length > 0) {
    const { token, depth } = stack.pop()!;
    if (!token || typeof token !== 'object') continue;
    if (Array.isArray(token)) {
      for (const item of token) stack.push({ token: item, depth });
      continue;
    }
    const node = token as Token;
    if (node.type === 'tag' && !allowedTags.has(node.source ?? '')) return { problem: 'tag', tag: node.source ?? '', offset: node.offset };
    const isCollection = node.type === 'block-map' || node.type === 'block-seq' || node.type === 'flow-collection';
    const level = isCollection ? depth + 1 : depth;
    if (level > maxDepth) return { problem: 'too_deep', offset: node.offset };
    for (const child of [node.start, node.sep, node.props, node.end, node.key, node.value, node.items]) {
      if (child && typeof child === 'object') stack.push({ token: child, depth: level });
    }
  }
  return undefined;
}

/** The fields a kind of file may hold, for hints (asked of the schema only when a file has others). */
const knownFields = (kind: MemberKind) => Object.keys(schemaOf[kind].shape);

function toIssues(file: string, kind: MemberKind, issue: z.core.$ZodIssue, document: Document, lineCounter: LineCounter, text: string): MemberIssue[] {
  const field = fieldName(issue.path);
  // The value as written in the file (`1.10`, not the number 1.1 it became).
  const written = () => {
    const range = nodeRange(document, issue.path);
    return range ? text.slice(range[0], range[1]).trim() : String(issue.input);
  };
  const at = (path: readonly PropertyKey[], key = false) => {
    const offset = nodeOffset(document, path, key);
    return offset === undefined ? {} : linePos(lineCounter, offset);
  };

  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const suggestion = didYouMean(key, knownFields(kind));
      return {
        file,
        field: fieldName([...issue.path, key]),
        code: 'unknown_field' as const,
        message: `is not a field of ${kind === 'human' ? 'a human' : 'an AI'} member`,
        hint: suggestion ? `did you mean ${suggestion}?` : `known fields: ${knownFields(kind).join(', ')}`,
        ...at([...issue.path, key], true),
      };
    });
  }
  return [{ file, ...(field ? { field } : {}), ...at(issue.path), ...describeIssue(issue, written) }];
}

/** The string formats of the member schemas, as a file's author reads them. */
const formats: Record<string, { message: string; hint?: string }> = {
  email: { message: 'is not a valid e-mail address' },
  [githubLoginFormat]: { message: 'is not a valid GitHub username', hint: 'letters, digits and single hyphens, at most 39 characters' },
};

/** More to say about a custom check's issue than its message. */
const customHints: Partial<Record<IssueCode, string>> = {
  control_character: 'remove it; names, roles, models and list items are one line each',
};

/** A zod issue other than unknown keys as a member issue's code, message and hint. `written` is the value as the file has it. */
export function describeIssue(issue: z.core.$ZodIssue, written: () => string): Pick<MemberIssue, 'code' | 'message' | 'hint'> {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined || issue.input === null) {
        return { code: 'required', message: 'is required' };
      }
      const got = describeValue(issue.input);
      if (issue.expected === 'string') {
        const scalar = isScalar(issue.input) || typeof issue.input !== 'object';
        return { code: 'type', message: `must be a string, not ${got}`, ...(scalar ? { hint: `quote it: "${written()}"` } : {}) };
      }
      if (issue.expected === 'array') {
        return {
          code: 'type',
          message: `must be a list of strings, not ${got}`,
          hint: `write a list: [${typeof issue.input === 'string' ? issue.input : '...'}]`,
        };
      }
      return { code: 'type', message: `must be ${issue.expected}, not ${got}` };
    }
    case 'too_big':
      return { code: 'too_long', message: `is longer than ${String(issue.maximum)} characters` };
    case 'too_small':
      return { code: 'empty_value', message: 'must not be empty' };
    case 'invalid_format': {
      const known = formats[issue.format];
      if (known) return { code: 'format', ...known };
      if (issue.format === 'regex') return { code: 'format', message: `does not match the pattern ${issue.pattern}` };
      return { code: 'format', message: `is not a valid ${issue.format}` };
    }
    case 'custom': {
      // A check says what it is in its params (`refine(..., { params: { code } })`).
      const code = issue.params?.code;
      if (!isIssueCode(code)) return { code: 'invalid', message: issue.message };
      const hint = customHints[code];
      return { code, message: issue.message, ...(hint ? { hint } : {}) };
    }
    default:
      return { code: 'type', message: issue.message };
  }
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i > 0 ? '.' : ''}${String(part)}`)).join('');
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return `a number (${value})`;
  if (typeof value === 'boolean') return `a boolean (${value})`;
  return typeof value;
}

function nodeRange(document: Document, path: readonly PropertyKey[]): [number, number] | undefined {
  const node = document.getIn(path as unknown[], true) as Node | undefined;
  return node?.range ? [node.range[0], node.range[1]] : undefined;
}

/** Where in the file a field path points: the key itself, or its value. */
function nodeOffset(document: Document, path: readonly PropertyKey[], key: boolean): number | undefined {
  let node: Node | null | undefined = document.contents as Node | null;
  let keyNode: Node | undefined;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(part));
      keyNode = pair?.key as Node | undefined;
      node = pair?.value as Node | null | undefined;
      if (!pair) return undefined;
    } else if (isSeq(node) && typeof part === 'number') {
      node = node.items[part] as Node | undefined;
      keyNode = undefined;
    } else {
      return undefined;
    }
  }
  const target = key ? keyNode : (node ?? keyNode);
  return target?.range?.[0];
}

/** The known field closest to a misspelt one: same letters ignoring case and `-`/`_`, or at most two edits away. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const normal = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');
  const exact = candidates.find((c) => normal(c) === normal(input));
  if (exact) return exact;
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(input.toLowerCase(), candidate);
    if (distance <= Math.min(2, Math.floor(candidate.length / 3)) && (!best || distance < best.distance)) {
      best = { candidate, distance };
    }
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
