import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ApiToken, type Config, type Scope, scopes } from '../config.js';
import { errorBody } from './errors.js';
import type { Principal } from './principal.js';
import type { Session, Sessions } from './ui/session.js';

/**
 * Who may call what. Every route declares what it needs in its config — a scope, the webhook's
 * token, or nothing — and one hook resolves the caller (a principal) and checks it, before the
 * body is read. Scopes fit the users: `read` (members, chat logs, sync status: personal data and
 * the team's prompts), `chat` (writing chat: the bots), `admin` (deleting sessions, syncing).
 * API tokens come from VECR_API_TOKENS; the web UI's accounts (VECR_UI_USERS) sign in to a
 * session cookie, which the same hook resolves to a principal of the same kind: a request with no
 * Authorization header and a valid session is that account's, with its role's scopes. A request
 * that changes something (POST, PUT, PATCH, DELETE) on a session must carry the session's CSRF
 * token. The UI's pages (`page`) need a session; without one they send the browser to /signin.
 *
 * On loopback with no API tokens configured the API is open, for zero-setup local use; then
 * only pages of other sites are kept out (Origin, Sec-Fetch-Site), and so are names that are not
 * this machine's (Host: DNS rebinding) and requests a proxy forwarded. Anywhere else, or behind
 * a proxy (VECR_TRUST_PROXY), `vecr serve` does not start without API tokens and a webhook token
 * (`exposureProblem`).
 */
export type RouteAccess = Scope | 'webhook' | 'page' | 'open';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route needs: a scope, the webhook token, a UI session, or nothing. Every route says. */
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** Who is calling, once the access hook has run; null on open routes and the webhook. */
    principal: Principal | null;
    /** The UI session the principal comes from; null when it comes from a token, or there is none. */
    session: Session | null;
  }
}

/** With no API tokens, on loopback: whoever can reach the port is the machine's own user. */
const localUser: Principal = { name: 'local', scopes: new Set(scopes) };

/** Routes of the Swagger UI plugin (its page, scripts and styles): no data, open. */
const docsPrefix = '/docs';

/** Failed authentications per client address before 429, and the window they are counted in. */
export const failedAuthLimit = { failures: 10, windowMs: 60_000, addresses: 10_000 };

/** 127.0.0.0/8, ::1 (also IPv4-mapped), and `localhost` names: where only this machine can connect. */
export function isLoopback(host: string): boolean {
  const name = host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  const v4 = name.startsWith('::ffff:') ? name.slice('::ffff:'.length) : name;
  if (net.isIPv4(v4)) return v4.startsWith('127.');
  return net.isIPv6(name) && new net.SocketAddress({ address: name, family: 'ipv6' }).address === '::1';
}

/** The shortest webhook token accepted where other machines can reach the service. */
const minExposedSecret = 16;

/** Why `vecr serve` must not start with this configuration (a sentence saying what to set), or undefined. */
export function exposureProblem(config: Config): string | undefined {
  // A proxy in front (VECR_TRUST_PROXY) forwards other machines' requests, whatever the address.
  const proxied = config.http.trustProxy.length > 0;
  if (isLoopback(config.http.host) && !proxied) return undefined;
  const missing = [
    ...(config.access.tokens.length === 0 ? ['VECR_API_TOKENS (make a token with `vecr token NAME --scopes read,chat,admin`)'] : []),
    ...(config.webhook.authToken ? [] : ['WEBHOOK_AUTH_TOKEN']),
  ];
  const webhookToken = config.webhook.authToken;
  if (missing.length === 0) {
    // Guessing is limited per client (an address; an IPv6 /64): an attacker with many networks guesses on.
    if (webhookToken && webhookToken.length < minExposedSecret)
      return `WEBHOOK_AUTH_TOKEN is shorter than ${minExposedSecret} characters, which other machines could guess: make it a long random one (openssl rand -hex 32)`;
    return undefined;
  }
  if (!isLoopback(config.http.host)) {
    return `listening on ${config.http.host} (HOST, or serve --host) lets other machines reach the API, which then needs credentials: set ${missing.join(' and ')}, or listen on 127.0.0.1`;
  }
  return `VECR_TRUST_PROXY says a proxy forwards other machines' requests to the API, which then needs credentials: set ${missing.join(' and ')}, or unset VECR_TRUST_PROXY`;
}

