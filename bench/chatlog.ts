/**
 * npm run bench:chatlog [-- --messages N --appends N --reads N --clients C --rounds R]
 *
 * Starts `vecr serve` (its own process) with the chat log store as configured —
 * CHATLOG_DYNAMODB_ENDPOINT, or the embedded DynamoDB-compatible server by default — fills the
 * table with N messages (default 200,000) in 1,000 sessions, then measures, against the same
 * endpoint in the same run:
 *   - messages appended per second: POST /api/chat/sessions/ID/messages beside raw PutItem;
 *   - reading the latest 50 messages of a session: GET .../messages?order=desc&limit=50 beside
 *     a raw Query, p50 and p99.
 * Raw and API calls alternate in R rounds (default 4), so that a noisy machine weighs on both alike.
 * The API is called with node:http, the HTTP client the SDK uses for the raw calls.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BatchWriteItemCommand, DynamoDBClient, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { readCredentials } from '../src/chatlog/credentials.js';
import { type DriveResult, drive, driveAlternating, helpOnRequest, option, request, startServe } from './support.js';

helpOnRequest(`Usage: npm run bench:chatlog [-- --messages N --appends N --reads N --clients C --rounds R]

Chat log appends/s and latest-50 reads (p50/p99) through \`vecr serve\`'s API, next to raw PutItem
and Query against the same store (defaults: 200000 messages, 2000 appends, 1000 reads,
16 clients, 4 alternating rounds). Store: CHATLOG_DYNAMODB_ENDPOINT, else the embedded one.`);
const total = option('messages', 200_000);
const appends = option('appends', 2_000);
const reads = option('reads', 1_000);
const clients = option('clients', 16);
const rounds = option('rounds', 4);
const sessions = 1000;
const table = process.env.CHATLOG_TABLE || 'ChatLogs';

const content = (i: number) => `Message ${i}: the registry keeps the member database in step with the files. `.repeat(2);

async function main() {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'vecr-bench-chatlog-'));
  await fs.mkdir(path.join(work, 'storage'));
  const serve = await startServe(work);
  try {
    // The same endpoint the service uses: the configured one, or the one it published.
    const endpoint =
      process.env.CHATLOG_DYNAMODB_ENDPOINT || `http://127.0.0.1:${JSON.parse(await fs.readFile(path.join(work, 'data', 'chatlogs.lock'), 'utf8')).port}`;
    // The embedded store takes only the access key kept beside its folder.
    const credentials = process.env.CHATLOG_DYNAMODB_ENDPOINT
      ? { accessKeyId: 'local', secretAccessKey: 'local' }
      : await readCredentials(path.join(work, 'data', 'chatlogs'));
    const client = new DynamoDBClient({ endpoint, region: process.env.AWS_REGION || 'us-east-1', credentials });
    console.log(
      `bench:chatlog — ${total} messages in ${sessions} sessions, ${endpoint}, ${clients} concurrent clients, ${os.cpus().length} cores, Node ${process.version}`,
    );

    const started = performance.now();
    const base = 1_700_000_000_000;
    const item = (session: number, i: number) => ({
      session_id: { S: `bench-${session}` },
      timestamp: { N: String(base + i) },
      speaker_name: { S: i % 2 ? 'Rin' : '華扇' },
      speaker_type: { S: i % 2 ? 'human' : 'virtual' },
      role: { S: i % 2 ? 'user' : 'assistant' },
      content: { S: content(i) },
      source: { S: 'api' },
    });
    await drive(Math.ceil(total / 25), 4, async (batch) => {
      let requests = Array.from({ length: Math.min(25, total - batch * 25) }, (_, k) => {
        const i = batch * 25 + k;
        return { PutRequest: { Item: item(i % sessions, i) } };
      });
      while (requests.length > 0) {
        const result = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests } }));
        requests = (result.UnprocessedItems?.[table] as typeof requests | undefined) ?? [];
      }
    });
    console.log(`filled in ${((performance.now() - started) / 1000).toFixed(0)} s`);

    // Appends: 50 active conversations, as a busy Discord server would have.
    const appended = await driveAlternating(rounds, appends, clients, {
      raw: async (i) => {
        await client.send(
          new PutItemCommand({
            TableName: table,
            Item: { ...item(i % 50, 0), session_id: { S: `raw-${i % 50}` }, timestamp: { N: String(Date.now() + i / 1000) } },
            ConditionExpression: 'attribute_not_exists(session_id)',
          }),
        );
      },
      api: async (i) => {
        const response = await request(`${serve.url}/api/chat/sessions/api-${i % 50}/messages`, {
          method: 'POST',
          body: JSON.stringify({ speaker_name: 'Rin', speaker_type: 'human', role: 'user', content: content(i), source: 'api' }),
        });
        if (response.status !== 201) throw new Error(`append ${i}: ${response.status} ${response.body}`);
      },
    });

    const read = await driveAlternating(rounds, reads, 1, {
      raw: async (i) => {
        await client.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'session_id = :s AND #ts > :zero',
            ExpressionAttributeNames: { '#ts': 'timestamp' },
            ExpressionAttributeValues: { ':s': { S: `bench-${(i * 7) % sessions}` }, ':zero': { N: '0' } },
            ScanIndexForward: false,
            Limit: 50,
          }),
        );
      },
      api: async (i) => {
        const response = await request(`${serve.url}/api/chat/sessions/bench-${(i * 7) % sessions}/messages?order=desc&limit=50`);
        const body = JSON.parse(response.body) as { messages: unknown[] };
        if (body.messages.length !== Math.min(50, Math.floor(total / sessions))) throw new Error(`read ${i}: ${body.messages.length} messages`);
      },
    });

    const line = (label: string, r: DriveResult, unit: string) =>
      console.log(
        `${label.padEnd(40)} ${Math.round(r.rate).toString().padStart(6)} ${unit}   p50 ${r.p50.toFixed(1).padStart(6)} ms   p99 ${r.p99.toFixed(1).padStart(6)} ms`,
      );
    line('raw PutItem (conditional)', appended.raw, 'msg/s  ');
    line('API append (POST, one message)', appended.api, 'msg/s  ');
    line('raw Query, latest 50', read.raw, 'reads/s');
    line('API read, latest 50 (GET)', read.api, 'reads/s');
    const appendCost = appended.raw.rate / appended.api.rate - 1;
    const readCost = read.api.p50 / read.raw.p50 - 1;
    console.log(`API over raw: append +${Math.round(appendCost * 100)}% per message, read +${Math.round(readCost * 100)}% at p50 (target: at most +50% each)`);
  } finally {
    await serve.stop();
    await fs.rm(work, { recursive: true, force: true });
  }
}

await main();
