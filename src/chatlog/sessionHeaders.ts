import { isConditionFailure } from './errors.js';
import type { ChatMessage } from './schema.js';
import type { Sdk, TableAccess } from './sdk.js';
import { expiresAt, headerKey, speakerSlot } from './table.js';

/** What a session's messages since the last flush add to its header. */
interface PendingHeader {
  firstActivity: number;
  lastActivity: number;
  count: number;
  members: Set<string>;
  channel?: string | undefined;
  thread?: string | undefined;
}

/** What the writer needs of the table: updates through the document client. */
export type HeaderAccess = Pick<TableAccess, 'doc' | 'table' | 'call'> & { sdk: Pick<Sdk, 'UpdateCommand'> };

export interface SessionHeaderWriterOptions {
  access: HeaderAccess;
  /** Items expire this many days after their last write (TTL); undefined: never. */
  ttlDays: number | undefined;
  /** How long activity waits to be folded into one header write. */
  flushMs?: number;
}

/**
 * The session header follows its messages within a moment: activity of many messages is
 * folded into one header write, so that a busy session costs one item write per message.
 */
export class SessionHeaderWriter {
  private pending = new Map<string, PendingHeader>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly access: HeaderAccess;
  private readonly ttlDays: number | undefined;
  private readonly flushMs: number;

  constructor(options: SessionHeaderWriterOptions) {
    this.access = options.access;
    this.ttlDays = options.ttlDays;
    this.flushMs = options.flushMs ?? 1000;
  }

  /** Counts stored messages into their session's header, written at the next flush. */
  touch(sessionId: string, messages: readonly ChatMessage[]): void {
    const pending = this.pending.get(sessionId) ?? { firstActivity: Infinity, lastActivity: 0, count: 0, members: new Set<string>() };
    for (const m of messages) {
      pending.firstActivity = Math.min(pending.firstActivity, m.timestamp);
      pending.lastActivity = Math.max(pending.lastActivity, m.timestamp);
      pending.count++;
      pending.members.add(m.speaker_name);
      pending.channel ??= m.channel_id;
      pending.thread ??= m.thread_id;
    }
    this.pending.set(sessionId, pending);
    this.schedule();
  }

  /** Writes the pending session headers now. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = [...this.pending];
    this.pending.clear();
    // A header write that fails goes back in the queue for the next flush; it is not lost, and
    // it does not poison the flushes after it.
    const writes = batch.map(([id, pending]) =>
      this.write(id, pending).catch((error: unknown) => {
        this.requeue(id, pending);
        throw error;
      }),
    );
    this.flushing = this.flushing.catch(() => {}).then(() => Promise.all(writes).then(() => {}));
    return this.flushing;
  }

  private schedule() {
    this.timer ??= setTimeout(() => void this.flush().catch(() => {}), this.flushMs);
  }

  private async write(sessionId: string, pending: PendingHeader) {
    const { sdk, doc, table, call } = this.access;
    const names: Record<string, string> = { '#status': 'status' };
    // A session its first message starts began at that message, not when its header is written
    // (up to a flush later, or any time later for history imported with its own timestamps).
    const created = Math.min(pending.firstActivity, Date.now());
    const values: Record<string, unknown> = {
      ':type': 'session',
      ':created': created,
      ':open': 'open',
      ':n': pending.count,
      ':members': pending.members,
      ':t': pending.lastActivity,
    };
    const sets = ['item_type = :type', 'created_at = if_not_exists(created_at, :created)', '#status = if_not_exists(#status, :open)'];
    if (pending.channel) {
      sets.push('channel_id = if_not_exists(channel_id, :channel)');
      values[':channel'] = pending.channel;
    }
    if (pending.thread) {
      sets.push('thread_id = if_not_exists(thread_id, :thread)');
      values[':thread'] = pending.thread;
    }
    if (this.ttlDays !== undefined) {
      sets.push('expires_at = :expires');
      values[':expires'] = expiresAt(this.ttlDays);
    }
    const update = (withActivity: boolean) =>
      doc.send(
        new sdk.UpdateCommand({
          TableName: table,
          Key: headerKey(sessionId),
          UpdateExpression: `SET ${[...sets, ...(withActivity ? ['last_activity = :t'] : [])].join(', ')} ADD message_count :n, members :members`,
          // last_activity only moves forward (messages may arrive with older timestamps).
          ...(withActivity ? { ConditionExpression: 'attribute_not_exists(last_activity) OR last_activity < :t' } : {}),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: withActivity ? values : Object.fromEntries(Object.entries(values).filter(([k]) => k !== ':t')),
        }),
      );
    try {
      await call(() => update(true));
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      await call(() => update(false));
    }
    // Under TTL, a session's speaker items live as long as its header.
    if (this.ttlDays !== undefined) {
      await Promise.all(
        [...pending.members].map((name) =>
          call(() =>
            doc.send(
              new sdk.UpdateCommand({
                TableName: table,
                Key: { session_id: sessionId, timestamp: speakerSlot(name) },
                UpdateExpression: 'SET expires_at = :expires',
                ConditionExpression: 'attribute_exists(session_id)',
                ExpressionAttributeValues: { ':expires': values[':expires'] },
              }),
            ),
          ).catch((error: unknown) => {
            if (!isConditionFailure(error)) throw error;
          }),
        ),
      );
    }
  }

  private requeue(sessionId: string, failed: PendingHeader) {
    const pending = this.pending.get(sessionId);
    if (!pending) {
      this.pending.set(sessionId, failed);
    } else {
      pending.firstActivity = Math.min(pending.firstActivity, failed.firstActivity);
      pending.lastActivity = Math.max(pending.lastActivity, failed.lastActivity);
      pending.count += failed.count;
      for (const member of failed.members) pending.members.add(member);
      pending.channel ??= failed.channel;
      pending.thread ??= failed.thread;
    }
    this.schedule();
  }
}
