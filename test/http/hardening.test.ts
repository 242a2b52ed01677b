import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openChatStore } from '../../src/chatlog/open.js';
import { type Config, loadConfig } from '../../src/config.js';
import { migrate } from '../../src/db/migrate.js';
import { sharePglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import { runService, type Service } from '../../src/service.js';
import { folderStorage } from '../../src/storage/folder.js';
import { s3Storage } from '../../src/storage/s3.js';
import { freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { human, tempDir, writeFiles } from '../helpers/files.js';
import { startProxy } from '../helpers/proxy.js';
import { startS3 } from '../helpers/s3.js';
import { eventually, send, serveForTest } from '../helpers/service.js';

/** What a raw connection got: an HTTP status, or nothing before the server closed it. */
function exchange(port: number, write: (socket: net.Socket) => void): Promise<{ status?: number; closed: boolean; text: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.on('connect', () => write(socket));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      resolve({ ...(status ? { status: Number(status) } : {}), closed: true, text });
    });
  });
}

/** A kept-alive raw connection that sends GET requests one at a time. */
async function keptAlive(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return {
    get(requestPath: string): Promise<number | 'closed'> {
      return new Promise((resolve) => {
        let text = '';
        const onData = (chunk: Buffer) => {
          text += chunk.toString('latin1');
          const match = /^HTTP\/1\.1 (\d{3})[\s\S]*?\r\ncontent-length: (\d+)\r\n[\s\S]*?\r\n\r\n/i.exec(text);
          if (match && text.length >= match[0].length + Number(match[2])) {
            socket.off('data', onData);
            resolve(Number(match[1]));
          }
        };
        socket.on('data', onData);
        socket.once('close', () => resolve('closed'));
        socket.write(`GET ${requestPath} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      });
    },
    close: () => socket.destroy(),
  };
}

/** No stack trace, no absolute path, no address or port of a dependency in an answer. */
function expectNothingInternal(body: unknown, ...secrets: string[]) {
  const text = JSON.stringify(body);
  expect(text).not.toMatch(/\\n\s+at |\/(tmp|work|home|usr|var|root)\/|127\.0\.0\.1|ECONNREFUSED/);
  for (const secret of secrets) expect(text).not.toContain(secret);
}

describe('slow and many clients', () => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let service: Service;
  let port: number;
  beforeAll(async () => {
    db = await freshDatabase('pglite');
    work = await tempDir();
    await writeFiles(work.dir, { 'human_members/rin.yml': human('Rin') });
    service = await serveForTest(db, folderStorage(work.dir), (config) => {
      config.storage = { kind: 'folder', path: work.dir };
      config.http = { ...config.http, requestTimeoutMs: 1500, headersTimeoutMs: 1000, maxConnections: 4 };
    });
    port = Number(new URL(service.url).port);
  });
  afterAll(async () => {
    await service?.close();
    await db?.close();
    await work?.remove();
  });

  it('cuts off a client that sends its body too slowly (408), and one that sends nothing', async () => {
    let trickle: NodeJS.Timeout | undefined;
    const slowBody = await exchange(port, (socket) => {
      socket.write(`POST /api/chat/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{`);
      trickle = setInterval(() => socket.write(' '), 100);
    });
    clearInterval(trickle);
    expect(slowBody).toMatchObject({ status: 408, closed: true });
    expect(await exchange(port, () => {})).toMatchObject({ status: 408, closed: true });
    const slowHeaders = await exchange(port, (socket) => socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '));
    expect(slowHeaders).toMatchObject({ status: 408, closed: true });
    // In the API's error shape, with the headers every answer carries.
    expect(slowHeaders.text).toMatch(/\r\nx-content-type-options: nosniff\r\n/i);
    expect(slowHeaders.text).toMatch(/\r\ncache-control: no-store\r\n/i);
    expect(JSON.parse(slowHeaders.text.split('\r\n\r\n')[1]!)).toEqual({ error: { code: 'timeout', message: 'the request did not arrive in time' } });
  });

  it('answers headers too large (431) and what is not HTTP (400) in the error shape', async () => {
    const huge = await exchange(port, (socket) => socket.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    expect(huge).toMatchObject({ status: 431, closed: true });
    expect(JSON.parse(huge.text.split('\r\n\r\n')[1]!).error.code).toBe('headers_too_large');
    const garbage = await exchange(port, (socket) => socket.write('HELLO THERE\r\n\r\n'));
    expect(garbage).toMatchObject({ status: 400, closed: true });
    expect(JSON.parse(garbage.text.split('\r\n\r\n')[1]!).error.code).toBe('bad_request');
  });

  it('refuses connections beyond the limit while serving the ones it has', async () => {
    const clients = await Promise.all(Array.from({ length: 4 }, () => keptAlive(port)));
    try {
      expect(await Promise.all(clients.map((client) => client.get('/health')))).toEqual([200, 200, 200, 200]);
      const extra = await exchange(port, (socket) => socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
      expect(extra).toEqual({ closed: true, text: '' });
      expect(await Promise.all(clients.map((client) => client.get('/api/members/human')))).toEqual([200, 200, 200, 200]);
      clients.pop()!.close();
      await eventually(async () =>
        expect(await exchange(port, (socket) => socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'))).toMatchObject({
          status: 200,
          closed: true,
        }),
      );
    } finally {
      for (const client of clients) client.close();
    }
  });
});

describe('what every answer carries', () => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let service: Service;
  beforeAll(async () => {
    db = await freshDatabase('pglite');
    work = await tempDir();
    await writeFiles(work.dir, { 'human_members/rin.yml': human('Rin') });
    service = await serveForTest(db, folderStorage(work.dir), (config) => void (config.storage = { kind: 'folder', path: work.dir }));
  });
  afterAll(async () => {
    await service?.close();
    await db?.close();
    await work?.remove();
  });

  it('security headers, a CSP that lets nothing run in data, and no-store on personal data', async () => {
    const answers = {
      member: await send(`${service.url}/api/members/human/Rin`),
      missing: await send(`${service.url}/api/members/human/Nobody`),
      badRequest: await send(`${service.url}/api/members/human?limit=0`),
      badUrl: await send(`${service.url}/api/members/human/%E8`),
      noRoute: await send(`${service.url}/nowhere`),
      badJson: await send(`${service.url}/api/chat/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }),
      health: await send(`${service.url}/health`),
    };
    for (const [what, answer] of Object.entries(answers)) {
      const headers = Object.fromEntries(
        ['x-content-type-options', 'referrer-policy', 'x-frame-options', 'cache-control', 'cross-origin-resource-policy'].map((name) => [
          name,
          answer.headers.get(name),
        ]),
      );
      expect({ what, headers }).toEqual({
        what,
        headers: {
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
          'x-frame-options': 'DENY',
          'cache-control': 'no-store',
          'cross-origin-resource-policy': 'same-origin',
        },
      });
      expect({ what, csp: answer.headers.get('content-security-policy') }).toEqual({
        what,
        csp: expect.stringMatching(/^default-src 'none';.*frame-ancestors 'none'/),
      });
      if (answer.status >= 400) expectNothingInternal(answer.body);
    }
    expect(answers.member.status).toBe(200);
  });

  it('lets the Swagger UI load its own scripts, styles and document, and be cached', async () => {
    const page = await send(`${service.url}/docs/`);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src 'self';/);
    expect(csp).toMatch(/connect-src 'self';/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    for (const asset of [...String(page.body).matchAll(/(?:src|href)="\.\/(static\/[^"]+)"/g)].map((m) => m[1]!)) {
      const loaded = await send(`${service.url}/docs/${asset}`);
      expect({ asset, status: loaded.status, cache: loaded.headers.get('cache-control') }).toEqual({
        asset,
        status: 200,
        cache: expect.not.stringContaining('no-store'),
      });
    }
  });
});

