import type { UpsertKey } from '../../config.js';
import type { Queryable } from '../../db/types.js';

/** The two member tables; table names come only from here, never from input. */
export type MemberTable = 'human_members' | 'virtual_members';

export interface NameHolder {
  name: string;
  file_uri: string | null;
  /** Whether the row's file was registered here (has a `member_files` record). */
  registered: boolean;
  /** The name the row's file wants instead, when the file was refused for it (another file holds it). */
  wants: string | null;
}

/**
 * The rows that hold any of these names or belong to any of these files, and, from each row
 * whose file was refused for wanting another name, the row holding that name, and so on along
 * the chain: enough to tell whether a holder's claim passes on (`resolveNameClaims`).
 *
 * A refused file's record is the only invalid record with a `member_name` (the name it wants).
 */
export async function findNameHolders(tx: Queryable, table: MemberTable, names: string[], fileUris: string[]): Promise<NameHolder[]> {
  const { rows } = await tx.query<NameHolder>(
    // Two index lookups: with OR the planner scans the whole table. UNION ends a chain that
    // goes round in a circle.
    `WITH RECURSIVE held (name, file_uri) AS (
         SELECT name, file_uri FROM ${table} WHERE name = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
         UNION
         SELECT name, file_uri FROM ${table} WHERE file_uri = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))
         UNION
         SELECT m.name, m.file_uri
         FROM held h
         JOIN member_files f ON f.file_uri = h.file_uri AND f.status = 'invalid' AND f.member_name <> h.name
         JOIN ${table} m ON m.name = f.member_name
     )
     SELECT h.name, h.file_uri, f.file_uri IS NOT NULL AS registered,
            CASE WHEN f.status = 'invalid' AND f.member_name <> h.name THEN f.member_name END AS wants
     FROM held h LEFT JOIN member_files f ON f.file_uri = h.file_uri`,
    [JSON.stringify(names), JSON.stringify(fileUris)],
  );
  return rows;
}

/**
 * Rows written by older tools — without a file, or with a file this registry never registered —
 * become the rows of the files carrying their names.
 */
export async function adoptRows(tx: Queryable, table: MemberTable, claims: Array<{ name: string; file_uri: string }>) {
  if (claims.length === 0) return;
  await tx.query(
    `UPDATE ${table} AS m SET file_uri = c.file_uri
     FROM jsonb_to_recordset($1::jsonb) AS c(name text, file_uri text)
     WHERE m.name = c.name
       AND (m.file_uri IS NULL OR NOT EXISTS (SELECT 1 FROM member_files f WHERE f.file_uri = m.file_uri))`,
    [JSON.stringify(claims)],
  );
}

/**
 * Moves the names of rows about to be renamed out of the way, so that names can pass between
 * rows of one batch (a swap included) without tripping the UNIQUE constraint mid-statement. The
 * placeholder never outlives the transaction: the upsert that follows renames every one of them.
 */
export async function parkNames(tx: Queryable, table: MemberTable, fileUris: string[]) {
  if (fileUris.length === 0) return;
  await tx.query(`UPDATE ${table} SET name = chr(1) || id::text WHERE file_uri = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))`, [
    JSON.stringify(fileUris),
  ]);
}

/**
 * Deletes the members of these files; answers the files whose member was deleted. Under the name
 * key (D6) a member is its name: each row deleted leaves its id and created_at with its name for
 * a day (`<table>_departed`), for a file that names the member again (the upserts' name key
 * takes them back), so that a file moved keeps its row whichever of its delete and its new file
 * comes first. Departures older than a day are pruned as new ones come.
 */
export async function deleteMembersOfFiles(tx: Queryable, table: MemberTable, fileUris: string[], key: UpsertKey) {
  if (fileUris.length === 0) return [];
  const { rows } = await tx.query<{ file_uri: string; name: string }>(
    key === 'name'
      ? `WITH gone AS (DELETE FROM ${table} WHERE file_uri = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) RETURNING id, name, created_at, file_uri),
              pruned AS (DELETE FROM ${table}_departed WHERE departed_at < now() - interval '1 day' AND name NOT IN (SELECT name FROM gone)),
              departed AS (INSERT INTO ${table}_departed AS d (name, id, created_at) SELECT name, id, created_at FROM gone
                           ON CONFLICT (name) DO UPDATE SET id = EXCLUDED.id, created_at = EXCLUDED.created_at, departed_at = EXCLUDED.departed_at)
         SELECT file_uri, name FROM gone`
      : `DELETE FROM ${table} WHERE file_uri = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) RETURNING file_uri, name`,
    [JSON.stringify(fileUris)],
  );
  return rows;
}
