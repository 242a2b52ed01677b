import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { folderStorage } from '../../src/storage/folder.js';
import type { FileRead, Storage } from '../../src/storage/types.js';
import { tempDir, writeFiles } from '../helpers/files.js';

/** What became of each file read, comparable across ways of reading. */
async function outcomes(reads: AsyncIterable<FileRead[]>) {
  const seen: Array<[string, string]> = [];
  for await (const group of reads) {
    for (const file of group) seen.push([file.key, file.error ? file.error.failure : `${Buffer.from(file.bytes).toString()} @ ${file.version}`]);
  }
  return seen;
}

async function listed(storage: Storage) {
  const keys: string[] = [];
  for await (const page of storage.list()) keys.push(...page.map((file) => file.key));
  return keys;
}

/** The storage once a sync accepted a listing of it: a file missing there is gone. */
async function accepted(storage: Storage) {
  const listing = storage.list();
  for await (const _ of listing);
  listing.accept();
  return storage;
}

/** What became of each file, reading the files one at a time. */
async function outcomesOneByOne(storage: Storage, keys: string[], maxBytes: number) {
  const seen: Array<[string, string]> = [];
  for (const key of keys) {
    const outcome = await storage.read(key, maxBytes).then(
      (file) => `${Buffer.from(file.bytes).toString()} @ ${file.version}`,
      (error: { failure: string }) => error.failure,
    );
    seen.push([key, outcome]);
  }
  return seen;
}

