import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { requirePassword, scramVerifier } from '../../src/db/passwordGate.js';
import { type SharedPglite, sharePglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import { tempDir } from '../helpers/files.js';
import { accepts, otherAddress } from '../helpers/ports.js';
import { eventually } from '../helpers/service.js';

const run = promisify(execFile);
const hasPsql = await run('psql', ['--version']).then(
  () => true,
  () => false,
);

/** A client of the shared port, as psql or another vecr command is; `change` alters its URL. */
async function connect(url: string, change: (url: URL) => void = () => {}): Promise<pg.Client> {
  const changed = new URL(url);
  change(changed);
  const client = new pg.Client({ connectionString: changed.toString() });
  await client.connect();
  return client;
}

/** A StartupMessage (protocol 3.0) for `user`, and a simple Query message. */
function startupMessage(user: string): Buffer {
  const parameters = Buffer.from(`user\0${user}\0database\0member_db\0\0`);
  const message = Buffer.alloc(8 + parameters.length);
  message.writeInt32BE(message.length, 0);
  message.writeInt32BE(196608, 4);
  parameters.copy(message, 8);
  return message;
}
function queryMessage(sql: string): Buffer {
  const body = Buffer.from(`${sql}\0`);
  const message = Buffer.alloc(5 + body.length);
  message.write('Q', 0);
  message.writeInt32BE(4 + body.length, 1);
  body.copy(message, 5);
  return message;
}

/**
 * What the server answers a client that skips authentication: the messages' types (with the
 * code of each authentication request, `R0` being AuthenticationOk), until it closes the
 * connection or lets the client in.
 */
function answersWithoutPassword(port: number, user: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    const types: string[] = [];
    socket.on('connect', () => socket.write(Buffer.concat([startupMessage(user), queryMessage('SELECT 1')])));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 5 && received.length >= 1 + received.readInt32BE(1)) {
        const type = String.fromCharCode(received[0]!);
        types.push(type === 'R' ? `R${received.readInt32BE(5)}` : type);
        received = received.subarray(1 + received.readInt32BE(1));
      }
      if (types.includes('R0')) socket.destroy();
    });
    socket.on('close', () => resolve(types));
    socket.on('error', reject);
  });
}

