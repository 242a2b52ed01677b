import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateMessages } from '../../src/chatlog/messages.js';
import { envWithoutVecrSettings, runVecr } from '../helpers/cli.js';
import { freshDatabase } from '../helpers/databases.js';
import { copySamples, human, tempDir, writeFiles } from '../helpers/files.js';
import { chatStoreForTest } from '../helpers/service.js';

// Messages that tell the user what happened and what to do, from the CLI as users run it.

// The shipped samples, copied: the commands here take them as their storage folder.
let samples: string;
let samplesDir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  samplesDir = await tempDir();
  samples = await copySamples(samplesDir.dir);
});
afterAll(() => samplesDir.remove());
const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    () => false,
  );

/**
 * Where a test keeps its members: a fresh database on the PostgreSQL server when there is one
 * (a process of its own opens it in a moment), else the embedded database of VECR_DATA_DIR.
 */
async function membersDatabase() {
  const server = process.env.TEST_DATABASE_URL ? await freshDatabase('postgres') : undefined;
  return { env: server ? { DATABASE_URL: server.url! } : {}, close: async () => server?.close() };
}

// Each command is a process of its own: on the embedded database each opens it anew.
const slow = 180_000;

describe('vecr run outside the project', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  const env = envWithoutVecrSettings();
  const vecr = (...args: string[]) => runVecr(args, { cwd: work.dir, env });
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => {
    await work?.remove();
  });

  it('read-only commands say where they looked for a database, and make none', async () => {
    const dataDir = path.join(work.dir, '.vecr');
    for (const args of [
      ['members', 'list'],
      ['members', 'show', 'Rin'],
      ['members', 'count'],
      ['db', 'tables'],
    ]) {
      const result = await vecr(...args);
      expect([args, result.code]).toEqual([args, 1]);
      expect(result.stderr).toContain(`no embedded database in ${path.join(dataDir, 'pgdata')}, so there is nothing to read`);
      expect(result.stderr).toMatch(/run it in the project folder, or set VECR_DATA_DIR \(--data-dir\), or DATABASE_URL/);
      expect(await exists(dataDir), args.join(' ')).toBe(false);
    }
    for (const args of [
      ['chatlog', 'sessions'],
      ['chatlog', 'tail', 'discord:c1'],
    ]) {
      const result = await vecr(...args);
      expect([args, result.code]).toEqual([args, 1]);
      expect(result.stderr).toContain(`no embedded chat log store in ${path.join(dataDir, 'chatlogs')}`);
      expect(await exists(dataDir), args.join(' ')).toBe(false);
    }
    const health = await vecr('health');
    expect(health.code).toBe(1);
    expect(health.stdout).toContain(`FAIL: no embedded database in ${path.join(dataDir, 'pgdata')}`);
    expect(await exists(dataDir)).toBe(false);
  });

  it('a sync whose storage cannot be read makes no database', async () => {
    const missing = path.join(work.dir, 'no-such-folder');
    const sync = await vecr('sync', '--storage', missing);
    expect(sync.code).toBe(1);
    expect(sync.stderr).toContain(`storage folder ${missing} cannot be read`);
    expect(await exists(path.join(work.dir, '.vecr'))).toBe(false);
  });

  it('a command that writes makes the database, and says so and where', { timeout: slow }, async () => {
    const sync = await vecr('sync', '--storage', samples);
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stderr).toContain(`vecr: no embedded database in ${path.join(work.dir, '.vecr', 'pgdata')}: creating a new, empty one there`);
    const count = await vecr('members', 'count');
    expect([count.code, count.stdout, count.stderr]).toEqual([0, 'human_members    2\nvirtual_members  2\n', '']);
    const again = await vecr('sync', '--storage', samples);
    expect(again.stderr).toBe('');
  });
});

