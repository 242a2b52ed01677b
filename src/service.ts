import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { openChatStore } from './chatlog/open.js';
import type { ChatStore } from './chatlog/store.js';
import { type Config, ConfigError, describeStorage, redactUrl } from './config.js';
import { migrate } from './db/migrate.js';
import { openDatabase } from './db/open.js';
import type { Db } from './db/types.js';
import { accessWarnings, exposureProblem } from './http/access.js';
import type { AppContext } from './http/context.js';
import { buildServer } from './http/server.js';
import { oneTimeSignInPath, type UiAuth, uiAuth } from './http/ui/signin.js';
import { defaultLimits } from './members/parse.js';
import { openStorage } from './storage/open.js';
import type { Storage } from './storage/types.js';
import { Reconciler } from './sync/reconciler.js';
import { Registrar } from './sync/registrar.js';
import { watchFolder } from './sync/watch.js';

export interface Service {
  /** Where the HTTP API listens. */
  url: string;
  /** With no UI accounts, on loopback: the URL that signs its first visitor in as admin, once. */
  signInUrl?: string;
  /** Where psql reaches the embedded database while the service runs (embedded mode only), password masked. */
  pgUrl?: string;
  http: FastifyInstance;
  context: AppContext;
  /**
   * Stops taking connections, answers the requests received, and closes everything, last opened
   * first; rejects naming what failed to close (the rest is closed all the same).
   */
  close(): Promise<void>;
}

export interface ServiceParts {
  db: Db;
  storage: Storage;
  chat?: ChatStore;
  /**
   * What the caller opened for the service (the database, ...), in the order it opened them: the
   * service adds its own parts after them, and closing it closes the whole list, last first.
   */
  closers?: Closers;
  pgUrl?: string;
}

/**
 * What is open, closed in the reverse order of opening: each closer runs once, even when one
 * before it failed; the failures are collected, and `closeAll` rejects with them.
 */
export class Closers {
  private readonly open: Array<{ what: string; close: () => unknown }> = [];

  add(what: string, close: () => unknown): void {
    this.open.push({ what, close });
  }

