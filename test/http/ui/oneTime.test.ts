import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/files.js';
import { type ServeProcess, spawnServe } from '../../helpers/serveProcess.js';

const onceUrl = (output: string) => /open (http:\/\/127\.0\.0\.1:\d+\/signin\/once\?token=[\w-]{43}) to sign in/.exec(output)?.[1];

async function open(url: string, cookie = '') {
  const response = await fetch(url, { redirect: 'manual', headers: { cookie, 'accept-language': 'en' } });
  return {
    status: response.status,
    location: response.headers.get('location'),
    cookie: response.headers.getSetCookie()[0]?.split(';')[0] ?? '',
    text: await response.text(),
  };
}

/** `vecr serve` as users start it on a fresh clone: nothing configured, on loopback. */
describe('zero-setup sign-in: the one-time URL in the banner', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let first: ServeProcess | undefined;
  let second: ServeProcess | undefined;
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => {
    await first?.kill();
    await second?.kill();
    await work?.remove();
  });

  it('signs in once as admin; the URL is then spent, and a restart prints a new one (the session stays)', async () => {
    const env = {
      VECR_DATA_DIR: path.join(work.dir, 'data'),
      VECR_STORAGE: path.join(work.dir, 'storage'),
      VECR_RECONCILE_INTERVAL: '0',
      VECR_UI_USERS: '',
      ADMIN_PASSWORD: '',
      ADMIN_USERNAME: '',
      VECR_SESSION_SECRET: '',
    };
    first = await spawnServe(env);
    const url = onceUrl(first.output());
    expect(url, first.output()).toBeDefined();
    // The sign-in page, where a browser without a session lands, says where the way in is.
    const signinPage = (await open(`${first.url}/signin`)).text;
    expect(signinPage).toContain('No accounts are configured. Open the one-time sign-in URL the service printed');
    // and offers no form that no password could pass (ten tries would lock the address out).
    expect(signinPage).not.toContain('<form');
    const signedIn = await open(url!);
    expect(signedIn.status).toBe(303);
    expect(signedIn.location).toBe('/');
    expect((await open(`${first.url}/`, signedIn.cookie)).text).toContain('Signed in as local (administrator)');
    const again = await open(url!);
    expect(again.status).toBe(403);
    expect(again.cookie).toBe('');
    expect(again.text).toContain('This sign-in link has been used or is not valid.');
    // The token is in the banner only: the log lines never carry it.
    const token = new URL(url!).searchParams.get('token')!;
    expect(first.output().split(token).length - 1).toBe(1);
    await first.kill();

    second = await spawnServe(env);
    const next = onceUrl(second.output());
    expect(next).toBeDefined();
    expect(new URL(next!).searchParams.get('token')).not.toBe(token);
    expect((await open(`${second.url}/signin/once?token=${token}`)).status).toBe(403);
    expect((await open(`${second.url}/`, signedIn.cookie)).status).toBe(200);
  });
});

describe('the original member manager’s ADMIN_USERNAME / ADMIN_PASSWORD', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let serve: ServeProcess | undefined;
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => {
    await serve?.kill();
    await work?.remove();
  });

  it('sign in as an admin, with a warning at start, and no password in the output; no one-time URL then', async () => {
    const password = 'legacy-plain-password-42';
    serve = await spawnServe({
      VECR_DATA_DIR: path.join(work.dir, 'data'),
      VECR_STORAGE: path.join(work.dir, 'storage'),
      VECR_RECONCILE_INTERVAL: '0',
      ADMIN_USERNAME: 'boss',
      ADMIN_PASSWORD: password,
      VECR_UI_USERS: '',
    });
    expect(serve.output()).toContain(
      'ADMIN_PASSWORD holds the password of the UI account \\"boss\\" itself: make a hash with `vecr password boss --role admin`',
    );
    expect(onceUrl(serve.output())).toBeUndefined();
    const form = (fields: Record<string, string>) => ({
      method: 'POST',
      redirect: 'manual' as const,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    expect((await fetch(`${serve.url}/signin`, form({ user: 'boss', password: 'not-it' }))).status).toBe(401);
    const signedIn = await fetch(`${serve.url}/signin`, form({ user: 'boss', password }));
    expect(signedIn.status).toBe(303);
    const cookie = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
    expect((await open(`${serve.url}/`, cookie)).text).toContain('Signed in as boss (administrator)');
    const output = serve.output();
    expect(output).toContain('sign-in failed: wrong password');
    expect(output).toContain('"msg":"signed in"');
    expect(output).not.toContain(password);
    expect(output).not.toContain(cookie.split('=')[1]!);
  });
});