describe('refusals, in the error shape and in the log', () => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let service: Service;
  let port: number;
  const log: Array<Record<string, any>> = [];
  beforeAll(async () => {
    db = await freshDatabase('pglite');
    work = await tempDir();
    const config = loadConfig({ PORT: '0', VECR_RECONCILE_INTERVAL: '0', VECR_DATA_DIR: '/nonexistent' });
    config.storage = { kind: 'folder', path: work.dir };
    const logger = { level: 'info', stream: { write: (line: string) => void log.push(JSON.parse(line)) } };
    service = await runService(config, { db, storage: folderStorage(work.dir) }, { logger });
    port = Number(new URL(service.url).port);
  });
  afterAll(async () => {
    await service?.close();
    await db?.close();
    await work?.remove();
  });

  /** A GET of `target` as curl sends it: its characters as raw UTF-8 bytes in the request line. */
  const rawGet = (target: string) =>
    exchange(port, (socket) =>
      socket.write(Buffer.concat([Buffer.from('GET '), Buffer.from(target), Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')])),
    );

  it('answers a URL with raw non-ASCII characters (curl ?q=華) in the error shape, telling how to encode it, and logs it', async () => {
    for (const target of ['/api/members?q=華', '/api/members/human/華']) {
      const answer = await rawGet(target);
      expect({ target, status: answer.status }).toEqual({ target, status: 400 });
      expect(answer.text).toMatch(/\r\nx-content-type-options: nosniff\r\n/i);
      const body = JSON.parse(Buffer.from(answer.text.split('\r\n\r\n')[1]!, 'latin1').toString('utf8'));
      expect(body).toEqual({ error: { code: 'bad_url', message: expect.stringContaining('?q=%E8%8F%AF') } });
    }
    expect(log.filter((line) => line.msg === 'request refused before it was read' && line.error?.code === 'bad_url')).toHaveLength(2);
  });

  it('logs the reason of every refusal it answers', async () => {
    expect((await rawGet('/api/members/human?limit=0')).status).toBe(400);
    expect((await rawGet('/api/members/human/%E8')).status).toBe(400);
    expect(log.filter((line) => line.msg === 'request refused').map((line) => line.error.code)).toEqual(['bad_request', 'bad_url']);
  });
});

describe('outages', () => {
  const routes = (url: string) => [
    { what: 'GET members', request: () => send(`${url}/api/members/human`) },
    { what: 'GET one member', request: () => send(`${url}/api/members/human/Rin`) },
    { what: 'GET sync status', request: () => send(`${url}/api/sync/status`) },
    { what: 'GET sync errors', request: () => send(`${url}/api/sync/errors`) },
    { what: 'POST sync', request: () => send(`${url}/api/sync`, { method: 'POST' }) },
    { what: 'GET context', request: () => send(`${url}/api/members/virtual/x/context?session_id=s`) },
    {
      what: 'POST webhook',
      request: () =>
        send(`${url}/webhook/storage`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            Records: [
              { eventName: 's3:ObjectCreated:Put', s3: { bucket: { name: 'vecr-garage-storage' }, object: { key: 'human_members/rin.yml', sequencer: 'A1' } } },
            ],
          }),
        }),
    },
  ];

  it('answers 503 with Retry-After on every route while the database is down, naming it and nothing more', async () => {
    const work = await tempDir();
    await writeFiles(work.dir, { 'storage/human_members/rin.yml': human('Rin') });
    const shared = await sharePglite(path.join(work.dir, 'pgdata'), 0, async (direct) => void (await migrate(direct)));
    const upstream = new URL(shared.url);
    const proxy = await startProxy({ host: upstream.hostname, port: Number(upstream.port) });
    const viaProxy = new URL(shared.url);
    viaProxy.port = String(proxy.port);
    const db = await openPostgres(viaProxy.toString());
    const storage = path.join(work.dir, 'storage');
    const service = await serveForTest(db, folderStorage(storage), (config) => void (config.storage = { kind: 'folder', path: storage }));
    try {
      await proxy.cut();
      for (const { what, request } of routes(service.url)) {
        const answer = await request();
        expect({ what, status: answer.status, retryAfter: answer.headers.get('retry-after'), error: answer.body.error }).toEqual({
          what,
          status: 503,
          retryAfter: '5',
          error: { code: 'unavailable', message: 'the database is unavailable; try again later' },
        });
      }
      const ready = await send(`${service.url}/ready`);
      expect(ready).toMatchObject({
        status: 503,
        body: { error: { code: 'not_ready', details: { database: { status: 'down', message: 'the database does not answer' }, storage: { status: 'ok' } } } },
      });
      expectNothingInternal(ready.body, String(proxy.port), work.dir);
      await proxy.restore();
      await eventually(async () => expect((await send(`${service.url}/api/members/human`)).status).toBe(200));
    } finally {
      await service.close();
      await db.close();
      await proxy.close().catch(() => {});
      await shared.close();
      await work.remove();
    }
  });

  it('names the storage and the chat log store when they are down, without their addresses or paths', async () => {
    const db = await freshDatabase('pglite');
    const work = await tempDir();
    const s3 = await startS3();
    const dead = { ...s3.config, endpoint: s3.endpoint };
    await s3.close();
    const chat = await openChatStore(loadConfig({ CHATLOG_DYNAMODB_ENDPOINT: `http://127.0.0.1:${new URL(s3.endpoint).port}` }));
    const service = await serveForTest(db, await s3Storage(dead), (config: Config) => void (config.storage = dead), chat);
    try {
      const event = await routes(service.url)
        .find((route) => route.what === 'POST webhook')!
        .request();
      expect({ status: event.status, retryAfter: event.headers.get('retry-after'), error: event.body.error }).toEqual({
        status: 503,
        retryAfter: '5',
        error: { code: 'unavailable', message: 'the storage is unavailable; try again later' },
      });
      const append = await send(`${service.url}/api/chat/sessions/s/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ speaker_name: 'Rin', speaker_type: 'human', role: 'user', content: 'hi' }),
      });
      expect({ status: append.status, retryAfter: append.headers.get('retry-after'), error: append.body.error }).toEqual({
        status: 503,
        retryAfter: '5',
        error: { code: 'unavailable', message: 'the chat log store is unavailable; try again later' },
      });
      const ready = await send(`${service.url}/ready`);
      expect(ready.body.error.details).toEqual({
        database: { status: 'ok' },
        storage: { status: 'down', message: 'the storage does not answer' },
        chatlog: { status: 'down', message: 'the chat log store does not answer' },
      });
      expectNothingInternal([event.body, append.body, ready.body], new URL(s3.endpoint).port);
    } finally {
      await service.close();
      await chat.close();
      await db.close();
      await work.remove();
    }
  });

  it('does not tell where a storage folder is when it is gone', async () => {
    const db = await freshDatabase('pglite');
    const work = await tempDir();
    const storage = path.join(work.dir, 'storage');
    await writeFiles(storage, { 'human_members/rin.yml': human('Rin') });
    const service = await serveForTest(db, folderStorage(storage), (config) => void (config.storage = { kind: 'folder', path: storage }));
    try {
      await fs.rm(storage, { recursive: true });
      const ready = await send(`${service.url}/ready`);
      expect(ready.body.error.details.storage).toEqual({ status: 'down', message: 'the storage does not answer' });
      expectNothingInternal(ready.body, work.dir);
    } finally {
      await service.close();
      await db.close();
      await work.remove();
    }
  });
});
