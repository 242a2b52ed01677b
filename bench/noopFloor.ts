/**
 * node dist/bench/noopFloor.js FOLDER   (DATABASE_URL in the environment)
 *
 * The least a no-op sync of a folder must do, and nothing more: connect, list the folder, tell
 * every file's version (one stat, the product's own `versionOf`), and have the database compare
 * the versions with its records (the query a sync sends, `fileRecordsBetween`), a batch of 2,000
 * at a time, each batch's query in flight while the next batch is stat'ed. No CLI, no migration
 * check, no pipeline, no run recorded. `bench:cli` runs it as a whole process beside `vecr sync`:
 * where this floor is, against the full sync, no no-op can go below.
 *
 * Prints `{ "listed": N, "unchanged": N }`; it exits 1 unless every file listed was found
 * unchanged, so that a floor that skipped work cannot pass for one.
 */
import fs from 'node:fs';
import pg from 'pg';
import type { Queryable } from '../src/db/types.js';
import { fileRecordsBetween } from '../src/registry/sql/memberFiles.js';
import { folderFiles } from '../src/storage/folderFiles.js';
import { compareKeys } from '../src/storage/types.js';

const batchSize = 2000;

/** Every file below `dir`, as keys under `prefix`, in key order (folders as `name/`). */
function listed(dir: string, prefix: string): string[] {
  const entries = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() || entry.isDirectory())
    .map((entry) => ({ entry, order: entry.isDirectory() ? `${entry.name}/` : entry.name }))
    .sort((a, b) => compareKeys(a.order, b.order));
  return entries.flatMap(({ entry }) => {
    const key = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? listed(`${dir}/${entry.name}`, key) : [key];
  });
}

const folder = process.argv[2];
if (!folder || !process.env.DATABASE_URL) throw new Error('usage: DATABASE_URL=... node dist/bench/noopFloor.js FOLDER');
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
const db: Queryable = {
  query: async (sql, params) => client.query(sql, params as unknown[]) as never,
  exec: async (sql) => void (await client.query(sql)),
};

const files = folderFiles(folder);
const keys = listed(files.base, '');
// One query at a time on the connection; the event loop gets a turn between batches, so that the
// next query goes out as soon as the one before is answered.
let unchanged = Promise.resolve(0);
for (let start = 0; start < keys.length; start += batchSize) {
  const batch = keys.slice(start, start + batchSize);
  const versions = batch.map((key) => [key, files.versionOf(key) ?? ''] as const);
  const after = start === 0 ? null : keys[start - 1]!;
  const upTo = start + batchSize >= keys.length ? null : batch.at(-1)!;
  unchanged = unchanged.then(async (sum) => sum + (await fileRecordsBetween(db, after, upTo, batchSize + 1, versions)).unchanged.length);
  await new Promise(setImmediate);
}
const total = await unchanged;
await client.end();
process.stdout.write(`${JSON.stringify({ listed: keys.length, unchanged: total })}\n`);
if (total !== keys.length) process.exitCode = 1;
