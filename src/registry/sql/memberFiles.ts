import type { Queryable } from '../../db/types.js';
import { type MemberIssue, storableIssue } from '../../members/issues.js';
import type { MemberKind } from '../../members/schema.js';

export interface FileRecord {
  file_uri: string;
  kind: MemberKind;
  version: string | null;
  content_hash: string | null;
  status: 'registered' | 'invalid';
  member_name: string | null;
  errors: MemberIssue[];
}

/** What a sync needs of a file's record to skip it: unread when the version matches, unparsed when the hash does. */
export type KnownFile = Pick<FileRecord, 'version' | 'content_hash' | 'status'>;

/** A record as a sync's walk sees it: enough to tell whether the file must be read. */
export type RecordSeen = Pick<FileRecord, 'version' | 'status'>;

/**
 * What the sync last saw of these files. Thousands of rows come back as one JSON value: decoding
 * it is far cheaper than decoding as many protocol rows (a third of a no-op sync on PGlite).
 */
export async function fileRecordsFor(db: Queryable, fileUris: readonly string[]): Promise<Map<string, KnownFile>> {
  const { rows } = await db.query<{ records: Array<[string, string | null, string | null, FileRecord['status']]> | null }>(
    `SELECT json_agg(json_build_array(file_uri, version, content_hash, status)) AS records FROM member_files
     WHERE file_uri = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))`,
    [JSON.stringify(fileUris)],
  );
  return new Map((rows[0]?.records ?? []).map(([file_uri, version, content_hash, status]) => [file_uri, { version, content_hash, status }]));
}

/** A page of the records a sync walks: see `fileRecordsBetween`. */
export interface RecordsPage {
  /** Records of the page, in key order, but those of files unchanged. */
  records: Array<RecordSeen & { file_uri: string }>;
  /** The files of `listed` whose records say registered at the version listed: indexes into `listed`. */
  unchanged: number[];
  /** Records the page covered, those of files unchanged among them; fewer than the limit: the last page. */
  covered: number;
  /** The last key the page covered, where the next page starts. */
  last: string | null;
}

/**
 * The records of the files in (`after`, `upTo`], in key order ("C" collation: UTF-8 byte order,
 * as storage lists keys), at most `limit` of them; `null` leaves an end open. A sync walks these
 * beside the listing, to find each listed file's record and the records of files gone.
 *
 * The files `listed` with their versions ([key, version]) are compared in the database: the
 * record of a file registered at the version listed — all of them, in a sync that changes
 * nothing — comes back as its index alone, not as a row to decode.
 *
 * Without content hashes: a walk needs them only for the files it reads, few once a folder is
 * registered (`fileRecordsFor` has them), and 64 hex digits a file were a fifth of a no-op sync.
 */
export async function fileRecordsBetween(
  db: Queryable,
  after: string | null,
  upTo: string | null,
  limit: number,
  listed: ReadonlyArray<readonly [key: string, version: string]> = [],
): Promise<RecordsPage> {
  const { rows } = await db.query<{
    records: Array<[string, string | null, FileRecord['status']]>;
    unchanged: number[];
    covered: number;
    last: string | null;
  }>(
    `WITH page AS (
       SELECT file_uri, version, status FROM member_files
       WHERE ($1::text IS NULL OR file_uri > $1) AND ($2::text IS NULL OR file_uri <= $2)
       ORDER BY file_uri LIMIT $3
     ), listed AS (
       SELECT pair->>0 AS file_uri, pair->>1 AS version, (at - 1)::int AS at
       FROM json_array_elements($4::json) WITH ORDINALITY AS listed (pair, at)
     ), seen AS (
       SELECT page.*, listed.at, coalesce(page.status = 'registered' AND page.version = listed.version, false) AS unchanged
       FROM page LEFT JOIN listed USING (file_uri)
     )
     SELECT coalesce(json_agg(json_build_array(file_uri, version, status) ORDER BY file_uri) FILTER (WHERE NOT unchanged), '[]') AS records,
            coalesce(json_agg(at) FILTER (WHERE unchanged), '[]') AS unchanged,
            count(*)::int AS covered, max(file_uri) AS last
     FROM seen`,
    [after, upTo, limit, JSON.stringify(listed)],
  );
  const page = rows[0]!;
  return { ...page, records: page.records.map(([file_uri, version, status]) => ({ file_uri, version, status })) };
}

