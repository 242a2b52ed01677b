import { describe, expect, it } from 'vitest';
import { loadMigrations, migrate, schemaStatus } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { freshDatabase } from '../helpers/databases.js';

// Two processes started together on an empty server database (replicas, a command beside
// `vecr serve`): both find migrations pending, one applies them under the lock, and the other,
// let in after it, must find them applied — not apply them again and fail on a duplicate version.
describe.runIf(process.env.TEST_DATABASE_URL)('migrating one database from two processes at once', () => {
  it('applies each migration once; both succeed, whichever waits', async () => {
    const known = (await loadMigrations()).length;
    for (let round = 0; round < 5; round++) {
      const database = await freshDatabase('postgres', { empty: true });
      const processes = await Promise.all([0, 1].map(() => openDatabase({ engine: 'postgres', url: database.url! }, { migrate: false })));
      try {
        const results = await Promise.allSettled(processes.map((db) => migrate(db)));
        expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled']);
        const applied = results.flatMap((result) => (result.status === 'fulfilled' ? result.value : []));
        expect(applied).toHaveLength(known);
        expect((await schemaStatus(database)).current).toBe(true);
      } finally {
        await Promise.all(processes.map((db) => db.close()));
        await database.close();
      }
    }
  });
});
