import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { teamPageSize } from '../../../src/http/ui/members.js';
import type { Service } from '../../../src/service.js';
import { folderStorage } from '../../../src/storage/folder.js';
import { engines, freshDatabase, type TestDatabase } from '../../helpers/databases.js';
import { human, tempDir, virtual, writeFiles } from '../../helpers/files.js';
import { serveForTest } from '../../helpers/service.js';

const password = 'mika-admin-パスワード-1';
const hostile = '<script>alert(1)</script>';
const prompt = `You are Aoi, the reviewer.\n\n  Indented line kept.\n${'A very long line that must wrap on a phone. '.repeat(20)}`;

/** More members than one page holds, so that the list has a second page. */
const crowd = Object.fromEntries(
  Array.from({ length: teamPageSize + 5 }, (_, index) => {
    const name = `Crowd ${String(index).padStart(3, '0')}`;
    return [`storage/human_members/crowd-${index}.yml`, `name: ${name}\nrole: Tester\nskills: [QA]\n`];
  }),
);

describe.each(engines)('the member pages of the web UI (%s)', (engine) => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let service: Service;
  let cookie: string;

  /** A page as a signed-in browser gets it, in this language. */
  const open = async (path: string, language = 'en') => {
    const response = await fetch(`${service.url}${path}`, { headers: { cookie, 'accept-language': language }, redirect: 'manual' });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };
  /** The member names a list page shows, in order. */
  const namesOn = (text: string) => [...text.matchAll(/<td><a href="\/members\/(?:human|virtual)\/[^"]+">([^<]*)<\/a>/g)].map((match) => match[1]);

  beforeAll(async () => {
    db = await freshDatabase(engine);
    work = await tempDir();
    await writeFiles(work.dir, {
      'storage/human_members/kasen.yml':
        'name: 茨木華扇\nrole: Lead\nskills: [Rust, 書道]\nbio: "Line one.\\nLine two."\ncontact_email: kasen@example.com\ngithub_username: kasen\n',
      'storage/human_members/hostile.yml': human(JSON.stringify(hostile), `bio: '${hostile}'\n`),
      'storage/human_members/broken.yml': human('Broken'),
      'storage/virtual_members/aoi.yml': virtual(
        'Aoi',
        `role: Reviewer\nsystem_prompt: ${JSON.stringify(prompt)}\npersonality_traits: [calm, exact]\nexpertise_areas: [Code review, Rust]\n`,
      ),
      'storage/virtual_members/hanako.yml': 'name: 華子\nllm_model: gpt-4o\nrole: Lead\nexpertise_areas: [Design]\n',
      ...crowd,
    });
    service = await serveForTest(db, folderStorage(`${work.dir}/storage`), (config) => {
      config.storage = { kind: 'folder', path: `${work.dir}/storage` };
      config.ui = loadConfig({ ADMIN_USERNAME: 'mika', ADMIN_PASSWORD: password, VECR_SESSION_SECRET: 'a-test-session-secret-of-32-characters-or-more' }).ui;
    });
    // Broken's file turns invalid: the registry keeps its last good version.
    await writeFiles(work.dir, { 'storage/human_members/broken.yml': 'name: Broken\nrole: [not, a, role\n' });
    await service.context.reconciler!.run('test');
    const signedIn = await fetch(`${service.url}/signin`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user: 'mika', password }).toString(),
    });
    expect(signedIn.status).toBe(303);
    cookie = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
  });
  afterAll(async () => {
    await service?.close();
    await db?.close();
    await work?.remove();
  });

  it('sends a browser without a session to the sign-in page, from the list and from a member page', async () => {
    for (const path of ['/', '/?q=%E8%8F%AF', '/members/virtual/Aoi']) {
      const response = await fetch(`${service.url}${path}`, { redirect: 'manual' });
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/signin');
    }
  });

  it('lists humans and AI members in one view, by name, with their columns, under the pages’ policy', async () => {
    const { status, headers, text } = await open('/');
    expect(status).toBe(200);
    expect(headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(text).toContain(`${teamPageSize + 5 + 5} members`);
    const names = namesOn(text);
    expect(names).toHaveLength(teamPageSize);
    expect(names.slice(0, 3)).toEqual(['&lt;script&gt;alert(1)&lt;/script&gt;', 'Aoi', 'Broken']);
    expect(text).toMatch(
      /<td><a href="\/members\/virtual\/Aoi">Aoi<\/a><\/td><td class="kind">AI<\/td><td>Reviewer<\/td><td>Code review, Rust<\/td><td>claude-sonnet-4-5<\/td><td class="file">virtual_members\/aoi.yml<\/td><td><time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d<\/time><\/td><\/tr>/,
    );
    expect(text).toMatch(
      /<td><a href="\/members\/human\/Broken">Broken<\/a> <span class="badge">file invalid<\/span><\/td><td class="kind">Human<\/td><td>Engineer<\/td><td>TypeScript<\/td>/,
    );
    // The sign-out form stays on the home page.
    expect(text).toContain('Signed in as mika (administrator)');
    expect(text).toMatch(/<form method="post" action="\/signout"><input type="hidden" name="_csrf" value="[\w-]+">/);
    expect(text).not.toMatch(/<script|style=/);
  });

  it('shows one kind per tab, keeping the other parameters in the tab links', async () => {
    const humans = namesOn((await open('/?kind=human&sort=updated')).text);
    expect(humans).not.toContain('Aoi');
    expect(humans).toContain('Broken');
    const virtuals = await open('/?kind=virtual&q=a');
    expect(namesOn(virtuals.text)).toEqual(['Aoi']);
    expect(virtuals.text).toContain('<li><a href="/?kind=virtual&amp;q=a" aria-current="page">AI members</a></li>');
    expect(virtuals.text).toContain('<li><a href="/?q=a">Everyone</a></li>');
    expect(virtuals.text).toContain('<input type="hidden" name="kind" value="virtual">');
  });

  it('finds a Japanese name by a part of it, in both kinds', async () => {
    const { text } = await open(`/?q=${encodeURIComponent('華')}`);
    expect(namesOn(text)).toEqual(['茨木華扇', '華子']);
    expect(text).toContain('2 members');
    expect(text).toContain('<input name="q" type="search" value="華">');
  });

  it('filters by role, skill, expertise and model, case-insensitively', async () => {
    expect(namesOn((await open('/?role=lead')).text)).toEqual(['茨木華扇', '華子']);
    expect(namesOn((await open('/?skill=rust')).text)).toEqual(['茨木華扇']);
    expect(namesOn((await open('/?expertise=rust')).text)).toEqual(['Aoi']);
    expect(namesOn((await open('/?model=GPT-4o')).text)).toEqual(['華子']);
    expect(namesOn((await open('/?role=Lead&model=gpt-4o')).text)).toEqual(['華子']);
    const none = await open('/?q=nobody-is-called-this');
    expect(none.text).toContain('No member matches.');
    expect(none.text).toContain('0 members');
  });

  it('sorts by last change, newest first', async () => {
    // Aoi's file changes (a new trait): its row is the last one changed.
    await writeFiles(work.dir, {
      'storage/virtual_members/aoi.yml': virtual(
        'Aoi',
        `role: Reviewer\nsystem_prompt: ${JSON.stringify(prompt)}\npersonality_traits: [calm, exact, kind]\nexpertise_areas: [Code review, Rust]\n`,
      ),
    });
    await service.context.reconciler!.run('test');
    const { text } = await open('/?sort=updated');
    expect(namesOn(text)[0]).toBe('Aoi');
    expect(text).toContain('<option value="updated" selected>');
  });

  it('pages on the server: page links carry the filters, and the second page holds the rest', async () => {
    const first = await open('/?role=tester');
    expect(namesOn(first.text)).toHaveLength(teamPageSize);
    expect(first.text).toContain('Page 1 of 2');
    expect(first.text).toContain('<a href="/?role=tester&amp;page=2" rel="next">');
    const second = await open('/?role=tester&page=2');
    const rest = namesOn(second.text);
    expect(rest).toEqual(['Crowd 050', 'Crowd 051', 'Crowd 052', 'Crowd 053', 'Crowd 054']);
    expect(second.text).toContain('<a href="/?role=tester" rel="prev">');
    expect(second.text).not.toContain('rel="next"');
    const all = [...namesOn(first.text), ...rest];
    expect(new Set(all).size).toBe(teamPageSize + 5);
    // Past the end: no rows, the count still said.
    const past = await open('/?role=tester&page=9');
    expect(past.text).toContain(`${teamPageSize + 5} members`);
    expect(namesOn(past.text)).toEqual([]);
    // Parameters that mean nothing are left out, never an error.
    const odd = await open('/?page=abc&sort=evil&kind=robots&page=1e300');
    expect(odd.status).toBe(200);
    expect(namesOn(odd.text)).toHaveLength(teamPageSize);
    // The language switch comes back to the same search and page.
    expect(second.text).toContain(`href="/lang/ja?next=${encodeURIComponent('/?role=tester&page=2')}"`);
  });

  it('shows every field of an AI member, its long prompt wrapping, its file, times and sync state', async () => {
    const { status, text } = await open('/members/virtual/Aoi');
    expect(status).toBe(200);
    expect(text).toContain('<h2>Aoi <small>AI</small></h2>');
    expect(text).toContain('<dt>Model</dt><dd>claude-sonnet-4-5</dd>');
    expect(text).toContain(`<dt>System prompt</dt><dd class="long">${prompt.replace(/\s+$/, '')}`);
    expect(text).toContain('<dt>Traits</dt><dd><ul class="tags"><li>calm</li><li>exact</li><li>kind</li></ul></dd>');
    expect(text).toContain('<dt>Expertise</dt><dd><ul class="tags"><li>Code review</li><li>Rust</li></ul></dd>');
    expect(text).toContain('<dt>File</dt><dd class="file">virtual_members/aoi.yml</dd>');
    expect(text).toMatch(/<dt>Created<\/dt><dd><time datetime="\d{4}-/);
    expect(text).toContain('<dt>Sync state</dt><dd>in step with its file</dd>');
    const css = await (await fetch(`${service.url}/ui/static/style.css`)).text();
    expect(css).toMatch(/dd\.long \{[^}]*white-space: pre-wrap/);
  });

  it('shows every field of a human, by a Japanese name in the URL', async () => {
    const { status, text } = await open(`/members/human/${encodeURIComponent('茨木華扇')}`);
    expect(status).toBe(200);
    expect(text).toContain('<dt>Skills</dt><dd><ul class="tags"><li>Rust</li><li>書道</li></ul></dd>');
    expect(text).toContain('<dt>Bio</dt><dd class="long">Line one.\nLine two.</dd>');
    expect(text).toContain('<dt>Contact e-mail</dt><dd>kasen@example.com</dd>');
    expect(text).toContain('<dt>GitHub user</dt><dd>kasen</dd>');
    expect(text).toContain('<dt>Role</dt><dd>Lead</dd>');
  });

  it('shows an invalid file’s problems, at line and column, next to the last good data', async () => {
    const { text } = await open('/members/human/Broken');
    expect(text).toContain('The file has changed and its latest version is invalid');
    expect(text).toMatch(/<li><code>human_members\/broken.yml:\d+:\d+<\/code>[^<]* [^<]+<\/li>/);
    // The last good data: the role of the file before it broke.
    expect(text).toContain('<dt>Role</dt><dd>Engineer</dd>');
    expect(text).toContain('<dt>Sync state</dt><dd><span class="badge">file invalid</span></dd>');
  });

  it('escapes hostile member data on the list and on the member page', async () => {
    const list = await open(`/?q=${encodeURIComponent('<script>')}`);
    expect(list.text).not.toContain(hostile);
    expect(list.text).toContain(`<a href="/members/human/${encodeURIComponent(hostile)}">&lt;script&gt;alert(1)&lt;/script&gt;</a>`);
    expect(list.text).toContain('value="&lt;script&gt;"');
    const member = await open(`/members/human/${encodeURIComponent(hostile)}`);
    expect(member.status).toBe(200);
    expect(member.text).not.toContain(hostile);
    expect(member.text).toContain('<dt>Bio</dt><dd class="long">&lt;script&gt;alert(1)&lt;/script&gt;</dd>');
    const missing = await open(`/members/virtual/${encodeURIComponent(hostile)}`);
    expect(missing.status).toBe(404);
    expect(missing.text).not.toContain(hostile);
  });

  it('speaks Japanese and English', async () => {
    const ja = await open('/?kind=virtual', 'ja');
    expect(ja.text).toContain('<html lang="ja">');
    expect(ja.text).toContain('<h2>チーム</h2>');
    expect(ja.text).toContain('<label>名前に含む文字 <input name="q" type="search" value=""></label>');
    expect(ja.text).toContain('<th scope="col">モデル</th>');
    expect(ja.text).toContain('2 人');
    const jaMember = await open('/members/human/Broken', 'ja');
    expect(jaMember.text).toContain('ファイルが変更され、最新の版が無効です');
    expect(jaMember.text).toContain('<dt>役割</dt>');
    const en = await open('/members/human/Broken', 'en');
    expect(en.text).toContain('<html lang="en">');
    expect(en.text).toContain('<dt>Role</dt>');
    expect((await open('/members/human/nobody', 'ja')).text).toContain('「nobody」という名前のメンバーはいません。');
  });
});
