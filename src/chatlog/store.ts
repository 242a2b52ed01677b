import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BatchWriter, untilProcessed } from './batchWriter.js';
import { decodeActivity, decodeChannelKey, decodePosition, encodeActivity, encodeChannelKey, encodePosition } from './cursors.js';
import { ChatRequestError, ChatStoreUnavailableError, isConditionFailure, translateStoreError } from './errors.js';
import { WriterLanes } from './lanes.js';
import { checkSessionId, checkStorable, type ValidMessage } from './messages.js';
import type { ChatMessage, ChatSession } from './schema.js';
import type { Sdk, TableAccess } from './sdk.js';
import { SessionHeaderWriter } from './sessionHeaders.js';
import { ensureTable, expiresAt, headerKey, messageIdKey, speakerSlot, toSession } from './table.js';

export interface ReadOptions {
  limit: number;
  /** Only messages strictly before / after these epoch milliseconds. */
  before?: number;
  after?: number;
  order: 'asc' | 'desc';
  cursor?: string;
}

export interface AppendResult {
  session: string;
  messages: Array<ChatMessage & { duplicate?: boolean }>;
}

/** How long a session's status read from the store is trusted (a session closed elsewhere is seen this late). */
const sessionStatusCacheMs = 5000;

export interface ChatStoreOptions {
  sdk: Sdk;
  /** The plain client (table operations, pages of messages) and the document client over it. */
  raw: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  table: string;
  /** Where the store is, as messages name it: `ChatLogs at http://...`. */
  description: string;
  /** Items expire this many days after their last write (TTL); undefined: never. */
  ttlDays?: number | undefined;
  /** Stops what serves the store (the embedded one), after the clients are closed. */
  onClose?: () => Promise<void>;
}

/**
 * The chat logs: messages appended to sessions, read a page at a time; sessions started,
 * listed, closed and deleted. The table layout is in table.ts, how messages get timestamps that
 * never collide in lanes.ts, and the session headers written behind in sessionHeaders.ts.
 */
export class ChatStore {
  readonly table: string;
  readonly description: string;
  private readonly sdk: Sdk;
  private readonly raw: DynamoDBClient;
  private readonly doc: DynamoDBDocumentClient;
  private readonly ttlDays: number | undefined;
  private readonly onClose: () => Promise<void>;
  private readonly access: TableAccess;
  private readonly headers: SessionHeaderWriter;
  private readonly lanes: WriterLanes;
  private readonly writer: BatchWriter;
  private knownSessions = new Map<string, { status: 'open' | 'closed'; at: number }>();
  private knownSpeakers = new Set<string>();

  constructor(options: ChatStoreOptions) {
    ({ sdk: this.sdk, raw: this.raw, doc: this.doc, table: this.table, description: this.description } = options);
    this.ttlDays = options.ttlDays;
    this.onClose = options.onClose ?? (async () => {});
    const translate = (error: unknown) => translateStoreError(error, this);
    this.access = {
      sdk: this.sdk,
      raw: this.raw,
      doc: this.doc,
      table: this.table,
      translate,
      call: async (operation) => {
        try {
          return await operation();
        } catch (error) {
          throw translate(error);
        }
      },
    };
    this.headers = new SessionHeaderWriter({ access: this.access, ttlDays: this.ttlDays });
    this.lanes = new WriterLanes({ sdk: this.sdk, doc: this.doc, table: this.table });
    this.writer = new BatchWriter(async (items) => {
      const result = await this.call(() =>
        this.doc.send(new this.sdk.BatchWriteCommand({ RequestItems: { [this.table]: items.map((Item) => ({ PutRequest: { Item } })) } })),
      );
      return (result.UnprocessedItems?.[this.table] ?? []).map((request) => request.PutRequest!.Item!);
    });
  }

  /** Creates the table (and its indexes) when missing; turns TTL on when configured. */
  ensureTable(): Promise<{ created: boolean; ttl: 'enabled' | 'off' | 'unsupported' }> {
    return ensureTable(this.access, this.ttlDays);
  }

  /** The store answers and the table exists. */
  async check(): Promise<void> {
    await this.call(() => this.raw.send(new this.sdk.DescribeTableCommand({ TableName: this.table })));
  }

  // ---- messages ------------------------------------------------------------------------------

