import * as z from 'zod';
import { plainLineString } from '../storableText.js';

/**
 * A position in time as the store keeps it: epoch milliseconds with at most three decimals, from
 * 0 to 9e12. Finer fractions are rounded: DynamoDB refuses numbers below 1e-130 (an "underflow"),
 * and a bound or a cursor must never reach it unchecked.
 */
export const epochMsSchema = z
  .number()
  .min(0)
  .max(9e12)
  .transform((ms) => Math.round(ms * 1000) / 1000);

/**
 * A chat message as clients post it and as it is stored: one item per message in ChatLogs,
 * attribute names as in the design (snake_case). `timestamp` is assigned when absent.
 */
export const messageInputSchema = z
  .strictObject({
    timestamp: z
      .number()
      .int()
      .min(1)
      .max(9e12)
      .optional()
      .describe('Whole epoch milliseconds; assigned by the service when absent. A millisecond another message holds moves this one up by one'),
    speaker_name: plainLineString().min(1).max(255).describe('Member name, or a Discord display name for people not in the roster'),
    speaker_type: z.enum(['human', 'virtual']),
    role: z.enum(['user', 'assistant', 'system']),
    content: z.string().min(1),
    source: plainLineString().min(1).max(64).default('api').describe('discord, api, ...'),
    channel_id: plainLineString().min(1).max(128).optional(),
    thread_id: plainLineString().min(1).max(128).optional(),
    message_id: plainLineString().min(1).max(128).optional().describe('Posting the same message_id again stores nothing new'),
    llm_model: plainLineString().min(1).max(255).optional(),
    input_tokens: z.number().int().nonnegative().optional(),
    output_tokens: z.number().int().nonnegative().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .describe('A chat message');

export const messageSchema = messageInputSchema
  .extend({
    session_id: z.string(),
    timestamp: z.number().describe('Epoch milliseconds, with up to three decimals that keep same-millisecond messages apart'),
    expires_at: z.number().int().optional().describe('TTL: epoch seconds'),
  })
  .describe('A stored chat message');

export type ChatMessage = z.infer<typeof messageSchema>;

export const sessionSchema = z
  .object({
    session_id: z.string(),
    channel_id: z.string().nullable(),
    thread_id: z.string().nullable(),
    status: z.enum(['open', 'closed']),
    created_at: z.number().describe('Epoch milliseconds'),
    last_activity: z.number().describe('Epoch milliseconds of the latest message'),
    closed_at: z.number().nullable(),
    message_count: z.number().int(),
    members: z.array(z.string()).describe('Speakers so far'),
  })
  .describe('A conversation');

export type ChatSession = z.infer<typeof sessionSchema>;

/** Session ids travel in URLs and keys: one printable line, no spaces or slashes, and not our own `#` namespace. */
export const sessionIdSchema = plainLineString()
  .min(1)
  .max(200)
  .regex(/^[^#/\s][^/\s]*$/, 'a session id has no spaces or slashes and does not start with #');

/**
 * A Discord channel or thread id (a snowflake: digits), as part of a session id: nothing that
 * would make the id unusable in a URL or let `channel:thread` pairs collide.
 */
export const discordIdSchema = plainLineString()
  .min(1)
  .max(128)
  .regex(/^[^\s/:#]+$/, 'a channel or thread id has no spaces, slashes, colons or #');

/** The session of a Discord channel, or of a thread in it. */
export function discordSessionId(channelId: string, threadId?: string): string {
  return threadId ? `discord:${channelId}:${threadId}` : `discord:${channelId}`;
}
