import { createHash } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatStore } from '../../src/chatlog/store.js';
import { loadConfig, parseApiTokens } from '../../src/config.js';
import { isLoopback } from '../../src/http/access.js';
import { buildServer } from '../../src/http/server.js';
import type { Service } from '../../src/service.js';
import { folderStorage } from '../../src/storage/folder.js';
import { freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { human, tempDir, virtual, writeFiles } from '../helpers/files.js';
import { chatStoreForTest, send, serveForTest } from '../helpers/service.js';

/** A request with headers fetch will not send as given (Host), on a connection of its own, from `localAddress` if given. */
function raw(url: string, headers: Record<string, string>, method = 'GET', localAddress?: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers, agent: false, ...(localAddress ? { localAddress } : {}) }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text) }));
    });
    request.on('error', reject);
    request.end();
  });
}

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');
const tokens = {
  reader: 'vecr_reader-token-0123456789abcdefghijklmnop',
  bot: 'vecr_bot-token-0123456789abcdefghijklmnopqr',
  admin: 'vecr_admin-token-0123456789abcdefghijklmnop',
};
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
/** An event for another bucket: acknowledged (ignored) once it gets past the token. */
const otherBucketEvent = JSON.stringify({
  Records: [{ eventName: 's3:ObjectCreated:Put', s3: { bucket: { name: 'other' }, object: { key: 'human_members/x.yml' } } }],
});
const message = { speaker_name: 'Rin', speaker_type: 'human', role: 'user', content: 'hello' };

