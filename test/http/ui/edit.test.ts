import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { hashPassword } from '../../../src/http/ui/password.js';
import { getMember } from '../../../src/registry/read.js';
import type { Service } from '../../../src/service.js';
import { folderStorage } from '../../../src/storage/folder.js';
import type { Storage } from '../../../src/storage/types.js';
import { engines, freshDatabase, type TestDatabase } from '../../helpers/databases.js';
import { tempDir, virtual, writeFiles } from '../../helpers/files.js';
import { serveForTest } from '../../helpers/service.js';

const passwords = { mika: 'mika-admin-パスワード-1', rin: 'rin-viewer-password-2' };

/** Rin's file as she keeps it: aligned comments, a comment block, quotes. */
const rinFile = `# Rin — kept by hand
name: Rin                 # unique among humans
role: Backend engineer    # since 2024
skills: [TypeScript, PostgreSQL]

# How to reach her:
contact_email: "rin@example.com"
`;

describe.each(engines)('creating, editing and deleting members in the web UI (%s)', (engine) => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let service: Service;
  let storageDir: string;
  const cookies: Record<keyof typeof passwords, string> = { mika: '', rin: '' };
  /** Runs before each write to storage: a test makes another writer come first here. */
  let beforeWrite: (key: string) => Promise<void> = async () => {};

  const open = async (url: string, who: keyof typeof passwords = 'mika', language = 'en') => {
    const response = await fetch(`${service.url}${url}`, { headers: { cookie: cookies[who], 'accept-language': language }, redirect: 'manual' });
    return { status: response.status, location: response.headers.get('location'), text: await response.text() };
  };
  const post = async (url: string, fields: Record<string, string>, who: keyof typeof passwords = 'mika', language = 'en') => {
    const response = await fetch(`${service.url}${url}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: cookies[who], 'content-type': 'application/x-www-form-urlencoded', 'accept-language': language },
      body: new URLSearchParams(fields).toString(),
    });
    return { status: response.status, location: response.headers.get('location'), text: await response.text() };
  };
  const hiddenOn = (text: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(text)?.[1];
  /** The hidden fields of the edit page's forms: CSRF token, file and version. */
  const formOf = async (url: string, who: keyof typeof passwords = 'mika') => {
    const { text } = await open(url, who);
    return { _csrf: hiddenOn(text, '_csrf')!, file: hiddenOn(text, 'file') ?? '', version: hiddenOn(text, 'version') ?? '', text };
  };
  const fileText = (key: string) => fs.readFile(path.join(storageDir, key), 'utf8');
  const filesIn = async (folder: string) => (await fs.readdir(path.join(storageDir, folder))).sort();
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
    await writeFiles(storageDir, {
      'human_members/rin.yml': rinFile,
      'human_members/sparse.yml': 'name: Sparse\n',
      'virtual_members/kasen.yml': virtual('華扇', 'custom_prompt: |\n  Be kind.\n'),
    });
    const users = `mika:admin:${await hashPassword(passwords.mika)} rin:viewer:${await hashPassword(passwords.rin)}`;
    const folder = folderStorage(storageDir);
    const storage: Storage = { ...folder, write: async (key, content, condition) => (await beforeWrite(key), folder.write(key, content, condition)) };
    service = await serveForTest(db, storage, (config) => {
      config.storage = { kind: 'folder', path: storageDir };
      // No folder watch: the member tables follow the UI's writes by the registrar alone.
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
      cookies[user] = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
    }
  });
  afterAll(async () => {
    await service?.close();
    await db?.close();
    await work?.remove();
  });

  it('creates a member from the form: a file named after the name, registered, and the member page says so', async () => {
    const { _csrf, text } = await formOf('/members/new?kind=human');
    expect(text).toContain('<label for="field-name">Name <span class="required">(required)</span></label>');
    const created = await post('/members/new', { _csrf, kind: 'human', ...humanForm({ name: '佐藤 美香', role: 'デザイナー', skills: 'Figma\r\n書道\r\n' }) });
    expect(created.status).toBe(303);
    expect(created.location).toBe(`/members/human/${encodeURIComponent('佐藤 美香')}?saved=created`);
    expect(await fileText('human_members/佐藤-美香.yml')).toBe('name: 佐藤 美香\nrole: デザイナー\nskills: [Figma, 書道]\n');
    expect(await getMember(db, 'human', '佐藤 美香')).toMatchObject({ role: 'デザイナー', skills: ['Figma', '書道'], file_uri: 'human_members/佐藤-美香.yml' });
    const shown = await open(created.location!);
    expect(shown.text).toContain('Created: written to the file human_members/佐藤-美香.yml and registered.');
    expect(shown.text).toContain('<dd>デザイナー</dd>');

    // Another name with the same file name stem gets the next free file name; nothing is overwritten.
    const second = await post('/members/new', { _csrf, kind: 'human', ...humanForm({ name: '佐藤・美香' }) });
    expect(second.status).toBe(303);
    expect(await filesIn('human_members')).toEqual(['rin.yml', 'sparse.yml', '佐藤-美香-2.yml', '佐藤-美香.yml']);
    expect(await fileText('human_members/佐藤-美香.yml')).toContain('role: デザイナー');
  });

  it('creates an AI member from raw YAML, comments and all', async () => {
    const { _csrf } = await formOf('/members/new?kind=virtual');
    const yaml = '# 新人レビュアー\r\nname: 葵\r\nllm_model: claude-sonnet-4-5  # 速い\r\nsystem_prompt: |\r\n  丁寧に。\r\n';
    const created = await post('/members/new', { _csrf, kind: 'virtual', mode: 'yaml', yaml });
    expect(created.status).toBe(303);
    expect(await fileText('virtual_members/葵.yml')).toBe('# 新人レビュアー\nname: 葵\nllm_model: claude-sonnet-4-5  # 速い\nsystem_prompt: |\n  丁寧に。\n');
    expect(await getMember(db, 'virtual', '葵')).toMatchObject({ llm_model: 'claude-sonnet-4-5', system_prompt: '丁寧に。\n' });
  });

  it('refuses a name another file already has, in words, in English and Japanese; nothing is written', async () => {
    const { _csrf } = await formOf('/members/new?kind=human');
    const before = await filesIn('human_members');
    const refused = await post('/members/new', { _csrf, kind: 'human', ...humanForm({ name: 'Rin' }) });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain(
      'Not saved: the name “Rin” is already used by the member of the file human_members/rin.yml. Choose another name, or rename that member first.',
    );
    expect(refused.text).toMatch(/<ul class="problems" id="field-name-problems"><li>Another member’s file already has this name\./);
    const japanese = await post('/members/new', { _csrf, kind: 'human', ...humanForm({ name: 'Rin' }) }, 'mika', 'ja');
    expect(japanese.text).toContain('保存していません：「Rin」という名前は、ファイル human_members/rin.yml のメンバーがすでに使っています。');
    expect(await filesIn('human_members')).toEqual(before);
  });

  it('shows the registry’s refusal in words when another file took the name between the check and the write', async () => {
    const { _csrf } = await formOf('/members/new?kind=human');
    beforeWrite = async (key) => {
      beforeWrite = async () => {};
      await writeFiles(storageDir, { 'human_members/first.yml': 'name: Contested\n' });
      await service.context.registrar.submit([{ key: 'human_members/first.yml', kind: 'human' }]);
      expect(key).toBe('human_members/contested.yml');
    };
    const refused = await post('/members/new', { _csrf, kind: 'human', ...humanForm({ name: 'Contested' }) });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('The file human_members/contested.yml was written, but the registry refused it:');
    expect(refused.text).toContain(
      '<code>name</code> Another member’s file already has this name. <span class="hint">name: &quot;Contested&quot; is already the name of the member in human_members/first.yml',
    );
    expect(await getMember(db, 'human', 'Contested')).toMatchObject({ file_uri: 'human_members/first.yml' });
    const japanese = await post('/members/new', { _csrf, kind: 'human', ...humanForm({ name: 'Contested' }) }, 'mika', 'ja');
    expect(japanese.text).toContain('保存していません：「Contested」という名前は、ファイル human_members/first.yml のメンバーがすでに使っています。');
  });

  it('edits a field through the form: only that field’s text changes, comments and layout stay byte for byte', async () => {
    const form = await formOf('/members/human/Rin/edit');
    expect(form.file).toBe('human_members/rin.yml');
    expect(form.text).toContain('<input id="field-role" name="role" type="text" value="Backend engineer">');
    expect(form.text).toMatch(/<textarea id="field-skills" name="skills" aria-describedby="field-skills-hint" rows="4">\nTypeScript\nPostgreSQL<\/textarea>/);
    const saved = await post('/members/human/Rin/edit', {
      ...form,
      ...humanForm({ name: 'Rin', role: 'Tech lead', skills: 'TypeScript\r\nPostgreSQL', contact_email: 'rin@example.com' }),
    });
    expect(saved.status).toBe(303);
    expect(saved.location).toBe('/members/human/Rin?saved=updated');
    expect(await fileText('human_members/rin.yml')).toBe(rinFile.replace('role: Backend engineer    # since 2024', 'role: Tech lead    # since 2024'));
    expect(await getMember(db, 'human', 'Rin')).toMatchObject({ role: 'Tech lead' });
    expect((await open(saved.location!)).text).toContain('Saved: written to the file human_members/rin.yml and registered.');
  });

  it('edits an AI member’s prompt kept under custom_prompt, and renames in place', async () => {
    const form = await formOf(`/members/virtual/${encodeURIComponent('華扇')}/edit`);
    expect(form.text).toMatch(/<textarea id="field-system_prompt" name="system_prompt" rows="12">\nBe kind.\n<\/textarea>/);
    const saved = await post(`/members/virtual/${encodeURIComponent('華扇')}/edit`, {
      ...form,
      mode: 'form',
      name: '華扇改',
      role: '',
      llm_model: 'claude-sonnet-4-5',
      system_prompt: 'Be kind.\r\nBe brief.\r\n',
      personality_traits: '',
      expertise_areas: 'Rust',
    });
    expect(saved.location).toBe(`/members/virtual/${encodeURIComponent('華扇改')}?saved=updated`);
    expect(await fileText('virtual_members/kasen.yml')).toBe(
      'name: 華扇改\nllm_model: claude-sonnet-4-5\ncustom_prompt: |\n  Be kind.\n  Be brief.\nexpertise_areas: [Rust]\n',
    );
    expect(await getMember(db, 'virtual', '華扇')).toBeUndefined();
    expect(await getMember(db, 'virtual', '華扇改')).toMatchObject({ system_prompt: 'Be kind.\nBe brief.\n', expertise_areas: ['Rust'] });
  });

  it('refuses an invalid form with the problem at its field; the file is not touched', async () => {
    const form = await formOf('/members/human/Rin/edit');
    const before = await fileText('human_members/rin.yml');
    const refused = await post('/members/human/Rin/edit', {
      ...form,
      ...humanForm({ name: 'Rin', contact_email: 'not an address', github_username: '-bad-' }),
    });
    expect(refused.status).toBe(422);
    expect(refused.text).toContain('Not saved: the file would be invalid. Fix the problems marked below.');
    expect(refused.text).toMatch(
      /<input id="field-contact_email" name="contact_email" aria-invalid="true" aria-describedby="field-contact_email-problems" type="email" value="not an address">/,
    );
    expect(refused.text).toContain(
      '<ul class="problems" id="field-contact_email-problems"><li>This is not in the right format. <span class="hint">contact_email: is not a valid e-mail address</span></li></ul>',
    );
    expect(refused.text).toContain('id="field-github_username-problems"');
    expect(await fileText('human_members/rin.yml')).toBe(before);
  });

  it('refuses a new member without a name, at the name field, and writes no file', async () => {
    const { _csrf } = await formOf('/members/new?kind=virtual');
    const before = await filesIn('virtual_members');
    const refused = await post('/members/new', {
      _csrf,
      kind: 'virtual',
      mode: 'form',
      name: '  ',
      role: 'Reviewer',
      llm_model: '',
      system_prompt: '',
      personality_traits: '',
      expertise_areas: '',
    });
    expect(refused.status).toBe(422);
    expect(refused.text).toContain('<ul class="problems" id="field-name-problems"><li>This is required. <span class="hint">name: is required</span></li></ul>');
    expect(refused.text).toContain('id="field-llm_model-problems"');
    // What was typed stays in the form.
    expect(refused.text).toContain('<input id="field-role" name="role" type="text" value="Reviewer">');
    expect(await filesIn('virtual_members')).toEqual(before);
  });

  it('refuses invalid YAML with its line and column; the file is not touched', async () => {
    const form = await formOf('/members/human/Rin/edit');
    const before = await fileText('human_members/rin.yml');
    const refused = await post('/members/human/Rin/edit', { ...form, mode: 'yaml', yaml: 'name: Rin\nskils: [Go]\n' });
    expect(refused.status).toBe(422);
    expect(refused.text).toContain(
      '<li><span class="at">line 2, column 1</span> <code>skils</code> This is not a field of this kind of member. <span class="hint">skils: is not a field of a human member (did you mean skills?)</span></li>',
    );
    // What was typed stays in the editor, to be fixed.
    expect(refused.text).toContain('>\nname: Rin\nskils: [Go]\n</textarea>');
    const japanese = await post('/members/human/Rin/edit', { ...form, mode: 'yaml', yaml: 'name: [Rin\n' }, 'mika', 'ja');
    expect(japanese.text).toMatch(/<span class="at">\d+ 行 \d+ 列<\/span> YAML として正しくありません。/);
    expect(await fileText('human_members/rin.yml')).toBe(before);
  });

  it('refuses to save over a file changed in storage since the page was opened, and shows both versions', async () => {
    const form = await formOf('/members/human/Sparse/edit');
    await writeFiles(storageDir, { 'human_members/sparse.yml': 'name: Sparse\nrole: Changed on disk\n' });
    for (const mode of ['form', 'yaml'] as const) {
      const fields = mode === 'form' ? humanForm({ name: 'Sparse', role: 'Mine' }) : { mode, yaml: 'name: Sparse\nrole: Mine\n' };
      const refused = await post('/members/human/Sparse/edit', { ...form, ...fields });
      expect(refused.status).toBe(409);
      expect(refused.text).toContain(
        'Not saved: the file human_members/sparse.yml was changed in storage after you opened this page. Nothing was overwritten.',
      );
      expect(refused.text).toContain('<h3 id="theirs">Now in storage</h3><pre class="file">name: Sparse\nrole: Changed on disk\n</pre>');
      expect(refused.text).toContain('<h3 id="yours">Yours (not saved)</h3><pre class="file">name: Sparse\nrole: Mine\n</pre>');
      expect(await fileText('human_members/sparse.yml')).toBe('name: Sparse\nrole: Changed on disk\n');
      // Saving over it is a choice made on this page: its form carries the version now in storage.
      expect(hiddenOn(refused.text, 'version')).not.toBe(form.version);
    }
  });

  it('deletes a member after a confirmation: the file goes, and the registry follows', async () => {
    const confirm = await formOf(`/members/human/${encodeURIComponent('佐藤・美香')}/delete`);
    expect(confirm.text).toContain('Delete the file human_members/佐藤-美香-2.yml from storage? 佐藤・美香 leaves the registry with it.');
    const deleted = await post(`/members/human/${encodeURIComponent('佐藤・美香')}/delete`, confirm);
    expect(deleted.status).toBe(303);
    expect(deleted.location).toMatch(new RegExp(`^/\\?deleted=${encodeURIComponent('佐藤・美香')}&proof=[\\w-]+$`));
    expect(await filesIn('human_members')).not.toContain('佐藤-美香-2.yml');
    expect(await getMember(db, 'human', '佐藤・美香')).toBeUndefined();
    expect((await open(deleted.location!)).text).toContain('Deleted: the file of 佐藤・美香 was removed from storage, and 佐藤・美香 from the registry.');
    // A link made by anyone else says nothing was deleted: not for another name, nor without the proof.
    const proof = new URL(deleted.location!, 'http://x').searchParams.get('proof')!;
    for (const forged of [`/?deleted=${encodeURIComponent('Rin')}&proof=${proof}`, `/?deleted=${encodeURIComponent('佐藤・美香')}`, '/?deleted=ANY&proof=x']) {
      const page = await open(forged);
      expect(page.status).toBe(200);
      expect(page.text).not.toContain('Deleted:');
    }
  });

  it('does not delete a file changed since the confirmation was shown', async () => {
    const confirm = await formOf(`/members/human/${encodeURIComponent('佐藤 美香')}/delete`);
    await writeFiles(storageDir, { 'human_members/佐藤-美香.yml': 'name: 佐藤 美香\nrole: 変更済み\n' });
    const refused = await post(`/members/human/${encodeURIComponent('佐藤 美香')}/delete`, confirm);
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('Not deleted: the file human_members/佐藤-美香.yml was changed in storage after you opened this page.');
    expect(await fileText('human_members/佐藤-美香.yml')).toBe('name: 佐藤 美香\nrole: 変更済み\n');
  });

  it('takes a file deleted by someone else since the confirmation as deleted: the registry follows', async () => {
    const confirm = await formOf(`/members/virtual/${encodeURIComponent('葵')}/delete`);
    await fs.rm(path.join(storageDir, 'virtual_members/葵.yml'));
    const deleted = await post(`/members/virtual/${encodeURIComponent('葵')}/delete`, confirm);
    expect(deleted.status).toBe(303);
    expect(await getMember(db, 'virtual', '葵')).toBeUndefined();
  });

  it('shows a viewer no edit links, no edit pages, and refuses the viewer’s writes', async () => {
    expect((await open('/members/human/Rin', 'rin')).text).not.toContain('/edit"');
    expect((await open('/', 'rin')).text).not.toContain('/members/new');
    expect((await open('/members/human/Rin', 'mika')).text).toContain('<a href="/members/human/Rin/edit">Edit</a>');
    expect((await open('/members/human/Rin/edit', 'rin')).status).toBe(403);
    expect((await open('/members/new', 'rin')).status).toBe(403);
    const before = await fileText('human_members/rin.yml');
    const { _csrf } = await formOf('/members/human/Rin', 'rin');
    const viewer = await post('/members/human/Rin/edit', { _csrf, file: 'human_members/rin.yml', version: 'any', mode: 'yaml', yaml: 'name: Rin\n' }, 'rin');
    expect(viewer.status).toBe(403);
    const deleting = await post('/members/human/Rin/delete', { _csrf, file: 'human_members/rin.yml', version: 'any' }, 'rin');
    expect(deleting.status).toBe(403);
    expect(await fileText('human_members/rin.yml')).toBe(before);
  });

  it('refuses a write without the session’s CSRF token', async () => {
    const form = await formOf('/members/human/Rin/edit');
    const before = await fileText('human_members/rin.yml');
    for (const token of [undefined, 'forged']) {
      const { _csrf: _, ...rest } = form;
      const refused = await post('/members/human/Rin/edit', { ...rest, ...(token ? { _csrf: token } : {}), mode: 'yaml', yaml: 'name: Rin\nrole: Hijacked\n' });
      expect(refused.status).toBe(403);
      expect(refused.text).toContain('<h2>This form has expired</h2>');
    }
    const { _csrf: _, ...withoutToken } = form;
    expect((await post('/members/new', { ...withoutToken, kind: 'human', ...humanForm({ name: 'Intruder' }) })).status).toBe(403);
    expect(await fileText('human_members/rin.yml')).toBe(before);
    expect(await filesIn('human_members')).not.toContain('intruder.yml');
  });

  it('shows empty optional fields blank, on the member page and in its form, never “undefined” or “null”', async () => {
    const { text } = await open('/members/human/Sparse');
    const fields = /<dl class="fields">[\s\S]*<\/dl>/.exec(text)![0];
    expect(fields).not.toMatch(/undefined|null/);
    expect(fields).toContain('<dt>Role</dt><dd></dd>');
    const form = await open('/members/human/Sparse/edit');
    expect(form.status).toBe(200);
    const fieldsOfForm = /<form class="member"[\s\S]*?<\/form>/.exec(form.text)![0];
    expect(fieldsOfForm).not.toMatch(/undefined|null/);
    expect(fieldsOfForm).toContain('<input id="field-github_username" name="github_username" type="text" value="">');
    expect(fieldsOfForm).toMatch(/<textarea id="field-bio" name="bio" rows="4">\n<\/textarea>/);
  });
});
