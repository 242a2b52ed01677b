import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Db, Queryable } from '../../src/db/types.js';
import { defaultLimits } from '../../src/members/parse.js';
import { getMember, listMembers } from '../../src/registry/read.js';
import { listInvalidFiles } from '../../src/registry/sql/memberFiles.js';
import { lastSyncRun } from '../../src/registry/sql/syncRuns.js';
import { folderStorage } from '../../src/storage/folder.js';
import { type Storage, StorageError } from '../../src/storage/types.js';
import { type SyncOptions, type SyncReport, syncStorage } from '../../src/sync/reconcile.js';
import { Registrar } from '../../src/sync/registrar.js';
import { engines, freshDatabase, resetDatabase, type TestDatabase } from '../helpers/databases.js';
import { human, tempDir, virtual, writeFiles } from '../helpers/files.js';
import { listingThrough, readingThrough } from '../helpers/storage.js';

/** The real folder storage, counting which files are read and which are asked for versions. */
function countingStorage(root: string): Storage & { reads: string[]; versionsAsked: string[] } {
  const inner = folderStorage(root);
  const reads: string[] = [];
  const versionsAsked: string[] = [];
  return {
    ...readingThrough(inner, (file) => (reads.push(file.key), file)),
    reads,
    versionsAsked,
    versionsOf: (keys) => {
      versionsAsked.push(...keys);
      return inner.versionsOf(keys);
    },
  };
}

