import type { Queryable } from '../db/types.js';
import type { MemberIssue } from '../members/issues.js';
import { tableOf, type MemberKind } from '../members/schema.js';

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
  const { rows } = await db.query<{ errors: MemberIssue[] }>(
    "SELECT errors FROM member_files WHERE file_uri = $1 AND status = 'invalid'",
    [fileUri],
  );
  return rows[0]?.errors ?? [];
}
