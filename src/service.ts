import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { describeStorage, redactUrl, type Config } from './config.js';
import { migrate } from './db/migrate.js';
import { openDatabase } from './db/open.js';
import type { Db } from './db/types.js';
import type { AppContext } from './http/context.js';
import { buildServer } from './http/server.js';
import { defaultLimits } from './members/parse.js';
import { openChatStore } from './chatlog/open.js';
import type { ChatStore } from './chatlog/store.js';
import { openStorage } from './storage/open.js';
import type { Storage } from './storage/types.js';
import { Reconciler } from './sync/reconciler.js';
import { Registrar } from './sync/registrar.js';
import { watchFolder, type FolderWatch } from './sync/watch.js';

export interface Service {
  /** Where the HTTP API listens. */
  url: string;
  /** Where psql reaches the embedded database while the service runs (embedded mode only), password masked. */
  pgUrl?: string;
  http: FastifyInstance;
  context: AppContext;
  /** Stops taking requests, finishes those in flight, and closes everything. */
  close(): Promise<void>;
}

export interface ServiceParts {
  db: Db;
  storage: Storage;
  chat?: ChatStore;
  /** Called last on close, to close what the caller opened (the database). */
  onClose?: () => Promise<void>;
  pgUrl?: string;
}

/**
 * `vecr serve`: opens the configured database and storage, then runs the service on them.
 * The embedded database is shared over the PostgreSQL protocol (psql, other vecr commands).
 */
export async function startService(config: Config, options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<Service> {
  const storage = await openStorage(config.storage);
  const chat = await openChatStore(config);
  try {
    const service = await startWithDatabase(config, storage, chat, options);
    if (!config.chatlog.autoCreate) return service;
    const stopTrying = prepareChatTable(chat, service);
    const close = service.close;
    return {
      ...service,
      close: () => {
        stopTrying();
        return close();
      },
    };
  } catch (error) {
    await chat.close();
    throw error;
  }
}

/**
 * The registry does not wait for the chat log store: until its table is there, chat routes
 * answer 503, and creating it is tried again every few seconds.
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

async function startWithDatabase(config: Config, storage: Storage, chat: ChatStore, options: { logger?: FastifyServerOptions['logger'] }): Promise<Service> {
  if (config.database.engine === 'pglite') {
    const { sharePglite } = await import('./db/pglite.js');
    const { openPostgres } = await import('./db/postgres.js');
    const shared = await sharePglite(config.database.dataDir, config.pgPort, async (db) => void (await migrate(db)));
    try {
      const db = await openPostgres(shared.url);
      const onClose = async () => {
        await db.close();
        await shared.close();
        await chat.close();
      };
      return await runService(config, { db, storage, chat, onClose, pgUrl: redactUrl(shared.url) }, options).catch(async (error: unknown) => {
        await db.close();
        throw error;
      });
    } catch (error) {
      await shared.close();
      throw error;
    }
  }
  const db = await openDatabase(config.database);
  const onClose = async () => {
    await db.close();
    await chat.close();
  };
  return runService(config, { db, storage, chat, onClose }, options).catch(async (error: unknown) => {
    await db.close();
    throw error;
  });
}

/**
 * The service on a database and storage already open: routes, group commit, reconcile, watch.
 * Closing it calls `parts.onClose` last; the database is the caller's to close there.
 */
export async function runService(config: Config, parts: ServiceParts, options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<Service> {
  const { db, storage } = parts;
  const limits = { ...defaultLimits, maxBytes: config.maxFileBytes };
  let http: FastifyInstance | undefined;
  const log = () => http?.log;

  const registrar = new Registrar(db, storage, {
    key: config.upsertKey,
    limits,
    skipRepeats: config.webhook.etagCheck,
    onError: (error) => log()?.error({ err: error }, 'handing a freed name over failed'),
  });
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
  const context: AppContext = { config, db, storage, registrar, reconciler, ...(parts.chat ? { chat: parts.chat } : {}) };
  http = await buildServer(context, { logger: options.logger ?? false });

  let watcher: FolderWatch | undefined;
  try {
    await http.listen({ host: config.http.host, port: config.http.port });
    // The watcher first, so that nothing changed during the first full sync goes unseen.
    if (config.storage.kind === 'folder' && config.watch) {
      watcher = watchFolder(
        config.storage.path,
        (changes) => {
          registrar.submit(changes).then(
            (outcomes) => http?.log.info({ changes: outcomes.map((o) => ({ file_uri: o.file_uri, outcome: o.action })) }, 'folder changed'),
            (error: unknown) => http?.log.error({ err: error }, 'registering folder changes failed; the next reconcile heals it'),
          );
        },
        () => void reconciler.run('folder').catch(() => {}),
        (error) => {
          http?.log.error({ err: error }, 'watching the folder failed; reconciling instead');
          void reconciler.run('watch-error').catch(() => {});
        },
      );
      await watcher.ready;
    }
    reconciler.start();
  } catch (error) {
    await watcher?.close();
    await reconciler.stop();
    await http.close();
    throw error;
  }

  const address = http.server.address();
  const port = address && typeof address === 'object' ? address.port : config.http.port;
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  http.log.info({ storage: describeStorage(config.storage), database: parts.pgUrl ?? db.description }, 'service ready');

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ...(parts.pgUrl ? { pgUrl: parts.pgUrl } : {}),
    http,
    context,
    close() {
      // New requests stop first; then what is in flight, a full sync at its next batch, and
      // the writes still queued finish; the database closes last.
      closing ??= (async () => {
        const stopping = http!.close();
        await watcher?.close();
        await reconciler.stop();
        await stopping;
        await registrar.idle();
        await parts.onClose?.();
      })();
      return closing;
    },
  };
}
