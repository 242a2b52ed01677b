/**
 * DATABASE_URL=postgres://... npm run bench:replicas [-- --events N --clients C --rounds R]
 *
 * Storage events through one `vecr serve`, and through two on the same PostgreSQL database (as
 * replicas behind a round-robin load balancer are), in alternating rounds so that a noisy machine
 * weighs on both. Each round gets a scratch database and a folder of N member files written after
 * the replicas started (folder watch off: only the events register them); C concurrent clients
 * send single-record PUT events, event i to replica i mod (replicas). Reports events/s, p50/p99
 * latency and the group commit, per round.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { drive, helpOnRequest, option, scratchServerDatabase, startServe } from './support.js';

helpOnRequest(`Usage: DATABASE_URL=postgres://... npm run bench:replicas [-- --events N --clients C --rounds R]

Storage events/s and p50/p99 latency through one vecr serve and through two on one PostgreSQL
database, alternating for R rounds (default 10000 events from 32 clients, 2 rounds).`);
const events = option('events', 10_000);
const clients = option('clients', 32);
const rounds = option('rounds', 2);

function event(i: number) {
  const key = `human_members/h${i}.yml`;
  return JSON.stringify({
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

async function measure(server: string, replicas: number, round: number) {
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'vecr-bench-replicas-'));
  const scratch = await scratchServerDatabase(server, `replicas${replicas}_${round}`);
  try {
    await fs.mkdir(path.join(work, 'storage/human_members'), { recursive: true });
    // One after the other: the second finds the schema migrated.
    const serves: Array<Awaited<ReturnType<typeof startServe>>> = [];
    for (let r = 0; r < replicas; r++) serves.push(await startServe(work, { DATABASE_URL: scratch.url, VECR_DATA_DIR: path.join(work, `data${r}`) }));
    try {
      for (let i = 0; i < events; i++) {
        await fs.writeFile(
          path.join(work, `storage/human_members/h${i}.yml`),
          `name: Human ${i}\nrole: Engineer\nskills: [TypeScript, PostgreSQL]\ncontact_email: h${i}@example.com\n`,
        );
      }
      const result = await drive(events, clients, async (i) => {
        const response = await fetch(`${serves[i % replicas]!.url}/webhook/storage`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: event(i),
        });
        const body = (await response.json()) as { records?: Array<{ outcome: string }> };
        if (response.status !== 200 || body.records?.[0]?.outcome !== 'created') throw new Error(`event ${i}: ${response.status} ${JSON.stringify(body)}`);
      });
      let transactions = 0;
      for (const serve of serves)
        transactions += ((await (await fetch(`${serve.url}/api/sync/status`)).json()) as { events: { transactions: number } }).events.transactions;
      console.log(
        `round ${round}, ${replicas} replica${replicas > 1 ? 's' : ' '}   ${Math.round(result.rate).toString().padStart(6)} events/s   p50 ${result.p50.toFixed(1).padStart(6)} ms   p99 ${result.p99.toFixed(1).padStart(6)} ms   ${(events / transactions).toFixed(1)} events per transaction`,
      );
    } finally {
      for (const serve of serves) await serve.stop();
    }
  } finally {
    await scratch.drop();
    await fs.rm(work, { recursive: true, force: true });
  }
}

async function main() {
  const server = process.env.DATABASE_URL;
  if (!server) throw new Error('DATABASE_URL must name a PostgreSQL server: replicas share a server database');
  console.log(
    `bench:webhook replicas — ${events} PUT events, ${clients} concurrent clients, PostgreSQL server, ${os.cpus().length} cores, Node ${process.version}, load average ${os.loadavg()[0]!.toFixed(1)}`,
  );
  for (let round = 1; round <= rounds; round++) {
    await measure(server, 1, round);
    await measure(server, 2, round);
  }
}

await main();
