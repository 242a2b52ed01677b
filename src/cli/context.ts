import { loadConfig, type Config } from '../config.js';
import { openDatabase } from '../db/open.js';
import type { Db } from '../db/types.js';

export interface GlobalOptions {
  databaseUrl?: string;
  dataDir?: string;
}

/** The configuration, with the global command-line options over the environment. */
export function configFrom(options: GlobalOptions, baseEnv: NodeJS.ProcessEnv = process.env): Config {
  const env = { ...baseEnv };
  if (options.dataDir) env.VECR_DATA_DIR = options.dataDir;
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  return loadConfig(env);
}

/** Opens the database for one command and always closes it (D8: sessions are released). */
export async function withDatabase<T>(config: Config, fn: (db: Db) => Promise<T>, options: { migrate?: boolean } = {}): Promise<T> {
  const db = await openDatabase(config.database, options);
  let result: T;
  try {
    result = await fn(db);
  } catch (error) {
    // The command's failure is what the user needs to hear: a close that fails too (the server
    // gone) must not take its place.
    await db.close().catch(() => {});
    throw error;
  }
  await db.close();
  return result;
}
