import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatStore } from '../../../src/chatlog/store.js';
import { type Config, loadConfig, parseApiTokens, parseUiUsers } from '../../../src/config.js';
import { accessWarnings } from '../../../src/http/access.js';
import { hashPassword } from '../../../src/http/ui/password.js';
import type { Service } from '../../../src/service.js';
import { folderStorage } from '../../../src/storage/folder.js';
import { freshDatabase, type TestDatabase } from '../../helpers/databases.js';
import { human, tempDir, writeFiles } from '../../helpers/files.js';
import { vecrBin } from '../../helpers/serveProcess.js';
import { chatStoreForTest, send, serveForTest } from '../../helpers/service.js';

const run = promisify(execFile);
const passwords = { mika: 'mika-admin-パスワード-1', rin: 'rin-viewer-password-2', ken: 'ken-from-stdin-password-3' };
const apiToken = 'vecr_ops-token-0123456789abcdefghijklmnopq';
const message = { speaker_name: 'Rin', speaker_type: 'human', role: 'user', content: 'hello' };
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

/** Signs in through the form; answers the session cookie (name=value), or the failed answer. */
async function signIn(url: string, user: string, password: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}/signin`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: form({ user, password }),
  });
  const setCookie = response.headers.getSetCookie();
  return {
    status: response.status,
    location: response.headers.get('location'),
    setCookie,
    cookie: setCookie[0]?.split(';')[0] ?? '',
    text: await response.text(),
  };
}

/** The home page's CSRF token (its sign-out form carries it). */
async function csrfOf(url: string, cookie: string): Promise<string> {
  const text = await (await fetch(`${url}/`, { headers: { cookie } })).text();
  return /name="_csrf" value="([^"]+)"/.exec(text)![1]!;
}

describe('web UI sign-in', () => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let chat: ChatStore;
  let kenEntry: string;
  let kenOutput: string;
  let service: Service;
  let configured: Config;

  const serve = (setup: (config: Config) => void) =>
    serveForTest(
      db,
      folderStorage(`${work.dir}/storage`),
      (config) => {
        config.storage = { kind: 'folder', path: `${work.dir}/storage` };
        setup(config);
      },
      chat,
    );

  /** Accounts mika (admin), rin (viewer), ken (viewer, made by `vecr password`); an API token, so the API is not open. */
  const withAccounts = (config: Config) => {
    config.dataDir = path.join(work.dir, 'data');
    config.access.tokens = parseApiTokens(`ops:read,chat,admin:${apiToken}`);
    config.ui = { ...config.ui, accounts: configured.ui.accounts };
  };

  beforeAll(async () => {
    db = await freshDatabase('pglite');
    work = await tempDir();
    await writeFiles(work.dir, { 'storage/human_members/rin.yml': human('Rin', 'contact_email: rin@example.com\n') });
    chat = await chatStoreForTest(work.dir);
    // `vecr password` as a script runs it: the password on standard input, not on a terminal.
    const made = run(process.execPath, [vecrBin, 'password', 'ken', '--role', 'viewer', '--json']);
    made.child.stdin!.end(`${passwords.ken}\n`);
    const { stdout, stderr } = await made;
    kenOutput = stdout + stderr;
    kenEntry = (JSON.parse(stdout) as { entry: string }).entry;
    const entries = [`mika:admin:${await hashPassword(passwords.mika)}`, `rin:viewer:${await hashPassword(passwords.rin)}`, kenEntry];
    configured = loadConfig({ VECR_UI_USERS: entries.join('\n') });
    service = await serve(withAccounts);
  });
  afterAll(async () => {
    await service?.close();
    await chat?.close();
    await db?.close();
    await work?.remove();
  });

  it('sends a browser without a session to the sign-in page, which is HTML under the pages’ policy', async () => {
    const home = await fetch(`${service.url}/`, { redirect: 'manual' });
    expect(home.status).toBe(303);
    expect(home.headers.get('location')).toBe('/signin');
    const page = await fetch(`${service.url}/signin`, { headers: { 'accept-language': 'en-US,en;q=0.9' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/);
    expect(page.headers.get('cache-control')).toBe('no-store');
    const policy = page.headers.get('content-security-policy')!;
    expect(policy).toContain("style-src 'self'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).not.toContain('unsafe-inline');
    const text = await page.text();
    expect(text).toContain('<html lang="en">');
    expect(text).toMatch(/<label>User name <input name="user"/);
    expect(text).toMatch(/<label>Password <input name="password" type="password"/);
    expect(text).not.toMatch(/<script|style=/);
    const css = await fetch(`${service.url}/ui/static/style.css`);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    // The API's answers keep their own policy.
    expect((await fetch(`${service.url}/health`)).headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
  });

  it('speaks Japanese to a browser that prefers it, and switches language by the link', async () => {
    const ja = await (await fetch(`${service.url}/signin`, { headers: { 'accept-language': 'ja,en-US;q=0.8' } })).text();
    expect(ja).toContain('<html lang="ja">');
    expect(ja).toContain('<label>ユーザー名 <input name="user"');
    expect(ja).toContain('<button type="submit">サインイン</button>');
    expect(ja).toContain('href="/lang/en?next=%2Fsignin"');
    const switched = await fetch(`${service.url}/lang/en?next=%2Fsignin`, { redirect: 'manual' });
    expect(switched.status).toBe(303);
    expect(switched.headers.get('location')).toBe('/signin');
    const langCookie = switched.headers.getSetCookie()[0]!.split(';')[0]!;
    expect(langCookie).toBe('lang=en');
    const en = await (await fetch(`${service.url}/signin`, { headers: { 'accept-language': 'ja', cookie: langCookie } })).text();
    expect(en).toContain('<html lang="en">');
    // The switch sends back to this site only.
    expect((await fetch(`${service.url}/lang/ja?next=%2F%2Fevil.example`, { redirect: 'manual' })).headers.get('location')).toBe('/');
  });

  it('signs an admin in to a signed, HttpOnly, SameSite=Strict session with an expiry, kept in an owner-only key file', async () => {
    const signedIn = await signIn(service.url, 'mika', passwords.mika);
    expect(signedIn.status).toBe(303);
    expect(signedIn.location).toBe('/');
    expect(signedIn.setCookie[0]).toMatch(/^vecr_session=[\w-]+\.[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const home = await fetch(`${service.url}/`, { headers: { cookie: signedIn.cookie, 'accept-language': 'en' } });
    expect(home.status).toBe(200);
    const text = await home.text();
    expect(text).toContain('Signed in as mika (administrator)');
    expect(text).toMatch(
      /<form method="post" action="\/signout"><input type="hidden" name="_csrf" value="[\w-]+"><button type="submit">Sign out<\/button><\/form>/,
    );
    const key = await fs.stat(path.join(work.dir, 'data', 'ui-session.key'));
    expect(key.mode & 0o777).toBe(0o600);
  });

  it('gives a session the scopes of its role on the API, by cookie: a viewer reads, and cannot write chat', async () => {
    for (const [user, password] of [
      ['rin', passwords.rin],
      ['ken', passwords.ken],
    ] as const) {
      const { cookie } = await signIn(service.url, user, password);
      const csrf = await csrfOf(service.url, cookie);
      const read = await send(`${service.url}/api/members/human/Rin`, { headers: { cookie } });
      expect(read.status).toBe(200);
      expect(read.body.contact_email).toBe('rin@example.com');
      const write = await send(`${service.url}/api/chat/sessions/viewer-${user}/messages`, {
        method: 'POST',
        headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
        body: JSON.stringify(message),
      });
      expect({ user, status: write.status, code: write.body.error?.code }).toEqual({ user, status: 403, code: 'forbidden' });
    }
    expect((await send(`${service.url}/api/chat/sessions/viewer-rin`, { headers: { authorization: `Bearer ${apiToken}` } })).status).toBe(404);
    // Without a session or a token, the API stays closed.
    expect((await send(`${service.url}/api/members/human/Rin`)).status).toBe(401);
  });

  it('refuses a write by cookie without its CSRF token, or with a wrong one (403), and writes nothing; with it, writes', async () => {
    const { cookie } = await signIn(service.url, 'mika', passwords.mika);
    const other = await signIn(service.url, 'rin', passwords.rin);
    const wrongTokens: Array<Record<string, string>> = [{}, { 'x-csrf-token': 'not-the-token' }, { 'x-csrf-token': await csrfOf(service.url, other.cookie) }];
    for (const headers of wrongTokens) {
      const answer = await send(`${service.url}/api/chat/sessions/csrf-test/messages`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(message),
      });
      expect({ headers, status: answer.status, code: answer.body.error?.code }).toEqual({ headers, status: 403, code: 'csrf' });
    }
    expect((await send(`${service.url}/api/chat/sessions/csrf-test`, { headers: { authorization: `Bearer ${apiToken}` } })).status).toBe(404);
    const csrf = await csrfOf(service.url, cookie);
    const written = await send(`${service.url}/api/chat/sessions/csrf-test/messages`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
      body: JSON.stringify(message),
    });
    expect(written.status).toBe(201);
    // A form field does as well as the header; a form without it is refused.
    const signOutWithout = await fetch(`${service.url}/signout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    expect(signOutWithout.status).toBe(403);
    expect(signOutWithout.headers.getSetCookie()).toEqual([]);
  });

  /** A service of its own, for a test that fails authentications: the failures of an address are counted per service. */
  async function onItsOwn(test: (service: Service) => Promise<void>) {
    const own = await serve(withAccounts);
    try {
      await test(own);
    } finally {
      await own.close();
    }
  }

  it('answers a wrong password or an unknown user with the form again and a message (401)', () =>
    onItsOwn(async (service) => {
      for (const [user, password] of [
        ['mika', 'wrong-password'],
        ['nobody', passwords.mika],
        ['rin', passwords.mika],
      ]) {
        const failed = await signIn(service.url, user!, password!, { 'accept-language': 'en' });
        expect({ user, status: failed.status, cookies: failed.setCookie }).toEqual({ user, status: 401, cookies: [] });
        expect(failed.text).toContain('The user name or password is wrong.');
        expect(failed.text).not.toContain(password);
      }
      const ja = await signIn(service.url, 'mika', 'wrong-password', { 'accept-language': 'ja' });
      expect(ja.text).toContain('ユーザー名またはパスワードが違います。');
    }));

  it('refuses an expired, a tampered, a forged cookie, and one of an account no longer configured', () =>
    onItsOwn(async (service) => {
      const { cookie } = await signIn(service.url, 'mika', passwords.mika);
      const [payload, signature] = cookie.slice('vecr_session='.length).split('.') as [string, string];
      const key = Buffer.from((await fs.readFile(path.join(work.dir, 'data', 'ui-session.key'), 'utf8')).trim(), 'hex');
      const signed = (claims: object) => {
        const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
        return `vecr_session=${body}.${createHmac('sha256', key).update(`session:${body}`).digest('base64url')}`;
      };
      const wellSigned = signed({ u: 'mika', once: false, exp: Date.now() + 60_000 });
      expect((await fetch(`${service.url}/`, { headers: { cookie: wellSigned }, redirect: 'manual' })).status).toBe(200);
      const refused = {
        expired: signed({ u: 'mika', once: false, exp: Date.now() - 1000 }),
        tamperedPayload: `vecr_session=${Buffer.from(JSON.stringify({ u: 'mika', once: false, exp: Date.now() + 10 * 365 * 86_400_000 })).toString('base64url')}.${signature}`,
        tamperedSignature: `vecr_session=${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`,
        otherKey: `vecr_session=${payload}.${createHmac('sha256', 'another key').update(`session:${payload}`).digest('base64url')}`,
        goneAccount: signed({ u: 'someone', once: false, exp: Date.now() + 60_000 }),
        // The one-time URL's session is not valid where accounts are configured.
        oneTime: signed({ u: 'local', once: true, exp: Date.now() + 60_000 }),
      };
      for (const [what, bad] of Object.entries(refused)) {
        const page = await fetch(`${service.url}/`, { headers: { cookie: bad }, redirect: 'manual' });
        const api = await send(`${service.url}/api/members/human/Rin`, { headers: { cookie: bad } });
        expect({ what, page: page.status, api: api.status }).toEqual({ what, page: 303, api: 401 });
      }
    }));

  it('signs out: the cookie is cleared and the page asks to sign in again', async () => {
    const { cookie } = await signIn(service.url, 'mika', passwords.mika);
    const csrf = await csrfOf(service.url, cookie);
    const out = await fetch(`${service.url}/signout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ _csrf: csrf }),
    });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/signin');
    expect(out.headers.getSetCookie()[0]).toMatch(/^vecr_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/);
  });

  it('signs out everywhere: a copy of the cookie taken before is refused by another replica, and after a restart', async () => {
    const { cookie } = await signIn(service.url, 'mika', passwords.mika);
    const replica = await serve(withAccounts);
    try {
      expect((await fetch(`${replica.url}/`, { headers: { cookie }, redirect: 'manual' })).status).toBe(200);
      const out = await fetch(`${service.url}/signout`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ _csrf: await csrfOf(service.url, cookie) }),
      });
      expect(out.status).toBe(303);
      for (const url of [service.url, replica.url]) {
        expect((await fetch(`${url}/`, { headers: { cookie }, redirect: 'manual' })).headers.get('location')).toBe('/signin');
        expect((await fetch(`${url}/api/members/human`, { headers: { cookie } })).status).toBe(401);
      }
    } finally {
      await replica.close();
    }
    const restarted = await serve(withAccounts);
    try {
      expect((await fetch(`${restarted.url}/`, { headers: { cookie }, redirect: 'manual' })).headers.get('location')).toBe('/signin');
      // The account itself signs in again at once.
      const again = await signIn(restarted.url, 'mika', passwords.mika);
      expect((await fetch(`${restarted.url}/`, { headers: { cookie: again.cookie }, redirect: 'manual' })).status).toBe(200);
    } finally {
      await restarted.close();
    }
  });

  it('a sign-out the database cannot record fails and changes nothing: the session stays, and signs out once it can', async () => {
    const { cookie } = await signIn(service.url, 'mika', passwords.mika);
    const signOut = async () =>
      fetch(`${service.url}/signout`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: form({ _csrf: await csrfOf(service.url, cookie) }),
      });
    // Reads still work, the write does not (a database turned read-only, say).
    await db.exec(`CREATE FUNCTION refuse_sign_out() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'read-only for now'; END $$;
      CREATE TRIGGER refuse_sign_out BEFORE INSERT ON signed_out_sessions FOR EACH ROW EXECUTE FUNCTION refuse_sign_out();`);
    try {
      const refused = await signOut();
      expect([refused.status >= 500, refused.headers.getSetCookie()]).toEqual([true, []]);
      expect((await fetch(`${service.url}/`, { headers: { cookie }, redirect: 'manual' })).status).toBe(200);
    } finally {
      await db.exec('DROP TRIGGER refuse_sign_out ON signed_out_sessions; DROP FUNCTION refuse_sign_out();');
    }
    expect((await signOut()).headers.get('location')).toBe('/signin');
    expect((await fetch(`${service.url}/`, { headers: { cookie }, redirect: 'manual' })).headers.get('location')).toBe('/signin');
  });

  it('keeps sessions over a restart (the key is kept in the data folder)', async () => {
    const { cookie } = await signIn(service.url, 'rin', passwords.rin);
    const again = await serve(withAccounts);
    try {
      expect((await fetch(`${again.url}/`, { headers: { cookie }, redirect: 'manual' })).status).toBe(200);
      expect(again.signInUrl).toBeUndefined();
    } finally {
      await again.close();
    }
  });

  it('`vecr password` reads the password from standard input and prints an entry that signs in, without the password', () => {
    expect(kenEntry).toMatch(/^ken:viewer:scrypt\$N=32768,r=8,p=1\$[\w-]+\$[\w-]+$/);
    expect(kenOutput).not.toContain(passwords.ken);
    expect(parseUiUsers(kenEntry)[0]!.role).toBe('viewer');
  });

  it('ADMIN_USERNAME / ADMIN_PASSWORD of the original member manager sign in as an admin, with a warning', async () => {
    const legacy = loadConfig({ ADMIN_USERNAME: 'boss', ADMIN_PASSWORD: 'the-old-plain-password' });
    expect(accessWarnings(legacy)).toEqual([expect.stringContaining('ADMIN_PASSWORD holds the password of the UI account "boss" itself')]);
    expect(accessWarnings(legacy).join()).not.toContain('the-old-plain-password');
    const old = await serve((config) => {
      withAccounts(config);
      config.ui = legacy.ui;
    });
    try {
      expect((await signIn(old.url, 'boss', 'wrong')).status).toBe(401);
      const { status, cookie } = await signIn(old.url, 'boss', 'the-old-plain-password', { 'accept-language': 'en' });
      expect(status).toBe(303);
      expect(await (await fetch(`${old.url}/`, { headers: { cookie, 'accept-language': 'en' } })).text()).toContain('Signed in as boss (administrator)');
    } finally {
      await old.close();
    }
  });

  it('marks the cookie Secure when the request came over https (through a trusted proxy)', async () => {
    const proxied = await serve((config) => {
      withAccounts(config);
      // Behind a proxy the API is other machines' too: it needs its tokens.
      config.http.trustProxy = ['loopback'];
      config.access.tokens = parseApiTokens(`ops:read,chat,admin:${apiToken}`);
      config.webhook.authToken = 'webhook-secret-0123456789';
    });
    try {
      const overHttps = await signIn(proxied.url, 'mika', passwords.mika, { 'x-forwarded-proto': 'https' });
      expect(overHttps.setCookie[0]).toMatch(/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure$/);
      expect((await signIn(proxied.url, 'mika', passwords.mika)).setCookie[0]).not.toContain('Secure');
    } finally {
      await proxied.close();
    }
  });

  it('off loopback with no accounts, there is no sign-in at all', async () => {
    const exposed = await serve((config) => {
      config.http.host = '0.0.0.0';
      config.access.tokens = parseApiTokens(`ops:read,chat,admin:${apiToken}`);
      config.webhook.authToken = 'webhook-secret-0123456789';
      config.ui = { ...config.ui, accounts: [], sessionSecret: 'a-session-secret-of-32-characters-or-more' };
    });
    try {
      expect(exposed.signInUrl).toBeUndefined();
      expect(await (await fetch(`${exposed.url}/signin`, { headers: { 'accept-language': 'en' } })).text()).toContain('No accounts are configured');
      expect((await fetch(`${exposed.url}/signin/once?token=anything`)).status).toBe(403);
      expect((await signIn(exposed.url, 'local', '')).status).toBe(401);
    } finally {
      await exposed.close();
    }
  });
});

describe('failed sign-ins', () => {
  it('are limited per address: the 11th within the window is refused (429), right password or not', async () => {
    const db = await freshDatabase('pglite');
    const work = await tempDir();
    const config = loadConfig({
      VECR_UI_USERS: `mika:admin:${await hashPassword(passwords.mika)}`,
      VECR_SESSION_SECRET: 'a-session-secret-of-32-characters-or-more',
    });
    const service = await serveForTest(db, folderStorage(work.dir), (c) => {
      c.ui = config.ui;
    });
    try {
      for (let attempt = 1; attempt <= 10; attempt++) expect((await signIn(service.url, 'mika', `guess-${attempt}`)).status).toBe(401);
      const limited = await signIn(service.url, 'mika', passwords.mika, { 'accept-language': 'en' });
      expect(limited.status).toBe(429);
      expect(limited.setCookie).toEqual([]);
      expect(limited.text).toMatch(/Too many failed sign-ins from this address\. Try again in \d+ s\./);
    } finally {
      await service.close();
      await db.close();
      await work.remove();
    }
  });
});

describe('the session secret', () => {
  it('is refused when shorter than 32 characters, and entries of VECR_UI_USERS are checked', () => {
    expect(() => loadConfig({ VECR_SESSION_SECRET: 'short' })).toThrow(/VECR_SESSION_SECRET must be at least 32 characters/);
    expect(() => loadConfig({ VECR_UI_USERS: 'mika:admin:plain-password' })).toThrow(
      /the entry "mika" must end with a password hash from `vecr password mika`/,
    );
    expect(() => loadConfig({ VECR_UI_USERS: 'mika:root:scrypt$x' })).toThrow(/must give its role after the name: admin or viewer/);
    expect(() => loadConfig({ ADMIN_USERNAME: 'boss' })).toThrow(/ADMIN_USERNAME is set without ADMIN_PASSWORD/);
  });
});
