import type { Command } from 'commander';
import type { FastifyRequest } from 'fastify';
import { type Config, ConfigError, describeStorage } from '../../config.js';
import { passwordFileOf } from '../../db/password.js';
import { startService } from '../../service.js';
import { configFrom, embeddedDatabase, embeddedStoreExists } from '../context.js';

const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export async function serve(options: { port?: string; host?: string }, command: Command) {
  const env = { ...process.env };
  if (options.port !== undefined && !(/^\d{1,5}$/.test(options.port) && Number(options.port) <= 65535)) {
    throw new ConfigError(`--port must be a port number (0-65535), not "${options.port}"`);
  }
  if (options.port) env.PORT = options.port;
  if (options.host) env.HOST = options.host;
  const config = configFrom(command.optsWithGlobals(), env);
  const level = (process.env.LOG_LEVEL || 'info').toLowerCase();
  if (!logLevels.includes(level)) throw new ConfigError(`LOG_LEVEL must be one of ${logLevels.join(', ')}, not "${process.env.LOG_LEVEL}"`);
  // Told in the banner, once the service runs (a start refused for its settings makes nothing).
  const newDatabaseIn =
    config.database.engine === 'pglite' && !(await embeddedStoreExists(embeddedDatabase(config.database.dataDir))) ? config.database.dataDir : undefined;
  const service = await startService(config, { logger: { level, redact: ['req.headers.authorization'], serializers: { req: requestLogged } } }).catch(
    (error: unknown) => {
      throw portTaken(error, config) ?? error;
    },
  );
  const lines = [
    // For HOST=0.0.0.0 the URL shown is this machine's; the line says the others reach it too.
    `vecr serve: listening on ${service.url} (API docs: ${service.url}/docs)${['0.0.0.0', '::'].includes(config.http.host) ? `, and on every address of this machine (HOST=${config.http.host})` : ''}`,
    `  storage:  ${describeStorage(config.storage)}`,
    `  database: ${service.pgUrl ? `embedded, shared at ${service.pgUrl}` : service.context.db.description}`,
    `  chat log: ${service.context.chat?.description ?? 'not configured'}`,
  ];
  // The banner is for the user at this machine's terminal; the log (JSON lines) never holds the URL.
  if (service.signInUrl) lines.splice(1, 0, `  web UI:   open ${service.signInUrl} to sign in (once; no VECR_UI_USERS set)`);
  if (service.pgUrl && config.database.engine === 'pglite') {
    const port = new URL(service.pgUrl).port;
    lines.push(`  psql:     PGPASSFILE=${passwordFileOf(config.database.dataDir)} psql -h localhost -p ${port} -U postgres member_db`);
  }
  if (newDatabaseIn)
    lines.push(`  note:     there was no embedded database in ${newDatabaseIn}: this one is new (set VECR_DATA_DIR or DATABASE_URL to use another)`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    service.http.log.info({ signal }, 'stopping: answering the requests received, then closing');
    // Whatever failed to close was logged (and the rest closed all the same): exit 1 says so.
    const closed = await service.close().then(
      () => true,
      (error: unknown) => {
        process.stderr.write(`vecr serve: stopped, but ${(error as Error).message}\n`);
        return false;
      },
    );
    process.exit(closed ? 0 : 1);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // Only now: whoever waits for the banner may signal at once, and must find the handlers.
  process.stderr.write(`${lines.join('\n')}\n`);
}

/**
 * A port another program holds, told with the setting that moves ours: every port the service
 * opens comes from one (the embedded chat log store takes any free port).
 */
function portTaken(error: unknown, config: Config): Error | undefined {
  const { code, port, address } = error as { code?: string; port?: number; address?: string };
  if (code !== 'EADDRINUSE' || port === undefined) return undefined;
  const uses = [
    ...(port === config.http.port ? [{ what: "the HTTP API's port", setting: 'PORT (or --port)' }] : []),
    ...(config.database.engine === 'pglite' && port === config.pgPort
      ? [{ what: 'the port that shares the embedded database (psql, other vecr commands)', setting: 'VECR_PG_PORT' }]
      : []),
  ];
  if (uses.length === 0) return undefined;
  return new ConfigError(
    `port ${port}${address ? ` on ${address}` : ''} is already in use by another program (another vecr serve?). It is ${uses.map((use) => use.what).join(' and ')}: stop that program, or set ${uses.map((use) => use.setting).join(' and ')} to a free port (0 takes any free one)`,
  );
}

/**
 * A request as its log line shows it (Fastify's own fields), except the token of the one-time
 * sign-in URL: it is printed in the banner, for the user at the terminal, and nowhere else.
 */
function requestLogged(request: FastifyRequest) {
  return {
    method: request.method,
    url: request.url.startsWith('/signin/once?') ? '/signin/once?token=(not logged)' : request.url,
    version: request.headers['accept-version'] as string | undefined,
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
