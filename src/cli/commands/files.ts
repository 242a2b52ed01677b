import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
import { formatIssue, type MemberIssue } from '../../members/issues.js';
import { defaultLimits, parseMemberFile } from '../../members/parse.js';
import { memberKindOf } from '../../members/paths.js';
import { memberJsonSchema, type MemberKind } from '../../members/schema.js';
import { printJson } from '../output.js';

export function registerFiles(program: Command) {
  program
    .command('validate')
    .argument('<files...>', 'member files; the parent folder (human_members/, virtual_members/) gives the kind')
    .option('--kind <kind>', 'human or virtual, for files outside those folders')
    .option('--json', 'print JSON')
    .description('check member files offline (no database); exit 1 on any error — usable as a pre-commit hook')
    .action(async (files: string[], options: { kind?: string; json?: boolean }) => {
      if (options.kind && options.kind !== 'human' && options.kind !== 'virtual') {
        throw new Error(`--kind must be "human" or "virtual", not "${options.kind}"`);
      }
      const maxBytes = loadConfig().maxFileBytes;
      const results: Array<{ file: string; ok: boolean; issues: MemberIssue[] }> = [];
      for (const file of files) {
        const kind = (options.kind as MemberKind | undefined) ?? memberKindOf(path.resolve(file).split(path.sep).join('/'));
        if (!kind) {
          results.push({ file, ok: false, issues: [{ file, code: 'not_a_member_path', message: 'is not a .yml or .yaml file in a human_members/ or virtual_members/ folder', hint: 'pass --kind human or --kind virtual' }] });
          continue;
        }
        let bytes: Uint8Array;
        try {
          bytes = await fs.readFile(file);
        } catch (error) {
          results.push({ file, ok: false, issues: [{ file, code: 'unreadable', message: `cannot be read: ${(error as Error).message}` }] });
          continue;
        }
        const result = parseMemberFile(file, kind, bytes, { ...defaultLimits, maxBytes });
        results.push({ file, ok: result.ok, issues: result.ok ? [] : result.issues });
      }
      if (options.json) printJson({ files: results });
      else {
        for (const result of results) {
          if (result.ok) process.stdout.write(`ok  ${result.file}\n`);
          else for (const issue of result.issues) process.stderr.write(`${formatIssue(issue)}\n`);
        }
      }
      if (results.some((r) => !r.ok)) process.exitCode = 1;
    });

  program
    .command('schema')
    .argument('<kind>', 'human or virtual')
    .description('print the JSON Schema of a member file, for editors (yaml-language-server) and tools')
    .action((kind: string) => {
      if (kind !== 'human' && kind !== 'virtual') throw new Error(`kind must be "human" or "virtual", not "${kind}"`);
      printJson(memberJsonSchema(kind));
    });
}