describe.each(engines)('sync on %s', (engine) => {
  let db: TestDatabase;
  let dir: string;
  let remove: () => Promise<void>;
  let storage: ReturnType<typeof countingStorage>;
  beforeAll(async () => {
    db = await freshDatabase(engine);
  });
  afterAll(() => db?.close());
  beforeEach(async () => {
    await resetDatabase(db);
    ({ dir, remove } = await tempDir());
    storage = countingStorage(dir);
  });
  afterEach(() => remove());

  const sync = (options: Partial<SyncOptions> = {}) => syncStorage(db, storage, { key: 'file_uri', ...options });
  const names = async (kind: 'human' | 'virtual') => (await listMembers(db, kind)).map((m) => m.name);

  it('registers new files, skips unchanged ones without reading them, updates edited ones', async () => {
    await writeFiles(dir, {
      'human_members/rin.yml': human('Rin'),
      'human_members/syota.yml': human('Syota'),
      'virtual_members/kasen.yml': virtual('華扇'),
    });
    expect(await sync()).toMatchObject({ created: 3, updated: 0, unchanged: 0, deleted: 0, invalid: 0 });
    expect(await names('human')).toEqual(['Rin', 'Syota']);
    // Into an empty registry every file is read, which tells its version: none is asked for.
    expect(storage.versionsAsked).toEqual([]);

    storage.reads.length = 0;
    expect(await sync()).toMatchObject({ created: 0, updated: 0, unchanged: 3, deleted: 0, invalid: 0 });
    expect(storage.reads).toEqual([]);

    await writeFiles(dir, { 'human_members/rin.yml': human('Rin', 'bio: edited\n') });
    expect(await sync()).toMatchObject({ created: 0, updated: 1, unchanged: 2 });
    expect(storage.reads).toEqual(['human_members/rin.yml']);
    expect(await getMember(db, 'human', 'Rin')).toMatchObject({ bio: 'edited' });
    // A folder lists no versions; once files are registered, they are asked for first, as a read would tell them, of every file listed.
    const versions = await storage.versionsOf(['human_members/rin.yml', 'human_members/nobody.yml']);
    expect([...versions]).toEqual([['human_members/rin.yml', (await storage.read('human_members/rin.yml', 1024)).version]]);
    storage.versionsAsked.length = 0;
    storage.reads.length = 0;
    await writeFiles(dir, { 'human_members/new.yml': human('Nell'), 'human_members/broken.yml': 'name: [' });
    expect(await sync()).toMatchObject({ created: 1, unchanged: 3, invalid: 1 });
    expect(storage.versionsAsked.sort()).toEqual([
      'human_members/broken.yml',
      'human_members/new.yml',
      'human_members/rin.yml',
      'human_members/syota.yml',
      'virtual_members/kasen.yml',
    ]);
    expect(storage.reads.sort()).toEqual(['human_members/broken.yml', 'human_members/new.yml']);
  });

  it("a folder of many files, read and stat'ed on the reading thread: registers, skips unchanged unread, updates, deletes", async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `human_members/m${String(i).padStart(3, '0')}.yml`);
    await writeFiles(dir, Object.fromEntries(keys.map((key, i) => [key, human(`Many ${i}`)])));
    expect(await sync({ batchSize: 100 })).toMatchObject({ created: 300, invalid: 0 });
    storage.reads.length = 0;
    expect(await sync({ batchSize: 100 })).toMatchObject({ created: 0, unchanged: 300 });
    expect(storage.reads).toEqual([]);
    expect(storage.versionsAsked).toHaveLength(300);
    await writeFiles(dir, { [keys[150]!]: human('Many 150', 'bio: edited\n') });
    await fs.rm(path.join(dir, keys[299]!));
    expect(await sync({ batchSize: 100 })).toMatchObject({ updated: 1, deleted: 1, unchanged: 298 });
    expect(storage.reads).toEqual([keys[150]]);
    expect(await getMember(db, 'human', 'Many 150')).toMatchObject({ bio: 'edited' });
    expect(await names('human')).toHaveLength(299);
  });

  it('skips unchanged files reached through links without reading them, and reads them when the link moves', async () => {
    await writeFiles(dir, { 'real/a.yml': human('Ann'), 'real/b.yml': human('Bob'), 'real/ai/k.yml': virtual('Kei') });
    await fs.mkdir(path.join(dir, 'human_members'));
    await fs.symlink(path.join(dir, 'real/a.yml'), path.join(dir, 'human_members/a.yml'));
    await fs.symlink(path.join(dir, 'real/ai'), path.join(dir, 'virtual_members'));
    expect(await sync()).toMatchObject({ created: 2 });
    storage.reads.length = 0;
    expect(await sync()).toMatchObject({ created: 0, updated: 0, unchanged: 2 });
    expect(storage.reads).toEqual([]);
    await fs.rm(path.join(dir, 'human_members/a.yml'));
    await fs.symlink(path.join(dir, 'real/b.yml'), path.join(dir, 'human_members/a.yml'));
    expect(await sync()).toMatchObject({ updated: 1, unchanged: 1 });
    expect(storage.reads).toEqual(['human_members/a.yml']);
    expect(await names('human')).toEqual(['Bob']);
  });

  it('a registered file that turns into a link loop stops nothing: it counts as gone, the others go on', async () => {
    await writeFiles(dir, { 'human_members/a.yml': human('Ann'), 'human_members/b.yml': human('Bob') });
    await sync();
    await fs.rm(path.join(dir, 'human_members/a.yml'));
    await fs.symlink(path.join(dir, 'human_members/a.yml'), path.join(dir, 'human_members/a.yml'));
    // Listed a moment before it turned into a loop: neither its version nor its bytes can be had.
    const looping = listingThrough(storage, async function* (real) {
      for await (const _ of real);
      yield [{ key: 'human_members/a.yml' }, { key: 'human_members/b.yml' }];
    });
    const report = await syncStorage(db, looping, { key: 'file_uri' });
    // A loop leads nowhere: the file counts as gone, as a listing that follows links has it.
    expect(report).toMatchObject({ unchanged: 1, deleted: 1, invalid: 0 });
    expect(await names('human')).toEqual(['Bob']);
  });

  it('a file touched without a change in content counts as unchanged, keeps updated_at and is not parsed again', async () => {
    // An alias: parsed again under limits that allow none, this file would turn invalid.
    await writeFiles(dir, { 'human_members/rin.yml': human('Rin', 'bio: &b rin\ngithub_username: *b\n') });
    await sync();
    const before = (await getMember(db, 'human', 'Rin'))!.updated_at;
    const later = new Date(Date.now() + 5000);
    await fs.utimes(path.join(dir, 'human_members/rin.yml'), later, later);
    storage.reads.length = 0;
    expect(await sync({ limits: { ...defaultLimits, maxAliases: 0 } })).toMatchObject({ unchanged: 1, updated: 0, invalid: 0 });
    expect(storage.reads).toEqual(['human_members/rin.yml']);
    expect((await getMember(db, 'human', 'Rin'))!.updated_at).toBe(before);
    storage.reads.length = 0;
    expect(await sync()).toMatchObject({ unchanged: 1 });
    expect(storage.reads).toEqual([]);
  });

  it('deletes members whose files are gone, unless told not to', async () => {
    await writeFiles(dir, { 'human_members/a.yml': human('Ann'), 'human_members/b.yml': human('Bob') });
    await sync();
    await fs.rm(path.join(dir, 'human_members/a.yml'));
    expect(await sync({ delete: false })).toMatchObject({ deleted: 0 });
    expect(await names('human')).toEqual(['Ann', 'Bob']);
    expect(await sync()).toMatchObject({ deleted: 1, unchanged: 1 });
    expect(await names('human')).toEqual(['Bob']);
  });

  it('records invalid files with their reasons, keeps the last good row, and heals when fixed', async () => {
    await writeFiles(dir, { 'human_members/rin.yml': human('Rin') });
    await sync();
    await writeFiles(dir, {
      'human_members/rin.yml': 'name: Rin\nskils: [Go]\n',
      'human_members/empty.yml': '# to be written\n',
      'human_members/noname.yml': 'role: Engineer\n',
      'virtual_members/nomodel.yml': 'name: Kasen\n',
    });
    const report = await sync();
    expect(report).toMatchObject({ invalid: 4, created: 0, updated: 0 });
    expect(report.issues.map((i) => [i.file, i.code]).sort()).toEqual([
      ['human_members/empty.yml', 'empty'],
      ['human_members/noname.yml', 'required'],
      ['human_members/rin.yml', 'unknown_field'],
      ['virtual_members/nomodel.yml', 'required'],
    ]);
    expect(await getMember(db, 'human', 'Rin')).toMatchObject({ skills: ['TypeScript'] });
    expect((await listInvalidFiles(db)).map((f) => f.file_uri)).toEqual([
      'human_members/empty.yml',
      'human_members/noname.yml',
      'human_members/rin.yml',
      'virtual_members/nomodel.yml',
    ]);

    // Still invalid on the next run (and so still reported), fixed files heal.
    expect(await sync()).toMatchObject({ invalid: 4 });
    await writeFiles(dir, { 'human_members/rin.yml': human('Rin', 'skills: [Go]\n').replace('skills: [TypeScript]\n', '') });
    await fs.rm(path.join(dir, 'human_members/empty.yml'));
    expect(await sync()).toMatchObject({ invalid: 2, updated: 1 });
    expect(await getMember(db, 'human', 'Rin')).toMatchObject({ skills: ['Go'] });
  });

  it('hands a name over when the holding file is deleted', async () => {
    await writeFiles(dir, { 'human_members/a.yml': human('Same') });
    await sync();
    await writeFiles(dir, { 'human_members/b.yml': human('Same', 'bio: second\n') });
    expect(await sync()).toMatchObject({ invalid: 1 });
    await fs.rm(path.join(dir, 'human_members/a.yml'));
    expect(await sync()).toMatchObject({ deleted: 1, created: 1, invalid: 0 });
    expect(await getMember(db, 'human', 'Same')).toMatchObject({ file_uri: 'human_members/b.yml', bio: 'second' });
  });

  it('dry run reports the changes and writes nothing', async () => {
    await writeFiles(dir, { 'human_members/a.yml': human('Ann'), 'virtual_members/bad.yml': 'name: X\n' });
    const report = await sync({ dryRun: true });
    expect(report).toMatchObject({ dryRun: true, created: 1, invalid: 1 });
    expect(await names('human')).toEqual([]);
    expect(await listInvalidFiles(db)).toEqual([]);
    expect(await lastSyncRun(db)).toBeUndefined();
  });

  it('ignores files that are not member files, and links that leave the folder', async () => {
    const outside = await tempDir();
    try {
      await writeFiles(outside.dir, { 'human_members/secret.yml': human('Secret'), 'evil.yml': human('Evil') });
      await writeFiles(dir, {
        'human_members/rin.yml': human('Rin'),
        'human_members/notes.txt': 'not yaml',
        'README.md': '# storage',
        'other/x.yml': human('Other'),
        'constructor/x.yml': human('Constructor'),
        '__proto__/x.yml': human('Proto'),
        'data/samples/human_members/syota.yml': human('Syota'),
      });
      await fs.symlink(path.join(outside.dir, 'evil.yml'), path.join(dir, 'human_members/evil.yml'));
      await fs.mkdir(path.join(dir, 'elsewhere'));
      await fs.symlink(path.join(outside.dir, 'human_members'), path.join(dir, 'elsewhere/human_members'));
      await fs.symlink(path.join(dir, 'human_members/rin.yml'), path.join(dir, 'human_members/x-link.yml'));
      const report = await sync();
      expect(report).toMatchObject({ invalid: 1, created: 2 });
      expect(report.issues[0]).toMatchObject({ file: 'human_members/x-link.yml', code: 'name_conflict' });
      expect(await names('human')).toEqual(['Rin', 'Syota']);
    } finally {
      await outside.remove();
    }
  });

  it('works through a large listing in several batches', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 600; i++) files[`human_members/m${String(i).padStart(4, '0')}.yml`] = human(`Member ${i}`);
    files['human_members/broken.yml'] = 'name: [unclosed\n';
    await writeFiles(dir, files);
    const report = await sync({ batchSize: 250 });
    expect(report).toMatchObject({ created: 600, invalid: 1 });
    expect(report.issues[0]).toMatchObject({ file: 'human_members/broken.yml', code: 'yaml' });
    expect((await listMembers(db, 'human')).length).toBe(600);
    expect(await lastSyncRun(db)).toMatchObject({ created: 600, invalid: 1, trigger: 'cli' });
  });

  it('a file name with a backslash is an ordinary file', async () => {
    await writeFiles(dir, { 'human_members/we\\ird.yml': human('Weird') });
    expect(await sync()).toMatchObject({ created: 1, invalid: 0 });
  });

  it('hands a name over, in the same run, when a later batch renames its holder', async () => {
    await writeFiles(dir, { 'human_members/z.yml': human('Z') });
    await sync();
    await writeFiles(dir, { 'human_members/a0.yml': human('Z', 'bio: waiting\n'), 'human_members/z.yml': human('Z2') });
    expect(await sync({ batchSize: 1 })).toMatchObject({ created: 1, updated: 1, invalid: 0 });
    expect(await getMember(db, 'human', 'Z')).toMatchObject({ file_uri: 'human_members/a0.yml' });
  });

  it('puts back member rows deleted or edited by hand, even from files unchanged', async () => {
    await writeFiles(dir, {
      'human_members/rin.yml': human('Rin'),
      'human_members/bob.yml': human('Bob'),
      'human_members/eve.yml': human('Eve'),
      'virtual_members/kasen.yml': virtual('華扇'),
    });
    await sync();
    await db.query("DELETE FROM human_members WHERE name = 'Rin'");
    await db.query("UPDATE human_members SET role = 'tampered' WHERE name = 'Bob'");
    await db.query('TRUNCATE virtual_members');
    expect(await sync({ dryRun: true })).toMatchObject({ created: 2, updated: 1, unchanged: 1 });
    expect(await sync()).toMatchObject({ created: 2, updated: 1, unchanged: 1, invalid: 0 });
    expect([await names('human'), await names('virtual')]).toEqual([['Bob', 'Eve', 'Rin'], ['華扇']]);
    expect(await getMember(db, 'human', 'Bob')).toMatchObject({ role: 'Engineer' });
    // Put right, the files are trusted again: unchanged ones are not even read.
    storage.reads.length = 0;
    expect(await sync()).toMatchObject({ created: 0, updated: 0, unchanged: 4 });
    expect(storage.reads).toEqual([]);
  });

  it('two files of different batches that swap names both get them, in the same run', async () => {
    await writeFiles(dir, { 'human_members/a.yml': human('Ann'), 'human_members/b.yml': human('Bob') });
    await sync();
    await writeFiles(dir, { 'human_members/a.yml': human('Bob'), 'human_members/b.yml': human('Ann') });
    expect(await sync({ batchSize: 1 })).toMatchObject({ updated: 2, invalid: 0, issues: [] });
    expect(await getMember(db, 'human', 'Bob')).toMatchObject({ file_uri: 'human_members/a.yml' });
    expect(await getMember(db, 'human', 'Ann')).toMatchObject({ file_uri: 'human_members/b.yml' });
  });

  it('passes names along a chain in one run: a file gone frees a name, whose taker frees another', async () => {
    await writeFiles(dir, { 'human_members/h.yml': human('N'), 'human_members/c1.yml': human('M') });
    await sync();
    await fs.rm(path.join(dir, 'human_members/h.yml'));
    await writeFiles(dir, { 'human_members/c1.yml': human('N'), 'human_members/c2.yml': human('M') });
    expect(await sync({ batchSize: 1 })).toMatchObject({ created: 1, updated: 1, deleted: 1, invalid: 0 });
    expect(await getMember(db, 'human', 'N')).toMatchObject({ file_uri: 'human_members/c1.yml' });
    expect(await getMember(db, 'human', 'M')).toMatchObject({ file_uri: 'human_members/c2.yml' });
  });

  it('a name two files claim stays with its holder, run after run, with the same report', async () => {
    await writeFiles(dir, {
      'human_members/a.yml': human('Same'),
      'human_members/b.yml': human('Same'),
      'human_members/c.yml': human('Other'),
      'human_members/d.yml': human('Other'),
    });
    for (let run = 0; run < 2; run++) {
      const report = await sync({ batchSize: 1 });
      expect(report).toMatchObject({ invalid: 2 });
      expect(report.issues.map((issue) => [issue.file, issue.code])).toEqual([
        ['human_members/b.yml', 'name_conflict'],
        ['human_members/d.yml', 'name_conflict'],
      ]);
    }
    expect(await getMember(db, 'human', 'Same')).toMatchObject({ file_uri: 'human_members/a.yml' });
  });

  it('a storage failure while listing stops the sync before anything is deleted', async () => {
    await writeFiles(dir, { 'human_members/a.yml': human('Ann'), 'human_members/b.yml': human('Bob') });
    await sync();
    const failing = listingThrough(storage, async function* (real) {
      for await (const page of real) {
        yield page.slice(0, 1);
        throw new StorageError('disk on fire', 'unavailable');
      }
    });
    await expect(syncStorage(db, failing, { key: 'file_uri' })).rejects.toThrow('disk on fire');
    expect(await names('human')).toEqual(['Ann', 'Bob']);
  });

  it('a listing out of key order stops the sync before anything is deleted', async () => {
    await writeFiles(dir, { 'human_members/a.yml': human('Ann'), 'human_members/b.yml': human('Bob'), 'human_members/c.yml': human('Cid') });
    await sync();
    // A whole batch (c) is walked before the listing turns back (a): a and b, whose records lie
    // before c, looked gone for a moment.
    const shuffled = listingThrough(storage, async function* (real) {
      for await (const _ of real);
      yield [{ key: 'human_members/c.yml' }];
      yield [{ key: 'human_members/a.yml' }, { key: 'human_members/b.yml' }];
    });
    await expect(syncStorage(db, shuffled, { key: 'file_uri', batchSize: 1 })).rejects.toThrow('not in key order');
    expect(await names('human')).toEqual(['Ann', 'Bob', 'Cid']);
  });

  it('a storage that lists no member files deletes nothing, unless told it really is empty', async () => {
    await writeFiles(dir, { 'human_members/a.yml': human('Ann'), 'virtual_members/k.yml': virtual('Kei'), 'notes.txt': 'not a member' });
    await sync();
    await fs.rm(path.join(dir, 'human_members'), { recursive: true });
    await fs.rm(path.join(dir, 'virtual_members'), { recursive: true });
    // As an unmounted folder, or a wrong bucket, looks.
    await expect(sync()).rejects.toMatchObject({ failure: 'unavailable', message: expect.stringContaining('--allow-empty') });
    expect([...(await names('human')), ...(await names('virtual'))]).toEqual(['Ann', 'Kei']);
    expect(await sync({ allowEmpty: true })).toMatchObject({ deleted: 2 });
    expect([...(await names('human')), ...(await names('virtual'))]).toEqual([]);
    // One member file left is no empty storage: the others are deleted as usual.
    await writeFiles(dir, { 'human_members/a.yml': human('Ann'), 'human_members/b.yml': human('Bob') });
    await sync();
    await fs.rm(path.join(dir, 'human_members/b.yml'));
    expect(await sync()).toMatchObject({ deleted: 1, unchanged: 1 });
  });

  it('refuses a batch size that is not a whole number of files', async () => {
    await expect(sync({ batchSize: 0 })).rejects.toThrow(RangeError);
  });

  it('files that vanish between listing and reading are deleted, but not with --no-delete', async () => {
    await writeFiles(dir, { 'human_members/a.yml': human('Ann') });
    await sync();
    await writeFiles(dir, { 'human_members/a.yml': human('Ann', 'bio: edited\n') });
    const vanishing = readingThrough(storage, ({ key }) => ({ key, error: new StorageError(`${key}: gone`, 'not_found') }));
    expect(await syncStorage(db, vanishing, { key: 'file_uri', delete: false })).toMatchObject({ deleted: 0 });
    expect(await names('human')).toEqual(['Ann']);
    expect(await syncStorage(db, vanishing, { key: 'file_uri' })).toMatchObject({ deleted: 1 });
    expect(await names('human')).toEqual([]);
  });

  it('a file that cannot be read is invalid on its own', async () => {
    await writeFiles(dir, { 'human_members/a.yml': human('Ann'), 'human_members/b.yml': human('Bob') });
    const picky = readingThrough(storage, (file) =>
      file.key.endsWith('b.yml') ? { key: file.key, error: new StorageError(`${file.key}: permission denied`, 'unreadable') } : file,
    );
    const report = await syncStorage(db, picky, { key: 'file_uri' });
    expect(report).toMatchObject({ created: 1, invalid: 1 });
    expect(report.issues[0]).toMatchObject({ file: 'human_members/b.yml', code: 'unreadable' });
  });

  it('reports progress up to every file listed', async () => {
    await writeFiles(dir, Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`human_members/m${i}.yml`, human(`M${i}`)])));
    const seen: Array<[number, number]> = [];
    await sync({ batchSize: 2, onProgress: (done, listed) => seen.push([done, listed]) });
    expect(seen.at(-1)).toEqual([5, 5]);
    expect(seen.every(([done, listed]) => done <= listed)).toBe(true);
  });

  describe('stopping part-way, with batches looked up ahead', () => {
    const keys = Array.from({ length: 8 }, (_, i) => `human_members/m${i}.yml`);
    const everyone = keys.map((_, i) => `M${i}`);
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // Registered, then every file touched: each batch asks its versions, then its hashes.
    const registeredAndTouched = async () => {
      await writeFiles(dir, Object.fromEntries(keys.map((key, i) => [key, human(`M${i}`)])));
      await sync();
      const later = new Date(Date.now() + 5000);
      for (const key of keys) await fs.utimes(path.join(dir, key), later, later);
    };

    /** Counts the storage's and the database's work in flight, and what goes on after `finished`. */
    function watching(failQuery: (sql: string) => boolean = () => false) {
      const seen = { running: 0, finished: false, afterwards: [] as string[] };
      const watch = <T>(what: string, work: () => Promise<T>): Promise<T> => {
        if (seen.finished) seen.afterwards.push(what);
        seen.running++;
        return work().finally(() => seen.running--);
      };
      const queries = (target: Queryable): Queryable => ({
        query: (sql, params) =>
          watch(sql, async () => {
            if (failQuery(sql)) throw new Error('the database failed');
            return target.query(sql, params);
          }),
        exec: (sql) => target.exec(sql),
      });
      const watchedDb: Db = { ...db, ...queries(db), transaction: (fn) => db.transaction((tx) => fn(queries(tx))) };
      return { seen, watch, watchedDb };
    }

    it('a run aborted while a later batch is looked up leaves nothing running once it has returned', async () => {
      await registeredAndTouched();
      const { seen, watch, watchedDb } = watching();
      const inner = folderStorage(dir);
      const controller = new AbortController();
      const slowVersions: Storage = {
        ...inner,
        versionsOf: (asked) =>
          watch('versions', async () => {
            if (asked.includes(keys[1]!)) await sleep(200);
            return inner.versionsOf(asked);
          }),
        list() {
          const listing = inner.list();
          return {
            ...listing,
            [Symbol.asyncIterator]: () => listing[Symbol.asyncIterator](),
            async *readMany(asked, maxBytes) {
              if (asked.includes(keys[0]!)) controller.abort();
              yield* listing.readMany(asked, maxBytes);
            },
          };
        },
      };
      await expect(syncStorage(watchedDb, slowVersions, { key: 'file_uri', batchSize: 1, signal: controller.signal })).rejects.toThrow();
      seen.finished = true;
      expect(seen.running).toBe(0);
      await sleep(300);
      expect(seen.afterwards).toEqual([]);
    });

    it.each(['records', 'versions', 'hashes'] as const)(
      '%s failing for a batch ahead: the sync fails, deletes nothing, leaves nothing running',
      async (failing) => {
        await registeredAndTouched();
        await fs.rm(path.join(dir, keys[6]!));
        await fs.rm(path.join(dir, keys[7]!));
        let recordQueries = 0;
        let hashQueries = 0;
        const { seen, watch, watchedDb } = watching((sql) => {
          if (sql.includes('ORDER BY file_uri LIMIT')) return failing === 'records' && recordQueries++ === 2;
          if (sql.includes('json_build_array(file_uri, version, content_hash, status)')) return failing === 'hashes' && hashQueries++ === 2;
          return false;
        });
        const inner = folderStorage(dir);
        const failingVersions: Storage = {
          ...inner,
          versionsOf: (asked) =>
            watch('versions', async () => {
              // The first batch is slow, so that later ones are looked up while it is handled.
              await sleep(asked.includes(keys[0]!) ? 100 : 5);
              if (failing === 'versions' && asked.includes(keys[2]!)) throw new StorageError('versions failed', 'unavailable');
              return inner.versionsOf(asked);
            }),
        };
        await expect(syncStorage(watchedDb, failingVersions, { key: 'file_uri', batchSize: 1 })).rejects.toThrow();
        seen.finished = true;
        expect(seen.running).toBe(0);
        expect(await names('human')).toEqual(everyone);
      },
    );

    it('a dry run over many batches reports what the real run then does, and writes nothing', async () => {
      await registeredAndTouched();
      await fs.rm(path.join(dir, keys[3]!));
      await fs.rm(path.join(dir, keys[7]!));
      await writeFiles(dir, { [keys[1]!]: human('M1', 'bio: edited\n'), 'human_members/n.yml': human('Nell'), 'human_members/m5b.yml': human('M7') });
      const counts = ({ created, updated, unchanged, deleted, invalid }: SyncReport) => ({ created, updated, unchanged, deleted, invalid });
      const dry = await sync({ batchSize: 1, dryRun: true });
      expect(await names('human')).toEqual(everyone);
      const real = await sync({ batchSize: 1 });
      expect(counts(dry)).toEqual(counts(real));
      expect(counts(real)).toEqual({ created: 2, updated: 1, unchanged: 5, deleted: 2, invalid: 0 });
    });
  });

  it('name key: matches rows by name', async () => {
    await db.query("INSERT INTO human_members (name, role) VALUES ('Rin', 'old role')");
    await writeFiles(dir, { 'human_members/rin.yml': human('Rin') });
    expect(await sync({ key: 'name' })).toMatchObject({ updated: 1 });
    expect(await getMember(db, 'human', 'Rin')).toMatchObject({ role: 'Engineer', file_uri: 'human_members/rin.yml' });
  });
});

