import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { UpsertKey } from '../../src/config.js';
import { listInvalidFiles } from '../../src/registry/sql/memberFiles.js';
import { folderStorage } from '../../src/storage/folder.js';
import type { Storage } from '../../src/storage/types.js';
import { syncStorage } from '../../src/sync/reconcile.js';
import { type FileChange, Registrar } from '../../src/sync/registrar.js';
import { engines, freshDatabase, resetDatabase, type TestDatabase } from '../helpers/databases.js';
import { human, tempDir, virtual, writeFiles } from '../helpers/files.js';
import { eventually, serveForTest } from '../helpers/service.js';

/**
 * A member file moved (x.yml to y.yml, the same `name:`). Under the name key (D6) a member is its
 * name: the row stays — same id, same created_at, the new file_uri — by every path, in every order
 * the delete and the new file arrive. Under the file key (D7, the default) a row is its file: the
 * moved file is a new row, and the old one is deleted.
 */
describe.each(engines)('a member file moved, on %s', (engine) => {
  let db: TestDatabase;
  let dir: string;
  let remove: () => Promise<void>;
  let storage: Storage;
  beforeAll(async () => {
    db = await freshDatabase(engine);
  });
  afterAll(() => db?.close());
  beforeEach(async () => {
    await resetDatabase(db);
    ({ dir, remove } = await tempDir());
    storage = folderStorage(dir);
  });
  afterEach(() => remove());

  type Row = { id: number; name: string; file_uri: string; created_at: string };
  const rows = async (table = 'human_members') => (await db.query<Row>(`SELECT id, name, file_uri, created_at::text FROM ${table} ORDER BY id`)).rows;
  const sync = (key: UpsertKey, batchSize?: number) => syncStorage(db, storage, { key, ...(batchSize ? { batchSize } : {}) });
  const move = (from: string, to: string) => fs.rename(path.join(dir, from), path.join(dir, to));
  const change = (key: string, event: 'put' | 'delete', sequencer: string): FileChange => ({
    key,
    kind: 'human',
    event: event === 'put' ? { name: 's3:ObjectCreated:Put', sequencer, etag: 'e' } : { name: 's3:ObjectRemoved:Delete', sequencer, etag: null },
  });

  /** x.yml registered under `key`, then moved to y.yml: the row as it was before the move. */
  async function registeredThenMoved(key: UpsertKey, from = 'human_members/x.yml', to = 'human_members/y.yml') {
    await writeFiles(dir, { [from]: human('Rin'), 'human_members/other.yml': human('Other') });
    await sync(key);
    const before = (await rows()).find((r) => r.name === 'Rin')!;
    await move(from, to);
    return before;
  }

  describe('name key', () => {
    it.each([
      ['x.yml to y.yml', 'human_members/x.yml', 'human_members/y.yml'],
      ['y.yml to a.yml (listed first)', 'human_members/y.yml', 'human_members/a.yml'],
    ])('a full sync keeps the row: %s, in one batch and one file a batch', async (_, from, to) => {
      for (const batchSize of [undefined, 1]) {
        await resetDatabase(db);
        await fs.rm(path.join(dir, 'human_members'), { recursive: true, force: true });
        const before = await registeredThenMoved('name', from, to);
        const report = await sync('name', batchSize);
        // Reported as what it is, a move: no member was deleted.
        expect(report, `batch size ${batchSize}`).toMatchObject({ created: 0, updated: 1, deleted: 0, invalid: 0 });
        expect(report.changes).toEqual([{ file_uri: to, kind: 'human', action: 'updated', name: 'Rin', moved_from: from }]);
        expect((await rows()).map((r) => r.name).sort()).toEqual(['Other', 'Rin']);
        expect((await rows()).find((r) => r.name === 'Rin')).toEqual({ ...before, file_uri: to });
        expect(await listInvalidFiles(db)).toEqual([]);
        // And it stays so.
        expect(await sync('name')).toMatchObject({ created: 0, updated: 0, deleted: 0, invalid: 0 });
      }
    });

    it.each([
      ['the delete, then the new file', [['delete'], ['put']]],
      ['the new file, then the delete', [['put'], ['delete']]],
      ['both in one batch, the delete first', [['delete', 'put']]],
      ['both in one batch, the new file first', [['put', 'delete']]],
    ] as const)('storage events keep the row: %s', async (_, groups) => {
      const before = await registeredThenMoved('name');
      const registrar = new Registrar(db, storage, { key: 'name', skipRepeats: true });
      for (const group of groups) {
        await registrar.submit(
          group.map((event) => (event === 'delete' ? change('human_members/x.yml', 'delete', '20') : change('human_members/y.yml', 'put', '21'))),
        );
        await registrar.idle();
      }
      expect((await rows()).find((r) => r.name === 'Rin')).toEqual({ ...before, file_uri: 'human_members/y.yml' });
      expect(await listInvalidFiles(db)).toEqual([]);
      // A full sync agrees.
      expect(await sync('name')).toMatchObject({ created: 0, updated: 0, deleted: 0, invalid: 0 });
    });

    it('the new file while the old one still names the member is a conflict, not a move; the old one deleted, the row passes on', async () => {
      await writeFiles(dir, { 'human_members/x.yml': human('Rin') });
      await sync('name');
      const [before] = await rows();
      await writeFiles(dir, { 'human_members/y.yml': human('Rin', 'bio: the copy\n') });
      const registrar = new Registrar(db, storage, { key: 'name', skipRepeats: true });
      expect(await registrar.submit([change('human_members/y.yml', 'put', '10')])).toMatchObject([{ action: 'invalid', issues: [{ code: 'name_conflict' }] }]);
      expect(await rows()).toEqual([before]);

      await fs.rm(path.join(dir, 'human_members/x.yml'));
      await registrar.submit([change('human_members/x.yml', 'delete', '11')]);
      await registrar.idle();
      expect(await rows()).toEqual([{ ...before, file_uri: 'human_members/y.yml' }]);
    });

    it('a file that takes a departed name from under its own member: that member is reported deleted (review)', async () => {
      await writeFiles(dir, { 'human_members/x.yml': human('Rin'), 'human_members/a.yml': human('Ann') });
      await sync('name');
      const rin = (await rows()).find((r) => r.name === 'Rin')!;
      await fs.rm(path.join(dir, 'human_members/x.yml'));
      await writeFiles(dir, { 'human_members/a.yml': human('Rin') });
      const report = await sync('name');
      expect(await rows()).toEqual([{ ...rin, file_uri: 'human_members/a.yml' }]);
      expect(report).toMatchObject({ created: 0, updated: 1, deleted: 1 });
      expect(report.changes).toEqual([
        { file_uri: 'human_members/a.yml', kind: 'human', action: 'deleted', name: 'Ann' },
        { file_uri: 'human_members/a.yml', kind: 'human', action: 'updated', name: 'Rin', moved_from: 'human_members/x.yml' },
      ]);
      // A member renamed in its file: the old name's member goes, the new one comes.
      await writeFiles(dir, { 'human_members/a.yml': human('Rina') });
      expect(await sync('name')).toMatchObject({
        created: 1,
        deleted: 1,
        changes: [
          { action: 'deleted', name: 'Rin' },
          { action: 'created', name: 'Rina' },
        ],
      });
    });

    it('AI members alike; a member deleted comes back as itself within the day, and as a new row after it', async () => {
      await writeFiles(dir, { 'virtual_members/k.yml': virtual('Kasen'), 'human_members/other.yml': human('Other') });
      await sync('name');
      const [before] = await rows('virtual_members');
      await move('virtual_members/k.yml', 'virtual_members/kasen.yml');
      expect(await sync('name')).toMatchObject({ created: 0, updated: 1, deleted: 0, changes: [{ moved_from: 'virtual_members/k.yml' }] });
      expect(await rows('virtual_members')).toEqual([{ ...before, file_uri: 'virtual_members/kasen.yml' }]);

      await fs.rm(path.join(dir, 'virtual_members/kasen.yml'));
      expect(await sync('name')).toMatchObject({ deleted: 1 });
      await writeFiles(dir, { 'virtual_members/kasen.yml': virtual('Kasen') });
      expect(await sync('name')).toMatchObject({ created: 0, updated: 1 });
      expect(await rows('virtual_members')).toEqual([{ ...before, file_uri: 'virtual_members/kasen.yml' }]);

      await fs.rm(path.join(dir, 'virtual_members/kasen.yml'));
      expect(await sync('name')).toMatchObject({ deleted: 1 });
      await db.transaction(async (tx) => {
        await tx.query("UPDATE virtual_members_departed SET departed_at = now() - interval '25 hours'");
      });
      await writeFiles(dir, { 'virtual_members/kasen.yml': virtual('Kasen') });
      expect(await sync('name')).toMatchObject({ created: 1 });
      const [after] = await rows('virtual_members');
      expect(after!.id).not.toBe(before!.id);
    });
  });

  describe('file key (the default)', () => {
    it('a full sync and events alike: the moved file is a new row, the old one deleted', async () => {
      const before = await registeredThenMoved('file_uri');
      expect(await sync('file_uri')).toMatchObject({ created: 1, deleted: 1 });
      const [moved] = (await rows()).filter((r) => r.name === 'Rin');
      expect(moved).toMatchObject({ file_uri: 'human_members/y.yml' });
      expect(moved!.id).not.toBe(before.id);

      await move('human_members/y.yml', 'human_members/z.yml');
      const registrar = new Registrar(db, storage, { key: 'file_uri', skipRepeats: true });
      await registrar.submit([change('human_members/y.yml', 'delete', '30'), change('human_members/z.yml', 'put', '31')]);
      await registrar.idle();
      const [again] = (await rows()).filter((r) => r.name === 'Rin');
      expect(again).toMatchObject({ file_uri: 'human_members/z.yml' });
      expect(again!.id).not.toBe(moved!.id);
    });
  });
});

