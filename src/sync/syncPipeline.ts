import type { UpsertKey } from '../config.js';
import type { Queryable } from '../db/types.js';
import type { MemberIssue } from '../members/issues.js';
import type { ParseLimits } from '../members/parse.js';
import { memberKindOf } from '../members/paths.js';
import { applyChanges, type ChangeSet, mayFreeNames, type Outcome } from '../registry/apply.js';
import { fileRecordsBetween, fileRecordsFor, type RecordSeen } from '../registry/sql/memberFiles.js';
import type { ReadMany, Storage } from '../storage/types.js';
import { type FileToRead, readFiles } from './readFiles.js';

/** What a run counts and reports; the pipeline adds each outcome as its batch is written. */
export interface SyncTally {
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
  invalid: number;
  /** Members created, updated or deleted: the first `maxReportedChanges` of them; the rest are only counted. */
  changes: Outcome[];
  /** Every problem of every invalid file. */
  issues: MemberIssue[];
}

/** Changes listed one by one in a report; beyond that they are only counted (memory stays flat). */
export const maxReportedChanges = 1000;

/** A file as listed: a version when the listing tells it (an ETag), else none until asked. */
export type Listed = FileToRead & { version?: string | undefined };

export type InTransaction = <T>(fn: (tx: Queryable) => Promise<T>) => Promise<T>;

export interface PipelineParts {
  /** Where records are looked up. */
  q: Queryable;
  /** Where batches are written, each in a transaction of its own (a dry run: all in one). */
  inTransaction: InTransaction;
  /** Versions of listed files that the listing did not tell. */
  storage: Pick<Storage, 'description' | 'versionsOf'>;
  /** Reads as of the listing (`Listing.readMany`). */
  readMany: ReadMany;
  key: UpsertKey;
  limits: ParseLimits;
  /** Delete members whose files are gone. */
  deletes: boolean;
  /** Member rows were written outside: no registered file counts as such, every one is read again. */
  verifyAll: boolean;
  /**
   * Ask the versions the listing did not tell before the records are looked up, so that the
   * database tells the files unchanged: when most files listed are likely registered.
   */
  versionsFirst: boolean;
  /** Events applied after this instant (`databaseNow`) are newer than what the run read: they stand. */
  since: string;
  /** Records looked up per query: one more than a batch, so that a batch's come in one. */
  recordsPage: number;
  tally: SyncTally;
  signal?: AbortSignal | undefined;
  onProgress?: ((done: number, listed: number) => void) | undefined;
}

/**
 * The look-ahead pipeline of a full sync. Batches of the listing, in key order, go through four
 * stages — look up (the records in the stretch of keys the batch covers), ask (versions the
 * listing did not tell, content hashes of files whose version moved), read (and parse), write
 * (one transaction) — so that the database and the storage are each kept busy. With
 * `versionsFirst`, versions are asked first, of every file, and the database compares them:
 * a file unchanged then costs one stat and no row decoded.
 *
 * - up to `lookAhead` batches are looked up and asked about before their turn to be read;
 * - one records query at a time, in batch order: the batch due first is ready first, and the
 *   storage is asked about a batch's versions before the next batch's;
 * - batches are read one after the other, in order; one batch is written while the next is read.
 *
 * Its state, all of it here:
 * - `coveredUpTo`: the last key covered by a batch pushed; the next batch's records start after it;
 * - `recordsFound`: the records query last started (the next waits for it);
 * - `inFlight`: batches pushed and not yet written, oldest first, each with its look-up and its
 *   handling (read, then write started);
 * - `handling`: the chain of those handlings, in batch order;
 * - `writing`: the write in flight; its failure surfaces at the next write or at `finish`;
 * - `gone`: files recorded between listed keys that the listing did not show, to be deleted once
 *   the whole listing has been walked (a listing that breaks off deletes nothing);
 * - `refusedForName`: files refused in this run for a name another file holds — each may get
 *   another turn (`retry`) once names have passed on;
 * - `namesMayBeFree`: whether a write since the last `retry` may have set a name free;
 * - `listed`, `done`: files listed so far, and handled so far (progress).
 *
 * A failure anywhere (storage, database, abort) surfaces at the next `push`, `finish` or write;
 * `settle` then waits for whatever is still running, so that nothing is left behind.
 */
export class SyncPipeline {
  /** Batches looked up ahead of the one being read. */
  static readonly lookAhead = 2;

