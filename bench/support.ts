import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

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
  const shared = /shared at (postgres:\/\/\S+)/.exec(banner)?.[1];
  // The first full sync runs in the background: a benchmark starts once it has finished.
  for (let tries = 0; ; tries++) {
    const status = (await (await fetch(`${url}/api/sync/status`)).json()) as { last_sync: unknown };
    if (status.last_sync) break;
    if (tries > 300) throw new Error('vecr serve did not finish its first sync');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const stop = () =>
    new Promise<void>((resolve) => {
      child.on('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { url, shared, stop };
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
  latencies.sort((a, b) => a - b);
  return { rate: total / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), seconds };
}

export type DriveResult = Awaited<ReturnType<typeof drive>>;
