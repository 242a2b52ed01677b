import type { Command } from 'commander';
import { lazy } from '../lazy.js';

const actions = () => import('../actions/db.js');

export function registerDb(program: Command) {
  const db = program.command('db').description('operate the member database');

  db.command('migrate')
    .description('apply pending schema migrations (also done on every start); applying twice is a no-op')
    .option('--json', 'print JSON')
    .action(lazy(async () => (await actions()).migrateDatabase));

  db.command('tables')
    .description('list the tables with their row counts (psql: \\dt)')
    .option('--json', 'print JSON')
    .action(lazy(async () => (await actions()).listDatabaseTables));

  db.command('describe')
    .argument('<table>', 'table name, e.g. human_members')
    .description('show the columns and indexes of a table (psql: \\d TABLE)')
    .option('--json', 'print JSON')
    .action(lazy(async () => (await actions()).describeDatabaseTable));

  db.command('backup')
    .description('write the whole database as plain SQL that psql restores')
    .option('--out <file>', 'write to this file (a new one: an existing file is never overwritten) instead of standard output')
    .action(lazy(async () => (await actions()).backupDatabase));

  db.command('restore')
    .argument('<file>', 'a file written by vecr db backup')
    .description('restore a backup into an empty database, in one transaction')
    .action(lazy(async () => (await actions()).restoreDatabase));
}