describe('access', () => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let chat: ChatStore;
  beforeAll(async () => {
    db = await freshDatabase('pglite');
    work = await tempDir();
    await writeFiles(work.dir, {
      'storage/human_members/rin.yml': human('Rin', 'contact_email: rin@example.com\n'),
      'storage/virtual_members/kasen.yml': virtual('華扇'),
    });
    chat = await chatStoreForTest(work.dir);
  });
  afterAll(async () => {
    await chat?.close();
    await db?.close();
    await work?.remove();
  });
  const serve = (setup: (config: ReturnType<typeof loadConfig>) => void = () => {}) =>
    serveForTest(
      db,
      folderStorage(`${work.dir}/storage`),
      (config) => {
        config.storage = { kind: 'folder', path: `${work.dir}/storage` };
        setup(config);
      },
      chat,
    );

  describe('on loopback with no API tokens', () => {
    let service: Service;
    beforeAll(async () => {
      service = await serve();
    });
    afterAll(async () => {
      await service?.close();
    });

    it('is open to clients on this machine, which send no Origin', async () => {
      expect((await send(`${service.url}/api/members/human/Rin`)).body).toMatchObject({ contact_email: 'rin@example.com' });
      expect(
        (
          await send(`${service.url}/api/chat/sessions/local/messages`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(message),
          })
        ).status,
      ).toBe(201);
    });

    it("refuses what a page of another site makes a visitor's browser send, before anything is written", async () => {
      // A form or fetch() from any page can POST text/plain without a preflight: the browser sends
      // its Origin and, in current browsers, Sec-Fetch-Site.
      const attempts: Array<Record<string, string>> = [
        { origin: 'https://evil.example' },
        { origin: 'null' },
        { origin: 'http://localhost:9999' },
        { 'sec-fetch-site': 'cross-site' },
        { 'sec-fetch-site': 'same-site' },
        { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
      ];
      for (const headers of attempts) {
        const answer = await send(`${service.url}/api/chat/sessions/csrf/messages`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain', ...headers },
          body: JSON.stringify(message),
        });
        expect({ headers, status: answer.status, code: answer.body.error?.code }).toEqual({ headers, status: 403, code: 'cross_site' });
      }
      const webhook = await send(`${service.url}/webhook/storage`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', origin: 'https://evil.example' },
        body: otherBucketEvent,
      });
      expect(webhook.status).toBe(403);
      expect((await send(`${service.url}/api/members/human`, { headers: { origin: 'https://evil.example' } })).status).toBe(403);
      expect((await send(`${service.url}/api/chat/sessions/csrf`)).status).toBe(404);
    });

    it('takes requests from its own origin, and from a page the user opened directly', async () => {
      const own = new URL(service.url).origin;
      expect((await send(`${service.url}/api/members/human`, { headers: { origin: own, 'sec-fetch-site': 'same-origin' } })).status).toBe(200);
      expect((await send(`${service.url}/api/members/human`, { headers: { 'sec-fetch-site': 'none' } })).status).toBe(200);
    });

    it('refuses a Host that is not a loopback name (DNS rebinding), on every route', async () => {
      const { port } = new URL(service.url);
      for (const path of ['/api/members/human', '/health', '/webhook/storage']) {
        const answer = await raw(`${service.url}${path}`, { host: `evil.example:${port}` });
        expect({ path, status: answer.status, code: answer.body.error.code }).toEqual({ path, status: 421, code: 'misdirected' });
      }
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'app.localhost']) {
        expect({ host, status: (await raw(`${service.url}/api/members/human`, { host })).status }).toEqual({ host, status: 200 });
      }
    });

    it('refuses what a proxy on this machine forwards: it comes from other machines', async () => {
      // nginx's `proxy_pass http://127.0.0.1:3000` keeps a loopback Host and adds these.
      const forwarded: Array<Record<string, string>> = [
        { 'x-forwarded-for': '203.0.113.9' },
        { forwarded: 'for=203.0.113.9' },
        { 'x-real-ip': '203.0.113.9' },
        { 'x-forwarded-host': 'members.example' },
      ];
      for (const headers of forwarded) {
        const answer = await send(`${service.url}/api/members/human`, { headers });
        expect({ headers, status: answer.status, code: answer.body.error?.code }).toEqual({ headers, status: 403, code: 'proxied' });
      }
      const sync = await send(`${service.url}/api/sync`, { method: 'POST', headers: { 'x-forwarded-for': '203.0.113.9' } });
      expect(sync.status).toBe(403);
    });
  });

  describe('with API tokens', () => {
    let service: Service;
    beforeAll(async () => {
      service = await serve((config) => {
        config.access.tokens = parseApiTokens(
          [`reader:read:sha256:${sha256(tokens.reader)}`, `bot:read,chat:sha256:${sha256(tokens.bot)}`, `ops:read,chat,admin:${tokens.admin}`].join('\n'),
        );
        config.webhook.authToken = 'webhook-secret-0123456789';
      });
    });
    afterAll(async () => {
      await service?.close();
    });

    it('answers 401 without a token or with a wrong one, in the error shape', async () => {
      for (const headers of [
        {},
        bearer('vecr_not-a-token-0123456789abcdefghijklm'),
        { authorization: `Basic ${Buffer.from(`x:${tokens.reader}`).toString('base64')}` },
      ]) {
        const answer = await send(`${service.url}/api/members/human`, { headers });
        expect(answer.status).toBe(401);
        expect(answer.body.error.code).toBe('unauthorized');
        expect(answer.headers.get('www-authenticate')).toBe('Bearer');
      }
    });

    it('lets each token do what its scopes allow, and names the scope it lacks', async () => {
      expect((await send(`${service.url}/api/members/human/Rin`, { headers: bearer(tokens.reader) })).body).toMatchObject({ name: 'Rin' });
      expect((await send(`${service.url}/api/sync/status`, { headers: bearer(tokens.reader) })).status).toBe(200);
      const append = (token: string) =>
        send(`${service.url}/api/chat/sessions/scoped/messages`, {
          method: 'POST',
          headers: { ...bearer(token), 'content-type': 'application/json' },
          body: JSON.stringify(message),
        });
      const refused = await append(tokens.reader);
      expect(refused).toMatchObject({
        status: 403,
        body: { error: { code: 'forbidden', message: 'the API token "reader" lacks the chat scope this route needs (it has read)' } },
      });
      expect((await append(tokens.bot)).status).toBe(201);
      expect((await send(`${service.url}/api/chat/sessions/scoped/messages`, { headers: bearer(tokens.bot) })).body.messages).toHaveLength(1);

      const remove = (token: string) => send(`${service.url}/api/chat/sessions/scoped`, { method: 'DELETE', headers: bearer(token) });
      expect((await remove(tokens.bot)).status).toBe(403);
      expect((await remove(tokens.admin)).body).toEqual({ session_id: 'scoped', deleted_messages: 1 });
    });

    it('syncs on demand for an admin, with the summary of the run', async () => {
      expect((await send(`${service.url}/api/sync`, { method: 'POST', headers: bearer(tokens.bot) })).status).toBe(403);
      await writeFiles(work.dir, { 'storage/human_members/new.yml': human('New') });
      const sync = await send(`${service.url}/api/sync`, { method: 'POST', headers: bearer(tokens.admin) });
      expect(sync).toMatchObject({ status: 200, body: { created: 1, updated: 0, deleted: 0, invalid: 0, duration_ms: expect.any(Number) } });
      expect((await send(`${service.url}/api/members/human/New`, { headers: bearer(tokens.reader) })).status).toBe(200);
    });

    it('keeps the webhook to its own token, and health, readiness and the docs open', async () => {
      const event = { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(tokens.admin) }, body: otherBucketEvent };
      expect((await send(`${service.url}/webhook/storage`, event)).status).toBe(401);
      expect(
        (
          await send(`${service.url}/webhook/storage`, {
            ...event,
            headers: { 'content-type': 'application/json', authorization: 'Bearer webhook-secret-0123456789' },
          })
        ).status,
      ).toBe(200);
      expect((await send(`${service.url}/api/members/human`, { headers: { authorization: 'Bearer webhook-secret-0123456789' } })).status).toBe(401);
      for (const path of ['/health', '/ready', '/openapi.json', '/docs/'])
        expect({ path, status: (await send(`${service.url}${path}`)).status }).toEqual({ path, status: 200 });
    });

    it('takes any Host (behind a proxy) but still refuses pages of other sites', async () => {
      expect((await raw(`${service.url}/api/members/human`, { host: 'registry.example.com', ...bearer(tokens.reader) })).status).toBe(200);
      expect((await send(`${service.url}/api/members/human`, { headers: { origin: 'https://evil.example', ...bearer(tokens.reader) } })).status).toBe(403);
    });

    it('shows in /openapi.json which routes need a token and which scope', async () => {
      const { body } = await send(`${service.url}/openapi.json`);
      expect(body.paths['/api/members/human'].get).toMatchObject({ security: [{ bearer: [] }], description: 'Needs the `read` scope.' });
      expect(body.paths['/api/chat/sessions/{id}'].delete.description).toBe('Needs the `admin` scope.');
      expect(body.paths['/api/sync'].post.description).toBe('Needs the `admin` scope.');
      expect(body.paths['/webhook/storage'].post.security).toEqual([{ bearer: [] }]);
      expect(body.paths['/health'].get.security).toBeUndefined();
    });
  });

  it('refuses an address that failed to authenticate ten times (429 with Retry-After), right token or not, and no other address', async () => {
    const service = await serve((config) => {
      config.access.tokens = parseApiTokens(`reader:read:sha256:${sha256(tokens.reader)}`);
      config.webhook.authToken = 'webhook-secret-0123456789';
    });
    try {
      const members = `${service.url}/api/members/human`;
      const wrong = () => send(members, { headers: bearer('vecr_guess-0123456789abcdefghijklmnopqrstuv') });
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) statuses.push((await wrong()).status);
      expect(statuses).toEqual(Array(10).fill(401));
      const limited = await wrong();
      expect(limited.status).toBe(429);
      expect(limited.body.error.code).toBe('too_many_failures');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      // A right guess from that address tells nothing now: guessing cannot go on.
      expect((await send(members, { headers: bearer(tokens.reader) })).status).toBe(429);
      // The webhook's token counts alike, from the same address.
      expect(
        (
          await send(`${service.url}/webhook/storage`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: 'Bearer webhook-secret-0123456789' },
            body: otherBucketEvent,
          })
        ).status,
      ).toBe(429);
      // Another address is not held back by this one's failures.
      expect((await raw(members, bearer(tokens.reader), 'GET', '127.0.0.2')).status).toBe(200);
      // Open routes stay open.
      expect((await send(`${service.url}/health`)).status).toBe(200);
    } finally {
      await service.close();
    }
  });

  /** A service behind a trusted proxy, and a request to the member list as the proxy forwards it from `client`. */
  async function behindProxy(run: (from: (client: string, token: string) => Promise<{ status: number }>) => Promise<void>) {
    const service = await serve((config) => {
      config.access.tokens = parseApiTokens(`reader:read:sha256:${sha256(tokens.reader)}`);
      config.http.trustProxy = ['loopback'];
      config.webhook.authToken = 'webhook-token-0123456789';
    });
    try {
      const members = `${service.url}/api/members/human`;
      await run((client, token) => raw(members, { ...bearer(token), 'x-forwarded-for': client }));
    } finally {
      await service.close();
    }
  }

  it('behind a trusted proxy (VECR_TRUST_PROXY), counts failures per forwarded client', () =>
    behindProxy(async (from) => {
      for (let i = 0; i < 10; i++) expect((await from('203.0.113.7', 'vecr_guess-0123456789abcdefghijklmnopqrstuv')).status).toBe(401);
      expect((await from('203.0.113.7', tokens.reader)).status).toBe(429);
      // Another client behind the same balancer is served.
      expect((await from('198.51.100.4', tokens.reader)).status).toBe(200);
    }));

  it('counts an IPv6 client by its /64: a new address of the same network per guess guesses no further', () =>
    behindProxy(async (from) => {
      // Ten addresses of 2001:db8:1:2::/64, as a host given the whole /64 picks them, written every way.
      const network = ['2001:db8:1:2::1', '2001:DB8:1:2::2', '2001:0db8:0001:0002:0000:0000:0000:0003', '2001:db8:1:2:ffff::4', '2001:db8:1:2::5'];
      for (let i = 0; i < 10; i++) {
        const client = i < network.length ? network[i]! : `2001:db8:1:2:${i.toString(16)}:${i}::${i + 100}`;
        expect((await from(client, 'vecr_guess-0123456789abcdefghijklmnopqrstuv')).status).toBe(401);
      }
      expect((await from('2001:db8:1:2:abcd::1', tokens.reader)).status).toBe(429);
      // The next /64, and IPv4 clients (also as IPv4-mapped IPv6), are apart.
      expect((await from('2001:db8:1:3::1', tokens.reader)).status).toBe(200);
      for (let i = 0; i < 10; i++) expect((await from('0:0:0:0:0:ffff:198.51.100.1', 'vecr_guess-0123456789abcdefghijklmnopqrstuv')).status).toBe(401);
      expect((await from('::ffff:198.51.100.1', tokens.reader)).status).toBe(429);
      expect((await from('198.51.100.1', tokens.reader)).status).toBe(429);
      expect((await from('::ffff:198.51.100.2', tokens.reader)).status).toBe(200);
    }));

  it('refuses at start a route that does not declare what it needs', async () => {
    const server = await buildServer({ config: loadConfig({}), db, storage: folderStorage(work.dir), registrar: undefined as never });
    try {
      expect(() => server.get('/api/new', async () => ({}))).toThrow('the route GET /api/new does not declare its access (config.access)');
    } finally {
      await server.close();
    }
  });
});

describe('loopback names', () => {
  it('are 127.0.0.0/8, ::1 and localhost, nothing else', () => {
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      'localhost',
      'LOCALHOST',
      'app.localhost',
      'localhost.',
    ])
      expect({ host, loopback: isLoopback(host) }).toEqual({ host, loopback: true });
    for (const host of ['0.0.0.0', '::', '192.168.1.2', '10.0.0.1', 'example.com', 'localhost.example.com', '128.0.0.1', '::2', ''])
      expect({ host, loopback: isLoopback(host) }).toEqual({ host, loopback: false });
  });
});
