/**
 * npm run bench:cli [-- --runs R] [-- --count N] [-- --bin PATH]
 *
 * How long `vecr` commands take as whole processes, as a user (or a pre-commit hook, or a
 * container's health check) runs them, next to `node -e 0` measured in the same rounds.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { helpOnRequest, option, scratchServerDatabase, startServe } from './support.js';

const args = process.argv.slice(2);
const text = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? '') : '';
};

const samples = fileURLToPath(new URL('../../storage', import.meta.url));

interface Timed {
  /** Wall time, spawn to exit. */
  ms: number;
  /** CPU time of the process (user + system, from GNU time): what it costs, whatever else the machine runs. */
  cpuMs: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** One whole process, from spawn to exit, under GNU time for its CPU time. */
async function timed(command: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Timed> {
  const usage = path.join(cwd, `.usage-${process.pid}`);
  const result = await new Promise<Omit<Timed, 'cpuMs'>>((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '%U %S', '-o', usage, ...command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: performance.now() - started, code: code ?? 1, stdout, stderr }));
  });
  // GNU time writes "Command exited with non-zero status N" first when it did.
  const [user = 0, system = 0] = (await fs.readFile(usage, 'utf8')).trim().split('\n').at(-1)!.split(' ').map(Number);
  return { ...result, cpuMs: (user + system) * 1000 };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const seconds = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
const range = (values: number[]) => `${seconds(median(values))} (${(Math.min(...values) / 1000).toFixed(3)}–${(Math.max(...values) / 1000).toFixed(3)})`;

/** A command measured against `node -e 0`, or against a time. */
interface Case {
  label: string;
  command: string[];
  env: NodeJS.ProcessEnv;
  target: { ratio: number } | { ms: number };
}

async function writeMemberFiles(root: string, count: number) {
  const half = Math.ceil(count / 2);
  await fs.mkdir(path.join(root, 'human_members'), { recursive: true });
  await fs.mkdir(path.join(root, 'virtual_members'), { recursive: true });
  for (let i = 0; i < half; i++) {
    await fs.writeFile(
      path.join(root, `human_members/h${i}.yml`),
      `name: Human ${i}\nrole: Engineer ${i % 7}\nskills: [TypeScript, PostgreSQL, skill-${i % 13}]\ncontact_email: h${i}@example.com\n`,
    );
  }
  for (let i = 0; i < count - half; i++) {
    await fs.writeFile(
      path.join(root, `virtual_members/v${i}.yml`),
      `name: Virtual ${i}\nrole: Reviewer\nllm_model: claude-sonnet-4-5\nsystem_prompt: |\n  You are AI member ${i}.\nexpertise_areas: [code review, area-${i % 11}]\n`,
    );
  }
}

