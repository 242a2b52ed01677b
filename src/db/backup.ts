import type { Writable } from 'node:stream';
import { quoteIdent } from './introspect.js';
import { loadMigrations, migrationsTableSql } from './migrate.js';
import type { Db, Queryable } from './types.js';

const pageSize = 1000;
const beginLine = 'BEGIN; -- vecr:begin';
const commitLine = 'COMMIT; -- vecr:commit';

/**
 * Writes the whole database as plain SQL: the schema (the migrations that built it), every row
 * as INSERT statements with exact literals, and the sequences. `psql -f FILE` restores it into an
 * empty database, as does `vecr db restore`. Rows are read a page at a time, so memory stays flat.
 */
export async function writeBackup(db: Db, out: Writable, source: string): Promise<{ tables: Record<string, number> }> {
  // One snapshot for every page of every table, whatever is written meanwhile.
  return db.transaction(async (tx) => {
    await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    return writeSnapshot(tx, out, source);
  });
}

async function writeSnapshot(db: Queryable, out: Writable, source: string): Promise<{ tables: Record<string, number> }> {
  const write = (text: string) =>
    new Promise<void>((resolve, reject) => {
      out.write(text, (error) => (error ? reject(error) : resolve()));
    });

  // Rows are paged by a one-column primary key: a table without one (not the registry's) is
  // refused up front, before anything is written.
  const all = await backupTables(db);
  const unpaged = all.filter((table) => table.keys.length !== 1).map((table) => JSON.stringify(table.name));
  if (unpaged.length > 0) {
    throw new Error(`cannot back up table ${unpaged.join(', ')}: no one-column primary key (the registry's own tables all have one)`);
  }
  const tables = all.map(({ name, columns, keys }) => ({ name, columns, key: keys[0]! }));
  const applied = new Set((await db.query<{ version: number }>('SELECT version FROM vecr_migrations')).rows.map((r) => r.version));
  const migrations = (await loadMigrations()).filter((m) => applied.has(m.version));
  await write(
    [
      '-- VECR Garage member registry backup',
      `-- taken ${new Date().toISOString()} from ${source}`,
      '-- restore into an empty database: psql -v ON_ERROR_STOP=1 -d member_db -f THIS_FILE',
      '--                             or: vecr db restore THIS_FILE',
      "SET client_encoding = 'UTF8';",
      'SET standard_conforming_strings = on;',
      "SET TIME ZONE 'UTC';",
      beginLine,
      '',
      migrationsTableSql,
      ...migrations.map((m) => `-- migration ${m.version} ${m.name}\n${m.sql.trim()}\n`),
      '',
    ].join('\n'),
  );

  // Entries, not assignments: a table may be called `__proto__`.
  const counts: Array<[string, number]> = [];
  for (const table of tables) {
    counts.push([table.name, await writeRows(db, table, write)]);
  }
  for (const sequence of await serialSequences(db)) {
    await write(`SELECT pg_catalog.setval(${literal(sequence.name)}, ${sequence.last_value}, ${sequence.is_called});\n`);
  }
  await write(`\n${commitLine}\n`);
  return { tables: Object.fromEntries(counts) };
}

interface TableInfo {
  name: string;
  columns: string[];
  /** The columns of its primary key, in order. */
  keys: string[];
}
type KeyedTable = { name: string; columns: string[]; key: string };

async function backupTables(db: Queryable): Promise<TableInfo[]> {
  const { rows } = await db.query<TableInfo>(
    `SELECT t.table_name AS name,
            (SELECT array_agg(c.column_name::text ORDER BY c.ordinal_position) FROM information_schema.columns c
              WHERE c.table_schema = 'public' AND c.table_name = t.table_name) AS columns,
            ARRAY(SELECT k.column_name::text FROM information_schema.table_constraints tc
               JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
              WHERE tc.table_schema = 'public' AND tc.table_name = t.table_name AND tc.constraint_type = 'PRIMARY KEY'
              ORDER BY k.ordinal_position) AS keys
     FROM information_schema.tables t
     WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'
     ORDER BY t.table_name = 'vecr_migrations' DESC, t.table_name`,
  );
  return rows;
}

async function writeRows(db: Queryable, table: KeyedTable, write: (text: string) => Promise<void>): Promise<number> {
  const columnList = table.columns.map(quoteIdent).join(', ');
  const values = table.columns.map((c) => `quote_nullable(${quoteIdent(c)})`).join(" || ', ' || ");
  const key = quoteIdent(table.key);
  const type = await keyType(db, table);
  let after: string | null = null;
  let total = 0;
  for (;;) {
    // Keyset pagination on the primary key: each page costs the same however deep it is.
    const page: { rows: Array<{ key: string; tuple: string }> } = await db.query<{ key: string; tuple: string }>(
      `SELECT ${key}::text AS key, '(' || ${values} || ')' AS tuple FROM ${quoteIdent(table.name)}
       WHERE $1::text IS NULL OR ${key} > $1::text::${type}
       ORDER BY ${key} LIMIT ${pageSize}`,
      [after],
    );
    if (page.rows.length === 0) return total;
    await write(`INSERT INTO ${quoteIdent(table.name)} (${columnList}) VALUES\n${page.rows.map((r) => r.tuple).join(',\n')};\n`);
    total += page.rows.length;
    after = page.rows.at(-1)!.key;
    if (page.rows.length < pageSize) return total;
  }
}

async function keyType(db: Queryable, table: KeyedTable): Promise<string> {
  const { rows } = await db.query<{ type: string }>(
    `SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
     WHERE a.attrelid = $1::regclass AND a.attname = $2`,
    [quoteIdent(table.name), table.key],
  );
  return rows[0]!.type;
}

async function serialSequences(db: Queryable) {
  const { rows } = await db.query<{ name: string }>(
    `SELECT pg_get_serial_sequence(quote_ident(table_name), column_name) AS name
     FROM information_schema.columns
     WHERE table_schema = 'public' AND column_default LIKE 'nextval(%'
     ORDER BY table_name, column_name`,
  );
  const sequences = [];
  for (const { name } of rows) {
    const state = await db.query<{ last_value: string; is_called: boolean }>(`SELECT last_value::text, is_called FROM ${name}`);
    sequences.push({ name, ...state.rows[0]! });
  }
  return sequences;
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

export class RestoreError extends Error {
  override name = 'RestoreError';
}

/**
 * Restores a backup into an empty database, in one transaction: it lands whole or not at all.
 */
export async function restoreBackup(db: Db, sql: string): Promise<void> {
  const existing = await db.query<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
  if (existing.rows.length > 0) {
    throw new RestoreError(`the database is not empty (it has ${existing.rows.map((r) => r.name).join(', ')}); restore into a new database`);
  }
  const begin = sql.indexOf(`\n${beginLine}\n`);
  const commit = sql.lastIndexOf(`\n${commitLine}`);
  if (begin < 0 || commit < begin) throw new RestoreError('this is not a backup written by vecr db backup');
  const header = sql.slice(0, begin);
  const body = sql.slice(begin + beginLine.length + 2, commit);
  await db.transaction(async (tx) => {
    await tx.exec(header);
    await tx.exec(body);
  });
}
