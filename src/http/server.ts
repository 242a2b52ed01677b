import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { FailedAuthLimiter, failedAuthLimit, installAccess } from './access.js';
import type { AppContext } from './context.js';
import { drainOnClose } from './drain.js';
import { answerFor, errorBody, HttpError } from './errors.js';
import { installSecurityHeaders, securityHeaders } from './headers.js';
import { chatRoutes } from './routes/chat.js';
import { healthRoutes } from './routes/health.js';
import { memberRoutes } from './routes/members.js';
import { syncRoutes } from './routes/sync.js';
import { webhookRoutes } from './routes/webhook.js';
import { chatPages } from './ui/chat.js';
import { editPages } from './ui/edit.js';
import { memberPages } from './ui/members.js';
import { signinRoutes, type UiAuth, uiAuth } from './ui/signin.js';
import { syncPage } from './ui/sync.js';

/** What a 503 asks the client (and MinIO's queue) to wait before trying again. */
const retryAfterSeconds = '5';

export interface ServerOptions {
  logger?: FastifyServerOptions['logger'];
  /** The web UI's sessions (and one-time sign-in token); made from the configuration when not given. */
  ui?: UiAuth;
}

/**
 * The HTTP API as Fastify plugins over the core: webhook, members, sync, health, and the
 * OpenAPI document made from the same route schemas that validate requests and responses.
 */
