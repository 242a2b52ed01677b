import pg from 'pg';
import { redactUrl } from '../config.js';
import { DatabaseUnavailableError, type Db, type Queryable, type QueryResult } from './types.js';

// Timestamps stay the text PostgreSQL sends: no reinterpretation in the local time zone.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 1114 || oid === 1184) return (value: string) => value;
    return pg.types.getTypeParser(oid, format);
  },
};

/**
 * A PostgreSQL server through node-postgres' pool. Every way the server can be unreachable,
 * restarting, failing over, overloaded or closed to us comes out as a DatabaseUnavailableError
 * (see `outageReason`); errors of the statements themselves (syntax, constraints) stay as the
 * driver reports them.
 */
export async function openPostgres(url: string): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: url,
    types,
    max: 10,
    connectionTimeoutMillis: 5000,
    // A server that stops answering must turn into an error (a 503), not a request hanging on.
    query_timeout: 120_000,
    keepAlive: true,
    options: '-c TimeZone=UTC -c statement_timeout=120000',
  });
  // An idle client that loses its server is dropped by the pool; this listener only keeps its
  // 'error' from crashing the process. (A client lent out has a listener of its own: `lend`.)
  pool.on('error', () => {});
  const description = redactUrl(url);

  /**
   * A pooled connection for one piece of work. node-postgres takes the pool's 'error' listener
   * off a client while it is lent out, so a connection lost meanwhile — a server restart or crash,
   * pg_terminate_backend — would emit 'error' with no listener, and Node would end the process.
   * Here a listener covers the whole loan: the loss fails the statements waiting on it, and the
   * client goes back with the error, so that the pool discards it instead of lending it again.
   */
  const lend = async <T>(work: (client: pg.PoolClient, lostBy: () => Error | undefined) => Promise<T>): Promise<T> => {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw cannotConnect(description, error);
    }
    let lost: Error | undefined;
    const onLost = (error: Error) => {
      lost ??= error;
    };
    client.on('error', onLost);
    // A connection that failed or timed out is not trusted again, even if it looks alive.
    let broken: Error | undefined;
    try {
      return await work(client, () => lost);
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) broken = error;
      throw error;
    } finally {
      client.off('error', onLost);
      client.release(lost ?? broken);
    }
  };

  /**
   * A statement's failure as the outage it is, worded by `say`; any other error as it is. Once the
   * connection is lost, the loss is the cause (a statement sent after it only hears that the
   * client "is not queryable"). Only the driver's own failures go through here, never the errors
   * of a transaction's caller: a storage failing during a dry run is not the database's.
   */
  const classified =
    (say: (reason: string, detail: string) => string) =>
    (error: unknown, lost?: Error): never => {
      throw outageOf(lost ?? error, say) ?? error;
    };
  const unavailable = classified((reason, detail) => `PostgreSQL at ${description} is unavailable: ${reason}${detail}`);
  // Lost before COMMIT was sent, a transaction ends with its connection: the server rolls it
  // back (after a crash, recovery does).
  const unavailableInTransaction = classified(
    (reason, detail) => `PostgreSQL at ${description} became unavailable during a transaction: ${reason}${detail}; nothing of the transaction was committed`,
  );

  /**
   * A COMMIT that fails because the connection went with it is the one case whose outcome we
   * cannot know: the server may have committed before the answer was lost. Said as such; the
   * callers' writes are idempotent (upserts keyed by file, events judged by sequencer), so the
   * retry that follows converges either way.
   */
  const commitFailure = (error: unknown, lostBefore: Error | undefined): never => {
    // A connection lost before COMMIT was sent never committed.
    if (lostBefore) unavailableInTransaction(error, lostBefore);
    const reason = outageReason(error, false);
    if (reason === undefined) throw error;
    throw new DatabaseUnavailableError(
      `PostgreSQL at ${description} became unavailable while a transaction was being committed: ${reason}${detailOf(error)}; whether it was committed is unknown`,
      { cause: error, reason: `${reason}, while a transaction was being committed` },
    );
  };

  const resultOf = <R>(result: pg.QueryResult): QueryResult<R> => ({ rows: result.rows as R[], rowCount: result.rowCount ?? 0 });

  const db: Db = {
    description,
    query: <R>(sql: string, params?: readonly unknown[]) =>
      lend(async (client, lostBy) => resultOf<R>(await client.query(sql, params as unknown[] | undefined).catch((error) => unavailable(error, lostBy())))),
    exec: (sql) =>
      lend(async (client, lostBy) => {
        await client.query(sql).catch((error) => unavailable(error, lostBy()));
      }),
    transaction: (fn) =>
      lend(async (client, lostBy) => {
        // One connection: a statement sent while another runs waits its turn here (node-postgres
        // only queues it, with a warning that pg@9 will refuse), and so do COMMIT and ROLLBACK.
        let turn: Promise<unknown> = Promise.resolve();
        const inTurn = <T>(work: () => Promise<T>): Promise<T> => {
          const next = turn.then(work, work);
          turn = next.catch(() => {});
          return next;
        };
        // BEGIN travels with the transaction's first statement when that one has no parameters
        // (the simple protocol takes several statements at once): one round trip fewer for each
        // transaction, which a sync runs one per batch. When that first send fails, BEGIN may not
        // have run (PostgreSQL checks the syntax of the whole string first): nothing more is sent,
        // as PostgreSQL itself refuses statements after an error in a transaction, so that none
        // can run outside it.
        let begun = false;
        let firstFailure: unknown;
        const send = async (sql: string, params?: readonly unknown[]) => {
          if (firstFailure !== undefined) {
            // The outage again, if that is what it was; else a refusal naming the failure.
            throw outageReason(firstFailure, false) === undefined
              ? new Error('the transaction is aborted: its first statement failed', { cause: firstFailure })
              : firstFailure;
          }
          if (begun) return client.query(sql, params as unknown[] | undefined);
          begun = true;
          if (params?.length) {
            await client.query('BEGIN');
            return client.query(sql, params as unknown[]);
          }
          try {
            const results: pg.QueryResult | pg.QueryResult[] = await client.query(`BEGIN;\n${sql}`);
            return Array.isArray(results) ? results.at(-1)! : results;
          } catch (error) {
            firstFailure = error;
            throw error;
          }
        };
        // A statement sent once `fn` has settled would run after COMMIT, on a connection back in
        // the pool: it is refused. (Statements sent before, even unawaited, run before COMMIT.)
        let ended = false;
        const enqueue = <T>(sql: string, work: () => Promise<T>): Promise<T> =>
          ended ? Promise.reject(new Error(`a statement was sent after its transaction had ended: ${sql.slice(0, 80)}`)) : inTurn(work);
        try {
          const tx: Queryable = {
            query: <R>(sql: string, params?: readonly unknown[]) =>
              enqueue(sql, async () => resultOf<R>(await send(sql, params).catch((error) => unavailableInTransaction(error, lostBy())))),
            exec: (sql) =>
              enqueue(sql, async () => {
                await send(sql).catch((error) => unavailableInTransaction(error, lostBy()));
              }),
          };
          let result: Awaited<ReturnType<typeof fn>>;
          try {
            result = await fn(tx);
          } finally {
            ended = true;
          }
          if (begun) {
            let lostBefore: Error | undefined;
            await inTurn(() => {
              lostBefore = lostBy();
              return client.query('COMMIT');
            }).catch((error: unknown) => commitFailure(error, lostBefore));
          }
          return result;
        } catch (error) {
          if (begun && !lostBy()) await inTurn(() => client.query('ROLLBACK')).catch(() => {});
          throw error;
        }
      }),
    close: () => pool.end(),
  };

  try {
    await db.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  return db;
}

