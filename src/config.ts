import path from 'node:path';

/** How rows are matched to files when a member is registered (D6 / D7). */
export type UpsertKey = 'file_uri' | 'name';

export type DatabaseConfig =
  | { engine: 'postgres'; url: string }
  | { engine: 'pglite'; dataDir: string };

export interface Config {
  database: DatabaseConfig;
  /** Where member files live: a folder path. */
  storage: string;
  upsertKey: UpsertKey;
  /** Largest member file accepted, in bytes. */
  maxFileBytes: number;
  dataDir: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

/** Environment → one typed config object. With nothing set, everything is embedded. */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const dataDir = path.resolve(cwd, env.VECR_DATA_DIR || '.vecr');
  return {
    database: databaseConfig(env, dataDir),
    storage: path.resolve(cwd, env.VECR_STORAGE || 'storage'),
    upsertKey: parseUpsertKey(env.VECR_UPSERT_KEY || 'file_uri'),
    maxFileBytes: positiveInt('VECR_MAX_FILE_BYTES', env.VECR_MAX_FILE_BYTES, 1024 * 1024),
    dataDir,
  };
}

function databaseConfig(env: Env, dataDir: string): DatabaseConfig {
  if (env.DATABASE_URL) return { engine: 'postgres', url: env.DATABASE_URL };
  const parts = ['MEMBER_DB_HOST', 'MEMBER_DB_PORT', 'MEMBER_DB_NAME', 'MEMBER_DB_USER', 'MEMBER_DB_PASSWORD'];
  if (!parts.some((name) => env[name])) {
    return { engine: 'pglite', dataDir: path.join(dataDir, 'pgdata') };
  }
  const url = new URL('postgres://localhost');
  url.hostname = env.MEMBER_DB_HOST || 'localhost';
  url.port = env.MEMBER_DB_PORT || '5432';
  url.pathname = '/' + encodeURIComponent(env.MEMBER_DB_NAME || 'member_db');
  url.username = encodeURIComponent(env.MEMBER_DB_USER || 'postgres');
  if (env.MEMBER_DB_PASSWORD) url.password = encodeURIComponent(env.MEMBER_DB_PASSWORD);
  return { engine: 'postgres', url: url.toString() };
}

export function parseUpsertKey(value: string): UpsertKey {
  if (value === 'file_uri' || value === 'name') return value;
  throw new ConfigError(`upsert key must be "file_uri" or "name", not "${value}"`);
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`${name} must be a positive integer, not "${value}"`);
  return n;
}

/** A connection string safe to print: the password is masked. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable database URL)';
  }
}
