/** The chat log store cannot serve now (down, unreachable, throttling, refusing our key): try again later. */
export class ChatStoreUnavailableError extends Error {
  override name = 'ChatStoreUnavailableError';
}

/**
 * What was wrong with a request to the store. The kinds are the API's error codes; which answer
 * each gets (a status) is the HTTP layer's business (src/http/errors.ts).
 *   bad_message, bad_session_id, bad_cursor, bad_request   the request is malformed
 *   message_too_large                                      a message exceeds what an item holds
 *   session_closed, conflict                               the session's state refuses it
 *   no_table                                               the table does not exist (yet)
 */
export type ChatErrorKind = 'bad_message' | 'bad_session_id' | 'bad_cursor' | 'bad_request' | 'message_too_large' | 'session_closed' | 'conflict' | 'no_table';

export class ChatRequestError extends Error {
  override name = 'ChatRequestError';
  constructor(
    readonly kind: ChatErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** The store refused a request for what it holds (a message), rather than failed to serve it. */
export function isRefusal(error: unknown): boolean {
  return error instanceof ChatRequestError && (error.kind === 'bad_message' || error.kind === 'bad_request' || error.kind === 'message_too_large');
}

export function isConditionFailure(error: unknown): boolean {
  return (error as { name?: string }).name === 'ConditionalCheckFailedException';
}

/**
 * The SDK's errors as ours: a missing table is `no_table`, bad input `bad_request` (or
 * `message_too_large`), and the store failing — unreachable, timing out, throttling, answering
 * 5xx, refusing our credentials — "unavailable": try again later. Anything else is left as it is:
 * a bug of ours, not an outage. A failed condition too: the caller decides what it means.
 */
export function translateStoreError(error: unknown, store: { table: string; description: string }): unknown {
  if (error instanceof ChatRequestError || error instanceof ChatStoreUnavailableError) return error;
  const name = (error as { name?: string }).name ?? '';
  if (isConditionFailure(error)) return error;
  if (name === 'ResourceNotFoundException')
    return new ChatRequestError('no_table', `the chat log table ${store.table} does not exist (vecr chatlog init creates it)`);
  if (name === 'ValidationException' && /size/i.test((error as Error).message)) return new ChatRequestError('message_too_large', (error as Error).message);
  if (name === 'ValidationException') return new ChatRequestError('bad_request', (error as Error).message);
  if (!isStoreFailure(error)) return error;
  const detail = (error as Error).message ? `: ${(error as Error).message}` : '';
  return new ChatStoreUnavailableError(`the chat log store at ${store.description} is unavailable: ${name}${detail}`, { cause: error });
}

/** Network and socket failures, as Node reports them. */
const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'EADDRNOTAVAIL',
]);

/** What the SDK reports when the store, not the request, is the problem. */
const storeFailureNames = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'InternalServerError',
  'ServiceUnavailable',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'AccessDeniedException',
  'ExpiredTokenException',
  'MissingAuthenticationTokenException',
  'CredentialsProviderError',
]);

function isStoreFailure(error: unknown): boolean {
  const e = error as { name?: string; code?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
  if (e.$fault === 'server' || (e.$metadata?.httpStatusCode ?? 0) >= 500) return true;
  return storeFailureNames.has(e.name ?? '') || networkCodes.has(e.code ?? '');
}
