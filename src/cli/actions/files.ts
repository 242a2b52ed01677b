import fs from 'node:fs/promises';
import path from 'node:path';
import { maxFileBytes } from '../../config.js';
import { formatIssue, type MemberIssue } from '../../members/issues.js';
import { defaultLimits } from '../../members/limits.js';
import { parseQuickly } from '../../members/parseQuickly.js';
import { memberKindOf } from '../../members/paths.js';
import { type MemberKind, memberJsonSchema } from '../../members/schema.js';
import { printJson, shown } from '../output.js';

export async function validateFiles(files: string[], options: { kind?: string; json?: boolean }) {
  if (options.kind && options.kind !== 'human' && options.kind !== 'virtual') {
    throw new Error(`--kind must be "human" or "virtual", not "${options.kind}"`);
  }
  const maxBytes = maxFileBytes();
  const results: Array<{ file: string; ok: boolean; issues: MemberIssue[] }> = [];
  for (const file of files) {
    if ((await fs.stat(file).catch(() => undefined))?.isDirectory()) {
      results.push({ file, ok: false, issues: [{ file, code: 'unreadable', message: 'is a folder', hint: `pass its files: ${path.join(file, '*.yml')}` }] });
      continue;
    }
    const kind = (options.kind as MemberKind | undefined) ?? memberKindOf(path.resolve(file).split(path.sep).join('/'));
    if (!kind) {
      results.push({
        file,
        ok: false,
        issues: [
          {
            file,
            code: 'not_a_member_path',
            message: 'is not a .yml or .yaml file in a human_members/ or virtual_members/ folder',
            hint: 'pass --kind human or --kind virtual',
          },
        ],
      });
      continue;
    }
    let bytes: Uint8Array;
    try {
      bytes = await readAtMost(file, maxBytes);
    } catch (error) {
      results.push({ file, ok: false, issues: [{ file, code: 'unreadable', message: `cannot be read: ${(error as Error).message}` }] });
      continue;
    }
    const limits = { ...defaultLimits, maxBytes };
    // Valid files of the usual shape pass without the YAML parser; it is loaded for the others.
    if (parseQuickly(kind, bytes, limits)) {
      results.push({ file, ok: true, issues: [] });
      continue;
    }
    const result = (await import('../../members/parse.js')).parseMemberFile(file, kind, bytes, limits);
    results.push({ file, ok: result.ok, issues: result.ok ? [] : result.issues });
  }
  if (options.json) printJson({ files: results });
  else {
    for (const result of results) {
      if (result.ok) process.stdout.write(`ok  ${shown(result.file)}\n`);
      else for (const issue of result.issues) process.stderr.write(`${shown(formatIssue(issue))}\n`);
    }
  }
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

export function printSchema(kind: string) {
  if (kind !== 'human' && kind !== 'virtual') throw new Error(`kind must be "human" or "virtual", not "${kind}"`);
  printJson(memberJsonSchema(kind));
}

/**
 * At most `maxBytes + 1` bytes of a regular file: enough for the parser to tell it is too large,
 * without reading a huge file whole — and a FIFO or a device is refused, not waited on.
 */
async function readAtMost(file: string, maxBytes: number): Promise<Uint8Array> {
  const handle = await fs.open(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw new Error('it is a folder');
    if (!stat.isFile()) throw new Error('it is not a regular file');
    const buffer = Buffer.alloc(Math.min(stat.size, maxBytes + 1));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
