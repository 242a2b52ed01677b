import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AppContext } from '../context.js';
import { errorSchema } from '../schemas.js';

const checkSchema = z.object({ status: z.enum(['ok', 'down']), message: z.string().optional() });

export function healthRoutes(app: AppContext): FastifyPluginAsyncZod {
  return async (fastify) => {
    fastify.get('/health', {
      schema: { tags: ['health'], summary: 'Liveness: the process answers', response: { 200: z.object({ status: z.literal('ok') }) } },
    }, async () => ({ status: 'ok' as const }));

    fastify.get('/ready', {
      schema: {
        tags: ['health'],
        summary: 'Readiness: the database and the storage answer (503 otherwise)',
        response: { 200: z.object({ status: z.literal('ready'), database: checkSchema, storage: checkSchema, chatlog: checkSchema.optional() }), 503: errorSchema },
      },
    }, async (_request, reply) => {
      const chat = app.chat;
      const [database, storage, chatlog] = await Promise.all([
        check(() => app.db.query('SELECT 1').then(() => undefined)),
        check(() => app.storage.check()),
        chat ? check(() => chat.check()) : undefined,
      ]);
      const checks = { database, storage, ...(chatlog ? { chatlog } : {}) };
      if (Object.values(checks).every((c) => c.status === 'ok')) return { status: 'ready' as const, ...checks };
      return reply.code(503).send({ error: { code: 'not_ready', message: 'a dependency is down', details: checks } });
    });
  };
}

async function check(probe: () => Promise<void>): Promise<z.infer<typeof checkSchema>> {
  try {
    await probe();
    return { status: 'ok' };
  } catch (error) {
    return { status: 'down', message: (error as Error).message };
  }
}
