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
    const opensList = value.startsWith('[') || (fullWidthOpen.test(value) && (value.startsWith('［') || /[,，、]/.test(value)));
    const slip = opensList ? listPunctuation.exec(value) : null;
    if (slip) {
      const comma = slip[0] === '，' || slip[0] === '、';
      // Between ASCII brackets, the author may have meant the comma: quoting keeps such an item whole.
      const item = comma && value.startsWith('[') ? itemAround(value, slip.index) : '';
      slips.push({
        line,
        column: valueColumn + slip.index,
        field: key,
        message: `writes a list with ${comma ? 'a full-width comma' : 'a full-width bracket'} (${slip[0]})`,
        hint: `write it with ASCII brackets and commas: ${key}: ${asciiList(value)}${item ? ` (quote an item that is one, comma and all: "${item}")` : ''}`,
      });
    }
  });
  return slips;
}

/** The item of a flow list `value` (`[a, b]`) that holds the character at `at`. */
function itemAround(value: string, at: number): string {
  const start = Math.max(value.lastIndexOf('[', at), value.lastIndexOf(',', at)) + 1;
  const after = value.slice(at).search(/[,\]]/);
  return value.slice(start, after < 0 ? value.length : at + after).trim();
}

/** A value with a list's full-width punctuation made ASCII: `［a，b］` → `[a, b]`. */
function asciiList(value: string): string {
  return value
    .replace(/[［「]/g, '[')
    .replace(/[］」]/g, ']')
    .replace(/\s*[，、]\s*/g, ', ');
}
