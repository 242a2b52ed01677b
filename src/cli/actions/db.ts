import fs from 'node:fs';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { restoreBackup, writeBackup } from '../../db/backup.js';
import { describeTable, listTables } from '../../db/introspect.js';
import { migrate } from '../../db/migrate.js';
import { configFrom, withDatabase } from '../context.js';
import { printJson, printTable, writeFileWhole } from '../output.js';

export async function migrateDatabase(options: { json?: boolean }, command: Command) {
  const config = configFrom(command.optsWithGlobals());
  const applied = await withDatabase(config, (database) => migrate(database), { migrate: false });
  const versions = applied.map((m) => ({ version: m.version, name: m.name }));
  if (options.json) printJson({ applied: versions });
  else if (versions.length === 0) process.stdout.write('schema is current; nothing to apply\n');
  else for (const m of versions) process.stdout.write(`applied ${String(m.version).padStart(4, '0')}_${m.name}\n`);
}

export async function listDatabaseTables(options: { json?: boolean }, command: Command) {
  const config = configFrom(command.optsWithGlobals());
  const tables = await withDatabase(config, (database) => listTables(database), { readOnly: true, fewQueries: true });
  if (options.json) printJson({ tables });
  else printTable(tables, ['name', 'rows']);
}

export async function describeDatabaseTable(table: string, options: { json?: boolean }, command: Command) {
  const config = configFrom(command.optsWithGlobals());
  const description = await withDatabase(config, (database) => describeTable(database, table), { readOnly: true, fewQueries: true });
  if (!description) {
    process.stderr.write(`vecr: no table named "${table}" (vecr db tables lists them)\n`);
    process.exitCode = 1;
    return;
  }
  if (options.json) {
    printJson(description);
    return;
  }
  process.stdout.write(`Table "${table}"\n`);
  printTable(
    description.columns.map((c) => ({ ...c, nullable: c.nullable ? '' : 'not null', default: c.default ?? '' })),
    ['column', 'type', 'nullable', 'default'],
  );
  process.stdout.write('Indexes:\n');
  for (const index of description.indexes) process.stdout.write(`  ${index.name}: ${index.definition}\n`);
}

export async function backupDatabase(options: { out?: string }, command: Command) {
  const config = configFrom(command.optsWithGlobals());
  const backup = (out: Writable) => withDatabase(config, (database) => writeBackup(database, out, database.description), { readOnly: true });
  if (!options.out) {
    await backup(process.stdout);
    return;
  }
  // Written whole or not at all: a failed backup leaves no file that looks like one.
  const result = await writeFileWhole(options.out, { overwrite: false }, backup);
  const rows = Object.entries(result.tables)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  process.stderr.write(`wrote ${options.out}: ${rows}\n`);
}

export async function restoreDatabase(file: string, _options: unknown, command: Command) {
  const config = configFrom(command.optsWithGlobals());
  const sql = await fs.promises.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${file}: ${error.code === 'EISDIR' ? 'it is a folder' : error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  await withDatabase(config, (database) => restoreBackup(database, sql), { migrate: false });
  process.stderr.write(`restored ${file}\n`);
}
