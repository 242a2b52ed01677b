import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { sharePglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import { getMember, listMembers } from '../../src/registry/read.js';
import type { Service } from '../../src/service.js';
import { engines, freshDatabase, resetDatabase, type TestDatabase } from '../helpers/databases.js';
import { human, tempDir, virtual } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { startS3, type TestS3, testBucket } from '../helpers/s3.js';
import { eventually, get, post, serveForTest } from '../helpers/service.js';

const sample = (name: string) => JSON.parse(fs.readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8'));
const auth = { authorization: 'Bearer s3cr3t' };

/** A MinIO-shaped notification for one object. */
function minioEvent(eventName: string, key: string, sequencer: string, options: { etag?: string; bucket?: string } = {}) {
  const encoded = encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');
  const bucket = options.bucket ?? testBucket;
  return {
    EventName: eventName,
    Key: `${bucket}/${encoded}`,
    Records: [
      {
        eventVersion: '2.0',
        eventSource: 'minio:s3',
        eventName,
        s3: { bucket: { name: bucket }, object: { key: encoded, sequencer, ...(options.etag ? { eTag: options.etag } : {}) } },
      },
    ],
  };
}

describe.each(engines)('webhook on %s', (engine) => {
  let db: TestDatabase;
  let s3: TestS3;
  let service: Service;
  let url: string;
  beforeAll(async () => {
    db = await freshDatabase(engine);
    s3 = await startS3();
    service = await serveForTest(db, s3.storage, (config) => {
      config.storage = s3.config;
      config.webhook.authToken = 's3cr3t';
    });
    url = `${service.url}/webhook/storage`;
  });
  afterAll(async () => {
    await service?.close();
    await db?.close();
    await s3?.close();
  });
  beforeEach(async () => {
    await resetDatabase(db);
    for await (const page of s3.storage.list()) for (const file of page) await s3.storage.delete(file.key);
  });

  const names = async (kind: 'human' | 'virtual') => (await listMembers(db, kind)).map((m) => m.name);

  it('registers a MinIO put with a URL-encoded Japanese key', async () => {
    await s3.storage.write('virtual_members/華扇.yml', virtual('華扇', 'role: Code reviewer\n'));
    const response = await post(url, sample('minio-put-japanese-key'), auth);
    expect(response).toMatchObject({
      status: 200,
      body: { records: [{ key: 'virtual_members/華扇.yml', outcome: 'created', name: '華扇', file_uri: 'virtual_members/華扇.yml' }] },
    });
    const member = await get(`${service.url}/api/members/virtual/${encodeURIComponent('華扇')}`);
    expect(member).toMatchObject({ status: 200, body: { name: '華扇', role: 'Code reviewer', file_uri: 'virtual_members/華扇.yml' } });
  });

  it('registers an AWS S3 copy (no s3: prefix, + for spaces), also at the older path', async () => {
    await s3.storage.write('human_members/new hire 2026.yml', human('New Hire'));
    const response = await post(`${service.url}/webhook/file-change`, sample('aws-s3-copy'), auth);
    expect(response.body.records).toMatchObject([{ outcome: 'created', file_uri: 'human_members/new hire 2026.yml', name: 'New Hire' }]);
  });

  it('refuses requests without the token, with 401 in the error shape', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 's3cr3t' }] as Array<Record<string, string>>) {
      const response = await post(url, sample('minio-delete'), headers);
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe('unauthorized');
    }
  });

  it('deletes the member of a removed object (MinIO delete)', async () => {
    await s3.storage.write('human_members/rin.yml', human('Rin'));
    await service.context.reconciler!.run('test');
    await s3.storage.delete('human_members/rin.yml');
    const response = await post(url, sample('minio-delete'), auth);
    expect(response.body.records).toMatchObject([{ outcome: 'deleted', name: 'Rin' }]);
    expect(await names('human')).toEqual([]);
  });

  it('a repeated event is a no-op and an older one never overwrites newer state', async () => {
    const key = 'human_members/ann.yml';
    await s3.storage.write(key, human('Ann', 'bio: first\n'));
    expect((await post(url, minioEvent('s3:ObjectCreated:Put', key, '10'), auth)).body.records[0].outcome).toBe('created');
    await s3.storage.write(key, human('Ann', 'bio: second\n'));
    expect((await post(url, minioEvent('s3:ObjectCreated:Put', key, '20'), auth)).body.records[0].outcome).toBe('updated');
    expect((await post(url, minioEvent('s3:ObjectCreated:Put', key, '20'), auth)).body.records[0]).toMatchObject({
      outcome: 'unchanged',
      reason: 'this event was already applied',
    });
    expect((await post(url, minioEvent('s3:ObjectCreated:Put', key, '15'), auth)).body.records[0]).toMatchObject({ outcome: 'ignored' });
    expect((await post(url, minioEvent('s3:ObjectRemoved:Delete', key, '0012'), auth)).body.records[0]).toMatchObject({ outcome: 'ignored' });
    expect(await getMember(db, 'human', 'Ann')).toMatchObject({ bio: 'second' });
    // Sequencers survive in the database: a service started afresh still refuses the old event.
    const applied = await db.query('SELECT sequencer FROM storage_events WHERE file_uri = $1', [key]);
    expect(applied.rows).toEqual([{ sequencer: '20' }]);
  });

  it("an event with a forged sequencer (128 F's) does not mute the real events after it", async () => {
    const key = 'human_members/ann.yml';
    await s3.storage.write(key, human('Ann', 'bio: first\n'));
    expect((await post(url, minioEvent('s3:ObjectCreated:Put', key, '10'), auth)).body.records[0].outcome).toBe('created');
    expect((await post(url, minioEvent('s3:ObjectCreated:Put', key, 'F'.repeat(128)), auth)).body.records[0].outcome).toBe('unchanged');
    // Its sequencer ranks above every real one; what storage has now still counts.
    await s3.storage.write(key, human('Ann', 'bio: second\n'));
    expect((await post(url, minioEvent('s3:ObjectCreated:Put', key, '20'), auth)).body.records[0]).toMatchObject({ outcome: 'updated', name: 'Ann' });
    expect(await getMember(db, 'human', 'Ann')).toMatchObject({ bio: 'second' });
    // The real event is the one recorded now: its repeat is a no-op, an older one is ignored.
    expect((await post(url, minioEvent('s3:ObjectCreated:Put', key, '20'), auth)).body.records[0]).toMatchObject({
      outcome: 'unchanged',
      reason: 'this event was already applied',
    });
    expect((await post(url, minioEvent('s3:ObjectCreated:Put', key, '15'), auth)).body.records[0]).toMatchObject({ outcome: 'ignored' });
    // Forged again, then the object removed: the delete is not muted either.
    await post(url, minioEvent('s3:ObjectCreated:Put', key, 'F'.repeat(128)), auth);
    await s3.storage.delete(key);
    expect((await post(url, minioEvent('s3:ObjectRemoved:Delete', key, '30'), auth)).body.records[0]).toMatchObject({ outcome: 'deleted', name: 'Ann' });
    expect(await names('human')).toEqual([]);
  });

  it('says why an event for an object storage does not have changed nothing', async () => {
    // The README's sample events, sent as they are: none of their objects is in this bucket.
    for (const name of ['minio-put-japanese-key', 'minio-delete']) {
      const response = await post(url, sample(name), auth);
      expect(response.body.records).toMatchObject([{ outcome: 'unchanged', reason: 'the object is not in storage, and no member was registered from it' }]);
    }
  });

  it('events for files that do not exist leave nothing behind, and a file deleted by any path takes its event with it', async () => {
    const ghosts = Array.from({ length: 50 }, (_, i) => `human_members/ghost-${i}.yml`);
    const responses = await Promise.all(
      ghosts.flatMap((key, i) => [
        post(url, minioEvent('s3:ObjectCreated:Put', key, (100 + i).toString(16)), auth),
        post(url, minioEvent('s3:ObjectRemoved:Delete', key, (200 + i).toString(16)), auth),
      ]),
    );
    expect(responses.every((r) => r.status === 200 && ['unchanged', 'ignored'].includes(r.body.records[0].outcome))).toBe(true);
    expect((await db.query('SELECT file_uri FROM storage_events')).rows).toEqual([]);

    // A file registered through an event, then deleted without one: the full sync that deletes
    // its member forgets its event too.
    await s3.storage.write('human_members/kept.yml', human('Kept'));
    await s3.storage.write('human_members/gone.yml', human('Gone'));
    for (const [i, key] of ['human_members/kept.yml', 'human_members/gone.yml'].entries())
      await post(url, minioEvent('s3:ObjectCreated:Put', key, `A${i}`), auth);
    await s3.storage.delete('human_members/gone.yml');
    await service.context.reconciler!.run('test');
    expect(await names('human')).toEqual(['Kept']);
    expect((await db.query('SELECT file_uri FROM storage_events')).rows).toEqual([{ file_uri: 'human_members/kept.yml' }]);
  });

  it('whatever the order and repetition of delivery, the database ends equal to the bucket', async () => {
    // The history: a, b created; a edited; b deleted; c created. Events then arrive shuffled and twice.
    await s3.storage.write('human_members/a.yml', human('A', 'bio: edited\n'));
    await s3.storage.write('human_members/c.yml', human('C'));
    const history = [
      minioEvent('s3:ObjectCreated:Put', 'human_members/a.yml', '01'),
      minioEvent('s3:ObjectCreated:Put', 'human_members/b.yml', '02'),
      minioEvent('s3:ObjectCreated:Put', 'human_members/a.yml', '03'),
      minioEvent('s3:ObjectRemoved:Delete', 'human_members/b.yml', '04'),
      minioEvent('s3:ObjectCreated:Put', 'human_members/c.yml', '05'),
    ];
    const deliveries = [...history].reverse().concat(history);
    const responses = await Promise.all(deliveries.map((event) => post(url, event, auth)));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(await names('human')).toEqual(['A', 'C']);
    expect(await getMember(db, 'human', 'A')).toMatchObject({ bio: 'edited' });
  });

  it('acknowledges an invalid file with 200 and records it where people can see it', async () => {
    await s3.storage.write('virtual_members/kasen.yml', 'name: Kasen\nrole: Reviewer\n');
    const response = await post(url, minioEvent('s3:ObjectCreated:Put', 'virtual_members/kasen.yml', 'A1'), auth);
    expect(response.status).toBe(200);
    expect(response.body.records).toMatchObject([{ outcome: 'invalid', errors: [{ field: 'llm_model', code: 'required' }] }]);
    const errors = await get(`${service.url}/api/sync/errors`);
    expect(errors.body).toMatchObject({
      errors: [{ file_uri: 'virtual_members/kasen.yml', kind: 'virtual', errors: [{ field: 'llm_model' }] }],
      next_cursor: null,
    });
  });

  it('answers 400 for malformed bodies, and ignores other buckets, event types and non-member keys', async () => {
    expect((await post(url, { nope: 1 }, auth)).status).toBe(400);
    expect((await post(url, 'not json', auth)).body.error.code).toBe('bad_json');
    // Labelled as anything else, a body is still JSON, parsed as safely as application/json.
    const event = JSON.stringify(minioEvent('s3:ObjectCreated:Put', 'human_members/readme.txt', '1'));
    expect((await post(url, event, { ...auth, 'content-type': 'application/x-anything' })).status).toBe(200);
    for (const type of ['application/json', 'application/x-anything']) {
      const poisoned = await post(url, `{"__proto__": {"x": 1}, ${event.slice(1)}`, { ...auth, 'content-type': type });
      expect({ type, status: poisoned.status }).toEqual({ type, status: 400 });
    }
    expect((await post(url, 'not json', { ...auth, 'content-type': 'application/x-anything' })).body.error.code).toBe('bad_json');
    // What a relay's `fetch(url, { body: JSON.stringify(event) })` sends.
    expect((await post(url, event, { ...auth, 'content-type': 'text/plain;charset=UTF-8' })).status).toBe(200);
    // Text the database could not record is refused whole, before anything is written.
    const poison: Array<[string, (record: any) => void]> = [
      ['NUL in the sequencer', (r) => (r.s3.object.sequencer = '99\u0000')],
      ['a sequencer that is not hexadecimal', (r) => (r.s3.object.sequencer = 'later')],
      ['NUL in the ETag', (r) => (r.s3.object.eTag = '\u0000')],
      ['NUL in the event name', (r) => (r.eventName = 's3:ObjectCreated:Put\u0000')],
      ['a lone surrogate in the event name', (r) => (r.eventName = 's3:ObjectCreated:Put\ud800')],
    ];
    for (const [what, spoil] of poison) {
      const body = minioEvent('s3:ObjectCreated:Put', 'human_members/poison.yml', '1');
      spoil(body.Records[0]);
      const answer = await post(url, body, auth);
      expect({ what, status: answer.status, code: answer.body.error?.code }).toEqual({ what, status: 400, code: 'bad_request' });
    }
    const badKey = minioEvent('s3:ObjectCreated:Put', 'x', '1');
    badKey.Records[0]!.s3.object.key = '%E8%8F';
    expect((await post(url, badKey, auth)).body.error.code).toBe('bad_event');
    const response = await post(
      url,
      {
        Records: [
          ...minioEvent('s3:ObjectCreated:Put', 'human_members/a.yml', '1', { bucket: 'other' }).Records,
          ...minioEvent('s3:ObjectAccessed:Get', 'human_members/a.yml', '2').Records,
          ...minioEvent('s3:ObjectCreated:Put', 'human_members/readme.txt', '3').Records,
          ...minioEvent('s3:ObjectCreated:Put', 'notes/a.yml', '4').Records,
        ],
      },
      auth,
    );
    expect(response.status).toBe(200);
    expect(response.body.records.map((r: { outcome: string }) => r.outcome)).toEqual(['ignored', 'ignored', 'ignored', 'ignored']);
  });

  it('acknowledges a key that cannot be stored (a NUL in it) without failing the others', async () => {
    await s3.storage.write('human_members/fine.yml', human('Fine'));
    const bad = minioEvent('s3:ObjectCreated:Put', 'human_members/x.yml', 'F1');
    bad.Records[0]!.s3.object.key = 'human_members/bad%00.yml';
    const response = await post(url, { Records: [...bad.Records, ...minioEvent('s3:ObjectCreated:Put', 'human_members/fine.yml', 'F2').Records] }, auth);
    expect(response.status).toBe(200);
    expect(response.body.records).toMatchObject([
      { outcome: 'invalid', errors: [{ code: 'unusable_path' }] },
      { outcome: 'created', name: 'Fine' },
    ]);
    // A lone surrogate, as a JSON escape in the key, is no more storable than a NUL.
    const surrogate = minioEvent('s3:ObjectCreated:Put', 'human_members/x.yml', 'F3');
    surrogate.Records[0]!.s3.object.key = 'human_members/\ud800.yml';
    const second = await post(url, surrogate, auth);
    expect(second.status).toBe(200);
    expect(second.body.records).toMatchObject([{ outcome: 'invalid', errors: [{ code: 'unusable_path' }] }]);
    expect(await names('human')).toEqual(['Fine']);
  });

  it('absorbs a burst: concurrent events share transactions', async () => {
    const before = { ...service.context.registrar.stats };
    for (let i = 0; i < 40; i++) await s3.storage.write(`human_members/m${i}.yml`, human(`M${i}`));
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => post(url, minioEvent('s3:ObjectCreated:Put', `human_members/m${i}.yml`, `B${i}`), auth)),
    );
    expect(responses.map((r) => r.body.records[0].outcome)).toEqual(Array(40).fill('created'));
    const stats = service.context.registrar.stats;
    expect(stats.changes - before.changes).toBe(40);
    expect(stats.transactions - before.transactions).toBeLessThan(40);
    expect((await get(`${service.url}/api/sync/status`)).body.events.transactions).toBe(stats.transactions);
  });

  it('hands a name over when the holding file is deleted', async () => {
    await s3.storage.write('human_members/a.yml', human('Same'));
    await s3.storage.write('human_members/b.yml', human('Same', 'bio: waiting\n'));
    await post(url, minioEvent('s3:ObjectCreated:Put', 'human_members/a.yml', 'C1'), auth);
    expect((await post(url, minioEvent('s3:ObjectCreated:Put', 'human_members/b.yml', 'C2'), auth)).body.records[0].outcome).toBe('invalid');
    await s3.storage.delete('human_members/a.yml');
    await post(url, minioEvent('s3:ObjectRemoved:Delete', 'human_members/a.yml', 'C3'), auth);
    await eventually(async () => expect(await getMember(db, 'human', 'Same')).toMatchObject({ file_uri: 'human_members/b.yml', bio: 'waiting' }));
  });

  it('a file refused for wanting a held name lets its old name go to the next claimant (the issue: a: A, b: B, c: C; b → C; a → B)', async () => {
    const put = (file: string, name: string, sequencer: string) =>
      s3.storage
        .write(`human_members/${file}.yml`, human(name))
        .then(() => post(url, minioEvent('s3:ObjectCreated:Put', `human_members/${file}.yml`, sequencer), auth));
    for (const [i, file] of ['a', 'b', 'c'].entries()) await put(file, file.toUpperCase(), `B${i}`);
    expect((await put('b', 'C', 'B3')).body.records[0]).toMatchObject({ outcome: 'invalid', errors: [{ code: 'name_conflict' }] });
    expect((await put('a', 'B', 'B4')).body.records[0]).toMatchObject({ outcome: 'updated', name: 'B' });
    expect((await listMembers(db, 'human')).map((m) => [m.name, m.file_uri])).toEqual([
      ['B', 'human_members/a.yml'],
      ['C', 'human_members/c.yml'],
    ]);
  });

  it('heals missed events by reconciling with the bucket', async () => {
    await s3.storage.write('human_members/missed.yml', human('Missed'));
    await service.context.reconciler!.run('test');
    expect(await names('human')).toEqual(['Missed']);
  });

  it("keeps the database equal to the bucket from s3rver's own notifications", async () => {
    const deliver = (event: unknown) => void post(url, event, auth);
    s3.server.on('event', deliver);
    try {
      await s3.storage.write('human_members/x.yml', human('X'));
      await s3.storage.write('virtual_members/y.yml', virtual('Y'));
      await eventually(async () => expect([await names('human'), await names('virtual')]).toEqual([['X'], ['Y']]));
      await s3.storage.delete('human_members/x.yml');
      await eventually(async () => expect(await names('human')).toEqual([]));
    } finally {
      s3.server.off('event', deliver);
    }
  });

  it('with WEBHOOK_ETAG_CHECK_ENABLED=false a repeated event is processed again', async () => {
    const again = await serveForTest(db, s3.storage, (config) => {
      config.storage = s3.config;
      config.webhook.etagCheck = false;
    });
    try {
      const key = 'human_members/reset.yml';
      await s3.storage.write(key, human('Reset'));
      const event = minioEvent('s3:ObjectCreated:Put', key, 'D1');
      await post(`${again.url}/webhook/storage`, event);
      // With the check, a repeat is a no-op; without it, the file is read and registered again.
      expect((await post(url, event, auth)).body.records[0]).toMatchObject({ outcome: 'unchanged', reason: 'this event was already applied' });
      expect((await post(`${again.url}/webhook/storage`, event)).body.records[0]).toEqual({
        key,
        event: 's3:ObjectCreated:Put',
        outcome: 'unchanged',
        file_uri: key,
        name: 'Reset',
      });
      // The member tables reset (the original use case): the repeat registers the file again, with
      // or without the check, since the database no longer has what storage has.
      await db.exec('DELETE FROM human_members; DELETE FROM member_files;');
      expect((await post(url, event, auth)).body.records[0].outcome).toBe('created');
      expect(await names('human')).toEqual(['Reset']);
    } finally {
      await again.close();
    }
  });
});

