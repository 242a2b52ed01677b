import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { UpsertKey } from '../../src/config.js';
import { applyChanges, type ChangeSet } from '../../src/registry/apply.js';
import { getMember, listMembers } from '../../src/registry/read.js';
import { fileRecordsBetween, fileRecordsFor, listInvalidFiles } from '../../src/registry/sql/memberFiles.js';
import { engines, freshDatabase, resetDatabase, type TestDatabase } from '../helpers/databases.js';
import { human, readFile, virtual } from '../helpers/files.js';

describe.each(engines)('registry on %s', (engine) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase(engine);
  });
  afterAll(() => db?.close());
  beforeEach(() => resetDatabase(db));

  const apply = (changes: ChangeSet, key: UpsertKey = 'file_uri') => db.transaction((tx) => applyChanges(tx, changes, key));
  const actions = (outcomes: Awaited<ReturnType<typeof apply>>) => Object.fromEntries(outcomes.map((o) => [o.file_uri, o.action]));
  const rowsOf = async (table: 'human_members' | 'virtual_members') =>
    (await db.query<{ id: number; name: string; file_uri: string | null }>(`SELECT id, name, file_uri FROM ${table} ORDER BY id`)).rows;

  it('walks the known files in key order (UTF-8 bytes, as storage lists them) between two keys, and answers their records', async () => {
    const uris = [
      'human_members/b.yml',
      'human_members/A.yml',
      'human_members/ä.yml',
      'human_members/a b.yml',
      'human_members/a-c.yml',
      'human_members/\u{1F600}.yml',
      'human_members/\uE000.yml',
      'virtual_members/z.yml',
      'virtual_members/m.yml',
    ];
    await apply({ files: uris.map((uri, i) => readFile(uri, uri.startsWith('human') ? human(`H${i}`) : virtual(`V${i}`))) });
    const byteOrder = [...uris].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const walk = async (after: string | null, upTo: string | null) => {
      const walked: string[] = [];
      for (let from = after; ; ) {
        const page = await fileRecordsBetween(db, from, upTo, 3);
        expect(page.records.length).toBeLessThanOrEqual(3);
        walked.push(...page.records.map((record) => record.file_uri));
        if (page.covered < 3) return walked;
        from = page.last;
      }
    };
    expect(await walk(null, null)).toEqual(byteOrder);
    expect(await walk(byteOrder[1]!, byteOrder[5]!)).toEqual(byteOrder.slice(2, 6));
    expect(await walk(byteOrder[6]!, null)).toEqual(byteOrder.slice(7));
    expect((await fileRecordsBetween(db, null, byteOrder[0]!, 10)).records).toEqual([{ file_uri: byteOrder[0], version: 'v1', status: 'registered' }]);

    const records = await fileRecordsFor(db, ['human_members/b.yml', 'human_members/none.yml']);
    expect([...records]).toEqual([['human_members/b.yml', { version: 'v1', content_hash: expect.any(String), status: 'registered' }]]);
    expect(await fileRecordsFor(db, [])).toEqual(new Map());
  });

  it('compares the versions listed in the database: files registered at them come back as their indexes, the rest as records', async () => {
    const uri = (name: string) => `human_members/${name}.yml`;
    await apply({ files: ['a', 'b', 'c', 'd', 'e'].map((name, i) => readFile(uri(name), human(`P${i}`))) });
    await apply({ files: [readFile(uri('d'), 'name: [')] });
    // a: unchanged; b: another version; c: not listed (gone); d: invalid at its version; e: unchanged.
    const listed = [
      [uri('a'), 'v1'],
      [uri('b'), 'v2'],
      [uri('d'), 'v1'],
      [uri('e'), 'v1'],
      [uri('new'), 'v1'],
    ] as const;
    const page = await fileRecordsBetween(db, null, null, 10, listed);
    expect(page.unchanged.sort()).toEqual([0, 3]);
    expect(page.records).toEqual([
      { file_uri: uri('b'), version: 'v1', status: 'registered' },
      { file_uri: uri('c'), version: 'v1', status: 'registered' },
      { file_uri: uri('d'), version: 'v1', status: 'invalid' },
    ]);
    expect(page).toMatchObject({ covered: 5, last: uri('e') });
    // A page that ends on an unchanged file tells where the next one starts.
    expect(await fileRecordsBetween(db, null, null, 1, listed)).toEqual({ records: [], unchanged: [0], covered: 1, last: uri('a') });
    expect(await fileRecordsBetween(db, uri('e'), null, 10, listed)).toEqual({ records: [], unchanged: [], covered: 0, last: null });
  });

  it('inserts, then updates by file_uri, then reports unchanged', async () => {
    expect(actions(await apply({ files: [readFile('human_members/rin.yml', human('Rin')), readFile('virtual_members/k.yml', virtual('華扇'))] }))).toEqual({
      'human_members/rin.yml': 'created',
      'virtual_members/k.yml': 'created',
    });
    expect(actions(await apply({ files: [readFile('human_members/rin.yml', human('Rin', 'bio: hi\n'))] }))).toEqual({ 'human_members/rin.yml': 'updated' });
    expect(actions(await apply({ files: [readFile('human_members/rin.yml', human('Rin', 'bio: hi\n'))] }))).toEqual({ 'human_members/rin.yml': 'unchanged' });
    const rin = await getMember(db, 'human', 'Rin');
    expect(rin).toMatchObject({ name: 'Rin', bio: 'hi', skills: ['TypeScript'], file_uri: 'human_members/rin.yml' });
    expect(await getMember(db, 'virtual', '華扇')).toMatchObject({ llm_model: 'claude-sonnet-4-5' });
  });

  it('keeps created_at on update and moves updated_at only when content changes', async () => {
    await apply({ files: [readFile('human_members/rin.yml', human('Rin'))] });
    await db.exec("UPDATE human_members SET created_at = '2020-01-01 00:00:00', updated_at = '2020-01-01 00:00:00'");
    await apply({ files: [readFile('human_members/rin.yml', human('Rin'))] });
    expect(await getMember(db, 'human', 'Rin')).toMatchObject({ created_at: '2020-01-01T00:00:00.000000Z', updated_at: '2020-01-01T00:00:00.000000Z' });
    await apply({ files: [readFile('human_members/rin.yml', human('Rin', 'bio: changed\n'))] });
    const after = (await getMember(db, 'human', 'Rin'))!;
    expect(after.created_at).toBe('2020-01-01T00:00:00.000000Z');
    expect(after.updated_at > '2025').toBe(true);
  });

  it('file_uri key: renaming the member in its file renames the row in place', async () => {
    await apply({ files: [readFile('human_members/rin.yml', human('Rin'))] });
    const [before] = await rowsOf('human_members');
    expect(actions(await apply({ files: [readFile('human_members/rin.yml', human('Rina'))] }))).toEqual({ 'human_members/rin.yml': 'updated' });
    expect(await rowsOf('human_members')).toEqual([{ id: before!.id, name: 'Rina', file_uri: 'human_members/rin.yml' }]);
  });

  it('name key (D6): an existing member with the same name is updated; a renamed member is a new row', async () => {
    await apply({ files: [readFile('human_members/rin.yml', human('Rin'))] }, 'name');
    expect(actions(await apply({ files: [readFile('human_members/rin.yml', human('Rin', 'bio: new\n'))] }, 'name'))).toEqual({
      'human_members/rin.yml': 'updated',
    });
    const [before] = await rowsOf('human_members');
    expect(actions(await apply({ files: [readFile('human_members/rin.yml', human('Rina'))] }, 'name'))).toEqual({ 'human_members/rin.yml': 'created' });
    const after = await rowsOf('human_members');
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ name: 'Rina', file_uri: 'human_members/rin.yml' });
    expect(after[0]!.id).not.toBe(before!.id);
  });

  it.each(['file_uri', 'name'] as const)(
    'name conflict (%s key): the holder keeps the name, the claimant is refused naming both files; then the claim passes on',
    async (key) => {
      await apply({ files: [readFile('human_members/rin.yml', human('Rin'))] }, key);
      const outcomes = await apply({ files: [readFile('human_members/rin-copy.yml', human('Rin', 'bio: impostor\n'))] }, key);
      expect(outcomes).toMatchObject([{ file_uri: 'human_members/rin-copy.yml', action: 'invalid', issues: [{ code: 'name_conflict', field: 'name' }] }]);
      expect(outcomes[0]!.issues![0]!.message).toContain('human_members/rin.yml');
      expect(await getMember(db, 'human', 'Rin')).toMatchObject({ file_uri: 'human_members/rin.yml', bio: null });
      expect((await listInvalidFiles(db)).map((f) => f.file_uri)).toEqual(['human_members/rin-copy.yml']);

      // The holder's file is deleted: the waiting file gets the name in the same batch. Under the
      // name key a member is its name: the file takes the departed member's row (same id).
      const [holder] = await rowsOf('human_members');
      const handOver = await apply(
        { deletes: ['human_members/rin.yml'], files: [readFile('human_members/rin-copy.yml', human('Rin', 'bio: impostor\n'))] },
        key,
      );
      expect(actions(handOver)).toEqual({ 'human_members/rin.yml': 'deleted', 'human_members/rin-copy.yml': key === 'name' ? 'updated' : 'created' });
      expect((await rowsOf('human_members'))[0]!.id === holder!.id).toBe(key === 'name');
      expect(await getMember(db, 'human', 'Rin')).toMatchObject({ file_uri: 'human_members/rin-copy.yml', bio: 'impostor' });
      expect(await listInvalidFiles(db)).toEqual([]);
    },
  );

  it('two new files claiming one name in one batch: the first by file_uri wins, deterministically', async () => {
    const outcomes = await apply({ files: [readFile('human_members/b.yml', human('Same')), readFile('human_members/a.yml', human('Same'))] });
    expect(actions(outcomes)).toEqual({ 'human_members/a.yml': 'created', 'human_members/b.yml': 'invalid' });
  });

  it('the same name in both tables is no conflict', async () => {
    expect(actions(await apply({ files: [readFile('human_members/k.yml', human('Kasen')), readFile('virtual_members/k.yml', virtual('Kasen'))] }))).toEqual({
      'human_members/k.yml': 'created',
      'virtual_members/k.yml': 'created',
    });
  });

  it('two files swapping their names in one batch both succeed', async () => {
    await apply({ files: [readFile('human_members/a.yml', human('Ann')), readFile('human_members/b.yml', human('Bob'))] });
    const outcomes = await apply({ files: [readFile('human_members/a.yml', human('Bob')), readFile('human_members/b.yml', human('Ann'))] });
    expect(actions(outcomes)).toEqual({ 'human_members/a.yml': 'updated', 'human_members/b.yml': 'updated' });
    expect((await rowsOf('human_members')).map((r) => [r.file_uri, r.name])).toEqual([
      ['human_members/a.yml', 'Bob'],
      ['human_members/b.yml', 'Ann'],
    ]);
  });

  it.each(['file_uri', 'name'] as const)('adopts a row without file_uri (older tool) by name (%s key), keeping its id', async (key) => {
    await db.query("INSERT INTO virtual_members (name, llm_model, role) VALUES ('Darcy', 'gpt-4', 'PM')");
    const [old] = await rowsOf('virtual_members');
    const outcomes = await apply({ files: [readFile('virtual_members/darcy.yml', virtual('Darcy', 'role: PM\n'))] }, key);
    expect(actions(outcomes)).toEqual({ 'virtual_members/darcy.yml': 'updated' });
    expect(await rowsOf('virtual_members')).toEqual([{ id: old!.id, name: 'Darcy', file_uri: 'virtual_members/darcy.yml' }]);
    expect(await getMember(db, 'virtual', 'Darcy')).toMatchObject({ llm_model: 'claude-sonnet-4-5' });
  });

  it('adopting an older row while renaming: the file leaves its own row for the adopted one', async () => {
    await apply({ files: [readFile('human_members/a.yml', human('Old'))] });
    await db.query("INSERT INTO human_members (name, role) VALUES ('Legacy', 'from the old tool')");
    const [, legacy] = await rowsOf('human_members');
    expect(actions(await apply({ files: [readFile('human_members/a.yml', human('Legacy'))] }))).toEqual({ 'human_members/a.yml': 'updated' });
    expect(await rowsOf('human_members')).toEqual([{ id: legacy!.id, name: 'Legacy', file_uri: 'human_members/a.yml' }]);
  });

  it('a row whose file_uri was written by an older tool, never registered here, is adopted by name', async () => {
    await db.query("INSERT INTO human_members (name, file_uri) VALUES ('X', 'human_members/old.yml')");
    expect(actions(await apply({ files: [readFile('human_members/new.yml', human('X'))] }))).toEqual({ 'human_members/new.yml': 'updated' });
    expect((await rowsOf('human_members')).map((r) => [r.name, r.file_uri])).toEqual([['X', 'human_members/new.yml']]);
  });

  it('a chain of claims in one batch: a file refused for one name lets its old one go to the next claimant', async () => {
    await apply({ files: [readFile('human_members/p.yml', human('P'))] });
    // o.yml takes Q first (by file_uri), so p.yml is refused; it names its member Q, not P, so
    // r.yml takes P, and p.yml holds no name.
    const outcomes = await apply({
      files: [readFile('human_members/p.yml', human('Q')), readFile('human_members/o.yml', human('Q')), readFile('human_members/r.yml', human('P'))],
    });
    expect(actions(outcomes)).toEqual({ 'human_members/o.yml': 'created', 'human_members/p.yml': 'invalid', 'human_members/r.yml': 'created' });
    expect((await rowsOf('human_members')).map((r) => [r.name, r.file_uri])).toEqual([
      ['Q', 'human_members/o.yml'],
      ['P', 'human_members/r.yml'],
    ]);
  });

  it("a file refused for a name keeps its row until another file claims that row's name, in a later batch of events", async () => {
    await apply({
      files: [readFile('human_members/a.yml', human('A')), readFile('human_members/b.yml', human('B')), readFile('human_members/c.yml', human('C'))],
    });
    expect(actions(await apply({ files: [readFile('human_members/b.yml', human('C'))] }))).toEqual({ 'human_members/b.yml': 'invalid' });
    expect((await rowsOf('human_members')).map((r) => r.name)).toEqual(['A', 'B', 'C']);
    // A full sync's batch leaves the name to b.yml's row: the sync retries its refused files together at its end.
    expect(actions(await apply({ files: [readFile('human_members/a.yml', human('B'))] }))).toEqual({ 'human_members/a.yml': 'invalid' });
    // Events and the watcher pass it on from the record of b.yml's refusal.
    expect(actions(await apply({ files: [readFile('human_members/a.yml', human('B'))], passOnFromRefused: true }))).toEqual({
      'human_members/a.yml': 'updated',
    });
    expect((await rowsOf('human_members')).map((r) => [r.name, r.file_uri])).toEqual([
      ['B', 'human_members/a.yml'],
      ['C', 'human_members/c.yml'],
    ]);
    expect((await listInvalidFiles(db)).map((f) => [f.file_uri, f.member_name])).toEqual([['human_members/b.yml', 'C']]);
  });

  it('a hostile key (NUL, lone surrogate) is recorded without failing the batch', async () => {
    const outcomes = await apply({
      files: [readFile('human_members/bad.yml', 'name: A\n"x\\0y": 1\n"\\uD800": 2\n'), readFile('human_members/good.yml', human('Good'))],
    });
    expect(actions(outcomes)).toEqual({ 'human_members/bad.yml': 'invalid', 'human_members/good.yml': 'created' });
    const [bad] = await listInvalidFiles(db);
    expect(bad!.errors.map((e) => e.field)).toEqual(['x\uFFFDy', '\uFFFD']);
  });

  it('an invalid file is recorded with its reasons and leaves the last good row in place', async () => {
    await apply({ files: [readFile('human_members/rin.yml', human('Rin'))] });
    const outcomes = await apply({ files: [readFile('human_members/rin.yml', 'name: Rin\nskils: [x]\n'), readFile('human_members/new.yml', human('New'))] });
    expect(actions(outcomes)).toEqual({ 'human_members/rin.yml': 'invalid', 'human_members/new.yml': 'created' });
    expect(await getMember(db, 'human', 'Rin')).toMatchObject({ skills: ['TypeScript'] });
    const [invalid] = await listInvalidFiles(db);
    expect(invalid).toMatchObject({ file_uri: 'human_members/rin.yml', status: 'invalid', errors: [{ field: 'skils', code: 'unknown_field', line: 2 }] });
  });

  it('records each registered file with its fingerprint; changed_at moves only when what was read changed', async () => {
    type Row = { version: string; content_hash: string; status: string; member_name: string; errors: unknown[]; changed_at: string };
    const record = async () =>
      (
        await db.query<Row>(
          "SELECT version, content_hash, status, member_name, errors, changed_at::text FROM member_files WHERE file_uri = 'human_members/rin.yml'",
        )
      ).rows[0];
    const as = (file: ReturnType<typeof readFile>, version: string, content_hash: string) => ({ ...file, version, content_hash });
    await apply({ files: [as(readFile('human_members/rin.yml', human('Rin')), 'v1', 'h1')] });
    expect(await record()).toMatchObject({ version: 'v1', content_hash: 'h1', status: 'registered', member_name: 'Rin', errors: [] });

    await db.exec("UPDATE member_files SET changed_at = '2020-01-01 00:00:00+00'");
    await apply({ files: [as(readFile('human_members/rin.yml', human('Rin')), 'v2', 'h1')] });
    expect(await record()).toMatchObject({ version: 'v2', content_hash: 'h1', changed_at: '2020-01-01 00:00:00+00' });

    await apply({ files: [as(readFile('human_members/rin.yml', 'name: Rin\nskils: [x]\n'), 'v3', 'h2')] });
    expect(await record()).toMatchObject({ version: 'v3', status: 'invalid', errors: [{ code: 'unknown_field' }] });

    await db.exec("UPDATE member_files SET changed_at = '2020-01-01 00:00:00+00'");
    await apply({ files: [as(readFile('human_members/rin.yml', human('Rina')), 'v4', 'h3')] });
    const fixed = (await record())!;
    expect(fixed).toMatchObject({ version: 'v4', content_hash: 'h3', status: 'registered', member_name: 'Rina', errors: [] });
    expect(fixed.changed_at > '2025').toBe(true);
  });

  it('deletes the member of a deleted file, and only that one', async () => {
    await apply({ files: [readFile('human_members/a.yml', human('Ann')), readFile('human_members/b.yml', human('Bob'))] });
    expect(actions(await apply({ deletes: ['human_members/a.yml'] }))).toEqual({ 'human_members/a.yml': 'deleted' });
    expect((await listMembers(db, 'human')).map((m) => m.name)).toEqual(['Bob']);
  });

  it('a name freed by a file deleted in the same batch passes to a member renamed into it, whose row is renamed in place', async () => {
    await apply({ files: [readFile('human_members/ann.yml', human('Ann')), readFile('human_members/bea.yml', human('Bea'))] });
    const [, bea] = await rowsOf('human_members');
    const outcomes = await apply({ deletes: ['human_members/ann.yml'], files: [readFile('human_members/bea.yml', human('Ann'))] });
    expect(actions(outcomes)).toEqual({ 'human_members/ann.yml': 'deleted', 'human_members/bea.yml': 'updated' });
    expect(await rowsOf('human_members')).toEqual([{ id: bea!.id, name: 'Ann', file_uri: 'human_members/bea.yml' }]);
  });

  it('a row of one table that names a file of the other keeps its name once that file is registered in the same batch', async () => {
    // An older tool's doing: an AI member whose file_uri is a human's file.
    await db.query("INSERT INTO virtual_members (name, llm_model, file_uri) VALUES ('Vee', 'model', 'human_members/ada.yml')");
    const outcomes = await apply({ files: [readFile('human_members/ada.yml', human('Ada')), readFile('virtual_members/vee.yml', virtual('Vee'))] });
    expect(actions(outcomes)).toEqual({ 'human_members/ada.yml': 'created', 'virtual_members/vee.yml': 'invalid' });
    expect(outcomes.find((o) => o.file_uri === 'virtual_members/vee.yml')!.issues![0]).toMatchObject({
      code: 'name_conflict',
      message: expect.stringContaining('human_members/ada.yml'),
    });
    expect((await rowsOf('virtual_members')).map((r) => [r.name, r.file_uri])).toEqual([['Vee', 'human_members/ada.yml']]);
  });

  it('rolls back the whole batch when it fails part-way: nothing is written', async () => {
    await apply({ files: [readFile('human_members/keep.yml', human('Keep'))] });
    // A real failure inside the transaction, after the humans were written.
    await db.exec(`
      CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.name = 'Boom' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER refuse_boom BEFORE INSERT ON virtual_members FOR EACH ROW EXECUTE FUNCTION refuse_boom();`);
    try {
      await expect(
        apply({
          deletes: ['human_members/keep.yml'],
          files: [
            readFile('human_members/new.yml', human('New')),
            readFile('virtual_members/ok.yml', virtual('Fine')),
            readFile('virtual_members/boom.yml', virtual('Boom')),
          ],
        }),
      ).rejects.toThrow('boom refused');
      expect((await rowsOf('human_members')).map((r) => r.name)).toEqual(['Keep']);
      expect(await rowsOf('virtual_members')).toEqual([]);
      const files = await db.query<{ file_uri: string }>('SELECT file_uri FROM member_files ORDER BY 1');
      expect(files.rows.map((r) => r.file_uri)).toEqual(['human_members/keep.yml']);
    } finally {
      await db.exec('DROP TRIGGER refuse_boom ON virtual_members; DROP FUNCTION refuse_boom();');
    }
  });

  it('writes a batch of thousands of files in a few statements', async () => {
    const files = Array.from({ length: 3000 }, (_, i) => readFile(`human_members/m${i}.yml`, human(`Member ${i}`)));
    const outcomes = await apply({ files });
    expect(outcomes.filter((o) => o.action === 'created')).toHaveLength(3000);
    const count = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM human_members');
    expect(count.rows[0]!.n).toBe(3000);
  });
});
