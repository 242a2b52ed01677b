import type { UpsertKey } from '../config.js';
import type { Db, Queryable } from '../db/types.js';
import type { MemberIssue } from '../members/issues.js';
import { defaultLimits, type ParseLimits } from '../members/parse.js';
import { memberKindOf, unusableKey } from '../members/paths.js';
import { applyChanges, mayFreeNames, type ChangeSet, type Outcome } from '../registry/apply.js';
import { databaseNow, fileRecordsBetween, fileRecordsFor, type RecordSeen } from '../registry/sql/memberFiles.js';
import { markRowsVerified, rowsWrittenOutside } from '../registry/sql/registryState.js';
import { recordSyncRun } from '../registry/sql/syncRuns.js';
import { compareKeys, StorageError, type Storage } from '../storage/types.js';
import { readFiles, type FileToRead } from './readFiles.js';

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

/** Changes listed one by one in a report; beyond that they are only counted (memory stays flat). */
export const maxReportedChanges = 1000;

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

type InTransaction = <T>(fn: (tx: Queryable) => Promise<T>) => Promise<T>;

/** A file as listed: a version when the listing tells it (an ETag), else none until asked. */
type Listed = FileToRead & { version?: string | undefined };

async function reconcile(q: Queryable, inTransaction: InTransaction, storage: Storage, options: SyncOptions, report: SyncReport, verifyAll: boolean) {
  const limits = options.limits ?? defaultLimits;
  const batchSize = options.batchSize ?? 2000;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a whole number of files, at least 1: ${batchSize}`);
  // Files whose records the walk found between listed keys: deleted once the whole listing has
  // been walked in order (a listing that breaks off, or turns out of order, deletes nothing).
  const gone: string[] = [];
  let namesMayBeFree = false;
  let listed = 0;
  let done = 0;
  // Events applied while this run lists and reads are newer than what it read: they stand.
  let since = await databaseNow(q);
  // Files are read as of the listing: one gone since it was listed is a delete.
  const listing = storage.list();
  const reader = { description: storage.description, readMany: listing.readMany };

  // One batch is written while the next is read: `writing` is the write in flight.
  let writing: Promise<void> = Promise.resolve();
  const write = async (changes: ChangeSet, handled: number) => {
    await writing;
    // A batch of unchanged files has nothing to write: no transaction for it.
    const nothing = !changes.files?.length && !changes.touched?.length && !changes.deletes?.length;
    const applied = nothing ? Promise.resolve([]) : inTransaction((tx) => applyChanges(tx, { ...changes, unchangedSince: since }, options.key));
    writing = applied.then((outcomes) => {
      namesMayBeFree ||= mayFreeNames(outcomes);
      count(report, outcomes);
      done += handled;
      options.onProgress?.(done, listed);
    });
    // Failures surface at the next `await writing`; until then the rejection is held, not lost.
    writing.catch(() => {});
  };

  const handle = async (batch: Listed[], known: Promise<Known>, force = false, counted = true) => {
    // Awaited before anything else: a run that stops leaves no look-up behind.
    const { records, gone: goneHere, registeredHashes } = await known;
    options.signal?.throwIfAborted();
    if (options.delete !== false) gone.push(...goneHere);
    const toRead = force ? batch : batch.filter((f) => !isUnchanged(f, records.get(f.key)));
    report.unchanged += batch.length - toRead.length;
    const { files, touched, vanished } = await readFiles(reader, toRead, registeredHashes, limits);
    report.unchanged += touched.length;
    // A file gone between listing and reading, a read found gone: a delete, unless deletes are off.
    await write({ files, touched, deletes: options.delete === false ? [] : vanished }, counted ? batch.length : 0);
  };

  // The listing and member_files are walked side by side, both in key order: a batch's records
  // are those in the stretch of keys the batch covers (a page one larger than a batch takes a
  // full batch's in one query), and a record there that the listing did not show is a file
  // gone. The listing goes on while batches are handled, in order, one after the other: up to
  // `lookAhead` batches are listed and looked up (records, then versions) before their turn,
  // so that the database and the storage are each kept busy.
  const lookAhead = 2;
  let handling: Promise<void> = Promise.resolve();
  const inFlight: Array<{ known: Promise<unknown>; handled: Promise<void> }> = [];
  let coveredUpTo: string | null = null;
  let recordsFound: Promise<unknown> = Promise.resolve();
  const handleNext = async (batch: Listed[], upTo: string | null) => {
    const after = coveredUpTo;
    coveredUpTo = upTo;
    // One records query at a time, in batch order: the storage is then asked for a batch's
    // versions before the next batch's, and the batch due first is ready first.
    const found = recordsFound.then(() => knownBetween(q, after, upTo, batch, batchSize + 1, verifyAll));
    recordsFound = found.catch(() => {});
    const known = found.then((records) => askVersionsAndHashes(q, storage, batch, records));
    handling = handling.then(() => handle(batch, known));
    // Failures surface where they are awaited; until then they are held, not lost.
    known.catch(() => {});
    handling.catch(() => {});
    inFlight.push({ known, handled: handling });
    while (inFlight.length > lookAhead) await inFlight.shift()!.handled;
  };

  try {
    let batch: Listed[] = [];
    let previous: string | undefined;
    for await (const page of listing) {
      for (const file of page) {
        const kind = memberKindOf(file.key);
        if (!kind) continue;
        listed++;
        const unusable = unusableKey(file.key);
        if (unusable) {
          count(report, [{ file_uri: file.key, kind, action: 'invalid', issues: [{ file: file.key, code: 'unusable_path', message: unusable }] }]);
          done++;
          continue;
        }
        if (previous !== undefined && compareKeys(previous, file.key) >= 0) {
          // Out of order, the walk beside member_files would take files for gone: stop here.
          throw new StorageError(`the listing of ${storage.description} is not in key order: ${JSON.stringify(file.key)} after ${JSON.stringify(previous)}`, 'unavailable');
        }
        previous = file.key;
        batch.push({ key: file.key, kind, version: file.version });
        if (batch.length >= batchSize) {
          await handleNext(batch, file.key);
          batch = [];
        }
      }
    }
    options.signal?.throwIfAborted();
    // The last batch covers the rest: every record after the last file listed is a file gone.
    await handleNext(batch, null);
    await handling;
    options.signal?.throwIfAborted();
    if (listed === 0 && gone.length > 0 && !options.allowEmpty) {
      listing.refuse();
      throw new StorageError(
        `${storage.description} lists no member files, while ${gone.length} are registered: nothing was deleted. Is it mounted, and the right one? If it really is empty now, sync once with --allow-empty`,
        'unavailable',
      );
    }
    listing.accept();
    for (let start = 0; start < gone.length; start += batchSize) await write({ deletes: gone.slice(start, start + batchSize) }, 0);
    await writing;

    // Files refused in this run for a name another file held get another turn, all in one batch:
    // a name passes on in this run when its holder's file is gone or renamed (in a later batch),
    // or when the holder's file was refused in turn for wanting the refused file's name (a swap
    // between files of different batches, which no batch saw whole). Again while names pass on.
    for (let round = 0; round < maxNameRounds; round++) {
      const refused = new Set(report.issues.filter((issue) => issue.code === 'name_conflict').map((issue) => issue.file));
      // A lone refusal with nothing changed since has no way to pass.
      if (refused.size === 0 || (refused.size === 1 && !namesMayBeFree)) return;
      namesMayBeFree = false;
      since = await databaseNow(q);
      report.invalid -= refused.size;
      report.issues = report.issues.filter((issue) => !refused.has(issue.file));
      const retried = [...refused].map((key) => ({ key, kind: memberKindOf(key)! }));
      const changedBefore = report.created + report.updated;
      // Refused files are recorded invalid: read and parsed again whatever their records say.
      await handle(retried, Promise.resolve({ records: new Map(), gone: [], registeredHashes: new Map() }), true, false);
      await writing;
      if (report.created + report.updated === changedBefore) return;
    }
  } finally {
    // Never leave a batch being looked up, read or written behind when stopping early (abort,
    // storage failure): a dry run's transaction ends with this function.
    for (const { known } of inFlight) await known.catch(() => {});
    await handling.catch(() => {});
    await writing.catch(() => {});
  }
}

/** What member_files knows of a batch. */
interface Known {
  /** The records of its files. */
  records: Map<string, RecordSeen>;
  /** Files recorded between its keys that it does not list: gone from storage. */
  gone: string[];
  /** Registered files that will be read, and the content hash their bytes had. */
  registeredHashes: Map<string, string>;
}

/**
 * A registered file whose version is the one recorded: unchanged, not read. Invalid files are
 * always read again: a name conflict may have been settled meanwhile.
 */
const isUnchanged = (file: Listed, record: RecordSeen | undefined) =>
  record?.status === 'registered' && file.version !== undefined && record.version === file.version;

/**
 * What a batch needs before it is read, besides its records: the versions of its registered
 * files, and the content hashes of those whose version moved (a touched file whose bytes still
 * hash the same is not parsed again).
 */
async function askVersionsAndHashes(q: Queryable, storage: Storage, batch: Listed[], { records, gone }: Omit<Known, 'registeredHashes'>): Promise<Known> {
  await askVersions(storage, batch, records);
  const moved = batch.filter((f) => {
    const record = records.get(f.key);
    return record?.status === 'registered' && !isUnchanged(f, record);
  }).map((f) => f.key);
  const registeredHashes = new Map<string, string>();
  if (moved.length > 0) {
    for (const [key, record] of await fileRecordsFor(q, moved)) {
      if (record.status === 'registered' && record.content_hash) registeredHashes.set(key, record.content_hash);
    }
  }
  return { records, gone, registeredHashes };
}

/**
 * A listing without versions (a folder): only files registered before need theirs, to be
 * skipped unread when unchanged; any other file is read, which tells its version anyway.
 */
async function askVersions(storage: Storage, batch: readonly Listed[], records: ReadonlyMap<string, RecordSeen>) {
  const unversioned = batch.filter((f) => f.version === undefined && records.get(f.key)?.status === 'registered');
  if (unversioned.length === 0) return;
  const versions = await storage.versionsOf(unversioned.map((f) => f.key));
  for (const f of unversioned) f.version = versions.get(f.key);
}

/**
 * The records in (`after`, `upTo`], a page at a time, split into the batch's files and files
 * gone. With `verifyAll`, no registered file counts as such: every one is read again.
 */
async function knownBetween(q: Queryable, after: string | null, upTo: string | null, batch: readonly Listed[], pageSize: number, verifyAll: boolean) {
  const listedKeys = new Set(batch.map((f) => f.key));
  const known = { records: new Map<string, RecordSeen>(), gone: [] as string[] };
  for (let from = after; ; ) {
    const page = await fileRecordsBetween(q, from, upTo, pageSize);
    for (const record of page) {
      if (!listedKeys.has(record.file_uri)) known.gone.push(record.file_uri);
      else known.records.set(record.file_uri, verifyAll && record.status === 'registered' ? { ...record, status: 'invalid' } : record);
    }
    if (page.length < pageSize) return known;
    from = page.at(-1)!.file_uri;
  }
}

function count(report: SyncReport, outcomes: Outcome[]) {
  for (const outcome of outcomes) {
    report[outcome.action]++;
    const changed = outcome.action === 'created' || outcome.action === 'updated' || outcome.action === 'deleted';
    if (changed && report.changes.length < maxReportedChanges) report.changes.push(outcome);
    if (outcome.issues) report.issues.push(...outcome.issues);
  }
}
