import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BatchWriter, untilProcessed } from './batchWriter.js';
import { WriterLanes } from './lanes.js';
import { epochMsSchema, messageInputSchema, sessionIdSchema, type ChatMessage, type ChatSession } from './schema.js';

/** A message as `messageInputSchema` leaves it: validated, defaults filled in. */
export type ValidMessage = z.output<typeof messageInputSchema>;

/** Validates messages from outside (a request body, a file); the error names the first problem. */
export function validateMessages(inputs: readonly unknown[]): ValidMessage[] {
  return inputs.map((input, i) => {
    const parsed = messageInputSchema.safeParse(input);
    if (parsed.success) return parsed.data;
    const problem = parsed.error.issues[0]!;
    throw new ChatRequestError(400, 'bad_message', `messages[${i}].${problem.path.join('.')}: ${problem.message}`);
  });
}

/**
 * One table, `ChatLogs` (D12): partition key `session_id` (S), sort key `timestamp` (N).
 * A session's partition holds, by sort key:
 *   > 0   its messages, one item each (epoch ms, up to three decimals: see lanes.ts);
 *   = 0   its header: channel, status, created_at, last_activity, message_count, members;
 *   < 0   small index items: one per speaker (for listing sessions by member) and one per
 *         Discord message_id (so that a repost stores nothing new).
 * Two sparse indexes: `by_channel` (channel_id, last_activity) holds headers only, since only
 * they carry last_activity; `by_member` (member_name, session_id) holds the speaker items.
 */

/** The SDK parts the store uses, loaded on demand by `openChatStore`. */
export type Sdk = Pick<typeof import('@aws-sdk/client-dynamodb'), 'DescribeTableCommand' | 'CreateTableCommand' | 'UpdateTableCommand' | 'UpdateTimeToLiveCommand' | 'waitUntilTableExists'> &
  Pick<typeof import('@aws-sdk/lib-dynamodb'), 'PutCommand' | 'GetCommand' | 'DeleteCommand' | 'QueryCommand' | 'UpdateCommand' | 'ScanCommand' | 'BatchGetCommand' | 'BatchWriteCommand'> &
  {
    /**
     * The plain client's Query, for pages of messages, the hottest read: its items converted
     * here cost less than through the document client (≈ 0.3 ms of a 5 ms read, measured).
     */
    PlainQueryCommand: typeof import('@aws-sdk/client-dynamodb').QueryCommand;
    toAttributes: (values: Record<string, unknown>) => Record<string, AttributeValue>;
    /** An item as plain values, numbers as JSON numbers (as the document client is set up). */
    fromAttributes: (item: Record<string, AttributeValue>) => Record<string, unknown>;
  };

export class ChatStoreUnavailableError extends Error {
  override name = 'ChatStoreUnavailableError';
}

