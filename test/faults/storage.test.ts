import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/types.js';
import { listMembers } from '../../src/registry/read.js';
import type { Service } from '../../src/service.js';
import { folderStorage } from '../../src/storage/folder.js';
import { s3Storage } from '../../src/storage/s3.js';
import type { Storage } from '../../src/storage/types.js';
import { syncStorage } from '../../src/sync/reconcile.js';
import { engines, freshDatabase, resetDatabase, type TestDatabase } from '../helpers/databases.js';
import { human, tempDir, virtual, writeFiles } from '../helpers/files.js';
import { startS3, type TestS3, testBucket } from '../helpers/s3.js';
import { type S3Fault, startS3Faults } from '../helpers/s3Faults.js';
import { vecrBin } from '../helpers/serveProcess.js';
import { post, send, serveForTest } from '../helpers/service.js';

/**
 * Storage failing under a running service: the folder replaced by an empty one (an unmount),
 * emptied, gone, or a folder in it swapped for a link to elsewhere; the bucket answering 500,
 * never answering, or stalling halfway through an answer. Whatever syncs, reconciles and events
 * do meanwhile, nothing is deleted and nothing is written; events answer 503 with Retry-After;
 * once the storage is back the next sync heals, the members keeping their ids and created_at.
 */

const run = promisify(execFile);

/** A MinIO-shaped notification, for the webhook. */
function notification(records: Array<{ key: string; removed?: boolean }>, sequencer: string) {
  return {
    Records: records.map(({ key, removed }) => ({
      eventVersion: '2.0',
      eventSource: 'minio:s3',
      eventName: removed ? 's3:ObjectRemoved:Delete' : 's3:ObjectCreated:Put',
      s3: { bucket: { name: testBucket }, object: { key: encodeURIComponent(key).replace(/%2F/g, '/'), sequencer } },
    })),
  };
}

const putEvent = (keys: string[], sequencer: string) =>
  notification(
    keys.map((key) => ({ key })),
    sequencer,
  );

/** Every member, as the database has it: what must survive an outage unchanged. */
const membersOf = async (db: Db) =>
  (await Promise.all((['human', 'virtual'] as const).map((kind) => listMembers(db, kind))))
    .flat()
    .map((m) => ({ id: m.id, name: m.name, created_at: m.created_at, file_uri: m.file_uri, ...('bio' in m ? { bio: m.bio } : {}) }));

