import { createHash } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';

/** How rows are matched to files when a member is registered (D6 / D7). */
export type UpsertKey = 'file_uri' | 'name';

export type DatabaseConfig = { engine: 'postgres'; url: string } | { engine: 'pglite'; dataDir: string };

export type StorageConfig =
  | { kind: 'folder'; path: string }
  | {
      kind: 's3';
      bucket: string;
      /** Keys below this prefix (no leading or trailing slash), or '' for the whole bucket. */
      prefix: string;
      /** MinIO, LocalStack, ...: path-style requests to this URL. AWS S3 when undefined. */
      endpoint?: string;
      region: string;
      credentials?: { accessKeyId: string; secretAccessKey: string };
      /**
       * How long one operation — a page of a listing, an object read whole, a head, a write — may
       * take, retries included, before it fails as unavailable (S3_REQUEST_TIMEOUT, default 10 s):
       * a bucket that stalls must not hold a sync, a reconcile or a webhook request forever.
       */
      requestTimeoutMs: number;
    };

export interface Config {
  database: DatabaseConfig;
  /** Where member files live. */
  storage: StorageConfig;
  upsertKey: UpsertKey;
  /** Largest member file accepted, in bytes. */
  maxFileBytes: number;
  dataDir: string;
  http: HttpConfig;
  /** Who may use the API (VECR_API_TOKENS); none configured: open, on loopback only. */
  access: AccessConfig;
  webhook: {
    /** When set, requests must carry `Authorization: Bearer TOKEN`. */
    authToken?: string;
    /** A repeat of an applied event (same sequencer) is a no-op; false re-processes it. */
    etagCheck: boolean;
    /** Events for other buckets are ignored. */
    bucket: string;
  };
  /** Full sync every so often to heal missed events; 0 turns it off. */
  reconcileIntervalMs: number;
  /** With folder storage, register changes as they happen (VECR_WATCH, default true). */
  watch: boolean;
  /** Port on which `vecr serve` shares the embedded database over the PostgreSQL protocol. */
  pgPort: number;
  chatlog: ChatlogConfig;
  /** Who may sign in to the web member manager, and how long a session lasts. */
  ui: UiConfig;
}

export interface HttpConfig {
  host: string;
  port: number;
  /** The whole request, headers and body, must arrive within this, else 408 and the connection closes. */
  requestTimeoutMs: number;
  /** The headers must arrive within this (also: a connection that sends nothing is closed after it). */
  headersTimeoutMs: number;
  /** A kept-alive connection with no request for this long is closed. */
  keepAliveTimeoutMs: number;
  /** Connections open at once; beyond this, new ones are closed as they come. */
  maxConnections: number;
  /** On SIGTERM, how long requests already received may take before their connections are cut. */
  shutdownTimeoutMs: number;
  /**
   * Proxies (addresses, CIDR ranges, or `loopback`, `linklocal`, `uniquelocal`) whose
   * X-Forwarded-For names the client: behind a load balancer, failed authentications are then
   * counted per client, not per balancer. Empty: the connection's address is the client's.
   */
  trustProxy: string[];
}

/** What a token lets its holder do (see src/http/access.ts). */
export const scopes = ['read', 'chat', 'admin'] as const;
export type Scope = (typeof scopes)[number];

export interface ApiToken {
  /** Logged instead of the token, and named in 403 answers. */
  name: string;
  scopes: Scope[];
  /** SHA-256 of the token: only the hash needs to be kept in the configuration. */
  sha256: Buffer;
  /** The token itself was in the configuration (warned about at start). */
  plain: boolean;
}

export interface AccessConfig {
  tokens: ApiToken[];
}

/** What a UI account may do: `admin` everything, `viewer` read only. */
export const uiRoles = { admin: ['read', 'chat', 'admin'], viewer: ['read'] } as const satisfies Record<string, readonly Scope[]>;
export type UiRole = keyof typeof uiRoles;

export interface UiAccount {
  name: string;
  role: UiRole;
  /**
   * `scrypt$N=…,r=…,p=…$SALT$KEY` (what `vecr password` prints), or the password itself for the
   * original member manager's ADMIN_PASSWORD (warned about at start).
   */
  password: { kind: 'scrypt'; hash: string } | { kind: 'plain'; sha256: Buffer };
}

