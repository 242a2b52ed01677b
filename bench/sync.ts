/**
 * npm run bench:sync [-- --count N] [-- --runs R]
 *
 * Full sync, no-op re-sync, rows/s and peak RSS of `vecr sync` on the configured engine
 * (DATABASE_URL → that server, in a scratch database; else PGlite in a scratch folder), next to
 * the same rows loaded by one raw set-based statement in the same run. Each phase runs in a
 * process of its own so that its peak memory is its own.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { migrate } from '../src/db/migrate.js';
import { openPglite } from '../src/db/pglite.js';
import { openPostgres } from '../src/db/postgres.js';
import type { Db } from '../src/db/types.js';
import { folderStorage } from '../src/storage/folder.js';
import { syncStorage } from '../src/sync/reconcile.js';
import { helpOnRequest, option, scratchServerDatabase } from './support.js';

const run = promisify(execFile);
const args = process.argv.slice(2);
const text = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? '') : '';
};

const humanFile = (i: number) =>
  `name: Human ${i}\nrole: Engineer ${i % 7}\nskills: [TypeScript, PostgreSQL, skill-${i % 13}]\nbio: |\n  Member number ${i}.\n  Writes code.\ncontact_email: h${i}@example.com\ngithub_username: human-${i}\n`;
const virtualFile = (i: number) =>
  `name: Virtual ${i}\nrole: Reviewer\nllm_model: claude-sonnet-4-5\nsystem_prompt: |\n  You are AI member ${i}.\n  Be kind and precise.\npersonality_traits: [calm, curious]\nexpertise_areas: [code review, area-${i % 11}]\n`;

const humanRow = (i: number) => ({
  name: `Human ${i}`,
  role: `Engineer ${i % 7}`,
  skills: ['TypeScript', 'PostgreSQL', `skill-${i % 13}`],
  bio: `Member number ${i}.\nWrites code.\n`,
  contact_email: `h${i}@example.com`,
  github_username: `human-${i}`,
  file_uri: `human_members/h${i}.yml`,
});
const virtualRow = (i: number) => ({
  name: `Virtual ${i}`,
  role: 'Reviewer',
  llm_model: 'claude-sonnet-4-5',
  system_prompt: `You are AI member ${i}.\nBe kind and precise.\n`,
  personality_traits: ['calm', 'curious'],
  expertise_areas: ['code review', `area-${i % 11}`],
  file_uri: `virtual_members/v${i}.yml`,
});

/** A scratch database on the configured engine, dropped by `drop`. */
async function scratchDatabase(work: string, label: string): Promise<{ db: Db; drop: () => Promise<void> }> {
  const server = process.env.DATABASE_URL;
  if (!server) {
    const dataDir = path.join(work, `pgdata-${label}`);
    const db = await openPglite(dataDir);
    await migrate(db);
    return {
      db,
      drop: async () => {
        await db.close();
        await fs.rm(dataDir, { recursive: true, force: true });
      },
    };
  }
  const scratch = await scratchServerDatabase(server, label);
  const db = await openPostgres(scratch.url);
  await migrate(db);
  return {
    db,
    drop: async () => {
      await db.close();
      await scratch.drop();
    },
  };
}

const rawSql = {
  human: `INSERT INTO human_members AS m (name, role, skills, bio, contact_email, github_username, file_uri)
    SELECT name, role, skills, bio, contact_email, github_username, file_uri
    FROM jsonb_to_recordset($1::jsonb) AS r(name text, role text, skills text[], bio text, contact_email text, github_username text, file_uri text)
    ON CONFLICT (file_uri) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role, skills = EXCLUDED.skills, bio = EXCLUDED.bio,
      contact_email = EXCLUDED.contact_email, github_username = EXCLUDED.github_username, updated_at = CURRENT_TIMESTAMP`,
  virtual: `INSERT INTO virtual_members AS m (name, role, llm_model, system_prompt, personality_traits, expertise_areas, file_uri)
    SELECT name, role, llm_model, system_prompt, personality_traits, expertise_areas, file_uri
    FROM jsonb_to_recordset($1::jsonb) AS r(name text, role text, llm_model text, system_prompt text, personality_traits text[], expertise_areas text[], file_uri text)
    ON CONFLICT (file_uri) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role, llm_model = EXCLUDED.llm_model,
      system_prompt = EXCLUDED.system_prompt, personality_traits = EXCLUDED.personality_traits, expertise_areas = EXCLUDED.expertise_areas,
      updated_at = CURRENT_TIMESTAMP`,
};

async function phaseRaw(work: string, count: number) {
  const { db, drop } = await scratchDatabase(work, 'raw');
  try {
    const half = Math.ceil(count / 2);
    const humans = JSON.stringify(Array.from({ length: half }, (_, i) => humanRow(i)));
    const virtuals = JSON.stringify(Array.from({ length: count - half }, (_, i) => virtualRow(i)));
    const started = performance.now();
    await db.transaction(async (tx) => {
      await tx.query(rawSql.human, [humans]);
      await tx.query(rawSql.virtual, [virtuals]);
    });
    return { rawMs: performance.now() - started, maxRssMb: process.resourceUsage().maxRSS / 1024 };
  } finally {
    await drop();
  }
}

