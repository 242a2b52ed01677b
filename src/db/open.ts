import type { DatabaseConfig } from '../config.js';
import { migrate } from './migrate.js';
import type { Db } from './types.js';

/** Opens the configured database; with `migrate` (the default) brings its schema up to date. */
export async function openDatabase(config: DatabaseConfig, options: { migrate?: boolean } = {}): Promise<Db> {
  const db =
    config.engine === 'postgres'
      ? await (await import('./postgres.js')).openPostgres(config.url)
      : await (await import('./pglite.js')).openPglite(config.dataDir);
  if (options.migrate ?? true) {
    try {
      await migrate(db);
    } catch (error) {
      await db.close();
      throw error;
    }
  }
  return db;
}