  /**
   * Appends messages to a session, creating it on first use. No message ever overwrites another:
   * messages the service times get a timestamp in this process's lane and are written together
   * with those of concurrent appends; messages with a timestamp of their own are written only if
   * no item holds it, and otherwise move up a millisecond (lanes.ts).
   */
  async append(sessionId: string, messages: readonly ValidMessage[]): Promise<AppendResult> {
    checkSessionId(sessionId);
    checkStorable(messages);
    if ((await this.sessionStatus(sessionId)) === 'closed') {
      throw new ChatRequestError('session_closed', `session ${sessionId} is closed; start a new one`);
    }
    const lane = messages.some((m) => m.timestamp === undefined) ? await this.lanes.ready() : undefined;
    // Lane timestamps are taken now, in the order of the request; conditional writes go one after
    // another, so that given timestamps that meet keep that order too.
    let conditional = Promise.resolve();
    const results = await Promise.allSettled(
      messages.map((message) => {
        if (message.timestamp === undefined && lane !== undefined) return this.appendOne(sessionId, message, this.lanes.stamp(sessionId, lane));
        const next = conditional.then(() => this.appendOne(sessionId, message));
        conditional = next.then(
          () => {},
          () => {},
        );
        return next;
      }),
    );
    const stored = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    // What was stored belongs to its session even when another message failed.
    const fresh = stored.filter((m) => !m.duplicate);
    if (fresh.length > 0) this.headers.touch(sessionId, fresh);
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    await Promise.all(
      [...new Set(fresh.map((m) => `${m.speaker_type}\u0000${m.speaker_name}`))].map((speaker) => {
        const [type, name] = speaker.split('\u0000') as ['human' | 'virtual', string];
        return this.rememberSpeaker(sessionId, name, type);
      }),
    );
    return { session: sessionId, messages: stored };
  }

