import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeFiles, human } from '../helpers/files.js';
import { eventually, get } from '../helpers/service.js';

const run = promisify(execFile);
const hasPsql = await run('psql', ['--version']).then(() => true, () => false);
const bin = fileURLToPath(new URL('../../bin/vecr.js', import.meta.url));
const samples = fileURLToPath(new URL('../../storage', import.meta.url));

/** `vecr serve` as users run it, on the embedded database: psql and the CLI reach it through the service. */
describe('vecr serve, embedded', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let child: ChildProcess;
  let url: string;
  let pgPort: string;
  let env: NodeJS.ProcessEnv;
  let exited: Promise<number | null>;
  let banner = '';
  let logs = '';

  beforeAll(async () => {
    work = await tempDir();
    await fs.cp(samples, path.join(work.dir, 'storage'), { recursive: true });
    env = { ...process.env, VECR_DATA_DIR: path.join(work.dir, 'data'), PORT: '0', VECR_PG_PORT: '0', VECR_RECONCILE_INTERVAL: '0', DATABASE_URL: '' };
    child = spawn(process.execPath, [bin, 'serve'], { cwd: work.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    child.stdout!.on('data', (chunk: Buffer) => (logs += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        banner += chunk.toString();
        if (banner.includes('psql:')) resolve();
      });
      child.on('exit', () => reject(new Error(`vecr serve exited early:\n${banner}`)));
    });
    url = /listening on (http:\/\/\S+)/.exec(banner)![1]!;
    pgPort = /psql -h localhost -p (\d+) -U postgres member_db/.exec(banner)![1]!;
  });
  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await work?.remove();
  });

  it('registers the samples on start and serves them', async () => {
    await eventually(async () => expect((await get(`${url}/api/members/human`)).body.members.map((m: { name: string }) => m.name)).toEqual(['Rin', 'Syota']));
  });

  it.runIf(hasPsql)('lets psql into the running embedded database with the pgpass file the banner names, and nobody without the password', async () => {
    const pgpass = /PGPASSFILE=(\S+) psql/.exec(banner)![1]!;
    expect(pgpass).toBe(path.join(work.dir, 'data', 'pgdata.pgpass'));
    const psqlWith = (passfile: string, ...args: string[]) =>
      run('psql', ['-X', '-w', '-h', 'localhost', '-p', pgPort, '-U', 'postgres', 'member_db', ...args], { env: { ...process.env, PGPASSWORD: '', PGPASSFILE: passfile } });
    const psql = (...args: string[]) => psqlWith(pgpass, ...args).then((r) => r.stdout);
    await expect(psqlWith(path.join(work.dir, 'none'), '-c', 'SELECT 1')).rejects.toMatchObject({ stderr: expect.stringMatching(/no password supplied/) });
    expect(await psql('-c', '\\dt')).toMatch(/human_members[\s\S]*virtual_members/);
    expect(await psql('-c', '\\d human_members')).toMatch(/name\s+\| character varying\(255\)\s+\|\s+\| not null/);
    expect(await psql('-At', '-c', 'SELECT COUNT(*) FROM human_members')).toBe('2\n');
  });

  it('lets other vecr commands reach the same database through the service', async () => {
    await writeFiles(work.dir, { 'storage/human_members/new.yml': human('New') });
    await eventually(async () => {
      const { stdout } = await run(process.execPath, [bin, 'members', 'count', '--json'], { cwd: work.dir, env });
      expect(JSON.parse(stdout)).toEqual({ human_members: 3, virtual_members: 2 });
    });
  });

  it('never prints the password of the embedded database: not in the banner, not in the logs', async () => {
    const password = /:postgres:(\S+)\n/.exec(await fs.readFile(path.join(work.dir, 'data', 'pgdata.pgpass'), 'utf8'))![1]!;
    expect(banner).toMatch(/database: embedded, shared at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/member_db\n/);
    expect(logs).toContain('"msg":"service ready"');
    expect(banner + logs).not.toContain(password);
  });

  it('stops cleanly on SIGTERM and frees the data folder', async () => {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(fs.access(path.join(work.dir, 'data', 'pgdata.lock'))).rejects.toThrow();
    const { stdout } = await run(process.execPath, [bin, 'members', 'count', '--json'], { cwd: work.dir, env });
    expect(JSON.parse(stdout)).toEqual({ human_members: 3, virtual_members: 2 });
  });
});
