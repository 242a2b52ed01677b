import type { Queryable } from '../../db/types.js';

export interface SyncCounts {
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
  invalid: number;
}

export async function recordSyncRun(db: Queryable, trigger: string, startedAt: Date, counts: SyncCounts) {
  await db.query(
    `INSERT INTO sync_runs (trigger, started_at, created, updated, unchanged, deleted, invalid)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [trigger, startedAt.toISOString(), counts.created, counts.updated, counts.unchanged, counts.deleted, counts.invalid],
  );
}

export async function lastSyncRun(db: Queryable) {
  const { rows } = await db.query<SyncCounts & { trigger: string; started_at: string; finished_at: string }>(
    `SELECT trigger, created, updated, unchanged, deleted, invalid,
            to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS started_at,
            to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS finished_at
     FROM sync_runs ORDER BY id DESC LIMIT 1`,
  );
  return rows[0];
}
