import type { UpsertKey } from '../config.js';
import type { Queryable } from '../db/types.js';
import type { MemberIssue } from '../members/issues.js';
import { type MemberKind, memberKinds, tableOf } from '../members/kinds.js';
import { memberKindOf } from '../members/paths.js';
import type { Member } from '../members/schema.js';
import { type ClaimDecision, type RejectedClaim, resolveNameClaims } from './resolveNames.js';
import { type FileRecord, filesWrittenSince, forgetFiles, recordFiles, touchFiles } from './sql/memberFiles.js';
import { adoptRows, deleteMembersOfFiles, findNameHolders, parkNames } from './sql/memberRows.js';
import { type HumanFile, upsertHumanMembers } from './sql/upsertHumanMembers.js';
import { upsertVirtualMembers, type VirtualFile } from './sql/upsertVirtualMembers.js';

/** A member file as read from storage: its fingerprint and either its member or its problems. */
export type ReadFile = {
  file_uri: string;
  kind: MemberKind;
  version: string | null;
  content_hash: string | null;
} & ({ ok: true; value: Member } | { ok: false; issues: MemberIssue[] });

export interface ChangeSet {
  /**
   * When the files were listed (a database timestamp): a file another writer registered since
   * then is left as that writer left it — this change set was read earlier and may be older.
   */
  unchangedSince?: string;
  /** Files read and parsed. */
  files?: readonly ReadFile[];
  /** Files whose bytes are unchanged although their fingerprint moved. */
  touched?: ReadonlyArray<{ file_uri: string; version: string }>;
  /** Files gone from storage. */
  deletes?: readonly string[];
  /**
   * Whether a name passes on from a holder outside this change set whose file was refused for
   * wanting another name, as its record says (`resolveNameClaims`). Change sources that take
   * files a few at a time (events, the watcher) set it: nothing else would pass such a name on.
   * A full sync leaves it unset: it reads every refused file again and retries the refused files
   * together at its end, deciding from what they say then; meanwhile a holder it has not reached
   * yet may still get the name it wants in the same run, renamed in place (same id).
   */
  passOnFromRefused?: boolean;
}

export type Action = 'created' | 'updated' | 'unchanged' | 'deleted' | 'invalid';

export interface Outcome {
  file_uri: string;
  kind: MemberKind;
  action: Action;
  name?: string;
  issues?: MemberIssue[];
  /** Under the name key, a member whose file was moved within a sync: the file it came from. */
  moved_from?: string;
}

/**
 * The one way members get into and out of the database: the sync, and every other change
 * source, end here. Runs in the caller's transaction, so a batch lands whole or not at all.
 * Deletes come first, so that a name freed by a deleted file passes to its claimant at once.
 */
export async function applyChanges(tx: Queryable, given: ChangeSet, key: UpsertKey): Promise<Outcome[]> {
  await lockRegistry(tx);
  const { changes, skipped } = await withoutNewerWrites(tx, given);
  // Gathered a list at a time, each made by `map`: a loop over a batch's files in this function's
  // own body would have the engine compile all of this function (tens of milliseconds a sync),
  // for something that runs once per batch; a callback is small to compile.
  const outcomes: Outcome[][] = [skipped];
  const records: FileRecord[][] = [];
  const deletes = changes.deletes ?? [];
  for (const kind of memberKinds) {
    const deleted = await deleteMembersOfFiles(
      tx,
      tableOf[kind],
      deletes.filter((uri) => memberKindOf(uri) === kind),
      key,
    );
    outcomes.push(deleted.map((row) => ({ file_uri: row.file_uri, kind, action: 'deleted', name: row.name })));
  }
  await forgetFiles(tx, deletes);

  const files = latestPerFile(changes.files ?? []);
  for (const kind of memberKinds) {
    const valid = files.filter((f): f is ReadFile & { ok: true } => f.ok && f.kind === kind);
    if (valid.length === 0) continue;
    const byUri = new Map(valid.map((f) => [f.file_uri, f]));
    const table = tableOf[kind];
    const claims = valid.map((f) => ({ file_uri: f.file_uri, name: f.value.member.name }));
    const holders = await findNameHolders(
      tx,
      table,
      claims.map((c) => c.name),
      claims.map((c) => c.file_uri),
    );
    const { accepted, rejected, displaced } = resolveNameClaims(claims, holders, changes.passOnFromRefused ?? false);

    const refusals = rejected.map((claim) => refusal(claim, kind, byUri.get(claim.file_uri)!));
    outcomes.push(refusals.map((r) => r.outcome));
    records.push(refusals.map((r) => r.record));

    // Rows that go: those of files refused for wanting another name, whose names other files
    // take; and the own row of a file that takes over an older tool's row (the file now
    // describes the adopted member).
    const leaving = accepted.filter((c) => c.adopts && c.renames).map((c) => c.file_uri);
    await deleteMembersOfFiles(tx, table, [...displaced, ...leaving], key);
    await adoptRows(
      tx,
      table,
      accepted.filter((c) => c.adopts),
    );
    const renamed = accepted.filter((c) => c.renames && !c.adopts).map((c) => c.file_uri);
    // Under the name key a member is its name: the old name's member is deleted, and said so (a
    // sync pairs a delete with the file that takes the same name back, as a move: SyncPipeline).
    if (key === 'file_uri') await parkNames(tx, table, renamed);
    else
      outcomes.push(
        (await deleteMembersOfFiles(tx, table, renamed, key)).map((row) => ({ file_uri: row.file_uri, kind, action: 'deleted' as const, name: row.name })),
      );

    // The accepted files are recorded as registered by the upsert itself, in the same statement.
    const toWrite = accepted.map((c) => {
      const file = byUri.get(c.file_uri)!;
      return { member: file.value.member, file_uri: c.file_uri, version: file.version, content_hash: file.content_hash };
    });
    const written =
      kind === 'human' ? await upsertHumanMembers(tx, toWrite as HumanFile[], key) : await upsertVirtualMembers(tx, toWrite as VirtualFile[], key);
    const created = new Map(written.map((w) => [w.file_uri, w.created]));
    outcomes.push(accepted.map((claim) => acceptedOutcome(claim, kind, created.get(claim.file_uri))));
  }

  const invalid = files.filter((f): f is ReadFile & { ok: false } => !f.ok);
  outcomes.push(invalid.map((file) => ({ file_uri: file.file_uri, kind: file.kind, action: 'invalid', issues: file.issues })));
  records.push(invalid.map((file) => ({ ...fingerprint(file), status: 'invalid', member_name: null, errors: file.issues })));
  await recordFiles(tx, records.flat());
  await touchFiles(tx, changes.touched ?? []);
  return outcomes.flat();
}

