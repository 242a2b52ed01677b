import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMembers } from '../../src/registry/read.js';
import { s3Storage } from '../../src/storage/s3.js';
import { type FileRead, type Storage, StorageError } from '../../src/storage/types.js';
import { syncStorage } from '../../src/sync/reconcile.js';
import { engines, freshDatabase } from '../helpers/databases.js';
import { human } from '../helpers/files.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { readingThrough } from '../helpers/storage.js';

async function keysOf(storage: Storage) {
  const keys = [];
  for await (const page of storage.list()) keys.push(...page);
  return keys;
}

async function allRead(groups: AsyncIterable<FileRead[]>) {
  const files: FileRead[] = [];
  for await (const group of groups) files.push(...group);
  return files;
}

describe('S3 storage (s3rver)', () => {
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(() => s3?.close());

  it('writes, lists with ETags as versions, reads and deletes', async () => {
    await s3.storage.write('human_members/rin.yml', human('Rin'));
    await s3.storage.write('virtual_members/華扇.yml', 'name: 華扇\nllm_model: m\n');
    const listed = await keysOf(s3.storage);
    expect(listed.map((f) => f.key)).toEqual(['human_members/rin.yml', 'virtual_members/華扇.yml']);
    expect(listed[0]!.version).toMatch(/^[0-9a-f]{32}$/);
    const read = await s3.storage.read('human_members/rin.yml', 1024);
    expect(Buffer.from(read.bytes).toString()).toBe(human('Rin'));
    expect(read.version).toBe(listed[0]!.version);
    expect(await s3.storage.versionsOf(['human_members/rin.yml'])).toEqual(new Map([['human_members/rin.yml', read.version]]));
    await s3.storage.delete('human_members/rin.yml');
    await expect(s3.storage.read('human_members/rin.yml', 1024)).rejects.toMatchObject({ failure: 'not_found' });
    expect(await s3.storage.versionsOf(['human_members/rin.yml'])).toEqual(new Map());
    await s3.storage.delete('virtual_members/華扇.yml');
  });

  it('reads at most maxBytes + 1 bytes of a large object, and empty objects whole', async () => {
    await s3.storage.write('human_members/big.yml', 'x'.repeat(10_000));
    expect((await s3.storage.read('human_members/big.yml', 100)).bytes.byteLength).toBe(101);
    await s3.storage.write('human_members/empty.yml', '');
    expect((await s3.storage.read('human_members/empty.yml', 100)).bytes.byteLength).toBe(0);
    await s3.storage.delete('human_members/big.yml');
    await s3.storage.delete('human_members/empty.yml');
  });

  it('reads many objects at once: each with its bytes and ETag, a missing one as not found', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `human_members/m${i}.yml`);
    for (const key of keys) await s3.storage.write(key, human(key));
    const read = await allRead(s3.storage.readMany([...keys, 'human_members/missing.yml'], 1024));
    expect(read.map((f) => f.key).sort()).toEqual([...keys, 'human_members/missing.yml'].sort());
    const versions = new Map((await keysOf(s3.storage)).map((f) => [f.key, f.version]));
    for (const file of read) {
      if (file.error) expect([file.key, file.error.failure]).toEqual(['human_members/missing.yml', 'not_found']);
      else expect([Buffer.from(file.bytes).toString(), file.version]).toEqual([human(file.key), versions.get(file.key)]);
    }
    for (const key of keys) await s3.storage.delete(key);
  });

  it('works below a prefix: keys, and so file_uris, are relative to it', async () => {
    const scoped = await s3Storage({ ...s3.config, prefix: 'team/a' });
    await scoped.write('human_members/x.yml', human('X'));
    await s3.storage.write('team/b/human_members/y.yml', human('Y'));
    expect((await keysOf(scoped)).map((f) => f.key)).toEqual(['human_members/x.yml']);
    expect((await keysOf(s3.storage)).map((f) => f.key)).toEqual(['team/a/human_members/x.yml', 'team/b/human_members/y.yml']);
    await scoped.delete('human_members/x.yml');
    await s3.storage.delete('team/b/human_members/y.yml');
  });

  it('reports an unreachable endpoint or a missing bucket as unavailable, not as a missing file', async () => {
    const nowhere = await s3Storage({ ...s3.config, endpoint: 'http://127.0.0.1:1' });
    await expect(nowhere.read('human_members/x.yml', 10)).rejects.toMatchObject({ failure: 'unavailable' });
    await expect(allRead(nowhere.readMany(['human_members/x.yml', 'human_members/y.yml'], 10))).rejects.toMatchObject({ failure: 'unavailable' });
    await expect(keysOf(nowhere)).rejects.toBeInstanceOf(StorageError);
    const noBucket = await s3Storage({ ...s3.config, bucket: 'no-such-bucket' });
    await expect(noBucket.check()).rejects.toMatchObject({ failure: 'unavailable' });
    await expect(keysOf(noBucket)).rejects.toMatchObject({ failure: 'unavailable' });
    // A missing bucket answers a read with 404 too (NoSuchBucket): not a file gone.
    await expect(noBucket.read('human_members/x.yml', 10)).rejects.toMatchObject({ failure: 'unavailable' });
    await expect(allRead(noBucket.readMany(['human_members/x.yml'], 10))).rejects.toMatchObject({ failure: 'unavailable' });
  });
});

describe.each(engines)('vecr sync on a bucket, %s', (engine) => {
  it('registers objects, and recognises unchanged ones by their listing ETag without downloading them', async () => {
    const s3 = await startS3();
    const db = await freshDatabase(engine);
    try {
      await s3.storage.write('human_members/rin.yml', human('Rin'));
      await s3.storage.write('data/samples/human_members/syota.yml', human('Syota'));
      await s3.storage.write('virtual_members/notes.txt', 'not a member');
      const reads: string[] = [];
      const counting = readingThrough(s3.storage, (file) => (reads.push(file.key), file));
      expect(await syncStorage(db, counting, { key: 'file_uri' })).toMatchObject({ created: 2, invalid: 0 });
      expect(reads.sort()).toEqual(['data/samples/human_members/syota.yml', 'human_members/rin.yml']);
      reads.length = 0;
      expect(await syncStorage(db, counting, { key: 'file_uri' })).toMatchObject({ created: 0, unchanged: 2 });
      expect(reads).toEqual([]);
      await s3.storage.write('human_members/rin.yml', human('Rin', 'bio: edited\n'));
      await s3.storage.delete('data/samples/human_members/syota.yml');
      expect(await syncStorage(db, counting, { key: 'file_uri' })).toMatchObject({ updated: 1, deleted: 1 });
      expect(reads).toEqual(['human_members/rin.yml']);
      expect((await listMembers(db, 'human')).map((m) => [m.name, m.file_uri])).toEqual([['Rin', 'human_members/rin.yml']]);
    } finally {
      await db.close();
      await s3.close();
    }
  });
});
