/**
 * The slips a Japanese keyboard makes in YAML: with the input method on, `:` comes out as `：`,
 * a space as an ideographic space (U+3000), `[ ]` as `［ ］` (or `「 」`), `,` as `，` or `、`.
 * YAML takes none of them for syntax: `name：太郎` is one plain string, not a field, and the
 * parser's message ("Implicit map keys need to be followed by map values") does not say why.
 * A full-width comma is no syntax error: `[a，b]` is a list of one item, `a，b`. The parser refuses
 * such an item when it is unquoted, which brings the file here (a quoted one is meant whole).
 * Looked for only once a file has failed, and only where syntax belongs — at the start of a line,
 * after a key — so that Japanese text in a value (`注意：`, a paragraph indented with U+3000) is
 * never taken for a slip.
 */
export interface FullWidthSlip {
  line: number;
  column: number;
  /** The field the line is about, when it names one. */
  field?: string;
  message: string;
  hint: string;
}

const ideographicSpace = '\u3000';
// A line as member files write them: indentation, a key, a colon, a value (all but the key optional slips).
const keyLine = /^([ \u3000]*)([A-Za-z_][A-Za-z0-9_-]*)([ \u3000]*)([:：])([ \u3000]*)(.*)$/;
// Indentation before a list item or a key.
const indentedSyntax = /^([ \u3000]*)(?:-(?:[ \u3000]|$)|[A-Za-z_][A-Za-z0-9_-]*[ \u3000]*[:：])/;
const fullWidthOpen = /^[［「]/;
const listPunctuation = /[［］「」，、]/;
/**
 * The full-width commas, which an unquoted item of a flow list may not hold: the parser refuses
 * such an item, and the editor quotes it (a quoted item is meant whole).
 */
export const fullWidthComma = /[，、]/;

export function findFullWidthSlips(text: string): FullWidthSlip[] {
  const slips: FullWidthSlip[] = [];
  text.split(/\r?\n/).forEach((content, index) => {
    const line = index + 1;
    const indent = indentedSyntax.exec(content)?.[1] ?? '';
    if (indent.includes(ideographicSpace)) {
      slips.push({
        line,
        column: indent.indexOf(ideographicSpace) + 1,
        message: 'is indented with an ideographic space (U+3000, a full-width space)',
        hint: 'indent with ASCII spaces',
      });
    }
    const match = keyLine.exec(content);
    if (!match) return;
    const [, lead = '', key = '', gap = '', colon = '', space = '', value = ''] = match;
    // A key at the start of a line is a field of the file; indented ones are text of a block value.
    if (lead.includes(' ')) return;
    const valueColumn = lead.length + key.length + gap.length + colon.length + space.length + 1;
    if (colon === '：') {
      slips.push({
        line,
        column: lead.length + key.length + gap.length + 1,
        field: key,
        message: 'is followed by a full-width colon (：), which YAML does not read as one',
        hint: `write an ASCII colon and a space: ${key}: ${value}`,
      });
    }
    const slip = value.startsWith('[') ? slipInFlowList(value) : fullWidthList(value);
    if (slip) {
      slips.push({
        line,
        column: valueColumn + slip.at,
        field: key,
        message: `writes a list with ${slip.comma ? 'a full-width comma' : 'a full-width bracket'} (${slip.char})`,
        hint: `write it with ASCII brackets and commas: ${key}: ${slip.fixed}${slip.item ? ` (quote an item that is one, comma and all: "${slip.item}")` : ''}`,
      });
    }
  });
  return slips;
}

interface ListSlip {
  /** Where the slip is in the value. */
  at: number;
  char: string;
  comma: boolean;
  /** The list as it was meant, ASCII. */
  fixed: string;
  /** The item holding a full-width comma, unquoted: quoted, it would be kept whole. */
  item?: string;
}

/**
 * A slip in a list between ASCII brackets (`[TypeScript，React]`), looked for in its unquoted
 * items only: a quoted item is what its author meant, and a comment after the list is text.
 */
function slipInFlowList(value: string): ListSlip | undefined {
  const { items, end } = unquotedItems(value);
  const found = items.find((item) => listPunctuation.test(item.text));
  if (!found) return undefined;
  const char = listPunctuation.exec(found.text)![0];
  const comma = fullWidthComma.test(char);
  let fixed = value.slice(0, end).trimEnd();
  for (const item of [...items].reverse()) fixed = fixed.slice(0, item.at) + asciiList(item.text) + fixed.slice(item.at + item.text.length);
  return { at: found.at + found.text.indexOf(char), char, comma, fixed, ...(comma ? { item: found.text } : {}) };
}

/** A list opened with a full-width bracket (`［a，b］`, `「a、b」`): all of it made ASCII. */
function fullWidthList(value: string): ListSlip | undefined {
  if (!fullWidthOpen.test(value) || !(value.startsWith('［') || /[,，、]/.test(value))) return undefined;
  const char = listPunctuation.exec(value)![0];
  return { at: value.indexOf(char), char, comma: false, fixed: asciiList(value) };
}

/**
 * The unquoted items of a flow list `[a, "b", c] # note`, trimmed, with where each starts, and
 * where the list ends (after its `]`, before a comment, or the end of the line).
 */
function unquotedItems(value: string): { items: Array<{ text: string; at: number }>; end: number } {
  const items: Array<{ text: string; at: number }> = [];
  let start = 1;
  let quoted = false;
  for (let i = 1; i <= value.length; i++) {
    const c = value[i];
    if (c === '"' || c === "'") {
      const close = closingQuote(value, i);
      quoted = true;
      i = close < 0 ? value.length - 1 : close;
      continue;
    }
    const comment = c === '#' && value[i - 1] === ' ';
    if (c === ',' || c === ']' || comment || i === value.length) {
      const text = value.slice(start, i).trim();
      if (!quoted && text !== '') items.push({ text, at: value.indexOf(text, start) });
      if (c !== ',') return { items, end: c === ']' ? i + 1 : i };
      start = i + 1;
      quoted = false;
    }
  }
  return { items, end: value.length };
}

/** Where the quoted string opened at `open` closes: `\"` escapes in double quotes, `''` in single. */
function closingQuote(value: string, open: number): number {
  const quote = value[open];
  for (let i = open + 1; i < value.length; i++) {
    if (quote === '"' && value[i] === '\\') i++;
    else if (value[i] === quote) {
      if (quote === "'" && value[i + 1] === "'") i++;
      else return i;
    }
  }
  return -1;
}

/** A value with a list's full-width punctuation made ASCII: `［a，b］` → `[a, b]`. */
function asciiList(value: string): string {
  return value
    .replace(/[［「]/g, '[')
    .replace(/[］」]/g, ']')
    .replace(/\s*[，、]\s*/g, ', ');
}
