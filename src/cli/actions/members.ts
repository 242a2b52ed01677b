import type { Command } from 'commander';
import type { Config } from '../../config.js';
import type { Db } from '../../db/types.js';
import { localTime } from '../../localTime.js';
import { formatIssue } from '../../members/issues.js';
import { type MemberKind, memberKinds, tableOf } from '../../members/kinds.js';
import { countMembers, fileProblems, getMember, type InvalidFile, invalidFiles, listMembers } from '../../registry/read.js';
import { configFrom, withDatabase } from '../context.js';
import { printJson, printTable, shown } from '../output.js';

function kindsOf(kind: string | undefined): MemberKind[] {
  if (kind === undefined) return [...memberKinds];
  if (kind === 'human' || kind === 'virtual') return [kind];
  throw new Error(`kind must be "human" or "virtual", not "${kind}"`);
}

export async function listMembersCommand(kind: string | undefined, options: { json?: boolean }, command: Command) {
  const kinds = kindsOf(kind);
  const config = configFrom(command.optsWithGlobals());
  await withDatabase(
    config,
    async (db) => {
      const lists = await Promise.all(kinds.map((k) => listMembers(db, k)));
      if (options.json) {
        printJson(Object.fromEntries(kinds.map((k, i) => [tableOf[k], lists[i]])));
        return;
      }
      kinds.forEach((k, i) => {
        if (i > 0) process.stdout.write('\n');
        process.stdout.write(`${tableOf[k]} (${lists[i]!.length})\n`);
        const extra = k === 'human' ? 'skills' : 'llm_model';
        printTable(
          lists[i]!.map((member) => ({ ...member, updated_at: localTime(member.updated_at) })),
          ['name', 'role', extra, 'file_uri', 'updated_at'],
        );
      });
    },
    { readOnly: true, fewQueries: true },
  );
}

export async function showMember(name: string, options: { kind?: string; json?: boolean }, command: Command) {
  const config = configFrom(command.optsWithGlobals());
  await withDatabase(
    config,
    async (db) => {
      const found = [];
      for (const kind of kindsOf(options.kind)) {
        const member = await getMember(db, kind, name);
        if (member) found.push({ kind, member, problems: member.file_uri ? await fileProblems(db, member.file_uri) : [] });
      }
      if (found.length === 0) {
        await tellWhyNotFound(config, db, name, kindsOf(options.kind), !!options.json);
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
          const text = Array.isArray(value)
            ? value.join(', ')
            : value === null
              ? ''
              : column === 'created_at' || column === 'updated_at'
                ? localTime(value as string)
                : String(value).trimEnd();
          process.stdout.write(`  ${column.padEnd(19)} ${shown(text, { lines: true }).replace(/\n/g, `\n${' '.repeat(22)}`)}\n`);
        }
        if (problems.length > 0) {
          process.stdout.write('  (the file has changed and its latest version is invalid; this is its last good version)\n');
          for (const problem of problems) process.stdout.write(`  ! ${shown(formatIssue(problem))}\n`);
        }
      }
    },
    { readOnly: true, fewQueries: true },
  );
}

export async function countMembersCommand(options: { json?: boolean }, command: Command) {
  const config = configFrom(command.optsWithGlobals());
  const counts = await withDatabase(config, (db) => countMembers(db), { readOnly: true, fewQueries: true });
  if (options.json) printJson({ human_members: counts.human, virtual_members: counts.virtual });
  else process.stdout.write(`human_members    ${counts.human}\nvirtual_members  ${counts.virtual}\n`);
}

/**
 * No row holds the name: perhaps a file claims it but is invalid, and was never registered (or
 * its row went with an earlier rename). The invalid files are few; each is read from storage to
 * see which name it claims, and those claiming this one are named with their problems.
 */
async function tellWhyNotFound(config: Config, db: Db, name: string, kinds: MemberKind[], json: boolean) {
  const candidates = await invalidFiles(db, kinds);
  const claiming: InvalidFile[] = [];
  if (candidates.length > 0) {
    // Loaded here only: the commands that find their member need neither.
    const [{ openStorage }, { claimedName }] = await Promise.all([import('../../storage/open.js'), import('../../members/claimedName.js')]);
    const storage = await openStorage(config.storage);
    for (const file of candidates) {
      const read = await storage.read(file.file_uri, config.maxFileBytes).catch(() => undefined);
      if (read && claimedName(Buffer.from(read.bytes).toString('utf8')) === name) claiming.push(file);
    }
  }
  if (json) {
    printJson({ members: [], invalid_files: claiming.map((file) => ({ file_uri: file.file_uri, kind: file.kind, problems: file.errors })) });
    return;
  }
  if (claiming.length === 0) {
    process.stderr.write(`vecr: no member named "${shown(name)}"\n`);
    return;
  }
  const files = claiming.map((file) => file.file_uri).join(', ');
  process.stderr.write(
    `vecr: no member named "${shown(name)}" is registered: ${shown(files)} ${claiming.length === 1 ? 'claims' : 'claim'} the name but ${claiming.length === 1 ? 'is' : 'are'} invalid; fix:\n`,
  );
  for (const file of claiming) for (const problem of file.errors) process.stderr.write(`  ${shown(formatIssue(problem))}\n`);
}