/**
 * Any failure to connect is the server's or the setup's, never a statement's: it is a
 * DatabaseUnavailableError, with the reason in words when we know it.
 */
function cannotConnect(description: string, error: unknown): DatabaseUnavailableError {
  // A setup to correct rather than an outage to wait out: the server's own words name the user
  // or the database, whichever configuration (a URL, the embedded database's password file) holds it.
  const setup = error instanceof Error ? setupReasons[codeOf(error)] : undefined;
  if (setup) return new DatabaseUnavailableError(`cannot reach PostgreSQL at ${description}: ${(error as Error).message}`, { cause: error, reason: setup });
  const reason = outageReason(error, true) ?? 'the server refused the connection';
  return new DatabaseUnavailableError(`cannot reach PostgreSQL at ${description}: ${reason}${detailOf(error)}`, { cause: error, reason });
}

/** A driver's error as a DatabaseUnavailableError when it is an outage (see `outageReason`), worded by `say`; else undefined. */
function outageOf(error: unknown, say: (reason: string, detail: string) => string): DatabaseUnavailableError | undefined {
  const reason = outageReason(error, false);
  return reason === undefined ? undefined : new DatabaseUnavailableError(say(reason, detailOf(error)), { cause: error, reason });
}

const socketReasons: Record<string, string> = {
  ECONNREFUSED: 'nothing accepts connections there: the server is down or restarting',
  ECONNRESET: 'the connection was cut',
  EPIPE: 'the connection was cut',
  ECONNABORTED: 'the connection was cut',
  ETIMEDOUT: 'the server did not answer in time',
  ENOTFOUND: 'its host name does not resolve',
  EAI_AGAIN: 'its host name does not resolve',
  EHOSTUNREACH: 'its host cannot be reached',
  EHOSTDOWN: 'its host cannot be reached',
  ENETUNREACH: 'its host cannot be reached',
  ENETDOWN: 'its host cannot be reached',
};

