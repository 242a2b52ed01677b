import { describe, expect, it } from 'vitest';
import { decodeActivity, decodeChannelKey, decodePosition, encodeActivity, encodeChannelKey, encodePosition } from '../../src/chatlog/cursors.js';
import { ChatRequestError } from '../../src/chatlog/errors.js';

const raw = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const refusal = (decode: () => unknown) => {
  try {
    decode();
  } catch (error) {
    return error instanceof ChatRequestError ? { kind: error.kind, message: error.message } : error;
  }
  return 'accepted';
};

describe('chat log cursors', () => {
  it('hand back what they were made from', () => {
    expect(decodePosition(encodePosition(1_700_000_000_123.457))).toBe(1_700_000_000_123.457);
    const header = { channel_id: 'c1', last_activity: 1_700_000_000_000, session_id: 'discord:c1', timestamp: 0, members: new Set(['A']) };
    expect(decodeChannelKey(encodeChannelKey(header), 'c1')).toEqual({
      channel_id: 'c1',
      last_activity: 1_700_000_000_000,
      session_id: 'discord:c1',
      timestamp: 0,
    });
    expect(decodeActivity(encodeActivity({ last_activity: 5, session_id: 's' }))).toEqual({ last_activity: 5, session_id: 's' });
  });

  it('round a position to the thousandths of a millisecond the store keeps', () => {
    expect(decodePosition(raw({ ts: 1.23456 }))).toBe(1.235);
  });

  it('refuse anything they did not hand out, as a bad_cursor', () => {
    const notHandedOut = { kind: 'bad_cursor', message: 'cursor is not one this API handed out' };
    // biome-ignore lint/correctness/noPrecisionLoss: 1e400 is Infinity on purpose, a timestamp JSON cannot carry
    for (const cursor of ['', 'not base64 json', raw({ ts: 1e400 }), raw({ ts: -1 }), raw({ ts: 1, extra: 1 }), raw([1]), raw(null)]) {
      expect(
        refusal(() => decodePosition(cursor)),
        cursor,
      ).toEqual(notHandedOut);
    }
    expect(refusal(() => decodeActivity(raw({ last_activity: 1, session_id: '#lanes' })))).toEqual(notHandedOut);
    expect(refusal(() => decodeChannelKey(raw({ channel_id: 'c1', last_activity: 1, session_id: 's', timestamp: 5 }), 'c1'))).toEqual(notHandedOut);
    // A position is not a channel key, nor the other way round.
    expect(refusal(() => decodeChannelKey(encodePosition(5), 'c1'))).toEqual(notHandedOut);
    expect(refusal(() => decodePosition(encodeActivity({ last_activity: 5, session_id: 's' })))).toEqual(notHandedOut);
  });

  it('refuse a channel key of another channel', () => {
    const key = encodeChannelKey({ channel_id: 'c1', last_activity: 1, session_id: 's' });
    expect(refusal(() => decodeChannelKey(key, 'c2'))).toEqual({ kind: 'bad_cursor', message: 'cursor is not one this API handed out for this channel' });
  });
});
