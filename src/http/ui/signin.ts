import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config.js';
import type { Queryable } from '../../db/types.js';
import { type FailedAuthLimiter, failedAuthLimit, isLoopback } from '../access.js';
import { type Html, html } from './html.js';
import { isLanguage, type Language, languageCookie, languageOf, t } from './i18n.js';
import { passwordMatches } from './password.js';
import { type Session, Sessions, sessionCookie, sessionKey } from './session.js';
import { signedOutSessionsIn } from './signedOut.js';
import { stylesheet } from './style.js';

/** The web UI's sign-in: its sessions, and the one-time sign-in URL's token when there is one. */
export interface UiAuth {
  sessions: Sessions;
  /**
   * With no accounts and the service on loopback: the token of the one-time sign-in URL
   * (/signin/once?token=…), printed in `vecr serve`'s banner; it gives one admin session.
   * Off loopback with no accounts, there is no sign-in at all.
   */
  oneTimeToken?: string;
}

/** The UI's sign-in for a service; its sign-outs are kept in `db`, which every replica shares. */
export function uiAuth(config: Config, db: Queryable): UiAuth {
  const oneTime = config.ui.accounts.length === 0 && isLoopback(config.http.host);
  return {
    sessions: new Sessions({
      loadKey: () => sessionKey(config),
      accounts: config.ui.accounts,
      ttlMs: config.ui.sessionTtlMs,
      oneTime,
      signedOut: signedOutSessionsIn(db),
    }),
    ...(oneTime ? { oneTimeToken: randomBytes(32).toString('base64url') } : {}),
  };
}

/** The path of the one-time sign-in URL: the banner prints it with the service's address in front. */
export const oneTimeSignInPath = (token: string) => `/signin/once?token=${token}`;

/** A page of the UI: its language, a title, and what goes into <main>. */
export function page(language: Language, title: string, main: Html, request: FastifyRequest): Html {
  const other: Language = language === 'ja' ? 'en' : 'ja';
  // The switch comes back to the same page: with its query on the pages behind the sign-in (a
  // search, a page of the list), without it elsewhere (the one-time sign-in URL holds its token there).
  const back = request.routeOptions.config.access === 'page' ? request.url : request.url.split('?')[0]!;
  return html`<!doctype html>
<html lang="${language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — ${t(language, 'app.title')}</title>
<link rel="stylesheet" href="/ui/static/style.css">
</head>
<body>
<header><h1>${t(language, 'app.title')}</h1><a href="/lang/${other}?next=${encodeURIComponent(back)}" lang="${other}" hreflang="${other}">${t(language, 'lang.switch')}</a></header>
<main>
${main}
</main>
</body>
</html>
`;
}

export function sendPage(reply: FastifyReply, status: number, content: Html) {
  return reply.code(status).type('text/html; charset=utf-8').send(content.text);
}

/**
 * Where the language switch may send the browser back to: a path of this site only, as a browser
 * sends one (printable ASCII) — a browser drops tabs and line breaks from a Location, so
 * `/<TAB>/elsewhere` would lead to `//elsewhere`, another site.
 */
/** The path of the page a request came from, where that page is this site's. */
function pathOfReferer(request: FastifyRequest): string | undefined {
  try {
    const referer = new URL(request.headers.referer ?? '');
    return referer.host === request.host ? `${referer.pathname}${referer.search}` : undefined;
  } catch {
    return undefined;
  }
}

const safeNext = (next: unknown) => (typeof next === 'string' && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) ? next : '/');

