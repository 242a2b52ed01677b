import { createHash } from 'node:crypto';
import type { UpsertKey } from '../config.js';
import type { Db, Queryable } from '../db/types.js';
import type { MemberIssue } from '../members/issues.js';
import { defaultLimits, parseMemberFile, type ParseLimits } from '../members/parse.js';
import { memberKindOf } from '../members/paths.js';
import type { MemberKind } from '../members/schema.js';
import { applyChanges, type Outcome, type ReadFile } from '../registry/apply.js';
import { loadFileRecords } from '../registry/sql/memberFiles.js';
import { recordSyncRun } from '../registry/sql/syncRuns.js';
import { StorageError, type Storage, type StoredFile } from '../storage/types.js';

export interface SyncOptions {
  key: UpsertKey;
  limits?: ParseLimits;
  /** Work out and report every change, then roll it all back. */
  dryRun?: boolean;
  /** Delete members whose files are gone (default true). */
  delete?: boolean;
  /** Files per transaction. */
  batchSize?: number;
  /** What started the sync, recorded with its summary: `cli`, `start`, `interval`, ... */
  trigger?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface SyncSummary {
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
  invalid: number;
}

export interface SyncReport extends SyncSummary {
  dryRun: boolean;
  /** Every file that changed or failed; unchanged files are only counted. */
  changes: Outcome[];
  issues: MemberIssue[];
  durationMs: number;
}

const maxUriLength = 512;

class DryRunRollback extends Error {}

/**
 * Reconciles the database with a full listing of storage: the healing path that catches every
 * change, whatever was missed. Unchanged files are skipped without being read (same fingerprint)
 * or without being parsed (same content hash). Each batch is one transaction.
 */
export async function syncStorage(db: Db, storage: Storage, options: SyncOptions): Promise<SyncReport> {
  const started = new Date();
  const limits = options.limits ?? defaultLimits;
  const batchSize = options.batchSize ?? 1000;
  const report: SyncReport = { dryRun: !!options.dryRun, created: 0, updated: 0, unchanged: 0, deleted: 0, invalid: 0, changes: [], issues: [], durationMs: 0 };

  const known = await loadFileRecords(db);
  const toRead: Array<StoredFile & { kind: MemberKind }> = [];
  const seen = new Set<string>();
  for await (const file of storage.list()) {
    const kind = memberKindOf(file.key);
    if (!kind) continue;
    if (file.key.length > maxUriLength) {
      count(report, [{ file_uri: file.key, kind, action: 'invalid', issues: [{ file: file.key, code: 'uri_too_long', message: `the path is longer than ${maxUriLength} characters (file_uri is VARCHAR(512))` }] }]);
      continue;
    }
    seen.add(file.key);
    const record = known.get(file.key);
    // Invalid files are always read again: a name conflict may have been settled meanwhile.
    if (record?.status === 'registered' && record.version === file.version) report.unchanged++;
    else toRead.push({ ...file, kind });
  }
  const deletes = options.delete === false ? [] : [...known.keys()].filter((uri) => !seen.has(uri));
  const total = toRead.length + deletes.length;
  options.onProgress?.(0, total);

  const prepare = async (batch: typeof toRead) => {
    const touched: Array<{ file_uri: string; version: string }> = [];
    const vanished: string[] = [];
    const fresh: Array<{ file: (typeof toRead)[number]; bytes: Uint8Array; hash: string }> = [];
    await forEachLimit(batch, 32, async (file) => {
      const bytes = await storage.read(file.key, limits.maxBytes).catch((error: unknown) => {
        // Deleted since it was listed: gone, as the next listing would say.
        if (error instanceof StorageError && error.notFound) return undefined;
        throw error;
      });
      if (!bytes) {
        vanished.push(file.key);
        return;
      }
      const hash = createHash('sha256').update(bytes).digest('hex');
      const record = known.get(file.key);
      if (record?.status === 'registered' && record.content_hash === hash) touched.push({ file_uri: file.key, version: file.version });
      else fresh.push({ file, bytes, hash });
    });
    const files: ReadFile[] = fresh.map(({ file, bytes, hash }) => ({
      file_uri: file.key,
      kind: file.kind,
      version: file.version,
      content_hash: hash,
      ...parseMemberFile(file.key, file.kind, bytes, limits),
    }));
    return { files, touched, deletes: vanished };
  };

  const run = async (inTransaction: <T>(fn: (tx: Queryable) => Promise<T>) => Promise<T>) => {
    let done = 0;
    if (deletes.length > 0) {
      count(report, await inTransaction((tx) => applyChanges(tx, { deletes }, options.key)));
      done += deletes.length;
      options.onProgress?.(done, total);
    }
    for (let start = 0; start < toRead.length; start += batchSize) {
      const { files, touched, deletes: vanished } = await prepare(toRead.slice(start, start + batchSize));
      count(report, await inTransaction((tx) => applyChanges(tx, { files, touched, deletes: vanished }, options.key)));
      report.unchanged += touched.length;
      done += files.length + touched.length + vanished.length;
      options.onProgress?.(done, total);
    }
  };

  if (options.dryRun) {
    await db
      .transaction(async (tx) => {
        await run((fn) => fn(tx));
        throw new DryRunRollback();
      })
      .catch((error) => {
        if (!(error instanceof DryRunRollback)) throw error;
      });
  } else {
    await run((fn) => db.transaction(fn));
    await recordSyncRun(db, options.trigger ?? 'cli', started, report);
  }
  report.durationMs = Date.now() - started.getTime();
  return report;
}

function count(report: SyncReport, outcomes: Outcome[]) {
  for (const outcome of outcomes) {
    report[outcome.action]++;
    if (outcome.action !== 'unchanged') report.changes.push(outcome);
    if (outcome.issues) report.issues.push(...outcome.issues);
  }
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let index = 0;
  const worker = async () => {
    while (index < items.length) await fn(items[index++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