/** A file refused for a name another file holds: its outcome, and its record. */
function refusal(claim: RejectedClaim, kind: MemberKind, file: ReadFile): { outcome: Outcome; record: FileRecord } {
  const issue: MemberIssue = {
    file: claim.file_uri,
    field: 'name',
    code: 'name_conflict',
    message: `"${claim.name}" is already the name of the member in ${claim.heldBy}`,
    hint: `rename one of the two; this file is registered once ${claim.heldBy} no longer claims the name`,
  };
  return {
    outcome: { file_uri: claim.file_uri, kind, action: 'invalid', name: claim.name, issues: [issue] },
    record: { ...fingerprint(file), status: 'invalid', member_name: claim.name, errors: [issue] },
  };
}

/**
 * What became of an accepted file: `created` tells whether the upsert created its row, and is
 * undefined when the row was left as it was (an adopted row is still an update: it gained a file).
 */
function acceptedOutcome(claim: ClaimDecision, kind: MemberKind, created: boolean | undefined): Outcome {
  const action: Action = created === undefined ? (claim.adopts ? 'updated' : 'unchanged') : created ? 'created' : 'updated';
  return { file_uri: claim.file_uri, kind, action, name: claim.name };
}

/** Drops what another writer has registered since `unchangedSince`: theirs is the newer read. */
async function withoutNewerWrites(tx: Queryable, changes: ChangeSet): Promise<{ changes: ChangeSet; skipped: Outcome[] }> {
  if (!changes.unchangedSince) return { changes, skipped: [] };
  const uris = [...(changes.files ?? []).map((f) => f.file_uri), ...(changes.touched ?? []).map((f) => f.file_uri), ...(changes.deletes ?? [])];
  const newer = await filesWrittenSince(tx, uris, changes.unchangedSince);
  if (newer.size === 0) return { changes, skipped: [] };
  const skipped = [...newer].flatMap((uri) => {
    const kind = memberKindOf(uri);
    return kind ? [{ file_uri: uri, kind, action: 'unchanged' as const }] : [];
  });
  return {
    changes: {
      files: (changes.files ?? []).filter((f) => !newer.has(f.file_uri)),
      touched: (changes.touched ?? []).filter((f) => !newer.has(f.file_uri)),
      deletes: (changes.deletes ?? []).filter((uri) => !newer.has(uri)),
      passOnFromRefused: changes.passOnFromRefused,
    },
    skipped,
  };
}

const lockedTransactions = new WeakSet<Queryable>();

/**
 * Writers take turns: one registry transaction at a time across every process sharing the
 * database, so that name claims are judged against settled state. Held until commit; taken
 * once per transaction.
 *
 * In the same statement, for the rest of the transaction: no sequential scans where an index
 * serves. The registry's statements look up a batch's keys (`= ANY (ARRAY(...))`); guessing a
 * short list, the planner would scan a table of a few thousand rows without statistics (a first
 * sync) and compare every row with every key — 30–50 ms for 2,000 keys against 2,000 rows,
 * against 3–4 ms probing the index key by key, which also stays flat on large tables.
 */
export async function lockRegistry(tx: Queryable) {
  if (lockedTransactions.has(tx)) return;
  await tx.query(
    "SELECT pg_advisory_xact_lock(hashtext('vecr_registry')), set_config('enable_seqscan', 'off', true), set_config('vecr.writer', 'registry', true)",
  );
  lockedTransactions.add(tx);
}

/** Whether these outcomes may have set a name free (a member deleted, or renamed). */
export function mayFreeNames(outcomes: readonly Outcome[]): boolean {
  return outcomes.some((o) => o.action === 'deleted' || o.action === 'updated');
}

function fingerprint(file: ReadFile) {
  return { file_uri: file.file_uri, kind: file.kind, version: file.version, content_hash: file.content_hash };
}

/** A file listed twice in one batch (two events for it) counts once, as its last reading. */
function latestPerFile(files: readonly ReadFile[]): ReadFile[] {
  return [...new Map(files.map((f) => [f.file_uri, f])).values()];
}
