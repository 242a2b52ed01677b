import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getMember, listMembers } from '../../src/registry/read.js';
import type { Service } from '../../src/service.js';
import { folderStorage } from '../../src/storage/folder.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { human, tempDir, writeFiles } from '../helpers/files.js';
import { eventually, serveForTest } from '../helpers/service.js';

describe.each(engines)('folder watch on %s', (engine) => {
  let db: TestDatabase;
  let service: Service;
  let work: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    db = await freshDatabase(engine);
    work = await tempDir();
    await fs.mkdir(path.join(work.dir, 'human_members'));
    service = await serveForTest(db, folderStorage(work.dir), (config) => void (config.storage = { kind: 'folder', path: work.dir }));
  });
  afterAll(async () => {
    await service?.close();
    await db?.close();
    await work?.remove();
  });

  const names = async () => (await listMembers(db, 'human')).map((m) => m.name);

  it('registers a new file, an edit, a rename and a delete without any webhook', async () => {
    await writeFiles(work.dir, { 'human_members/rin.yml': human('Rin') });
    await eventually(async () => expect(await names()).toEqual(['Rin']));

    await writeFiles(work.dir, { 'human_members/rin.yml': human('Rin', 'bio: edited\n') });
    await eventually(async () => expect(await getMember(db, 'human', 'Rin')).toMatchObject({ bio: 'edited' }));

    await fs.rename(path.join(work.dir, 'human_members/rin.yml'), path.join(work.dir, 'human_members/rin-renamed.yml'));
    await eventually(async () => expect(await getMember(db, 'human', 'Rin')).toMatchObject({ file_uri: 'human_members/rin-renamed.yml' }));

    await fs.rm(path.join(work.dir, 'human_members/rin-renamed.yml'));
    await eventually(async () => expect(await names()).toEqual([]));
  });

  it('never registers a file whose name no row can hold (control characters), as a sync and the webhook refuse it', async () => {
    await writeFiles(work.dir, { 'human_members/d\u001b]0;pwned\u0007.yml': human('Dave'), 'human_members/eve.yml': human('Eve') });
    // Eve, written with it, is registered: the watcher has seen both.
    await eventually(async () => expect(await names()).toContain('Eve'));
    expect(await names()).not.toContain('Dave');
    const { rows } = await db.query("SELECT file_uri FROM member_files WHERE file_uri LIKE 'human_members/d%'");
    expect(rows).toEqual([]);
    await fs.rm(path.join(work.dir, 'human_members/d\u001b]0;pwned\u0007.yml'));
    await fs.rm(path.join(work.dir, 'human_members/eve.yml'));
    await eventually(async () => expect(await names()).not.toContain('Eve'));
  });

  it('records a file that turns invalid and keeps its last good row', async () => {
    await writeFiles(work.dir, { 'human_members/ann.yml': human('Ann') });
    await eventually(async () => expect(await names()).toEqual(['Ann']));
    await writeFiles(work.dir, { 'human_members/ann.yml': 'name: Ann\nskils: [x]\n' });
    await eventually(async () => {
      const { rows } = await db.query<{ status: string }>("SELECT status FROM member_files WHERE file_uri = 'human_members/ann.yml'");
      expect(rows).toEqual([{ status: 'invalid' }]);
    });
    expect(await getMember(db, 'human', 'Ann')).toMatchObject({ skills: ['TypeScript'] });
  });

  it('picks up a whole folder moved in', async () => {
    const outside = await tempDir();
    try {
      await writeFiles(outside.dir, { 'virtual_members/k.yml': 'name: Kasen\nllm_model: m\n' });
      await fs.rename(path.join(outside.dir, 'virtual_members'), path.join(work.dir, 'virtual_members'));
      await eventually(async () => expect((await listMembers(db, 'virtual')).map((m) => m.name)).toEqual(['Kasen']));
    } finally {
      await outside.remove();
    }
  });
});
