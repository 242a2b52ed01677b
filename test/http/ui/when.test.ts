import { afterEach, describe, expect, it } from 'vitest';
import { when } from '../../../src/http/ui/members.js';

describe('times on the pages', () => {
  const zone = process.env.TZ;
  afterEach(() => {
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  });

  it('are shown in the service’s time zone, with its offset, the moment kept in datetime', () => {
    process.env.TZ = 'Asia/Tokyo';
    expect(when('2026-12-01T15:30:00.000Z').text).toBe('<time datetime="2026-12-01T15:30:00.000Z">2026-12-02 00:30 +09:00</time>');
    process.env.TZ = 'UTC';
    expect(when('2026-12-01T15:30:00.000Z').text).toBe('<time datetime="2026-12-01T15:30:00.000Z">2026-12-01 15:30 +00:00</time>');
  });
});
