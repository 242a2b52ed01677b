import fs from 'node:fs/promises';
import type { Db, Queryable } from './types.js';

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
 * The database was migrated by a newer vecr: its schema holds versions this one does not know.
 * An older build must neither run on it (it would misread or damage what it does not know) nor
 * write to it.
 */
export class NewerSchemaError extends Error {
  override name = 'NewerSchemaError';
  constructor(
    where: string,
    readonly version: number,
    readonly known: number,
  ) {
    super(
      `${where} is at schema version ${version}, migrated by a newer vecr; this vecr knows schema versions up to ${known}: upgrade vecr (or restore a backup taken before the upgrade)`,
    );
  }
}

/**
 * Applies the pending migrations in one transaction, under an advisory lock so that two
 * processes starting together do not both apply them. Applying twice is a no-op. A database
 * migrated by a newer vecr is refused (NewerSchemaError) before anything is written to it.
 */
export async function migrate(db: Db): Promise<Migration[]> {
  const migrations = await loadMigrations();
  // Nearly every command finds the schema current: two reads tell it, without the transaction,
  // the lock and the CREATE TABLE (six round trips instead of two, at every start of a command).
  const found = statusOf(migrations, await appliedVersions(db));
  if (found.newer) throw new NewerSchemaError(db.description, found.newer.version, found.newer.known);
  if (found.current) return [];
  return db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('vecr_migrations'))");
    const status = statusOf(migrations, await appliedVersions(tx));
    if (status.newer) throw new NewerSchemaError(db.description, status.newer.version, status.newer.known);
    await tx.exec(migrationsTableSql);
    for (const migration of status.pending) {
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO vecr_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    }
    return status.pending;
  });
}

export interface SchemaStatus {
  /** Every migration this version knows is applied, and none it does not know. */
  current: boolean;
  applied: number[];
  pending: Migration[];
  /** Versions applied by a newer vecr: the highest of them, and the highest this one knows. */
  newer?: { version: number; known: number };
}

/** Whether every migration this version knows has been applied, and whether a newer vecr has been there. */
export async function schemaStatus(db: Queryable): Promise<SchemaStatus> {
  return statusOf(await loadMigrations(), await appliedVersions(db));
}

function statusOf(migrations: readonly Migration[], applied: ReadonlySet<number>): SchemaStatus {
  const known = new Set(migrations.map((m) => m.version));
  const pending = migrations.filter((m) => !applied.has(m.version));
  const unknown = [...applied].filter((version) => !known.has(version));
  const newer = unknown.length > 0 ? { version: Math.max(...unknown), known: Math.max(0, ...known) } : undefined;
  return { current: pending.length === 0 && !newer, applied: [...applied].sort((a, b) => a - b), pending, ...(newer ? { newer } : {}) };
}

/**
 * The versions recorded in `vecr_migrations`; none when there is no such table yet. Whether it
 * exists is read from pg_class with the statement's snapshot, not through `to_regclass`: that
 * uses the connection's catalog cache, which keeps "no such table" from a read before the
 * advisory lock was taken (an advisory lock processes no catalog invalidations), so a process
 * that waited on the lock while another migrated would apply every migration again.
 */
async function appliedVersions(db: Queryable): Promise<Set<number>> {
  const exists = await db.query<{ exists: boolean }>(
    "SELECT EXISTS (SELECT FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = 'vecr_migrations') AS exists",
  );
  if (!exists.rows[0]?.exists) return new Set();
  const { rows } = await db.query<{ version: number }>('SELECT version FROM vecr_migrations');
  return new Set(rows.map((row) => row.version));
}
