import type { Queryable } from '../db/types.js';
import type { MemberIssue } from '../members/issues.js';
import { type MemberKind, tableOf } from '../members/kinds.js';

const timestamp = (column: string) => `to_char(${column}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ${column}`;

/** Every column of each table, timestamps as ISO 8601 in UTC. */
const columns: Record<MemberKind, string> = {
  human: `id, name, role, skills, bio, contact_email, github_username, file_uri, ${timestamp('created_at')}, ${timestamp('updated_at')}`,
  virtual: `id, name, role, llm_model, system_prompt, personality_traits, expertise_areas, file_uri, ${timestamp('created_at')}, ${timestamp('updated_at')}`,
};

export interface MemberRecord {
  id: number;
  name: string;
  role: string | null;
  file_uri: string | null;
  created_at: string;
  updated_at: string;
  [column: string]: unknown;
}

export interface ListOptions {
  /** Part of the name, case-insensitive. */
  q?: string;
  role?: string;
  /** A skill (humans) or an expertise area (AI members) the member lists, case-insensitive. */
  tag?: string;
  limit?: number;
  /** Names after this one (keyset pagination by name). */
  after?: string;
}

export async function listMembers(db: Queryable, kind: MemberKind, options: ListOptions = {}): Promise<MemberRecord[]> {
  const tagColumn = kind === 'human' ? 'skills' : 'expertise_areas';
  const { rows } = await db.query<MemberRecord>(
    `SELECT ${columns[kind]} FROM ${tableOf[kind]}
     WHERE ($1::text IS NULL OR name ILIKE '%' || replace(replace(replace($1, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')
       AND ($2::text IS NULL OR lower(role) = lower($2))
       AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM unnest(${tagColumn}) AS t WHERE lower(t) = lower($3)))
       AND ($4::text IS NULL OR name > $4)
     ORDER BY name
     LIMIT $5`,
    [options.q ?? null, options.role ?? null, options.tag ?? null, options.after ?? null, options.limit ?? null],
  );
  return rows;
}

export async function getMember(db: Queryable, kind: MemberKind, name: string): Promise<MemberRecord | undefined> {
  const { rows } = await db.query<MemberRecord>(`SELECT ${columns[kind]} FROM ${tableOf[kind]} WHERE name = $1`, [name]);
  return rows[0];
}

export async function countMembers(db: Queryable): Promise<Record<MemberKind, number>> {
  const { rows } = await db.query<{ human: number; virtual: number }>(
    'SELECT (SELECT count(*)::int FROM human_members) AS human, (SELECT count(*)::int FROM virtual_members) AS virtual',
  );
  return rows[0] ?? { human: 0, virtual: 0 };
}

/** The problems recorded for a member's file, if its latest version could not be registered. */
export async function fileProblems(db: Queryable, fileUri: string): Promise<MemberIssue[]> {
  const { rows } = await db.query<{ errors: MemberIssue[] }>("SELECT errors FROM member_files WHERE file_uri = $1 AND status = 'invalid'", [fileUri]);
  return rows[0]?.errors ?? [];
}

/** One line of the team list: both kinds in one shape. */
export interface TeamRow {
  kind: MemberKind;
  name: string;
  role: string | null;
  /** Skills of a human, expertise areas of an AI member. */
  tags: string[] | null;
  llm_model: string | null;
  file_uri: string | null;
  updated_at: string;
  /** Whether the member's file has changed into an invalid one (the row is its last good data). */
  file_invalid: boolean;
}

export interface TeamQuery {
  /** One kind, or both when absent. */
  kind?: MemberKind;
  /** Part of the name, case-insensitive. */
  q?: string;
  role?: string;
  /** A skill a human lists (case-insensitive). */
  skill?: string;
  /** An expertise area an AI member lists (case-insensitive). */
  expertise?: string;
  /** An AI member's model (case-insensitive). */
  model?: string;
  /** By name (A→Z), or by last change (newest first). */
  sort: 'name' | 'updated';
  limit: number;
  offset: number;
}

