import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import * as z from 'zod';
import type { AppContext } from '../context.js';
import { errorSchema } from '../schemas.js';

const checkSchema = z.object({ status: z.enum(['ok', 'down']), message: z.string().optional() });

export function healthRoutes(app: AppContext): FastifyPluginAsyncZod {
  return async (fastify) => {
    fastify.get(
      '/health',
      {
        config: { access: 'open' },
        schema: { tags: ['health'], summary: 'Liveness: the process answers', response: { 200: z.object({ status: z.literal('ok') }) } },
      },
      async () => ({ status: 'ok' as const }),
    );

    fastify.get(
      '/ready',
      {
        config: { access: 'open' },
        schema: {
          tags: ['health'],
          summary: 'Readiness: the database and the storage answer (503 otherwise)',
          response: {
            200: z.object({ status: z.literal('ready'), database: checkSchema, storage: checkSchema, chatlog: checkSchema.optional() }),
            503: errorSchema,
          },
        },
      },
      async (request, reply) => {
        const chat = app.chat;
        // Each check answers in words that name the dependency only; what failed, and where, is logged.
        const check = async (dependency: string, probe: () => Promise<void>): Promise<z.infer<typeof checkSchema>> => {
          try {
            await probe();
            return { status: 'ok' };
          } catch (error) {
            request.log.warn({ err: error, dependency }, 'readiness check failed');
            return { status: 'down', message: `${dependency} does not answer` };
          }
        };
        const [database, storage, chatlog] = await Promise.all([
          check('the database', () => app.db.query('SELECT 1').then(() => undefined)),
          check('the storage', () => app.storage.check()),
          chat ? check('the chat log store', () => chat.check()) : undefined,
        ]);
        const checks = { database, storage, ...(chatlog ? { chatlog } : {}) };
        if (Object.values(checks).every((c) => c.status === 'ok')) return { status: 'ready' as const, ...checks };
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ error: { code: 'not_ready', message: 'a dependency is down', details: checks } });
      },
    );
  };
}
