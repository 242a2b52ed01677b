import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type * as z from 'zod';
import { type ChatErrorKind, ChatRequestError, ChatStoreUnavailableError } from '../chatlog/errors.js';
import { DatabaseUnavailableError } from '../db/types.js';
import { summarizeIssues } from '../issueSummary.js';
import { StorageError } from '../storage/types.js';
import { EventFormatError } from '../sync/events.js';

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

/** How an error is answered: status, the body's code, message and details, and what the log gets. */
export interface ErrorAnswer {
  status: number;
  code: string;
  message: string;
  details?: unknown;
  /** Answers of an outage ask the client to come back (Retry-After). */
  retry?: boolean;
  /** What the service log records of it, beyond the request line. */
  log?: 'warn' | 'error';
}

/**
 * The statuses of the chat log store's refusals. Its missing table (being created) is an outage
 * of the store: come back later.
 */
const chatStatus: Record<ChatErrorKind, number> = {
  bad_message: 400,
  bad_session_id: 400,
  bad_cursor: 400,
  bad_request: 400,
  message_too_large: 413,
  session_closed: 409,
  conflict: 409,
  no_table: 503,
};

/** What a request's data is, per part Fastify validates (the part's name in the request). */
export interface ValidatedRequest {
  body?: unknown;
  query?: unknown;
  params?: unknown;
  headers?: unknown;
}

/**
 * The one mapping of errors to answers: every error a route, a hook or Fastify raises goes
 * through here. The core's errors carry kinds; their statuses are decided here alone.
 */
export function answerFor(error: unknown, request: ValidatedRequest): ErrorAnswer {
  if (hasZodFastifySchemaValidationErrors(error)) return validationAnswer(error, request);
  if (error instanceof HttpError) return { status: error.statusCode, code: error.code, message: error.message, details: error.details };
  if (error instanceof EventFormatError) return { status: 400, code: 'bad_event', message: error.message, details: error.details };
  if (error instanceof ChatRequestError) {
    const status = chatStatus[error.kind];
    return { status, code: error.kind, message: error.message, ...(status === 503 ? { retry: true, log: 'warn' as const } : {}) };
  }
  if (isUnavailable(error)) {
    // The details (hosts, paths, the driver's words) go to the log; the answer names the dependency.
    return { status: 503, code: 'unavailable', message: `${dependencyOf(error)} is unavailable; try again later`, retry: true, log: 'warn' };
  }
  const { statusCode: status, message, code: fastifyCode } = error as { statusCode?: number; message?: string; code?: string };
  if (status && status >= 400 && status < 500) {
    const code = status === 413 ? 'too_large' : status === 415 ? 'unsupported_media_type' : fastifyCode?.startsWith('FST_ERR_CTP') ? 'bad_json' : 'bad_request';
    return { status, code, message: message ?? 'bad request' };
  }
  return { status: 500, code: 'internal', message: 'internal error; see the service log', log: 'error' };
}

type ValidationFailure = {
  validation: Array<{ params: Record<string, unknown>; keyword: string; instancePath: string; message?: string }>;
  validationContext?: string;
};

/**
 * A request that fails its route's schema: the fields missing by name, then each other problem
 * (`missing fields: speaker_type, content`), rather than zod's "Invalid input".
 */
function validationAnswer(error: ValidationFailure, request: ValidatedRequest): ErrorAnswer {
  const part = error.validationContext ?? 'body';
  const data = part === 'querystring' ? request.query : request[part as keyof ValidatedRequest];
  // fastify-type-provider-zod keeps each zod issue but its code, path and message in `params`,
  // the path as `/messages/0/role`.
  const issues = error.validation.map((v) => ({ ...v.params, code: v.keyword, path: pathOf(v.instancePath), message: v.message ?? '' }) as z.core.$ZodIssue);
  const { message, details } = summarizeIssues(issues, data);
  const where = part === 'querystring' ? 'query' : part;
  return { status: 400, code: 'bad_request', message: `${where}: ${message}`, details };
}

function pathOf(instancePath: string): PropertyKey[] {
  return instancePath
    .split('/')
    .slice(1)
    .filter((part) => part !== '')
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
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
