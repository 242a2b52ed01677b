/** What the rest of the code sees of the database: PGlite or a PostgreSQL server, never which. */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  /** One statement with `$1`-style parameters. */
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** A script of several statements, without parameters. */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  /** Where the data lives, safe to print (no password). */
  readonly description: string;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws (D8). */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * The database cannot be reached, or stopped answering: the server is down, restarting, failing
 * over, overloaded, closed to connections, or the connection to it was lost. Worth trying again
 * later, and never the input's fault: the HTTP API answers 503, a command exits with the message.
 * The adapters turn every such failure into this error, so nothing above them needs to know a
 * driver's error codes.
 */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
  /** What happened, in a few words fit to show a client: no host, no path, no password. */
  readonly reason: string;
  constructor(message: string, options?: { cause?: unknown; reason?: string }) {
    super(message, options);
    this.reason = options?.reason ?? 'the database cannot be reached';
  }
}