/** SQLSTATEs that say the server cannot serve us now, whatever the statement. */
const serverReasons: Record<string, string> = {
  '57P01': 'the server ended the connection, as an administrator or a shutdown does',
  '57P02': 'the server is restarting after a crash',
  '57P03': 'the server is starting up or shutting down',
  '57014': 'the statement was cancelled, by statement_timeout or by an administrator',
  '53300': 'the server has too many connections',
  '57P04': 'the database was dropped',
  '57P05': 'the server ended a connection left idle too long (idle_session_timeout)',
  '25P03': 'the server ended a transaction left idle too long (idle_in_transaction_session_timeout)',
};

/** SQLSTATEs that, in answer to connecting (and only then), say the database is closed to connections for now. */
const connectReasons: Record<string, string> = {
  '55000': 'the database is not accepting connections, as during maintenance',
};

/** SQLSTATEs that, in answer to connecting, say the setup is wrong: a database missing, a user or password refused. */
const setupReasons: Record<string, string> = {
  '3D000': 'the database does not exist',
  '28P01': 'the server refused the user or password',
  '28000': 'the server refused the user',
};

/**
 * Why the server cannot serve us now, in words for people; undefined when the error is the
 * statement's own (syntax, constraints, data), which is the program's or the input's. Outages
 * are: socket errors; SQLSTATE class 08 (connection exception), class 53 (insufficient
 * resources: too many connections, disk or memory full), 57P01–57P05 (terminated, crash
 * restart, starting up or shutting down, database dropped, idle too long), 25P03 (idle in a
 * transaction too long) and 57014 (a statement cancelled: timeout or an administrator);
 * node-postgres' own lost connections and timeouts; and, while connecting, a database closed to
 * connections (55000). (A database missing or credentials refused are the setup's: `cannotConnect`.)
 */
function outageReason(error: unknown, connecting: boolean): string | undefined {
  if (error instanceof AggregateError && error.errors.length > 0) return outageReason(error.errors[0], connecting);
  if (!(error instanceof Error)) return undefined;
  const code = codeOf(error);
  return (
    socketReasons[code] ??
    serverReasons[code] ??
    (connecting ? connectReasons[code] : undefined) ??
    (code.startsWith('08') ? 'the connection failed' : undefined) ??
    (code.startsWith('53') ? 'the server is out of resources, such as disk, memory or a configured limit' : undefined) ??
    driverReason(error.message)
  );
}

/** node-postgres' and pg-pool's own messages for a connection lost or never made. */
function driverReason(message: string): string | undefined {
  if (/timeout exceeded when trying to connect|Connection terminated due to connection timeout/.test(message)) {
    return 'no connection within 5 s, the server being slow to answer or every connection busy';
  }
  if (/^Connection terminated|not queryable/.test(message)) return 'the connection was lost';
  if (message === 'Query read timeout') return 'the server did not answer within 120 s';
  return undefined;
}

/** The driver's or the server's own words, in parentheses, with the SQLSTATE. */
function detailOf(error: unknown): string {
  const messages = (error instanceof AggregateError ? error.errors : [error]).map((e) => {
    if (!(e instanceof Error)) return String(e);
    const code = codeOf(e);
    return /^[0-9A-Z]{5}$/.test(code) ? `${code}: ${e.message}` : e.message || e.name;
  });
  const text = [...new Set(messages)].join('; ');
  return text ? ` (${text})` : '';
}

/** A SQLSTATE or a system error code, or ''. */
function codeOf(error: Error): string {
  const { code } = error as { code?: unknown };
  return typeof code === 'string' ? code : '';
}
