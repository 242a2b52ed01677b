import { isDeepStrictEqual } from 'node:util';
import { Document, isMap, isScalar, isSeq, type Node, type Pair, parseDocument, type YAMLMap } from 'yaml';
import { fullWidthComma } from './fullWidth.js';
import type { MemberKind } from './schema.js';

/** A field's new value: text, a list of texts, or null to leave the field out. */
export type FieldValue = string | readonly string[] | null;

/** The fields a person edits, per kind, in the order a new file lists them. */
export const editableFields = {
  human: ['name', 'role', 'skills', 'bio', 'contact_email', 'github_username'],
  virtual: ['name', 'role', 'llm_model', 'system_prompt', 'personality_traits', 'expertise_areas'],
} as const satisfies Record<MemberKind, readonly string[]>;

export type EditableField = (typeof editableFields)[MemberKind][number];

/** Fields that hold lists of texts; the others hold one text. */
export const listFields: ReadonlySet<string> = new Set(['skills', 'personality_traits', 'expertise_areas']);

/** A file the form cannot edit (not one YAML mapping): the raw editor can. */
export class NotEditableError extends Error {
  override name = 'NotEditableError';
}

/**
 * A new member file with these values, in the order of `editableFields`: empty values left out,
 * lists in flow style (`[a, b]`), text of several lines as a literal block.
 */
export function newMemberFile(kind: MemberKind, values: Partial<Record<EditableField, FieldValue>>): string {
  const doc = new Document({});
  for (const field of editableFields[kind]) {
    const value = normal(values[field]) as string | readonly string[] | null;
    if (value !== null) doc.set(field, valueNode(doc, value, undefined));
  }
  return doc.toString(renderOptions);
}

/**
 * The file's text with these fields set to these values and nothing else changed: the other
 * fields, comments, blank lines, key order and quoting stay byte for byte, because only the text
 * of a changed field is replaced (found through the `yaml` package's Document, its value
 * rendered by it). A field given with the value it has already is left as written. A field set
 * to null (or empty) is removed, with its line; a new field is added at the end. An AI member's
 * prompt stays under `custom_prompt` in a file that names it so. Should splicing not give the
 * intended data (an unusual layout), the Document itself is changed and rendered instead:
 * comments and order kept, spacing as the `yaml` package writes it. A file the form cannot
 * change as asked — not one mapping, aliases that lead nowhere or expand too far, a changed value
 * another field refers to by an alias — is a NotEditableError: the raw YAML editor can change it.
 */
export function editMemberFile(text: string, kind: MemberKind, values: Partial<Record<EditableField, FieldValue>>): string {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0 || !isMap(doc.contents)) throw new NotEditableError('the file is not one YAML mapping of fields');
  const root = doc.contents as YAMLMap<unknown, unknown>;
  const data = dataOf(doc);
  if (data === undefined) throw new NotEditableError('the file has aliases that cannot be resolved, or that expand too far');
  const edits: Array<{ key: string; value: string | readonly string[] | null; pair?: Pair<unknown, unknown> }> = [];
  for (const field of editableFields[kind]) {
    if (!(field in values)) continue;
    const key = field === 'system_prompt' && !root.has('system_prompt') && root.has('custom_prompt') ? 'custom_prompt' : field;
    const value = normal(values[field]) as string | readonly string[] | null;
    const pair = root.items.find((item) => isScalar(item.key) && item.key.value === key);
    // From the whole document: a value holding an alias (`[*name, Go]`) reads as what it stands for.
    const current = normal(data[key]);
    if (isDeepStrictEqual(current, value)) continue;
    edits.push({ key, value, ...(pair ? { pair } : {}) });
  }
  if (edits.length === 0) return text;

  const expected = { ...data };
  for (const { key, value } of edits) {
    if (value === null) delete expected[key];
    else expected[key] = value;
  }
  const spliced = !root.flow ? splice(text, edits) : undefined;
  if (spliced !== undefined && sameData(spliced, expected)) return spliced;

  for (const { key, value, pair } of edits) {
    if (value === null) doc.delete(key);
    else doc.set(key, valueNode(doc, value, pair?.value as Node | undefined));
  }
  // A value changed that another field refers to by an alias: no rendering gives the intended data.
  const rendered = renderedOrUndefined(doc);
  if (rendered === undefined || !sameData(rendered, expected)) {
    throw new NotEditableError('another field refers to a changed value by an alias: the form cannot change it alone');
  }
  return rendered;
}

const renderOptions = { lineWidth: 0, flowCollectionPadding: false } as const;