  private coveredUpTo: string | null = null;
  private recordsFound: Promise<unknown> = Promise.resolve();
  private readonly inFlight: Array<{ known: Promise<unknown>; handled: Promise<void> }> = [];
  private handling: Promise<void> = Promise.resolve();
  private writing: Promise<void> = Promise.resolve();
  readonly gone: string[] = [];
  readonly refusedForName = new Set<string>();
  namesMayBeFree = false;
  listed = 0;
  done = 0;
  /** Under the name key, the members deleted so far in this run, by kind and name: see `count`. */
  private readonly deletedByName = new Map<string, Outcome>();

  constructor(private readonly parts: PipelineParts) {}

  /**
   * A batch of listed files, covering the keys after the last batch's up to `upTo` (null: all the
   * rest, for the last batch). Returns once the batches ahead of it number `lookAhead` or fewer.
   */
  async push(batch: Listed[], upTo: string | null): Promise<void> {
    const { q, storage, verifyAll, recordsPage, versionsFirst } = this.parts;
    const after = this.coveredUpTo;
    this.coveredUpTo = upTo;
    // Asked at once, while earlier batches are looked up; failures surface through `found`.
    const versions = versionsFirst ? askVersions(storage, batch, () => true) : Promise.resolve();
    versions.catch(() => {});
    const found = this.recordsFound.then(async () => {
      await versions;
      return knownBetween(q, after, upTo, batch, recordsPage, verifyAll);
    });
    this.recordsFound = found.catch(() => {});
    const known = found.then((records) => askVersionsAndHashes(q, storage, batch, records, !versionsFirst));
    this.handling = this.handling.then(() => this.handle(batch, known));
    // Failures surface where they are awaited; until then they are held, not lost.
    known.catch(() => {});
    this.handling.catch(() => {});
    this.inFlight.push({ known, handled: this.handling });
    while (this.inFlight.length > SyncPipeline.lookAhead) await this.inFlight.shift()!.handled;
  }

  /**
   * The files refused for a name, read and written again whatever their records say (they are
   * recorded invalid), as one batch: taken out of the tally first, they are counted anew.
   */
  async retry(since: string): Promise<void> {
    const refused = [...this.refusedForName];
    this.refusedForName.clear();
    this.namesMayBeFree = false;
    this.parts.since = since;
    const { tally } = this.parts;
    const retried = new Set(refused);
    tally.invalid -= refused.length;
    tally.issues = tally.issues.filter((issue) => !retried.has(issue.file));
    await this.handle(
      refused.map((key) => ({ key, kind: memberKindOf(key)! })),
      Promise.resolve({ records: new Map(), gone: [], registeredHashes: new Map() }),
      { force: true, counted: false },
    );
    await this.writing;
  }

  /** Every batch pushed is read and written (the deletes of files gone are the caller's: `write`). */
  async finish(): Promise<void> {
    await this.handling;
    await this.writing;
  }

  /** Waits for whatever is still running, failed or not: after a failure, nothing is left behind. */
  async settle(): Promise<void> {
    for (const { known } of this.inFlight) await known.catch(() => {});
    await this.handling.catch(() => {});
    await this.writing.catch(() => {});
  }

  /**
   * Outcomes counted in the tally, refusals for a name remembered (see `retry`). Under the name
   * key, a file moved (x.yml to y.yml, the same name) is a delete of x.yml's member, then y.yml's
   * file taking the name and, with it, the member's row (the same id): counted and reported as the
   * one update it is, with `moved_from`, not as a member deleted.
   */
  count(outcomes: Outcome[]): void {
    const { tally } = this.parts;
    for (let outcome of outcomes) {
      const departed = this.departedAs(outcome);
      if (departed) {
        tally.deleted--;
        const reported = tally.changes.indexOf(departed);
        if (reported >= 0) tally.changes.splice(reported, 1);
        outcome = { ...outcome, moved_from: departed.file_uri };
      } else if (outcome.action === 'deleted' && this.parts.key === 'name' && outcome.name !== undefined) {
        this.deletedByName.set(`${outcome.kind}:${outcome.name}`, outcome);
      }
      tally[outcome.action]++;
      const changed = outcome.action === 'created' || outcome.action === 'updated' || outcome.action === 'deleted';
      if (changed && tally.changes.length < maxReportedChanges) tally.changes.push(outcome);
      if (outcome.issues) {
        tally.issues.push(...outcome.issues);
        if (outcome.issues.some((issue) => issue.code === 'name_conflict')) this.refusedForName.add(outcome.file_uri);
      }
    }
  }