/** Whether any file is recorded: a sync about to find records asks a folder for versions up front. */
export async function anyFileRecorded(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ recorded: boolean }>('SELECT EXISTS (SELECT 1 FROM member_files) AS recorded');
  return rows[0]!.recorded;
}

/** Which of these files were registered, or had their members deleted, after `since` (a database timestamp). */
export async function filesWrittenSince(db: Queryable, fileUris: readonly string[], since: string): Promise<Set<string>> {
  if (fileUris.length === 0) return new Set();
  const { rows } = await db.query<{ file_uri: string }>(
    `SELECT file_uri FROM member_files
     WHERE file_uri = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) AND checked_at > $2::timestamptz
     UNION
     SELECT file_uri FROM forgotten_files
     WHERE file_uri = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) AND forgotten_at > $2::timestamptz`,
    [JSON.stringify(fileUris), since],
  );
  return new Set(rows.map((row) => row.file_uri));
}

/** The database's clock, for `ChangeSet.unchangedSince`. */
export async function databaseNow(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ now: string }>('SELECT clock_timestamp()::text AS now');
  return rows[0]!.now;
}

/**
 * Records the outcome of reading files; `changed_at` moves only when something did change.
 * (Files registered with their members are recorded by the member upsert: `recordRegisteredFiles`.)
 */
export async function recordFiles(tx: Queryable, records: readonly FileRecord[]) {
  if (records.length === 0) return;
  await tx.query(
    `INSERT INTO member_files AS f (file_uri, kind, version, content_hash, status, member_name, errors)
     SELECT r.file_uri, r.kind, r.version, r.content_hash, r.status, r.member_name, r.errors
     FROM jsonb_to_recordset($1::jsonb) AS r(file_uri text, kind text, version text, content_hash text,
                                             status text, member_name text, errors jsonb)
     ON CONFLICT (file_uri) DO UPDATE SET
         version = EXCLUDED.version, content_hash = EXCLUDED.content_hash, status = EXCLUDED.status,
         member_name = EXCLUDED.member_name, errors = EXCLUDED.errors, checked_at = now(),
         changed_at = CASE WHEN (f.content_hash, f.status, f.errors) IS DISTINCT FROM
                                (EXCLUDED.content_hash, EXCLUDED.status, EXCLUDED.errors)
                           THEN now() ELSE f.changed_at END`,
    [JSON.stringify(records.map((r) => ({ ...r, errors: r.errors.map(storableIssue) })))],
  );
}

/** A member and its file, whose fingerprint the member upserts record with it. */
export interface MemberWithFile<M> {
  member: M;
  file_uri: string;
  version: string | null;
  content_hash: string | null;
}

/**
 * Runs a member upsert over a batch sent as one JSON payload; answers the files whose rows were
 * written, and whether each was created. (They come back as one JSON value: cheaper to decode
 * than as many protocol rows.)
 */
export async function upsertMembersWithFiles(tx: Queryable, sql: string, rows: readonly object[]) {
  const result = await tx.query<{ written: Array<[string, boolean]> | null }>(sql, [JSON.stringify(rows)]);
  return (result.rows[0]?.written ?? []).map(([file_uri, created]) => ({ file_uri, created }));
}

/**
 * A `WITH` item that records the files of the batch in `$1` (file_uri, name, version,
 * content_hash) as registered: for the member upserts, which write a batch's members and their
 * records in one statement. `changed_at` moves as in `recordFiles`.
 *
 * It reads `$1` itself, only the fields it needs, rather than share the upsert's rows through a
 * materialized `WITH` item: the payload is parsed once either way (as `jsonb`, on binding), and
 * walking it twice costs PostgreSQL less than storing every row and reading it back (measured:
 * 6 % of its CPU in a full sync).
 */
export const recordRegisteredFiles = (kind: MemberKind) => `recorded AS (
INSERT INTO member_files AS f (file_uri, kind, version, content_hash, status, member_name)
SELECT file_uri, '${kind}', version, content_hash, 'registered', name
FROM jsonb_to_recordset($1::jsonb) AS r(file_uri text, name text, version text, content_hash text)
ON CONFLICT (file_uri) DO UPDATE SET
    version = EXCLUDED.version, content_hash = EXCLUDED.content_hash, status = 'registered',
    member_name = EXCLUDED.member_name, errors = '[]', checked_at = now(),
    changed_at = CASE WHEN (f.content_hash, f.status, f.errors) IS DISTINCT FROM (EXCLUDED.content_hash, 'registered', '[]'::jsonb)
                      THEN now() ELSE f.changed_at END)`;