/**
 * A value as compared: empty text, an empty list and an absent value are all "no value"; lists
 * are copied as plain arrays. Anything else stays as it is: a number in the file (`role: 123`)
 * differs from the text "123" a form gives, so that saving the form quotes it.
 */
function normal(value: unknown): unknown {
  if (value === undefined || value === null || value === '') return null;
  if (Array.isArray(value)) return value.length === 0 ? null : value.map((item: unknown) => item);
  return value;
}

/** The document's data, or undefined when an alias leads nowhere or expands too far (the `yaml` package's bound). */
function dataOf(doc: Document): Record<string, unknown> | undefined {
  try {
    return doc.toJS() as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function renderedOrUndefined(doc: Document): string | undefined {
  try {
    return doc.toString(renderOptions);
  } catch {
    return undefined;
  }
}

/** The node for a new value, in the style of the node it replaces where that style still fits. */
function valueNode(doc: Document, value: string | readonly string[], old: Node | undefined): Node {
  const node = doc.createNode(value) as Node;
  if (isSeq(node)) {
    node.flow = isSeq(old) ? old.flow === true : true;
    // An item the form gives whole, full-width comma and all: quoted, or the parser would take
    // the comma for a slip between two items (members/fullWidth.ts).
    if (node.flow)
      for (const item of node.items) if (isScalar(item) && typeof item.value === 'string' && fullWidthComma.test(item.value)) item.type = 'QUOTE_DOUBLE';
  }
  if (isScalar(node) && typeof value === 'string') {
    if (value.includes('\n')) node.type = 'BLOCK_LITERAL';
    else if (isScalar(old) && (old.type === 'QUOTE_DOUBLE' || old.type === 'QUOTE_SINGLE')) node.type = old.type;
  }
  return node;
}

/** `key: value` as the `yaml` package writes it, without the final line break. */
function renderPair(key: string, value: string | readonly string[], old: Node | undefined): string {
  const doc = new Document({});
  doc.set(key, valueNode(doc, value, old));
  return doc.toString(renderOptions).replace(/\n$/, '');
}

/**
 * The text with each edit replacing just its field's text, or undefined when a field's place
 * cannot be told. Edits go from the end of the file backwards, so offsets stay valid.
 */
function splice(
  text: string,
  edits: ReadonlyArray<{ key: string; value: string | readonly string[] | null; pair?: Pair<unknown, unknown> }>,
): string | undefined {
  let result = text;
  const additions: string[] = [];
  const placed = edits
    .filter((edit) => edit.pair)
    .map((edit) => ({ edit, key: edit.pair!.key as Node, value: edit.pair!.value as Node | null }))
    .sort((a, b) => (b.key.range?.[0] ?? 0) - (a.key.range?.[0] ?? 0));
  // A file written with CRLF gets CRLF in the text put in, so that it keeps one kind of line break.
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  for (const { edit, key, value } of placed) {
    const keyRange = key.range;
    const valueRange = value?.range ?? (keyRange ? [keyRange[1], keyRange[1], keyRange[1]] : undefined);
    if (!keyRange || !valueRange) return undefined;
    if (edit.value === null) {
      // The whole line (or lines) of the field, its comment and line break included.
      const start = result.lastIndexOf('\n', keyRange[0] - 1) + 1;
      let end = valueRange[2];
      if (result[end - 1] !== '\n') end = result.indexOf('\n', end) < 0 ? result.length : result.indexOf('\n', end) + 1;
      result = result.slice(0, start) + result.slice(end);
      continue;
    }
    const rendered = renderPair(edit.key, edit.value, value ?? undefined).replaceAll('\n', eol);
    // A value of several lines replaces the comment after the old one too: it would end up inside.
    const end = rendered.includes('\n') ? valueRange[2] : valueRange[1];
    const replaced = result.slice(keyRange[0], end);
    result = result.slice(0, keyRange[0]) + rendered + (replaced.endsWith('\n') ? eol : '') + result.slice(end);
  }
  for (const edit of edits) if (!edit.pair && edit.value !== null) additions.push(renderPair(edit.key, edit.value, undefined).replaceAll('\n', eol));
  if (additions.length > 0) result += `${result === '' || result.endsWith('\n') ? '' : eol}${additions.join(eol)}${eol}`;
  return result;
}

function sameData(text: string, expected: Record<string, unknown>): boolean {
  const doc = parseDocument(text, { uniqueKeys: true });
  return doc.errors.length === 0 && isDeepStrictEqual(dataOf(doc), expected);
}
