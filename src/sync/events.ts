import * as z from 'zod';
import { storableString } from '../storableText.js';

/**
 * Storage event notifications as MinIO and AWS S3 send them: `{"Records": [...]}`, event
 * records of version 2.x. Only the fields we use are checked; anything else may be there. What
 * is recorded (event name, ETag, sequencer) must be text the database can store.
 */
const recordSchema = z.object({
  eventName: storableString().min(1).max(255),
  s3: z.object({
    bucket: z.object({ name: z.string().min(1) }),
    object: z.object({
      key: z.string().min(1),
      eTag: storableString().max(255).optional(),
      sequencer: z
        .string()
        .regex(/^[0-9A-Fa-f]{1,128}$/, 'a sequencer is a hexadecimal string')
        .optional(),
    }),
  }),
});

export const notificationSchema = z.object({ Records: z.array(recordSchema).min(1).max(10_000) }).describe('An S3 or MinIO event notification');

export type EventAction = 'upsert' | 'remove';

/** One storage event, normalised: MinIO's and AWS's spellings made one. */
export interface StorageEvent {
  eventName: string;
  bucket: string;
  /** The object key, URL-decoded. */
  key: string;
  /** What the event asks for, or undefined for events we do not act on. */
  action: EventAction | undefined;
  etag: string | null;
  /** Upper-case hex, or null when the event has none. */
  sequencer: string | null;
}

export class EventFormatError extends Error {
  override name = 'EventFormatError';
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** Validates and normalises a notification body; throws EventFormatError for a malformed one. */
export function parseNotification(body: unknown): StorageEvent[] {
  const parsed = notificationSchema.safeParse(body);
  if (!parsed.success) {
    throw new EventFormatError(
      'not an S3 event notification: expected {"Records": [{"eventName", "s3": {"bucket": {"name"}, "object": {"key"}}}]}',
      parsed.error.issues.slice(0, 10).map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
    );
  }
  return normalizeNotification(parsed.data);
}

/** MinIO's and AWS's spellings made one, keys decoded. */
export function normalizeNotification(notification: z.infer<typeof notificationSchema>): StorageEvent[] {
  return notification.Records.map((record, index) => {
    const key = decodeKey(record.s3.object.key, index);
    return {
      eventName: record.eventName,
      bucket: record.s3.bucket.name,
      key,
      action: actionOf(record.eventName),
      etag: record.s3.object.eTag ? record.s3.object.eTag.replace(/^"(.*)"$/, '$1') : null,
      sequencer: record.s3.object.sequencer ? record.s3.object.sequencer.toUpperCase() : null,
    };
  });
}

/** `s3:ObjectCreated:Put` (MinIO) and `ObjectCreated:Put` (AWS) alike. */
export function actionOf(eventName: string): EventAction | undefined {
  const name = eventName.replace(/^s3:/, '');
  if (name.startsWith('ObjectCreated:')) return 'upsert';
  if (name.startsWith('ObjectRemoved:')) return 'remove';
  return undefined;
}

/** Keys arrive URL-encoded, spaces as `+`. */
function decodeKey(raw: string, index: number): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    throw new EventFormatError(`Records[${index}].s3.object.key is not a valid URL-encoded key: ${JSON.stringify(raw)}`);
  }
}

/**
 * Orders two sequencers of the same key: negative when `a` is older. They are hex strings of
 * possibly different lengths; the shorter is left-padded with zeros.
 */
export function compareSequencers(a: string, b: string): number {
  const width = Math.max(a.length, b.length);
  const x = a.toUpperCase().padStart(width, '0');
  const y = b.toUpperCase().padStart(width, '0');
  return x < y ? -1 : x > y ? 1 : 0;
}