describe.each(engines)('sync beside other writers on %s', (engine) => {
  it('neither deletes a file registered while it listed, nor overwrites a newer registration with its older read', async () => {
    const db = await freshDatabase(engine);
    const { dir, remove } = await tempDir();
    try {
      await writeFiles(dir, { 'human_members/a.yml': human('Ann', 'bio: first\n') });
      const files = folderStorage(dir);
      const other = async (file: string, content: string) => {
        // Another writer (a webhook) registers the current content of a file, now.
        await writeFiles(dir, { [file]: content });
        const read = await files.read(file, 1 << 20);
        const { parseMemberFile } = await import('../../src/members/parse.js');
        const { applyChanges } = await import('../../src/registry/apply.js');
        await db.transaction((tx) =>
          applyChanges(
            tx,
            { files: [{ file_uri: file, kind: 'human', version: read.version, content_hash: 'x', ...parseMemberFile(file, 'human', read.bytes) }] },
            'file_uri',
          ),
        );
      };
      const racing = listingThrough(
        // After the sync has read a.yml, the other writer registers a newer version.
        readingThrough(files, async (file) => {
          if (file.key === 'human_members/a.yml') await other(file.key, human('Ann', 'bio: second\n'));
          return file;
        }),
        // While the sync lists, b.yml appears and is registered by the other writer.
        async function* (real) {
          for await (const page of real) yield page;
          await other('human_members/b.yml', human('Bob'));
        },
      );
      await syncStorage(db, racing, { key: 'file_uri' });
      expect((await listMembers(db, 'human')).map((m) => [m.name, m.bio])).toEqual([
        ['Ann', 'second'],
        ['Bob', null],
      ]);
    } finally {
      await db.close();
      await remove();
    }
  });

  it('two files that swap names in two separate edits, each refused alone, get them through the events', async () => {
    const db = await freshDatabase(engine);
    const { dir, remove } = await tempDir();
    try {
      await writeFiles(dir, {
        'human_members/a.yml': human('Ann'),
        'human_members/b.yml': human('Bob'),
        'human_members/c.yml': human('Cid'),
        'human_members/d.yml': human('Cid'),
      });
      const files = folderStorage(dir);
      await syncStorage(db, files, { key: 'file_uri' });
      const registrar = new Registrar(db, files, { key: 'file_uri', skipRepeats: true });
      await writeFiles(dir, { 'human_members/a.yml': human('Bob') });
      expect(await registrar.submit([{ key: 'human_members/a.yml', kind: 'human' }])).toMatchObject([{ action: 'invalid' }]);
      await writeFiles(dir, { 'human_members/b.yml': human('Ann') });
      expect(await registrar.submit([{ key: 'human_members/b.yml', kind: 'human' }])).toMatchObject([{ action: 'invalid' }]);
      await registrar.idle();
      expect((await listMembers(db, 'human')).map((m) => [m.name, m.file_uri])).toEqual([
        ['Ann', 'human_members/b.yml'],
        ['Bob', 'human_members/a.yml'],
        ['Cid', 'human_members/c.yml'],
      ]);
      // A plain duplicate stays refused, and is not tried again and again.
      expect((await listInvalidFiles(db)).map((f) => f.file_uri)).toEqual(['human_members/d.yml']);
    } finally {
      await db.close();
      await remove();
    }
  });

  it('three files that pass their names round in three edits get them, among many plain duplicates that stay refused', async () => {
    const db = await freshDatabase(engine);
    const { dir, remove } = await tempDir();
    try {
      const duplicates = Object.fromEntries(
        Array.from({ length: 1000 }, (_, i) => [
          [`human_members/held-${i}.yml`, human(`Held ${i}`)],
          [`human_members/twin-${i}.yml`, human(`Held ${i}`)],
        ]).flat(),
      );
      await writeFiles(dir, { 'human_members/a.yml': human('Ann'), 'human_members/b.yml': human('Bob'), 'human_members/c.yml': human('Cid'), ...duplicates });
      const files = folderStorage(dir);
      expect(await syncStorage(db, files, { key: 'file_uri' })).toMatchObject({ created: 1003, invalid: 1000 });
      const registrar = new Registrar(db, files, { key: 'file_uri', skipRepeats: true });
      // Once b.yml names Cid (refused: c.yml holds it), Bob passes on to a.yml; so Ann is free when c.yml claims it.
      for (const [file, name, action] of [
        ['a', 'Bob', 'invalid'],
        ['b', 'Cid', 'invalid'],
        ['c', 'Ann', 'updated'],
      ] as const) {
        await writeFiles(dir, { [`human_members/${file}.yml`]: human(name) });
        expect(await registrar.submit([{ key: `human_members/${file}.yml`, kind: 'human' }])).toMatchObject([{ action }]);
        await registrar.idle();
      }
      await registrar.idle();
      const held = await Promise.all(['Ann', 'Bob', 'Cid'].map(async (name) => (await getMember(db, 'human', name))?.file_uri));
      expect(held).toEqual(['human_members/c.yml', 'human_members/a.yml', 'human_members/b.yml']);
      const refused = (await listInvalidFiles(db)).map((f) => f.file_uri);
      expect(refused).toHaveLength(1000);
      expect(refused.every((file) => file.startsWith('human_members/twin-'))).toBe(true);
    } finally {
      await db.close();
      await remove();
    }
  });

  it('does not bring back a member whose file was deleted, and registered deleted, after the sync read it', async () => {
    const db = await freshDatabase(engine);
    const { dir, remove } = await tempDir();
    try {
      await writeFiles(dir, { 'human_members/a.yml': human('Ann', 'bio: first\n') });
      const files = folderStorage(dir);
      await syncStorage(db, files, { key: 'file_uri' });
      await writeFiles(dir, { 'human_members/a.yml': human('Ann', 'bio: second\n') });
      const registrar = new Registrar(db, files, { key: 'file_uri', skipRepeats: true });
      const racing = readingThrough(files, async (file) => {
        // Right after the sync has read a.yml, it is removed, and the watcher registers that.
        await fs.rm(path.join(dir, file.key));
        expect(await registrar.submit([{ key: file.key, kind: 'human' }])).toMatchObject([{ action: 'deleted' }]);
        return file;
      });
      await syncStorage(db, racing, { key: 'file_uri' });
      expect(await listMembers(db, 'human')).toEqual([]);
    } finally {
      await db.close();
      await remove();
    }
  });
});

