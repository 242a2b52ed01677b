import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import * as z from 'zod';
import { memberKindOf, unusableKey } from '../../members/paths.js';
import { normalizeNotification, notificationSchema, type StorageEvent } from '../../sync/events.js';
import type { FileChange } from '../../sync/registrar.js';
import type { AppContext } from '../context.js';
import { errorSchema, issueSchema } from '../schemas.js';

const resultSchema = z.object({
  key: z.string().describe('The object key, URL-decoded'),
  event: z.string(),
  outcome: z.enum(['created', 'updated', 'unchanged', 'deleted', 'ignored', 'invalid']),
  file_uri: z.string().optional(),
  name: z.string().optional(),
  reason: z.string().optional(),
  errors: z.array(issueSchema).optional(),
});

/**
 * Storage event notifications (MinIO's webhook target, or AWS S3 through a relay). Every record
 * gets an outcome; an invalid file is a permanent error — recorded, and acknowledged with 200 so
 * that the storage does not send it again and again. Only a database or storage outage answers
 * 503, with nothing written, so that the storage delivers the event again later.
 */
export function webhookRoutes(app: AppContext): FastifyPluginAsyncZod {
  const { bucket } = app.config.webhook;
  const prefix = app.config.storage.kind === 's3' && app.config.storage.prefix ? `${app.config.storage.prefix}/` : '';

  return async (fastify) => {
    for (const url of ['/webhook/storage', '/webhook/file-change']) {
      fastify.post(
        url,
        {
          // WEBHOOK_AUTH_TOKEN, when set (it must be, off loopback): see access.ts.
          config: { access: 'webhook' },
          schema: {
            tags: ['webhook'],
            summary: url === '/webhook/storage' ? 'Storage event notifications (MinIO, AWS S3)' : 'The same, at the path of the original service',
            body: notificationSchema,
            response: { 200: z.object({ records: z.array(resultSchema) }), 400: errorSchema, 401: errorSchema, 503: errorSchema },
          },
        },
        async (request) => {
          const events = normalizeNotification(request.body);
          const results: Array<z.infer<typeof resultSchema>> = [];
          const changes: FileChange[] = [];
          const waiting: number[] = [];
          for (const event of events) {
            const ignored = (reason: string) => results.push({ key: event.key, event: event.eventName, outcome: 'ignored', reason });
            if (event.bucket !== bucket) {
              ignored(`bucket ${event.bucket} is not ${bucket}`);
              continue;
            }
            if (!event.key.startsWith(prefix)) {
              ignored(`outside the prefix ${prefix}`);
              continue;
            }
            if (!event.action) {
              ignored(`${event.eventName} is not a create or remove event`);
              continue;
            }
            const key = event.key.slice(prefix.length);
            const kind = memberKindOf(key);
            if (!kind) {
              ignored('not a member file (.yml or .yaml in human_members/ or virtual_members/)');
              continue;
            }
            const unusable = unusableKey(key);
            if (unusable) {
              // Acknowledged, not recorded: such a key cannot be stored, and resending will not change it.
              results.push({
                key: event.key,
                event: event.eventName,
                outcome: 'invalid',
                errors: [{ file: key.replace(/[\u0000-\u001f\u007f]|\p{Cs}/gu, '\uFFFD'), code: 'unusable_path', message: unusable }],
              });
              continue;
            }
            waiting.push(results.length);
            results.push({ key: event.key, event: event.eventName, outcome: 'ignored' });
            changes.push({ key, kind, ...eventOf(event) });
          }
          const outcomes = await app.registrar.submit(changes);
          outcomes.forEach((outcome, i) => {
            const at = waiting[i]!;
            results[at] = {
              ...results[at]!,
              outcome: outcome.action,
              file_uri: outcome.file_uri,
              ...(outcome.name ? { name: outcome.name } : {}),
              ...(outcome.reason ? { reason: outcome.reason } : {}),
              ...(outcome.issues ? { errors: outcome.issues } : {}),
            };
          });
          request.log.info({ records: results.map((r) => ({ key: r.key, outcome: r.outcome })) }, 'storage events');
          return { records: results };
        },
      );
    }
  };
}

function eventOf(event: StorageEvent): Pick<FileChange, 'event'> {
  return event.sequencer ? { event: { name: event.eventName, sequencer: event.sequencer, etag: event.etag } } : {};
}
