import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderStorage } from '../../src/storage/folder.js';
import { type Storage, WriteConflict } from '../../src/storage/types.js';
import { tempDir } from '../helpers/files.js';
import { startS3 } from '../helpers/s3.js';

const textOf = async (storage: Storage, key: string) => Buffer.from((await storage.read(key, 1024)).bytes).toString();
const conflict = (found: WriteConflict['found']) => expect.objectContaining({ name: 'WriteConflict', found });

/** The same promises of `Storage.write` and `delete` under a condition, for a folder and a bucket. */
const storages: Array<[string, () => Promise<{ storage: Storage; dir?: string; close(): Promise<void> }>]> = [
  [
    'a folder',
    async () => {
      const work = await tempDir();
      return { storage: folderStorage(work.dir), dir: work.dir, close: work.remove };
    },
  ],
  [
    'a bucket (s3rver)',
    async () => {
      const s3 = await startS3();
      return { storage: s3.storage, close: () => s3.close() };
    },
  ],
];

describe.each(storages)('conditional writes to %s', (_label, open) => {
  let opened: Awaited<ReturnType<(typeof storages)[number][1]>>;
  let storage: Storage;
  let counter = 0;
  /** A key of its own for each test. */
  const freshKey = () => `human_members/m${counter++}.yml`;
  beforeAll(async () => {
    opened = await open();
    storage = opened.storage;
  });
  afterAll(() => opened?.close());

  it('creates only where no file is: a second create of the key is refused and the first content stays', async () => {
    const key = freshKey();
    await storage.write(key, 'name: First\n', { ifAbsent: true });
    await expect(storage.write(key, 'name: Second\n', { ifAbsent: true })).rejects.toEqual(conflict('exists'));
    expect(await textOf(storage, key)).toBe('name: First\n');
  });

  it('writes at the version read; a write at an older version is refused and the newer content stays', async () => {
    const key = freshKey();
    await storage.write(key, 'name: One\n');
    const { version: first } = await storage.read(key, 1024);
    await storage.write(key, 'name: Two\n', { ifVersion: first });
    const { version: second } = await storage.read(key, 1024);
    expect(second).not.toBe(first);
    await expect(storage.write(key, 'name: Stale\n', { ifVersion: first })).rejects.toEqual(conflict('changed'));
    expect(await textOf(storage, key)).toBe('name: Two\n');
    await storage.delete(key);
    await expect(storage.write(key, 'name: Late\n', { ifVersion: second })).rejects.toEqual(conflict('gone'));
    expect(await storage.versionsOf([key])).toEqual(new Map());
  });

  it('of two saves at the same version, one is written and the other refused', async () => {
    const key = freshKey();
    await storage.write(key, 'name: Base\n');
    const { version } = await storage.read(key, 1024);
    const results = await Promise.allSettled([
      storage.write(key, 'name: A\n', { ifVersion: version }),
      storage.write(key, 'name: B\n', { ifVersion: version }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const winner = results[0]!.status === 'fulfilled' ? 'name: A\n' : 'name: B\n';
    expect(await textOf(storage, key)).toBe(winner);
    const creates = await Promise.allSettled([
      storage.write(`${key}.new.yml`, 'name: C\n', { ifAbsent: true }),
      storage.write(`${key}.new.yml`, 'name: D\n', { ifAbsent: true }),
    ]);
    expect(creates.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
  });

  it('deletes at the version read only', async () => {
    const key = freshKey();
    await storage.write(key, 'name: One\n');
    const { version: first } = await storage.read(key, 1024);
    await storage.write(key, 'name: Two\n');
    await expect(storage.delete(key, { ifVersion: first })).rejects.toEqual(conflict('changed'));
    expect(await textOf(storage, key)).toBe('name: Two\n');
    await storage.delete(key, { ifVersion: (await storage.read(key, 1024)).version });
    expect(await storage.versionsOf([key])).toEqual(new Map());
  });
});

describe('a folder write', () => {
  it('leaves no temporary file behind, refused or not, and keeps the permissions of a file rewritten', async () => {
    const work = await tempDir();
    try {
      const storage = folderStorage(work.dir);
      await storage.write('human_members/rin.yml', 'name: Rin\n', { ifAbsent: true });
      const file = path.join(work.dir, 'human_members/rin.yml');
      fs.chmodSync(file, 0o600);
      await storage.write('human_members/rin.yml', 'name: Rin\nrole: Lead\n', { ifVersion: (await storage.read('human_members/rin.yml', 1024)).version });
      await expect(storage.write('human_members/rin.yml', 'name: X\n', { ifAbsent: true })).rejects.toBeInstanceOf(WriteConflict);
      expect(fs.readdirSync(path.join(work.dir, 'human_members'))).toEqual(['rin.yml']);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(file, 'utf8')).toBe('name: Rin\nrole: Lead\n');
    } finally {
      await work.remove();
    }
  });
});