describe.each(engines.filter((engine) => engine === 'postgres'))('sync on a %s database that sorts text as people do (ICU en-US)', (engine) => {
  it('finds every file its own and deletes only the files gone, across batches', async () => {
    const db = await freshDatabase(engine, { icuLocale: 'en-US' });
    const { dir, remove } = await tempDir();
    try {
      // In en-US order these go A, ä, a b, a-c, b; in storage's (byte) order A, a b, a-c, b, ä.
      const keys = ['A', 'ä', 'a b', 'a-c', 'b'].map((name) => `human_members/${name}.yml`);
      await writeFiles(dir, Object.fromEntries(keys.map((key, i) => [key, human(`Human ${i}`)])));
      const sync = () => syncStorage(db, folderStorage(dir), { key: 'file_uri', batchSize: 2 });
      expect(await sync()).toMatchObject({ created: 5, deleted: 0 });
      expect(await sync()).toMatchObject({ created: 0, updated: 0, unchanged: 5, deleted: 0, invalid: 0 });
      await fs.rm(path.join(dir, 'human_members/a b.yml'));
      expect(await sync()).toMatchObject({ unchanged: 4, deleted: 1 });
      expect((await listMembers(db, 'human')).map((m) => m.name).sort()).toEqual(['Human 0', 'Human 1', 'Human 3', 'Human 4']);
    } finally {
      await remove();
      await db.close();
    }
  });
});
