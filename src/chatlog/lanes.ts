import { randomUUID } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Sdk } from './store.js';

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
 * A lease lasts `leaseMs` and is renewed every `leaseMs / 6`; a lane is used only while its last
 * renewal is younger than `leaseMs / 2`, so a stalled process stops using its lane well before
 * anyone else may take it. The lease item keeps the latest millisecond the lane stamped, and the
 * next holder starts after it.
 */
export class WriterLanes {
  private held: { lane: number; renewedAt: number } | undefined;
  private acquiring: Promise<void> | undefined;
  private lastAttempt = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The latest millisecond stamped per session, and overall. */
  private lastStamp = new Map<string, number>();
  private highWater = 0;
  /** The first millisecond this holder may stamp: after everything the lane's previous holder did. */
  private floor = 0;
  private readonly owner = randomUUID();

  constructor(
    private readonly sdk: Pick<Sdk, 'UpdateCommand'>,
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly leaseMs = 60_000,
  ) {}

  /** The lane this process may use now, if any. Asks for one in the background when it has none. */
  current(): number | undefined {
    const held = this.held;
    if (held && Date.now() - held.renewedAt < this.leaseMs / 2) return held.lane;
    if (!held && !this.acquiring && Date.now() - this.lastAttempt > this.leaseMs / 6) {
      this.acquiring = this.acquire().finally(() => (this.acquiring = undefined));
    }
    return undefined;
  }

  /** Waits for a lane (tests, and the first append of a process). */
  async ready(): Promise<number | undefined> {
    this.current();
    await this.acquiring;
    return this.current();
  }

  /** A timestamp in `lane` for a message of `session`, later than any this process stamped there. */
  stamp(session: string, lane: number): number {
    const ms = Math.max(Date.now(), (this.lastStamp.get(session) ?? 0) + 1, this.floor);
    this.lastStamp.set(session, ms);
    return (ms * 1000 + lane) / 1000;
  }

  private async acquire() {
    this.lastAttempt = Date.now();
    // Lanes are tried from a random start, so that processes starting together spread out; twenty
    // taken ones in a row mean a crowded table, and this process writes conditionally instead.
    const start = 1 + Math.floor(Math.random() * 999);
    for (let k = 0; k < 20 && !this.held; k++) {
      const lane = 1 + ((start - 1 + k) % 999);
      const now = Date.now();
      try {
        const result = await this.doc.send(new this.sdk.UpdateCommand({
          TableName: this.table,
          Key: { session_id: '#lanes', timestamp: lane },
          UpdateExpression: 'SET item_type = :type, lease_owner = :me, lease_until = :until',
          ConditionExpression: 'attribute_not_exists(lease_until) OR lease_until < :now',
          ExpressionAttributeValues: { ':type': 'lane', ':me': this.owner, ':until': now + this.leaseMs, ':now': now },
          ReturnValues: 'ALL_OLD',
        }));
        const previous = Number(result.Attributes?.high_water ?? 0);
        this.floor = previous + 1;
        this.highWater = Math.max(this.highWater, previous);
        this.held = { lane, renewedAt: now };
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
      await this.doc.send(new this.sdk.UpdateCommand({
        TableName: this.table,
        Key: { session_id: '#lanes', timestamp: held.lane },
        UpdateExpression: 'SET lease_until = :until, high_water = :high',
        ConditionExpression: 'lease_owner = :me',
        ExpressionAttributeValues: { ':me': this.owner, ':until': now + this.leaseMs, ':high': this.stampedUpTo() },
      }));
      held.renewedAt = now;
    } catch (error) {
      if ((error as { name?: string }).name === 'ConditionalCheckFailedException') this.drop();
      // Otherwise the store is unreachable: the lane stays ours until the lease would lapse.
    }
  }

  /** Hands the lane back, remembering how far it got. */
  async release(): Promise<void> {
    const held = this.held;
    if (!held) return;
    this.drop();
    await this.doc
      .send(new this.sdk.UpdateCommand({
        TableName: this.table,
        Key: { session_id: '#lanes', timestamp: held.lane },
        UpdateExpression: 'SET lease_until = :zero, high_water = :high',
        ConditionExpression: 'lease_owner = :me',
        ExpressionAttributeValues: { ':me': this.owner, ':zero': 0, ':high': this.stampedUpTo() },
      }))
      .catch(() => {});
  }

  private drop() {
    clearInterval(this.timer);
    this.held = undefined;
  }

  private stampedUpTo(): number {
    for (const ms of this.lastStamp.values()) this.highWater = Math.max(this.highWater, ms);
    return this.highWater;
  }

  /** A session whose last stamp is behind the clock needs no memory: the clock alone is later. */
  private forgetOldStamps(now: number) {
    this.stampedUpTo();
    for (const [session, ms] of this.lastStamp) if (ms < now) this.lastStamp.delete(session);
  }
}
