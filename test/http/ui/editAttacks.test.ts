import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { hashPassword } from '../../../src/http/ui/password.js';
import { getMember } from '../../../src/registry/read.js';
import type { Service } from '../../../src/service.js';
import { folderStorage } from '../../../src/storage/folder.js';
import { engines, freshDatabase, type TestDatabase } from '../../helpers/databases.js';
import { tempDir, writeFiles } from '../../helpers/files.js';
import { serveForTest } from '../../helpers/service.js';

const password = 'mika-admin-パスワード-1';

/** Hostile and clumsy requests to the editor pages: each must end in a clear answer, never a 500 or a write where none belongs. */
describe.each(engines)('the web UI’s member editor under attack (%s)', (engine) => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let service: Service;
  let storageDir: string;
  let outside: string;
  let cookie = '';

  const open = async (url: string) => {
    const response = await fetch(`${service.url}${url}`, { headers: { cookie, 'accept-language': 'en' }, redirect: 'manual' });
    return { status: response.status, location: response.headers.get('location'), text: await response.text() };
  };
  const post = async (url: string, fields: Record<string, string>) => {
    const response = await fetch(`${service.url}${url}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'en' },
      body: new URLSearchParams(fields).toString(),
    });
    return { status: response.status, location: response.headers.get('location'), text: await response.text() };
  };
  const hiddenOn = (text: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(text)?.[1];
  const formOf = async (url: string) => {
    const { text } = await open(url);
    return { _csrf: hiddenOn(text, '_csrf')!, file: hiddenOn(text, 'file') ?? '', version: hiddenOn(text, 'version') ?? '', text };
  };
  const fileText = (key: string) => fs.readFile(path.join(storageDir, key), 'utf8');
  const humanForm = (values: Record<string, string>) => ({
    mode: 'form',
    name: '',
    role: '',
    skills: '',
    bio: '',
    contact_email: '',
    github_username: '',
    ...values,
  });

  beforeAll(async () => {
    db = await freshDatabase(engine);
    work = await tempDir();
    storageDir = path.join(work.dir, 'storage');
    outside = path.join(work.dir, 'outside');
    await writeFiles(storageDir, {
      'human_members/anchored.yml': 'name: &who Anchored\nrole: Engineer\nskills: [*who, Go]\n',
      'human_members/aliased.yml': 'name: Aliased\nrole: Engineer\n',
    });
    await fs.mkdir(outside);
    // The AI members' folder is a link that leads out of the storage folder: nothing may be written through it.
    await fs.symlink(outside, path.join(storageDir, 'virtual_members'));
    const users = `mika:admin:${await hashPassword(password)}`;
    service = await serveForTest(db, folderStorage(storageDir), (config) => {
      config.storage = { kind: 'folder', path: storageDir };
      config.watch = false;
      config.ui = loadConfig({ VECR_UI_USERS: users, VECR_SESSION_SECRET: 'a-test-session-secret-of-32-characters-or-more' }).ui;
    });
    const signedIn = await fetch(`${service.url}/signin`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user: 'mika', password }).toString(),
    });
    cookie = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
  });
  afterAll(async () => {
    await service?.close();
    await db?.close();
    await work?.remove();
  });

  it('leaves a field that holds an alias as written when the form does not change it', async () => {
    const form = await formOf('/members/human/Anchored/edit');
    const saved = await post('/members/human/Anchored/edit', {
      _csrf: form._csrf,
      file: form.file,
      version: form.version,
      ...humanForm({ name: 'Anchored', role: 'Lead', skills: 'Anchored\r\nGo' }),
    });
    expect(saved.status).toBe(303);
    expect(await fileText('human_members/anchored.yml')).toBe('name: &who Anchored\nrole: Lead\nskills: [*who, Go]\n');
  });

  it('shows the edit page of a file that turned into an alias bomb (the YAML editor only), without a 500', async () => {
    const bomb = [
      'name: Aliased',
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...'bcdefghi'.split('').map((key, i) => `${key}: &${key} [${Array(10).fill(`*${'abcdefghi'[i]}`).join(', ')}]`),
      '',
    ].join('\n');
    await fs.writeFile(path.join(storageDir, 'human_members/aliased.yml'), bomb);
    const page = await open('/members/human/Aliased/edit');
    expect(page.status).toBe(200);
    expect(page.text).toContain('edit it as YAML below');
  });

  it('creates no file through a member folder that links out of the storage folder', async () => {
    const { _csrf } = await formOf('/members/new?kind=virtual');
    const created = await post('/members/new', { _csrf, kind: 'virtual', mode: 'yaml', yaml: 'name: Escapee\nllm_model: claude-sonnet-4-5\n' });
    expect(created.status).not.toBe(303);
    expect(await fs.readdir(outside)).toEqual([]);
    expect(await getMember(db, 'virtual', 'Escapee')).toBeUndefined();
  });

  it('answers 400 to a crafted file key with `..` or `.` parts, and touches nothing', async () => {
    await writeFiles(storageDir, { 'human_members/plain.yml': 'name: Plain\n' });
    const form = await formOf('/members/new?kind=human');
    for (const file of ['human_members/../human_members/plain.yml', 'human_members/./plain.yml', '/human_members/plain.yml', 'x//human_members/plain.yml']) {
      for (const mode of ['form', 'yaml']) {
        const saved = await post('/members/human/Plain/edit', {
          _csrf: form._csrf,
          file,
          version: '1',
          ...humanForm({ name: 'Plain', role: 'x' }),
          mode,
          yaml: 'name: Plain\nrole: x\n',
        });
        expect([file, mode, saved.status]).toEqual([file, mode, 400]);
      }
      const deleted = await post('/members/human/Plain/delete', { _csrf: form._csrf, file, version: '1' });
      expect([file, deleted.status]).toEqual([file, 400]);
    }
    expect(await fileText('human_members/plain.yml')).toBe('name: Plain\n');
  });

  it('writes nothing for a form posted without a session, even where the API is open to this machine', async () => {
    for (const sessionCookie of ['', 'vecr_session=expired-or-forged']) {
      const response = await fetch(`${service.url}/members/new`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: sessionCookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ kind: 'human', ...humanForm({ name: 'Ghost' }) }).toString(),
      });
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/signin');
    }
    await expect(fs.stat(path.join(storageDir, 'human_members/ghost.yml'))).rejects.toThrow();
  });

  it('sends the other pages’ forms (sync now, delete a chat session) posted without a session to sign in too', async () => {
    for (const url of ['/sync', '/chat/sessions/any-session/delete']) {
      const response = await fetch(`${service.url}${url}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: '',
      });
      expect([url, response.status, response.headers.get('location')]).toEqual([url, 303, '/signin']);
    }
  });

  it('sends the language switch back to this site only: a tab or line break a browser drops cannot make `//elsewhere`', async () => {
    for (const next of ['/\t/evil.example', '/\n/evil.example', '/\r/evil.example', '/ /evil.example', '/\u3000']) {
      const response = await fetch(`${service.url}/lang/en?next=${encodeURIComponent(next)}`, { redirect: 'manual' });
      expect([next, response.status, response.headers.get('location')]).toEqual([next, 303, '/']);
    }
    const kept = await fetch(`${service.url}/lang/en?next=${encodeURIComponent('/members/human/%E4%BD%90%E8%97%A4?x=1')}`, { redirect: 'manual' });
    expect(kept.headers.get('location')).toBe('/members/human/%E4%BD%90%E8%97%A4?x=1');
  });
});
