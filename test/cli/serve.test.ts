import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from '../helpers/cluster.js';
import { copySamples, human, tempDir, writeFiles } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { spawnServe } from '../helpers/serveProcess.js';
import { eventually, get, send } from '../helpers/service.js';

const run = promisify(execFile);
const hasPsql = await run('psql', ['--version']).then(
  () => true,
  () => false,
);
const bin = fileURLToPath(new URL('../../bin/vecr.js', import.meta.url));

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
    await copySamples(path.join(work.dir, 'storage'));
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
      run('psql', ['-X', '-w', '-h', 'localhost', '-p', pgPort, '-U', 'postgres', 'member_db', ...args], {
        env: { ...process.env, PGPASSWORD: '', PGPASSFILE: passfile },
      });
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

/** Tests that start `vecr serve` (PGlite, dynalite) may wait long on a busy machine; nothing here is timed. */
const processTimeout = 180_000;

/** The CLI as a process: its exit code and everything it printed. */
function vecr(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, env: { ...process.env, DATABASE_URL: '', ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('vecr serve on an address other machines can reach', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    work = await tempDir();
    await writeFiles(work.dir, { 'storage/human_members/rin.yml': human('Rin') });
  });
  afterAll(async () => {
    await work?.remove();
  });

  it('refuses to start without API tokens and a webhook token, saying what to set, before opening anything', async () => {
    const env = {
      VECR_DATA_DIR: path.join(work.dir, 'refused'),
      VECR_STORAGE: path.join(work.dir, 'storage'),
      PORT: '0',
      WEBHOOK_AUTH_TOKEN: '',
      VECR_API_TOKENS: '',
    };
    const bare = await vecr(['serve'], { ...env, HOST: '0.0.0.0' }, work.dir);
    expect(bare).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'vecr: listening on 0.0.0.0 (HOST, or serve --host) lets other machines reach the API, which then needs credentials: set VECR_API_TOKENS (make a token with `vecr token NAME --scopes read,chat,admin`) and WEBHOOK_AUTH_TOKEN, or listen on 127.0.0.1\n',
    });
    const flag = await vecr(['serve', '--host', '::'], { ...env, VECR_API_TOKENS: `ops:read:sha256:${'a'.repeat(64)}` }, work.dir);
    expect([flag.code, flag.stderr]).toEqual([
      1,
      'vecr: listening on :: (HOST, or serve --host) lets other machines reach the API, which then needs credentials: set WEBHOOK_AUTH_TOKEN, or listen on 127.0.0.1\n',
    ]);
    const guessable = await vecr(
      ['serve'],
      { ...env, HOST: '0.0.0.0', VECR_API_TOKENS: `ops:read:sha256:${'a'.repeat(64)}`, WEBHOOK_AUTH_TOKEN: 'secret' },
      work.dir,
    );
    expect([guessable.code, guessable.stderr]).toEqual([
      1,
      'vecr: WEBHOOK_AUTH_TOKEN is shorter than 16 characters, which other machines could guess: make it a long random one (openssl rand -hex 32)\n',
    ]);
    // On loopback behind a proxy: the proxy forwards other machines' requests.
    const proxied = await vecr(['serve'], { ...env, VECR_TRUST_PROXY: 'loopback' }, work.dir);
    expect([proxied.code, proxied.stderr]).toEqual([
      1,
      "vecr: VECR_TRUST_PROXY says a proxy forwards other machines' requests to the API, which then needs credentials: set VECR_API_TOKENS (make a token with `vecr token NAME --scopes read,chat,admin`) and WEBHOOK_AUTH_TOKEN, or unset VECR_TRUST_PROXY\n",
    ]);
    await expect(fs.access(path.join(work.dir, 'refused'))).rejects.toThrow();
  });

  it(
    'starts with both, and answers only the tokens `vecr token` made',
    async () => {
      const made = JSON.parse((await vecr(['token', 'discord-bot', '--scopes', 'read,chat', '--json'], {}, work.dir)).stdout) as {
        token: string;
        entry: string;
      };
      expect(made.entry).toMatch(/^discord-bot:read,chat:sha256:[0-9a-f]{64}$/);
      expect(made.entry).not.toContain(made.token);
      const serve = await spawnServe(
        {
          HOST: '0.0.0.0',
          VECR_API_TOKENS: made.entry,
          WEBHOOK_AUTH_TOKEN: 'webhook-secret-0123456789',
          VECR_DATA_DIR: path.join(work.dir, 'data'),
          VECR_STORAGE: path.join(work.dir, 'storage'),
          VECR_RECONCILE_INTERVAL: '0',
          VECR_WATCH: 'false',
        },
        work.dir,
      );
      try {
        expect(serve.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(serve.output()).toContain(', and on every address of this machine (HOST=0.0.0.0)');
        await eventually(async () =>
          expect((await send(`${serve.url}/api/members/human`, { headers: { authorization: `Bearer ${made.token}` } })).body.members).toHaveLength(1),
        );
        expect((await send(`${serve.url}/api/members/human`)).status).toBe(401);
        expect((await send(`${serve.url}/health`)).status).toBe(200);
        serve.child.kill('SIGTERM');
        expect(await serve.exited).toBe(0);
        // The log names the token, never shows it.
        expect(serve.output()).not.toContain(made.token);
      } finally {
        await serve.kill();
      }
    },
    processTimeout,
  );
});

