import { ChatStoreUnavailableError } from '../chatlog/store.js';
import { DatabaseUnavailableError } from '../db/types.js';
import { StorageError } from '../storage/types.js';

/** An answer other than success, in the one error shape every route uses. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string, details?: unknown) {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

/**
 * A dependency is down (database, storage or chat log store): the request may succeed later, so
 * the answer is 503 — for a webhook, "deliver it again". Each adapter turns its outages into its
 * own error class (a database unreachable, restarting or closed to connections into a
 * DatabaseUnavailableError), so nothing here guesses from driver codes or messages: any other
 * error is a bug of this program, and a 500.
 */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError || error instanceof ChatStoreUnavailableError) return true;
  return error instanceof StorageError && error.failure === 'unavailable';
}

/** The dependency an outage is about, as an answer names it. */
export function dependencyOf(error: unknown): string {
  if (error instanceof StorageError) return 'the storage';
  if (error instanceof ChatStoreUnavailableError) return 'the chat log store';
  return 'the database';
}

/**
 * An error as a client may read it: a storage error says what the storage did (it names the
 * storage, as /api/sync/status does); a database outage its short reason, without the host or the
 * driver's words; anything else is a bug, told only in the log.
 */
export function publicMessage(error: unknown): string {
  if (error instanceof StorageError) return error.message;
  if (error instanceof DatabaseUnavailableError) return `the database is unavailable: ${error.reason}`;
  return 'internal error; see the service log';
}