/** The team list's filters on one kind's table ($1 kind, $2 name part, $3 role, $4 skill, $5 expertise, $6 model). */
const nameMatches = `($2::text IS NULL OR name ILIKE '%' || replace(replace(replace($2, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%')`;
const roleMatches = '($3::text IS NULL OR lower(role) = lower($3))';
const lists = (column: string, param: string) => `EXISTS (SELECT 1 FROM unnest(${column}) AS t WHERE lower(t) = lower(${param}))`;
const teamFilters: Record<MemberKind, string> = {
  human: `($1::text IS NULL OR $1 = 'human') AND ${nameMatches} AND ${roleMatches}
          AND ($4::text IS NULL OR ${lists('skills', '$4')}) AND $5::text IS NULL AND $6::text IS NULL`,
  virtual: `($1::text IS NULL OR $1 = 'virtual') AND ${nameMatches} AND ${roleMatches}
            AND $4::text IS NULL AND ($5::text IS NULL OR ${lists('expertise_areas', '$5')}) AND ($6::text IS NULL OR lower(llm_model) = lower($6))`,
};

/**
 * A page of the team, humans and AI members in one list, with how many match in all: the
 * filtering, sorting and paging are the database's. Each table gives its first OFFSET + LIMIT
 * rows in the page's order (by name: read from the name index, stopping early) and the two are
 * merged; the total is a count of its own, which sorts nothing and returns one number. A filter of one kind's
 * column (skill, expertise, model) keeps the other kind out.
 */
export async function browseTeam(db: Queryable, query: TeamQuery): Promise<{ rows: TeamRow[]; total: number }> {
  const tableOrder = query.sort === 'updated' ? 'updated_at DESC, name' : 'name';
  const order = query.sort === 'updated' ? 'updated_at DESC, name, kind' : 'name, kind';
  const filters = [query.kind ?? null, query.q ?? null, query.role ?? null, query.skill ?? null, query.expertise ?? null, query.model ?? null];
  const [page, count] = await Promise.all([
    db.query<TeamRow>(
      `WITH page AS (
         (SELECT 'human' AS kind, name, role, skills AS tags, NULL::varchar AS llm_model, file_uri, updated_at
            FROM human_members WHERE ${teamFilters.human}
           ORDER BY ${tableOrder} LIMIT $7::int + $8::int)
         UNION ALL
         (SELECT 'virtual', name, role, expertise_areas, llm_model, file_uri, updated_at
            FROM virtual_members WHERE ${teamFilters.virtual}
           ORDER BY ${tableOrder} LIMIT $7::int + $8::int)
         ORDER BY ${order}
         LIMIT $7 OFFSET $8
       )
       SELECT kind, name, role, tags, llm_model, file_uri, ${timestamp('updated_at')},
              EXISTS (SELECT 1 FROM member_files f WHERE f.file_uri = page.file_uri AND f.status = 'invalid') AS file_invalid
         FROM page
        ORDER BY ${order}`,
      [...filters, query.limit, query.offset],
    ),
    db.query<{ total: number }>(
      `SELECT (SELECT count(*) FROM human_members WHERE ${teamFilters.human})::int
            + (SELECT count(*) FROM virtual_members WHERE ${teamFilters.virtual})::int AS total`,
      filters,
    ),
  ]);
  return { rows: page.rows, total: count.rows[0]?.total ?? 0 };
}

/** A file whose latest version could not be registered, with its problems. */
export interface InvalidFile {
  file_uri: string;
  kind: MemberKind;
  errors: MemberIssue[];
}

/** The files of these kinds whose latest version is invalid, by file. */
export async function invalidFiles(db: Queryable, kinds: readonly MemberKind[]): Promise<InvalidFile[]> {
  const { rows } = await db.query<InvalidFile>(
    `SELECT file_uri, kind, errors FROM member_files
     WHERE status = 'invalid' AND kind IN (SELECT jsonb_array_elements_text($1::jsonb))
     ORDER BY file_uri`,
    [JSON.stringify(kinds)],
  );
  return rows;
}
