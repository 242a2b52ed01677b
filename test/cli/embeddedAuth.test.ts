import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copySamples, tempDir } from '../helpers/files.js';
import { eventually, post } from '../helpers/service.js';

const bin = fileURLToPath(new URL('../../bin/vecr.js', import.meta.url));

/**
 * `vecr serve` on the embedded stores, and other `vecr` commands reaching them through its ports:
 * with the data folder's password and access key, which no output shows.
 */
describe('vecr commands beside a running vecr serve, through its password-protected ports', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let child: ChildProcess;
  let url: string;
  let env: NodeJS.ProcessEnv;
  let data: string;
  let secrets: string[];
  const vecr = (...args: string[]) =>
    new Promise<{ code: number; output: string }>((resolve) => {
      execFile(process.execPath, [bin, ...args], { cwd: work.dir, env }, (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr });
      });
    });

  beforeAll(async () => {
    work = await tempDir();
    data = path.join(work.dir, 'data');
    await copySamples(path.join(work.dir, 'storage'));
    env = { ...process.env, VECR_DATA_DIR: data, PORT: '0', VECR_PG_PORT: '0', VECR_RECONCILE_INTERVAL: '0', DATABASE_URL: '', CHATLOG_DYNAMODB_ENDPOINT: '' };
    child = spawn(process.execPath, [bin, 'serve'], { cwd: work.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let banner = '';
    child.stdout!.resume();
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        banner += chunk.toString();
        if (banner.includes('psql:')) resolve();
      });
      child.on('exit', () => reject(new Error(`vecr serve exited early:\n${banner}`)));
    });
    url = /listening on (http:\/\/\S+)/.exec(banner)![1]!;
    const password = /:postgres:(\S+)\n/.exec(await fs.readFile(path.join(data, 'pgdata.pgpass'), 'utf8'))![1]!;
    const secret = /aws_secret_access_key = (\S+)\n/.exec(await fs.readFile(path.join(data, 'chatlogs.credentials'), 'utf8'))![1]!;
    secrets = [password, secret];
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await work?.remove();
  });

  const showsNoSecret = (output: string) => {
    for (const secret of secrets) expect(output).not.toContain(secret);
  };

  it('reach the service’s database, and never print its password', async () => {
    const count = await vecr('members', 'count', '--json');
    expect([count.code, JSON.parse(count.output)]).toEqual([0, { human_members: 2, virtual_members: 2 }]);
    const tables = await vecr('db', 'tables');
    expect(tables.output).toMatch(/human_members\s+2/);
    for (const result of [count, tables]) showsNoSecret(result.output);
  });

  it('reach the service’s chat logs, and never print their access key', async () => {
    const posted = await post(`${url}/api/chat/sessions/discord:c1/messages`, {
      speaker_name: 'Rin',
      speaker_type: 'human',
      role: 'user',
      content: 'hello',
      channel_id: 'c1',
    });
    expect(posted.status).toBe(201);
    // The session's header follows its message within a second.
    const sessions = await eventually(async () => {
      const listed = await vecr('chatlog', 'sessions', '--json');
      expect(JSON.parse(listed.output).sessions).toMatchObject([{ session_id: 'discord:c1', message_count: 1 }]);
      return listed;
    }, 30_000);
    showsNoSecret(sessions.output);
  });

  it('vecr health checks both through the service, and prints no secret', async () => {
    const health = await vecr('health');
    expect(health.code, health.output).toBe(0);
    expect(health.output).toMatch(
      /^ok: postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/member_db answers.*\nok: chat log store ChatLogs at the embedded store of process \d+ answers\n$/,
    );
    showsNoSecret(health.output);
  });

  it('say in a sentence when the password kept beside the data folder is wrong or missing, without printing it', async () => {
    const file = path.join(data, 'pgdata.pgpass');
    const kept = await fs.readFile(file, 'utf8');
    try {
      await fs.writeFile(file, kept.replaceAll(secrets[0]!, 'stale-password'));
      const refused = await vecr('members', 'count');
      expect(refused.code).toBe(1);
      expect(refused.output).toMatch(
        /^vecr: cannot reach PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/member_db: password authentication failed for user "postgres"\n$/,
      );
      await fs.rm(file);
      const missing = await vecr('members', 'count');
      expect([missing.code, missing.output]).toEqual([
        1,
        `vecr: cannot read the password of the embedded database from ${file}: it is missing (vecr serve writes it as it starts: restart it)\n`,
      ]);
    } finally {
      await fs.writeFile(file, kept);
    }
  });
});