/** What to warn about at start: tokens and passwords kept in the clear, and a webhook token short enough to guess. */
export function accessWarnings(config: Config): string[] {
  const warnings = config.access.tokens
    .filter((token) => token.plain)
    .map((token) => `VECR_API_TOKENS holds the token "${token.name}" itself: put its hash there instead (sha256:HEX; \`vecr token\` prints it)`);
  for (const account of config.ui.accounts) {
    if (account.password.kind === 'plain') {
      warnings.push(
        `ADMIN_PASSWORD holds the password of the UI account "${account.name}" itself: make a hash with \`vecr password ${account.name} --role admin\` and put its entry in VECR_UI_USERS instead`,
      );
    }
  }
  const webhookToken = config.webhook.authToken;
  if (webhookToken && webhookToken.length < minExposedSecret)
    warnings.push('WEBHOOK_AUTH_TOKEN is shorter than 16 characters: a longer, random one cannot be guessed');
  return warnings;
}

/** Methods that change something: on a session, they need its CSRF token. */
const changingMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Installs the access rules on a server, before any route is added. */
export function installAccess(fastify: FastifyInstance, config: Config, sessions: Sessions, limiter: FailedAuthLimiter): void {
  const openApi = config.access.tokens.length === 0;
  fastify.decorateRequest('principal', null);
  fastify.decorateRequest('session', null);

  // Deny by default: a route that does not say what it needs is a mistake found at start.
  fastify.addHook('onRoute', (route) => {
    route.config ??= {};
    if (route.url.startsWith(docsPrefix)) route.config.access ??= 'open';
    const access = route.config.access;
    if (!access) throw new Error(`the route ${route.method} ${route.url} does not declare its access (config.access)`);
    if (access !== 'open' && access !== 'page' && route.schema) {
      // The OpenAPI document shows which routes need a token, and which scope.
      const needsToken = access !== 'webhook' || config.webhook.authToken !== undefined;
      route.schema = {
        ...route.schema,
        ...(needsToken ? { security: [{ bearer: [] }] } : {}),
        ...(access === 'webhook' ? {} : { description: `Needs the \`${access}\` scope.` }),
      };
    }
  });

  fastify.addHook('onRequest', async (request, reply) => {
    const refusal = siteRefusal(request, openApi);
    if (refusal) return reply.code(refusal.status).send(errorBody(refusal.code, refusal.message));

    const access = request.routeOptions.config.access;
    if (access === undefined || access === 'open') return;
    if (access !== 'webhook' && request.headers.authorization === undefined) {
      const session = await sessions.of(request);
      if (session) {
        request.principal = session.principal;
        request.session = session;
        request.log = request.log.child({ principal: session.principal.name });
        if (access === 'page' || session.principal.scopes.has(access)) return;
        return reply
          .code(403)
          .send(errorBody('forbidden', `the account "${session.principal.name}" (${session.role}) lacks the ${access} scope this route needs`));
      }
    }
    // A page without a session sends the browser to sign in: a token does not open pages.
    if (access === 'page') return reply.code(303).header('location', '/signin').send();
    if (access === 'webhook' ? !config.webhook.authToken : openApi) {
      if (access !== 'webhook') request.principal = localUser;
      return;
    }
    // An address over the limit is refused before its credentials are looked at: otherwise a
    // guess that happens to be right would still tell itself apart, and guessing would go on.
    const retryAfter = limiter.lockedFor(request.ip);
    if (retryAfter > 0) {
      return reply
        .code(429)
        .header('retry-after', String(retryAfter))
        .send(errorBody('too_many_failures', `too many failed authentications from this address; try again in ${retryAfter} s`));
    }
    const given = request.headers.authorization;
    const failed = (message: string) => {
      // Each failure is logged; past the limit an address is refused unheard, so an attack cannot
      // flood the log.
      const failures = limiter.fail(request.ip);
      const nowLimited = limiter.lockedFor(request.ip) > 0;
      request.log.warn(
        { route: request.routeOptions.url, credentials: given ? 'wrong' : 'none', failures, limited: nowLimited },
        nowLimited ? 'authentication failed; this address is refused until its window ends' : 'authentication failed',
      );
      return reply.code(401).header('www-authenticate', 'Bearer').send(errorBody('unauthorized', message));
    };

    if (access === 'webhook') {
      if (!sameSecret(given ?? '', `Bearer ${config.webhook.authToken}`)) return failed('this endpoint needs Authorization: Bearer <WEBHOOK_AUTH_TOKEN>');
      return;
    }
    const token = given ? tokenOf(config.access.tokens, given) : undefined;
    if (!token)
      return failed(
        given ? 'the API token is not one this service knows' : `this route needs an API token with the ${access} scope: Authorization: Bearer <token>`,
      );
    request.principal = { name: token.name, scopes: new Set(token.scopes) };
    request.log = request.log.child({ principal: token.name });
    if (!request.principal.scopes.has(access)) {
      return reply
        .code(403)
        .send(errorBody('forbidden', `the API token "${token.name}" lacks the ${access} scope this route needs (it has ${token.scopes.join(', ')})`));
    }
  });

  // A page of another site cannot read the CSRF token, so it cannot make a signed-in browser
  // change anything (SameSite=Strict and the site checks above keep it out too; this holds even
  // where they do not). Checked once the body is parsed — a form carries the token as `_csrf` —
  // and before the handler runs.
  fastify.addHook('preValidation', async (request, reply) => {
    if (!request.session || !changingMethods.has(request.method)) return;
    const given = request.headers['x-csrf-token'] ?? (request.body as { _csrf?: unknown } | undefined)?._csrf;
    if (await sessions.csrfMatches(request.session, given)) return;
    request.log.warn({ route: request.routeOptions.url, csrf: given === undefined ? 'none' : 'wrong' }, 'CSRF token missing or wrong; refused');
    return reply
      .code(403)
      .send(errorBody('csrf', 'this request changes something and needs the CSRF token of its session (the _csrf form field, or the x-csrf-token header)'));
  });
}

