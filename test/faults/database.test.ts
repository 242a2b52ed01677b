import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/http/ui/password.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { human, tempDir, virtual } from '../helpers/files.js';
import { type ServeProcess, spawnServe } from '../helpers/serveProcess.js';
import { eventually } from '../helpers/service.js';

/**
 * `vecr serve` as a process, on a PostgreSQL cluster of the test's own that the test cuts off,
 * closes and crashes: every outage answers 503 with Retry-After, the process lives on, and once
 * the database is back the service works again by itself.
 */

const bucket = 'vecr-garage-storage';
let sequence = 0;

/** A MinIO notification for one object of the default bucket, with a sequencer later than any before. */
function minioEvent(action: 'put' | 'delete', key: string) {
  const eventName = action === 'put' ? 's3:ObjectCreated:Put' : 's3:ObjectRemoved:Delete';
  const encoded = encodeURIComponent(key).replace(/%2F/g, '/');
  const sequencer = (++sequence).toString(16).toUpperCase().padStart(16, '0');
  return {
    EventName: eventName,
    Key: `${bucket}/${encoded}`,
    Records: [{ eventVersion: '2.0', eventSource: 'minio:s3', eventName, s3: { bucket: { name: bucket }, object: { key: encoded, sequencer } } }],
  };
}

interface Answer {
  status: number;
  retryAfter: string | null;
  body: any;
}

/** One POST; a closed socket or a refused connection rejects (the process died). */
async function send(url: string, body: unknown): Promise<Answer> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: JSON.parse(text) };
}

async function fetchAnswer(url: string): Promise<Answer> {
  const response = await fetch(url);
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() };
}

/** Every member row as `file_uri → name (role)`, both tables. */
async function membersIn(cluster: TestCluster, database: string): Promise<Record<string, string>> {
  const rows = await cluster.query<{ file_uri: string; name: string; role: string | null }>(
    'SELECT file_uri, name, role FROM human_members UNION ALL SELECT file_uri, name, role FROM virtual_members',
    [],
    database,
  );
  return Object.fromEntries(rows.map((row) => [row.file_uri, `${row.name} (${row.role})`]));
}

/** Backends of `database` other than the asking one waiting for a lock. */
async function waitingBackends(cluster: TestCluster, database: string): Promise<number[]> {
  const rows = await cluster.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
    [database],
  );
  return rows.map((row) => row.pid);
}

