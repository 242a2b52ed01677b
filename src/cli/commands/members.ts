import type { Command } from 'commander';
import { formatIssue } from '../../members/issues.js';
import { memberKinds, tableOf, type MemberKind } from '../../members/schema.js';
import { countMembers, fileProblems, getMember, listMembers } from '../../registry/read.js';
import { configFrom, withDatabase } from '../context.js';
import { printJson, printTable, shown } from '../output.js';

function kindsOf(kind: string | undefined): MemberKind[] {
  if (kind === undefined) return [...memberKinds];
  if (kind === 'human' || kind === 'virtual') return [kind];
  throw new Error(`kind must be "human" or "virtual", not "${kind}"`);
}

export function registerMembers(program: Command) {
  const members = program.command('members').description('look at the registered members');

  members
    .command('list')
    .argument('[kind]', 'human or virtual (default: both)')
    .description('list members, by name')
    .option('--json', 'print JSON')
    .action(async (kind: string | undefined, options: { json?: boolean }, command: Command) => {
      const kinds = kindsOf(kind);
      const config = configFrom(command.optsWithGlobals());
      await withDatabase(config, async (db) => {
        const lists = await Promise.all(kinds.map((k) => listMembers(db, k)));
        if (options.json) {
          printJson(Object.fromEntries(kinds.map((k, i) => [tableOf[k], lists[i]])));
          return;
        }
        kinds.forEach((k, i) => {
          if (i > 0) process.stdout.write('\n');
          process.stdout.write(`${tableOf[k]} (${lists[i]!.length})\n`);
          const extra = k === 'human' ? 'skills' : 'llm_model';
          printTable(lists[i]!, ['name', 'role', extra, 'file_uri', 'updated_at']);
        });
      });
    });

  members
    .command('show')
    .argument('<name>', 'the member name')
    .option('--kind <kind>', 'human or virtual (default: look in both)')
    .option('--json', 'print JSON')
    .description('show one member with every column')
    .action(async (name: string, options: { kind?: string; json?: boolean }, command: Command) => {
      const config = configFrom(command.optsWithGlobals());
      await withDatabase(config, async (db) => {
        const found = [];
        for (const kind of kindsOf(options.kind)) {
          const member = await getMember(db, kind, name);
          if (member) found.push({ kind, member, problems: member.file_uri ? await fileProblems(db, member.file_uri) : [] });
        }
        if (found.length === 0) {
          process.stderr.write(`vecr: no member named "${shown(name)}"\n`);
          process.exitCode = 1;
          return;
        }
        if (options.json) {
          // One shape however many tables hold the name, with the problems of a file gone invalid.
          printJson({ members: found.map(({ kind, member, problems }) => ({ table: tableOf[kind], member, problems })) });
          return;
        }
        for (const { kind, member, problems } of found) {
          process.stdout.write(`${tableOf[kind]}\n`);
          for (const [column, value] of Object.entries(member)) {
            const text = Array.isArray(value) ? value.join(', ') : value === null ? '' : String(value).trimEnd();
            process.stdout.write(`  ${column.padEnd(19)} ${shown(text, { lines: true }).replace(/\n/g, '\n' + ' '.repeat(22))}\n`);
          }
          if (problems.length > 0) {
            process.stdout.write('  (the file has changed and its latest version is invalid; this is its last good version)\n');
            for (const problem of problems) process.stdout.write(`  ! ${shown(formatIssue(problem))}\n`);
          }
        }
      });
    });

  members
    .command('count')
    .description('count the members of each table')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const config = configFrom(command.optsWithGlobals());
      const counts = await withDatabase(config, (db) => countMembers(db));
      if (options.json) printJson({ human_members: counts.human, virtual_members: counts.virtual });
      else process.stdout.write(`human_members    ${counts.human}\nvirtual_members  ${counts.virtual}\n`);
    });
}