  /** Writes one message: at `laneStamp` in a batch, or else conditionally. */
  private async appendOne(sessionId: string, input: ValidMessage, laneStamp?: number): Promise<ChatMessage & { duplicate?: boolean }> {
    const expires = expiresAt(this.ttlDays);
    let timestamp = laneStamp ?? input.timestamp ?? Date.now();
    const item = (): ChatMessage => ({ ...input, session_id: sessionId, timestamp, ...(expires ? { expires_at: expires } : {}) });
    if (input.message_id) {
      const earlier = await this.findClaim(sessionId, input.message_id);
      if (earlier !== undefined) {
        const existing = await this.getMessage(sessionId, earlier);
        if (existing) return { ...existing, duplicate: true };
      }
    }
    if (laneStamp !== undefined) {
      await this.call(() => this.writer.write(item()));
    } else {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.call(() =>
            this.doc.send(
              new this.sdk.PutCommand({
                TableName: this.table,
                Item: item(),
                ConditionExpression: 'attribute_not_exists(session_id)',
              }),
            ),
          );
          break;
        } catch (error) {
          if (!isConditionFailure(error) || attempt > 1000) throw error;
          timestamp += 1;
        }
      }
    }
    if (input.message_id) {
      // The message is written; now its id is claimed, pointing at where it landed. Two posts of
      // one id at the same moment both get here: the claim decides, and the loser takes its
      // copy back and answers the winner's.
      const winner = await this.claimMessageId(sessionId, input.message_id, timestamp);
      if (winner !== undefined && winner !== timestamp) {
        await this.call(() => this.doc.send(new this.sdk.DeleteCommand({ TableName: this.table, Key: { session_id: sessionId, timestamp } })));
        const existing = await this.getMessage(sessionId, winner);
        if (existing) return { ...existing, duplicate: true };
      }
    }
    return item();
  }

  /** Where the message with this id was stored, if it was. */
  private async findClaim(sessionId: string, messageId: string): Promise<number | undefined> {
    const claim = await this.call(() =>
      this.doc.send(new this.sdk.GetCommand({ TableName: this.table, Key: messageIdKey(sessionId, messageId), ConsistentRead: true })),
    );
    return claim.Item?.message_id === messageId ? (claim.Item.message_timestamp as number) : undefined;
  }

  /**
   * Claims a Discord message_id in the session for the message stored at `timestamp`: the first
   * claim wins. Answers the timestamp the winning claim points at.
   */
  private async claimMessageId(sessionId: string, messageId: string, timestamp: number): Promise<number | undefined> {
    const key = messageIdKey(sessionId, messageId);
    try {
      await this.call(() =>
        this.doc.send(
          new this.sdk.PutCommand({
            TableName: this.table,
            Item: { ...key, item_type: 'message_id', message_id: messageId, message_timestamp: timestamp, ...this.ttlAttribute() },
            ConditionExpression: 'attribute_not_exists(session_id)',
          }),
        ),
      );
      return undefined;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const claim = await this.call(() => this.doc.send(new this.sdk.GetCommand({ TableName: this.table, Key: key, ConsistentRead: true })));
      // Another id with the same hash: rare, and then this message simply goes undeduplicated.
      return claim.Item?.message_id === messageId ? (claim.Item.message_timestamp as number) : undefined;
    }
  }

  private async getMessage(sessionId: string, timestamp: number): Promise<ChatMessage | undefined> {
    const result = await this.call(() =>
      this.doc.send(new this.sdk.GetCommand({ TableName: this.table, Key: { session_id: sessionId, timestamp }, ConsistentRead: true })),
    );
    return result.Item as ChatMessage | undefined;
  }

  /** A page of messages; `next_cursor` is null on the last page. */
  async readMessages(sessionId: string, options: ReadOptions): Promise<{ messages: ChatMessage[]; next_cursor: string | null }> {
    let after = Math.max(0, options.after ?? 0);
    let before = options.before;
    if (options.cursor) {
      const position = decodePosition(options.cursor);
      if (options.order === 'asc') after = Math.max(after, position);
      else before = before === undefined ? position : Math.min(before, position);
    }
    const values: Record<string, unknown> = { ':s': sessionId };
    let range: string;
    if (before === undefined) {
      range = '#ts > :after';
      values[':after'] = after;
    } else {
      const low = roundTimestamp(Math.floor(after * 1000) / 1000 + 0.001);
      const high = roundTimestamp(before - 0.001);
      if (high < low) return { messages: [], next_cursor: null };
      range = '#ts BETWEEN :low AND :high';
      Object.assign(values, { ':low': low, ':high': high });
    }
    // DynamoDB stops a page at 1 MB: go on until the page is full or the session ends.
    const items: ChatMessage[] = [];
    const expressionValues = this.sdk.toAttributes(values);
    let start: Record<string, AttributeValue> | undefined;
    do {
      const result = await this.call(() =>
        this.raw.send(
          new this.sdk.PlainQueryCommand({
            TableName: this.table,
            KeyConditionExpression: `session_id = :s AND ${range}`,
            ExpressionAttributeNames: { '#ts': 'timestamp' },
            ExpressionAttributeValues: expressionValues,
            ScanIndexForward: options.order === 'asc',
            Limit: options.limit + 1 - items.length,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      );
      for (const item of result.Items ?? []) items.push(this.sdk.fromAttributes(item) as ChatMessage);
      start = result.LastEvaluatedKey;
    } while (start && items.length <= options.limit);
    const page = items.slice(0, options.limit);
    const more = items.length > options.limit && page.length > 0;
    return { messages: page, next_cursor: more ? encodePosition(page.at(-1)!.timestamp) : null };
  }

  /** Every message of a session, oldest first, a page at a time. */
  async *allMessages(sessionId: string): AsyncIterable<ChatMessage> {
    let cursor: string | undefined;
    do {
      const page = await this.readMessages(sessionId, { limit: 500, order: 'asc', ...(cursor ? { cursor } : {}) });
      yield* page.messages;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  // ---- sessions ------------------------------------------------------------------------------

  /**
   * Starts a session, or answers the existing one (idempotent). A session keeps the channel and
   * thread it started with: a request naming others is refused whole (409), changing nothing.
   */
  async startSession(sessionId: string, details: { channel_id?: string; thread_id?: string }): Promise<ChatSession> {
    checkSessionId(sessionId);
    const given = (['channel_id', 'thread_id'] as const).filter((field) => details[field]);
    // Headers of messages already appended are written first: the condition must see them.
    await this.flush();
    const now = Date.now();
    try {
      await this.call(() =>
        this.doc.send(
          new this.sdk.UpdateCommand({
            TableName: this.table,
            Key: headerKey(sessionId),
            UpdateExpression:
              'SET item_type = :type, created_at = if_not_exists(created_at, :now), last_activity = if_not_exists(last_activity, :now), #status = if_not_exists(#status, :open), message_count = if_not_exists(message_count, :zero)' +
              given.map((field) => `, ${field} = :${field}`).join('') +
              (this.ttlDays !== undefined ? ', expires_at = :expires' : ''),
            ...(given.length ? { ConditionExpression: given.map((field) => `(attribute_not_exists(${field}) OR ${field} = :${field})`).join(' AND ') } : {}),
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':type': 'session',
              ':now': now,
              ':open': 'open',
              ':zero': 0,
              ...Object.fromEntries(given.map((field) => [`:${field}`, details[field]])),
              ...(this.ttlDays !== undefined ? { ':expires': expiresAt(this.ttlDays) } : {}),
            },
          }),
        ),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const session = await this.getSession(sessionId);
      const other = given.find((field) => session && session[field] !== null && session[field] !== details[field]);
      throw new ChatRequestError(
        'conflict',
        other
          ? `session ${sessionId} belongs to ${other} ${session![other]}, not ${details[other]}`
          : `session ${sessionId} changed while it was being started: try again`,
      );
    }
    return (await this.getSession(sessionId))!;
  }

  async getSession(sessionId: string): Promise<ChatSession | undefined> {
    await this.flush();
    const result = await this.call(() => this.doc.send(new this.sdk.GetCommand({ TableName: this.table, Key: headerKey(sessionId), ConsistentRead: true })));
    return result.Item ? toSession(result.Item) : undefined;
  }

  /** Sessions of a channel, or of a member, or all: the most recent activity first. */
  async listSessions(
    filter: { channel_id?: string; member?: string },
    page: { limit: number; cursor?: string },
  ): Promise<{ sessions: ChatSession[]; next_cursor: string | null }> {
    if (filter.channel_id && filter.member)
      throw new ChatRequestError('bad_request', 'a channel and a member cannot be combined: list the sessions of one or the other');
    await this.flush();
    const channel = filter.channel_id;
    if (channel) {
      const start = page.cursor ? decodeChannelKey(page.cursor, channel) : undefined;
      const result = await this.call(() =>
        this.doc.send(
          new this.sdk.QueryCommand({
            TableName: this.table,
            IndexName: 'by_channel',
            KeyConditionExpression: 'channel_id = :c',
            ExpressionAttributeValues: { ':c': filter.channel_id },
            ScanIndexForward: false,
            Limit: page.limit + 1,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      );
      const items = result.Items ?? [];
      const sessions = items.slice(0, page.limit).map(toSession);
      const last = items[page.limit - 1];
      const next = items.length > page.limit && last ? encodeChannelKey(last) : null;
      return { sessions, next_cursor: next };
    }
    const ids = filter.member ? await this.sessionsOfMember(filter.member) : await this.allSessionIds();
    const headers = await this.readHeaders(ids);
    headers.sort((a, b) => b.last_activity - a.last_activity || (a.session_id < b.session_id ? -1 : 1));
    // Resume after the position of the cursor in this order, whether or not that session still exists.
    let start = 0;
    if (page.cursor) {
      const { last_activity: at, session_id: id } = decodeActivity(page.cursor);
      start = headers.findIndex((s) => s.last_activity < at || (s.last_activity === at && s.session_id > id));
      if (start < 0) start = headers.length;
    }
    const sessions = headers.slice(start, start + page.limit);
    const last = sessions.at(-1);
    const more = start + page.limit < headers.length && last;
    return { sessions, next_cursor: more ? encodeActivity(last) : null };
  }

  private sessionsOfMember(member: string): Promise<string[]> {
    return this.sessionIds((start) =>
      this.doc.send(
        new this.sdk.QueryCommand({
          TableName: this.table,
          IndexName: 'by_member',
          KeyConditionExpression: 'member_name = :m',
          ExpressionAttributeValues: { ':m': member },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      ),
    );
  }

  private allSessionIds(): Promise<string[]> {
    return this.sessionIds((start) =>
      this.doc.send(
        new this.sdk.ScanCommand({
          TableName: this.table,
          FilterExpression: 'item_type = :session',
          ExpressionAttributeValues: { ':session': 'session' },
          ProjectionExpression: 'session_id',
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      ),
    );
  }

  /** The distinct session ids of every page a query or scan answers. */
  private async sessionIds(
    page: (start: Record<string, unknown> | undefined) => Promise<{ Items?: Array<Record<string, unknown>>; LastEvaluatedKey?: Record<string, unknown> }>,
  ): Promise<string[]> {
    const ids = new Set<string>();
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.call(() => page(start));
      for (const item of result.Items ?? []) ids.add(item.session_id as string);
      start = result.LastEvaluatedKey;
    } while (start);
    return [...ids];
  }

  private async readHeaders(ids: string[]): Promise<ChatSession[]> {
    const sessions: ChatSession[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      const keys: Array<Record<string, unknown>> = ids.slice(i, i + 100).map(headerKey);
      const left = await untilProcessed(keys, async (batch) => {
        const result = await this.call(() => this.doc.send(new this.sdk.BatchGetCommand({ RequestItems: { [this.table]: { Keys: batch } } })));
        sessions.push(...(result.Responses?.[this.table] ?? []).map(toSession));
        return (result.UnprocessedKeys?.[this.table]?.Keys as Array<Record<string, unknown>> | undefined) ?? [];
      });
      if (left.length > 0) throw new ChatStoreUnavailableError('the chat log store keeps leaving reads unprocessed; try again later');
    }
    return sessions;
  }

  async closeSession(sessionId: string): Promise<ChatSession | undefined> {
    checkSessionId(sessionId);
    await this.flush();
    try {
      await this.call(() =>
        this.doc.send(
          new this.sdk.UpdateCommand({
            TableName: this.table,
            Key: headerKey(sessionId),
            UpdateExpression: 'SET #status = :closed, closed_at = if_not_exists(closed_at, :now)',
            ConditionExpression: 'attribute_exists(session_id)',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':closed': 'closed', ':now': Date.now() },
          }),
        ),
      );
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
    this.knownSessions.set(sessionId, { status: 'closed', at: Date.now() });
    return this.getSession(sessionId);
  }

  /**
   * Deletes a session with all its items, however many: 25 per batch request, with the items
   * DynamoDB leaves unprocessed retried. Answers how many messages went.
   */
  async deleteSession(sessionId: string): Promise<number | undefined> {
    checkSessionId(sessionId);
    await this.flush();
    let messages = 0;
    let found = false;
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.call(() =>
        this.doc.send(
          new this.sdk.QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'session_id = :s',
            ExpressionAttributeValues: { ':s': sessionId },
            ProjectionExpression: 'session_id, #ts',
            ExpressionAttributeNames: { '#ts': 'timestamp' },
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      );
      const keys = (result.Items ?? []) as Array<{ session_id: string; timestamp: number }>;
      found ||= keys.length > 0;
      messages += keys.filter((k) => k.timestamp > 0).length;
      for (let i = 0; i < keys.length; i += 25) await this.batchDelete(keys.slice(i, i + 25));
      start = result.LastEvaluatedKey;
    } while (start);
    this.knownSessions.delete(sessionId);
    for (const speaker of [...this.knownSpeakers]) if (speaker.startsWith(`${sessionId}\u0000`)) this.knownSpeakers.delete(speaker);
    return found ? messages : undefined;
  }

  private async batchDelete(keys: Array<Record<string, unknown>>) {
    const requests = keys.map((Key) => ({ DeleteRequest: { Key } }));
    const left = await untilProcessed(requests, async (batch) => {
      const result = await this.call(() => this.doc.send(new this.sdk.BatchWriteCommand({ RequestItems: { [this.table]: batch } })));
      return (result.UnprocessedItems?.[this.table] as typeof requests | undefined) ?? [];
    });
    if (left.length > 0) throw new ChatStoreUnavailableError('the chat log store keeps leaving deletes unprocessed; try again later');
  }

  // ---- session state and speakers ------------------------------------------------------------

  private async sessionStatus(sessionId: string): Promise<'open' | 'closed'> {
    const known = this.knownSessions.get(sessionId);
    if (known && Date.now() - known.at < sessionStatusCacheMs) return known.status;
    const result = await this.call(() =>
      this.doc.send(
        new this.sdk.GetCommand({
          TableName: this.table,
          Key: headerKey(sessionId),
          ProjectionExpression: '#status',
          ExpressionAttributeNames: { '#status': 'status' },
        }),
      ),
    );
    const status = result.Item?.status === 'closed' ? 'closed' : 'open';
    this.knownSessions.set(sessionId, { status, at: Date.now() });
    return status;
  }

  /** Writes the pending session headers now. */
  flush(): Promise<void> {
    return this.headers.flush();
  }

  /** One index item per speaker of a session, for listing sessions by member; written once. */
  private async rememberSpeaker(sessionId: string, name: string, type: 'human' | 'virtual') {
    const key = `${sessionId}\u0000${name}`;
    if (this.knownSpeakers.has(key)) return;
    await this.call(() =>
      this.doc.send(
        new this.sdk.PutCommand({
          TableName: this.table,
          Item: { session_id: sessionId, timestamp: speakerSlot(name), item_type: 'speaker', member_name: name, speaker_type: type, ...this.ttlAttribute() },
        }),
      ),
    );
    this.knownSpeakers.add(key);
  }

  private ttlAttribute() {
    const expires = expiresAt(this.ttlDays);
    return expires ? { expires_at: expires } : {};
  }

  async close(): Promise<void> {
    await this.flush().catch(() => {});
    await this.lanes.release();
    this.raw.destroy();
    await this.onClose();
  }

  private call<T>(operation: () => Promise<T>): Promise<T> {
    return this.access.call(operation);
  }
}

/** Thousandths of a millisecond at most: exact in a double at today's epoch, and in DynamoDB. */
function roundTimestamp(value: number): number {
  return Math.round(value * 1000) / 1000;
}
