import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { embeddedDatabaseUrl, readPassword } from '../src/db/password.js';

/** Prints the usage and exits when asked with --help or -h: a benchmark takes a while to start. */
export function helpOnRequest(usage: string) {
  const args = process.argv.slice(2);
  if (!args.includes('--help') && !args.includes('-h')) return;
  process.stdout.write(`${usage.trim()}\n`);
  process.exit(0);
}

/** `--name value` from the command line, as a number. */
export function option(name: string, fallback: number): number {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
}

/** A scratch database on a PostgreSQL server, created empty and dropped by `drop`. */
export async function scratchServerDatabase(server: string, label: string) {
  const name = `vecr_bench_${label}_${process.pid}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: server });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

const bin = fileURLToPath(new URL('../../bin/vecr.js', import.meta.url));

/**
 * Starts `vecr serve` in a process of its own on `work/storage` and `work/data`, free ports, no
 * periodic sync and no folder watch, and waits for its banner.
 */
export async function startServe(work: string, env: NodeJS.ProcessEnv = {}) {
  env = {
    ...process.env,
    PORT: '0',
    VECR_PG_PORT: '0',
    VECR_RECONCILE_INTERVAL: '0',
    VECR_WATCH: 'false',
    VECR_DATA_DIR: `${work}/data`,
    VECR_STORAGE: `${work}/storage`,
    LOG_LEVEL: 'warn',
    ...env,
  };
  const child = spawn(process.execPath, [...(process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : []), bin, 'serve'], {
    env,
    stdio: ['ignore', process.env.BENCH_LOG ? 'inherit' : 'ignore', 'pipe'],
  });
  let banner = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      banner += chunk.toString();
      if (/chat log: .*\n/.test(banner)) resolve();
    });
    child.on('exit', () => reject(new Error(`vecr serve exited:\n${banner}`)));
  });
  const url = /listening on (http:\/\/\S+)/.exec(banner)![1]!;
  // The banner masks the embedded database's password: it is read where other vecr commands read it.
  const sharedPort = /shared at postgres:\/\/\S+@127\.0\.0\.1:(\d+)\//.exec(banner)?.[1];
  const shared = sharedPort ? embeddedDatabaseUrl(Number(sharedPort), await readPassword(path.join(env.VECR_DATA_DIR!, 'pgdata'))) : undefined;
  // The first full sync runs in the background: a benchmark starts once it has finished.
  for (let tries = 0; ; tries++) {
    const status = (await (await fetch(`${url}/api/sync/status`)).json()) as { last_sync: unknown };
    if (status.last_sync) break;
    if (tries > 3000) {
      child.kill('SIGTERM');
      throw new Error('vecr serve did not finish its first sync in 5 minutes');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const stop = () =>
    new Promise<void>((resolve) => {
      child.on('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { url, shared, banner, stop };
}

function percentile(sorted: number[], p: number) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `task(i)` for i in [0, total) from `concurrency` workers; rate and latency percentiles. */
export async function drive(total: number, concurrency: number, task: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t = performance.now();
        await task(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return summarize(latencies, seconds);
}

function summarize(latencies: number[], seconds: number) {
  latencies.sort((a, b) => a - b);
  return { rate: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), seconds, latencies };
}

export type DriveResult = ReturnType<typeof summarize>;

/**
 * Measures several contenders (a baseline and what is compared with it) in alternating rounds,
 * `total` calls each, so that the drift of a shared machine falls on all of them alike.
 */
export async function driveAlternating<K extends string>(
  rounds: number,
  total: number,
  concurrency: number,
  tasks: Record<K, (i: number) => Promise<void>>,
): Promise<Record<K, DriveResult>> {
  const runs = Object.keys(tasks).map((name) => ({ name: name as K, latencies: [] as number[], seconds: 0 }));
  for (let round = 0; round < rounds; round++) {
    const share = Math.floor(total / rounds) + (round < total % rounds ? 1 : 0);
    for (const run of runs) {
      const offset = run.latencies.length;
      const result = await drive(share, concurrency, (i) => tasks[run.name](offset + i));
      run.latencies.push(...result.latencies);
      run.seconds += result.seconds;
    }
  }
  return Object.fromEntries(runs.map((run) => [run.name, summarize(run.latencies, run.seconds)])) as Record<K, DriveResult>;
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 256 });

/**
 * One HTTP request over a keep-alive `node:http` connection: the client the AWS SDK itself uses,
 * so that an API call and a raw SDK call are measured with the same kind of client (`fetch` costs
 * this machine about three times as much CPU per request).
 */
export function request(url: string, options: { method?: string; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: options.method ?? 'GET',
        agent: keepAlive,
        headers: options.body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(options.body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
