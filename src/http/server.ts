import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { EventFormatError } from '../sync/events.js';
import type { AppContext } from './context.js';
import { dependencyOf, errorBody, HttpError, isUnavailable } from './errors.js';
import { ChatRequestError } from '../chatlog/store.js';
import { failedAuthLimit, FailedAuthLimiter, installAccess } from './access.js';
import { drainOnClose } from './drain.js';
import { installSecurityHeaders, securityHeaders } from './headers.js';
import { chatRoutes } from './routes/chat.js';
import { healthRoutes } from './routes/health.js';
import { memberRoutes } from './routes/members.js';
import { syncRoutes } from './routes/sync.js';
import { chatPages } from './ui/chat.js';
import { editPages } from './ui/edit.js';
import { memberPages } from './ui/members.js';
import { syncPage } from './ui/sync.js';
import { signinRoutes, uiAuth, type UiAuth } from './ui/signin.js';
import { webhookRoutes } from './routes/webhook.js';

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
      void (reply as FastifyReply).code(400).headers(securityHeaders(request.url)).send(errorBody('bad_url', error.message));
    },
    clientErrorHandler: answerClientError,
  }).withTypeProvider<ZodTypeProvider>();
  fastify.server.maxConnections = limits.maxConnections;
  reportRefusedConnections(fastify, limits.maxConnections);
  installSecurityHeaders(fastify as unknown as FastifyInstance);
  const ui = options.ui ?? uiAuth(app.config);
  // One count of failures per address, for API tokens and UI passwords alike.
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
    if (hasZodFastifySchemaValidationErrors(error)) {
      return reply.code(400).send(errorBody('bad_request', `invalid ${error.validationContext ?? 'request'}`, error.validation.map((v) => ({ path: v.instancePath, message: v.message }))));
    }
    if (error instanceof HttpError) return reply.code(error.statusCode).send(errorBody(error.code, error.message, error.details));
    if (error instanceof EventFormatError) return reply.code(400).send(errorBody('bad_event', error.message, error.details));
    if (error instanceof ChatRequestError) {
      // The store's 404 is its table missing (being created): an outage of the chat log store.
      if (error.status === 404) return reply.code(503).header('retry-after', retryAfterSeconds).send(errorBody(error.code, error.message));
      return reply.code(error.status).send(errorBody(error.code, error.message));
    }
    if (isUnavailable(error)) {
      // The details (hosts, paths, the driver's words) go to the log; the answer names the dependency.
      request.log.warn({ err: error }, 'dependency unavailable');
      return reply.code(503).header('retry-after', retryAfterSeconds).send(errorBody('unavailable', `${dependencyOf(error)} is unavailable; try again later`));
    }
    const { statusCode: status, message, code: fastifyCode } = error as { statusCode?: number; message?: string; code?: string };
    if (status && status >= 400 && status < 500) {
      const code = status === 413 ? 'too_large' : status === 415 ? 'unsupported_media_type' : fastifyCode?.startsWith('FST_ERR_CTP') ? 'bad_json' : 'bad_request';
      return reply.code(status).send(errorBody(code, message ?? 'bad request'));
    }
    request.log.error({ err: error }, 'unexpected error');
    return reply.code(500).send(errorBody('internal', 'internal error; see the service log'));
  });
  fastify.setNotFoundHandler((request, reply) => reply.code(404).send(errorBody('not_found', `no route ${request.method} ${request.url}`)));

  await fastify.register(swagger, {
    openapi: {
      info: {
        title: 'VECR Garage member registry',
        version: '0.1.0',
        description:
          'Members of VECR Garage, kept in step with their YAML files. With API tokens configured (VECR_API_TOKENS), routes that need a scope take `Authorization: Bearer <token>`: 401 without a known token, 403 when it lacks the scope, 429 after repeated failures from one address. A browser signed in to the web UI may call the API with its session cookie instead, within the role of its account (admin: read, chat, admin; viewer: read); a POST, PUT, PATCH or DELETE made so needs the `x-csrf-token` of the session (403 without). Requests made by pages of other sites are refused (403), and so is a Host that is not a loopback name while the API is open on loopback (421). An outage is 503 with Retry-After.',
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
 * Which dependency an outage is, in the words of a 503 answer: no host, path or driver message.
 * The storage and the chat log store report outages as errors of their own; any other outage is
 * the database's (node-postgres' and the socket's errors, or DatabaseUnavailableError).
 */
/**
 * What Node itself refuses before any request exists — too slow (408), headers too large (431),
 * not HTTP (400) — answered in the API's error shape, with the security headers, and the
 * connection closed.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'timeout', 'the request did not arrive in time']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'headers_too_large', 'the request headers are too large']
        : [400, 'bad_request', 'this is not an HTTP request this service can read'];
  if (socket.writable) {
    const body = JSON.stringify(errorBody(code, message));
    const headers = Object.entries({ ...securityHeaders(''), 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close' });
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