export class ChatRequestError extends Error {
  override name = 'ChatRequestError';
  constructor(
    readonly status: 400 | 404 | 409 | 413,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

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

/** DynamoDB's limit for one item is 400 KB; what stays below it is a message's room. */
const maxItemBytes = 400 * 1024;
const headerFlushMs = 1000;
const headerCacheMs = 5000;

export class ChatStore {
  private pendingHeaders = new Map<string, PendingHeader>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private knownSessions = new Map<string, { status: 'open' | 'closed'; at: number }>();
  private knownSpeakers = new Set<string>();
  private readonly lanes: WriterLanes;
  private readonly writer: BatchWriter;

  constructor(
    private readonly sdk: Sdk,
    private readonly raw: DynamoDBClient,
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
    readonly description: string,
    private readonly ttlDays: number | undefined,
    private readonly onClose: () => Promise<void>,
  ) {
    this.lanes = new WriterLanes(sdk, doc, table);
    this.writer = new BatchWriter(async (items) => {
      const result = await this.call(() => this.doc.send(new this.sdk.BatchWriteCommand({ RequestItems: { [this.table]: items.map((Item) => ({ PutRequest: { Item } })) } })));
      return (result.UnprocessedItems?.[this.table] ?? []).map((request) => request.PutRequest!.Item!);
    });
  }

  // ---- table ---------------------------------------------------------------------------------

  /** Creates the table (and its indexes) when missing; turns TTL on when configured. */
  async ensureTable(): Promise<{ created: boolean; ttl: 'enabled' | 'off' | 'unsupported' }> {
    let created = false;
    try {
      const described = await this.call(() => this.raw.send(new this.sdk.DescribeTableCommand({ TableName: this.table })));
      await this.addMissingIndexes(new Set((described.Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName)));
    } catch (error) {
      if (!(error instanceof ChatRequestError && error.status === 404 && error.code === 'no_table')) throw error;
      await this.call(() => this.raw.send(new this.sdk.CreateTableCommand(tableDefinition(this.table))));
      await this.sdk.waitUntilTableExists({ client: this.raw, maxWaitTime: 120 }, { TableName: this.table });
      created = true;
    }
    if (this.ttlDays === undefined) return { created, ttl: 'off' };
    try {
      await this.raw.send(new this.sdk.UpdateTimeToLiveCommand({ TableName: this.table, TimeToLiveSpecification: { Enabled: true, AttributeName: 'expires_at' } }));
      return { created, ttl: 'enabled' };
    } catch (error) {
      const name = (error as { name?: string }).name ?? '';
      // Already on, or an emulator that does not implement TTL (the attribute is written anyway).
      if (/already enabled/i.test((error as Error).message)) return { created, ttl: 'enabled' };
      if (name === 'UnknownOperationException' || name === 'UnrecognizedClientException') return { created, ttl: 'unsupported' };
      throw this.translate(error);
    }
  }

  /** A table made by other tools (D12 names no index) gets the two indexes listing needs. */
  private async addMissingIndexes(existing: Set<string | undefined>) {
    const definition = tableDefinition(this.table);
    for (const index of definition.GlobalSecondaryIndexes) {
      if (existing.has(index.IndexName)) continue;
      await this.call(() =>
        this.raw.send(new this.sdk.UpdateTableCommand({
          TableName: this.table,
          AttributeDefinitions: definition.AttributeDefinitions,
          GlobalSecondaryIndexUpdates: [{ Create: index }],
        })),
      );
      await this.sdk.waitUntilTableExists({ client: this.raw, maxWaitTime: 300 }, { TableName: this.table });
    }
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
    // Every message is checked against what the store accepts before any is written: a request
    // is refused whole, never half stored.
    messages.forEach((message, i) => {
      const size = itemBytes(message, `messages[${i}]`) + 256;
      if (size > maxItemBytes - 1024) {
        throw new ChatRequestError(413, 'message_too_large', `messages[${i}]: a message item holds at most ${maxItemBytes - 1024} bytes; this one needs ${size} (split the content into several messages)`);
      }
    });
    if ((await this.sessionStatus(sessionId)) === 'closed') {
      throw new ChatRequestError(409, 'session_closed', `session ${sessionId} is closed; start a new one`);
    }
    const lane = messages.some((m) => m.timestamp === undefined) ? await this.lanes.ready() : undefined;
    // Lane timestamps are taken now, in the order of the request; conditional writes go one after
    // another, so that given timestamps that meet keep that order too.
    let conditional = Promise.resolve();
    const results = await Promise.allSettled(
      messages.map((message) => {
        if (message.timestamp === undefined && lane !== undefined) return this.appendOne(sessionId, message, this.lanes.stamp(sessionId, lane));
        const next = conditional.then(() => this.appendOne(sessionId, message));
        conditional = next.then(() => {}, () => {});
        return next;
      }),
    );
    const stored = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    // What was stored belongs to its session even when another message failed.
    const fresh = stored.filter((m) => !m.duplicate);
    if (fresh.length > 0) this.touchSession(sessionId, fresh);
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
    const expires = this.expiresAt();
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
            this.doc.send(new this.sdk.PutCommand({
              TableName: this.table,
              Item: item(),
              ConditionExpression: 'attribute_not_exists(session_id)',
            })),
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

  private messageIdKey(sessionId: string, messageId: string) {
    return { session_id: sessionId, timestamp: -(2 ** 32 + fnv1a(messageId)) };
  }

  /** Where the message with this id was stored, if it was. */
  private async findClaim(sessionId: string, messageId: string): Promise<number | undefined> {
    const claim = await this.call(() => this.doc.send(new this.sdk.GetCommand({ TableName: this.table, Key: this.messageIdKey(sessionId, messageId), ConsistentRead: true })));
    return claim.Item?.message_id === messageId ? (claim.Item.message_timestamp as number) : undefined;
  }

  /**
   * Claims a Discord message_id in the session for the message stored at `timestamp`: the first
   * claim wins. Answers the timestamp the winning claim points at.
   */
  private async claimMessageId(sessionId: string, messageId: string, timestamp: number): Promise<number | undefined> {
    const key = this.messageIdKey(sessionId, messageId);
    try {
      await this.call(() =>
        this.doc.send(new this.sdk.PutCommand({
          TableName: this.table,
          Item: { ...key, item_type: 'message_id', message_id: messageId, message_timestamp: timestamp, ...this.ttlAttribute() },
          ConditionExpression: 'attribute_not_exists(session_id)',
        })),
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
        this.raw.send(new this.sdk.PlainQueryCommand({
          TableName: this.table,
          KeyConditionExpression: `session_id = :s AND ${range}`,
          ExpressionAttributeNames: { '#ts': 'timestamp' },
          ExpressionAttributeValues: expressionValues,
          ScanIndexForward: options.order === 'asc',
          Limit: options.limit + 1 - items.length,
          ...(start ? { ExclusiveStartKey: start } : {}),
        })),
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
        this.doc.send(new this.sdk.UpdateCommand({
          TableName: this.table,
          Key: { session_id: sessionId, timestamp: 0 },
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
            ...(this.ttlDays !== undefined ? { ':expires': this.expiresAt() } : {}),
          },
        })),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const session = await this.getSession(sessionId);
      const other = given.find((field) => session && session[field] !== null && session[field] !== details[field]);
      throw new ChatRequestError(409, 'conflict', other
        ? `session ${sessionId} belongs to ${other} ${session![other]}, not ${details[other]}`
        : `session ${sessionId} changed while it was being started: try again`);
    }
    return (await this.getSession(sessionId))!;
  }

  async getSession(sessionId: string): Promise<ChatSession | undefined> {
    await this.flush();
    const result = await this.call(() =>
      this.doc.send(new this.sdk.GetCommand({ TableName: this.table, Key: { session_id: sessionId, timestamp: 0 }, ConsistentRead: true })),
    );
    return result.Item ? toSession(result.Item) : undefined;
  }

  /** Sessions of a channel, or of a member, or all: the most recent activity first. */
  async listSessions(filter: { channel_id?: string; member?: string }, page: { limit: number; cursor?: string }): Promise<{ sessions: ChatSession[]; next_cursor: string | null }> {
    if (filter.channel_id && filter.member) throw new ChatRequestError(400, 'bad_request', 'a channel and a member cannot be combined: list the sessions of one or the other');
    await this.flush();
    const channel = filter.channel_id;
    if (channel) {
      const start = page.cursor ? channelCursor(page.cursor, channel) : undefined;
      const result = await this.call(() =>
        this.doc.send(new this.sdk.QueryCommand({
          TableName: this.table,
          IndexName: 'by_channel',
          KeyConditionExpression: 'channel_id = :c',
          ExpressionAttributeValues: { ':c': filter.channel_id },
          ScanIndexForward: false,
          Limit: page.limit + 1,
          ...(start ? { ExclusiveStartKey: start } : {}),
        })),
      );
      const items = result.Items ?? [];
      const sessions = items.slice(0, page.limit).map(toSession);
      const last = items[page.limit - 1];
      const next = items.length > page.limit && last ? encodeKey({ channel_id: last.channel_id, last_activity: last.last_activity, session_id: last.session_id, timestamp: 0 }) : null;
      return { sessions, next_cursor: next };
    }
    const ids = filter.member ? await this.sessionsOfMember(filter.member) : await this.allSessionIds();
    const headers = await this.headers(ids);
    headers.sort((a, b) => b.last_activity - a.last_activity || (a.session_id < b.session_id ? -1 : 1));
    // Resume after the position of the cursor in this order, whether or not that session still exists.
    let start = 0;
    if (page.cursor) {
      const { last_activity: at, session_id: id } = decodeCursor(page.cursor, activityCursor);
      start = headers.findIndex((s) => s.last_activity < at || (s.last_activity === at && s.session_id > id));
      if (start < 0) start = headers.length;
    }
    const sessions = headers.slice(start, start + page.limit);
    const last = sessions.at(-1);
    const more = start + page.limit < headers.length && last;
    return { sessions, next_cursor: more ? encodeKey({ last_activity: last.last_activity, session_id: last.session_id }) : null };
  }

  private sessionsOfMember(member: string): Promise<string[]> {
    return this.sessionIds((start) =>
      this.doc.send(new this.sdk.QueryCommand({
        TableName: this.table,
        IndexName: 'by_member',
        KeyConditionExpression: 'member_name = :m',
        ExpressionAttributeValues: { ':m': member },
        ...(start ? { ExclusiveStartKey: start } : {}),
      })),
    );
  }

  private allSessionIds(): Promise<string[]> {
    return this.sessionIds((start) =>
      this.doc.send(new this.sdk.ScanCommand({
        TableName: this.table,
        FilterExpression: 'item_type = :session',
        ExpressionAttributeValues: { ':session': 'session' },
        ProjectionExpression: 'session_id',
        ...(start ? { ExclusiveStartKey: start } : {}),
      })),
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

  private async headers(ids: string[]): Promise<ChatSession[]> {
    const sessions: ChatSession[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      const keys: Array<Record<string, unknown>> = ids.slice(i, i + 100).map((id) => ({ session_id: id, timestamp: 0 }));
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
        this.doc.send(new this.sdk.UpdateCommand({
          TableName: this.table,
          Key: { session_id: sessionId, timestamp: 0 },
          UpdateExpression: 'SET #status = :closed, closed_at = if_not_exists(closed_at, :now)',
          ConditionExpression: 'attribute_exists(session_id)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':closed': 'closed', ':now': Date.now() },
        })),
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
        this.doc.send(new this.sdk.QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'session_id = :s',
          ExpressionAttributeValues: { ':s': sessionId },
          ProjectionExpression: 'session_id, #ts',
          ExpressionAttributeNames: { '#ts': 'timestamp' },
          ...(start ? { ExclusiveStartKey: start } : {}),
        })),
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

  // ---- session activity, written behind ------------------------------------------------------

  private async sessionStatus(sessionId: string): Promise<'open' | 'closed'> {
    const known = this.knownSessions.get(sessionId);
    if (known && Date.now() - known.at < headerCacheMs) return known.status;
    const result = await this.call(() =>
      this.doc.send(new this.sdk.GetCommand({ TableName: this.table, Key: { session_id: sessionId, timestamp: 0 }, ProjectionExpression: '#status', ExpressionAttributeNames: { '#status': 'status' } })),
    );
    const status = result.Item?.status === 'closed' ? 'closed' : 'open';
    this.knownSessions.set(sessionId, { status, at: Date.now() });
    return status;
  }

  /**
   * The session header follows its messages within a moment: activity of many messages is
   * folded into one header write, so that a busy session costs one item write per message.
   */
  private touchSession(sessionId: string, messages: ChatMessage[]) {
    const pending = this.pendingHeaders.get(sessionId) ?? { firstActivity: Infinity, lastActivity: 0, count: 0, members: new Set<string>() };
    for (const m of messages) {
      pending.firstActivity = Math.min(pending.firstActivity, m.timestamp);
      pending.lastActivity = Math.max(pending.lastActivity, m.timestamp);
      pending.count++;
      pending.members.add(m.speaker_name);
      pending.channel ??= m.channel_id;
      pending.thread ??= m.thread_id;
    }
    this.pendingHeaders.set(sessionId, pending);
    this.flushTimer ??= setTimeout(() => void this.flush().catch(() => {}), headerFlushMs);
  }

  /** Writes the pending session headers now. */
  flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batch = [...this.pendingHeaders];
    this.pendingHeaders.clear();
    // A header write that fails goes back in the queue for the next flush; it is not lost, and
    // it does not poison the flushes after it.
    const writes = batch.map(([id, pending]) =>
      this.writeHeader(id, pending).catch((error: unknown) => {
        this.requeue(id, pending);
        throw error;
      }),
    );
    this.flushing = this.flushing.catch(() => {}).then(() => Promise.all(writes).then(() => {}));
    return this.flushing;
  }

  private async writeHeader(sessionId: string, pending: PendingHeader) {
    const names: Record<string, string> = { '#status': 'status' };
    // A session its first message starts began at that message, not when its header is written
    // (up to a flush later, or any time later for history imported with its own timestamps).
    const created = Math.min(pending.firstActivity, Date.now());
    const values: Record<string, unknown> = { ':type': 'session', ':created': created, ':open': 'open', ':n': pending.count, ':members': pending.members, ':t': pending.lastActivity };
    const sets = ['item_type = :type', 'created_at = if_not_exists(created_at, :created)', '#status = if_not_exists(#status, :open)'];
    if (pending.channel) (sets.push('channel_id = if_not_exists(channel_id, :channel)'), (values[':channel'] = pending.channel));
    if (pending.thread) (sets.push('thread_id = if_not_exists(thread_id, :thread)'), (values[':thread'] = pending.thread));
    if (this.ttlDays !== undefined) (sets.push('expires_at = :expires'), (values[':expires'] = this.expiresAt()));
    const update = (withActivity: boolean) =>
      this.doc.send(new this.sdk.UpdateCommand({
        TableName: this.table,
        Key: { session_id: sessionId, timestamp: 0 },
        UpdateExpression: `SET ${[...sets, ...(withActivity ? ['last_activity = :t'] : [])].join(', ')} ADD message_count :n, members :members`,
        // last_activity only moves forward (messages may arrive with older timestamps).
        ...(withActivity ? { ConditionExpression: 'attribute_not_exists(last_activity) OR last_activity < :t' } : {}),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: withActivity ? values : Object.fromEntries(Object.entries(values).filter(([k]) => k !== ':t')),
      }));
    try {
      await this.call(() => update(true));
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      await this.call(() => update(false));
    }
    // Under TTL, a session's speaker items live as long as its header.
    if (this.ttlDays !== undefined) {
      await Promise.all(
        [...pending.members].map((name) =>
          this.call(() =>
            this.doc.send(new this.sdk.UpdateCommand({
              TableName: this.table,
              Key: { session_id: sessionId, timestamp: speakerSlot(name) },
              UpdateExpression: 'SET expires_at = :expires',
              ConditionExpression: 'attribute_exists(session_id)',
              ExpressionAttributeValues: { ':expires': values[':expires'] },
            })),
          ).catch((error: unknown) => {
            if (!isConditionFailure(error)) throw error;
          }),
        ),
      );
    }
  }

  private requeue(sessionId: string, failed: PendingHeader) {
    const pending = this.pendingHeaders.get(sessionId);
    if (!pending) {
      this.pendingHeaders.set(sessionId, failed);
    } else {
      pending.firstActivity = Math.min(pending.firstActivity, failed.firstActivity);
      pending.lastActivity = Math.max(pending.lastActivity, failed.lastActivity);
      pending.count += failed.count;
      for (const member of failed.members) pending.members.add(member);
      pending.channel ??= failed.channel;
      pending.thread ??= failed.thread;
    }
    this.flushTimer ??= setTimeout(() => void this.flush().catch(() => {}), headerFlushMs);
  }

  /** One index item per speaker of a session, for listing sessions by member; written once. */
  private async rememberSpeaker(sessionId: string, name: string, type: 'human' | 'virtual') {
    const key = `${sessionId}\u0000${name}`;
    if (this.knownSpeakers.has(key)) return;
    await this.call(() =>
      this.doc.send(new this.sdk.PutCommand({
        TableName: this.table,
        Item: { session_id: sessionId, timestamp: speakerSlot(name), item_type: 'speaker', member_name: name, speaker_type: type, ...this.ttlAttribute() },
      })),
    );
    this.knownSpeakers.add(key);
  }

  private expiresAt(): number | undefined {
    return this.ttlDays === undefined ? undefined : Math.floor(Date.now() / 1000) + this.ttlDays * 86_400;
  }

  private ttlAttribute() {
    const expires = this.expiresAt();
    return expires ? { expires_at: expires } : {};
  }

  async close(): Promise<void> {
    await this.flush().catch(() => {});
    await this.lanes.release();
    this.raw.destroy();
    await this.onClose();
  }

  // ---- errors --------------------------------------------------------------------------------

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw this.translate(error);
    }
  }

  /**
   * The SDK's errors as ours: a missing table is 404, bad input 400, and the store failing —
   * unreachable, timing out, throttling, answering 5xx, refusing our credentials — "unavailable"
   * (503: try again later). Anything else is left as it is: a bug of ours, not an outage.
   */
  private translate(error: unknown): unknown {
    if (error instanceof ChatRequestError || error instanceof ChatStoreUnavailableError) return error;
    const name = (error as { name?: string }).name ?? '';
    if (name === 'ConditionalCheckFailedException') return error;
    if (name === 'ResourceNotFoundException') return new ChatRequestError(404, 'no_table', `the chat log table ${this.table} does not exist (vecr chatlog init creates it)`);
    if (name === 'ValidationException' && /size/i.test((error as Error).message)) return new ChatRequestError(413, 'message_too_large', (error as Error).message);
    if (name === 'ValidationException') return new ChatRequestError(400, 'bad_request', (error as Error).message);
    if (!isStoreFailure(error)) return error;
    return new ChatStoreUnavailableError(`the chat log store at ${this.description} is unavailable: ${name}${(error as Error).message ? `: ${(error as Error).message}` : ''}`, { cause: error });
  }
}

/** Network and socket failures, as Node reports them. */
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'EADDRNOTAVAIL']);

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

