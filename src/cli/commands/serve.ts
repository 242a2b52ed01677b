import type { Command } from 'commander';
import { ConfigError, describeStorage } from '../../config.js';
import { passwordFileOf } from '../../db/password.js';
import type { FastifyRequest } from 'fastify';
import { startService } from '../../service.js';
import { configFrom } from '../context.js';

const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function registerServe(program: Command) {
  program
    .command('serve')
    .description('run the registry service: webhook, HTTP API, folder watch and periodic reconcile (what npm start runs)')
    .option('--port <port>', 'HTTP port (default: $PORT or 3000)')
    .option('--host <host>', 'address to listen on (default: $HOST or 127.0.0.1; 0.0.0.0 for every interface)')
    .addHelpText(
      'after',
      `
Logs are JSON lines on standard output, one per request with its request id.
On 127.0.0.1 with no API tokens the API is open to this machine (not to web pages of other sites);
on any other address it needs VECR_API_TOKENS (see \`vecr token\`) and WEBHOOK_AUTH_TOKEN.
The web UI (the member manager) is at /: with no VECR_UI_USERS on 127.0.0.1, the banner prints a
one-time sign-in URL; accounts come from VECR_UI_USERS (see \`vecr password\`).
Environment: PORT, HOST, VECR_API_TOKENS, VECR_UI_USERS, VECR_SESSION_SECRET, VECR_SESSION_TTL, VECR_STORAGE, WEBHOOK_AUTH_TOKEN, WEBHOOK_ETAG_CHECK_ENABLED,
VECR_RECONCILE_INTERVAL, VECR_PG_PORT, VECR_REQUEST_TIMEOUT, VECR_HEADERS_TIMEOUT, VECR_KEEPALIVE_TIMEOUT,
VECR_MAX_CONNECTIONS, VECR_SHUTDOWN_TIMEOUT, CHATLOG_DYNAMODB_ENDPOINT, CHATLOG_TABLE, CHATLOG_TTL_DAYS (see README).`,
    )
    .action(async (options: { port?: string; host?: string }, command: Command) => {
      const env = { ...process.env };
      if (options.port !== undefined && !(/^\d{1,5}$/.test(options.port) && Number(options.port) <= 65535)) {
        throw new ConfigError(`--port must be a port number (0-65535), not "${options.port}"`);
      }
      if (options.port) env.PORT = options.port;
      if (options.host) env.HOST = options.host;
      const config = configFrom(command.optsWithGlobals(), env);
      const level = (process.env.LOG_LEVEL || 'info').toLowerCase();
      if (!logLevels.includes(level)) throw new ConfigError(`LOG_LEVEL must be one of ${logLevels.join(', ')}, not "${process.env.LOG_LEVEL}"`);
      const service = await startService(config, { logger: { level, redact: ['req.headers.authorization'], serializers: { req: requestLogged } } });
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
      process.stderr.write(lines.join('\n') + '\n');
    });
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