describe('vecr shows times in the local time zone', () => {
  it('member lists, members and chat logs, with the offset (TZ=Asia/Tokyo)', { timeout: slow }, async () => {
    const work = await tempDir();
    const dataDir = path.join(work.dir, 'data');
    const database = await membersDatabase();
    const env = { ...envWithoutVecrSettings(), TZ: 'Asia/Tokyo', VECR_DATA_DIR: dataDir, ...database.env };
    const vecr = (...args: string[]) => runVecr(args, { cwd: work.dir, env });
    const chat = await chatStoreForTest(dataDir);
    try {
      await chat.append(
        'discord:c1',
        validateMessages([
          { speaker_name: 'Rin', speaker_type: 'human', role: 'user', content: 'おはよう', channel_id: 'c1', timestamp: Date.UTC(2026, 11, 7, 0, 0, 0) },
        ]),
      );
      await chat.flush();
      expect((await vecr('chatlog', 'tail', 'discord:c1')).stdout).toBe('[2026-12-07 09:00:00 +09:00] Rin (user): おはよう\n');
      expect((await vecr('chatlog', 'sessions')).stdout).toMatch(/discord:c1 .* 2026-12-07 09:00:00 \+09:00 /);
      expect((await vecr('sync', '--storage', samples)).code).toBe(0);
      const localTime = /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+09:00/;
      expect((await vecr('members', 'list', 'human')).stdout.split('\n')[3]).toMatch(localTime);
      const shown = (await vecr('members', 'show', 'Rin')).stdout;
      expect(shown).toMatch(new RegExp(`created_at +${localTime.source}\\n`));
      expect(shown).toMatch(new RegExp(`updated_at +${localTime.source}\\n`));
      // Scripts get what the data holds.
      expect(JSON.parse((await vecr('members', 'show', 'Rin', '--json')).stdout).members[0].member.updated_at).toMatch(/Z$/);
    } finally {
      await chat.close();
      await database.close();
      await work.remove();
    }
  });
});

describe('vecr serve with a port another program holds', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let holder: net.Server;
  let taken: number;
  beforeAll(async () => {
    work = await tempDir();
    holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    taken = (holder.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => holder.close(resolve));
    await work?.remove();
  });

  const serve = (ports: Record<string, string>) =>
    runVecr(['serve'], {
      cwd: work.dir,
      env: {
        ...envWithoutVecrSettings(),
        VECR_DATA_DIR: path.join(work.dir, 'data'),
        VECR_STORAGE: samples,
        VECR_WATCH: 'false',
        VECR_RECONCILE_INTERVAL: '0',
        ...ports,
      },
    });

  it('names PORT for the HTTP port', { timeout: slow }, async () => {
    const result = await serve({ PORT: String(taken), VECR_PG_PORT: '0' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`port ${taken} on 127.0.0.1 is already in use by another program`);
    expect(result.stderr).toMatch(/It is the HTTP API's port: stop that program, or set PORT \(or --port\) to a free port/);
  });

  it("names VECR_PG_PORT for the embedded database's port", { timeout: slow }, async () => {
    const result = await serve({ PORT: '0', VECR_PG_PORT: String(taken) });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`port ${taken} on 127.0.0.1 is already in use by another program`);
    expect(result.stderr).toMatch(/set VECR_PG_PORT to a free port/);
  });
});

describe('vecr members show NAME, for a name only an invalid file claims', () => {
  it('points at the file and its errors', { timeout: slow }, async () => {
    const work = await tempDir();
    const database = await membersDatabase();
    const env = { ...envWithoutVecrSettings(), VECR_DATA_DIR: path.join(work.dir, 'data'), ...database.env };
    const vecr = (...args: string[]) => runVecr(args, { cwd: work.dir, env });
    try {
      await writeFiles(work.dir, {
        'storage/human_members/rin.yml': human('Rin'),
        'storage/human_members/taro.yml': 'name: 太郎\ncontact_email: not-an-address\n',
        'storage/human_members/broken.yml': 'name: Other\nskills: [a\n',
      });
      expect((await vecr('sync')).code).toBe(1);
      const shown = await vecr('members', 'show', '太郎');
      expect(shown.code).toBe(1);
      expect(shown.stderr).toMatch(
        /^vecr: no member named "太郎" is registered: human_members\/taro\.yml claims the name but is invalid; fix:\n {2}human_members\/taro\.yml:2:\d+: contact_email: /,
      );
      expect(shown.stderr).not.toContain('broken.yml');
      const json = JSON.parse((await vecr('members', 'show', '太郎', '--json')).stdout);
      expect(json).toMatchObject({
        members: [],
        invalid_files: [{ file_uri: 'human_members/taro.yml', kind: 'human', problems: [{ field: 'contact_email', line: 2 }] }],
      });
      const nobody = await vecr('members', 'show', 'Nobody');
      expect([nobody.code, nobody.stderr]).toEqual([1, 'vecr: no member named "Nobody"\n']);
    } finally {
      await database.close();
      await work.remove();
    }
  });
});
