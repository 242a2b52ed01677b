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

/** A PostgreSQL server through node-postgres' pool. */
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
  // An idle client that loses its server must not crash the process.
  pool.on('error', () => {});
  const description = redactUrl(url);
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new DatabaseUnavailableError(`cannot reach PostgreSQL at ${description}: ${messageOf(error)}`, { cause: error });
  }

  const resultOf = <R>(result: pg.QueryResult): QueryResult<R> => ({ rows: result.rows as R[], rowCount: result.rowCount ?? 0 });

  return {
    description,
    query: async <R>(sql: string, params?: readonly unknown[]) => resultOf<R>(await pool.query(sql, params as unknown[] | undefined)),
    exec: async (sql) => {
      await pool.query(sql);
    },
    async transaction(fn) {
      const client = await pool.connect();
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
        if (firstFailure !== undefined) throw new Error('the transaction is aborted: its first statement failed', { cause: firstFailure });
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
            enqueue(sql, async () => resultOf<R>(await send(sql, params))),
          exec: (sql) => enqueue(sql, async () => {
            await send(sql);
          }),
        };
        let result: Awaited<ReturnType<typeof fn>>;
        try {
          result = await fn(tx);
        } finally {
          ended = true;
        }
        if (begun) await inTurn(() => client.query('COMMIT'));
        return result;
      } catch (error) {
        if (begun) await inTurn(() => client.query('ROLLBACK')).catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError) return error.errors.map(messageOf).join('; ');
  return error instanceof Error ? error.message || error.name : String(error);
}
