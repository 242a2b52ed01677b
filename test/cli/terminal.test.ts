import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { openPglite } from '../../src/db/pglite.js';
import type { Db } from '../../src/db/types.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { tempDir, writeFiles } from '../helpers/files.js';

// The CLI as users run it, in a process of its own (npm test builds first).
const bin = fileURLToPath(new URL('../../bin/vecr.js', import.meta.url));

function vecr(args: string[], cwd: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, env: { ...process.env, DATABASE_URL: '' } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** What must never reach a terminal raw: ESC (and so every escape sequence), CR, BEL, DEL, C1 controls, bidirectional overrides. */
const actsOnTerminal = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/;

// A row as an older tool could have written it, before names had to be one plain line: the title
// of the terminal window rewritten, the screen cleared, a name shown backwards.
const hostileName = 'Eve\u001b]0;pwned\u0007\u001b[2J';
const hostileRole = 'admin\r\u202Etoor';

describe.each(engines)('vecr output on a terminal, on %s', (engine) => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let database: TestDatabase | undefined;
  let target: string[];

  beforeAll(async () => {
    work = await tempDir();
    let db: Db;
    if (engine === 'pglite') {
      const dataDir = path.join(work.dir, 'data');
      db = await openPglite(path.join(dataDir, 'pgdata'));
      await migrate(db);
      target = ['--data-dir', dataDir];
    } else {
      database = await freshDatabase(engine);
      db = database;
      target = ['--database-url', database.url!];
    }
    await db.query('INSERT INTO human_members (name, role, bio) VALUES ($1, $2, $3)', [hostileName, hostileRole, 'line one\nline two \u009b31m']);
    if (engine === 'pglite') await db.close();
  });
  afterAll(async () => {
    await database?.close();
    await work?.remove();
  });

  it('members list and show print control characters as escapes, keeping a bio on its lines', async () => {
    const list = await vecr([...target, 'members', 'list', 'human'], work.dir);
    expect(list.code).toBe(0);
    expect(list.stdout).not.toMatch(actsOnTerminal);
    expect(list.stdout).toContain('Eve\\x1b]0;pwned\\x07\\x1b[2J');
    expect(list.stdout).toContain('admin\\x0d\\u202etoor');

    const show = await vecr([...target, 'members', 'show', hostileName], work.dir);
    expect(show.code).toBe(0);
    expect(show.stdout).not.toMatch(actsOnTerminal);
    expect(show.stdout).toMatch(/bio +line one\n +line two \\x9b31m/);
  });

  it('--json stays exact JSON and holds no character that acts on a terminal', async () => {
    const json = await vecr([...target, 'members', 'list', 'human', '--json'], work.dir);
    expect(json.stdout).not.toMatch(actsOnTerminal);
    expect(JSON.parse(json.stdout).human_members[0]).toMatchObject({ name: hostileName, role: hostileRole });
  });
});

describe('vecr validate on a terminal', () => {
  it('prints a hostile file name and field name as escapes', async () => {
    const { dir, remove } = await tempDir();
    try {
      const file = 'human_members/x\u001b[31m.yml';
      await writeFiles(dir, { [file]: 'name: A\n"ro\u001b[8mle": x\n' });
      const result = await vecr(['validate', path.join(dir, file)], dir);
      expect(result.code).toBe(1);
      expect(result.stderr).not.toMatch(actsOnTerminal);
      expect(result.stderr).toContain('x\\x1b[31m.yml:2:1: ro\\x1b[8mle: is not a field of a human member');
    } finally {
      await remove();
    }
  });
});

describe('vecr sync on a terminal', () => {
  it('prints hostile file names in its report and its errors as escapes', async () => {
    const { dir, remove } = await tempDir();
    try {
      await writeFiles(dir, {
        'storage/human_members/\u001b]0;pwned\u0007.yml': 'name: Rin\n',
        'storage/human_members/x\u001b[2J.yml': 'name: [not, a, name]\n',
      });
      const sync = await vecr(['--data-dir', path.join(dir, 'data'), 'sync'], dir);
      expect(sync.stdout + sync.stderr).not.toMatch(actsOnTerminal);
      // Both refused (a key must be a plain name, a name a string): the reasons quote the keys.
      expect(sync.stderr).toContain('human_members/\\x1b]0;pwned\\x07.yml');
      expect(sync.stderr).toContain('human_members/x\\x1b[2J.yml');

      // An error message quoting a file name, too.
      const show = await vecr(['--data-dir', path.join(dir, 'data'), 'members', 'show', 'Eve\u001b[2J'], dir);
      expect(show.code).toBe(1);
      expect(show.stderr).not.toMatch(actsOnTerminal);
      expect(show.stderr).toContain('Eve\\x1b[2J');
    } finally {
      await remove();
    }
  });
});