export async function buildServer(app: AppContext, options: ServerOptions = {}): Promise<FastifyInstance> {
  const limits = app.config.http;
  const fastify = Fastify({
    logger: options.logger ?? false,
    bodyLimit: 1024 * 1024,
    // Slow clients cannot hold memory for long: the whole request must arrive in time (408).
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // Node checks the two timeouts above on this interval (30 s unless told).
      connectionsCheckingInterval: Math.min(1000, Math.ceil(limits.headersTimeoutMs / 4)),
    },
    // Behind a load balancer, the client is the one it names (failed-authentication counts).
    trustProxy: limits.trustProxy.length > 0 ? limits.trustProxy : false,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Requests read while the server closes are answered, not refused (see drain.ts).
    return503OnClosing: false,
    // A URL Fastify cannot decode (bad percent-encoding) gets the API's error shape too.
    // Such answers skip the hooks: the security headers are set here.
    frameworkErrors: (error, request, reply) => {
      request.log.info({ error: { code: 'bad_url', message: error.message } }, 'request refused');
      void (reply as FastifyReply).code(400).headers(securityHeaders(request.url)).send(errorBody('bad_url', error.message));
    },
    clientErrorHandler: answerClientError,
  }).withTypeProvider<ZodTypeProvider>();
  fastify.server.maxConnections = limits.maxConnections;
  reportRefusedConnections(fastify, limits.maxConnections);
  installSecurityHeaders(fastify as unknown as FastifyInstance);
  const ui = options.ui ?? uiAuth(app.config, app.db);
  // One count of failures per client (an address; an IPv6 /64), for API tokens and UI passwords alike.
  const limiter = new FailedAuthLimiter(failedAuthLimit);
  installAccess(fastify as unknown as FastifyInstance, app.config, ui.sessions, limiter);
  drainOnClose(fastify as unknown as FastifyInstance, limits.shutdownTimeoutMs);
  fastify.setValidatorCompiler(validatorCompiler);
  // Responses are built from typed values; their schemas document them (OpenAPI) without
  // re-validating each one on the way out, which cost more than the rest of a request.
  fastify.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // Some senders label JSON with another type — text/plain is what `fetch` sends a string as, in
  // a relay — so every body is parsed as JSON, by Fastify's JSON parser, which refuses
  // `__proto__` and `constructor.prototype` keys as it does for application/json.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('text/plain');
  fastify.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    parseJson(request, body as string, (error, value) => {
      if (error) done(new HttpError(400, 'bad_json', 'the body is not JSON, or holds a __proto__ or constructor.prototype key'));
      else done(null, value);
    });
  });

  fastify.setErrorHandler((error, request, reply) => {
    const answer = answerFor(error, request);
    if (answer.log === 'warn') request.log.warn({ err: error }, 'dependency unavailable');
    else if (answer.log === 'error') request.log.error({ err: error }, 'unexpected error');
    // A refusal's reason is in the log too, beside the status the request line records.
    else request.log.info({ error: { code: answer.code, message: answer.message } }, 'request refused');
    if (answer.retry) void reply.header('retry-after', retryAfterSeconds);
    return reply.code(answer.status).send(errorBody(answer.code, answer.message, answer.details));
  });
  fastify.setNotFoundHandler((request, reply) => reply.code(404).send(errorBody('not_found', `no route ${request.method} ${request.url}`)));

  await fastify.register(swagger, {
    openapi: {
      info: {
        title: 'VECR Garage member registry',
        version: '0.1.0',
        description:
          'Members of VECR Garage, kept in step with their YAML files. With API tokens configured (VECR_API_TOKENS), routes that need a scope take `Authorization: Bearer <token>`: 401 without a known token, 403 when it lacks the scope, 429 after repeated failures from one address (an IPv6 /64). A browser signed in to the web UI may call the API with its session cookie instead, within the role of its account (admin: read, chat, admin; viewer: read); a POST, PUT, PATCH or DELETE made so needs the `x-csrf-token` of the session (403 without). Requests made by pages of other sites are refused (403), and so is a Host that is not a loopback name while the API is open on loopback (421). An outage is 503 with Retry-After.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
  });
  await fastify.register(swaggerUi, { routePrefix: '/docs' });
  fastify.get('/openapi.json', { schema: { hide: true }, config: { access: 'open' } }, async () => fastify.swagger());

  await fastify.register(healthRoutes(app));
  await fastify.register(webhookRoutes(app));
  await fastify.register(memberRoutes(app));
  await fastify.register(syncRoutes(app));
  await fastify.register(chatRoutes(app));
  await fastify.register(signinRoutes(app.config, ui, limiter));
  await fastify.register(memberPages(app, ui));
  await fastify.register(editPages(app, ui));
  await fastify.register(chatPages(app, ui));
  await fastify.register(syncPage(app, ui));
  return fastify as unknown as FastifyInstance;
}

/**
 * What Node itself refuses before any request exists — too slow (408), headers too large (431),
 * a URL with characters left unencoded (`?q=華` as curl sends it: raw UTF-8), not HTTP (400) —
 * answered in the API's error shape, with the security headers, and the connection closed; and
 * logged, as Fastify logs the requests it sees.
 */
function answerClientError(this: { log: FastifyInstance['log'] }, error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'timeout', 'the request did not arrive in time']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'the request headers are too large']
        : error.code === 'HPE_INVALID_URL'
          ? [
              400,
              'bad_url',
              "the URL holds a character that must be percent-encoded (a non-ASCII character, a space, a control character): send ?q=華 as ?q=%E8%8F%AF (curl -G --data-urlencode 'q=華' URL does it)",
            ]
          : [400, 'bad_request', 'this is not an HTTP request this service can read'];
  this.log.info({ remoteAddress: socket.remoteAddress, parser: error.code, error: { code, message } }, 'request refused before it was read');
  if (socket.writable) {
    const body = JSON.stringify(errorBody(code, message));
    const headers = Object.entries({
      ...securityHeaders(''),
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    });
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n${body}`);
  }
  socket.destroy(error);
}

/** Connections beyond the limit are closed as they come; the log says so, at most every 10 s. */
function reportRefusedConnections(fastify: { server: FastifyInstance['server']; log: FastifyInstance['log'] }, limit: number) {
  let refused = 0;
  let reportedAt = 0;
  fastify.server.on('drop', () => {
    refused++;
    if (Date.now() - reportedAt < 10_000) return;
    reportedAt = Date.now();
    fastify.log.warn({ refused, limit }, 'connections refused: VECR_MAX_CONNECTIONS are open');
    refused = 0;
  });
}