describe('the embedded database on the PostgreSQL protocol (what vecr serve shares)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let dataDir: string;
  let shared: SharedPglite;
  beforeAll(async () => {
    work = await tempDir();
    dataDir = path.join(work.dir, 'data', 'pgdata');
    shared = await sharePglite(dataDir, 0, async (db) => void (await migrate(db)));
  });
  afterAll(async () => {
    await shared?.close();
    await work?.remove();
  });

  it('lets in a client with the data folder’s password, and keeps each connection’s transaction to itself', async () => {
    const db = await openPostgres(shared.url);
    await db.exec('CREATE TABLE visits (n int)');
    await db.close();
    const [first, second] = [await connect(shared.url), await connect(shared.url)];
    try {
      await first.query('BEGIN');
      await first.query('INSERT INTO visits VALUES (1)');
      // Sent while the first connection's transaction is open: it waits for that to end, whole.
      const counted = second.query<{ count: string }>('SELECT count(*) FROM visits');
      await first.query('INSERT INTO visits VALUES (2)');
      await first.query('COMMIT');
      expect((await counted).rows).toEqual([{ count: '2' }]);
    } finally {
      await first.end();
      await second.end();
    }
  });

  it('refuses a wrong password and another user, in PostgreSQL’s words', async () => {
    await expect(connect(shared.url, (url) => (url.password = 'not-the-password'))).rejects.toMatchObject({
      code: '28P01',
      message: 'password authentication failed for user "postgres"',
    });
    await expect(connect(shared.url, (url) => (url.username = 'root'))).rejects.toMatchObject({
      code: '28000',
      message: expect.stringMatching(/role "root" does not exist/),
    });
  });

  it('answers a client that skips the password with a demand for it, then an error, and never lets it in', async () => {
    // Today's trap: PGlite answers every startup with AuthenticationOk (R0), superuser for anyone.
    expect(await answersWithoutPassword(shared.port, 'postgres')).toEqual(['R10', 'E']);
  });

  it('closes connections that send something other than the protocol, and keeps serving', async () => {
    const junk = net.connect({ host: '127.0.0.1', port: shared.port });
    junk.on('error', () => {});
    await new Promise((resolve) => junk.once('connect', resolve));
    junk.write(Buffer.alloc(1 << 20, 0x41));
    await new Promise((resolve) => junk.once('close', resolve));
    const client = await connect(shared.url);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();
  });

  it.runIf(hasPsql)('lets psql in with the pgpass file beside the data folder, and not without it', async () => {
    const psql = (env: Record<string, string>) =>
      run('psql', ['-X', '-w', '-At', '-h', 'localhost', '-p', String(shared.port), '-U', 'postgres', 'member_db', '-c', 'SELECT 41 + 1'], {
        env: { ...process.env, PGPASSWORD: '', PGPASSFILE: path.join(work.dir, 'none'), ...env },
      });
    expect((await psql({ PGPASSFILE: `${dataDir}.pgpass` })).stdout).toBe('42\n');
    await expect(psql({})).rejects.toMatchObject({ stderr: expect.stringMatching(/no password supplied/) });
    await expect(psql({ PGPASSWORD: 'guess' })).rejects.toMatchObject({ stderr: expect.stringMatching(/password authentication failed for user "postgres"/) });
  });

  it('listens on 127.0.0.1 only', async () => {
    expect(await accepts('127.0.0.1', shared.port)).toBe(true);
    if (otherAddress) expect(await accepts(otherAddress, shared.port)).toBe(false);
  });

  it('keeps the password across restarts, in a pgpass file only its owner can read', async () => {
    const password = new URL(shared.url).password;
    expect(password).toMatch(/^[\w-]{32}$/);
    const file = `${dataDir}.pgpass`;
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(await fs.readFile(file, 'utf8')).toContain(`localhost:*:*:postgres:${password}\n`);
    await shared.close();
    shared = await sharePglite(dataDir, 0, async () => {});
    expect(new URL(shared.url).password).toBe(password);
    const client = await connect(shared.url);
    await client.end();
  });
});

describe('the password gate, on a plain socket server', () => {
  /** A server that answers whoever gets through the gate, and a client that connects to it. */
  async function gated(timeoutMs: number, client: net.NetConnectOpts = { port: 0 }) {
    const server = net.createServer((socket) => socket.end('admitted'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const gate = requirePassword(server, await scramVerifier('secret'), { user: 'postgres', timeoutMs });
    const socket = net.connect({ ...client, host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
    socket.on('error', () => {});
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await new Promise((resolve) => socket.once('connect', resolve));
    const connections = () => new Promise<number>((resolve) => server.getConnections((_, count) => resolve(count)));
    const stop = () => new Promise((resolve) => server.close(resolve));
    return { gate, socket, closed, connections, stop };
  }

  it('lets go of a client that does not authenticate in time (its slot is one of few)', async () => {
    const { closed, stop } = await gated(100);
    await closed;
    await stop();
  });

  it('lets go of a refused client that keeps its end of the connection open', async () => {
    const { socket, connections, stop } = await gated(100, { port: 0, allowHalfOpen: true });
    const ended = new Promise((resolve) => socket.once('end', resolve));
    socket.resume();
    socket.write(startupMessage('root'));
    await ended;
    await eventually(async () => expect(await connections()).toBe(0));
    socket.destroy();
    await stop();
  });

  it('lets go of the clients still authenticating when it closes, so that the server can close', async () => {
    const { gate, closed, connections, stop } = await gated(60_000);
    await eventually(async () => expect(await connections()).toBe(1));
    gate.close();
    await closed;
    await stop();
  });
});
