import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { openPglite, pgliteSnapshot } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import type { Db } from '../../src/db/types.js';

/**
 * The engines every database test runs on: PGlite always, and the PostgreSQL server named by
 * TEST_DATABASE_URL when it is set (CI sets it).
 */
export type Engine = 'pglite' | 'postgres';
export const engines: Engine[] = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export interface TestDatabase extends Db {
  /** The connection string of a server database; undefined on PGlite. */
  url?: string;
}

let migratedSnapshot: Promise<Blob> | undefined;
let emptySnapshot: Promise<Blob> | undefined;
let counter = 0;

/**
 * A new database of its own: migrated unless `empty`. Closing it drops it. On the server,
 * `icuLocale` makes it sort text as people of that locale do (`en-US`: `A ä a b a-c b`).
 */
export async function freshDatabase(engine: Engine, options: { empty?: boolean; icuLocale?: string } = {}): Promise<TestDatabase> {
  if (engine === 'pglite') {
    const snapshot = options.empty
      ? (emptySnapshot ??= pgliteSnapshot(async () => {}))
      : (migratedSnapshot ??= pgliteSnapshot(async (db) => void (await migrate(db))));
    return openPglite(undefined, { snapshot: await snapshot });
  }
  const admin = process.env.TEST_DATABASE_URL!;
  const name = `vecr_test_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const locale = options.icuLocale ? ` LOCALE_PROVIDER icu ICU_LOCALE '${options.icuLocale}' LOCALE 'C.UTF-8' TEMPLATE template0` : '';
  await adminQuery(admin, `CREATE DATABASE ${name}${locale}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const db = await openPostgres(url.toString());
  if (!options.empty) await migrate(db);
  return {
    ...db,
    url: url.toString(),
    async close() {
      await db.close();
      await adminQuery(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

async function adminQuery(url: string, sql: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Empties the member and bookkeeping tables between tests of one file, as a fresh database has them. */
export async function resetDatabase(db: Db) {
  await db.transaction(async (tx) => {
    // As the registry: the truncate is not an outside write for the next test's sync to notice.
    await tx.query("SELECT set_config('vecr.writer', 'registry', true)");
    await tx.query(
      'TRUNCATE human_members, virtual_members, member_files, sync_runs, storage_events, registry_state, forgotten_files, human_members_departed, virtual_members_departed, signed_out_sessions RESTART IDENTITY',
    );
  });
}