export interface UiConfig {
  /** VECR_UI_USERS, and ADMIN_USERNAME / ADMIN_PASSWORD. None: a one-time sign-in URL on loopback, no sign-in elsewhere. */
  accounts: UiAccount[];
  /** VECR_SESSION_SECRET: the key that signs session cookies; unset, one kept in VECR_DATA_DIR/ui-session.key. */
  sessionSecret?: string;
  /** VECR_SESSION_TTL (default 12 h): a session is refused this long after sign-in. */
  sessionTtlMs: number;
}

export interface ChatlogConfig {
  table: string;
  /** DynamoDB endpoint (LocalStack, ...); AWS itself when undefined and not embedded. */
  endpoint?: string;
  /** CHATLOG_DYNAMODB_ENDPOINT unset: an in-process DynamoDB-compatible server under VECR_DATA_DIR. */
  embedded: boolean;
  region: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Messages and sessions expire this many days after their last write (DynamoDB TTL); off when undefined. */
  ttlDays?: number;
  /** Create the table when it is missing (CHATLOG_AUTO_CREATE, default true). */
  autoCreate: boolean;
}

export const defaultBucket = 'vecr-garage-storage';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

/** Environment → one typed config object. With nothing set, everything is embedded. */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const dataDir = path.resolve(cwd, env.VECR_DATA_DIR || '.vecr');
  const storage = storageConfig(env.VECR_STORAGE || 'storage', env, cwd);
  return {
    database: databaseConfig(env, dataDir),
    storage,
    upsertKey: parseUpsertKey(env.VECR_UPSERT_KEY || 'file_uri'),
    maxFileBytes: maxFileBytes(env),
    dataDir,
    http: httpConfig(env),
    access: { tokens: parseApiTokens(env.VECR_API_TOKENS ?? '') },
    webhook: {
      ...(env.WEBHOOK_AUTH_TOKEN ? { authToken: env.WEBHOOK_AUTH_TOKEN } : {}),
      etagCheck: bool('WEBHOOK_ETAG_CHECK_ENABLED', env.WEBHOOK_ETAG_CHECK_ENABLED, true),
      bucket: storage.kind === 's3' ? storage.bucket : env.MINIO_BUCKET_NAME || defaultBucket,
    },
    reconcileIntervalMs: duration('VECR_RECONCILE_INTERVAL', env.VECR_RECONCILE_INTERVAL, 10 * 60_000),
    watch: bool('VECR_WATCH', env.VECR_WATCH, true),
    pgPort: port('VECR_PG_PORT', env.VECR_PG_PORT, 55432),
    chatlog: chatlogConfig(env),
    ui: uiConfig(env),
  };
}

/** The shortest VECR_SESSION_SECRET accepted: the key of every session's signature. */
export const minSessionSecretLength = 32;

/**
 * VECR_MAX_FILE_BYTES alone: what `vecr validate` needs, which reads files and nothing else, so
 * that a setting it never uses (a bad PORT, DATABASE_URL) does not stop it.
 */
export function maxFileBytes(env: Env = process.env): number {
  return positiveInt('VECR_MAX_FILE_BYTES', env.VECR_MAX_FILE_BYTES, 1024 * 1024);
}

function uiConfig(env: Env): UiConfig {
  const accounts = parseUiUsers(env.VECR_UI_USERS ?? '');
  if (env.ADMIN_USERNAME && !env.ADMIN_PASSWORD)
    throw new ConfigError('ADMIN_USERNAME is set without ADMIN_PASSWORD: set both (or, better, an entry in VECR_UI_USERS from `vecr password`)');
  if (env.ADMIN_PASSWORD) {
    const name = env.ADMIN_USERNAME || 'admin';
    if (!tokenNamePattern.test(name))
      throw new ConfigError(`ADMIN_USERNAME must be 1 to 64 letters, digits, dots, dashes or underscores, not ${JSON.stringify(name)}`);
    if (accounts.some((account) => account.name === name))
      throw new ConfigError(`ADMIN_USERNAME "${name}" is also in VECR_UI_USERS: every account needs a name of its own`);
    accounts.push({ name, role: 'admin', password: { kind: 'plain', sha256: createHash('sha256').update(env.ADMIN_PASSWORD).digest() } });
  }
  const secret = env.VECR_SESSION_SECRET;
  if (secret !== undefined && secret !== '' && secret.length < minSessionSecretLength) {
    throw new ConfigError(`VECR_SESSION_SECRET must be at least ${minSessionSecretLength} characters (random: \`openssl rand -hex 32\`)`);
  }
  return {
    accounts,
    ...(secret ? { sessionSecret: secret } : {}),
    sessionTtlMs: timeout('VECR_SESSION_TTL', env.VECR_SESSION_TTL, 12 * 3_600_000),
  };
}