describe('secrets', () => {
  it(
    'never appear in what vecr serve prints, through requests that succeed, fail and meet outages',
    async () => {
      const work = await tempDir();
      const cluster = await startCluster();
      const s3dir = await tempDir('vecr-s3-');
      // s3rver checks the access key, not the SigV4 signature: any secret key is accepted.
      const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3dir.dir, configureBuckets: [{ name: 'vecr-garage-storage' }] });
      const { port: s3Port } = await s3.run();
      const proxy = await startProxy({ host: '127.0.0.1', port: cluster.port });
      await cluster.createDatabase('member_db');
      const secrets = {
        databasePassword: 'db-pass-4f1c9a7e',
        memberDbPassword: 'member-pass-8b2d6c1f',
        awsSecret: 'aws-secret-3e9a5b7d',
        minioPassword: 'minio-pass-7c4e2a9b',
        webhookToken: 'webhook-token-5d8f1b3a6c9e',
        plainToken: 'plain-api-token-2a7c9e4b1d6f8a3c5e7b9d1f',
        hashedToken: 'vecr_hashed-api-token-6b8d1f3a5c7e9b2d4f',
        wrongToken: 'vecr_wrong-token-9e1c3a5b7d2f4a6c8e',
      };
      const serve = await spawnServe(
        {
          DATABASE_URL: `postgres://postgres:${secrets.databasePassword}@127.0.0.1:${proxy.port}/member_db`,
          MEMBER_DB_PASSWORD: secrets.memberDbPassword,
          VECR_STORAGE: 's3://vecr-garage-storage',
          S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
          AWS_ACCESS_KEY_ID: 'S3RVER',
          AWS_SECRET_ACCESS_KEY: secrets.awsSecret,
          MINIO_ROOT_USER: 'minio',
          MINIO_ROOT_PASSWORD: secrets.minioPassword,
          WEBHOOK_AUTH_TOKEN: secrets.webhookToken,
          VECR_API_TOKENS: `plain:read,chat,admin:${secrets.plainToken} hashed:read:sha256:${createHash('sha256').update(secrets.hashedToken).digest('hex')}`,
          VECR_DATA_DIR: path.join(work.dir, 'data'),
          VECR_RECONCILE_INTERVAL: '0',
          LOG_LEVEL: 'trace',
        },
        work.dir,
      );
      try {
        const auth = (token: string) => ({ authorization: `Bearer ${token}` });
        const event = (key: string) =>
          JSON.stringify({
            Records: [{ eventName: 's3:ObjectCreated:Put', s3: { bucket: { name: 'vecr-garage-storage' }, object: { key, sequencer: '0A' } } }],
          });
        const webhook = (token: string) =>
          send(`${serve.url}/webhook/storage`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...auth(token) },
            body: event('human_members/rin.yml'),
          });
        await eventually(async () => expect((await send(`${serve.url}/api/members/human`, { headers: auth(secrets.hashedToken) })).status).toBe(200));
        expect((await send(`${serve.url}/api/sync`, { method: 'POST', headers: auth(secrets.plainToken) })).status).toBe(200);
        expect((await send(`${serve.url}/api/members/human`, { headers: auth(secrets.wrongToken) })).status).toBe(401);
        expect((await send(`${serve.url}/api/sync`, { method: 'POST', headers: auth(secrets.hashedToken) })).status).toBe(403);
        expect((await webhook(secrets.webhookToken)).status).toBe(200);
        expect((await webhook(secrets.wrongToken)).status).toBe(401);
        // Outages: the database, then the storage.
        await proxy.cut();
        expect((await send(`${serve.url}/api/members/human`, { headers: auth(secrets.hashedToken) })).status).toBe(503);
        expect((await send(`${serve.url}/ready`)).status).toBe(503);
        await proxy.restore();
        await s3.close();
        await eventually(async () => expect((await webhook(secrets.webhookToken)).status).toBe(503));
        expect((await send(`${serve.url}/api/sync`, { method: 'POST', headers: auth(secrets.plainToken) })).status).toBe(503);
        serve.child.kill('SIGTERM');
        expect(await serve.exited).toBe(0);

        const printed = serve.output();
        // The run did log what happened (so the absence of secrets means something)...
        expect(printed).toContain('"principal":"hashed"');
        expect(printed).toContain('authentication failed');
        expect(printed).toContain('dependency unavailable');
        expect(printed).toContain('VECR_API_TOKENS holds the token \\"plain\\" itself');
        // ...and no secret, nor any Authorization header.
        for (const [name, secret] of Object.entries(secrets)) expect({ name, found: printed.includes(secret) }).toEqual({ name, found: false });
        expect(printed).not.toMatch(/Bearer /);
      } finally {
        await serve.kill();
        await s3.close().catch(() => {});
        await proxy.close().catch(() => {});
        await cluster.destroy();
        await s3dir.remove();
        await work.remove();
      }
    },
    processTimeout,
  );
});
