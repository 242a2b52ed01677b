import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import * as z from 'zod';
import { countMembers } from '../../registry/read.js';
import { countInvalidFiles, listInvalidFiles } from '../../registry/sql/memberFiles.js';
import { lastSyncRun } from '../../registry/sql/syncRuns.js';
import type { AppContext } from '../context.js';
import { HttpError, publicMessage } from '../errors.js';
import { decodeCursor, encodeCursor, errorSchema, issueSchema, nextCursor, pageQuery } from '../schemas.js';

const runSchema = z.object({
  trigger: z.string(),
  started_at: z.string(),
  finished_at: z.string(),
  created: z.number(),
  updated: z.number(),
  unchanged: z.number(),
  deleted: z.number(),
  invalid: z.number(),
});

const summarySchema = z
  .object({ created: z.number(), updated: z.number(), unchanged: z.number(), deleted: z.number(), invalid: z.number(), duration_ms: z.number() })
  .describe('Members created, updated, unchanged and deleted, files invalid, and how long the sync took');

export function syncRoutes(app: AppContext): FastifyPluginAsyncZod {
  return async (fastify) => {
    fastify.post(
      '/api/sync',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['sync'],
          summary: 'Reconcile with storage now (joins a run already under way) and answer its summary',
          response: { 200: summarySchema, 401: errorSchema, 403: errorSchema, 503: errorSchema },
        },
      },
      async () => {
        if (!app.reconciler) throw new HttpError(503, 'unavailable', 'this service does not reconcile');
        const { created, updated, unchanged, deleted, invalid, durationMs } = await app.reconciler.run('api');
        return { created, updated, unchanged, deleted, invalid, duration_ms: durationMs };
      },
    );

    fastify.get(
      '/api/sync/status',
      {
        config: { access: 'read' },
        schema: {
          tags: ['sync'],
          summary: 'The last full sync, member counts and invalid files',
          response: {
            200: z.object({
              storage: z.string(),
              last_sync: runSchema.nullable(),
              members: z.object({ human_members: z.number(), virtual_members: z.number() }),
              invalid_files: z.number(),
              reconcile: z.object({ interval_seconds: z.number(), running: z.boolean(), last_error: z.string().nullable() }),
              events: z
                .object({ transactions: z.number(), changes: z.number() })
                .describe('Changes registered from events and the folder watch since start, and the transactions they took'),
            }),
          },
        },
      },
      async () => {
        const [run, counts, invalid] = await Promise.all([lastSyncRun(app.db), countMembers(app.db), countInvalidFiles(app.db)]);
        return {
          storage: app.storage.description,
          last_sync: run ?? null,
          members: { human_members: counts.human, virtual_members: counts.virtual },
          invalid_files: invalid,
          reconcile: {
            interval_seconds: app.config.reconcileIntervalMs / 1000,
            running: app.reconciler?.isRunning ?? false,
            last_error: app.reconciler?.lastError === undefined ? null : publicMessage(app.reconciler.lastError),
          },
          events: { ...app.registrar.stats },
        };
      },
    );

    fastify.get(
      '/api/sync/errors',
      {
        config: { access: 'read' },
        schema: {
          tags: ['sync'],
          summary: 'Invalid member files with their reasons',
          querystring: z.object(pageQuery),
          response: {
            200: z.object({
              errors: z.array(
                z.object({
                  file_uri: z.string(),
                  kind: z.enum(['human', 'virtual']),
                  errors: z.array(issueSchema),
                  checked_at: z.string(),
                  changed_at: z.string(),
                }),
              ),
              next_cursor: nextCursor,
            }),
          },
        },
      },
      async (request) => {
        const rows = await listInvalidFiles(app.db, { after: decodeCursor(request.query.cursor), limit: request.query.limit + 1 });
        const page = rows.slice(0, request.query.limit);
        return {
          errors: page.map(({ file_uri, kind, errors, checked_at, changed_at }) => ({ file_uri, kind, errors, checked_at, changed_at })),
          next_cursor: rows.length > request.query.limit ? encodeCursor(page.at(-1)!.file_uri) : null,
        };
      },
    );
  };
}
