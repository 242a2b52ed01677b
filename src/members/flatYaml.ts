/**
 * A reader for the shape member files have: a flat mapping of lower-case keys to text and lists
 * of text, written as `key: value`, `key: [a, b]`, a block list of `- item` lines, or `key: |`
 * text. It answers `undefined` for anything else (aliases, tags, nested mappings, escapes, folded
 * or multi-line scalars, numbers, booleans, nulls, tabs, duplicate keys, indented comments), and
 * the `yaml` package, the careful path of `parseMemberFile`, reads those. What it does answer is
 * what `yaml`'s core schema makes of the file: a test holds the two to that on generated files.
 *
 * Why a reader of our own: a full sync reads every member file, and a general reader spends most
 * of its time deciding what each scalar is and where each structure ends. This one leans on the
 * engine's string search (`indexOf`, sticky regular expressions) rather than a loop per character,
 * which also keeps it fast before the engine has compiled it: a sync is often a fresh process.
 */
export type FlatMapping = Record<string, string | string[]>;

// Characters outside the shape: tabs (finding comments and indicators relies on there being
// none), control characters and U+FFFE, U+FFFF (YAML refuses them), line and paragraph
// separators, a byte-order mark (anywhere: `parseMemberFile`'s decoder has already taken off a
// leading one), and a lone CR.
// eslint-disable-next-line no-control-regex
const outsideShape = /[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]|\r(?!\n)/;
// A key as member files write them: lower case, at most 255 characters (a field name is short;
// YAML itself refuses implicit keys over 1,024), and not `null`, which the core schema reads as a
// null key.
const keyAt = /(?!null:)[a-z][a-z0-9_]{0,254}:(?: +|(?=\n|$))/y;
// What a plain scalar may not start with (an indicator, or the start of a number, `.inf`, `~`),
// or be (the core schema's null and booleans): the careful reader decides what those are.
const notPlainText = /^(?:[-?:,[\]{}#&*!|>'"%@`.~+0-9]|(?:null|Null|NULL|true|True|TRUE|false|False|FALSE)$)/;
const blockHeader = /^\|-?(?: +(?:#.*)?)?$/;
const lineRest = /^(?: +(?:#.*)?)?$/;
const SPACE = 32;

export function readFlatMapping(source: string): FlatMapping | undefined {
  if (outsideShape.test(source)) return undefined;
  // CRLF line breaks read as LF (YAML normalises line breaks in scalars the same way).
  const text = source.includes('\r') ? source.replaceAll('\r\n', '\n') : source;
  const result: FlatMapping = {};
  let entries = 0;
  let started = false;
  for (let pos = 0; pos < text.length; ) {
    const end = lineEnd(text, pos);
    if (pos === end || text.charCodeAt(pos) === 0x23 /* # */) {
      pos = end + 1;
      continue;
    }
    // A document start marker before the first entry, alone on its line.
    if (!started && end - pos === 3 && text.startsWith('---', pos)) {
      started = true;
      pos = end + 1;
      continue;
    }
    started = true;
    keyAt.lastIndex = pos;
    // `test`, not `exec`: no match object for every line of every file.
    if (!keyAt.test(text)) return undefined;
    const key = text.slice(pos, text.indexOf(':', pos));
    if (Object.hasOwn(result, key)) return undefined;
    const rest = text.slice(keyAt.lastIndex, end);
    let value: string | string[] | undefined;
    let next = end + 1;
    if (rest === '' || rest.startsWith('#')) {
      const list = blockList(text, next);
      if (!list) return undefined;
      [value, next] = list;
    } else if (rest.startsWith('|')) {
      if (!blockHeader.test(rest)) return undefined;
      const block = literalBlock(text, next, rest[1] === '-');
      if (!block) return undefined;
      [value, next] = block;
    } else if (rest.startsWith('[')) {
      value = flowList(rest);
    } else {
      value = inlineScalar(rest);
    }
    if (value === undefined) return undefined;
    result[key] = value;
    entries++;
    // An indented line after an entry (a scalar going on over several lines) is no key: declined.
    pos = next;
  }
  return entries > 0 ? result : undefined;
}

/** Where the run of spaces at `at` ends. */
function afterSpaces(text: string, at: number): number {
  while (text.charCodeAt(at) === SPACE) at++;
  return at;
}

function lineEnd(text: string, pos: number): number {
  const end = text.indexOf('\n', pos);
  return end < 0 ? text.length : end;
}

/** A quoted or plain scalar that ends its line (a comment may follow it). */
function inlineScalar(value: string): string | undefined {
  const quote = value[0];
  if (quote === '"' || quote === "'") {
    const close = closingQuote(value, 0);
    if (close < 0 || !lineRest.test(value.slice(close + 1))) return undefined;
    return unquote(value.slice(1, close), quote);
  }
  const comment = value.indexOf(' #');
  return plainScalar(comment < 0 ? value : value.slice(0, comment), false);
}

/** A plain scalar, without trailing spaces; undefined when the core schema may not read it as text. */
function plainScalar(raw: string, inFlow: boolean): string | undefined {
  let end = raw.length;
  while (end > 0 && raw.charCodeAt(end - 1) === SPACE) end--;
  const value = end === raw.length ? raw : raw.slice(0, end);
  if (value === '' || notPlainText.test(value) || value.includes(': ') || value.endsWith(':') || value.includes(' #')) return undefined;
  // A full-width comma in a list item is likely a slip for `,` (see fullWidth.ts): the careful reader tells.
  if (inFlow && /[[\]{}，、]/.test(value)) return undefined;
  return value;
}

/**
 * Where the quoted scalar starting at `start` ends; -1 when it does not end on this line or holds
 * an escape (double quotes), which the careful reader decodes.
 */
function closingQuote(line: string, start: number): number {
  if (line[start] === '"') {
    const close = line.indexOf('"', start + 1);
    // The escape is looked for within this scalar only: a list of many stays linear.
    return close < 0 || line.slice(start + 1, close).includes('\\') ? -1 : close;
  }
  // '' inside single quotes is one quote.
  for (let at = start + 1; ; ) {
    const close = line.indexOf("'", at);
    if (close < 0) return -1;
    if (line[close + 1] !== "'") return close;
    at = close + 2;
  }
}

const unquote = (body: string, quote: string) => (quote === "'" && body.includes("''") ? body.replaceAll("''", "'") : body);

/** `[a, "b", c]` on one line (a comment may follow it). */
function flowList(line: string): string[] | undefined {
  const close = line.lastIndexOf(']');
  if (close < 0 || !lineRest.test(line.slice(close + 1))) return undefined;
  const items: string[] = [];
  let at = afterSpaces(line, 1);
  if (at === close) return items;
  for (;;) {
    let item: string | undefined;
    const quote = line[at];
    let after: number;
    if (quote === '"' || quote === "'") {
      const end = closingQuote(line, at);
      if (end < 0 || end > close) return undefined;
      item = unquote(line.slice(at + 1, end), quote);
      after = afterSpaces(line, end + 1);
    } else {
      const comma = line.indexOf(',', at);
      after = comma < 0 || comma > close ? close : comma;
      item = plainScalar(line.slice(at, after), true);
    }
    if (item === undefined) return undefined;
    items.push(item);
    if (after === close) return items;
    if (line[after] !== ',') return undefined;
    at = afterSpaces(line, after + 1);
    // An empty item or a trailing comma: left to the careful reader.
    if (at === close || line[at] === ',') return undefined;
  }
}

/** `- item` lines from `pos`, all at the same indentation (the key's, or deeper): the list and where it ends. */
function blockList(text: string, pos: number): [string[], number] | undefined {
  const indent = afterSpaces(text, pos) - pos;
  const dash = `${' '.repeat(indent)}- `;
  const items: string[] = [];
  while (text.startsWith(dash, pos)) {
    const end = lineEnd(text, pos);
    const item = inlineScalar(text.slice(afterSpaces(text, pos + dash.length), end));
    if (item === undefined) return undefined;
    items.push(item);
    pos = end + 1;
  }
  return items.length > 0 ? [items, pos] : undefined;
}

/**
 * A `|` (clip) or `|-` (strip) block from `pos`, indented as its first line is: the text and
 * where the block ends. Blank lines inside are kept; trailing ones are chomped.
 */
function literalBlock(text: string, pos: number, strip: boolean): [string, number] | undefined {
  let first = pos;
  while (text.charCodeAt(first) === 0x0a) first++;
  const indent = afterSpaces(text, first) - first;
  const firstEnd = lineEnd(text, first);
  if (indent === 0 || first + indent === firstEnd) return undefined;
  const prefix = ' '.repeat(indent);
  const lines: string[] = [];
  for (let at = pos; at < first; at++) lines.push('');
  let next = first;
  let kept = first;
  while (next < text.length) {
    const end = lineEnd(text, next);
    if (text.startsWith(prefix, next)) {
      lines.push(text.slice(next + indent, end));
      kept = end + 1;
    } else if (next === end) {
      lines.push('');
    } else {
      break;
    }
    next = end + 1;
  }
  // Blank lines after the text are not part of it: the next entry starts after them.
  while (lines.at(-1) === '') lines.pop();
  return [lines.join('\n') + (strip ? '' : '\n'), kept];
}