async function phaseSync(work: string) {
  const { db, drop } = await scratchDatabase(work, 'sync');
  try {
    const storage = folderStorage(path.join(work, 'storage'));
    let started = performance.now();
    const full = await syncStorage(db, storage, { key: 'file_uri', trigger: 'bench' });
    const fullMs = performance.now() - started;
    started = performance.now();
    const noop = await syncStorage(db, storage, { key: 'file_uri', trigger: 'bench' });
    const noopMs = performance.now() - started;
    if (full.created !== full.created + full.invalid || noop.unchanged !== full.created) throw new Error('sync did not do what the benchmark expects');
    return { fullMs, noopMs, created: full.created, maxRssMb: process.resourceUsage().maxRSS / 1024 };
  } finally {
    await drop();
  }
}

async function child(phase: string, work: string, count: number) {
  const { stdout } = await run(process.execPath, [...process.execArgv, process.argv[1]!, '--phase', phase, '--work', work, '--count', String(count)], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const seconds = (ms: number) => (ms / 1000).toFixed(2);
/** The median of a phase's times, with their range when there are several. */
const timeOf = (ms: number[]) =>
  `${seconds(median(ms)).padStart(7)} s ${ms.length > 1 ? `(${seconds(Math.min(...ms))}–${seconds(Math.max(...ms))})` : ''}`.padEnd(23);

async function main() {
  helpOnRequest(`Usage: npm run bench:sync [-- --count N] [-- --runs R]

Full sync, no-op re-sync, rows/s and peak RSS of \`vecr sync\` over N generated member files
(default 20000), next to one raw set-based INSERT of the same rows in the same run.
The raw statement and the sync take turns, R rounds of each (default 3), each phase in a fresh
process; medians are reported, with their range: on a shared machine one run is noise.
Engine: DATABASE_URL → a scratch database on that server; unset → PGlite in a scratch folder.`);
  const count = option('count', 20_000);
  const runs = option('runs', 3);
  const phase = text('phase');
  if (phase) {
    const work = text('work');
    const result = phase === 'raw' ? await phaseRaw(work, count) : await phaseSync(work);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`--runs must be a whole number, at least 1: ${runs}`);

  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'vecr-bench-'));
  try {
    const half = Math.ceil(count / 2);
    await fs.mkdir(path.join(work, 'storage/human_members'), { recursive: true });
    await fs.mkdir(path.join(work, 'storage/virtual_members'), { recursive: true });
    for (let i = 0; i < half; i++) await fs.writeFile(path.join(work, `storage/human_members/h${i}.yml`), humanFile(i));
    for (let i = 0; i < count - half; i++) await fs.writeFile(path.join(work, `storage/virtual_members/v${i}.yml`), virtualFile(i));

    const engine = process.env.DATABASE_URL ? 'PostgreSQL server' : 'PGlite (data folder)';
    console.log(`bench:sync — ${count} member files, ${engine}, ${runs} rounds, ${os.cpus().length} cores, Node ${process.version}`);
    const raws: Array<{ rawMs: number; maxRssMb: number }> = [];
    const syncs: Array<{ fullMs: number; noopMs: number; created: number; maxRssMb: number }> = [];
    for (let round = 0; round < runs; round++) {
      raws.push(await child('raw', work, count));
      syncs.push(await child('sync', work, count));
    }
    const rawMs = raws.map((r) => r.rawMs);
    const fullMs = syncs.map((s) => s.fullMs);
    const noopMs = syncs.map((s) => s.noopMs);
    const rows = [
      ['raw set-based INSERT (baseline)', rawMs, `${Math.round(count / (median(rawMs) / 1000))} rows/s`, Math.max(...raws.map((r) => r.maxRssMb))],
      ['vecr sync, full', fullMs, `${Math.round(syncs[0]!.created / (median(fullMs) / 1000))} rows/s`, Math.max(...syncs.map((s) => s.maxRssMb))],
      ['vecr sync, no-op re-sync', noopMs, '', undefined],
    ] as const;
    for (const [label, ms, rate, rss] of rows) {
      console.log(`${label.padEnd(34)} ${timeOf(ms)} ${rate.padEnd(14)} ${rss ? `peak RSS ${Math.round(rss)} MB` : ''}`);
    }
    const perRound = (values: number[], format: (value: number) => string) => (runs > 1 ? ` (rounds: ${values.map(format).join(', ')})` : '');
    const fullRatios = syncs.map((s, i) => s.fullMs / raws[i]!.rawMs);
    const noopShares = syncs.map((s) => (s.noopMs / s.fullMs) * 100);
    console.log(`full sync / raw statement: ${(median(fullMs) / median(rawMs)).toFixed(2)}× (target ≤ 3×)${perRound(fullRatios, (ratio) => ratio.toFixed(2))}`);
    console.log(
      `no-op re-sync / full sync: ${((median(noopMs) / median(fullMs)) * 100).toFixed(0)}% (target ≤ 20%)${perRound(noopShares, (share) => `${share.toFixed(0)}%`)}`,
    );
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

await main();
