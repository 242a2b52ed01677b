/** Output helpers shared by the commands: JSON for scripts, aligned tables for people. */

export function printJson(value: unknown) {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function printTable(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]) {
  const cell = (value: unknown) => (value === null || value === undefined ? '' : Array.isArray(value) ? value.join(', ') : String(value));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => width(cell(r[c])))));
  const line = (values: string[]) => values.map((v, i) => v + ' '.repeat(Math.max(0, widths[i]! - width(v)))).join('  ').trimEnd();
  process.stdout.write(line([...columns]) + '\n');
  process.stdout.write(line(widths.map((w) => '-'.repeat(w))) + '\n');
  for (const row of rows) process.stdout.write(line(columns.map((c) => cell(row[c]))) + '\n');
}

/** Display width: East Asian wide characters take two columns in a terminal. */
function width(text: string): number {
  let n = 0;
  for (const ch of text) n += /[\u1100-\u115F\u2E80-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{20000}-\u{3FFFD}]/u.test(ch) ? 2 : 1;
  return n;
}