  /** The delete of this run whose member `outcome`, an update under the name key, took over from another file. */
  private departedAs(outcome: Outcome): Outcome | undefined {
    if (this.parts.key !== 'name' || outcome.action !== 'updated' || outcome.name === undefined) return undefined;
    const member = `${outcome.kind}:${outcome.name}`;
    const departed = this.deletedByName.get(member);
    if (!departed || departed.file_uri === outcome.file_uri) return undefined;
    this.deletedByName.delete(member);
    return departed;
  }

  /** Writes a change set once the write before it is done; `handled` files count as done. */
  async write(changes: ChangeSet, handled: number): Promise<void> {
    await this.writing;
    const { inTransaction, key, since } = this.parts;
    // A batch of unchanged files has nothing to write: no transaction for it.
    const nothing = !changes.files?.length && !changes.touched?.length && !changes.deletes?.length;
    const applied = nothing ? Promise.resolve([]) : inTransaction((tx) => applyChanges(tx, { ...changes, unchangedSince: since }, key));
    this.writing = applied.then((outcomes) => {
      this.namesMayBeFree ||= mayFreeNames(outcomes);
      this.count(outcomes);
      this.done += handled;
      this.parts.onProgress?.(this.done, this.listed);
    });
    // Failures surface at the next `await this.writing`; until then the rejection is held, not lost.
    this.writing.catch(() => {});
  }

  private async handle(batch: Listed[], known: Promise<Known>, { force = false, counted = true } = {}): Promise<void> {
    const { readMany, storage, limits, deletes, tally, signal } = this.parts;
    // Awaited before anything else: a run that stops leaves no look-up behind.
    const { records, gone, registeredHashes } = await known;
    signal?.throwIfAborted();
    if (deletes) this.gone.push(...gone);
    const toRead = force ? batch : batch.filter((f) => !isUnchanged(f, records.get(f.key)));
    tally.unchanged += batch.length - toRead.length;
    const { files, touched, vanished } = await readFiles({ description: storage.description, readMany }, toRead, registeredHashes, limits);
    tally.unchanged += touched.length;
    // A file gone between listing and reading, a read found gone: a delete, unless deletes are off.
    await this.write({ files, touched, deletes: deletes ? vanished : [] }, counted ? batch.length : 0);
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
async function askVersionsAndHashes(
  q: Queryable,
  storage: Pick<Storage, 'versionsOf'>,
  batch: Listed[],
  { records, gone }: Omit<Known, 'registeredHashes'>,
  askVersionsOfRegistered: boolean,
): Promise<Known> {
  if (askVersionsOfRegistered) await askVersions(storage, batch, (f) => records.get(f.key)?.status === 'registered');
  const moved = batch
    .filter((f) => {
      const record = records.get(f.key);
      return record?.status === 'registered' && !isUnchanged(f, record);
    })
    .map((f) => f.key);
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
 * skipped unread when unchanged; any other file is read, which tells its version anyway. Asked
 * before the records are known (`versionsFirst`), of every file listed.
 */
async function askVersions(storage: Pick<Storage, 'versionsOf'>, batch: readonly Listed[], wanted: (file: Listed) => boolean) {
  const unversioned = batch.filter((f) => f.version === undefined && wanted(f));
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
  // With `verifyAll`, no file is compared: none may count as unchanged.
  const versioned = verifyAll ? [] : batch.filter((f) => f.version !== undefined);
  const listed = versioned.map((f) => [f.key, f.version!] as const);
  const known = { records: new Map<string, RecordSeen>(), gone: [] as string[] };
  for (let from = after; ; ) {
    const page = await fileRecordsBetween(q, from, upTo, pageSize, listed);
    for (const at of page.unchanged) known.records.set(versioned[at]!.key, { version: versioned[at]!.version!, status: 'registered' });
    for (const record of page.records) {
      if (!listedKeys.has(record.file_uri)) known.gone.push(record.file_uri);
      else known.records.set(record.file_uri, verifyAll && record.status === 'registered' ? { ...record, status: 'invalid' } : record);
    }
    if (page.covered < pageSize) return known;
    from = page.last;
  }
}
