import { describe, expect, it } from 'vitest';
import { loadMigrations, migrate, migrationsTableSql } from '../../src/db/migrate.js';
import { engines, freshDatabase } from '../helpers/databases.js';

describe.each(engines)('storage_events on %s', (engine) => {
  it('migration 0007 drops the events of files the registry does not know, keeps the others, and from then on a file takes its event with it', async () => {
    const db = await freshDatabase(engine, { empty: true });
    try {
      // A database as vecr left it before 0007: an event recorded for a file that never existed.
      await db.transaction(async (tx) => {
        await tx.exec(migrationsTableSql);
        for (const migration of (await loadMigrations()).filter((m) => m.version < 7)) {
          await tx.exec(migration.sql);
          await tx.query('INSERT INTO vecr_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        }
      });
      await db.exec(`
        INSERT INTO member_files (file_uri, kind, status, member_name) VALUES ('human_members/rin.yml', 'human', 'registered', 'Rin');
        INSERT INTO storage_events (file_uri, sequencer, event_name) VALUES
          ('human_members/rin.yml', '10', 's3:ObjectCreated:Put'),
          ('human_members/ghost.yml', '${'F'.repeat(128)}', 's3:ObjectCreated:Put');`);
      expect((await migrate(db)).map((m) => m.version)).toEqual([7, 8, 9]);
      expect((await db.query('SELECT file_uri, sequencer FROM storage_events')).rows).toEqual([{ file_uri: 'human_members/rin.yml', sequencer: '10' }]);

      await expect(
        db.exec("INSERT INTO storage_events (file_uri, sequencer, event_name) VALUES ('human_members/ghost.yml', '1', 's3:ObjectCreated:Put')"),
      ).rejects.toThrow(/foreign key/);
      await db.exec("DELETE FROM member_files WHERE file_uri = 'human_members/rin.yml'");
      expect((await db.query('SELECT file_uri FROM storage_events')).rows).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