function setSessionCookie(request: FastifyRequest, reply: FastifyReply, value: string, maxAgeSeconds: number) {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  reply.header('set-cookie', `${sessionCookie}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/**
 * The pages' forms post application/x-www-form-urlencoded: their fields, each given once. A
 * parser holds in the plugin that adds it, so each plugin with forms adds it.
 */
export function acceptForms(fastify: FastifyInstance) {
  fastify.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  // A form whose CSRF token is refused (a page older than its session: signed in again since)
  // gets a page that says what to do, not the API's JSON (access.ts refuses it for every route).
  fastify.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode !== 403 || !request.headers['content-type']?.startsWith('application/x-www-form-urlencoded') || typeof payload !== 'string')
      return payload;
    if (!payload.startsWith('{"error":{"code":"csrf"')) return payload;
    const language = languageOf(request);
    const back = safeNext(pathOfReferer(request));
    reply.type('text/html; charset=utf-8');
    const main = html`<h2>${t(language, 'csrf.title')}</h2>
<p class="message" role="alert">${t(language, 'csrf.message')}</p>
<p><a href="${back}">${t(language, 'csrf.back')}</a></p>`;
    return page(language, t(language, 'csrf.title'), main, request).text;
  });
}

/**
 * No write from a page's form without a session (issue 17): where the API is open to this machine
 * (loopback, no API tokens), or for an API token, the access hook lets a request through without
 * one — a form posted after its session expired would be written as the machine's user. Such a
 * form is sent to sign in; tools use the JSON API. Open routes (the sign-in itself) are left alone.
 */
export function formsNeedASession(fastify: FastifyInstance) {
  fastify.addHook('preHandler', async (request, reply) => {
    if (!request.session && request.routeOptions.config.access !== 'open') return reply.code(303).header('location', '/signin').send();
  });
}

/** Sign-in, sign-out, the language switch and the stylesheet (the pages behind the sign-in: ui/members.ts). */
export function signinRoutes(config: Config, ui: UiAuth, limiter: FailedAuthLimiter) {
  const accounts = new Map(config.ui.accounts.map((account) => [account.name, account]));
  let oneTimeTokenSpent = false;

  return async function signin(fastify: FastifyInstance) {
    acceptForms(fastify);

    const signinForm = (request: FastifyRequest, language: Language, message?: string, user = '') =>
      page(
        language,
        t(language, 'signin.title'),
        html`<h2>${t(language, 'signin.title')}</h2>
${message ? html`<p class="message" role="alert">${message}</p>` : ''}
${
  // With no accounts, no password can pass: the page says the way in instead of offering a form.
  accounts.size === 0
    ? html`<p class="message">${t(language, ui.oneTimeToken ? 'signin.oneTime' : 'signin.none')}</p>`
    : html`<form class="signin" method="post" action="/signin">
<label>${t(language, 'signin.user')} <input name="user" autocomplete="username" required value="${user}" autofocus></label>
<label>${t(language, 'signin.password')} <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">${t(language, 'signin.submit')}</button>
</form>`
}`,
        request,
      );

    const refuseLimited = (request: FastifyRequest, reply: FastifyReply, language: Language) => {
      const retryAfter = limiter.lockedFor(request.ip);
      if (retryAfter === 0) return false;
      void sendPage(
        reply.header('retry-after', String(retryAfter)),
        429,
        signinForm(request, language, t(language, 'signin.limited', { seconds: retryAfter })),
      );
      return true;
    };

    const failed = (request: FastifyRequest, what: string) => {
      const failures = limiter.fail(request.ip);
      request.log.warn(
        { route: request.routeOptions.url, failures, limited: limiter.lockedFor(request.ip) > 0, limit: failedAuthLimit.failures },
        `sign-in failed: ${what}`,
      );
    };

    fastify.get('/signin', { config: { access: 'open' } }, async (request, reply) => sendPage(reply, 200, signinForm(request, languageOf(request))));

    fastify.post('/signin', { config: { access: 'open' } }, async (request, reply) => {
      const language = languageOf(request);
      // Over the limit, refused unheard: a right guess must not tell itself apart.
      if (refuseLimited(request, reply, language)) return reply;
      const body = (request.body ?? {}) as Record<string, unknown>;
      const user = typeof body.user === 'string' ? body.user : '';
      const password = typeof body.password === 'string' ? body.password : '';
      const account = accounts.get(user);
      if (!(await passwordMatches(account, password))) {
        failed(request, account ? 'wrong password' : 'unknown user');
        return sendPage(reply, 401, signinForm(request, language, t(language, 'signin.failed'), user));
      }
      setSessionCookie(request, reply, await ui.sessions.issue(account), ui.sessions.maxAgeSeconds);
      request.log.info({ principal: account!.name, role: account!.role }, 'signed in');
      return reply.code(303).header('location', '/').send();
    });

    fastify.get('/signin/once', { config: { access: 'open' } }, async (request, reply) => {
      const language = languageOf(request);
      if (refuseLimited(request, reply, language)) return reply;
      const given = (request.query as { token?: unknown }).token;
      const valid = ui.oneTimeToken !== undefined && !oneTimeTokenSpent && typeof given === 'string' && timingSafeEqual(sha256(given), sha256(ui.oneTimeToken));
      if (!valid) {
        failed(request, 'one-time sign-in URL used again or wrong');
        return sendPage(reply, 403, signinForm(request, language, t(language, 'signin.onceSpent')));
      }
      oneTimeTokenSpent = true;
      setSessionCookie(request, reply, await ui.sessions.issue(undefined), ui.sessions.maxAgeSeconds);
      request.log.info({ principal: 'local', role: 'admin' }, 'signed in with the one-time sign-in URL; it is spent');
      return reply.code(303).header('location', '/').send();
    });

    fastify.post('/signout', { config: { access: 'page' } }, async (request, reply) => {
      // Recorded first: a sign-out the database cannot take fails and leaves the cookie, to be tried again.
      await ui.sessions.signOut(request.session as Session);
      setSessionCookie(request, reply, '', 0);
      request.log.info('signed out');
      return reply.code(303).header('location', '/signin').send();
    });

    fastify.get('/lang/:language', { config: { access: 'open' } }, async (request, reply) => {
      const { language } = request.params as { language: string };
      const next = safeNext((request.query as { next?: unknown }).next);
      if (isLanguage(language)) reply.header('set-cookie', `${languageCookie}=${language}; Path=/; SameSite=Lax; Max-Age=31536000`);
      return reply.code(303).header('location', next).send();
    });

    fastify.get('/ui/static/style.css', { config: { access: 'open' } }, async (_request, reply) => reply.type('text/css; charset=utf-8').send(stylesheet));
  };
}
