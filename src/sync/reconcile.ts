import type { UpsertKey } from '../config.js';
import type { Db, Queryable } from '../db/types.js';
import type { MemberIssue } from '../members/issues.js';
import { defaultLimits, type ParseLimits } from '../members/limits.js';
import { memberKindOf, unusableKey } from '../members/paths.js';
import type { Outcome } from '../registry/apply.js';
import { anyFileRecorded, databaseNow } from '../registry/sql/memberFiles.js';
import { markRowsVerified, rowsWrittenOutside } from '../registry/sql/registryState.js';
import { recordSyncRun } from '../registry/sql/syncRuns.js';
import { compareKeys, type Storage, StorageError } from '../storage/types.js';
import { type InTransaction, type Listed, SyncPipeline } from './syncPipeline.js';

export { maxReportedChanges } from './syncPipeline.js';

export interface SyncOptions {
  key: UpsertKey;
  limits?: ParseLimits;
  /** Work out and report every change, then roll it all back. */
  dryRun?: boolean;
  /** Delete members whose files are gone (default true). */
  delete?: boolean;
  /**
   * Let a storage that lists no member files at all delete every registered member. Off by
   * default: that is far likelier an unmounted folder or a wrong bucket than a team emptied.
   */
  allowEmpty?: boolean;
  /** Files per transaction. */
  batchSize?: number;
  /** What started the sync, recorded with its summary: `cli`, `start`, `interval`, ... */
  trigger?: string;
  /** Files handled so far, of files listed so far. */
  onProgress?: (done: number, listed: number) => void;
  /** Stops the run between batches; batches written stay written. */
  signal?: AbortSignal;
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
  /** Members created, updated or deleted: the first `maxReportedChanges` of them; the rest are only counted. */
  changes: Outcome[];
  /** Every problem of every invalid file. */
  issues: MemberIssue[];
  durationMs: number;
}

/** Rounds of retrying files refused for a name, at the end of a run, while names pass on. */
const maxNameRounds = 4;

class DryRunRollback extends Error {}

/**
 * Reconciles the database with a full listing of storage: the healing path that catches every
 * change, whatever was missed. Walks the listing and the file records side by side, both in key
 * order, a batch at a time, so memory does not grow with the number of files listed:
 *
 * - a file whose fingerprint (inode, size and mtime, or ETag) matches its record is not read;
 * - a file whose content hash matches is not parsed;
 * - each batch is one transaction, written while the next batch is read and parsed;
 * - a record between two listed keys that the listing did not show is a file gone: once the
 *   whole listing has been walked, in order, the members of files gone are deleted (memory
 *   grows with the files gone, not with the files listed);
 * - then files refused for a name held by a file now gone are read once more, so the name
 *   passes on in the same run.
 */
export async function syncStorage(db: Db, storage: Storage, options: SyncOptions): Promise<SyncReport> {
  const started = new Date();
  const report: SyncReport = { dryRun: !!options.dryRun, created: 0, updated: 0, unchanged: 0, deleted: 0, invalid: 0, changes: [], issues: [], durationMs: 0 };
  // Member rows deleted or edited by hand: every file is read again, and the rows put right.
  const outside = await rowsWrittenOutside(db);
  const run = (q: Queryable, inTransaction: InTransaction) => reconcile(q, inTransaction, storage, options, report, outside.written);
  if (options.dryRun) {
    // One transaction for the whole run, rolled back: later batches see earlier ones' effects.
    await db
      .transaction(async (tx) => {
        await run(tx, (fn) => fn(tx));
        throw new DryRunRollback();
      })
      .catch((error) => {
        if (!(error instanceof DryRunRollback)) throw error;
      });
  } else {
    await run(db, (fn) => db.transaction(fn));
    if (outside.written) await markRowsVerified(db, outside.now);
    await recordSyncRun(db, options.trigger ?? 'cli', started, report);
  }
  report.durationMs = Date.now() - started.getTime();
  return report;
}

async function reconcile(q: Queryable, inTransaction: InTransaction, storage: Storage, options: SyncOptions, report: SyncReport, verifyAll: boolean) {
  const batchSize = options.batchSize ?? 2000;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a whole number of files, at least 1: ${batchSize}`);
  // Files are read as of the listing: one gone since it was listed is a delete.
  const listing = storage.list();
  // Where files are recorded, most listed are likely registered: their versions are worth asking first.
  const versionsFirst = await anyFileRecorded(q);
  const pipeline = new SyncPipeline({
    q,
    inTransaction,
    storage,
    readMany: listing.readMany,
    key: options.key,
    limits: options.limits ?? defaultLimits,
    deletes: options.delete !== false,
    verifyAll,
    versionsFirst,
    since: await databaseNow(q),
    recordsPage: batchSize + 1,
    tally: report,
    signal: options.signal,
    onProgress: options.onProgress,
  });

  try {
    let batch: Listed[] = [];
    let previous: string | undefined;
    for await (const page of listing) {
      for (const file of page) {
        const kind = memberKindOf(file.key);
        if (!kind) continue;
        pipeline.listed++;
        const unusable = unusableKey(file.key);
        if (unusable) {
          pipeline.count([{ file_uri: file.key, kind, action: 'invalid', issues: [{ file: file.key, code: 'unusable_path', message: unusable }] }]);
          pipeline.done++;
          continue;
        }
        if (previous !== undefined && compareKeys(previous, file.key) >= 0) {
          // Out of order, the walk beside member_files would take files for gone: stop here.
          throw new StorageError(
            `the listing of ${storage.description} is not in key order: ${JSON.stringify(file.key)} after ${JSON.stringify(previous)}`,
            'unavailable',
          );
        }
        previous = file.key;
        batch.push({ key: file.key, kind, version: file.version });
        if (batch.length >= batchSize) {
          await pipeline.push(batch, file.key);
          batch = [];
        }
      }
    }
    options.signal?.throwIfAborted();
    // The last batch covers the rest: every record after the last file listed is a file gone.
    await pipeline.push(batch, null);
    await pipeline.finish();
    options.signal?.throwIfAborted();
    const { gone } = pipeline;
    if (pipeline.listed === 0 && gone.length > 0 && !options.allowEmpty) {
      listing.refuse();
      throw new StorageError(
        `${storage.description} lists no member files, while ${gone.length} are registered: nothing was deleted. Is it mounted, and the right one? If it really is empty now, sync once with --allow-empty`,
        'unavailable',
      );
    }
    listing.accept();
    for (let start = 0; start < gone.length; start += batchSize) await pipeline.write({ deletes: gone.slice(start, start + batchSize) }, 0);
    await pipeline.finish();

    // Files refused in this run for a name another file held get another turn, all in one batch:
    // a name passes on in this run when its holder's file is gone or renamed (in a later batch),
    // or when the holder's file was refused in turn for wanting the refused file's name (a swap
    // between files of different batches, which no batch saw whole). Again while names pass on.
    for (let round = 0; round < maxNameRounds; round++) {
      const refused = pipeline.refusedForName.size;
      // A lone refusal with nothing changed since has no way to pass.
      if (refused === 0 || (refused === 1 && !pipeline.namesMayBeFree)) return;
      const changedBefore = report.created + report.updated;
      await pipeline.retry(await databaseNow(q));
      if (report.created + report.updated === changedBefore) return;
    }
  } finally {
    // Never leave a batch being looked up, read or written behind when stopping early (abort,
    // storage failure): a dry run's transaction ends with this function.
    await pipeline.settle();
  }
}
