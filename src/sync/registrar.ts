import type { UpsertKey } from '../config.js';
import type { Db, Queryable } from '../db/types.js';
import { defaultLimits, type ParseLimits } from '../members/parse.js';
import type { MemberKind } from '../members/schema.js';
import { type Action, applyChanges, lockRegistry, mayFreeNames, type Outcome } from '../registry/apply.js';
import { fileRecordsFor, filesRefusedForEachOther, filesWaitingForFreeNames } from '../registry/sql/memberFiles.js';
import { type AppliedEvent, appliedEventsFor, recordAppliedEvents } from '../registry/sql/storageEvents.js';
import type { Storage } from '../storage/types.js';
import { compareSequencers } from './events.js';
import { type ReadResult, readFiles } from './readFiles.js';

/** A change to one member file, as a storage event or the folder watcher reports it. */
export interface FileChange {
  key: string;
  kind: MemberKind;
  /** The storage event behind the change; without one there is no order to keep. */
  event?: { name: string; sequencer: string; etag: string | null };
}

export interface ChangeOutcome extends Omit<Outcome, 'action'> {
  action: Action | 'ignored';
  /** Why an event changed nothing. */
  reason?: string;
}

export interface RegistrarOptions {
  key: UpsertKey;
  limits?: ParseLimits;
  /** A repeat of an applied event is a no-op (WEBHOOK_ETAG_CHECK_ENABLED); false applies it again. */
  skipRepeats: boolean;
  /** Most changes written in one transaction. */
  maxBatch?: number;
  onError?: (error: unknown) => void;
}

/** What becomes of a change: applied, or not, as a repeat of the event applied last or older than it. */
type Verdict = 'apply' | 'repeat' | 'stale';

interface Pending {
  changes: FileChange[];
  /** A hand-over of names that cross: its own refusals start no other (no endless retries). */
  crossed: boolean;
  resolve: (outcomes: ChangeOutcome[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Registers changes reported one by one (webhook events, the folder watcher) with group commit:
 * changes submitted while a transaction is being written wait and go together into the next
 * one, so a burst costs a few transactions, not one per event.
 *
 * Whatever an event says, the registrar reads the object as storage has it now: an upsert of a
 * file deleted since is a delete, a delete of a file that exists again is an upsert. With the
 * last applied sequencer per key kept in the database, a repeated event is a no-op and an older
 * one is ignored — unless storage has changed since what the database recorded of the file (see
 * `judge`) — so the database ends equal to the bucket whatever the order of delivery.
 */
export class Registrar {
  private queue: Pending[] = [];
  private draining: Promise<void> | undefined;
  private handingOver: Promise<unknown> | undefined;
  /** Transactions written and changes they carried: the group commit at work. */
  readonly stats = { transactions: 0, changes: 0 };
  private readonly limits: ParseLimits;

  constructor(
    private readonly db: Db,
    private readonly storage: Storage,
    private readonly options: RegistrarOptions,
  ) {
    this.limits = options.limits ?? defaultLimits;
  }

  /** Resolves with one outcome per change, in order, once they are committed. */
  submit(changes: FileChange[]): Promise<ChangeOutcome[]> {
    return this.enqueue(changes, false);
  }

  private enqueue(changes: FileChange[], crossed: boolean): Promise<ChangeOutcome[]> {
    if (changes.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ changes, crossed, resolve, reject });
      this.draining ??= this.drain();
    });
  }

  /** Waits until everything submitted so far is written, hand-overs included. */
  async idle(): Promise<void> {
    while (this.draining || this.handingOver) {
      await this.draining;
      await this.handingOver;
    }
  }

  private async drain() {
    const maxBatch = this.options.maxBatch ?? 1000;
    while (this.queue.length > 0) {
      const group: Pending[] = [];
      let size = 0;
      while (this.queue.length > 0 && (group.length === 0 || size + this.queue[0]!.changes.length <= maxBatch)) {
        const next = this.queue.shift()!;
        group.push(next);
        size += next.changes.length;
      }
      try {
        const outcomes = await this.write(
          group.flatMap((p) => p.changes),
          group.every((p) => p.crossed),
        );
        let offset = 0;
        for (const pending of group) {
          pending.resolve(outcomes.slice(offset, offset + pending.changes.length));
          offset += pending.changes.length;
        }
      } catch (error) {
        if (group.length === 1) {
          group[0]!.reject(error);
          continue;
        }
        // One request's changes must not fail the others': each on its own, once.
        for (const pending of group) await this.write(pending.changes, pending.crossed).then(pending.resolve, pending.reject);
      }
    }
    this.draining = undefined;
  }

