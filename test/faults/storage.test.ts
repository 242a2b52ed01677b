import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listMembers } from '../../src/registry/read.js';
import type { Service } from '../../src/service.js';
import { folderStorage } from '../../src/storage/folder.js';
import { engines, freshDatabase, resetDatabase, type TestDatabase } from '../helpers/databases.js';
import { human, tempDir, virtual, writeFiles } from '../helpers/files.js';
import { testBucket } from '../helpers/s3.js';
import { post, send, serveForTest } from '../helpers/service.js';

/**
 * Storage failing under a running service: the folder replaced by an empty one (an unmount),
 * emptied, or gone. Whatever syncs, reconciles and events do meanwhile, nothing is deleted, and
 * once the folder is back the next sync heals, the members keeping their ids and created_at.
 */

/** A MinIO-shaped notification of puts, for the webhook. */
function putEvent(keys: string[], sequencer: string) {
  return {
    Records: keys.map((key) => ({
      eventVersion: '2.0',
      eventSource: 'minio:s3',
      eventName: 's3:ObjectCreated:Put',
      s3: { bucket: { name: testBucket }, object: { key: encodeURIComponent(key).replace(/%2F/g, '/'), sequencer } },
    })),
  };
}

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

  /** Every member, as the database has it: what must survive an outage unchanged. */
  const members = async () =>
    (await Promise.all((['human', 'virtual'] as const).map((kind) => listMembers(db, kind)))).flat().map((m) => ({ id: m.id, name: m.name, created_at: m.created_at, file_uri: m.file_uri }));

  /** A reconcile of the service (as the periodic one runs), and PUT events for every member file. */
  async function reconcileAndEvents() {
    await expect(service.context.reconciler!.run('interval')).rejects.toMatchObject({ failure: 'unavailable' });
    return send(`${service.url}/webhook/storage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(putEvent(keys, String(++sequence).padStart(20, '0'))),
    });
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
