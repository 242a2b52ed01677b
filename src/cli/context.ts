import fs from 'node:fs/promises';
import path from 'node:path';
import { type Config, loadConfig } from '../config.js';
import { lockOwner } from '../db/lock.js';
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

export interface DatabaseUse {
  /** Apply pending migrations first (the default). */
  migrate?: boolean;
  /**
   * The command only reads: with no embedded database where the configuration points, it stops
   * and says where it looked, instead of creating an empty one and answering from it.
   */
  readOnly?: boolean;
  /** The command runs a few small queries and exits (`OpenOptions.brief`). */
  fewQueries?: boolean;
}

/** Opens the database for one command and always closes it (D8: sessions are released). */
export async function withDatabase<T>(config: Config, fn: (db: Db) => Promise<T>, options: DatabaseUse = {}): Promise<T> {
  await lookBeforeCreating(config, options.readOnly ?? false);
  const db = await openDatabase(config.database, { migrate: options.migrate, brief: options.fewQueries });
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

/**
 * A command run outside the project finds no `.vecr` where it runs: opening the embedded database
 * there would make a new, empty one. A command that only reads refuses, naming the folder; one
 * that writes makes it, and says so on standard error.
 */
async function lookBeforeCreating(config: Config, readOnly: boolean) {
  if (config.database.engine !== 'pglite') return;
  await lookBeforeCreatingStore(embeddedDatabase(config.database.dataDir), readOnly);
}

/** An embedded store (the database, the chat logs): what it is, its folder, and a file every one of them holds. */
export interface EmbeddedStore {
  what: string;
  folder: string;
  marker: string;
  /** The command that makes one. */
  maker: string;
  /** What to set for a server instead. */
  server: string;
}

export const embeddedDatabase = (folder: string): EmbeddedStore => ({
  what: 'embedded database',
  folder,
  marker: 'PG_VERSION',
  maker: 'vecr sync',
  server: 'DATABASE_URL for a PostgreSQL server',
});
export const embeddedChatStore = (config: Config): EmbeddedStore => ({
  what: 'embedded chat log store',
  folder: path.join(config.dataDir, 'chatlogs'),
  // LevelDB's, under dynalite.
  marker: 'CURRENT',
  maker: 'vecr chatlog init',
  server: 'CHATLOG_DYNAMODB_ENDPOINT for a DynamoDB',
});

/**
 * With no store in its folder, a command that only reads refuses, naming the folder; one that
 * writes makes it, and says so (and where) on standard error.
 */
export async function lookBeforeCreatingStore(store: EmbeddedStore, readOnly: boolean) {
  // A data folder that is a file is the opening's to report: it says which setting is wrong.
  if (
    await fs.stat(path.dirname(store.folder)).then(
      (stat) => !stat.isDirectory(),
      () => false,
    )
  )
    return;
  if (await embeddedStoreExists(store)) return;
  if (readOnly) throw new NoStoreError(noStoreMessage(store));
  process.stderr.write(`vecr: no ${store.what} in ${store.folder}: creating a new, empty one there (${whereToLook(store)})\n`);
}

/** Whether the store is in its folder, or a running `vecr serve` shares it. */
export async function embeddedStoreExists(store: EmbeddedStore): Promise<boolean> {
  if (
    await fs.stat(path.join(store.folder, store.marker)).then(
      () => true,
      () => false,
    )
  )
    return true;
  return (await lockOwner(store.folder)) !== undefined;
}

const whereToLook = (store: EmbeddedStore) =>
  `vecr uses ./.vecr of the folder it runs in: run it in the project folder, or set VECR_DATA_DIR (--data-dir), or ${store.server}`;

export function noStoreMessage(store: EmbeddedStore): string {
  return `no ${store.what} in ${store.folder}, so there is nothing to read (${whereToLook(store)}; ${store.maker} makes one)`;
}

/** A command that only reads found no store to read. */
export class NoStoreError extends Error {
  override name = 'NoStoreError';
}
