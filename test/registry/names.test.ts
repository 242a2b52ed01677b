import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { UpsertKey } from '../../src/config.js';
import { listMembers } from '../../src/registry/read.js';
import { listInvalidFiles } from '../../src/registry/sql/memberFiles.js';
import { folderStorage } from '../../src/storage/folder.js';
import type { Storage } from '../../src/storage/types.js';
import { syncStorage } from '../../src/sync/reconcile.js';
import { Registrar } from '../../src/sync/registrar.js';
import { engines, freshDatabase, resetDatabase, type TestDatabase } from '../helpers/databases.js';
import { human, tempDir, writeFiles } from '../helpers/files.js';

/**
 * The README's name rule on every path: the member that holds a name keeps it; when the holder's
 * file is gone, or names its member differently, the claim passes on. A file refused because it
 * wants a name another file holds does not keep its old name against a claimant: its row goes.
 */
describe.each(engines)('names pass on, on %s', (engine) => {
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

  /** Name → file, for every member; and the files refused, by file. */
  const state = async () => ({
    members: Object.fromEntries((await listMembers(db, 'human')).map((m) => [m.name, m.file_uri])),
    refused: Object.fromEntries((await listInvalidFiles(db)).map((f) => [f.file_uri, f.errors.map((e) => e.code).join()])),
  });
  const ids = async () =>
    Object.fromEntries((await db.query<{ id: number; file_uri: string }>('SELECT id, file_uri FROM human_members')).rows.map((r) => [r.file_uri, r.id]));
  const sync = (key: UpsertKey = 'file_uri') => syncStorage(db, storage, { key });
  const files = (names: Record<string, string>) =>
    writeFiles(dir, Object.fromEntries(Object.entries(names).map(([file, name]) => [`human_members/${file}.yml`, human(name)])));

  /** Each edit written, then reported as the watcher or a webhook event reports it; answers each outcome. */
  async function edits(registrar: Registrar, steps: Array<[file: string, name: string]>) {
    const actions: string[] = [];
    for (const [file, name] of steps) {
      await files({ [file]: name });
      const [outcome] = await registrar.submit([{ key: `human_members/${file}.yml`, kind: 'human' }]);
      actions.push(outcome!.action);
      await registrar.idle();
    }
    return actions;
  }

  it.each(['file_uri', 'name'] as const)('the issue: b wants c’s name and is refused; a then takes b’s old name — through events (%s key)', async (key) => {
    await files({ a: 'A', b: 'B', c: 'C' });
    await sync(key);
    const registrar = new Registrar(db, storage, { key, skipRepeats: true });
    // With the name key (D6) a member is its name: a takes over B's row (b's, let go), where the
    // file key renames a's own row.
    const before = await ids();
    expect(
      await edits(registrar, [
        ['b', 'C'],
        ['a', 'B'],
      ]),
    ).toEqual(['invalid', 'updated']);
    expect((await ids())['human_members/a.yml']).toBe(key === 'name' ? before['human_members/b.yml'] : before['human_members/a.yml']);
    expect(await state()).toEqual({
      members: { B: 'human_members/a.yml', C: 'human_members/c.yml' },
      refused: { 'human_members/b.yml': 'name_conflict' },
    });
    // And it stays so: a full sync agrees.
    expect(await sync(key)).toMatchObject({ invalid: 1, created: 0, updated: 0, deleted: 0 });
    expect(await state()).toMatchObject({ members: { B: 'human_members/a.yml', C: 'human_members/c.yml' } });
  });

  it('the issue through full syncs: edit by edit, and both edits in one run, in one batch or one file a batch', async () => {
    await files({ a: 'A', b: 'B', c: 'C' });
    await sync();
    await files({ b: 'C' });
    expect(await sync()).toMatchObject({ invalid: 1 });
    await files({ a: 'B' });
    expect(await sync()).toMatchObject({ updated: 1, invalid: 1 });
    const expected = { members: { B: 'human_members/a.yml', C: 'human_members/c.yml' }, refused: { 'human_members/b.yml': 'name_conflict' } };
    expect(await state()).toEqual(expected);

    for (const batchSize of [undefined, 1]) {
      await resetDatabase(db);
      await files({ a: 'A', b: 'B', c: 'C' });
      await sync();
      await files({ a: 'B', b: 'C' });
      expect(await syncStorage(db, storage, { key: 'file_uri', ...(batchSize ? { batchSize } : {}) })).toMatchObject({ updated: 1, invalid: 1 });
      expect(await state()).toEqual(expected);
    }
  });

  it('the old name goes only when another file claims it: until then the refused file keeps its last good row', async () => {
    await files({ b: 'B', c: 'C' });
    await sync();
    const before = await ids();
    const registrar = new Registrar(db, storage, { key: 'file_uri', skipRepeats: true });
    expect(await edits(registrar, [['b', 'C']])).toEqual(['invalid']);
    expect((await state()).members).toEqual({ B: 'human_members/b.yml', C: 'human_members/c.yml' });
    // Changed back: the same row, same id.
    expect(await edits(registrar, [['b', 'B']])).toEqual(['unchanged']);
    expect(await ids()).toEqual(before);
    expect((await state()).refused).toEqual({});
  });

  it('a chain edited one file at a time — a→B, b→C, c→D while d keeps D — ends with every name passed on but D', async () => {
    await files({ a: 'A', b: 'B', c: 'C', d: 'D' });
    await sync();
    const registrar = new Registrar(db, storage, { key: 'file_uri', skipRepeats: true });
    await edits(registrar, [
      ['a', 'B'],
      ['b', 'C'],
      ['c', 'D'],
    ]);
    const expected = {
      members: { B: 'human_members/a.yml', C: 'human_members/b.yml', D: 'human_members/d.yml' },
      refused: { 'human_members/c.yml': 'name_conflict' },
    };
    expect(await state()).toEqual(expected);
    expect(await sync()).toMatchObject({ created: 0, updated: 0, deleted: 0, invalid: 1 });
    expect(await state()).toEqual(expected);
  });

  it('the same chain edited the other way round, and all in one full sync, ends the same', async () => {
    const expected = {
      members: { B: 'human_members/a.yml', C: 'human_members/b.yml', D: 'human_members/d.yml' },
      refused: { 'human_members/c.yml': 'name_conflict' },
    };
    await files({ a: 'A', b: 'B', c: 'C', d: 'D' });
    await sync();
    await edits(new Registrar(db, storage, { key: 'file_uri', skipRepeats: true }), [
      ['c', 'D'],
      ['b', 'C'],
      ['a', 'B'],
    ]);
    expect(await state()).toEqual(expected);

    for (const batchSize of [2000, 1]) {
      await resetDatabase(db);
      await files({ a: 'A', b: 'B', c: 'C', d: 'D' });
      await sync();
      await files({ a: 'B', b: 'C', c: 'D' });
      await syncStorage(db, storage, { key: 'file_uri', batchSize });
      expect(await state()).toEqual(expected);
    }
  });

  it('a chain whose end frees its name passes every name along', async () => {
    await files({ a: 'A', b: 'B', c: 'C', d: 'D' });
    await sync();
    const before = await ids();
    const registrar = new Registrar(db, storage, { key: 'file_uri', skipRepeats: true });
    await edits(registrar, [
      ['a', 'B'],
      ['b', 'C'],
      ['c', 'D'],
      ['d', 'E'],
    ]);
    expect(await state()).toEqual({
      members: { B: 'human_members/a.yml', C: 'human_members/b.yml', D: 'human_members/c.yml', E: 'human_members/d.yml' },
      refused: {},
    });
    expect((await ids())['human_members/d.yml']).toBe(before['human_members/d.yml']);
  });

  it('swaps settle in place (same ids) through events, with a third file refused for one of the names', async () => {
    await files({ a: 'A', b: 'B', x: 'X' });
    await sync();
    const before = await ids();
    const registrar = new Registrar(db, storage, { key: 'file_uri', skipRepeats: true });
    expect(
      await edits(registrar, [
        ['a', 'B'],
        ['b', 'A'],
      ]),
    ).toEqual(['invalid', 'invalid']);
    expect(await state()).toEqual({ members: { A: 'human_members/b.yml', B: 'human_members/a.yml', X: 'human_members/x.yml' }, refused: {} });
    expect(await ids()).toEqual(before);
    // x wants A, which b holds and names so: x is refused and keeps X.
    expect(await edits(registrar, [['x', 'A']])).toEqual(['invalid']);
    expect((await state()).members).toEqual({ A: 'human_members/b.yml', B: 'human_members/a.yml', X: 'human_members/x.yml' });
  });

  it('a swap in one sync while a refused file waits for one of the names: the swap wins, the refused file holds nothing it was claimed for', async () => {
    await files({ a: 'A', b: 'B', c: 'C' });
    await sync();
    // c wants A (refused: a holds it); then a and b swap; c's old name C is claimed by a new file.
    await files({ c: 'A' });
    await sync();
    await files({ a: 'B', b: 'A', d: 'C' });
    await sync();
    expect(await state()).toEqual({
      members: { A: 'human_members/b.yml', B: 'human_members/a.yml', C: 'human_members/d.yml' },
      refused: { 'human_members/c.yml': 'name_conflict' },
    });
  });
});
