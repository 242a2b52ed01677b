import type { Command } from 'commander';
import { lazy } from '../lazy.js';

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
    .action(lazy(async () => (await import('../actions/serve.js')).serve));
}
