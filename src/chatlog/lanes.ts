import { randomUUID } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Sdk } from './sdk.js';

export interface WriterLanesOptions {
  sdk: Pick<Sdk, 'UpdateCommand'>;
  doc: DynamoDBDocumentClient;
  table: string;
  /** How long a lease on a lane lasts. */
  leaseMs?: number;
}

/**
 * Writer lanes: how messages get timestamps that no other writer can take, so that they can be
 * written in batches (BatchWriteItem has no conditions) and still never overwrite anything.
 *
 * A message's timestamp is epoch milliseconds with up to three decimals. The thousandths are
 * split among writers:
 *   .000          whole milliseconds: conditional writes only (timestamps a client gives, and
 *                 messages written while this process holds no lane); a taken slot moves up 1 ms;
 *   .001 – .999   lanes: lane L is leased to one process at a time (an item `#lanes`/L in the
 *                 table, taken and renewed with conditional writes), which stamps the messages
 *                 it times itself `ms + L/1000` — one per session per millisecond — and writes
 *                 them unconditionally.
 * Safety rests on the stamps, not on when a write lands: a holder never stamps a millisecond
 * twice (its stamps only go up, even when the clock steps back), and a new holder starts after
 * everything the previous one may have stamped — after the end of its lease, and after the
 * latest millisecond it recorded. A lease lasts `leaseMs` and is renewed every `leaseMs / 6`; a
 * holder stops stamping once its last renewal is `leaseMs / 2` old, well before the lease ends.
 */
export class WriterLanes {
  private held: { lane: number; renewedAt: number } | undefined;
  private acquiring: Promise<void> | undefined;
  private lastAttempt = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** The latest millisecond stamped per session, while it is ahead of the clock. */
  private lastStamp = new Map<string, number>();
  /** No stamp is below this: after the previous holder's, and after every stamp forgotten. */
  private floor = 0;
  private highWater = 0;
  private readonly owner = randomUUID();
  private readonly sdk: Pick<Sdk, 'UpdateCommand'>;
  private readonly doc: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly leaseMs: number;

  constructor(options: WriterLanesOptions) {
    ({ sdk: this.sdk, doc: this.doc, table: this.table } = options);
    this.leaseMs = options.leaseMs ?? 60_000;
  }

  /** The lane this process may use now, if any. Asks for one in the background when it has none. */
  current(): number | undefined {
    const held = this.held;
    if (held && Date.now() - held.renewedAt < this.leaseMs / 2) return held.lane;
    if (!held && !this.closed && !this.acquiring && Date.now() - this.lastAttempt > this.leaseMs / 6) {
      this.acquiring = this.acquire().finally(() => (this.acquiring = undefined));
    }
    return undefined;
  }

  /** The lane, once an attempt to take one under way has ended. */
  async ready(): Promise<number | undefined> {
    this.current();
    await this.acquiring;
    return this.current();
  }

  /** A timestamp in `lane` for a message of `session`, later than any this process stamped there. */
  stamp(session: string, lane: number): number {
    const ms = Math.max(Date.now(), (this.lastStamp.get(session) ?? 0) + 1, this.floor);
    this.lastStamp.set(session, ms);
    if (ms > this.highWater) this.highWater = ms;
    return (ms * 1000 + lane) / 1000;
  }

  private async acquire() {
    this.lastAttempt = Date.now();
    // Lanes are tried from a random start, so that processes starting together spread out; twenty
    // taken ones in a row mean a crowded table, and this process writes conditionally instead.
    const start = 1 + Math.floor(Math.random() * 999);
    for (let k = 0; k < 20 && !this.held && !this.closed; k++) {
      const lane = 1 + ((start - 1 + k) % 999);
      const now = Date.now();
      try {
        const result = await this.doc.send(
          new this.sdk.UpdateCommand({
            TableName: this.table,
            Key: { session_id: '#lanes', timestamp: lane },
            UpdateExpression: 'SET item_type = :type, lease_owner = :me, lease_until = :until',
            ConditionExpression: 'attribute_not_exists(lease_until) OR lease_until < :now',
            ExpressionAttributeValues: { ':type': 'lane', ':me': this.owner, ':until': now + this.leaseMs, ':now': now },
            ReturnValues: 'ALL_OLD',
          }),
        );
        const previous = result.Attributes ?? {};
        this.floor = Math.max(this.floor, Number(previous.high_water ?? 0) + 1, Number(previous.lease_until ?? 0));
        this.held = { lane, renewedAt: now };
        // Closed meanwhile: `release`, waiting for this attempt, hands the lane back.
        if (this.closed) return;
        this.timer = setInterval(() => void this.renew(), this.leaseMs / 6);
        this.timer.unref();
      } catch (error) {
        if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') return;
      }
    }
  }

  /** Extends the lease; a lease someone else took (this process stalled) is given up. */
  async renew(): Promise<void> {
    const held = this.held;
    if (!held) return;
    const now = Date.now();
    this.forgetOldStamps(now);
    try {
      await this.doc.send(
        new this.sdk.UpdateCommand({
          TableName: this.table,
          Key: { session_id: '#lanes', timestamp: held.lane },
          UpdateExpression: 'SET lease_until = :until, high_water = :high',
          ConditionExpression: 'lease_owner = :me AND lease_until > :zero',
          ExpressionAttributeValues: { ':me': this.owner, ':until': now + this.leaseMs, ':high': this.highWater, ':zero': 0 },
        }),
      );
      if (this.held === held) held.renewedAt = now;
    } catch (error) {
      if ((error as { name?: string }).name === 'ConditionalCheckFailedException' && this.held === held) this.drop();
      // Otherwise the store is unreachable: the lane stays usable until its renewal is too old.
    }
  }

  /** Hands the lane back for good (the store is closing), recording how far it got. */
  async release(): Promise<void> {
    this.closed = true;
    await this.acquiring;
    const held = this.held;
    if (!held) return;
    this.drop();
    await this.doc
      .send(
        new this.sdk.UpdateCommand({
          TableName: this.table,
          Key: { session_id: '#lanes', timestamp: held.lane },
          UpdateExpression: 'SET lease_until = :zero, high_water = :high',
          ConditionExpression: 'lease_owner = :me',
          ExpressionAttributeValues: { ':me': this.owner, ':zero': 0, ':high': this.highWater },
        }),
      )
      .catch(() => {});
  }

  private drop() {
    clearInterval(this.timer);
    this.held = undefined;
  }

  /** A session stamped behind the clock needs no memory of its own: the floor keeps it. */
  private forgetOldStamps(now: number) {
    for (const [session, ms] of this.lastStamp) {
      if (ms >= now) continue;
      this.lastStamp.delete(session);
      if (ms + 1 > this.floor) this.floor = ms + 1;
    }
  }
}
