import * as z from 'zod';
import { ChatRequestError } from './errors.js';
import { epochMsSchema, sessionIdSchema } from './schema.js';

/**
 * Cursors are opaque to clients but plain JSON inside (base64url): each is decoded and checked
 * against the shape this store hands out, so a crafted one (`{"ts": 1e400}`, a key of another
 * channel) is a `bad_cursor` refusal, never a failed request to the store. Three kinds:
 *   position   where a page of messages ended: `{ts}`
 *   channel    the index key of the last session of a channel's page (DynamoDB resumes from it)
 *   activity   where a page of sessions ended, in most-recent-first order: `{last_activity, session_id}`
 */
const positionShape = z.strictObject({ ts: epochMsSchema });
const channelShape = z.strictObject({
  channel_id: z.string().min(1).max(128),
  last_activity: epochMsSchema,
  session_id: sessionIdSchema,
  timestamp: z.literal(0),
});
const activityShape = z.strictObject({ last_activity: epochMsSchema, session_id: sessionIdSchema });

export type ChannelKey = z.infer<typeof channelShape>;
export type ActivityPosition = z.infer<typeof activityShape>;

export function encodePosition(timestamp: number): string {
  return encode({ ts: timestamp });
}

/** The message timestamp a page ended at. */
export function decodePosition(cursor: string): number {
  return decode(cursor, positionShape).ts;
}

/** The index key of a channel's session header, as DynamoDB resumes a query from it. */
export function encodeChannelKey(header: Record<string, unknown>): string {
  return encode({ channel_id: header.channel_id, last_activity: header.last_activity, session_id: header.session_id, timestamp: 0 });
}

/** The index key to resume a channel's sessions from; a cursor of another channel is refused. */
export function decodeChannelKey(cursor: string, channelId: string): ChannelKey {
  const key = decode(cursor, channelShape);
  if (key.channel_id !== channelId) throw new ChatRequestError('bad_cursor', 'cursor is not one this API handed out for this channel');
  return key;
}

export function encodeActivity(session: ActivityPosition): string {
  return encode({ last_activity: session.last_activity, session_id: session.session_id });
}

export function decodeActivity(cursor: string): ActivityPosition {
  return decode(cursor, activityShape);
}

function encode(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decode<T>(cursor: string, shape: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  const parsed = shape.safeParse(value);
  if (!parsed.success) throw new ChatRequestError('bad_cursor', 'cursor is not one this API handed out');
  return parsed.data;
}