/** What `vecr password` makes: scrypt's parameters, a salt and the derived key, base64url. */
export const passwordHashPattern = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([\w-]{16,})\$([\w-]{43,})$/;

/**
 * `VECR_UI_USERS`: entries separated by spaces or newlines, each `NAME:ROLE:HASH` — ROLE `admin`
 * or `viewer`, HASH what `vecr password` prints (`scrypt$N=…,r=…,p=…$SALT$KEY`).
 */
export function parseUiUsers(value: string): UiAccount[] {
  const accounts: UiAccount[] = [];
  for (const entry of value.split(/\s+/).filter(Boolean)) {
    const [name = '', role = '', ...rest] = entry.split(':');
    const hash = rest.join(':');
    const where = `VECR_UI_USERS: the entry ${tokenNamePattern.test(name) ? `"${name}"` : `number ${accounts.length + 1}`}`;
    if (!tokenNamePattern.test(name)) throw new ConfigError(`${where} must start with a name (letters, digits, . _ -), as in NAME:admin:scrypt$…`);
    if (accounts.some((account) => account.name === name)) throw new ConfigError(`${where} is there twice: every account needs a name of its own`);
    if (!Object.hasOwn(uiRoles, role)) throw new ConfigError(`${where} must give its role after the name: admin or viewer, as in NAME:viewer:scrypt$…`);
    // What is not a hash is not repeated: it may be a password, written where the hash belongs.
    if (!passwordHashPattern.test(hash))
      throw new ConfigError(`${where} must end with a password hash from \`vecr password ${name}\` (scrypt$N=…,r=…,p=…$SALT$KEY)`);
    accounts.push({ name, role: role as UiRole, password: { kind: 'scrypt', hash } });
  }
  return accounts;
}

function httpConfig(env: Env): HttpConfig {
  const http: HttpConfig = {
    host: env.HOST || '127.0.0.1',
    port: port('PORT', env.PORT, 3000),
    requestTimeoutMs: timeout('VECR_REQUEST_TIMEOUT', env.VECR_REQUEST_TIMEOUT, 30_000),
    headersTimeoutMs: timeout('VECR_HEADERS_TIMEOUT', env.VECR_HEADERS_TIMEOUT, 10_000),
    // Longer than a load balancer's idle timeout (60 s on AWS ALB), so that the balancer, not
    // this service, closes an idle connection: it never sends a request on one just closed.
    keepAliveTimeoutMs: timeout('VECR_KEEPALIVE_TIMEOUT', env.VECR_KEEPALIVE_TIMEOUT, 72_000),
    maxConnections: positiveInt('VECR_MAX_CONNECTIONS', env.VECR_MAX_CONNECTIONS, 512),
    shutdownTimeoutMs: timeout('VECR_SHUTDOWN_TIMEOUT', env.VECR_SHUTDOWN_TIMEOUT, 10_000),
    trustProxy: proxies(env.VECR_TRUST_PROXY ?? ''),
  };
  if (http.headersTimeoutMs > http.requestTimeoutMs) {
    throw new ConfigError(
      `VECR_HEADERS_TIMEOUT (${http.headersTimeoutMs} ms) cannot be longer than VECR_REQUEST_TIMEOUT (${http.requestTimeoutMs} ms): the headers are part of the request`,
    );
  }
  return http;
}

