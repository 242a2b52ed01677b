import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Config, ConfigError, loadConfig } from '../src/config.js';

const cwd = '/srv/vecr';
const load = (env: Record<string, string>): Config => loadConfig(env, cwd);

/** The message loadConfig refuses `env` with; fails the test when it does not refuse it. */
function refusal(env: Record<string, string>): string {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

const hash = (byte: string) => byte.repeat(64);
const scrypt = `scrypt$N=16384,r=8,p=1$${'s'.repeat(22)}$${'k'.repeat(43)}`;

describe('src/config.ts', () => {
  it('reads nothing it has no test for here', async () => {
    const source = await fs.readFile(path.join(import.meta.dirname, '../src/config.ts'), 'utf8');
    const read = new Set(
      [...source.matchAll(/env\.([A-Z][A-Z0-9_]+)/g), ...source.matchAll(/'((?:MEMBER_DB|CHATLOG|VECR|AWS|S3|MINIO)_[A-Z0-9_]+)'/g)].map((m) => m[1]!),
    );
    const titles = [...(await fs.readFile(import.meta.filename, 'utf8')).matchAll(/^describe\('([^']+)'/gm)].map((m) => m[1]!);
    expect(read.size).toBeGreaterThan(30);
    expect([...read].filter((name) => !titles.some((title) => new RegExp(`\\b${name}\\b`).test(title)))).toEqual([]);
  });

  it('with nothing set, is embedded and on loopback', () => {
    const config = load({});
    expect(config).toMatchObject({
      database: { engine: 'pglite', dataDir: '/srv/vecr/.vecr/pgdata' },
      storage: { kind: 'folder', path: '/srv/vecr/storage' },
      upsertKey: 'file_uri',
      maxFileBytes: 1024 * 1024,
      dataDir: '/srv/vecr/.vecr',
      http: {
        host: '127.0.0.1',
        port: 3000,
        requestTimeoutMs: 30_000,
        headersTimeoutMs: 10_000,
        keepAliveTimeoutMs: 72_000,
        maxConnections: 512,
        shutdownTimeoutMs: 10_000,
        trustProxy: [],
      },
      access: { tokens: [] },
      webhook: { etagCheck: true, bucket: 'vecr-garage-storage' },
      reconcileIntervalMs: 600_000,
      watch: true,
      pgPort: 55432,
      chatlog: { table: 'ChatLogs', embedded: true, region: 'us-east-1', autoCreate: true },
      ui: { accounts: [], sessionTtlMs: 12 * 3_600_000 },
    });
    expect(config.webhook.authToken).toBeUndefined();
    expect(config.chatlog).not.toHaveProperty('ttlDays');
    expect(config.ui).not.toHaveProperty('sessionSecret');
  });
});

describe('VECR_DATA_DIR', () => {
  it('is a folder, relative to the working directory', () => {
    expect(load({ VECR_DATA_DIR: 'data' }).dataDir).toBe('/srv/vecr/data');
    expect(load({ VECR_DATA_DIR: '/var/lib/vecr' })).toMatchObject({ dataDir: '/var/lib/vecr', database: { dataDir: '/var/lib/vecr/pgdata' } });
  });
});

describe('VECR_STORAGE', () => {
  it('is a folder, or s3://BUCKET/PREFIX', () => {
    expect(load({ VECR_STORAGE: '../members' }).storage).toEqual({ kind: 'folder', path: '/srv/members' });
    expect(load({ VECR_STORAGE: 's3://team/members/' }).storage).toEqual({
      kind: 's3',
      bucket: 'team',
      prefix: 'members',
      region: 'us-east-1',
      requestTimeoutMs: 10_000,
    });
    expect(load({ VECR_STORAGE: 's3://' }).storage).toMatchObject({ bucket: 'vecr-garage-storage', prefix: '' });
  });
});

describe('VECR_UPSERT_KEY', () => {
  it('is file_uri or name', () => {
    expect(load({ VECR_UPSERT_KEY: 'name' }).upsertKey).toBe('name');
    expect(refusal({ VECR_UPSERT_KEY: 'id' })).toBe('upsert key must be "file_uri" or "name", not "id"');
  });
});

describe('VECR_MAX_FILE_BYTES, VECR_MAX_CONNECTIONS: positive integers', () => {
  it('takes them and refuses anything else', () => {
    expect(load({ VECR_MAX_FILE_BYTES: '2048', VECR_MAX_CONNECTIONS: '8' })).toMatchObject({ maxFileBytes: 2048, http: { maxConnections: 8 } });
    for (const value of ['0', '-1', '1.5', 'lots', '1e400']) {
      expect(refusal({ VECR_MAX_FILE_BYTES: value })).toBe(`VECR_MAX_FILE_BYTES must be a positive integer, not "${value}"`);
      expect(refusal({ VECR_MAX_CONNECTIONS: value })).toBe(`VECR_MAX_CONNECTIONS must be a positive integer, not "${value}"`);
    }
  });
});

describe('HOST', () => {
  it('is the address to listen on', () => {
    expect(load({ HOST: '0.0.0.0' }).http.host).toBe('0.0.0.0');
  });
});

describe('PORT, VECR_PG_PORT, MEMBER_DB_PORT: port numbers', () => {
  it('takes 0 to 65535 (0: any free port), and refuses anything else', () => {
    expect(load({ PORT: '0', VECR_PG_PORT: '6543' })).toMatchObject({ http: { port: 0 }, pgPort: 6543 });
    for (const value of ['65536', '-1', '80.5', 'http']) {
      expect(refusal({ PORT: value })).toBe(`PORT must be a port number (0-65535), not "${value}"`);
      expect(refusal({ VECR_PG_PORT: value })).toBe(`VECR_PG_PORT must be a port number (0-65535), not "${value}"`);
      expect(refusal({ MEMBER_DB_PORT: value })).toBe(`MEMBER_DB_PORT must be a port number (0-65535), not "${value}"`);
    }
    expect(refusal({ MEMBER_DB_PORT: '0' })).toBe('MEMBER_DB_PORT must be the port of the PostgreSQL server, not 0');
  });
});

describe('VECR_REQUEST_TIMEOUT, VECR_HEADERS_TIMEOUT, VECR_KEEPALIVE_TIMEOUT, VECR_SHUTDOWN_TIMEOUT, VECR_SESSION_TTL, S3_REQUEST_TIMEOUT: durations above 0', () => {
  const names = ['VECR_REQUEST_TIMEOUT', 'VECR_HEADERS_TIMEOUT', 'VECR_KEEPALIVE_TIMEOUT', 'VECR_SHUTDOWN_TIMEOUT', 'VECR_SESSION_TTL', 'S3_REQUEST_TIMEOUT'];
  it('takes seconds, or ms, s, m, h', () => {
    expect(
      load({ VECR_REQUEST_TIMEOUT: '45', VECR_HEADERS_TIMEOUT: '500ms', VECR_KEEPALIVE_TIMEOUT: '1.5m', VECR_SHUTDOWN_TIMEOUT: '2s', VECR_SESSION_TTL: '1h' }),
    ).toMatchObject({
      http: { requestTimeoutMs: 45_000, headersTimeoutMs: 500, keepAliveTimeoutMs: 90_000, shutdownTimeoutMs: 2000 },
      ui: { sessionTtlMs: 3_600_000 },
    });
    expect(load({ VECR_STORAGE: 's3://b', S3_REQUEST_TIMEOUT: '3s' }).storage).toMatchObject({ requestTimeoutMs: 3000 });
  });
  it('refuses 0 and what is no duration', () => {
    const env = (name: string, value: string) => (name === 'S3_REQUEST_TIMEOUT' ? { VECR_STORAGE: 's3://b', [name]: value } : { [name]: value });
    for (const name of names) {
      expect(refusal(env(name, '0'))).toBe(`${name} must be longer than 0, such as 500ms or 30s, not "0"`);
      expect(refusal(env(name, '10 minutes'))).toBe(`${name} must be a duration such as 600, 30s, 10m or 0, not "10 minutes"`);
    }
  });
  it('refuses headers that may take longer than the whole request', () => {
    expect(refusal({ VECR_HEADERS_TIMEOUT: '40s' })).toBe(
      'VECR_HEADERS_TIMEOUT (40000 ms) cannot be longer than VECR_REQUEST_TIMEOUT (30000 ms): the headers are part of the request',
    );
  });
});

describe('VECR_RECONCILE_INTERVAL', () => {
  it('is a duration; 0 turns the periodic sync off', () => {
    expect(load({ VECR_RECONCILE_INTERVAL: '0' }).reconcileIntervalMs).toBe(0);
    expect(load({ VECR_RECONCILE_INTERVAL: '30m' }).reconcileIntervalMs).toBe(1_800_000);
    expect(load({ VECR_RECONCILE_INTERVAL: '90' }).reconcileIntervalMs).toBe(90_000);
    expect(refusal({ VECR_RECONCILE_INTERVAL: 'hourly' })).toBe('VECR_RECONCILE_INTERVAL must be a duration such as 600, 30s, 10m or 0, not "hourly"');
  });
});

describe('VECR_TRUST_PROXY', () => {
  it('takes addresses, CIDR ranges and proxy-addr names, by commas or spaces', () => {
    expect(load({ VECR_TRUST_PROXY: '10.0.0.0/8, 192.168.1.1 loopback,fd00::/8' }).http.trustProxy).toEqual([
      '10.0.0.0/8',
      '192.168.1.1',
      'loopback',
      'fd00::/8',
    ]);
    for (const entry of ['10.0.0.0/33', 'proxy.local', '10.0.0.1/8/2', '::1/129']) {
      expect(refusal({ VECR_TRUST_PROXY: entry })).toBe(
        `VECR_TRUST_PROXY holds "${entry}", which is no address, CIDR range (10.0.0.0/8) or loopback, linklocal, uniquelocal`,
      );
    }
  });
});

describe('VECR_API_TOKENS', () => {
  it('takes NAME:SCOPES:sha256:HEX or a long token, separated by spaces or newlines', () => {
    const plain = 't'.repeat(32);
    const { tokens } = load({ VECR_API_TOKENS: `bot:chat,read,chat:sha256:${hash('a')}\nops:admin:${plain}` }).access;
    expect(tokens.map(({ name, scopes, plain }) => ({ name, scopes, plain }))).toEqual([
      { name: 'bot', scopes: ['chat', 'read'], plain: false },
      { name: 'ops', scopes: ['admin'], plain: true },
    ]);
    expect(tokens[0]!.sha256.toString('hex')).toBe(hash('a'));
  });
  it('refuses bad entries without repeating what may be a secret', () => {
    const secret = 's'.repeat(40);
    expect(refusal({ VECR_API_TOKENS: secret })).toBe(
      'VECR_API_TOKENS: the entry "ssssssssssssssssssssssssssssssssssssssss" must give its scopes after the name: a comma-separated list of read, chat, admin, as in NAME:read,chat:sha256:HEX',
    );
    expect(refusal({ VECR_API_TOKENS: `b@d:read:${secret}` })).toBe(
      'VECR_API_TOKENS: the entry number 1 must start with a name (letters, digits, . _ -), as in NAME:read,chat:sha256:HEX',
    );
    expect(refusal({ VECR_API_TOKENS: `a:read:${secret} a:chat:${secret}` })).toBe(
      'VECR_API_TOKENS: the entry "a" is there twice: every token needs a name of its own',
    );
    expect(refusal({ VECR_API_TOKENS: `a:write:${secret}` })).toBe(
      'VECR_API_TOKENS: the entry "a" must give its scopes after the name: a comma-separated list of read, chat, admin, as in NAME:read,chat:sha256:HEX',
    );
    expect(refusal({ VECR_API_TOKENS: 'a:read:sha256:abc' })).toBe('VECR_API_TOKENS: the entry "a" has a SHA-256 that is not 64 hexadecimal digits');
    expect(refusal({ VECR_API_TOKENS: 'a:read:short' })).toBe(
      'VECR_API_TOKENS: the entry "a" needs a token of at least 32 characters, or sha256:HEX (`vecr token a` makes both)',
    );
  });
});

describe('WEBHOOK_AUTH_TOKEN', () => {
  it('is the bearer token webhooks must carry, when set', () => {
    expect(load({ WEBHOOK_AUTH_TOKEN: 'hook-secret' }).webhook.authToken).toBe('hook-secret');
  });
});

describe('WEBHOOK_ETAG_CHECK_ENABLED, VECR_WATCH, CHATLOG_AUTO_CREATE: booleans', () => {
  it('take true/false, 1/0, yes/no, on/off in any case', () => {
    expect(load({ WEBHOOK_ETAG_CHECK_ENABLED: 'False', VECR_WATCH: '0', CHATLOG_AUTO_CREATE: 'off' })).toMatchObject({
      webhook: { etagCheck: false },
      watch: false,
      chatlog: { autoCreate: false },
    });
    expect(load({ WEBHOOK_ETAG_CHECK_ENABLED: 'YES', VECR_WATCH: 'on', CHATLOG_AUTO_CREATE: '1' })).toMatchObject({
      webhook: { etagCheck: true },
      watch: true,
      chatlog: { autoCreate: true },
    });
    for (const name of ['WEBHOOK_ETAG_CHECK_ENABLED', 'VECR_WATCH', 'CHATLOG_AUTO_CREATE']) {
      expect(refusal({ [name]: 'maybe' })).toBe(`${name} must be true or false, not "maybe"`);
    }
  });
});

describe('MINIO_BUCKET_NAME', () => {
  it('is the bucket of webhook events and of s3:// without one', () => {
    expect(load({ MINIO_BUCKET_NAME: 'members' }).webhook.bucket).toBe('members');
    expect(load({ MINIO_BUCKET_NAME: 'members', VECR_STORAGE: 's3://' }).storage).toMatchObject({ bucket: 'members' });
    // The bucket named in VECR_STORAGE is the one events are taken for.
    expect(load({ MINIO_BUCKET_NAME: 'members', VECR_STORAGE: 's3://other' }).webhook.bucket).toBe('other');
  });
});

describe('S3_ENDPOINT', () => {
  it('is MinIO or another S3 service, for s3:// storage', () => {
    expect(load({ VECR_STORAGE: 's3://b', S3_ENDPOINT: 'http://127.0.0.1:9000' }).storage).toMatchObject({ endpoint: 'http://127.0.0.1:9000' });
  });
});

describe('AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, MINIO_ROOT_USER, MINIO_ROOT_PASSWORD', () => {
  it('are the keys of the bucket (AWS_* first) and of an endpoint chat log store', () => {
    const aws = { AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 'secret' };
    const minio = { MINIO_ROOT_USER: 'minio', MINIO_ROOT_PASSWORD: 'minio-secret' };
    expect(load({ VECR_STORAGE: 's3://b', ...minio }).storage).toMatchObject({ credentials: { accessKeyId: 'minio', secretAccessKey: 'minio-secret' } });
    expect(load({ VECR_STORAGE: 's3://b', ...minio, ...aws }).storage).toMatchObject({ credentials: { accessKeyId: 'AKIA', secretAccessKey: 'secret' } });
    expect(load({ VECR_STORAGE: 's3://b', AWS_ACCESS_KEY_ID: 'AKIA' }).storage).not.toHaveProperty('credentials');
    expect(load(aws).chatlog.credentials).toEqual({ accessKeyId: 'AKIA', secretAccessKey: 'secret' });
    expect(load(minio).chatlog).not.toHaveProperty('credentials');
  });
});

describe('AWS_REGION, AWS_DEFAULT_REGION', () => {
  it('are the region of the bucket and of the chat log store (AWS_REGION first)', () => {
    expect(load({ VECR_STORAGE: 's3://b', AWS_DEFAULT_REGION: 'eu-west-1' })).toMatchObject({
      storage: { region: 'eu-west-1' },
      chatlog: { region: 'eu-west-1' },
    });
    expect(load({ VECR_STORAGE: 's3://b', AWS_DEFAULT_REGION: 'eu-west-1', AWS_REGION: 'ap-northeast-1' })).toMatchObject({
      storage: { region: 'ap-northeast-1' },
      chatlog: { region: 'ap-northeast-1' },
    });
  });
});

describe('CHATLOG_DYNAMODB_ENDPOINT', () => {
  it('unset: embedded; aws: AWS DynamoDB; a URL: that endpoint', () => {
    expect(load({}).chatlog).toMatchObject({ embedded: true });
    expect(load({ CHATLOG_DYNAMODB_ENDPOINT: 'aws' }).chatlog).toMatchObject({ embedded: false });
    expect(load({ CHATLOG_DYNAMODB_ENDPOINT: 'aws' }).chatlog).not.toHaveProperty('endpoint');
    expect(load({ CHATLOG_DYNAMODB_ENDPOINT: 'http://127.0.0.1:4566' }).chatlog).toMatchObject({ embedded: false, endpoint: 'http://127.0.0.1:4566' });
  });
});

describe('CHATLOG_TABLE', () => {
  it('names the table', () => {
    expect(load({ CHATLOG_TABLE: 'TeamChat' }).chatlog.table).toBe('TeamChat');
  });
});

describe('CHATLOG_TTL_DAYS', () => {
  it('is a positive number of days', () => {
    expect(load({ CHATLOG_TTL_DAYS: '30' }).chatlog.ttlDays).toBe(30);
    expect(refusal({ CHATLOG_TTL_DAYS: '0' })).toBe('CHATLOG_TTL_DAYS must be a positive integer, not "0"');
    expect(refusal({ CHATLOG_TTL_DAYS: 'a month' })).toBe('CHATLOG_TTL_DAYS must be a positive integer, not "a month"');
  });
});

describe('DATABASE_URL', () => {
  it('is a PostgreSQL server, and comes before the MEMBER_DB_* parts', () => {
    expect(load({ DATABASE_URL: 'postgres://u:p@db:5432/m', MEMBER_DB_HOST: 'other' }).database).toEqual({
      engine: 'postgres',
      url: 'postgres://u:p@db:5432/m',
    });
    expect(load({ DATABASE_URL: 'postgresql://db/m' }).database).toMatchObject({ engine: 'postgres' });
    for (const url of ['mysql://db/m', 'db:5432', 'postgres://']) {
      expect(refusal({ DATABASE_URL: url })).toBe('DATABASE_URL (or --database-url) must be a URL such as postgres://user:password@host:5432/member_db');
    }
  });
});

describe('MEMBER_DB_HOST, MEMBER_DB_NAME, MEMBER_DB_USER, MEMBER_DB_PASSWORD (and MEMBER_DB_PORT)', () => {
  it("make a server URL from the original setup's parts, any one of them enough", () => {
    expect(load({ MEMBER_DB_PASSWORD: 'p@ss' }).database).toEqual({ engine: 'postgres', url: 'postgres://postgres:p%40ss@localhost:5432/member_db' });
    expect(load({ MEMBER_DB_HOST: 'db', MEMBER_DB_PORT: '6432', MEMBER_DB_NAME: 'members', MEMBER_DB_USER: 'testuser' }).database).toEqual({
      engine: 'postgres',
      url: 'postgres://testuser@db:6432/members',
    });
    // A folder is the server's Unix socket.
    expect(load({ MEMBER_DB_HOST: '/var/run/postgresql' }).database).toEqual({
      engine: 'postgres',
      url: 'postgres://postgres@localhost:5432/member_db?host=%2Fvar%2Frun%2Fpostgresql',
    });
  });
});

describe('VECR_UI_USERS', () => {
  it('takes NAME:ROLE:HASH entries from vecr password', () => {
    expect(load({ VECR_UI_USERS: `rin:admin:${scrypt} mia:viewer:${scrypt}` }).ui.accounts).toEqual([
      { name: 'rin', role: 'admin', password: { kind: 'scrypt', hash: scrypt } },
      { name: 'mia', role: 'viewer', password: { kind: 'scrypt', hash: scrypt } },
    ]);
  });
  it('refuses bad entries without repeating what may be a password', () => {
    expect(refusal({ VECR_UI_USERS: `rin:owner:${scrypt}` })).toBe(
      'VECR_UI_USERS: the entry "rin" must give its role after the name: admin or viewer, as in NAME:viewer:scrypt$…',
    );
    expect(refusal({ VECR_UI_USERS: 'rin:admin:hunter2' })).toBe(
      'VECR_UI_USERS: the entry "rin" must end with a password hash from `vecr password rin` (scrypt$N=…,r=…,p=…$SALT$KEY)',
    );
    expect(refusal({ VECR_UI_USERS: `r!n:admin:${scrypt}` })).toBe(
      'VECR_UI_USERS: the entry number 1 must start with a name (letters, digits, . _ -), as in NAME:admin:scrypt$…',
    );
    expect(refusal({ VECR_UI_USERS: `rin:admin:${scrypt} rin:viewer:${scrypt}` })).toBe(
      'VECR_UI_USERS: the entry "rin" is there twice: every account needs a name of its own',
    );
  });
});

describe('ADMIN_USERNAME, ADMIN_PASSWORD', () => {
  it("add the original member manager's admin account (default name admin)", () => {
    const [account] = load({ ADMIN_PASSWORD: 'hunter2' }).ui.accounts;
    expect(account).toMatchObject({ name: 'admin', role: 'admin', password: { kind: 'plain' } });
    expect(load({ ADMIN_USERNAME: 'boss', ADMIN_PASSWORD: 'hunter2' }).ui.accounts[0]!.name).toBe('boss');
  });
  it('refuse a name alone, a bad name, or one VECR_UI_USERS has', () => {
    expect(refusal({ ADMIN_USERNAME: 'boss' })).toBe(
      'ADMIN_USERNAME is set without ADMIN_PASSWORD: set both (or, better, an entry in VECR_UI_USERS from `vecr password`)',
    );
    expect(refusal({ ADMIN_USERNAME: 'the boss', ADMIN_PASSWORD: 'x' })).toBe(
      'ADMIN_USERNAME must be 1 to 64 letters, digits, dots, dashes or underscores, not "the boss"',
    );
    expect(refusal({ ADMIN_USERNAME: 'rin', ADMIN_PASSWORD: 'x', VECR_UI_USERS: `rin:viewer:${scrypt}` })).toBe(
      'ADMIN_USERNAME "rin" is also in VECR_UI_USERS: every account needs a name of its own',
    );
  });
});

describe('VECR_SESSION_SECRET', () => {
  it('is at least 32 characters', () => {
    expect(load({ VECR_SESSION_SECRET: 'x'.repeat(32) }).ui.sessionSecret).toBe('x'.repeat(32));
    expect(refusal({ VECR_SESSION_SECRET: 'short' })).toBe('VECR_SESSION_SECRET must be at least 32 characters (random: `openssl rand -hex 32`)');
  });
});