/**
 * Pages of other sites must not reach the API through a visitor's browser: a foreign `Origin` or
 * `Sec-Fetch-Site: cross-site | same-site` is refused (403) on every route — clients that are not
 * browsers send neither. With the API open on loopback, a `Host` that is not a loopback name is
 * refused too (421): a page whose own name resolves to 127.0.0.1 (DNS rebinding) is same-origin
 * to its browser, and only its Host header tells it apart. (A request without Host is HTTP/1.0
 * from a tool; browsers always send one.)
 */
function siteRefusal(request: FastifyRequest, openApi: boolean): { status: number; code: string; message: string } | undefined {
  const host = request.headers.host ?? '';
  if (openApi && forwardingHeaders.some((name) => request.headers[name] !== undefined)) {
    // A proxy on this machine (nginx's `proxy_pass http://127.0.0.1:3000` sends a loopback Host)
    // would open the API to whoever reaches the proxy.
    return {
      status: 403,
      code: 'proxied',
      message: 'requests forwarded by a proxy come from other machines: this API is open to this machine only, until VECR_API_TOKENS is set',
    };
  }
  if (openApi && host !== '' && !isLoopback(host.replace(/:\d*$/, ''))) {
    return {
      status: 421,
      code: 'misdirected',
      message: `this service answers to loopback names only (localhost, 127.0.0.1, [::1]), not the Host ${JSON.stringify(host.slice(0, 100))}`,
    };
  }
  const fetchSite = request.headers['sec-fetch-site'];
  if (fetchSite === 'cross-site' || fetchSite === 'same-site') {
    return { status: 403, code: 'cross_site', message: 'requests made by pages of other sites are refused' };
  }
  const origin = request.headers.origin;
  if (origin !== undefined && hostOfOrigin(origin) !== host.toLowerCase()) {
    return { status: 403, code: 'cross_site', message: 'requests made by pages of other origins are refused' };
  }
  return undefined;
}