  async closeAll(): Promise<void> {
    const failures: Error[] = [];
    for (let next = this.open.pop(); next; next = this.open.pop()) {
      try {
        await next.close();
      } catch (error) {
        failures.push(new Error(`closing ${next.what} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      }
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, failures.map((failure) => failure.message).join('; '));
  }
}

/**
 * `vecr serve`: opens the configured database and storage, then runs the service on them.
 * The embedded database is shared over the PostgreSQL protocol (psql, other vecr commands).
 */
export async function startService(config: Config, options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<Service> {
  const exposed = exposureProblem(config);
  if (exposed) throw new ConfigError(exposed);
  const closers = new Closers();
  try {
    const storage = await openStorage(config.storage);
    const chat = await openChatStore(config);
    closers.add('the chat log store', () => chat.close());
    let db: Db;
    let pgUrl: string | undefined;
    if (config.database.engine === 'pglite') {
      const { sharePglite } = await import('./db/pglite.js');
      const { openPostgres } = await import('./db/postgres.js');
      const shared = await sharePglite(config.database.dataDir, config.pgPort, async (direct) => void (await migrate(direct)));
      closers.add('the embedded database', () => shared.close());
      pgUrl = redactUrl(shared.url);
      db = await openPostgres(shared.url);
    } else {
      db = await openDatabase(config.database);
    }
    closers.add('the database connections', () => db.close());
    const service = await runService(config, { db, storage, chat, closers, ...(pgUrl ? { pgUrl } : {}) }, options);
    if (config.chatlog.autoCreate) closers.add('the chat log table attempts', prepareChatTable(chat, service));
    return service;
  } catch (error) {
    // What opened before the failure is closed; the failure to start is what the user needs to read.
    await closers.closeAll().catch((closeError: unknown) => tellCloseFailure(error, closeError));
    throw error;
  }
}

/** A failure to close after a failure to start: told alongside the first, which is what the user needs to read. */
function tellCloseFailure(error: unknown, closeError: unknown) {
  if (error instanceof Error) error.message += ` (and then ${(closeError as Error).message})`;
}

/**
 * The registry does not wait for the chat log store: until its table is there, chat routes
 * answer 503, and creating it is tried again every few seconds. Returns how to stop trying.
 */
function prepareChatTable(chat: ChatStore, service: Service): () => void {
  let timer: NodeJS.Timeout | undefined;
  const attempt = () =>
    chat.ensureTable().then(
      () => service.http.log.info({ table: chat.description }, 'chat log table ready'),
      (error: unknown) => {
        service.http.log.warn({ err: error }, 'the chat log store is not ready; chat routes answer 503 until it is, trying again in 10 s');
        timer = setTimeout(attempt, 10_000);
        timer.unref();
      },
    );
  void attempt();
  return () => clearTimeout(timer);
}

/**
 * The service on a database and storage already open: routes, group commit, reconcile, watch.
 * Closing it closes what it opened, then what the caller put in `parts.closers`, last first.
 */
export async function runService(config: Config, parts: ServiceParts, options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<Service> {
  const exposed = exposureProblem(config);
  if (exposed) throw new ConfigError(exposed);
  const { db, storage } = parts;
  const closers = parts.closers ?? new Closers();
  const limits = { ...defaultLimits, maxBytes: config.maxFileBytes };
  let http: FastifyInstance | undefined;
  let context: AppContext | undefined;
  let ui: UiAuth | undefined;
  const log = () => http?.log;

  try {
    const registrar = new Registrar(db, storage, {
      key: config.upsertKey,
      limits,
      skipRepeats: config.webhook.etagCheck,
      onError: (error) => log()?.error({ err: error }, 'handing a freed name over failed'),
    });
    // Writes still queued finish before the database closes.
    closers.add('the event queue', () => registrar.idle());
    const reconciler = new Reconciler(db, storage, {
      key: config.upsertKey,
      limits,
      intervalMs: config.reconcileIntervalMs,
      onReport: (report, trigger) => {
        const { created, updated, unchanged, deleted, invalid, durationMs } = report;
        log()?.info({ trigger, created, updated, unchanged, deleted, invalid, durationMs }, 'reconciled with storage');
      },
      onError: (error, trigger) => log()?.error({ err: error, trigger }, 'reconcile failed; the next run will try again'),
    });
    // A full sync under way stops at its next batch (what it wrote stays written).
    closers.add('the reconciler', () => reconciler.stop());
    context = { config, db, storage, registrar, reconciler, ...(parts.chat ? { chat: parts.chat } : {}) };
    ui = uiAuth(config, db);
    const server = await buildServer(context, { logger: options.logger ?? false, ui });
    http = server;
    for (const warning of accessWarnings(config)) server.log.warn(warning);

    // The watcher before the first full sync, so that nothing changed during it goes unseen.
    if (config.storage.kind === 'folder' && config.watch) {
      const watcher = watchFolder(
        config.storage.path,
        (changes) => {
          registrar.submit(changes).then(
            (outcomes) => server.log.info({ changes: outcomes.map((o) => ({ file_uri: o.file_uri, outcome: o.action })) }, 'folder changed'),
            (error: unknown) => server.log.error({ err: error }, 'registering folder changes failed; the next reconcile heals it'),
          );
        },
        () => void reconciler.run('folder').catch(() => {}),
        (error) => {
          server.log.error({ err: error }, 'watching the folder failed; reconciling instead');
          void reconciler.run('watch-error').catch(() => {});
        },
      );
      closers.add('the folder watch', () => watcher.close());
      await watcher.ready;
    }
    reconciler.start();
    // Last opened, first closed: on SIGTERM, new connections stop at once and the requests
    // received are answered (drain.ts) while the database is still open.
    closers.add('the HTTP server', () => server.close());
    await server.listen({ host: config.http.host, port: config.http.port });
  } catch (error) {
    await closers.closeAll().catch((closeError: unknown) => tellCloseFailure(error, closeError));
    throw error;
  }

  const server = http!;
  const address = server.server.address();
  const port = address && typeof address === 'object' ? address.port : config.http.port;
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  server.log.info({ storage: describeStorage(config.storage), database: parts.pgUrl ?? db.description }, 'service ready');

  let closing: Promise<void> | undefined;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const oneTimeToken = ui!.oneTimeToken;
  return {
    url,
    ...(oneTimeToken ? { signInUrl: url + oneTimeSignInPath(oneTimeToken) } : {}),
    ...(parts.pgUrl ? { pgUrl: parts.pgUrl } : {}),
    http: server,
    context: context!,
    close() {
      closing ??= closers.closeAll().catch((error: unknown) => {
        server.log.error({ err: error }, 'closing the service failed');
        throw error;
      });
      return closing;
    },
  };
}