interface PendingHeader {
  firstActivity: number;
  lastActivity: number;
  count: number;
  members: Set<string>;
  channel?: string | undefined;
  thread?: string | undefined;
}

function tableDefinition(table: string) {
  return {
    TableName: table,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: [
      { AttributeName: 'session_id', AttributeType: 'S' as const },
      { AttributeName: 'timestamp', AttributeType: 'N' as const },
      { AttributeName: 'channel_id', AttributeType: 'S' as const },
      { AttributeName: 'last_activity', AttributeType: 'N' as const },
      { AttributeName: 'member_name', AttributeType: 'S' as const },
    ],
    KeySchema: [
      { AttributeName: 'session_id', KeyType: 'HASH' as const },
      { AttributeName: 'timestamp', KeyType: 'RANGE' as const },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: 'by_channel',
        KeySchema: [
          { AttributeName: 'channel_id', KeyType: 'HASH' as const },
          { AttributeName: 'last_activity', KeyType: 'RANGE' as const },
        ],
        Projection: { ProjectionType: 'ALL' as const },
      },
      {
        IndexName: 'by_member',
        KeySchema: [
          { AttributeName: 'member_name', KeyType: 'HASH' as const },
          { AttributeName: 'session_id', KeyType: 'RANGE' as const },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' as const },
      },
    ],
  };
}

