import type * as z from 'zod';
import { summarizeIssues } from '../issueSummary.js';
import { ChatRequestError } from './errors.js';
import { messageInputSchema } from './schema.js';

/** A message as `messageInputSchema` leaves it: validated, defaults filled in. */
export type ValidMessage = z.output<typeof messageInputSchema>;

/** Validates messages from outside (a request body, a file); the error names the first bad message's problems. */
export function validateMessages(inputs: readonly unknown[]): ValidMessage[] {
  return inputs.map((input, i) => {
    const parsed = messageInputSchema.safeParse(input);
    if (parsed.success) return parsed.data;
    throw new ChatRequestError('bad_message', summarizeIssues(parsed.error.issues, input, ['messages', i]).message);
  });
}

/** DynamoDB's limit for one item is 400 KB; what stays below it is a message's room. */
const maxItemBytes = 400 * 1024;
export const maxMessageBytes = maxItemBytes - 1024;

/**
 * Checks that the store will take every message before any is written: a request is refused
 * whole, never half stored.
 */
export function checkStorable(messages: readonly ValidMessage[]): void {
  messages.forEach((message, i) => {
    const size = itemBytes(message, `messages[${i}]`) + 256;
    if (size > maxMessageBytes) {
      throw new ChatRequestError(
        'message_too_large',
        `messages[${i}]: a message item holds at most ${maxMessageBytes} bytes; this one needs ${size} (split the content into several messages)`,
      );
    }
  });
}

/** Ids starting with `#` are the store's own items (writer lanes): no client reaches or removes them. */
export function checkSessionId(sessionId: string): void {
  if (sessionId.startsWith('#') || sessionId === '')
    throw new ChatRequestError('bad_session_id', `"${sessionId}" is not a session id: ids starting with # belong to the store`);
}

/**
 * The size DynamoDB counts for a value, from above (a number counts its largest, 21 bytes), and
 * the limits it puts on values: numbers within ±1e126 and above 1e-130 in magnitude, at most 32
 * levels of nesting. A message that passes is never refused by the store.
 */
function itemBytes(value: unknown, where: string, depth = 0): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') {
    const magnitude = Math.abs(value);
    if (magnitude !== 0 && (magnitude >= 1e126 || magnitude < 1e-130))
      throw new ChatRequestError('bad_message', `${where}: ${value} is beyond the numbers DynamoDB stores (magnitude 1e-130 to 1e126)`);
    return 21;
  }
  if (value === null || typeof value === 'boolean' || value === undefined) return 1;
  if (depth >= 32) throw new ChatRequestError('bad_message', `${where}: nested deeper than the 32 levels DynamoDB stores`);
  let size = 3;
  if (Array.isArray(value)) {
    for (const [i, element] of value.entries()) size += 1 + itemBytes(element, `${where}[${i}]`, depth + 1);
  } else {
    for (const [key, element] of Object.entries(value as Record<string, unknown>))
      size += 1 + Buffer.byteLength(key) + itemBytes(element, `${where}.${key}`, depth + 1);
  }
  return size;
}
