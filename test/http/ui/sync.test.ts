import { rename } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { escapeHtml } from '../../../src/http/ui/html.js';
import { hashPassword } from '../../../src/http/ui/password.js';
import { invalidPageSize, shownChanges } from '../../../src/http/ui/sync.js';
import type { Service } from '../../../src/service.js';
import { folderStorage } from '../../../src/storage/folder.js';
import { engines, freshDatabase, type TestDatabase } from '../../helpers/databases.js';
import { human, tempDir, virtual, writeFiles } from '../../helpers/files.js';
import { serveForTest } from '../../helpers/service.js';
import { listingThrough } from '../../helpers/storage.js';

const passwords = { mika: 'mika-admin-パスワード-1', rin: 'rin-viewer-password-2' };
/** A file name a browser would run as markup, were it not escaped. */
const hostileFile = 'human_members/<img src=x onerror=alert(1)>.yml';

describe.each(engines)('the sync page of the web UI (%s)', (engine) => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let service: Service;
  /** Listings wait for this: a test holds a run under way by putting an unresolved promise here. */
  let listingGate: Promise<void> = Promise.resolve();
  /** And this one after the listing's first file (a page of its own), so that a run is seen halfway. */
  let afterFirstFile: Promise<void> = Promise.resolve();
  const cookies: Record<keyof typeof passwords, string> = { mika: '', rin: '' };

  const open = async (path: string, who: keyof typeof passwords = 'mika', language = 'en') => {
    const response = await fetch(`${service.url}${path}`, { headers: { cookie: cookies[who], 'accept-language': language }, redirect: 'manual' });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };
  const postForm = async (path: string, who: keyof typeof passwords, fields: Record<string, string>) => {
    const response = await fetch(`${service.url}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: cookies[who], 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'en' },
      body: new URLSearchParams(fields).toString(),
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };
  const csrfOn = (text: string) => /<form method="post" action="\/sync"><input type="hidden" name="_csrf" value="([\w-]+)">/.exec(text)?.[1];

  beforeAll(async () => {
    db = await freshDatabase(engine);
    work = await tempDir();
    await writeFiles(work.dir, {
      'storage/human_members/kasen.yml': human('Kasen'),
      'storage/human_members/broken.yml': 'name: Broken\nrole: [not, a, role\n',
      [`storage/${hostileFile}`]: 'name: [\n',
      'storage/virtual_members/aoi.yml': virtual('Aoi'),
    });
    const users = `mika:admin:${await hashPassword(passwords.mika)} rin:viewer:${await hashPassword(passwords.rin)}`;
    const storage = listingThrough(folderStorage(`${work.dir}/storage`), async function* (pages) {
      await listingGate;
      let first = true;
      for await (const page of pages) {
        for (const file of page) {
          yield [file];
          if (first) await afterFirstFile;
          first = false;
        }
      }
    });
    service = await serveForTest(db, storage, (config) => {
      config.storage = { kind: 'folder', path: `${work.dir}/storage` };
      // No folder watch: a new file is registered only by the sync this page asks for.
      config.watch = false;
      config.ui = loadConfig({ VECR_UI_USERS: users, VECR_SESSION_SECRET: 'a-test-session-secret-of-32-characters-or-more' }).ui;
    });
    for (const user of ['mika', 'rin'] as const) {
      const signedIn = await fetch(`${service.url}/signin`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ user, password: passwords[user] }).toString(),
      });
      expect(signedIn.status).toBe(303);
      cookies[user] = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
    }
  });
  afterAll(async () => {
    await service?.close();
    await db?.close();
    await work?.remove();
  });

  it('sends a browser without a session to the sign-in page', async () => {
    const response = await fetch(`${service.url}/sync`, { redirect: 'manual' });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/signin');
  });

  it('shows the last sync, member counts and each invalid file with its problems at their positions', async () => {
    const { status, headers, text } = await open('/sync');
    expect(status).toBe(200);
    expect(headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(text).toContain('<h2>Sync with storage</h2>');
    // The service's first sync (the helper's run joined it).
    expect(text).toMatch(/<dt>Started by<\/dt><dd>start<\/dd>/);
    expect(text).toMatch(/<dt>Finished<\/dt><dd><time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d<\/time><\/dd>/);
    expect(text).toContain('<dd>2 created, 0 updated, 0 unchanged, 0 deleted, 2 invalid files</dd>');
    expect(text).toContain('1 humans, 1 AI members');
    expect(text).toContain('Invalid files (2)');
    expect(text).toMatch(
      /<li><code class="file">human_members\/broken.yml<\/code> <time[^>]*>[^<]+<\/time><ul class="problems"><li><code>human_members\/broken.yml:3:1<\/code> [^<]+<\/li><\/ul><\/li>/,
    );
    // No failure, no run under way: nothing said of either.
    expect(text).not.toContain('The last sync failed');
    expect(text).not.toContain('A sync is under way');
    expect(text).not.toMatch(/<script|style=/);
  });

  it('escapes a hostile file name wherever it is shown', async () => {
    const { text } = await open('/sync');
    expect(text).toContain('<code class="file">human_members/&lt;img src=x onerror=alert(1)&gt;.yml</code>');
    expect(text).toContain('<code>human_members/&lt;img src=x onerror=alert(1)&gt;.yml:');
    expect(text).not.toContain('<img');
  });

  it('syncs now for an admin: the run’s summary and changes shown after the redirect, the new file counted', async () => {
    const before = await open('/sync');
    const csrf = csrfOn(before.text);
    expect(csrf).toBeDefined();
    expect(before.text).toContain('<button type="submit">Sync now</button>');
    await writeFiles(work.dir, { 'storage/human_members/new.yml': human('Newcomer') });
    const posted = await postForm('/sync', 'mika', { _csrf: csrf! });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe('/sync?ran=1');
    const after = await open('/sync?ran=1');
    expect(after.text).toContain('The sync you asked for is done');
    expect(after.text).toMatch(/1 created, 0 updated, 2 unchanged, 0 deleted, 2 invalid files, in \d+ ms\./);
    expect(after.text).toContain('<li>Created <a href="/members/human/Newcomer">Newcomer</a> <code>human_members/new.yml</code></li>');
    expect(after.text).toContain('2 humans, 1 AI members');
    expect(after.text).toMatch(/<dt>Started by<\/dt><dd>ui<\/dd>/);
    // The plain page does not repeat the run's report.
    expect((await open('/sync')).text).not.toContain('The sync you asked for is done');
  });

  it('refuses sync now without the CSRF token, or with a wrong one', async () => {
    await writeFiles(work.dir, { 'storage/virtual_members/late.yml': virtual('Late') });
    expect((await postForm('/sync', 'mika', {})).status).toBe(403);
    expect((await postForm('/sync', 'mika', { _csrf: 'not-the-token' })).status).toBe(403);
    expect((await open('/sync')).text).toContain('2 humans, 1 AI members');
  });

  it('shows a viewer the page without the button, and refuses a viewer’s post with 403', async () => {
    const viewer = await open('/sync', 'rin');
    expect(viewer.status).toBe(200);
    expect(viewer.text).toContain('Invalid files (2)');
    expect(viewer.text).not.toContain('Sync now');
    expect(viewer.text).not.toContain('action="/sync"');
    // The viewer's own CSRF token (from the sign-out form) does not open the admin's action.
    const token = /name="_csrf" value="([\w-]+)"/.exec(viewer.text)![1]!;
    const refused = await postForm('/sync', 'rin', { _csrf: token });
    expect(refused.status).toBe(403);
    expect((await open('/sync')).text).toContain('2 humans, 1 AI members');
  });

  it('tells the last failure, as the API would, until a run succeeds', async () => {
    const csrf = csrfOn((await open('/sync')).text)!;
    await rename(`${work.dir}/storage`, `${work.dir}/away`);
    try {
      const failed = await postForm('/sync', 'mika', { _csrf: csrf });
      expect(failed.status).toBe(303);
      expect(failed.headers.get('location')).toBe('/sync');
      const { text } = await open('/sync');
      const status = (await (await fetch(`${service.url}/api/sync/status`)).json()) as { reconcile: { last_error: string } };
      expect(status.reconcile.last_error).toContain('cannot be read');
      expect(text).toContain(`<p class="message" role="alert">The last sync failed: ${escapeHtml(status.reconcile.last_error)}</p>`);
      expect(text).not.toContain('The sync you asked for is done');
    } finally {
      await rename(`${work.dir}/away`, `${work.dir}/storage`);
    }
    expect((await postForm('/sync', 'mika', { _csrf: csrf })).headers.get('location')).toBe('/sync?ran=1');
    const healed = (await open('/sync')).text;
    expect(healed).not.toContain('The last sync failed');
    // Late, the file left unsynced when the CSRF token was missing, is in now.
    expect(healed).toContain('2 humans, 2 AI members');
  });

  it('says a run is under way, with a link to reload, and no more once it has ended', async () => {
    let openGate!: () => void;
    listingGate = new Promise((resolve) => (openGate = resolve));
    const run = service.context.reconciler!.run('test');
    try {
      const { text } = await open('/sync');
      expect(text).toContain('<p class="message" role="status">A sync is under way. <a href="/sync">Reload to see how it ended</a></p>');
      expect(text).not.toContain('http-equiv');
    } finally {
      openGate();
      listingGate = Promise.resolve();
    }
    await run;
    expect((await open('/sync')).text).not.toContain('A sync is under way');
  });

  it('answers sync now before a long run ends, and shows the run’s progress until its report', async () => {
    const csrf = csrfOn((await open('/sync')).text)!;
    let openGate!: () => void;
    afterFirstFile = new Promise((resolve) => (openGate = resolve));
    // A file a batch: the first is written, and counted, while the listing waits.
    const { options } = service.context.reconciler!;
    options.batchSize = 1;
    try {
      const posted = await postForm('/sync', 'mika', { _csrf: csrf });
      expect(posted.status).toBe(303);
      expect(posted.headers.get('location')).toBe('/sync?ran=1');
      const { text } = await open('/sync?ran=1');
      expect(text).toMatch(
        /<p class="message" role="status">A sync is under way\. <progress value="(\d+)" max="(\d+)"><\/progress> \1 of \2 files listed so far handled\. <a href="\/sync\?ran=1">Reload to see how it ended<\/a><\/p>/,
      );
      expect(text).not.toContain('The sync you asked for is done');
    } finally {
      openGate();
      afterFirstFile = Promise.resolve();
      options.batchSize = undefined;
    }
    await service.context.reconciler!.run('test');
    const done = (await open('/sync?ran=1')).text;
    expect(done).not.toContain('A sync is under way');
    expect(done).toContain('The sync you asked for is done');
  });

  it('speaks Japanese', async () => {
    const { text } = await open('/sync', 'mika', 'ja');
    expect(text).toContain('<html lang="ja">');
    expect(text).toContain('<h2>ストレージとの同期</h2>');
    expect(text).toContain('人間 2 人、AI メンバー 2 人');
    expect(text).toContain('無効なファイル（2）');
    expect(text).toContain('<button type="submit">今すぐ同期</button>');
  });

  it('pages the invalid files as the API does, by file, a bad cursor read as the first page', async () => {
    const bad = Object.fromEntries(
      Array.from({ length: invalidPageSize }, (_, index) => [`storage/human_members/zz-bad-${String(index).padStart(2, '0')}.yml`, 'name: [\n']),
    );
    await writeFiles(work.dir, bad);
    await service.context.reconciler!.run('test');
    const filesOn = (text: string) => [...text.matchAll(/<li><code class="file">([^<]+)<\/code>/g)].map((match) => match[1]);
    const first = await open('/sync');
    expect(first.text).toContain(`Invalid files (${invalidPageSize + 2})`);
    const shown = filesOn(first.text);
    expect(shown).toHaveLength(invalidPageSize);
    expect(shown.slice(0, 3)).toEqual(['human_members/&lt;img src=x onerror=alert(1)&gt;.yml', 'human_members/broken.yml', 'human_members/zz-bad-00.yml']);
    const next = /<a href="(\/sync\?cursor=[\w-]+)" rel="next">/.exec(first.text)![1]!;
    const second = await open(next);
    expect(filesOn(second.text)).toEqual(['human_members/zz-bad-48.yml', 'human_members/zz-bad-49.yml']);
    expect(second.text).not.toContain('rel="next"');
    expect(second.text).toContain('<a href="/sync">← First page</a>');
    const odd = await open('/sync?cursor=not-a-cursor');
    expect(odd.status).toBe(200);
    expect(filesOn(odd.text)).toEqual(shown);
  });

  it('lists the first changes of the run asked for, and counts the rest', async () => {
    const team = Object.fromEntries(
      Array.from({ length: shownChanges + 3 }, (_, index) => [
        `storage/virtual_members/bot-${String(index).padStart(2, '0')}.yml`,
        virtual(`Bot ${String(index).padStart(2, '0')}`),
      ]),
    );
    await writeFiles(work.dir, team);
    const csrf = csrfOn((await open('/sync')).text)!;
    expect((await postForm('/sync', 'mika', { _csrf: csrf })).status).toBe(303);
    const { text } = await open('/sync?ran=1');
    expect([...text.matchAll(/<li>Created <a href="\/members\/virtual\/Bot%20\d\d">/g)]).toHaveLength(shownChanges);
    expect(text).toContain('and 3 more changes.');
  });
});