/** A webhook request, its answer's status, headers and body. */
const deliver = (service: Service, body: unknown) =>
  send(`${service.url}/webhook/storage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const memberFiles = {
  'human_members/rin.yml': human('Rin'),
  'human_members/syota.yml': human('Syota'),
  'virtual_members/kasen.yml': virtual('華扇'),
};
const keys = Object.keys(memberFiles);

describe.each(engines)('folder storage failing under the service, on %s', (engine) => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let storage: string;
  let service: Service;
  let sequence = 0;
  beforeAll(async () => {
    db = await freshDatabase(engine);
  });
  afterAll(() => db?.close());
  beforeEach(async () => {
    await resetDatabase(db);
    work = await tempDir();
    storage = path.join(work.dir, 'storage');
    await writeFiles(storage, memberFiles);
    // No watcher: the test decides when a sync or an event happens.
    service = await serveForTest(db, folderStorage(storage), (config) => {
      config.storage = { kind: 'folder', path: storage };
      config.watch = false;
    });
  });
  afterEach(async () => {
    await service?.close();
    await work?.remove();
  });

  const members = () => membersOf(db);

  /** A reconcile of the service (as the periodic one runs), and PUT events for every member file. */
  async function reconcileAndEvents() {
    await expect(service.context.reconciler!.run('interval')).rejects.toMatchObject({ failure: 'unavailable' });
    return deliver(service, putEvent(keys, String(++sequence).padStart(20, '0')));
  }

  const faults: Array<[string, () => Promise<() => Promise<void>>]> = [
    [
      'replaced by an empty folder (an unmount)',
      async () => {
        await fs.rename(storage, `${storage}.real`);
        await fs.mkdir(storage);
        return async () => {
          await fs.rmdir(storage);
          await fs.rename(`${storage}.real`, storage);
        };
      },
    ],
    [
      'emptied (its files moved away, the same folder)',
      async () => {
        await fs.mkdir(`${storage}.real`);
        for (const kind of ['human_members', 'virtual_members']) await fs.rename(path.join(storage, kind), path.join(`${storage}.real`, kind));
        return async () => {
          for (const kind of ['human_members', 'virtual_members']) await fs.rename(path.join(`${storage}.real`, kind), path.join(storage, kind));
        };
      },
    ],
    [
      'gone (the mount point itself removed)',
      async () => {
        await fs.rename(storage, `${storage}.real`);
        return () => fs.rename(`${storage}.real`, storage);
      },
    ],
  ];

  it.each(faults)('the folder %s: a reconcile and events delete nothing; back, the next sync heals', async (_, fault) => {
    const before = await members();
    expect(before).toHaveLength(3);
    const restore = await fault();

    const response = await reconcileAndEvents();
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBeTruthy();
    // A second round, now that a reconcile has been refused: still nothing.
    expect((await reconcileAndEvents()).status).toBe(503);
    expect(await members()).toEqual(before);

    await restore();
    expect(await service.context.reconciler!.run('interval')).toMatchObject({ unchanged: 3, deleted: 0, created: 0 });
    const after = await post(`${service.url}/webhook/storage`, putEvent(keys, String(++sequence).padStart(20, '0')));
    expect(after.status).toBe(200);
    expect(after.body.records.map((r: { outcome: string }) => r.outcome)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(await members()).toEqual(before);
  });

  it('a folder swapped for a link to a folder outside, just after an event there: the next event registers nothing from outside (defect 6)', async () => {
    const outside = path.join(work.dir, 'outside');
    await writeFiles(outside, { 'rin.yml': human('Secret', 'bio: from outside the storage\n') });
    await fs.writeFile(path.join(storage, 'human_members/rin.yml'), human('Rin', 'bio: edited\n'));
    const first = await post(`${service.url}/webhook/storage`, putEvent(['human_members/rin.yml'], String(++sequence).padStart(20, '0')));
    expect(first.body.records.map((r: { outcome: string }) => r.outcome)).toEqual(['updated']);
    await fs.rename(path.join(storage, 'human_members'), path.join(work.dir, 'moved'));
    await fs.symlink(outside, path.join(storage, 'human_members'));
    const second = await post(`${service.url}/webhook/storage`, putEvent(['human_members/rin.yml'], String(++sequence).padStart(20, '0')));
    // The file leads out of storage: as good as gone, as a listing has it.
    expect(second.body.records.map((r: { outcome: string }) => r.outcome)).toEqual(['deleted']);
    expect((await members()).map((m) => m.name).sort()).toEqual(['Syota', '華扇']);
  });
});

describe.each(engines)('S3 failing under the service, on %s', (engine) => {
  let db: TestDatabase;
  let s3: TestS3;
  let proxy: Awaited<ReturnType<typeof startS3Faults>>;
  let config: TestS3['config'];
  /** The bucket through the proxy, with a short deadline: the test sees a stall end quickly. */
  let storage: Storage;
  let service: Service;
  let sequence = 0;
  beforeAll(async () => {
    db = await freshDatabase(engine);
    s3 = await startS3();
    proxy = await startS3Faults(s3.endpoint);
    config = { ...s3.config, endpoint: proxy.endpoint };
    storage = await s3Storage({ ...config, requestTimeoutMs: 1000 });
  });
  afterAll(async () => {
    await proxy?.close();
    await s3?.close();
    await db?.close();
  });
  beforeEach(async () => {
    proxy.fault = 'none';
    await resetDatabase(db);
    for await (const page of s3.storage.list()) for (const file of page) await s3.storage.delete(file.key);
    for (const [key, content] of Object.entries(memberFiles)) await s3.storage.write(key, content);
    service = await serveForTest(db, storage, (c) => void (c.storage = config));
  });
  afterEach(async () => {
    proxy.fault = 'none';
    await service?.close();
  });

  const members = () => membersOf(db);

  /** Changes made in the bucket while it fails for the service: one file edited, one deleted, one new. */
  async function changeBucket() {
    await s3.storage.write('human_members/rin.yml', human('Rin', 'bio: edited during the outage\n'));
    await s3.storage.delete('human_members/syota.yml');
    await s3.storage.write('virtual_members/new.yml', virtual('New'));
  }
  const changes = [{ key: 'human_members/rin.yml' }, { key: 'human_members/syota.yml', removed: true }, { key: 'virtual_members/new.yml' }];

  it('a bucket that may be listed but refuses HeadBucket (a policy for a prefix) passes the check a sync makes first (review)', async () => {
    proxy.fault = 'refuse-head';
    await expect(storage.check()).resolves.toBeUndefined();
    expect(await syncStorage(db, storage, { key: 'file_uri' })).toMatchObject({ unchanged: 3, invalid: 0 });
    proxy.fault = 'error';
    await expect(storage.check()).rejects.toMatchObject({ failure: 'unavailable' });
  });

  it.each<S3Fault>(['error', 'stall', 'stall-body'])(
    'S3 failing (%s): a reconcile and events write and delete nothing, events answer 503; back, redelivery and the next sync heal',
    async (fault) => {
      const before = await members();
      expect(before).toHaveLength(3);
      await changeBucket();
      proxy.fault = fault;

      await expect(service.context.reconciler!.run('interval')).rejects.toMatchObject({ failure: 'unavailable' });
      const event = notification(changes, String(++sequence).padStart(20, '0'));
      const refused = await deliver(service, event);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBeTruthy();
      expect(JSON.stringify(refused.body)).not.toMatch(/at .*\.js|node_modules/);
      expect(await members()).toEqual(before);

      proxy.fault = 'none';
      // The storage delivers the event again: applied now, as if it had come the first time.
      const redelivered = await deliver(service, event);
      expect(redelivered.status).toBe(200);
      expect(redelivered.body.records.map((r: { outcome: string }) => r.outcome)).toEqual(['updated', 'deleted', 'created']);
      expect(await service.context.reconciler!.run('interval')).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 3 });
      const after = await members();
      const rin = before.find((m) => m.name === 'Rin')!;
      expect(after.find((m) => m.name === 'Rin')).toMatchObject({ id: rin.id, created_at: rin.created_at, bio: 'edited during the outage' });
      expect(after.map((m) => m.name).sort()).toEqual(['New', 'Rin', '華扇']);
    },
  );

  it('S3 failing: the next reconcile alone heals what was missed', async () => {
    const before = await members();
    await changeBucket();
    proxy.fault = 'error';
    await expect(service.context.reconciler!.run('interval')).rejects.toMatchObject({ failure: 'unavailable' });
    expect(await members()).toEqual(before);
    proxy.fault = 'none';
    expect(await service.context.reconciler!.run('interval')).toMatchObject({ created: 1, updated: 1, deleted: 1 });
    const rin = before.find((m) => m.name === 'Rin')!;
    expect((await members()).find((m) => m.name === 'Rin')).toMatchObject({ id: rin.id, created_at: rin.created_at });
  });

  it('S3 stalling halfway through a sync: the sync fails as unavailable within its deadline, and deletes nothing', async () => {
    const before = await members();
    await s3.storage.delete('human_members/syota.yml');
    // The listing passes; the reads stall.
    const stallingReads: Storage = {
      ...storage,
      list() {
        const listing = storage.list();
        return {
          ...listing,
          [Symbol.asyncIterator]: () => listing[Symbol.asyncIterator](),
          readMany(keys, maxBytes) {
            proxy.fault = 'stall';
            return listing.readMany(keys, maxBytes);
          },
        };
      },
    };
    await s3.storage.write('human_members/rin.yml', human('Rin', 'bio: to be read\n'));
    await expect(syncStorage(db, stallingReads, { key: 'file_uri' })).rejects.toMatchObject({
      failure: 'unavailable',
      message: expect.stringMatching(/no answer within 1000 ms/),
    });
    expect(await members()).toEqual(before);
  });
});

describe('vecr sync with S3 failing', () => {
  let s3: TestS3;
  let proxy: Awaited<ReturnType<typeof startS3Faults>>;
  let data: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    s3 = await startS3();
    proxy = await startS3Faults(s3.endpoint);
    data = await tempDir();
  });
  afterAll(async () => {
    await proxy?.close();
    await s3?.close();
    await data?.remove();
  });

  it('S3 answering 500: one sentence naming the bucket, a non-zero exit, nothing deleted; the next run heals', async () => {
    for (const [key, content] of Object.entries(memberFiles)) await s3.storage.write(key, content);
    const env = {
      ...process.env,
      DATABASE_URL: '',
      VECR_DATA_DIR: data.dir,
      VECR_STORAGE: `s3://${testBucket}`,
      S3_ENDPOINT: proxy.endpoint,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    };
    const vecr = (...args: string[]) =>
      run(process.execPath, [vecrBin, ...args], { env }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
      );
    expect(await vecr('sync')).toMatchObject({ code: 0, stdout: expect.stringContaining('created 3,') });
    await s3.storage.delete('human_members/syota.yml');
    proxy.fault = 'error';
    const failed = await vecr('sync');
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toMatch(new RegExp(`s3://${testBucket}.*InternalError`));
    expect(failed.stderr).not.toMatch(/^\s+at /m);
    proxy.fault = 'none';
    // Syota's member is deleted now, not before: the failed run deleted nothing.
    expect(await vecr('sync')).toMatchObject({ code: 0, stdout: expect.stringContaining('unchanged 2, deleted 1,') });
  });
});
