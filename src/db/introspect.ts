import type { Queryable } from './types.js';

/** What psql's `\dt` shows, with row counts. */
export async function listTables(db: Queryable) {
  const { rows } = await db.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables
     WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const counts = await Promise.all(rows.map((row) => db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${quoteIdent(row.name)}`)));
  return rows.map((row, i) => ({ name: row.name, rows: counts[i]!.rows[0]!.n }));
}

/** What psql's `\d TABLE` shows: columns with their types, nullability and defaults, then indexes. */
export async function describeTable(db: Queryable, table: string) {
  const columns = await db.query<{ column: string; type: string; nullable: boolean; default: string | null }>(
    `SELECT a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
            pg_get_expr(d.adbin, d.adrelid) AS default
     FROM pg_attribute a
     JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relname = $1 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attnum`,
    [table],
  );
  if (columns.rows.length === 0) return undefined;
  const indexes = await db.query<{ name: string; definition: string }>(
    `SELECT indexname AS name, indexdef AS definition FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1 ORDER BY indexname`,
    [table],
  );
  return { table, columns: columns.rows, indexes: indexes.rows };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
