import fs from 'node:fs';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { restoreBackup, writeBackup } from '../../db/backup.js';
import { describeTable, listTables } from '../../db/introspect.js';
import { migrate } from '../../db/migrate.js';
import { configFrom, withDatabase } from '../context.js';
import { printJson, printTable, writeFileWhole } from '../output.js';

export function registerDb(program: Command) {
  const db = program.command('db').description('operate the member database');

  db.command('migrate')
    .description('apply pending schema migrations (also done on every start); applying twice is a no-op')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const config = configFrom(command.optsWithGlobals());
      const applied = await withDatabase(config, (database) => migrate(database), { migrate: false });
      const versions = applied.map((m) => ({ version: m.version, name: m.name }));
      if (options.json) printJson({ applied: versions });
      else if (versions.length === 0) process.stdout.write('schema is current; nothing to apply\n');
      else for (const m of versions) process.stdout.write(`applied ${String(m.version).padStart(4, '0')}_${m.name}\n`);
    });

  db.command('tables')
    .description('list the tables with their row counts (psql: \\dt)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const config = configFrom(command.optsWithGlobals());
      const tables = await withDatabase(config, (database) => listTables(database));
      if (options.json) printJson({ tables });
      else printTable(tables, ['name', 'rows']);
    });

  db.command('describe')
    .argument('<table>', 'table name, e.g. human_members')
    .description('show the columns and indexes of a table (psql: \\d TABLE)')
    .option('--json', 'print JSON')
    .action(async (table: string, options: { json?: boolean }, command: Command) => {
      const config = configFrom(command.optsWithGlobals());
      const description = await withDatabase(config, (database) => describeTable(database, table));
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
    });

  db.command('backup')
    .description('write the whole database as plain SQL that psql restores')
    .option('--out <file>', 'write to this file (a new one: an existing file is never overwritten) instead of standard output')
    .action(async (options: { out?: string }, command: Command) => {
      const config = configFrom(command.optsWithGlobals());
      const backup = (out: Writable) => withDatabase(config, (database) => writeBackup(database, out, database.description));
      if (!options.out) {
        await backup(process.stdout);
        return;
      }
      // Written whole or not at all: a failed backup leaves no file that looks like one.
      const result = await writeFileWhole(options.out, { overwrite: false }, backup);
      const rows = Object.entries(result.tables).map(([name, n]) => `${name} ${n}`).join(', ');
      process.stderr.write(`wrote ${options.out}: ${rows}\n`);
    });

  db.command('restore')
    .argument('<file>', 'a file written by vecr db backup')
    .description('restore a backup into an empty database, in one transaction')
    .action(async (file: string, _options: unknown, command: Command) => {
      const config = configFrom(command.optsWithGlobals());
      const sql = await fs.promises.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw new Error(`cannot read ${file}: ${error.code === 'EISDIR' ? 'it is a folder' : error.code === 'ENOENT' ? 'no such file' : error.message}`);
      });
      await withDatabase(config, (database) => restoreBackup(database, sql), { migrate: false });
      process.stderr.write(`restored ${file}\n`);
    });
}
