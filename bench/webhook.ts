/**
 * npm run bench:webhook [-- --events N --clients C]
 *
 * Starts `vecr serve` (a process of its own) on the configured engine — DATABASE_URL → a scratch
 * database on that server, else the embedded database shared as `vecr serve` shares it — over a
 * folder of N member files, and drives it with single-record PUT events from C concurrent
 * clients. Reports sustained events/s and p50/p99 latency, next to raw single-row
 * `INSERT ... ON CONFLICT` transactions from as many clients against the same database.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { drive, helpOnRequest, option, scratchServerDatabase, startServe } from './support.js';

helpOnRequest(`Usage: npm run bench:webhook [-- --events N --clients C]

Sustained storage events/s and p50/p99 latency of \`vecr serve\`'s webhook (default 10000 events
from 32 clients), next to raw single-row INSERT ... ON CONFLICT transactions from as many clients.
Engine: DATABASE_URL → a scratch database on that server; unset → the embedded database.`);
const events = option('events', 10_000);
const clients = option('clients', 32);

function event(i: number) {
  const key = `human_members/h${i}.yml`;
  return JSON.stringify({
    EventName: 's3:ObjectCreated:Put',
    Key: `vecr-garage-storage/${key}`,
    Records: [
      {
        eventVersion: '2.0',
        eventSource: 'minio:s3',
        eventName: 's3:ObjectCreated:Put',
        s3: { bucket: { name: 'vecr-garage-storage' }, object: { key, sequencer: (1_000_000 + i).toString(16).toUpperCase() } },
      },
    ],
  });
}

async function main() {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'vecr-bench-webhook-'));
  const server = process.env.DATABASE_URL;
  const scratch = server ? await scratchServerDatabase(server, 'webhook') : undefined;
  try {
    await fs.mkdir(path.join(work, 'storage'));
    // No folder watch: the events alone register the files, written after the service started.
    const serve = await startServe(work, { DATABASE_URL: scratch?.url ?? '' });
    try {
      await fs.mkdir(path.join(work, 'storage/human_members'));
      for (let i = 0; i < events; i++) {
        await fs.writeFile(
          path.join(work, `storage/human_members/h${i}.yml`),
          `name: Human ${i}\nrole: Engineer\nskills: [TypeScript, PostgreSQL]\ncontact_email: h${i}@example.com\n`,
        );
      }
      const databaseUrl = scratch?.url ?? serve.shared!;
      const engine = server ? 'PostgreSQL server' : 'PGlite (shared by vecr serve)';
      console.log(`bench:webhook — ${events} PUT events, ${clients} concurrent clients, ${engine}, ${os.cpus().length} cores, Node ${process.version}`);

      // Baseline: raw single-row upsert transactions, as many clients, same database.
      const pool = new pg.Pool({ connectionString: databaseUrl, max: clients });
      await pool.query('CREATE TABLE IF NOT EXISTS bench_raw (file_uri text PRIMARY KEY, name text, n int)');
      const raw = await drive(events, clients, async (i) => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query('INSERT INTO bench_raw VALUES ($1, $2, 1) ON CONFLICT (file_uri) DO UPDATE SET n = bench_raw.n + 1', [`k${i}`, `Human ${i}`]);
          await client.query('COMMIT');
        } finally {
          client.release();
        }
      });
      await pool.query('DROP TABLE bench_raw');
      await pool.end();

      const results = await drive(events, clients, async (i) => {
        const response = await fetch(`${serve.url}/webhook/storage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: event(i) });
        const body = (await response.json()) as { records?: Array<{ outcome: string }> };
        if (response.status !== 200 || body.records?.[0]?.outcome !== 'created') throw new Error(`event ${i}: ${response.status} ${JSON.stringify(body)}`);
      });
      const status = (await (await fetch(`${serve.url}/api/sync/status`)).json()) as { events: { transactions: number; changes: number } };

      const line = (label: string, r: typeof raw, unit: string) =>
        console.log(
          `${label.padEnd(44)} ${Math.round(r.rate).toString().padStart(6)} ${unit}   p50 ${r.p50.toFixed(1).padStart(6)} ms   p99 ${r.p99.toFixed(1).padStart(6)} ms`,
        );
      line('raw INSERT ... ON CONFLICT transactions', raw, 'tx/s    ');
      line('webhook PUT events (each fetched, parsed, upserted)', results, 'events/s');
      console.log(
        `group commit: ${status.events.changes} events in ${status.events.transactions} transactions (${(status.events.changes / status.events.transactions).toFixed(1)} per transaction)`,
      );
      console.log(`target: ≥ 1000 events/s with p99 < 100 ms — ${results.rate >= 1000 && results.p99 < 100 ? 'met' : 'not met'}`);
    } finally {
      await serve.stop();
    }
  } finally {
    await scratch?.drop();
    await fs.rm(work, { recursive: true, force: true });
  }
}

await main();
