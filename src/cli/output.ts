import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

/** Output helpers shared by the commands: JSON for scripts, aligned tables for people, files. */

/**
 * Writes `file` through `write`, all or nothing: into a temporary file beside it, renamed into
 * place once complete and removed on any failure, so that no empty or half-written file is left
 * (a backup that failed must not look like one, nor block the next attempt). Problems with the
 * path itself are told in a sentence before any work starts. The file is its owner's only.
 */
export async function writeFileWhole<T>(file: string, options: { overwrite: boolean }, write: (out: Writable) => Promise<T>): Promise<T> {
  // lstat: a dangling symbolic link is a name taken, too.
  const existing = await fs.promises.lstat(file).catch(() => undefined);
  if (existing?.isDirectory()) throw new Error(`cannot write ${file}: it is a folder`);
  if (existing && !options.overwrite) throw new Error(`cannot write ${file}: it already exists (choose another name, or delete it first)`);
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
  let handle: fs.promises.FileHandle;
  try {
    // Backups and exports hold personal data: readable by their owner only, as the data folder is.
    handle = await fs.promises.open(temporary, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' || code === 'ENOTDIR'
        ? `the folder ${path.dirname(file)} does not exist`
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : (error as Error).message;
    throw new Error(`cannot write ${file}: ${why}`);
  }
  // flush: the data is on disk before the name points at it, so a crash leaves the old file or the new one.
  const out = handle.createWriteStream({ flush: true });
  try {
    const result = await write(out);
    out.end();
    await finished(out);
    if (options.overwrite) await fs.promises.rename(temporary, file);
    else await linkNew(temporary, file);
    return result;
  } catch (error) {
    out.destroy();
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
}

/**
 * Gives the finished file its name only if that name is still free: a link fails when it is
 * taken. File systems without links (FAT, some network shares) get a check, then a rename.
 */
async function linkNew(temporary: string, file: string) {
  const appeared = new Error(`cannot write ${file}: it appeared while this was written`);
  try {
    await fs.promises.link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw appeared;
    if (fs.existsSync(file)) throw appeared;
    await fs.promises.rename(temporary, file);
    return;
  }
  // The file is in place: a leftover temporary name is no reason to report a failure.
  await fs.promises.rm(temporary, { force: true }).catch(() => {});
}

/**
 * Characters that act on a terminal or reorder what follows when printed: C0 controls (ESC starts
 * the sequences that move the cursor, recolour, retitle the window; CR rewrites the line), DEL, C1
 * controls (U+009B is a one-character ESC [ to some terminals), line and paragraph separators and
 * the bidirectional overrides and isolates. Data may hold them — a member row written by an older
 * tool, a file name given to `vecr validate`, a chat message — so the CLI never prints them raw.
 */
const unsafeForTerminal = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g;

/**
 * Text from data as a terminal may show it: every character above shown as an escape (`\x1b`,
 * `\u202e`). Line ends and tabs are kept where the text is several lines (`lines`: chat messages,
 * bios, prompts), and escaped too where it must stay on one line (a table cell, a name).
 */
export function shown(text: string, options: { lines?: boolean } = {}): string {
  const escaped = text.replace(unsafeForTerminal, escapeCharacter);
  return options.lines ? escaped : escaped.replace(/[\n\t]/g, escapeCharacter);
}

const escapeCharacter = (character: string) => {
  const code = character.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/**
 * JSON for scripts. JSON.stringify escapes C0 controls already; the rest of what acts on a terminal
 * (DEL, C1, separators, bidirectional controls) is escaped too — still the same JSON to a parser.
 */
export function printJson(value: unknown) {
  const text = JSON.stringify(value, null, 2).replace(
    /[\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  process.stdout.write(`${text}\n`);
}

export function printTable(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]) {
  const cell = (value: unknown) => shown(value === null || value === undefined ? '' : Array.isArray(value) ? value.join(', ') : String(value));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => width(cell(r[c])))));
  const line = (values: string[]) =>
    values
      .map((v, i) => v + ' '.repeat(Math.max(0, widths[i]! - width(v))))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line([...columns])}\n`);
  process.stdout.write(`${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((c) => cell(row[c])))}\n`);
}

/** Display width: East Asian wide characters take two columns in a terminal. */
function width(text: string): number {
  let n = 0;
  for (const ch of text)
    n += /[\u1100-\u115F\u2E80-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6\u{20000}-\u{3FFFD}]/u.test(ch) ? 2 : 1;
  return n;
}
