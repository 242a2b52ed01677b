import type { Queryable } from '../db/types.js';
import { type MemberKind, tableOf } from '../members/schema.js';

/**
 * Names of `kind` that `name`, which matched none exactly, nearly names: the same but for case
 * first, then names holding it (case-insensitive) — for a "did you mean" (`rin` → `Rin`, `華` → `華扇`).
 */
export async function similarNames(db: Queryable, kind: MemberKind, name: string, limit = 3): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT name FROM ${tableOf[kind]}
     WHERE name ILIKE '%' || replace(replace(replace($1, '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'
     ORDER BY lower(name) = lower($1) DESC, name
     LIMIT $2`,
    [name, limit],
  );
  return rows.map((row) => row.name);
}
