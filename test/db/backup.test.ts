import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreBackup, writeBackup } from '../../src/db/backup.js';
import type { Db } from '../../src/db/types.js';
import { applyChanges } from '../../src/registry/apply.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { readFile, tempDir } from '../helpers/files.js';

const run = promisify(execFile);
const hasPsql = await run('psql', ['--version']).then(
  () => true,
  () => false,
);

async function backupText(db: Db): Promise<string> {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  await writeBackup(db, sink, db.description);
  return chunks.join('');
}

/** Everything a restore must bring back: every row of every table, and the sequences. */
async function stateOf(db: Db) {
  const state: Record<string, unknown> = {};
  for (const table of ['human_members', 'virtual_members', 'member_files', 'sync_runs', 'registry_state', 'vecr_migrations']) {
    const { rows } = await db.query<{ rows: string | null }>(`SELECT json_agg(t)::text AS rows FROM (SELECT * FROM ${table} ORDER BY 1) t`);
    state[table] = JSON.parse(rows[0]!.rows ?? '[]');
  }
  for (const sequence of ['human_members_id_seq', 'virtual_members_id_seq', 'sync_runs_id_seq']) {
    state[sequence] = (await db.query(`SELECT last_value::text, is_called FROM ${sequence}`)).rows[0];
  }
  return state;
}

const tricky = `name: "O'Brien \\\\ \\"quoted\\""
role: "Back\\\\slash; -- dash"
skills: ["a,b", "{braces}", "quote\\"d", "NULL", "", "日本語"]
bio: "Line one;\\n\\tTab\\n-- not a comment\\nCOMMIT;\\n"
contact_email: ob@example.com
`;

async function populate(db: Db) {
  await db.transaction((tx) =>
    applyChanges(
      tx,
      {
        files: [
          readFile('human_members/ob.yml', tricky),
          readFile('human_members/plain.yml', 'name: Plain\n'),
          readFile('human_members/gone.yml', 'name: Gone\n'),
          readFile('virtual_members/kasen.yml', 'name: 華扇\nllm_model: m\npersonality_traits: [calm]\nsystem_prompt: "multi\\nline"\n'),
          readFile('virtual_members/bad.yml', 'name: Bad\n'),
        ],
      },
      'file_uri',
    ),
  );
  await db.transaction((tx) => applyChanges(tx, { deletes: ['human_members/gone.yml'] }, 'file_uri'));
  await db.query("INSERT INTO human_members (name, skills) VALUES ('Legacy', '{}')");
  await db.query(
    "INSERT INTO sync_runs (trigger, started_at, created, updated, unchanged, deleted, invalid) VALUES ('test', '2026-01-02 03:04:05.123456+00', 1, 2, 3, 4, 5)",
  );
}

describe.each(engines)('backup and restore on %s', (engine) => {
  let source: TestDatabase;
  let backup: string;
  beforeAll(async () => {
    source = await freshDatabase(engine);
    await populate(source);
    backup = await backupText(source);
  });
  afterAll(() => source?.close());

  it('round-trips exactly: ids, timestamps, arrays, text, JSON and sequences', async () => {
    const target = await freshDatabase(engine, { empty: true });
    try {
      await restoreBackup(target, backup);
      const restored = await stateOf(target);
      expect(restored).toEqual(await stateOf(source));
      expect((restored.human_members as Array<{ name: string }>).map((m) => m.name)).toContain('O\'Brien \\ "quoted"');
      // The sequences continue where they were: a new member gets the next id, not a used one.
      await target.query("INSERT INTO human_members (name) VALUES ('Next')");
      const ids = await target.query<{ id: number }>("SELECT id FROM human_members WHERE name = 'Next'");
      expect(ids.rows[0]!.id).toBe(5);
    } finally {
      await target.close();
    }
  });

  it('counts the rows of every table it writes, whatever the table is called', async () => {
    const db = await freshDatabase(engine);
    try {
      await db.query('CREATE TABLE "__proto__" (x int PRIMARY KEY)');
      await db.query('INSERT INTO "__proto__" VALUES (1), (2)');
      const { tables } = await writeBackup(db, new Writable({ write: (_chunk, _encoding, done) => done() }), db.description);
      // biome-ignore lint/complexity/useLiteralKeys: a table named __proto__ is the point: an own key, not the prototype
      // biome-ignore lint/suspicious/noProto: as above
      expect(Object.hasOwn(tables, '__proto__') && tables['__proto__']).toBe(2);
      // A table without a primary key cannot be paged through: refused before anything is written.
      await db.query('CREATE TABLE notes (body text)');
      let written = '';
      const sink = new Writable({
        write(chunk, _encoding, done) {
          written += String(chunk);
          done();
        },
      });
      await expect(writeBackup(db, sink, db.description)).rejects.toThrow('cannot back up table "notes": no one-column primary key');
      await db.query('DROP TABLE notes');
      // Nor by a key of two columns: paging by the first would skip rows.
      await db.query('CREATE TABLE pairs (a int, b int, PRIMARY KEY (a, b))');
      await expect(writeBackup(db, sink, db.description)).rejects.toThrow('cannot back up table "pairs": no one-column primary key');
      expect(written).toBe('');
    } finally {
      await db.close();
    }
  });

  it('refuses to restore into a database that is not empty, and changes nothing', async () => {
    const target = await freshDatabase(engine);
    try {
      await expect(restoreBackup(target, backup)).rejects.toThrow(/not empty/);
      expect((await target.query('SELECT * FROM human_members')).rows).toEqual([]);
    } finally {
      await target.close();
    }
  });

  it('restores all or nothing: a broken backup leaves the database empty', async () => {
    const target = await freshDatabase(engine, { empty: true });
    try {
      const broken = backup.replace('INSERT INTO "virtual_members"', 'INSERT INTO "no_such_table"');
      await expect(restoreBackup(target, broken)).rejects.toThrow();
      const tables = await target.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
      expect(tables.rows).toEqual([]);
    } finally {
      await target.close();
    }
  });

  // With a server to restore into, psql must take the backup of either engine.
  if (engines.includes('postgres'))
    it('is plain SQL that psql restores into a PostgreSQL server', async () => {
      expect(hasPsql, 'psql is installed').toBe(true);
      const target = await freshDatabase('postgres', { empty: true });
      const { dir, remove } = await tempDir();
      try {
        const file = path.join(dir, 'backup.sql');
        await fs.writeFile(file, backup);
        await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', target.url!, '-f', file]);
        expect(await stateOf(target)).toEqual(await stateOf(source));
      } finally {
        await target.close();
        await remove();
      }
    });
});
