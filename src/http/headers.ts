import type { FastifyInstance } from 'fastify';

/**
 * Headers every answer carries, so that a browser that reaches the API treats what it gets as
 * data: never sniffed into a script or page, never framed, never shared with other origins, and
 * — personal data and the team's prompts — never kept in a cache.
 */
const everywhere = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
};

/** JSON, JSON Lines and Markdown answers: nothing in them may run or load anything. */
const dataPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * The Swagger UI at /docs: its own scripts and styles (from /docs/static), the OpenAPI document
 * fetched from the same origin, and the data: images its stylesheet embeds. Its code sets styles
 * on elements as it renders them, which needs 'unsafe-inline' for styles (never for scripts).
 */
const docsPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * The web UI's pages (HTML, server-rendered): styles and scripts from this origin only, never
 * inline; forms post to this origin only.
 */
const pagePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The headers of an answer to `url`, of this content type (HTML pages get the pages' policy). */
export function securityHeaders(url: string, contentType = ''): Record<string, string> {
  const docs = url === '/docs' || url.startsWith('/docs/');
  const uiPage = !docs && /^text\/html\b/.test(contentType);
  return {
    ...everywhere,
    // A page's form posts carry its Origin only under a policy that lets the referrer go to the
    // same origin: with no-referrer, Chromium sends `Origin: null`, and the cross-site check
    // refuses the page's own sign-in and sign-out. Other origins still get no referrer (and
    // `Origin: null`, refused).
    'referrer-policy': uiPage ? 'same-origin' : 'no-referrer',
    'content-security-policy': docs ? docsPolicy : uiPage ? pagePolicy : dataPolicy,
    // The static files of the Swagger UI and the web UI are the same for everyone; everything else is no one's to keep.
    ...(url.startsWith('/docs/static/') || url.startsWith('/ui/static/') ? {} : { 'cache-control': 'no-store' }),
  };
}

/** On every answer Fastify sends (for those it makes before routing, see `frameworkErrors` in server.ts). */
export function installSecurityHeaders(fastify: FastifyInstance): void {
  fastify.addHook('onSend', async (request, reply) => {
    reply.headers(securityHeaders(request.url, String(reply.getHeader('content-type') ?? '')));
  });
}