/** VECR_TRUST_PROXY: addresses, CIDR ranges or proxy-addr's names, separated by commas or spaces. */
function proxies(value: string): string[] {
  const entries = value.split(/[\s,]+/).filter(Boolean);
  for (const entry of entries) {
    const [address = '', bits, ...rest] = entry.split('/');
    const maxBits = net.isIPv4(address) ? 32 : net.isIPv6(address) ? 128 : 0;
    const named = ['loopback', 'linklocal', 'uniquelocal'].includes(entry);
    const fits = maxBits > 0 && rest.length === 0 && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= maxBits));
    if (!named && !fits) {
      throw new ConfigError(`VECR_TRUST_PROXY holds "${entry}", which is no address, CIDR range (10.0.0.0/8) or loopback, linklocal, uniquelocal`);
    }
  }
  return entries;
}

/** A token's name: it goes into logs and messages as it is. */
export const tokenNamePattern = /^[\w.-]{1,64}$/;

/** The shortest token accepted as it is (a hash is always accepted: `vecr token` makes 256-bit tokens). */
export const minPlainTokenLength = 32;

/**
 * `VECR_API_TOKENS`: entries separated by spaces or newlines, each `NAME:SCOPES:SECRET` — SCOPES
 * a comma-separated list of read, chat, admin; SECRET `sha256:` and the token's SHA-256 in hex
 * (what `vecr token` prints), or the token itself (accepted with a warning at start).
 */
export function parseApiTokens(value: string): ApiToken[] {
  const tokens: ApiToken[] = [];
  for (const entry of value.split(/\s+/).filter(Boolean)) {
    // The entry itself may be a token: errors name the entry by its name only.
    const [name = '', scopeList = '', ...rest] = entry.split(':');
    const secret = rest.join(':');
    const where = `VECR_API_TOKENS: the entry ${tokenNamePattern.test(name) ? `"${name}"` : `number ${tokens.length + 1}`}`;
    if (!tokenNamePattern.test(name)) throw new ConfigError(`${where} must start with a name (letters, digits, . _ -), as in NAME:read,chat:sha256:HEX`);
    if (tokens.some((token) => token.name === name)) throw new ConfigError(`${where} is there twice: every token needs a name of its own`);
    const granted = scopeList.split(',').filter(Boolean);
    // What is not a scope is not repeated: it may be the token, written where the scopes belong.
    if (granted.length === 0 || granted.some((scope) => !(scopes as readonly string[]).includes(scope))) {
      throw new ConfigError(`${where} must give its scopes after the name: a comma-separated list of ${scopes.join(', ')}, as in NAME:read,chat:sha256:HEX`);
    }
    const hash = /^sha256:([0-9a-f]{64})$/i.exec(secret)?.[1];
    if (!hash && secret.startsWith('sha256:')) throw new ConfigError(`${where} has a SHA-256 that is not 64 hexadecimal digits`);
    if (!hash && secret.length < minPlainTokenLength) {
      throw new ConfigError(`${where} needs a token of at least ${minPlainTokenLength} characters, or sha256:HEX (\`vecr token ${name}\` makes both)`);
    }
    tokens.push({
      name,
      scopes: [...new Set(granted)] as Scope[],
      sha256: hash ? Buffer.from(hash, 'hex') : createHash('sha256').update(secret).digest(),
      plain: !hash,
    });
  }
  return tokens;
}

function chatlogConfig(env: Env): ChatlogConfig {
  // Unset: embedded. `aws`: AWS DynamoDB with the default credential chain. A URL: that endpoint.
  const setting = env.CHATLOG_DYNAMODB_ENDPOINT || '';
  const endpoint = setting && setting !== 'aws' ? setting : undefined;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  const ttl = env.CHATLOG_TTL_DAYS;
  const credentials =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } : undefined;
  return {
    table: env.CHATLOG_TABLE || 'ChatLogs',
    ...(endpoint ? { endpoint } : {}),
    embedded: setting === '',
    region: region || 'us-east-1',
    ...(credentials ? { credentials } : {}),
    ...(ttl ? { ttlDays: positiveInt('CHATLOG_TTL_DAYS', ttl, 0) } : {}),
    autoCreate: bool('CHATLOG_AUTO_CREATE', env.CHATLOG_AUTO_CREATE, true),
  };
}

