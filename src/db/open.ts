import type { DatabaseConfig } from '../config.js';
import { lockOwner } from './lock.js';
import { migrate } from './migrate.js';
import { embeddedDatabaseUrl, readPassword } from './password.js';
import type { Db } from './types.js';

/**
 * The configured server; or the embedded database — through `vecr serve` when a service holds
 * it and shares it (with the password it keeps beside the data folder), else opened here.
 */
async function connect(config: DatabaseConfig, brief: boolean): Promise<Db> {
  if (config.engine === 'postgres') return (await import('./postgres.js')).openPostgres(config.url);
  const owner = await lockOwner(config.dataDir);
  if (owner?.port) {
    const password = await readPassword(config.dataDir);
    return (await import('./postgres.js')).openPostgres(embeddedDatabaseUrl(owner.port, password));
  }
  return (await import('./pglite.js')).openPglite(config.dataDir, { brief });
}

export interface OpenOptions {
  /** Bring the schema up to date (the default). */
  migrate?: boolean;
  /** The process runs a few small queries and exits: an embedded database opened here is started as such (`PgliteOptions.brief`). */
  brief?: boolean;
}

/** Opens the configured database; with `migrate` (the default) brings its schema up to date. */
export async function openDatabase(config: DatabaseConfig, options: OpenOptions = {}): Promise<Db> {
  const db = await connect(config, options.brief ?? false);
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