  /** One transaction for a group of changes; outcomes in the order of `changes`. */
  private async write(changes: FileChange[], crossed: boolean): Promise<ChangeOutcome[]> {
    // The change that counts for each key: the newest event, or the last one reported.
    const latest = new Map<string, FileChange>();
    for (const change of changes) {
      const previous = latest.get(change.key);
      if (!previous || !isOlder(change, previous)) latest.set(change.key, change);
    }

    // Read before the transaction, to keep it short; whether each event still counts is judged
    // under the lock. (Every file is parsed: the upsert itself tells unchanged content apart.)
    const worth = [...latest.values()];
    const read = await readFiles(this.storage, worth, new Map(), this.limits);

    const { outcomes, verdicts } = await this.db.transaction(async (tx) => {
      await lockRegistry(tx);
      const verdicts = await this.judge(tx, worth, read);
      const fresh = new Set(worth.filter((c) => verdicts.get(c.key) === 'apply').map((c) => c.key));
      const outcomes = await applyChanges(
        tx,
        {
          files: read.files.filter((f) => fresh.has(f.file_uri)),
          touched: read.touched.filter((f) => fresh.has(f.file_uri)),
          deletes: read.vanished.filter((key) => fresh.has(key)),
          passOnFromRefused: true,
        },
        this.options.key,
      );
      const applied: AppliedEvent[] = [...fresh].flatMap((key) => {
        const event = latest.get(key)!.event;
        return event ? [{ file_uri: key, sequencer: event.sequencer, etag: event.etag, event_name: event.name }] : [];
      });
      await recordAppliedEvents(tx, applied);
      return { outcomes, verdicts };
    });

    this.stats.transactions++;
    this.stats.changes += changes.length;
    this.handOver(outcomes, crossed);
    const byKey = new Map(outcomes.map((o) => [o.file_uri, o]));
    const absent = new Set(read.vanished);
    return changes.map((change): ChangeOutcome => {
      const base = { file_uri: change.key, kind: change.kind };
      if (latest.get(change.key) !== change) return { ...base, action: 'ignored', reason: 'superseded by a newer event for the same file' };
      const verdict = verdicts.get(change.key);
      if (verdict === 'repeat') return { ...base, action: 'unchanged', reason: 'this event was already applied' };
      if (verdict === 'stale') return { ...base, action: 'ignored', reason: 'a newer event for this file was already applied' };
      const outcome = byKey.get(change.key);
      if (outcome) return outcome;
      // An event for an object that is not there (sent by hand, or a file already gone): "unchanged" alone puzzles.
      if (absent.has(change.key)) return { ...base, action: 'unchanged', reason: 'the object is not in storage, and no member was registered from it' };
      return { ...base, action: 'unchanged' };
    });
  }

  /**
   * Whether each change is applied; under the lock. An event is a hint of what to read, and its
   * sequencer comes from whoever sent it: one ranked above every later event (an open webhook
   * takes anything, 128 F's included) must not mute them. So an event that its sequencer calls a
   * repeat, or older than the one applied, is still applied when what storage has now differs
   * from what the database recorded of the file — and applying any event registers what storage
   * has now, so older state never overwrites newer.
   */
  private async judge(tx: Queryable, changes: readonly FileChange[], read: ReadResult): Promise<Map<string, Verdict>> {
    const applied = await appliedEventsFor(
      tx,
      changes.filter((c) => c.event).map((c) => c.key),
    );
    const verdicts = new Map(changes.map((c) => [c.key, this.bySequencer(c, applied.get(c.key))]));
    const doubted = changes.filter((c) => verdicts.get(c.key) !== 'apply').map((c) => c.key);
    if (doubted.length === 0) return verdicts;
    const recorded = await fileRecordsFor(tx, doubted);
    // What storage has now: a version per file read; none for a file gone.
    const versionNow = new Map<string, string | null>([
      ...read.files.map((f) => [f.file_uri, f.version] as const),
      ...read.touched.map((f) => [f.file_uri, f.version] as const),
    ]);
    for (const key of doubted) {
      const version = versionNow.get(key);
      const record = recorded.get(key);
      // A file without a version (unreadable) is never taken as unchanged.
      const unchanged = record === undefined ? !versionNow.has(key) : version != null && record.version === version;
      if (!unchanged) verdicts.set(key, 'apply');
    }
    return verdicts;
  }

  private bySequencer(change: FileChange, applied: AppliedEvent | undefined): Verdict {
    if (!change.event || !applied) return 'apply';
    const order = compareSequencers(change.event.sequencer, applied.sequencer);
    if (order < 0) return 'stale';
    if (order === 0) return this.options.skipRepeats ? 'repeat' : 'apply';
    return 'apply';
  }

  /**
   * Files that waited for a name that a delete or a rename just set free are read again, in the
   * next group. So are files refused for each other's names (two files swapping names in two
   * edits: each edit alone was refused), all in one change so that one write sees them together.
   */
  private handOver(outcomes: Outcome[], crossed: boolean) {
    const freed = mayFreeNames(outcomes);
    const refused = !crossed && outcomes.some((o) => o.issues?.some((issue) => issue.code === 'name_conflict'));
    if (!freed && !refused) return;
    const asChanges = (files: Array<{ file_uri: string; kind: MemberKind }>) => files.map((f) => ({ key: f.file_uri, kind: f.kind }));
    const handOver = (async () => {
      if (freed) await this.submit(asChanges(await filesWaitingForFreeNames(this.db)));
      if (refused) await this.enqueue(asChanges(await filesRefusedForEachOther(this.db)), true);
    })()
      .catch((error: unknown) => this.options.onError?.(error))
      .finally(() => {
        if (this.handingOver === handOver) this.handingOver = undefined;
      });
    this.handingOver = handOver;
  }
}

function isOlder(a: FileChange, b: FileChange): boolean {
  if (!a.event || !b.event) return false;
  return compareSequencers(a.event.sequencer, b.event.sequencer) < 0;
}
