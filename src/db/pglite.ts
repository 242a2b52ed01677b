import type net from 'node:net';
import path from 'node:path';
import v8 from 'node:v8';
import type { PGlite } from '@electric-sql/pglite';
import { preparePrivateDataFolder, preparePrivateFolder } from '../privateFiles.js';
import { acquireFolderLock } from './lock.js';
import { embeddedDatabaseUrl, embeddedUser, ensurePassword } from './password.js';
import { requirePassword, scramVerifier } from './passwordGate.js';
import { DatabaseUnavailableError, type Db, type Queryable } from './types.js';

// PGlite is WebAssembly, and the V8 of Node.js 22 and 24 can abort the whole process when it
// garbage-collects WebAssembly code ("Check failed: jit_page_->allocations_.erase(addr) == 1",
// nodejs/node#66366; seen here once in a test run): the code is kept for the life of the process.
v8.setFlagsFromString('--no-wasm-code-gc');

// Timestamps stay the text PostgreSQL sends, as with node-postgres.
const parsers = { 1114: (value: string) => value, 1184: (value: string) => value };

export interface PgliteOptions {
  /** A tarball of a data folder to start from (`pgliteSnapshot`). */
  snapshot?: Blob;
  /**
   * The process runs a few small queries and exits (`vecr members count`, `vecr health`), and is
   * started as such. Its WebAssembly runs as V8 first compiles it (Liftoff): optimising it besides
   * (TurboFan, on background threads of the same two cores) cost such a command 40 % more here.
   * And PostgreSQL keeps 16 MB of shared buffers instead of 128 MB, which it would zero at start
   * (≈ 60 ms here, docs/benchmarks.md) for pages a few queries never read.
   */
  brief?: boolean;
}

/** Shared buffers of a brief process (see `PgliteOptions.brief`): the tables of a large team fit. */
const briefSharedBuffers = '16MB';

/**
 * Embedded PostgreSQL (PGlite, WASM) on a data folder, or in memory when `dataDir` is undefined.
 * Loaded on demand: the WASM module is heavy and a server-backed command never needs it.
 */
export async function openPglite(dataDir: string | undefined, options: PgliteOptions = {}): Promise<Db> {
  const { pglite, lock } = await createPglite(dataDir, options);
  return wrapPglite(pglite, dataDir ? `PGlite in ${dataDir}` : 'PGlite in memory', lock.release);
}

async function createPglite(dataDir: string | undefined, { snapshot, brief = false }: PgliteOptions = {}) {
  const { PGlite } = await import('@electric-sql/pglite');
  // After PGlite's modules are loaded, before its WebAssembly is compiled: V8's flags are part of
  // the key of Node's compile cache, and the modules' cached code was made under the default ones.
  if (brief) v8.setFlagsFromString('--liftoff-only');
  let lock = { publishPort: async (_port: number) => {}, release: async () => {} };
  if (dataDir) {
    await preparePrivateDataFolder(path.dirname(dataDir));
    lock = await acquireFolderLock(dataDir);
  }
  let pglite: PGlite;
  try {
    if (dataDir) await preparePrivateFolder(dataDir);
    pglite = await PGlite.create({
      ...(dataDir ? { dataDir } : {}),
      ...(snapshot ? { loadDataDir: snapshot } : {}),
      ...(brief ? { startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${briefSharedBuffers}`] } : {}),
      parsers,
    });
    await pglite.exec("SET TIME ZONE 'UTC'");
  } catch (error) {
    await lock.release();
    const where = dataDir ?? 'memory';
    throw new DatabaseUnavailableError(`cannot open the embedded database in ${where}: ${(error as Error).message}`, { cause: error });
  }
  return { pglite, lock };
}

export interface SharedPglite {
  /** Where clients connect: `postgres://postgres:PASSWORD@127.0.0.1:PORT/member_db`. Print it only through redactUrl. */
  url: string;
  port: number;
  /** Runs on the embedded database directly, before it is shared (migrations). */
  direct: Db;
  close(): Promise<void>;
}

/** The embedded database's port is for this machine only: psql and other `vecr` commands. Not configurable. */
const loopback = '127.0.0.1';

/**
 * Opens the embedded database and serves it over the PostgreSQL protocol on 127.0.0.1, for
 * `vecr serve`: psql and other `vecr` commands reach it there while the service runs, with the
 * data folder's password (see password.ts; passwordGate.ts checks it). The service itself
 * connects the same way, because the protocol server keeps each connection's transaction to
 * itself, which direct calls beside it would not.
 */
export async function sharePglite(dataDir: string, port: number, prepare: (db: Db) => Promise<void>): Promise<SharedPglite> {
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const { pglite, lock } = await createPglite(dataDir);
  const direct = wrapPglite(pglite, `PGlite in ${dataDir}`, async () => {});
  const server = new PGLiteSocketServer({ db: pglite, host: loopback, port, maxConnections: 64 });
  // pglite-socket keeps its net.Server to itself; the gate goes in front of its listener.
  const listening = () => (server as unknown as { server: net.Server }).server;
  let gate: ReturnType<typeof requirePassword>;
  let password: string;
  try {
    password = await ensurePassword(dataDir);
    const verifier = await scramVerifier(password);
    await prepare(direct);
    await server.start();
    // Right after listen's callback, before the event loop can hand over a first connection.
    gate = requirePassword(listening(), verifier, { user: embeddedUser });
  } catch (error) {
    await server.stop().catch(() => {});
    await pglite.close().catch(() => {});
    await lock.release();
    throw error;
  }
  const address = listening().address() as net.AddressInfo;
  await lock.publishPort(address.port);
  return {
    url: embeddedDatabaseUrl(address.port, password),
    port: address.port,
    direct,
    async close() {
      try {
        gate.close();
        await server.stop();
        await pglite.close();
      } finally {
        await lock.release();
      }
    },
  };
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
