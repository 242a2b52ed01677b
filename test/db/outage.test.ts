import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/db/postgres.js';
import { DatabaseUnavailableError, type Db } from '../../src/db/types.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually } from '../helpers/service.js';

/**
 * The PostgreSQL adapter when the server fails, on a cluster of the test's own: every outage is
 * a DatabaseUnavailableError that says what happened, nothing half-written stays, and the same
 * `Db` works again once the server is back. A connection lost while lent out must not end the
 * process: here that would end the test worker, and the file would fail.
 */
describe('the PostgreSQL adapter when the server fails', () => {
  let cluster: TestCluster;
  let databases = 0;

  beforeAll(async () => {
    cluster = await startCluster();
  });
  afterAll(() => cluster?.destroy());

  /** A database of its own with a table `t`, and the adapter on it. */
  async function database(): Promise<{ name: string; url: string; db: Db; rows: () => Promise<string[]> }> {
    const name = `adapter_${++databases}`;
    const url = await cluster.createDatabase(name);
    await cluster.query('CREATE TABLE t (v text PRIMARY KEY)', [], name);
    const db = await openPostgres(url);
    const rows = async () => (await cluster.query<{ v: string }>('SELECT v FROM t ORDER BY v', [], name)).map((row) => row.v);
    return { name, url, db, rows };
  }

  /** What a promise rejects with (or the fact that it did not). */
  const failureOf = (promise: Promise<unknown>) =>
    promise.then(
      () => new Error('it did not fail'),
      (error: unknown) => error,
    );

  it('reports a transaction whose backend is terminated as unavailable, commits nothing of it, and works on', async () => {
    const { name, db, rows } = await database();
    try {
      let backend = 0;
      const running = failureOf(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO t VALUES ('before the loss')");
          backend = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
          await tx.query('SELECT pg_sleep(30)');
          await tx.query("INSERT INTO t VALUES ('after the loss')");
        }),
      );
      await eventually(async () => expect(backend).not.toBe(0));
      await eventually(async () => {
        const [state] = await cluster.query<{ query: string }>('SELECT query FROM pg_stat_activity WHERE pid = $1', [backend], name);
        expect(state?.query).toMatch(/pg_sleep/);
      });
      await cluster.query('SELECT pg_terminate_backend($1)', [backend]);
      const error = await running;
      expect(error).toBeInstanceOf(DatabaseUnavailableError);
      expect((error as Error).message).toMatch(
        /^PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/adapter_\d+ became unavailable during a transaction: the server ended the connection, as an administrator or a shutdown does \(57P01: terminating connection due to administrator command.*\); nothing of the transaction was committed$/,
      );
      expect((error as DatabaseUnavailableError).reason).toBe('the server ended the connection, as an administrator or a shutdown does');
      expect(await rows()).toEqual([]);
      // The dead connection was not lent again: the next transactions commit.
      for (const v of ['next', 'and the next']) await db.transaction((tx) => tx.query('INSERT INTO t VALUES ($1)', [v]));
      expect(await rows()).toEqual(['and the next', 'next']);
    } finally {
      await db.close();
    }
  });

  it('reports a statement sent after its idle transaction lost the connection as unavailable, with nothing committed', async () => {
    const { name, db, rows } = await database();
    try {
      const error = await failureOf(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO t VALUES ('before the loss')");
          const backend = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
          // Idle in the transaction (reading storage, say) while the server ends the connection.
          await cluster.query('SELECT pg_terminate_backend($1)', [backend]);
          await eventually(async () => expect(await cluster.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [backend], name)).toEqual([]));
          await tx.query("INSERT INTO t VALUES ('after the loss')");
        }),
      );
      expect(error).toBeInstanceOf(DatabaseUnavailableError);
      expect((error as Error).message).toMatch(/ became unavailable during a transaction: .*; nothing of the transaction was committed$/);
      expect(await rows()).toEqual([]);
      expect(await db.query('SELECT 1 AS one')).toMatchObject({ rows: [{ one: 1 }] });
    } finally {
      await db.close();
    }
  });

  it("leaves the errors of statements themselves as they are, and the caller's own: a constraint, a syntax error or another service's is no outage", async () => {
    const { db, rows } = await database();
    try {
      await db.query("INSERT INTO t VALUES ('taken')");
      const duplicate = await failureOf(db.query("INSERT INTO t VALUES ('taken')"));
      expect(duplicate).not.toBeInstanceOf(DatabaseUnavailableError);
      expect(duplicate).toMatchObject({ code: '23505' });
      const syntax = await failureOf(db.transaction((tx) => tx.query('INSERT INTO t VALUE (1)')));
      expect(syntax).not.toBeInstanceOf(DatabaseUnavailableError);
      expect(syntax).toMatchObject({ code: '42601' });
      const inTransaction = await failureOf(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO t VALUES ('rolled back')");
          await tx.query("INSERT INTO t VALUES ('taken')");
        }),
      );
      expect(inTransaction).toMatchObject({ code: '23505' });
      // Nor is a failure of the caller's own inside a transaction, even a refused connection to
      // something else (a storage, say): it is passed on as it is.
      const elsewhere = await failureOf(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO t VALUES ('rolled back too')");
          await new Promise((_resolve, reject) => net.connect(1, '127.0.0.1').on('error', reject));
        }),
      );
      expect(elsewhere).not.toBeInstanceOf(DatabaseUnavailableError);
      expect(elsewhere).toMatchObject({ code: 'ECONNREFUSED', port: 1 });
      expect(await rows()).toEqual(['taken']);
    } finally {
      await db.close();
    }
  });

  it('reports a statement cancelled by an administrator as unavailable (57014)', async () => {
    const { name, db } = await database();
    try {
      const sleeping = failureOf(db.query('SELECT pg_sleep(30)'));
      const [backend] = await eventually(async () => {
        const pids = await cluster.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'SELECT pg_sleep%'", [name]);
        expect(pids).toHaveLength(1);
        return pids;
      });
      await cluster.query('SELECT pg_cancel_backend($1)', [backend!.pid]);
      const error = await sleeping;
      expect(error).toBeInstanceOf(DatabaseUnavailableError);
      expect((error as DatabaseUnavailableError).reason).toMatch(/^the statement was cancelled/);
      expect(await db.query('SELECT 1 AS one')).toMatchObject({ rows: [{ one: 1 }] });
    } finally {
      await db.close();
    }
  });

  it('reports a database closed to connections (55000) as unavailable, naming it, and reaches it again once it opens', async () => {
    const { name, url, db } = await database();
    try {
      await cluster.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await cluster.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
      const opening = await failureOf(openPostgres(url));
      expect(opening).toBeInstanceOf(DatabaseUnavailableError);
      expect((opening as Error).message).toMatch(
        new RegExp(
          `^cannot reach PostgreSQL at postgres://postgres@127\\.0\\.0\\.1:\\d+/${name}: the database is not accepting connections, as during maintenance \\(55000: database "${name}" is not currently accepting connections\\)$`,
        ),
      );
      // The open adapter, whose connections were ended, cannot connect either.
      await eventually(async () => expect(await failureOf(db.query('SELECT 1'))).toMatchObject({ reason: expect.stringMatching(/not accepting connections/) }));
      await cluster.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      expect(await db.query('SELECT 1 AS one')).toMatchObject({ rows: [{ one: 1 }] });
    } finally {
      await db.close();
    }
  });

  it('reports too many connections (53300) as unavailable', async () => {
    const name = `adapter_${++databases}`;
    await cluster.createDatabase(name);
    await cluster.query('CREATE ROLE limited LOGIN CONNECTION LIMIT 0');
    const error = await failureOf(openPostgres(cluster.urlOf(name).replace('postgres@', 'limited@')));
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect((error as DatabaseUnavailableError).reason).toBe('the server has too many connections');
    expect((error as Error).message).toMatch(/\(53300: too many connections for role "limited"\)$/);
  });

  it('reports a database that does not exist, or a password refused, in the words of the server, and as unavailable', async () => {
    const missing = await failureOf(openPostgres(cluster.urlOf('no_such_database')));
    expect(missing).toBeInstanceOf(DatabaseUnavailableError);
    expect((missing as Error).message).toMatch(
      /^cannot reach PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/no_such_database: database "no_such_database" does not exist$/,
    );
    expect((missing as DatabaseUnavailableError).reason).toBe('the database does not exist');
    // The cluster trusts every user on 127.0.0.1: a role without LOGIN is what it refuses.
    await cluster.query('CREATE ROLE cannot_log_in NOLOGIN');
    const refused = await failureOf(openPostgres(cluster.urlOf('postgres').replace('postgres@', 'cannot_log_in@')));
    expect(refused).toBeInstanceOf(DatabaseUnavailableError);
    expect((refused as Error).message).toMatch(/: role "cannot_log_in" is not permitted to log in$/);
    expect((refused as DatabaseUnavailableError).reason).toBe('the server refused the user');
  });

  it('reports a server that accepts connections but never answers as unavailable (the connection timeout)', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as net.AddressInfo;
      const error = await failureOf(openPostgres(`postgres://postgres@127.0.0.1:${port}/member_db`));
      expect(error).toBeInstanceOf(DatabaseUnavailableError);
      expect((error as DatabaseUnavailableError).reason).toBe('no connection within 5 s, the server being slow to answer or every connection busy');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('reports a crashed server as unavailable on every call, and works on once it is back', async () => {
    const { db, rows } = await database();
    try {
      await db.query("INSERT INTO t VALUES ('before')");
      await cluster.crash();
      for (const call of [() => db.query('SELECT 1'), () => db.exec('SELECT 1'), () => db.transaction((tx) => tx.query("INSERT INTO t VALUES ('during')"))]) {
        const error = await failureOf(call());
        expect(error).toBeInstanceOf(DatabaseUnavailableError);
        expect((error as DatabaseUnavailableError).reason).toBe('nothing accepts connections there: the server is down or restarting');
      }
      await cluster.start();
      await db.transaction((tx) => tx.query("INSERT INTO t VALUES ('after')"));
      expect(await rows()).toEqual(['after', 'before']);
    } finally {
      await db.close();
    }
  });

  it('reports a server shutting down (57P03) as unavailable while its last sessions finish', async () => {
    const { url, db } = await database();
    const session = new pg.Client({ connectionString: url });
    session.on('error', () => {});
    await session.connect();
    let stopping: Promise<void> | undefined;
    try {
      stopping = cluster.stop('smart');
      /** Opens and closes an adapter: what a new process (a command, a replica) would meet. */
      const connecting = () => failureOf(openPostgres(url).then((probe) => probe.close()));
      const error = await eventually(async () => {
        const failure = await connecting();
        expect(failure).toBeInstanceOf(DatabaseUnavailableError);
        return failure as DatabaseUnavailableError;
      });
      expect(error.reason).toBe('the server is starting up or shutting down');
      expect(error.message).toMatch(/\(57P03: the database system is shutting down\)$/);
    } finally {
      await session.end();
      await db.close();
      await stopping;
      await cluster.start();
    }
  });

  it.each([
    { lost: 'on its way to the server', committed: [] },
    { lost: 'after the server committed, before its answer came', committed: ['one', 'two'] },
  ])('reports a COMMIT whose connection is lost $lost as of unknown outcome, and the next transaction commits', async ({ committed }) => {
    const name = `adapter_${++databases}`;
    await cluster.createDatabase(name);
    await cluster.query('CREATE TABLE t (v text PRIMARY KEY)', [], name);
    const rows = async () => (await cluster.query<{ v: string }>('SELECT v FROM t ORDER BY v', [], name)).map((row) => row.v);
    const link = await startLink(cluster.port);
    const db = await openPostgres(`postgres://postgres@127.0.0.1:${link.port}/${name}`);
    try {
      const error = await failureOf(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO t VALUES ('one'), ('two')");
          // What is held now is COMMIT (sent next) or its answer.
          link.hold(committed.length === 0 ? 'toServer' : 'toClient');
          if (committed.length > 0) {
            void eventually(async () => expect(await rows()).toEqual(committed)).then(() => link.cut());
          } else {
            setImmediate(() => link.cut());
          }
        }),
      );
      expect(error).toBeInstanceOf(DatabaseUnavailableError);
      expect((error as Error).message).toMatch(
        / became unavailable while a transaction was being committed: the connection (was cut|was lost) \(.*\); whether it was committed is unknown$/,
      );
      expect(await rows()).toEqual(committed);
      link.open();
      await db.transaction((tx) => tx.query("INSERT INTO t VALUES ('three')"));
      expect(await rows()).toEqual([...committed, 'three'].sort());
    } finally {
      await db.close();
      await link.close();
    }
  });
});

/**
 * A TCP link to the server whose directions can be held (bytes kept back) and whose connections
 * can be cut: the way to lose a connection at an exact point of the protocol, such as COMMIT.
 */
async function startLink(serverPort: number) {
  const held = { toServer: false, toClient: false };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(serverPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (bytes) => void (held.toServer || upstream.write(bytes)));
    upstream.on('data', (bytes) => void (held.toClient || client.write(bytes)));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    hold(direction: keyof typeof held) {
      held[direction] = true;
    },
    /** Cuts every connection now (the client sees a reset), holding nothing afterwards. */
    cut() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    open() {
      held.toServer = held.toClient = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
