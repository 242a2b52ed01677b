import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../../src/service.js';
import { folderStorage } from '../../src/storage/folder.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { tempDir, writeFiles } from '../helpers/files.js';
import { get, serveForTest } from '../helpers/service.js';

describe.each(engines)('read API on %s', (engine) => {
  let db: TestDatabase;
  let service: Service;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let api: string;
  beforeAll(async () => {
    db = await freshDatabase(engine);
    work = await tempDir();
    const files: Record<string, string> = {
      'human_members/rin.yml': 'name: Rin\nrole: Backend engineer\nskills: [TypeScript, PostgreSQL]\n',
      'human_members/syota.yml': 'name: Syota\nrole: Founder\nskills: [typescript, AWS]\n',
      'human_members/bad.yml': 'name: Bad\nskils: [x]\n',
      'virtual_members/kasen.yml': 'name: 華扇\nrole: Code reviewer\nllm_model: claude-sonnet-4-5\nexpertise_areas: [code review, Python]\n',
      'virtual_members/darcy.yml': 'name: Darcy\nrole: Product manager\nllm_model: gpt-4o\nexpertise_areas: [planning]\n',
    };
    for (let i = 0; i < 7; i++) files[`human_members/p${i}.yml`] = `name: Person ${i}\nrole: Tester\n`;
    await writeFiles(work.dir, files);
    service = await serveForTest(db, folderStorage(work.dir), (config) => void (config.storage = { kind: 'folder', path: work.dir }));
    api = `${service.url}/api`;
  });
  afterAll(async () => {
    await service?.close();
    await db?.close();
    await work?.remove();
  });

  it('lists members with every column, by name', async () => {
    const { status, body } = await get(`${api}/members/virtual`);
    expect(status).toBe(200);
    expect(body.members.map((m: { name: string }) => m.name)).toEqual(['Darcy', '華扇']);
    expect(Object.keys(body.members[0])).toEqual([
      'id',
      'name',
      'role',
      'llm_model',
      'system_prompt',
      'personality_traits',
      'expertise_areas',
      'file_uri',
      'created_at',
      'updated_at',
    ]);
    expect(body.next_cursor).toBeNull();
  });

  it('filters by part of the name, role, skill and expertise', async () => {
    const names = async (query: string, kind = 'human') => (await get(`${api}/members/${kind}?${query}`)).body.members.map((m: { name: string }) => m.name);
    expect(await names('q=yot')).toEqual(['Syota']);
    expect(await names('q=%25')).toEqual([]);
    expect(await names('role=backend%20engineer')).toEqual(['Rin']);
    expect(await names('skill=TypeScript')).toEqual(['Rin', 'Syota']);
    expect(await names('expertise=python', 'virtual')).toEqual(['華扇']);
  });

  it('pages with limit and an opaque cursor, and refuses a forged one', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { body: { members: Array<{ name: string }>; next_cursor: string | null } } = await get(
        `${api}/members/human?limit=4${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.body.members.map((m) => m.name));
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(['Person 0', 'Person 1', 'Person 2', 'Person 3', 'Person 4', 'Person 5', 'Person 6', 'Rin', 'Syota']);
    expect((await get(`${api}/members/human?cursor=forged`)).body.error.code).toBe('bad_cursor');
    expect((await get(`${api}/members/human?limit=0`)).status).toBe(400);
  });

  it('shows one member, and 404 in the error shape for an unknown one', async () => {
    expect((await get(`${api}/members/virtual/${encodeURIComponent('華扇')}`)).body).toMatchObject({ name: '華扇', llm_model: 'claude-sonnet-4-5' });
    const missing = await get(`${api}/members/human/Nobody`);
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect((await get(`${service.url}/no/such/route`)).body.error.code).toBe('not_found');
  });

  it('a name that matches none suggests the members it nearly names (case aside, or part of a name)', async () => {
    expect((await get(`${api}/members/human/rin`)).body.error.message).toBe('no human member named "rin" (did you mean Rin?)');
    expect((await get(`${api}/members/virtual/${encodeURIComponent('華')}`)).body.error.message).toBe('no AI member named "華" (did you mean 華扇?)');
    expect((await get(`${api}/members/human/person`)).body.error.message).toBe('no human member named "person" (did you mean Person 0, Person 1 or Person 2?)');
    expect((await get(`${api}/members/human/Nobody`)).body.error.message).toBe('no human member named "Nobody"');
  });

  it('answers 400 in the error shape for text the database cannot hold, and for a URL it cannot decode', async () => {
    const cursorAfter = (after: string) => Buffer.from(JSON.stringify({ after })).toString('base64url');
    for (const url of [
      `${api}/members/human?q=%00`,
      `${api}/members/human?role=a%00b`,
      `${api}/members/human?skill=%00`,
      `${api}/members/human/%00`,
      `${api}/members/human?cursor=${cursorAfter('\u0000')}`,
      `${api}/members/virtual?cursor=${cursorAfter('\ud800')}`,
      `${api}/sync/errors?cursor=${cursorAfter('\u0000')}`,
      `${api}/members/virtual/a%00/context?session_id=s1`,
      `${api}/members/human/%E8`,
    ]) {
      const { status, body } = await get(url);
      expect({ url, status }).toEqual({ url, status: 400 });
      expect(body.error).toEqual(expect.objectContaining({ code: expect.any(String), message: expect.any(String) }));
    }
    expect((await get(`${api}/members/human/%E8`)).body.error.code).toBe('bad_url');
    // The service is still answering.
    expect((await get(`${api}/members/human/Rin`)).status).toBe(200);
  });

  it('reports sync status and invalid files', async () => {
    const status = await get(`${api}/sync/status`);
    expect(status.body).toMatchObject({
      last_sync: { trigger: expect.stringMatching(/^(start|test)$/), invalid: 1 },
      members: { human_members: 9, virtual_members: 2 },
      invalid_files: 1,
    });
    const errors = await get(`${api}/sync/errors?limit=10`);
    expect(errors.body.errors).toMatchObject([{ file_uri: 'human_members/bad.yml', errors: [{ field: 'skils', line: 2, hint: 'did you mean skills?' }] }]);
  });

  it('answers /health and /ready', async () => {
    expect((await get(`${service.url}/health`)).body).toEqual({ status: 'ok' });
    expect((await get(`${service.url}/ready`)).body).toMatchObject({ status: 'ready', database: { status: 'ok' }, storage: { status: 'ok' } });
  });

  it('describes the whole API in /openapi.json, with a docs page', async () => {
    const { body } = await get(`${service.url}/openapi.json`);
    expect(body.openapi).toMatch(/^3\./);
    for (const path of [
      '/webhook/storage',
      '/webhook/file-change',
      '/api/members/human',
      '/api/members/virtual/{name}',
      '/api/sync/status',
      '/api/sync/errors',
      '/health',
      '/ready',
    ]) {
      expect(Object.keys(body.paths)).toContain(path);
    }
    expect(body.paths['/api/members/human'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['q', 'role', 'skill', 'limit', 'cursor']),
    );
    const docs = await get(`${service.url}/docs/`);
    expect(docs.status).toBe(200);
    expect(String(docs.body)).toContain('swagger');
  });
});
