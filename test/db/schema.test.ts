import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrate, NewerSchemaError, schemaStatus } from '../../src/db/migrate.js';
import { folderStorage } from '../../src/storage/folder.js';
import { syncStorage } from '../../src/sync/reconcile.js';
import { engines, freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { tempDir, writeFiles } from '../helpers/files.js';

/** D2 and D3 of the design document, as information_schema reports them. */
const common = {
  id: ['integer', null, 'NO'],
  name: ['character varying', 255, 'NO'],
  role: ['character varying', 255, 'YES'],
  file_uri: ['character varying', 512, 'YES'],
  created_at: ['timestamp without time zone', null, 'YES'],
  updated_at: ['timestamp without time zone', null, 'YES'],
};
const expected = {
  human_members: {
    ...common,
    skills: ['ARRAY', null, 'YES'],
    bio: ['text', null, 'YES'],
    contact_email: ['character varying', 255, 'YES'],
    github_username: ['character varying', 255, 'YES'],
  },
  virtual_members: {
    ...common,
    llm_model: ['character varying', 255, 'NO'],
    system_prompt: ['text', null, 'YES'],
    personality_traits: ['ARRAY', null, 'YES'],
    expertise_areas: ['ARRAY', null, 'YES'],
  },
};
const order = {
  human_members: ['id', 'name', 'role', 'skills', 'bio', 'contact_email', 'github_username', 'file_uri', 'created_at', 'updated_at'],
  virtual_members: ['id', 'name', 'role', 'llm_model', 'system_prompt', 'personality_traits', 'expertise_areas', 'file_uri', 'created_at', 'updated_at'],
};

describe.each(engines)('schema on %s', (engine) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase(engine);
  });
  afterAll(() => db?.close());

  it.each(['human_members', 'virtual_members'] as const)('%s matches the design document column for column', async (table) => {
    const { rows } = await db.query<{
      column_name: string;
      data_type: string;
      len: number | null;
      is_nullable: string;
      column_default: string | null;
      udt_name: string;
    }>(
      `SELECT column_name, data_type, character_maximum_length AS len, is_nullable, column_default, udt_name
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    );
    expect(rows.map((r) => r.column_name)).toEqual(order[table]);
    for (const row of rows) {
      expect([row.data_type, row.len, row.is_nullable], row.column_name).toEqual(expected[table][row.column_name as keyof (typeof expected)[typeof table]]);
    }
    const arrays = rows.filter((r) => r.data_type === 'ARRAY').map((r) => r.udt_name);
    expect(new Set(arrays)).toEqual(new Set(['_text']));
    expect(rows.find((r) => r.column_name === 'id')!.column_default).toMatch(/^nextval\(/);
    expect(rows.find((r) => r.column_name === 'created_at')!.column_default).toBe('CURRENT_TIMESTAMP');
    expect(rows.find((r) => r.column_name === 'updated_at')!.column_default).toBe('CURRENT_TIMESTAMP');
  });

  it.each(['human_members', 'virtual_members'] as const)('%s has id as primary key, name unique and a unique index on file_uri', async (table) => {
    const constraints = await db.query<{ constraint_type: string; column_name: string }>(
      `SELECT tc.constraint_type, k.column_name FROM information_schema.table_constraints tc
       JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name AND k.table_name = tc.table_name
       WHERE tc.table_schema = 'public' AND tc.table_name = $1 ORDER BY 1, 2`,
      [table],
    );
    expect(constraints.rows).toEqual([
      { constraint_type: 'PRIMARY KEY', column_name: 'id' },
      { constraint_type: 'UNIQUE', column_name: 'name' },
    ]);
    const indexes = await db.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%(file_uri)%'`, [table]);
    expect(indexes.rows).toHaveLength(1);
    expect(indexes.rows[0]!.indexdef).toMatch(/^CREATE UNIQUE INDEX/);
  });

  it('keeps its own bookkeeping out of the member tables', async () => {
    const { rows } = await db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
    expect(rows.map((r) => r.table_name)).toEqual([
      'forgotten_files',
      'human_members',
      'human_members_departed',
      'member_files',
      'registry_state',
      'signed_out_sessions',
      'storage_events',
      'sync_runs',
      'vecr_migrations',
      'virtual_members',
      'virtual_members_departed',
    ]);
  });

  it('applies migrations once: a second run is a no-op and the schema reports current', async () => {
    expect(await migrate(db)).toEqual([]);
    const status = await schemaStatus(db);
    expect(status.current).toBe(true);
    expect(status.applied).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('takes over a database the original service built: its tables and rows stay, and files adopt the rows', async () => {
    const original = await freshDatabase(engine, { empty: true });
    const work = await tempDir();
    try {
      // The tables as D2/D3 describe them, before file_uri was used, with a member in each.
      await original.exec(`
        CREATE TABLE human_members (id SERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL UNIQUE, role VARCHAR(255), skills TEXT[], bio TEXT,
          contact_email VARCHAR(255), github_username VARCHAR(255), created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
        CREATE TABLE virtual_members (id SERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL UNIQUE, role VARCHAR(255), llm_model VARCHAR(255) NOT NULL,
          system_prompt TEXT, personality_traits TEXT[], expertise_areas TEXT[], file_uri VARCHAR(512), created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
        INSERT INTO human_members (name, role, created_at) VALUES ('Rin', 'Founder', '2024-01-02 03:04:05');
        INSERT INTO virtual_members (name, llm_model) VALUES ('華扇', 'claude-sonnet-4-5');`);
      expect((await migrate(original)).map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await writeFiles(work.dir, { 'human_members/rin.yml': 'name: Rin\nrole: Engineer\n' });
      expect(await syncStorage(original, folderStorage(work.dir), { key: 'file_uri' })).toMatchObject({ updated: 1, invalid: 0 });
      const { rows } = await original.query<{ id: number; role: string; file_uri: string; created_at: string }>(
        'SELECT id, role, file_uri, created_at::text FROM human_members',
      );
      expect(rows).toEqual([{ id: 1, role: 'Engineer', file_uri: 'human_members/rin.yml', created_at: '2024-01-02 03:04:05' }]);
      expect((await original.query('SELECT name FROM virtual_members')).rows).toEqual([{ name: '華扇' }]);
    } finally {
      await original.close();
      await work.remove();
    }
  });

  it('refuses a database migrated by a newer vecr, naming both versions, and writes nothing to it', async () => {
    const newer = await freshDatabase(engine, { empty: true });
    try {
      const known = Math.max(...(await loadMigrations()).map((m) => m.version));
      const future = known + 3;
      // What a newer vecr leaves: its migrations recorded (here alone, so that any write shows).
      await newer.exec(`CREATE TABLE vecr_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
        INSERT INTO vecr_migrations (version, name) VALUES (${future}, 'from_the_future');`);
      const refusal = await migrate(newer).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refusal).toBeInstanceOf(NewerSchemaError);
      expect((refusal as Error).message).toBe(
        `${newer.description} is at schema version ${future}, migrated by a newer vecr; this vecr knows schema versions up to ${known}: upgrade vecr (or restore a backup taken before the upgrade)`,
      );
      const tables = await newer.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
      expect(tables.rows).toEqual([{ table_name: 'vecr_migrations' }]);
      expect((await newer.query('SELECT version FROM vecr_migrations')).rows).toEqual([{ version: future }]);
      expect(await schemaStatus(newer)).toMatchObject({ current: false, applied: [future], newer: { version: future, known } });
    } finally {
      await newer.close();
    }
  });

  it('reports an empty database as not current', async () => {
    const empty = await freshDatabase(engine, { empty: true });
    try {
      const status = await schemaStatus(empty);
      expect(status.current).toBe(false);
      expect(status.pending.map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect((await migrate(empty)).map((m) => m.name)).toEqual([
        'members',
        'member_files',
        'storage_events',
        'member_files_key_order',
        'outside_writes',
        'forgotten_files',
        'storage_events_of_known_files',
        'departed_members',
        'signed_out_sessions',
      ]);
      expect((await schemaStatus(empty)).current).toBe(true);
    } finally {
      await empty.close();
    }
  });
});
