import { describe, expect, it } from 'vitest';
import { ChatRequestError, ChatStoreUnavailableError, isRefusal, translateStoreError } from '../../src/chatlog/errors.js';

const store = { table: 'ChatLogs', description: 'ChatLogs at http://127.0.0.1:1' };
const sdkError = (name: string, message = '', extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { name, ...extra });

describe('chat log store errors', () => {
  it('carry a kind, not an HTTP status', () => {
    const error = new ChatRequestError('session_closed', 'session s is closed; start a new one');
    expect(error).toMatchObject({ kind: 'session_closed', name: 'ChatRequestError' });
    expect(Object.keys(error)).not.toContain('status');
  });

  it('translate the SDK: a missing table, bad input, an item too large', () => {
    expect(translateStoreError(sdkError('ResourceNotFoundException', 'Requested resource not found'), store)).toMatchObject({
      kind: 'no_table',
      message: 'the chat log table ChatLogs does not exist (vecr chatlog init creates it)',
    });
    expect(translateStoreError(sdkError('ValidationException', 'Item size has exceeded the maximum allowed size'), store)).toMatchObject({
      kind: 'message_too_large',
    });
    expect(translateStoreError(sdkError('ValidationException', 'One or more parameter values were invalid'), store)).toMatchObject({ kind: 'bad_request' });
  });

  it('translate the store failing into unavailable, naming the store', () => {
    const outages = [
      sdkError('ThrottlingException', 'slow down'),
      sdkError('UnrecognizedClientException', 'The security token included in the request is invalid'),
      sdkError('Error', 'connect ECONNREFUSED', { code: 'ECONNREFUSED' }),
      sdkError('InternalFailure', 'boom', { $fault: 'server' }),
      sdkError('Whatever', 'bad gateway', { $metadata: { httpStatusCode: 502 } }),
    ];
    for (const outage of outages) {
      const translated = translateStoreError(outage, store);
      expect(translated, outage.name).toBeInstanceOf(ChatStoreUnavailableError);
      expect((translated as Error).message).toMatch(/^the chat log store at ChatLogs at http:\/\/127\.0\.0\.1:1 is unavailable: /);
      expect((translated as Error).cause).toBe(outage);
    }
  });

  it('leave a failed condition and bugs of ours as they are', () => {
    const condition = sdkError('ConditionalCheckFailedException', 'The conditional request failed');
    expect(translateStoreError(condition, store)).toBe(condition);
    const bug = new TypeError('cannot read properties of undefined');
    expect(translateStoreError(bug, store)).toBe(bug);
    const ours = new ChatRequestError('bad_cursor', 'x');
    expect(translateStoreError(ours, store)).toBe(ours);
  });

  it('tell a refusal of what a request holds from the store failing', () => {
    expect(['bad_message', 'bad_request', 'message_too_large'].every((kind) => isRefusal(new ChatRequestError(kind as 'bad_message', 'x')))).toBe(true);
    expect(isRefusal(new ChatRequestError('no_table', 'x'))).toBe(false);
    expect(isRefusal(new ChatRequestError('session_closed', 'x'))).toBe(false);
    expect(isRefusal(new ChatStoreUnavailableError('down'))).toBe(false);
    expect(isRefusal(Object.assign(new Error('refused'), { status: 400 }))).toBe(false);
  });
});