/** Files whose bytes are known and unchanged: only their storage fingerprint moves. */
export async function touchFiles(tx: Queryable, files: ReadonlyArray<{ file_uri: string; version: string }>) {
  if (files.length === 0) return;
  await tx.query(
    `UPDATE member_files AS f SET version = t.version, checked_at = now()
     FROM jsonb_to_recordset($1::jsonb) AS t(file_uri text, version text)
     WHERE f.file_uri = t.file_uri`,
    [JSON.stringify(files)],
  );
}

/**
 * Forgets the records of files whose members are deleted, leaving a dated note of each for a day
 * (`filesWrittenSince` sees it): a sync's older read of such a file must not bring it back.
 */
export async function forgetFiles(tx: Queryable, fileUris: readonly string[]) {
  if (fileUris.length === 0) return;
  await tx.query(
    `WITH gone AS (DELETE FROM member_files WHERE file_uri = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) RETURNING file_uri),
          pruned AS (DELETE FROM forgotten_files WHERE forgotten_at < now() - interval '1 day'
                       AND file_uri <> ALL (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))))
     INSERT INTO forgotten_files (file_uri) SELECT file_uri FROM gone
     ON CONFLICT (file_uri) DO UPDATE SET forgotten_at = EXCLUDED.forgotten_at`,
    [JSON.stringify(fileUris)],
  );
}

/** Invalid files with their reasons, for people to see, by file_uri. */
export async function listInvalidFiles(
  db: Queryable,
  page: { after?: string | undefined; limit?: number } = {},
): Promise<Array<FileRecord & { checked_at: string; changed_at: string }>> {
  const { rows } = await db.query<FileRecord & { checked_at: string; changed_at: string }>(
    `SELECT file_uri, kind, version, content_hash, status, member_name, errors,
            to_char(checked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS checked_at,
            to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS changed_at
     FROM member_files WHERE status = 'invalid' AND ($1::text IS NULL OR file_uri > $1)
     ORDER BY file_uri LIMIT $2`,
    [page.after ?? null, page.limit ?? null],
  );
  return rows;
}

export async function countInvalidFiles(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM member_files WHERE status = 'invalid'");
  return rows[0]?.n ?? 0;
}

/** Records of files refused because another file's member holds their member's name. */
const refusedForName = (alias: string) => `${alias}.status = 'invalid' AND ${alias}.errors @> '[{"code": "name_conflict"}]'`;

/**
 * Files refused because another file's member held their member's name, where that other file
 * was refused in turn for a name of its own: names that cross (a swap, or a longer cycle, made as
 * separate edits) which only a write of all of them together can settle.
 */
export async function filesRefusedForEachOther(db: Queryable) {
  // One index lookup per refused file: the holder of its name, then the holder's file record.
  const { rows } = await db.query<{ file_uri: string; kind: MemberKind }>(
    `SELECT f.file_uri, f.kind
     FROM member_files f
     JOIN LATERAL (SELECT m.file_uri COLLATE "C" AS file_uri FROM human_members m WHERE f.kind = 'human' AND m.name = f.member_name
                   UNION ALL
                   SELECT m.file_uri COLLATE "C" FROM virtual_members m WHERE f.kind = 'virtual' AND m.name = f.member_name) holder ON true
     JOIN member_files g ON g.file_uri = holder.file_uri
     WHERE ${refusedForName('f')} AND ${refusedForName('g')} AND g.file_uri <> f.file_uri
     ORDER BY f.file_uri`,
  );
  return rows;
}

/**
 * Files refused because another file held their member's name, whose name is now free: no
 * other registered file's member holds it any more (it was deleted or renamed).
 */
export async function filesWaitingForFreeNames(db: Queryable) {
  const { rows } = await db.query<{ file_uri: string; kind: MemberKind }>(
    `SELECT f.file_uri, f.kind FROM member_files f
     WHERE ${refusedForName('f')}
       AND NOT EXISTS (SELECT 1 FROM human_members m JOIN member_files r ON r.file_uri = m.file_uri
                       WHERE f.kind = 'human' AND m.name = f.member_name AND m.file_uri <> f.file_uri)
       AND NOT EXISTS (SELECT 1 FROM virtual_members m JOIN member_files r ON r.file_uri = m.file_uri
                       WHERE f.kind = 'virtual' AND m.name = f.member_name AND m.file_uri <> f.file_uri)
     ORDER BY f.file_uri`,
  );
  return rows;
}