async function main() {
  helpOnRequest(`Usage: npm run bench:cli [-- --runs R] [-- --count N] [-- --bin PATH]

Times whole \`vecr\` processes (wall, and CPU from GNU time) beside \`node -e 0\`, in alternating rounds (R, default 7; medians
with their range): --help, --version, validate, members count and health on a PostgreSQL server
(health with a vecr serve running, as a container's health check finds it), members count on the
embedded database with no service running, and a full and a no-op sync of N generated files
(default 20000) on the server, the no-op also as the sync itself measured inside the process,
and beside it the floor of any no-op (dist/bench/noopFloor.js: connect, list, stat, compare).
The server: DATABASE_URL (scratch databases are made and dropped); without it, those rows are
left out. --bin measures another build's bin/vecr.js (e.g. the one before a change).
NODE_COMPILE_CACHE in the environment reaches every process measured.`);
  const runs = option('runs', 7);
  const count = option('count', 20_000);
  if (!Number.isInteger(runs) || runs < 5) throw new RangeError(`--runs must be a whole number, at least 5: ${runs}`);
  const bin = text('bin') || fileURLToPath(new URL('../../bin/vecr.js', import.meta.url));
  const server = process.env.DATABASE_URL;
  const node = process.execPath;
  const vecr = (...rest: string[]) => [node, bin, ...rest];
  // Every setting the measured commands read is given here; nothing else of the shell's counts.
  const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(DATABASE_URL|MEMBER_DB_|VECR_|CHATLOG_|PORT$)/.test(name)),
  );

  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'vecr-bench-cli-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    await fs.cp(samples, path.join(work, 'storage'), { recursive: true });
    const files = ['storage/human_members/rin.yml', 'storage/virtual_members/kasen.yml'];
    const embeddedEnv = { ...baseEnv, VECR_DATA_DIR: path.join(work, 'embedded'), VECR_STORAGE: path.join(work, 'storage') };
    const made = await timed(vecr('sync'), embeddedEnv, work);
    if (made.code !== 0) throw new Error(`vecr sync into the embedded database failed:\n${made.stderr}`);

    const cases: Case[] = [
      { label: 'vecr --help', command: vecr('--help'), env: baseEnv, target: { ratio: 2 } },
      { label: 'vecr --version', command: vecr('--version'), env: baseEnv, target: { ratio: 2 } },
      { label: 'vecr validate (2 files)', command: vecr('validate', ...files), env: baseEnv, target: { ratio: 3 } },
    ];
    let syncEnv: NodeJS.ProcessEnv | undefined;
    if (server) {
      const small = await scratchServerDatabase(server, 'cli');
      cleanups.push(small.drop);
      // `vecr serve` on the server's database serves the embedded chat log store: what `vecr
      // health` asks in a container.
      const served = path.join(work, 'served');
      await fs.cp(samples, path.join(served, 'storage'), { recursive: true });
      const service = await startServe(served, { DATABASE_URL: small.url });
      cleanups.push(service.stop);
      const serverEnv = { ...baseEnv, DATABASE_URL: small.url, VECR_DATA_DIR: path.join(served, 'data') };
      cases.push(
        { label: 'vecr members count (server)', command: vecr('members', 'count'), env: serverEnv, target: { ratio: 3 } },
        { label: 'vecr health (server, vecr serve running)', command: vecr('health'), env: serverEnv, target: { ratio: 3 } },
      );
      const big = await scratchServerDatabase(server, 'clisync');
      cleanups.push(big.drop);
      syncEnv = { ...baseEnv, DATABASE_URL: big.url, VECR_STORAGE: path.join(work, 'many') };
      await writeMemberFiles(path.join(work, 'many'), count);
    }
    cases.push({ label: 'vecr members count (embedded, no service)', command: vecr('members', 'count'), env: embeddedEnv, target: { ms: 600 } });

    console.log(
      `bench:cli — ${runs} rounds, ${os.cpus().length} cores, Node ${process.version}${process.env.NODE_COMPILE_CACHE ? ', NODE_COMPILE_CACHE set' : ''}; ${bin}`,
    );
    const baseline: number[] = [];
    const baselineCpu: number[] = [];
    const times = cases.map(() => [] as number[]);
    const cpuTimes = cases.map(() => [] as number[]);
    const failures = cases.map(() => '');
    for (let round = 0; round < runs; round++) {
      const nothing = await timed([node, '-e', '0'], baseEnv, work);
      baseline.push(nothing.ms);
      baselineCpu.push(nothing.cpuMs);
      for (const [i, test] of cases.entries()) {
        const result = await timed(test.command, test.env, work);
        times[i]!.push(result.ms);
        cpuTimes[i]!.push(result.cpuMs);
        if (result.code !== 0) failures[i] = `exit ${result.code}: ${result.stderr.trim().split('\n')[0]}`;
      }
    }
    const base = median(baseline);
    const baseCpu = median(baselineCpu);
    console.log(
      `${'command'.padEnd(44)} ${'wall: median (range), s'.padEnd(26)} ${'÷ node -e 0'.padEnd(12)} ${'CPU, s'.padEnd(8)} ${'÷ node -e 0'.padEnd(12)} target (wall)`,
    );
    console.log(`${'node -e 0'.padEnd(44)} ${range(baseline).padEnd(26)} ${'1.00×'.padEnd(12)} ${(baseCpu / 1000).toFixed(3).padEnd(8)} ${'1.00×'.padEnd(12)}`);
    for (const [i, test] of cases.entries()) {
      const value = median(times[i]!);
      const ratio = value / base;
      const target = test.target;
      const verdict = failures[i]
        ? `FAILED (${failures[i]})`
        : 'ratio' in target
          ? `≤ ${target.ratio}×: ${ratio <= target.ratio ? 'pass' : 'FAIL'}`
          : `< ${seconds(target.ms)}: ${value < target.ms ? 'pass' : 'FAIL'}`;
      const cpu = median(cpuTimes[i]!);
      console.log(
        `${test.label.padEnd(44)} ${range(times[i]!).padEnd(26)} ${`${ratio.toFixed(2)}×`.padEnd(12)} ${(cpu / 1000).toFixed(3).padEnd(8)} ${`${(cpu / baseCpu).toFixed(2)}×`.padEnd(12)} ${verdict}`,
      );
    }

    if (syncEnv) await benchSync(vecr, syncEnv, work, runs, count, server!);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`cleaning up failed: ${(error as Error).message}`));
    await fs.rm(work, { recursive: true, force: true });
  }
}

