import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { human, tempDir, virtual } from '../helpers/files.js';
import { vecrBin } from '../helpers/serveProcess.js';
import { eventually } from '../helpers/service.js';

const run = promisify(execFile);

/**
 * `vecr sync` as a process, stopped in the middle of a batch — killed, or its database crashed or
 * its connection ended — on a PostgreSQL cluster of the test's own: the database keeps whole
 * batches only, the command says what happened in one sentence, and a second run converges.
 */

/** Files per transaction of a sync (src/sync/reconcile.ts). */
const batchSize = 2000;
const fileCount = 3 * batchSize;
const application = 'vecr-sync-under-test';

describe('vecr sync stopped midway', () => {
  let cluster: TestCluster;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let storage: string;
  /** Every member file's key, in the order of the listing (and of the batches). */
  let keys: string[];
  let databases = 0;

  beforeAll(async () => {
    cluster = await startCluster();
    work = await tempDir();
    storage = path.join(work.dir, 'storage');
    keys = Array.from({ length: fileCount }, (_, i) => {
      const n = String(i).padStart(5, '0');
      return i < fileCount / 2 ? `human_members/m${n}.yml` : `virtual_members/m${n}.yml`;
    }).sort();
    await fs.mkdir(path.join(storage, 'human_members'), { recursive: true });
    await fs.mkdir(path.join(storage, 'virtual_members'), { recursive: true });
    for (const key of keys) {
      const name = `Member ${path.basename(key, '.yml')}`;
      await fs.writeFile(path.join(storage, key), key.startsWith('human') ? human(name) : virtual(name));
    }
  });
  afterAll(async () => {
    await cluster?.destroy();
    await work?.remove();
  });

  /** A database of its own, migrated, whose connections from the sync are named `application`. */
  async function database() {
    const name = `sync_${++databases}`;
    const url = `${await cluster.createDatabase(name)}?application_name=${application}`;
    await run(process.execPath, [vecrBin, 'db', 'migrate'], { env: { ...process.env, DATABASE_URL: url } });
    return { name, url };
  }

  /** The sync as a process; its output collected. */
  function startSync(url: string, ...args: string[]) {
    const child = spawn(process.execPath, [vecrBin, 'sync', '--storage', storage, ...args], {
      env: { ...process.env, DATABASE_URL: url, VECR_DATA_DIR: path.join(work.dir, 'data') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
      // 'close': the process has exited and its output has been read to the end.
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
    );
    return { child, exited };
  }

  /**
   * Holds the sync up in the middle of its second batch, in a real way: another transaction has
   * inserted, and not committed, the row of a file halfway through that batch, so the batch's
   * upsert waits for it with the rows before it written. Released (rolled back) by `release`.
   */
  async function blockSecondBatch(name: string) {
    const other = new pg.Client({ connectionString: cluster.urlOf(name) });
    other.on('error', () => {});
    await other.connect();
    // A quarter into the second batch: human_members/m02500.yml.
    const key = keys[batchSize + batchSize / 4]!;
    await other.query('BEGIN');
    await other.query('INSERT INTO human_members (name, file_uri) VALUES ($1, $2)', [`Member ${path.basename(key, '.yml')}`, key]);
    return {
      release: async () => {
        await other.query('ROLLBACK').catch(() => {});
        await other.end().catch(() => {});
      },
    };
  }

  /** Waits until the sync's transaction for its second batch waits there; answers its backend. */
  async function midBatch(name: string, exited: Promise<unknown>): Promise<number> {
    let over = false;
    void exited.then(() => (over = true));
    const [waiting] = await eventually(async () => {
      if (over) throw new Error('the sync ended before it reached its second batch');
      const rows = await cluster.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND backend_xid IS NOT NULL",
        [application],
        name,
      );
      expect(rows).toHaveLength(1);
      return rows;
    }, 60_000);
    return waiting!.pid;
  }

  /**
   * How many files are registered, checking that they are whole batches from the start of the
   * listing, in the member tables and the file records alike.
   */
  async function wholeBatches(name: string): Promise<number> {
    const members = await cluster.query<{ file_uri: string }>(
      'SELECT file_uri FROM (SELECT file_uri FROM human_members UNION ALL SELECT file_uri FROM virtual_members) m ORDER BY file_uri COLLATE "C"',
      [],
      name,
    );
    const records = await cluster.query<{ file_uri: string }>(
      'SELECT file_uri FROM member_files WHERE status = \'registered\' ORDER BY file_uri COLLATE "C"',
      [],
      name,
    );
    const registered = members.map((row) => row.file_uri);
    expect(registered.length % batchSize).toBe(0);
    expect(registered).toEqual(keys.slice(0, registered.length));
    expect(records.map((row) => row.file_uri)).toEqual(registered);
    return registered.length;
  }

  /** A second run from scratch: every file registered, nothing else. */
  async function expectRerunConverges(name: string, url: string) {
    const { stdout } = await run(process.execPath, [vecrBin, 'sync', '--storage', storage, '--json'], {
      env: { ...process.env, DATABASE_URL: url, VECR_DATA_DIR: path.join(work.dir, 'data') },
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(JSON.parse(stdout)).toMatchObject({ invalid: 0, deleted: 0 });
    const members = await cluster.query<{ file_uri: string; name: string }>(
      'SELECT file_uri, name FROM (SELECT file_uri, name FROM human_members UNION ALL SELECT file_uri, name FROM virtual_members) m ORDER BY file_uri COLLATE "C"',
      [],
      name,
    );
    expect(members.map((row) => row.file_uri)).toEqual(keys);
    expect(members.every((row) => row.name === `Member ${path.basename(row.file_uri, '.yml')}`)).toBe(true);
  }

  it('keeps whole batches only when the process is killed (SIGKILL) in the middle of one, and a re-run converges', async () => {
    const { name, url } = await database();
    const blocker = await blockSecondBatch(name);
    try {
      const sync = startSync(url);
      await midBatch(name, sync.exited);
      sync.child.kill('SIGKILL');
      expect(await sync.exited).toMatchObject({ signal: 'SIGKILL' });
      expect(await wholeBatches(name)).toBe(batchSize);
    } finally {
      await blocker.release();
    }
    await expectRerunConverges(name, url);
  });

  it.each([
    {
      fault: 'the database crashes',
      cause:
        /PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/sync_\d+\?application_name=vecr-sync-under-test (is|became) unavailable( during a transaction)?: [^\n]+/,
    },
    {
      fault: 'its connection is ended by the server',
      cause:
        /PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/sync_\d+\?application_name=vecr-sync-under-test became unavailable during a transaction: the server ended the connection, as an administrator or a shutdown does \(57P01: terminating connection due to administrator command[^\n]*\); nothing of the transaction was committed/,
    },
  ])(
    'says in one sentence that it stopped when $fault in the middle of a batch, keeps whole batches only, and a re-run converges',
    async ({ fault, cause }) => {
      const { name, url } = await database();
      const blocker = await blockSecondBatch(name);
      let result: Awaited<ReturnType<typeof startSync>['exited']>;
      try {
        const sync = startSync(url);
        const writer = await midBatch(name, sync.exited);
        if (fault === 'the database crashes') await cluster.crash();
        else await cluster.query('SELECT pg_terminate_backend($1)', [writer]);
        result = await sync.exited;
      } finally {
        await blocker.release();
        if (!(await cluster.isUp())) await cluster.start();
      }

      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(
        new RegExp(`^vecr: the sync stopped: ${cause.source}\\. Batches committed before stay; run vecr sync again to finish\\.\\n$`),
      );
      expect(await wholeBatches(name)).toBe(batchSize);
      await expectRerunConverges(name, url);
    },
  );

  it('says in one sentence that the database does not accept connections, and writes nothing', async () => {
    const name = `sync_${++databases}`;
    const url = await cluster.createDatabase(name);
    await cluster.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    try {
      const result = await startSync(url).exited;
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^vecr: cannot reach PostgreSQL at \S+: the database is not accepting connections, as during maintenance \(55000: database "sync_\d+" is not currently accepting connections\)\n$/,
      );
    } finally {
      await cluster.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    }
    const tables = await cluster.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'", [], name);
    expect(tables).toEqual([]);
  });
});
