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

// node-postgres and the OS report a lost or refused connection with these.
const connectionCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03']);

/**
 * A dependency is down (database or storage): the request may succeed later, so the answer is
 * 503 — for a webhook, "deliver it again".
 */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError || error instanceof ChatStoreUnavailableError) return true;
  if (error instanceof StorageError) return error.failure === 'unavailable';
  const e = error as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && (connectionCodes.has(e.code) || e.code.startsWith('08'))) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(e.message ?? '');
}
