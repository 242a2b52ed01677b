import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Where Debian installs the server binaries (initdb, pg_ctl, postgres); PG_BIN overrides. */
async function serverBin(): Promise<string> {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = (await fs.readdir(root).catch(() => [])).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries under ${root} (install postgresql, or set PG_BIN)`);
  return path.join(root, versions[0]!, 'bin');
}

export interface TestCluster {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`: the cluster's maintenance database. */
  readonly adminUrl: string;
  readonly port: number;
  /** A URL of `database` on this cluster. */
  urlOf(database: string): string;
  /** Creates a database (dropped with the cluster). */
  createDatabase(name: string): Promise<string>;
  /** Runs one statement as the superuser on `database` (default `postgres`). */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<R[]>;
  /** Stops the server the way a crash does: no checkpoint, every backend killed at once (`pg_ctl stop -m immediate`). */
  crash(): Promise<void>;
  /**
   * Stops the server as an operator does, resolving once it has stopped: `smart` lets the open
   * sessions run to their end and refuses new ones meanwhile (57P03, "the database system is
   * shutting down"); `fast` ends them at once (57P01).
   */
  stop(mode: 'smart' | 'fast'): Promise<void>;
  /** Starts it again on the same port and data; crash recovery runs as it would after a real crash. */
  start(): Promise<void>;
  /** Whether the server accepts connections now. */
  isUp(): Promise<boolean>;
  /** The server's log so far, for failure messages. */
  log(): Promise<string>;
  /** Stops the server and removes its folder. */
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL cluster of the test's own — initdb on a temporary folder, its own port, trust
 * authentication on 127.0.0.1 only — that the test may crash and restart. The machine's shared
 * server is never stopped by a test. initdb refuses to run as root, so as root the cluster runs
 * as the `postgres` system user (which the server package creates).
 */
export async function startCluster(): Promise<TestCluster> {
  const bin = await serverBin();
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? 'postgres' : undefined;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vecr-cluster-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  if (owner) {
    await run('chown', [owner, dir]);
    await fs.chmod(dir, 0o700);
  }
  // As the cluster's owner: runuser keeps the environment small and needs no password.
  const asOwner = (command: string, args: string[]) => (owner ? run('runuser', ['-u', owner, '--', command, ...args]) : run(command, args));

  await asOwner(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    // A test cluster: nothing to survive a power cut, so no flush to disk (what the server
    // writes stays in the OS's cache, which a crash of the server does not lose); a crash
    // (immediate stop) still goes through WAL recovery, which is what the tests exercise. Commits
    // stay synchronous: with synchronous_commit off, a commit the server has acknowledged may
    // still sit in its WAL buffers, and a crash would lose it — a loss no real setup accepts.
    '-c fsync=off',
    '-c full_page_writes=off',
    '-c max_connections=100',
    '-c shared_buffers=32MB',
  ].join(' ');

  const cluster: TestCluster = {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    urlOf: (database) => `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    async createDatabase(name) {
      await cluster.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      return cluster.urlOf(name);
    },
    async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = [], database = 'postgres') {
      const client = new pg.Client({ connectionString: cluster.urlOf(database) });
      client.on('error', () => {});
      await client.connect();
      try {
        return (await client.query<R>(sql, params)).rows;
      } finally {
        await client.end().catch(() => {});
      }
    },
    async crash() {
      await asOwner(path.join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w']);
    },
    async stop(mode) {
      await asOwner(path.join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', mode, '-w', '-t', '120']);
    },
    async start() {
      await asOwner(path.join(bin, 'pg_ctl'), ['start', '-D', data, '-l', logFile, '-o', options, '-w', '-t', '60']);
    },
    async isUp() {
      return cluster.query('SELECT 1').then(
        () => true,
        () => false,
      );
    },
    log: () => fs.readFile(logFile, 'utf8').catch(() => ''),
    async destroy() {
      await asOwner(path.join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w']).catch(() => {});
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await cluster.start();
  } catch (error) {
    const log = await cluster.log();
    await fs.rm(dir, { recursive: true, force: true });
    throw new Error(`the test cluster did not start: ${(error as Error).message}\n${log}`);
  }
  return cluster;
}

/** A port nobody listens on now (the OS picks it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