function toSession(item: Record<string, unknown>): ChatSession {
  const members = item.members as Set<string> | string[] | undefined;
  return {
    session_id: item.session_id as string,
    channel_id: (item.channel_id as string | undefined) ?? null,
    thread_id: (item.thread_id as string | undefined) ?? null,
    status: item.status === 'closed' ? 'closed' : 'open',
    created_at: Number(item.created_at ?? 0),
    last_activity: Number(item.last_activity ?? item.created_at ?? 0),
    closed_at: item.closed_at === undefined ? null : Number(item.closed_at),
    message_count: Number(item.message_count ?? 0),
    members: [...(members ?? [])].sort(),
  };
}

/** Ids starting with `#` are the store's own items (writer lanes): no client reaches or removes them. */
function checkSessionId(sessionId: string) {
  if (sessionId.startsWith('#') || sessionId === '') throw new ChatRequestError(400, 'bad_session_id', `"${sessionId}" is not a session id: ids starting with # belong to the store`);
}

/**
 * The size DynamoDB counts for a value, from above (a number counts its largest, 21 bytes), and
 * the limits it puts on values: numbers within ±1e126 and above 1e-130 in magnitude, at most 32
 * levels of nesting. A message that passes is never refused by the store.
 */
function itemBytes(value: unknown, where: string, depth = 0): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') {
    const magnitude = Math.abs(value);
    if (magnitude !== 0 && (magnitude >= 1e126 || magnitude < 1e-130)) throw new ChatRequestError(400, 'bad_message', `${where}: ${value} is beyond the numbers DynamoDB stores (magnitude 1e-130 to 1e126)`);
    return 21;
  }
  if (value === null || typeof value === 'boolean' || value === undefined) return 1;
  if (depth >= 32) throw new ChatRequestError(400, 'bad_message', `${where}: nested deeper than the 32 levels DynamoDB stores`);
  let size = 3;
  if (Array.isArray(value)) {
    value.forEach((element, i) => (size += 1 + itemBytes(element, `${where}[${i}]`, depth + 1)));
  } else {
    for (const [key, element] of Object.entries(value as Record<string, unknown>)) size += 1 + Buffer.byteLength(key) + itemBytes(element, `${where}.${key}`, depth + 1);
  }
  return size;
}