describe('storage outage', () => {
  it('answers 503 when the object cannot be fetched, so that the event comes again', async () => {
    const db = await freshDatabase('pglite');
    const { s3Storage } = await import('../../src/storage/s3.js');
    const s3 = await startS3();
    const dead = { ...s3.config, endpoint: 'http://127.0.0.1:1' };
    await s3.close();
    const service = await serveForTest(db, await s3Storage(dead), (config) => void (config.storage = dead));
    try {
      const response = await post(`${service.url}/webhook/storage`, minioEvent('s3:ObjectCreated:Put', 'human_members/rin.yml', '5A1'));
      expect(response).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
      expect((await db.query('SELECT * FROM storage_events')).rows).toEqual([]);
    } finally {
      await service.close();
      await db.close();
    }
  });
});

describe.each(engines)('database outage on %s', (engine) => {
  it('answers 503 with nothing written, then takes the redelivered event', async () => {
    const s3 = await startS3();
    const work = await tempDir();
    // The service reaches the database through a proxy the test can cut.
    let target: { url: string; close: () => Promise<void> };
    if (engine === 'postgres') {
      const server = await freshDatabase('postgres');
      target = { url: server.url!, close: () => server.close() };
    } else {
      const shared = await sharePglite(path.join(work.dir, 'pgdata'), 0, async (direct) => void (await migrate(direct)));
      target = { url: shared.url, close: () => shared.close() };
    }
    const upstream = new URL(target.url);
    const proxy = await startProxy({ host: upstream.hostname, port: Number(upstream.port) });
    const viaProxy = new URL(target.url);
    viaProxy.port = String(proxy.port);
    const db = await openPostgres(viaProxy.toString());
    const service = await serveForTest(db, s3.storage, (config) => void (config.storage = s3.config));
    try {
      await s3.storage.write('human_members/rin.yml', human('Rin'));
      const event = minioEvent('s3:ObjectCreated:Put', 'human_members/rin.yml', 'E1');
      await proxy.cut();
      const down = await post(`${service.url}/webhook/storage`, event);
      expect(down.status).toBe(503);
      expect(down.body.error.code).toBe('unavailable');
      expect((await get(`${service.url}/ready`)).status).toBe(503);
      await proxy.restore();
      const again = await eventually(async () => {
        const response = await post(`${service.url}/webhook/storage`, event);
        expect(response.status).toBe(200);
        return response;
      });
      expect(again.body.records[0]).toMatchObject({ outcome: 'created', name: 'Rin' });
      expect((await get(`${service.url}/ready`)).status).toBe(200);
    } finally {
      await service.close();
      await db.close();
      await proxy.close().catch(() => {});
      await target.close();
      await s3.close();
      await work.remove();
    }
  });
});