/** `s3://BUCKET[/PREFIX]` (bucket defaults to MINIO_BUCKET_NAME), or a folder path. */
export function storageConfig(value: string, env: Env = process.env, cwd = process.cwd()): StorageConfig {
  if (!value.startsWith('s3://')) return { kind: 'folder', path: path.resolve(cwd, value) };
  const [bucket = '', ...rest] = value.slice('s3://'.length).split('/');
  const accessKeyId = env.AWS_ACCESS_KEY_ID || env.MINIO_ROOT_USER;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY || env.MINIO_ROOT_PASSWORD;
  return {
    kind: 's3',
    bucket: bucket || env.MINIO_BUCKET_NAME || defaultBucket,
    prefix: rest.filter(Boolean).join('/'),
    ...(env.S3_ENDPOINT ? { endpoint: env.S3_ENDPOINT } : {}),
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey } } : {}),
    requestTimeoutMs: timeout('S3_REQUEST_TIMEOUT', env.S3_REQUEST_TIMEOUT, 10_000),
  };
}

/** Where the storage is, safe to print. */
export function describeStorage(storage: StorageConfig): string {
  if (storage.kind === 'folder') return storage.path;
  const where = `s3://${storage.bucket}${storage.prefix ? `/${storage.prefix}` : ''}`;
  return storage.endpoint ? `${where} at ${storage.endpoint}` : where;
}

function databaseConfig(env: Env, dataDir: string): DatabaseConfig {
  if (env.DATABASE_URL) {
    if (!/^postgres(ql)?:\/\/./.test(env.DATABASE_URL) || !URL.canParse(env.DATABASE_URL)) {
      throw new ConfigError('DATABASE_URL (or --database-url) must be a URL such as postgres://user:password@host:5432/member_db');
    }
    return { engine: 'postgres', url: env.DATABASE_URL };
  }
  const parts = ['MEMBER_DB_HOST', 'MEMBER_DB_PORT', 'MEMBER_DB_NAME', 'MEMBER_DB_USER', 'MEMBER_DB_PASSWORD'];
  if (!parts.some((name) => env[name])) {
    return { engine: 'pglite', dataDir: path.join(dataDir, 'pgdata') };
  }
  const url = new URL('postgres://localhost');
  const host = env.MEMBER_DB_HOST || 'localhost';
  // A folder is where the server's Unix socket is (as libpq takes it): a parameter, not a host name.
  if (host.startsWith('/')) url.searchParams.set('host', host);
  else url.hostname = host;
  const dbPort = port('MEMBER_DB_PORT', env.MEMBER_DB_PORT, 5432);
  if (dbPort === 0) throw new ConfigError('MEMBER_DB_PORT must be the port of the PostgreSQL server, not 0');
  url.port = String(dbPort);
  url.pathname = `/${encodeURIComponent(env.MEMBER_DB_NAME || 'member_db')}`;
  url.username = encodeURIComponent(env.MEMBER_DB_USER || 'postgres');
  if (env.MEMBER_DB_PASSWORD) url.password = encodeURIComponent(env.MEMBER_DB_PASSWORD);
  return { engine: 'postgres', url: url.toString() };
}

export function parseUpsertKey(value: string): UpsertKey {
  if (value === 'file_uri' || value === 'name') return value;
  throw new ConfigError(`upsert key must be "file_uri" or "name", not "${value}"`);
}

function port(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${name} must be a port number (0-65535), not "${value}"`);
  return n;
}

function bool(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new ConfigError(`${name} must be true or false, not "${value}"`);
}

/** Seconds (`600`), or with a unit: `500ms`, `30s`, `10m`, `1h`. */
function duration(name: string, value: string | undefined, fallbackMs: number): number {
  if (value === undefined || value === '') return fallbackMs;
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(value.trim());
  if (!match) throw new ConfigError(`${name} must be a duration such as 600, 30s, 10m or 0, not "${value}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's']!;
  return Math.round(Number(match[1]) * unit);
}

/** A duration that must be positive: a server without this timeout is what the setting exists to prevent. */
function timeout(name: string, value: string | undefined, fallbackMs: number): number {
  const ms = duration(name, value, fallbackMs);
  if (ms <= 0) throw new ConfigError(`${name} must be longer than 0, such as 500ms or 30s, not "${value}"`);
  return ms;
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
