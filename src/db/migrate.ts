import fs from 'node:fs/promises';
import type { Queryable, Db } from './types.js';

const migrationsDir = new URL('./migrations/', import.meta.url);

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migration files, in order: `NNNN_name.sql`. */
export async function loadMigrations(): Promise<Migration[]> {
  const files = (await fs.readdir(migrationsDir)).filter((file) => /^\d{4}_.+\.sql$/.test(file)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: await fs.readFile(new URL(file, migrationsDir), 'utf8'),
    })),
  );
}

export const migrationsTableSql = `CREATE TABLE IF NOT EXISTS vecr_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);`;

/**
 * Applies the pending migrations in one transaction, under an advisory lock so that two
 * processes starting together do not both apply them. Applying twice is a no-op.
 */
export async function migrate(db: Db): Promise<Migration[]> {
  const migrations = await loadMigrations();
  return db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('vecr_migrations'))");
    await tx.exec(migrationsTableSql);
    const applied = await appliedVersions(tx);
    const pending = migrations.filter((m) => !applied.has(m.version));
    for (const migration of pending) {
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO vecr_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    }
    return pending;
  });
}

export interface SchemaStatus {
  current: boolean;
  applied: number[];
  pending: Migration[];
}

/** Whether every migration this version knows has been applied. */
export async function schemaStatus(db: Queryable): Promise<SchemaStatus> {
  const migrations = await loadMigrations();
  const exists = await db.query<{ exists: boolean }>("SELECT to_regclass('vecr_migrations') IS NOT NULL AS exists");
  const applied = exists.rows[0]?.exists ? await appliedVersions(db) : new Set<number>();
  const pending = migrations.filter((m) => !applied.has(m.version));
  return { current: pending.length === 0, applied: [...applied].sort((a, b) => a - b), pending };
}

async function appliedVersions(db: Queryable): Promise<Set<number>> {
  const { rows } = await db.query<{ version: number }>('SELECT version FROM vecr_migrations');
  return new Set(rows.map((row) => row.version));
}
