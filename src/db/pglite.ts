import fs from 'node:fs/promises';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { DatabaseUnavailableError, type Db, type Queryable } from './types.js';
import { acquireFolderLock } from './lock.js';

// Timestamps stay the text PostgreSQL sends, as with node-postgres.
const parsers = { 1114: (value: string) => value, 1184: (value: string) => value };

/**
 * Embedded PostgreSQL (PGlite, WASM) on a data folder, or in memory when `dataDir` is undefined.
 * Loaded on demand: the WASM module is heavy and a server-backed command never needs it.
 */
export async function openPglite(dataDir: string | undefined, options: { snapshot?: Blob } = {}): Promise<Db> {
  const { PGlite } = await import('@electric-sql/pglite');
  let releaseLock = async () => {};
  if (dataDir) {
    await fs.mkdir(path.dirname(dataDir), { recursive: true });
    releaseLock = await acquireFolderLock(dataDir);
  }
  let pglite: PGlite;
  try {
    pglite = await PGlite.create({
      ...(dataDir ? { dataDir } : {}),
      ...(options.snapshot ? { loadDataDir: options.snapshot } : {}),
      parsers,
    });
    await pglite.exec("SET TIME ZONE 'UTC'");
  } catch (error) {
    await releaseLock();
    const where = dataDir ?? 'memory';
    throw new DatabaseUnavailableError(`cannot open the embedded database in ${where}: ${(error as Error).message}`, { cause: error });
  }
  return wrapPglite(pglite, dataDir ? `PGlite in ${dataDir}` : 'PGlite in memory', releaseLock);
}

function wrapPglite(pglite: PGlite, description: string, releaseLock: () => Promise<void>): Db {
  const toQueryable = (target: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<R>(sql: string, params?: readonly unknown[]) {
      const result = await target.query<R>(sql, params as unknown[] | undefined);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
    async exec(sql: string) {
      await target.exec(sql);
    },
  });
  return {
    description,
    ...toQueryable(pglite),
    transaction: (fn) => pglite.transaction((tx) => fn(toQueryable(tx))),
    async close() {
      try {
        await pglite.close();
      } finally {
        await releaseLock();
      }
    },
  };
}

/**
 * A tarball of a fresh embedded database after `prepare` ran: opening one (`openPglite(undefined,
 * { snapshot })`) takes a fraction of a new initdb. For tests and benchmarks that need many.
 */
export async function pgliteSnapshot(prepare: (db: Db) => Promise<void>): Promise<Blob> {
  const { PGlite } = await import('@electric-sql/pglite');
  const pglite = await PGlite.create({ parsers });
  await pglite.exec("SET TIME ZONE 'UTC'");
  try {
    await prepare(wrapPglite(pglite, 'PGlite in memory', async () => {}));
    return await pglite.dumpDataDir('none');
  } finally {
    await pglite.close();
  }
}