/** Headers a proxy adds to what it forwards. */
const forwardingHeaders = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-real-ip'] as const;

function hostOfOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.host : undefined;
  } catch {
    return undefined;
  }
}

/** The configured token whose hash the presented one has; every token is compared, in constant time. */
function tokenOf(tokens: readonly ApiToken[], authorization: string): ApiToken | undefined {
  const match = /^Bearer +(\S+) *$/i.exec(authorization);
  if (!match) return undefined;
  const digest = sha256(match[1]!);
  let found: ApiToken | undefined;
  for (const token of tokens) if (timingSafeEqual(digest, token.sha256)) found = token;
  return found;
}

function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/**
 * What one client controls of its address, as the failed-authentication limit counts it: an
 * IPv6 address's /64 — a host or a home is given a whole /64, and could take a new address of it
 * for every guess — and an IPv4 address itself (also written IPv4-mapped, `::ffff:a.b.c.d`).
 */
export function clientOf(address: string): string {
  if (!net.isIPv6(address)) return address;
  // Written one way (lower case, zeros compressed, no zone), an IPv4-mapped one as `::ffff:a.b.c.d`.
  const plain = new net.SocketAddress({ address, family: 'ipv6' }).address;
  if (plain.startsWith('::ffff:') && net.isIPv4(plain.slice('::ffff:'.length))) return plain.slice('::ffff:'.length);
  // Groups written before and after `::`; an IPv4 tail holds the last two, never the first four.
  const [head = '', tail] = plain.split('::');
  const groupsOf = (part: string) => (part ? part.split(':') : []);
  const before = groupsOf(head);
  const after = tail === undefined ? [] : groupsOf(tail);
  const written = before.length + after.reduce((n, group) => n + (group.includes('.') ? 2 : 1), 0);
  const groups = [...before, ...Array<string>(8 - written).fill('0'), ...after];
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}

/**
 * Failed authentications counted per client (`clientOf`: an IPv6 address's /64) in fixed windows. Once an address has failed
 * `failures` times, it is refused (429) until its window ends, right credentials or not — so
 * that a weak secret cannot be guessed at any speed. The address is the client's as this service
 * sees it: behind a load balancer, VECR_TRUST_PROXY makes it the forwarded one, so that one
 * client's failures do not lock out the others. The table of addresses is bounded: the oldest
 * window goes first.
 */
export class FailedAuthLimiter {
  private readonly windows = new Map<string, { failures: number; endsAt: number }>();

  constructor(private readonly limit: typeof failedAuthLimit) {}

  /** Counts a failure of the address; answers its client's failures in the current window. */
  fail(address: string, now = Date.now()): number {
    const client = clientOf(address);
    let window = this.windows.get(client);
    if (!window || window.endsAt <= now) {
      this.windows.delete(client);
      if (this.windows.size >= this.limit.addresses) this.windows.delete(this.windows.keys().next().value!);
      window = { failures: 0, endsAt: now + this.limit.windowMs };
      this.windows.set(client, window);
    }
    return ++window.failures;
  }

  /** Seconds until the address may try again, or 0 when it may now. */
  lockedFor(address: string, now = Date.now()): number {
    const window = this.windows.get(clientOf(address));
    if (!window || window.endsAt <= now || window.failures < this.limit.failures) return 0;
    return Math.ceil((window.endsAt - now) / 1000);
  }
}