/** Thousandths of a millisecond at most: exact in a double at today's epoch, and in DynamoDB. */
function roundTimestamp(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function isConditionFailure(error: unknown): boolean {
  return (error as { name?: string }).name === 'ConditionalCheckFailedException';
}

/** The sort key of a speaker's index item in a session: a small negative number per name. */
function speakerSlot(name: string): number {
  return -(1 + fnv1a(name));
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}


/**
 * Cursors are opaque to clients but plain JSON inside: each is decoded and checked against the
 * shape this store hands out, so a crafted one (`{"ts": 1e400}`, a key of another channel) is a
 * 400, never a failed request to the store.
 */
const positionCursor = z.strictObject({ ts: epochMsSchema });
const channelCursorSchema = z.strictObject({ channel_id: z.string().min(1).max(128), last_activity: epochMsSchema, session_id: sessionIdSchema, timestamp: z.literal(0) });
const activityCursor = z.strictObject({ last_activity: epochMsSchema, session_id: sessionIdSchema });

function encodePosition(timestamp: number): string {
  return encodeKey({ ts: timestamp });
}

function decodePosition(cursor: string): number {
  return decodeCursor(cursor, positionCursor).ts;
}

function channelCursor(cursor: string, channelId: string): Record<string, unknown> {
  const key = decodeCursor(cursor, channelCursorSchema);
  if (key.channel_id !== channelId) throw new ChatRequestError(400, 'bad_cursor', 'cursor is not one this API handed out for this channel');
  return key;
}

function encodeKey(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor<T>(cursor: string, shape: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  const parsed = shape.safeParse(value);
  if (!parsed.success) throw new ChatRequestError(400, 'bad_cursor', 'cursor is not one this API handed out');
  return parsed.data;
}