describe.each(engines)('the folder watcher with the name key, on %s', (engine) => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let service: Awaited<ReturnType<typeof serveForTest>>;
  beforeAll(async () => {
    db = await freshDatabase(engine);
    work = await tempDir();
    await fs.mkdir(path.join(work.dir, 'human_members'));
    service = await serveForTest(db, folderStorage(work.dir), (config) => {
      config.storage = { kind: 'folder', path: work.dir };
      config.upsertKey = 'name';
    });
  });
  afterAll(async () => {
    await service?.close();
    await db?.close();
    await work?.remove();
  });

  it('keeps the row of a file renamed', async () => {
    const rin = async () =>
      (await db.query<{ id: number; file_uri: string; created_at: string }>("SELECT id, file_uri, created_at::text FROM human_members WHERE name = 'Rin'"))
        .rows;
    await writeFiles(work.dir, { 'human_members/x.yml': human('Rin') });
    const [before] = await eventually(async () => {
      const found = await rin();
      expect(found).toHaveLength(1);
      return found;
    });
    await fs.rename(path.join(work.dir, 'human_members/x.yml'), path.join(work.dir, 'human_members/y.yml'));
    await eventually(async () => expect(await rin()).toEqual([{ ...before, file_uri: 'human_members/y.yml' }]));
  });
});