describe('folder storage', () => {
  let dir: string;
  let remove: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, remove } = await tempDir());
  });
  afterEach(() => remove());

  it('lists every file below the root once, in key order (UTF-8 bytes), a page at a time', async () => {
    const keys = [
      ...Array.from({ length: 2100 }, (_, i) => `human_members/h${String(i).padStart(4, '0')}.yml`),
      // A folder's files sort as their keys: `a/x` after `a-b`, `😀` (beyond U+FFFF) after U+E000.
      'human_members/a/x.yml',
      'human_members/a-b.yml',
      'human_members/\u{1F600}.yml',
      'human_members/\uE000.yml',
      'notes/readme.txt',
      ...Array.from({ length: 5 }, (_, i) => `virtual_members/v${i}.yml`),
    ].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    await writeFiles(dir, Object.fromEntries(keys.map((key) => [key, 'name: x\n'])));
    const pages: string[][] = [];
    for await (const page of folderStorage(dir).list()) pages.push(page.map((file) => file.key));
    expect(pages.flat()).toEqual(keys);
    expect(pages.length).toBeGreaterThan(1);
    expect(Math.max(...pages.map((page) => page.length))).toBeLessThanOrEqual(1000);
  });

  it('leaves out names that are not UTF-8: they cannot be keys', async () => {
    await writeFiles(dir, { 'human_members/ann.yml': 'name: Ann\n', 'human_members/zoe.yml': 'name: Zoe\n' });
    // Two Latin-1 names that a UTF-8 decoder would both turn into `caf\uFFFD.yml`.
    for (const byte of [0xe8, 0xe9])
      fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/human_members/caf`), Buffer.from([byte]), Buffer.from('.yml')]), 'name: x\n');
    const keys: string[] = [];
    for await (const page of folderStorage(dir).list()) keys.push(...page.map((file) => file.key));
    expect(keys).toEqual(['human_members/ann.yml', 'human_members/zoe.yml']);
  });

  it('reads only keys that are plain relative paths', async () => {
    await writeFiles(dir, {
      'human_members/a.yml': 'name: A\n',
      'human_members/.b.yml': 'name: B\n',
      'human_members/c..yml': 'name: C\n',
      'x.yml': 'name: X\n',
    });
    const storage = folderStorage(dir);
    for (const key of ['human_members/.b.yml', 'human_members/c..yml'])
      expect(Buffer.from((await storage.read(key, 1024)).bytes).toString()).toMatch(/^name: /);
    for (const key of ['', '/x.yml', 'human_members//a.yml', './x.yml', 'human_members/./a.yml', 'human_members/../x.yml', 'human_members/', '..', 'x.yml\0']) {
      await expect(storage.read(key, 1024), JSON.stringify(key)).rejects.toMatchObject({ failure: 'unreadable' });
    }
  });

  it('reads many files on its reading thread exactly as it reads one: links that lead out, folders, bad keys, size limit', async () => {
    const outside = await tempDir();
    try {
      const plain = Array.from({ length: 70 }, (_, i) => `human_members/m${i}.yml`);
      await writeFiles(dir, {
        ...Object.fromEntries(plain.map((key) => [key, `name: ${key}\n`])),
        'real/inside.yml': 'name: Inside\n',
        'human_members/big.yml': 'x'.repeat(100),
      });
      await writeFiles(outside.dir, { 'secret.yml': 'name: Secret\n', 'human_members/s.yml': 'name: S\n' });
      await fs.promises.symlink(path.join(dir, 'real/inside.yml'), path.join(dir, 'human_members/inside-link.yml'));
      await fs.promises.symlink(path.join(outside.dir, 'secret.yml'), path.join(dir, 'human_members/secret-link.yml'));
      await fs.promises.symlink(path.join(outside.dir, 'human_members'), path.join(dir, 'elsewhere'));
      await fs.promises.mkdir(path.join(dir, 'human_members/folder.yml'));
      const special = [
        'human_members/inside-link.yml',
        'human_members/secret-link.yml',
        'elsewhere/s.yml',
        'human_members/folder.yml',
        'human_members/missing.yml',
        'human_members/../x.yml',
        'human_members/big.yml',
      ];
      const keys = [...plain, ...special];
      const storage = await accepted(folderStorage(dir));
      const expected = await outcomesOneByOne(storage, keys, 50);
      expect(Object.fromEntries(expected.filter(([key]) => special.includes(key)))).toEqual({
        'human_members/inside-link.yml': expect.stringMatching(/^name: Inside\n @ /),
        'human_members/secret-link.yml': 'not_found',
        'elsewhere/s.yml': 'not_found',
        'human_members/folder.yml': 'unreadable',
        'human_members/missing.yml': 'not_found',
        'human_members/../x.yml': 'unreadable',
        'human_members/big.yml': `${'x'.repeat(51)} @ ${(await storage.versionsOf(['human_members/big.yml'])).get('human_members/big.yml')}`,
      });
      // On the thread (many files), and in the calling thread (a few).
      expect(await outcomes(storage.readMany(keys, 50))).toEqual(expected);
      expect(await outcomes(storage.readMany(special, 50))).toEqual(expected.slice(plain.length));
      // Versions the same way, on the thread and in the calling thread; for files, as `read` tells them.
      const onThread = await storage.versionsOf(keys);
      const inCallingThread = new Map([
        ...(await storage.versionsOf(plain.slice(0, 35))),
        ...(await storage.versionsOf(plain.slice(35))),
        ...(await storage.versionsOf(special)),
      ]);
      expect(onThread).toEqual(inCallingThread);
      for (const [key, outcome] of expected) {
        if (outcome.includes(' @ ')) expect(onThread.get(key)).toBe(outcome.split(' @ ')[1]);
        else expect(onThread.has(key)).toBe(key === 'human_members/folder.yml');
      }
    } finally {
      await outside.remove();
    }
  });

  it('a storage folder that goes away mid-sync fails reads and listing as unavailable: nothing looks deleted', async () => {
    const keys = Array.from({ length: 70 }, (_, i) => `human_members/m${i}.yml`);
    await writeFiles(dir, Object.fromEntries(keys.map((key) => [key, 'name: x\n'])));
    const storage = folderStorage(dir);
    // Both threads have looked at the folder just now, as a sync does before it reads.
    expect((await storage.versionsOf(keys)).size).toBe(70);
    expect((await outcomes(storage.readMany(keys.slice(0, 5), 1024))).map(([, outcome]) => outcome)).not.toContain('not_found');
    await remove();
    await expect(outcomes(storage.readMany(keys, 1024))).rejects.toMatchObject({ failure: 'unavailable' });
    await expect(outcomes(storage.readMany(keys.slice(0, 5), 1024))).rejects.toMatchObject({ failure: 'unavailable' });
    await expect(storage.read(keys[0]!, 1024)).rejects.toMatchObject({ failure: 'unavailable' });
    await expect(listed(storage)).rejects.toMatchObject({ failure: 'unavailable' });
  });

  it('a storage folder replaced mid-sync, as an unmount leaves an empty folder in its place, fails reads as unavailable', async () => {
    const keys = Array.from({ length: 70 }, (_, i) => `human_members/m${i}.yml`);
    await writeFiles(dir, Object.fromEntries(keys.map((key) => [key, 'name: x\n'])));
    const storage = folderStorage(dir);
    expect(await listed(storage)).toEqual([...keys].sort());
    expect((await storage.versionsOf(keys)).size).toBe(70);
    await fs.promises.rename(dir, `${dir}-old`);
    await fs.promises.mkdir(dir);
    try {
      await expect(outcomes(storage.readMany(keys, 1024))).rejects.toMatchObject({ failure: 'unavailable' });
      await expect(outcomes(storage.readMany(keys.slice(0, 5), 1024))).rejects.toMatchObject({ failure: 'unavailable' });
      await expect(storage.read(keys[0]!, 1024)).rejects.toMatchObject({ failure: 'unavailable' });
    } finally {
      await fs.promises.rm(`${dir}-old`, { recursive: true, force: true });
    }
  });

  it('a missing file is gone only in a folder whose listing was accepted: not before, not after one is refused', async () => {
    const keys = Array.from({ length: 70 }, (_, i) => `human_members/m${i}.yml`);
    await writeFiles(dir, Object.fromEntries(keys.map((key) => [key, 'name: x\n'])));
    const storage = folderStorage(dir);
    const missing = [...keys, 'human_members/missing.yml'];
    const failures = async (reads: AsyncIterable<FileRead[]>) => (await outcomes(reads)).filter(([, outcome]) => !outcome.includes(' @ '));
    // No listing accepted yet: on the thread (many files) and in the calling thread (one).
    await expect(outcomes(storage.readMany(missing, 1024))).rejects.toMatchObject({ failure: 'unavailable' });
    await expect(storage.read('human_members/missing.yml', 1024)).rejects.toMatchObject({ failure: 'unavailable' });
    // A listing's own reads take a file missing where it lists for gone, before it is accepted.
    const listing = storage.list();
    for await (const _ of listing);
    expect(await failures(listing.readMany(missing, 1024))).toEqual([['human_members/missing.yml', 'not_found']]);
    await expect(outcomes(storage.readMany(missing, 1024))).rejects.toMatchObject({ failure: 'unavailable' });
    listing.accept();
    expect(await failures(storage.readMany(missing, 1024))).toEqual([['human_members/missing.yml', 'not_found']]);
    await expect(storage.read('human_members/missing.yml', 1024)).rejects.toMatchObject({ failure: 'not_found' });
    // A listing refused (an emptied folder, the same one): nothing missing is gone any more.
    const refused = storage.list();
    for await (const _ of refused);
    refused.refuse();
    await expect(outcomes(storage.readMany(missing, 1024))).rejects.toMatchObject({ failure: 'unavailable' });
    await expect(storage.read('human_members/missing.yml', 1024)).rejects.toMatchObject({ failure: 'unavailable' });
  });

  it('a folder under the root replaced by a link to a folder outside, just after a read there, leads nowhere: nothing outside is read', async () => {
    const outside = await tempDir();
    try {
      const keys = Array.from({ length: 70 }, (_, i) => `human_members/m${i}.yml`);
      await writeFiles(dir, Object.fromEntries(keys.map((key) => [key, 'name: Inside\n'])));
      await writeFiles(outside.dir, Object.fromEntries(keys.map((key) => [key.replace('human_members/', ''), 'name: Secret\n'])));
      const storage = await accepted(folderStorage(dir));
      // Both threads have just read there (a folder checked once used to be trusted for a second).
      expect(new Set((await outcomes(storage.readMany(keys, 1024))).map(([, outcome]) => outcome.split(' @ ')[0]))).toEqual(new Set(['name: Inside\n']));
      expect(Buffer.from((await storage.read(keys[0]!, 1024)).bytes).toString()).toBe('name: Inside\n');
      await fs.promises.rename(path.join(dir, 'human_members'), path.join(dir, 'moved'));
      await fs.promises.symlink(outside.dir, path.join(dir, 'human_members'));
      await expect(storage.read(keys[0]!, 1024)).rejects.toMatchObject({ failure: 'not_found' });
      expect(new Set((await outcomes(storage.readMany(keys, 1024))).map(([, outcome]) => outcome))).toEqual(new Set(['not_found']));
      expect(new Set((await outcomes(storage.readMany(keys.slice(0, 3), 1024))).map(([, outcome]) => outcome))).toEqual(new Set(['not_found']));
    } finally {
      await outside.remove();
    }
  });

  it('a FIFO or a link to one is unreadable, and does not hang a read', async () => {
    await writeFiles(dir, { 'human_members/a.yml': 'name: A\n' });
    execFileSync('mkfifo', [path.join(dir, 'human_members/fifo.yml'), path.join(dir, 'pipe')]);
    await fs.promises.symlink(path.join(dir, 'pipe'), path.join(dir, 'human_members/pipe-link.yml'));
    const storage = await accepted(folderStorage(dir));
    const keys = ['human_members/a.yml', 'human_members/fifo.yml', 'human_members/pipe-link.yml'];
    expect((await outcomes(storage.readMany(keys, 1024))).map(([key, outcome]) => [key, outcome.split(' @ ')[0]])).toEqual([
      ['human_members/a.yml', 'name: A\n'],
      ['human_members/fifo.yml', 'unreadable'],
      ['human_members/pipe-link.yml', 'unreadable'],
    ]);
  });

  it('files larger than a group of the reading thread arrive whole', async () => {
    const keys = Array.from({ length: 70 }, (_, i) => `human_members/m${i}.yml`);
    await writeFiles(dir, Object.fromEntries(keys.map((key, i) => [key, i % 20 === 1 ? `# ${String(i).repeat(300_000)}\n` : `name: ${key}\n`])));
    const storage = folderStorage(dir);
    expect(await outcomes(storage.readMany(keys, 1 << 20))).toEqual(await outcomesOneByOne(storage, keys, 1 << 20));
  });

  it('files whose folder is removed are gone, while the storage folder is there', async () => {
    const keys = Array.from({ length: 70 }, (_, i) => `human_members/m${i}.yml`);
    await writeFiles(dir, { ...Object.fromEntries(keys.map((key) => [key, 'name: x\n'])), 'virtual_members/v.yml': 'name: v\n' });
    const storage = await accepted(folderStorage(dir));
    expect((await storage.versionsOf(keys)).size).toBe(70);
    await fs.promises.rm(path.join(dir, 'human_members'), { recursive: true });
    expect(new Set((await outcomes(storage.readMany(keys, 1024))).map(([, outcome]) => outcome))).toEqual(new Set(['not_found']));
    expect(await listed(storage)).toEqual(['virtual_members/v.yml']);
  });

  it('a read left early is cancelled, and the next read gets every file', async () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `human_members/m${i}.yml`);
    await writeFiles(dir, Object.fromEntries(keys.map((key) => [key, `name: ${key}\n`])));
    const storage = folderStorage(dir);
    for await (const group of storage.readMany(keys, 1024)) {
      expect(group.length).toBeGreaterThan(0);
      break;
    }
    const read = await outcomes(storage.readMany(keys.slice(0, 100), 1024));
    expect(read.map(([key, outcome]) => [key, outcome.split(' @ ')[0]])).toEqual(keys.slice(0, 100).map((key) => [key, `name: ${key}\n`]));
  });
});