/**
 * A full sync of `count` files into an empty database, then a no-op sync, each a whole process;
 * the no-op's own report gives the same sync measured inside the process (`durationMs`). Then the
 * floor of a no-op on the same database (`noopFloor.ts`): the least work any no-op must do.
 */
async function benchSync(vecr: (...rest: string[]) => string[], env: NodeJS.ProcessEnv, work: string, runs: number, count: number, server: string) {
  const full: number[] = [];
  const noop: number[] = [];
  const noopCpu: number[] = [];
  const inProcess: number[] = [];
  const floor: number[] = [];
  const floorScript = fileURLToPath(new URL('./noopFloor.js', import.meta.url));
  for (let round = 0; round < runs; round++) {
    const scratch = await scratchServerDatabase(server, `clisync${round}`);
    try {
      const roundEnv = { ...env, DATABASE_URL: scratch.url };
      // The schema is made beforehand: the first sync of a real database finds it made.
      const migrated = await timed(vecr('db', 'migrate'), roundEnv, work);
      if (migrated.code !== 0) throw new Error(`vecr db migrate failed:\n${migrated.stderr}`);
      const first = await timed(vecr('sync', '--json'), roundEnv, work);
      if (first.code !== 0 || (JSON.parse(first.stdout) as { created: number }).created !== count) throw new Error(`the full sync failed:\n${first.stderr}`);
      const again = await timed(vecr('sync', '--json'), roundEnv, work);
      const report = JSON.parse(again.stdout) as { unchanged: number; durationMs: number };
      if (again.code !== 0 || report.unchanged !== count) throw new Error(`the no-op sync failed:\n${again.stderr}`);
      full.push(first.ms);
      noop.push(again.ms);
      noopCpu.push(again.cpuMs);
      inProcess.push(report.durationMs);
      const least = await timed([process.execPath, floorScript, env.VECR_STORAGE!], roundEnv, work);
      if (least.code !== 0) throw new Error(`the floor of a no-op failed: ${least.stdout}${least.stderr}`);
      floor.push(least.ms);
    } finally {
      await scratch.drop();
    }
  }
  const noopShare = median(noop) / median(full);
  const overhead = median(noop) / median(inProcess);
  console.log(`\nvecr sync of ${count} files, PostgreSQL server, ${runs} rounds:`);
  console.log(`${'full sync, whole process'.padEnd(44)} ${range(full)}`);
  console.log(`${'no-op sync, whole process'.padEnd(44)} ${range(noop)}  (CPU ${seconds(median(noopCpu))})`);
  console.log(`${'no-op sync, inside the process (durationMs)'.padEnd(44)} ${range(inProcess)}`);
  console.log(`${'floor of a no-op, whole process (noopFloor)'.padEnd(44)} ${range(floor)}`);
  console.log(`no-op ÷ full, whole processes: ${(noopShare * 100).toFixed(0)}% (target ≤ 20%: ${noopShare <= 0.2 ? 'pass' : 'FAIL'})`);
  console.log(`floor ÷ full, whole processes: ${((median(floor) / median(full)) * 100).toFixed(0)}% (connect, list, stat, compare, nothing else)`);
  console.log(`no-op, whole process ÷ inside it: ${overhead.toFixed(2)}× (target ≤ 1.2×: ${overhead <= 1.2 ? 'pass' : 'FAIL'})`);
}

await main();
