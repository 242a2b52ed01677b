import { ChatRequestError } from './errors.js';
import type { ChatSession } from './schema.js';
import type { TableAccess } from './sdk.js';

/**
 * One table, `ChatLogs` (D12): partition key `session_id` (S), sort key `timestamp` (N).
 * A session's partition holds, by sort key:
 *   > 0   its messages, one item each (epoch ms, up to three decimals: see lanes.ts);
 *   = 0   its header: channel, status, created_at, last_activity, message_count, members;
 *   < 0   small index items: one per speaker (for listing sessions by member) and one per
 *         Discord message_id (so that a repost stores nothing new).
 * Two sparse indexes: `by_channel` (channel_id, last_activity) holds headers only, since only
 * they carry last_activity; `by_member` (member_name, session_id) holds the speaker items.
 * Session ids starting with `#` are the store's own items (writer lanes).
 */
export function tableDefinition(table: string) {
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

/** Creates the table (and its indexes) when missing; turns TTL on when configured. */
export async function ensureTable(access: TableAccess, ttlDays: number | undefined): Promise<{ created: boolean; ttl: 'enabled' | 'off' | 'unsupported' }> {
  const { sdk, raw, table, call } = access;
  let created = false;
  try {
    const described = await call(() => raw.send(new sdk.DescribeTableCommand({ TableName: table })));
    await addMissingIndexes(access, new Set((described.Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName)));
  } catch (error) {
    if (!(error instanceof ChatRequestError && error.kind === 'no_table')) throw error;
    await call(() => raw.send(new sdk.CreateTableCommand(tableDefinition(table))));
    await sdk.waitUntilTableExists({ client: raw, maxWaitTime: 120 }, { TableName: table });
    created = true;
  }
  if (ttlDays === undefined) return { created, ttl: 'off' };
  try {
    await raw.send(new sdk.UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { Enabled: true, AttributeName: 'expires_at' } }));
    return { created, ttl: 'enabled' };
  } catch (error) {
    const name = (error as { name?: string }).name ?? '';
    // Already on, or an emulator that does not implement TTL (the attribute is written anyway).
    if (/already enabled/i.test((error as Error).message)) return { created, ttl: 'enabled' };
    if (name === 'UnknownOperationException' || name === 'UnrecognizedClientException') return { created, ttl: 'unsupported' };
    throw access.translate(error);
  }
}

/** A table made by other tools (D12 names no index) gets the two indexes listing needs. */
async function addMissingIndexes({ sdk, raw, table, call }: TableAccess, existing: Set<string | undefined>) {
  const definition = tableDefinition(table);
  for (const index of definition.GlobalSecondaryIndexes) {
    if (existing.has(index.IndexName)) continue;
    await call(() =>
      raw.send(
        new sdk.UpdateTableCommand({
          TableName: table,
          AttributeDefinitions: definition.AttributeDefinitions,
          GlobalSecondaryIndexUpdates: [{ Create: index }],
        }),
      ),
    );
    await sdk.waitUntilTableExists({ client: raw, maxWaitTime: 300 }, { TableName: table });
  }
}

/** The key of a session's header item. */
export const headerKey = (sessionId: string) => ({ session_id: sessionId, timestamp: 0 });

/** The key of the item claiming a Discord message_id in a session. */
export const messageIdKey = (sessionId: string, messageId: string) => ({ session_id: sessionId, timestamp: -(2 ** 32 + fnv1a(messageId)) });

/** The sort key of a speaker's index item in a session: a small negative number per name. */
export function speakerSlot(name: string): number {
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

/** When an item written now expires (TTL, epoch seconds), if the store keeps items for `ttlDays`. */
export function expiresAt(ttlDays: number | undefined): number | undefined {
  return ttlDays === undefined ? undefined : Math.floor(Date.now() / 1000) + ttlDays * 86_400;
}

/** A header item as the API shows a session. */
export function toSession(item: Record<string, unknown>): ChatSession {
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
