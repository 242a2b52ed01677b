import type { DatabaseConfig } from '../config.js';
import { migrate } from './migrate.js';
import { lockOwner } from './lock.js';
import type { Db } from './types.js';

/**
 * The configured server; or the embedded database — through `vecr serve` when a service holds
 * it and shares it, else opened here.
 */
async function connect(config: DatabaseConfig): Promise<Db> {
  if (config.engine === 'postgres') return (await import('./postgres.js')).openPostgres(config.url);
  const owner = await lockOwner(config.dataDir);
  if (owner?.port) return (await import('./postgres.js')).openPostgres(`postgres://postgres@127.0.0.1:${owner.port}/member_db`);
  return (await import('./pglite.js')).openPglite(config.dataDir);
}

/** Opens the configured database; with `migrate` (the default) brings its schema up to date. */
export async function openDatabase(config: DatabaseConfig, options: { migrate?: boolean } = {}): Promise<Db> {
  const db = await connect(config);
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
