import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { openPglite, sharePglite } from '../../src/db/pglite.js';
import { tempDir } from '../helpers/files.js';
import { chatStoreForTest } from '../helpers/service.js';

const modeOf = async (target: string) => ((await fs.stat(target)).mode & 0o777).toString(8);

/** VECR_DATA_DIR holds members' personal data, chat logs and the secrets of the embedded ports. */
describe('the data folder (VECR_DATA_DIR) and what the embedded stores keep in it', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let umask: number;
  // The most permissive umask there is: the modes must not depend on it.
  beforeAll(() => {
    umask = process.umask(0o000);
  });
  afterAll(() => {
    process.umask(umask);
  });
  beforeEach(async () => {
    work = await tempDir();
  });
  afterEach(() => work.remove());

  it('creates the folders and every file of ours readable by their owner only, whatever the umask', async () => {
    const data = path.join(work.dir, 'data');
    const shared = await sharePglite(path.join(data, 'pgdata'), 0, async (db) => void (await migrate(db)));
    const chat = await chatStoreForTest(data);
    try {
      const modes = Object.fromEntries(await Promise.all((await fs.readdir(data)).map(async (name) => [name, await modeOf(path.join(data, name))])));
      expect(modes).toEqual({
        pgdata: '700',
        'pgdata.lock': '600',
        'pgdata.pgpass': '600',
        chatlogs: '700',
        'chatlogs.lock': '600',
        'chatlogs.credentials': '600',
      });
      expect(await modeOf(data)).toBe('700');
    } finally {
      await chat.close();
      await shared.close();
    }
  });

  it('tightens a data folder of ours left open by an older version', async () => {
    const data = path.join(work.dir, 'data');
    await fs.mkdir(path.join(data, 'pgdata'), { recursive: true, mode: 0o777 });
    await fs.writeFile(path.join(data, 'pgdata.lock'), JSON.stringify({ pid: 2 ** 22 + 12345 }), { mode: 0o644 });
    const db = await openPglite(path.join(data, 'pgdata'));
    try {
      expect([await modeOf(data), await modeOf(path.join(data, 'pgdata')), await modeOf(path.join(data, 'pgdata.lock'))]).toEqual(['700', '700', '600']);
    } finally {
      await db.close();
    }
  });

  it('leaves a folder it shares with other things as it is, and keeps what it puts there private', async () => {
    const shared = path.join(work.dir, 'home');
    await fs.mkdir(shared, { mode: 0o755 });
    await fs.writeFile(path.join(shared, 'notes.txt'), 'not ours');
    const chat = await chatStoreForTest(shared);
    try {
      expect([await modeOf(shared), await modeOf(path.join(shared, 'chatlogs')), await modeOf(path.join(shared, 'chatlogs.credentials'))]).toEqual([
        '755',
        '700',
        '600',
      ]);
    } finally {
      await chat.close();
    }
  });
});