/** A session holding the registry's lock (as a long transaction of another writer would), until `release`. */
async function holdRegistryLock(url: string) {
  const session = new pg.Client({ connectionString: url });
  session.on('error', () => {});
  await session.connect();
  await session.query('BEGIN');
  await session.query("SELECT pg_advisory_xact_lock(hashtext('vecr_registry'))");
  return {
    pid: (await session.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid,
    async release() {
      await session.query('COMMIT');
      await session.end();
    },
  };
}

describe('vecr serve when PostgreSQL fails', () => {
  let cluster: TestCluster;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let service: ServeProcess | undefined;
  let databases = 0;

  beforeAll(async () => {
    cluster = await startCluster();
    work = await tempDir();
  });
  afterAll(async () => {
    await cluster?.destroy();
    await work?.remove();
  });
  afterEach(async () => {
    await service?.kill();
    service = undefined;
  });

  /** A database of its own, an empty storage folder, and the service on them (no periodic reconcile, no watcher unless asked). */
  async function serve(env: NodeJS.ProcessEnv = {}) {
    const database = `outage_${++databases}`;
    const url = await cluster.createDatabase(database);
    const storage = path.join(work.dir, database, 'storage');
    await fs.mkdir(storage, { recursive: true });
    service = await spawnServe({
      DATABASE_URL: url,
      VECR_STORAGE: storage,
      VECR_DATA_DIR: path.join(work.dir, database, 'data'),
      VECR_RECONCILE_INTERVAL: '0',
      VECR_WATCH: 'false',
      ...env,
    });
    // The sync at start has run: from here on, only what the test does touches the database.
    await eventually(async () => expect(await cluster.query("SELECT 1 FROM sync_runs WHERE trigger = 'start'", [], database)).toHaveLength(1));
    const write = async (key: string, content: string) => {
      await fs.mkdir(path.dirname(path.join(storage, key)), { recursive: true });
      await fs.writeFile(path.join(storage, key), content);
    };
    return { database, url, storage, write, service, webhook: `${service.url}/webhook/storage` };
  }

  it('answers 503 and lives on when the backend of a transaction is terminated, then registers the event redelivered (defect 1)', async () => {
    const { database, url, write, service, webhook } = await serve();
    await write('human_members/rin.yml', human('Rin'));
    const event = minioEvent('put', 'human_members/rin.yml');
    const lock = await holdRegistryLock(url);
    try {
      // The event's transaction waits for the lock; its connection is then cut from the server side.
      const answer = send(webhook, event);
      const [waiting] = await eventually(async () => {
        const pids = await waitingBackends(cluster, database);
        expect(pids).toHaveLength(1);
        return pids;
      });
      await cluster.query('SELECT pg_terminate_backend($1)', [waiting]);
      const response = await answer;
      expect(response).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
      expect(response.retryAfter).toMatch(/^\d+$/);
    } finally {
      await lock.release();
    }
    expect(service.alive()).toBe(true);
    expect(service.output()).not.toMatch(/Unhandled 'error' event/);
    expect(await membersIn(cluster, database)).toEqual({});
    // Redelivered (as MinIO's queue does after a 503), the same event is registered.
    expect((await send(webhook, event)).body.records).toMatchObject([{ outcome: 'created', name: 'Rin' }]);
    expect(await membersIn(cluster, database)).toEqual({ 'human_members/rin.yml': 'Rin (Engineer)' });
  });

  it('lives on when the periodic reconcile loses its connection, and the next run registers what it missed (defect 1, no traffic)', async () => {
    const { database, url, write, service } = await serve({ VECR_RECONCILE_INTERVAL: '200ms' });
    const lock = await holdRegistryLock(url);
    try {
      // A file the next periodic run will write: its batch's transaction waits for the lock.
      await write('virtual_members/kasen.yml', virtual('華扇'));
      const [waiting] = await eventually(async () => {
        const pids = await waitingBackends(cluster, database);
        expect(pids).toHaveLength(1);
        return pids;
      });
      await cluster.query('SELECT pg_terminate_backend($1)', [waiting]);
      const lastError: string = await eventually(async () => {
        const { last_error } = (await fetchAnswer(`${service.url}/api/sync/status`)).body.reconcile;
        expect(last_error).toMatch(/^the database is unavailable: /);
        return last_error;
      });
      // A client reads the reason, not where the database is.
      expect(lastError).not.toContain(String(cluster.port));
    } finally {
      await lock.release();
    }
    await eventually(async () => expect(await membersIn(cluster, database)).toEqual({ 'virtual_members/kasen.yml': '華扇 (null)' }));
    expect(service.alive()).toBe(true);
    expect(service.output()).not.toMatch(/Unhandled 'error' event/);
  });

  it('answers 503 with Retry-After on every route while the database refuses connections, and recovers by itself (defect 2)', async () => {
    const { database, write, service, webhook } = await serve();
    await write('human_members/rin.yml', human('Rin'));
    expect((await send(webhook, minioEvent('put', 'human_members/rin.yml'))).status).toBe(200);

    // Maintenance: new connections refused (55000), and the pool's open ones closed.
    await cluster.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
    await cluster.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [database]);
    await write('human_members/syota.yml', human('Syota'));
    const syotaEvent = minioEvent('put', 'human_members/syota.yml');
    const answers = {
      webhook: await send(webhook, syotaEvent),
      members: await fetchAnswer(`${service.url}/api/members/human`),
      member: await fetchAnswer(`${service.url}/api/members/human/Rin`),
      status: await fetchAnswer(`${service.url}/api/sync/status`),
      errors: await fetchAnswer(`${service.url}/api/sync/errors`),
    };
    for (const [route, answer] of Object.entries(answers)) {
      expect({ route, status: answer.status, code: answer.body.error?.code }).toEqual({ route, status: 503, code: 'unavailable' });
      expect(answer.retryAfter, route).toMatch(/^\d+$/);
    }
    expect((await fetchAnswer(`${service.url}/ready`)).status).toBe(503);

    await cluster.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    // Back without a restart: the event redelivered is registered, and the API answers.
    expect((await send(webhook, syotaEvent)).body.records).toMatchObject([{ outcome: 'created', name: 'Syota' }]);
    expect((await fetchAnswer(`${service.url}/api/members/human`)).body.members.map((m: { name: string }) => m.name)).toEqual(['Rin', 'Syota']);
    expect((await fetchAnswer(`${service.url}/ready`)).status).toBe(200);
    expect(service.alive()).toBe(true);
  });

  it('sessions while the database is down: a page and a sign-out are 503 and change nothing; back, the session works, and signs out', async () => {
    const password = 'mika-admin-password-outage';
    const { database, service } = await serve({ VECR_UI_USERS: `mika:admin:${await hashPassword(password)}` });
    const signedIn = await fetch(`${service.url}/signin`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user: 'mika', password }).toString(),
    });
    const cookie = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
    const home = () => fetch(`${service.url}/`, { headers: { cookie }, redirect: 'manual' });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await home()).text())![1]!;
    const signOut = () =>
      fetch(`${service.url}/signout`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf }).toString(),
      });

    await cluster.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
    await cluster.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [database]);
    expect((await home()).status).toBe(503);
    const refused = await signOut();
    expect([refused.status, refused.headers.getSetCookie()]).toEqual([503, []]);

    await cluster.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    expect((await home()).status).toBe(200);
    const out = await signOut();
    expect([out.status, out.headers.get('location')]).toEqual([303, '/signin']);
    expect((await home()).headers.get('location')).toBe('/signin');
    expect(await cluster.query('SELECT expires_at > now() AS pending FROM signed_out_sessions', [], database)).toEqual([{ pending: true }]);
    expect(service.alive()).toBe(true);
  });

  it('answers only 200 or 503 while the database crashes and restarts under webhook traffic; redelivered, the database equals storage', async () => {
    const { database, url, write, storage, service, webhook } = await serve();
    // The plan: puts of 240 files, then edits of every third and deletes of every eighth, each
    // storage change made just before its event is sent, as a bucket does.
    const keys = Array.from({ length: 240 }, (_, i) => (i % 2 === 0 ? `human_members/m${i}.yml` : `virtual_members/m${i}.yml`));
    const content = (key: string, i: number, role: string) =>
      key.startsWith('human') ? human(`Member ${i}`).replace('Engineer', role) : virtual(`Member ${i}`, `role: ${role}\n`);
    const steps: Array<() => Promise<unknown>> = [
      ...keys.map((key, i) => async () => (await write(key, content(key, i, 'First')), minioEvent('put', key))),
      ...keys.flatMap((key, i) => (i % 3 === 0 ? [async () => (await write(key, content(key, i, 'Second')), minioEvent('put', key))] : [])),
      ...keys.flatMap((key, i) => (i % 8 === 0 ? [async () => (await fs.rm(path.join(storage, key)), minioEvent('delete', key))] : [])),
    ];

    const answered: Array<{ event: unknown; answer: Answer }> = [];
    const failures: string[] = [];
    let next = 0;
    const client = async () => {
      while (next < steps.length) {
        const event = await steps[next++]!();
        try {
          answered.push({ event, answer: await send(webhook, event) });
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
    };
    const traffic = Promise.all(Array.from({ length: 8 }, client));

    // A third of the way in, the server crashes with a transaction of the service in flight (held
    // up by another writer's lock, so that one surely is); it comes back once the outage has
    // been seen.
    await eventually(async () => expect(answered.length).toBeGreaterThan(steps.length / 3), 60_000);
    const lock = await holdRegistryLock(url);
    await eventually(async () => expect(await waitingBackends(cluster, database)).not.toEqual([]));
    await cluster.crash();
    void lock.release().catch(() => {});
    await eventually(async () => expect(answered.some(({ answer }) => answer.status === 503)).toBe(true), 30_000);
    await cluster.start();
    await traffic;

    expect(failures).toEqual([]);
    expect(service.alive()).toBe(true);
    const statuses = new Set(answered.map(({ answer }) => answer.status));
    expect([...statuses].sort()).toEqual([200, 503]);
    for (const { answer } of answered.filter(({ answer }) => answer.status === 503)) {
      expect(answer.body.error.code).toBe('unavailable');
      expect(answer.retryAfter).toMatch(/^\d+$/);
    }

    // MinIO's queue delivers the refused events again, in their order, until they are taken.
    const refused = answered.filter(({ answer }) => answer.status === 503).map(({ event }) => event);
    for (const event of refused) await eventually(async () => expect((await send(webhook, event)).status).toBe(200));

    const expected: Record<string, string> = {};
    keys.forEach((key, i) => {
      if (i % 8 !== 0) expected[key] = `Member ${i} (${i % 3 === 0 ? 'Second' : 'First'})`;
    });
    expect(await membersIn(cluster, database)).toEqual(expected);
    expect(service.alive()).toBe(true);
  });
});
