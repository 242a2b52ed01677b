import type { Queryable } from '../../db/types.js';

/**
 * Whether the member tables were written from outside the registry (psql, a partial restore)
 * since the last full sync that read every file; with the database's clock, for
 * `markRowsVerified` once such a sync has finished.
 */
export async function rowsWrittenOutside(db: Queryable): Promise<{ now: string; written: boolean }> {
  const { rows } = await db.query<{ now: string; written: boolean }>(
    `SELECT clock_timestamp()::text AS now,
            coalesce((SELECT rows_touched_at > coalesce(rows_verified_at, '-infinity') FROM registry_state), false) AS written`,
  );
  return rows[0]!;
}

/** A full sync that started at `startedAt` has read every file again and put the rows right. */
export async function markRowsVerified(db: Queryable, startedAt: string) {
  await db.query(
    `INSERT INTO registry_state (id, rows_verified_at) VALUES (true, $1)
     ON CONFLICT (id) DO UPDATE SET rows_verified_at = EXCLUDED.rows_verified_at`,
    [startedAt],
  );
}
