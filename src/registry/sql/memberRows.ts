import type { Queryable } from '../../db/types.js';

/** The two member tables; table names come only from here, never from input. */
export type MemberTable = 'human_members' | 'virtual_members';

export interface NameHolder {
  name: string;
  file_uri: string | null;
  /** Whether the row's file was registered here (has a `member_files` record). */
  registered: boolean;
}

/** The rows that hold any of these names or belong to any of these files. */
export async function findNameHolders(tx: Queryable, table: MemberTable, names: string[], fileUris: string[]) {
  const { rows } = await tx.query<NameHolder>(
    // Two index lookups: with OR the planner scans the whole table.
    `SELECT m.name, m.file_uri, EXISTS (SELECT 1 FROM member_files f WHERE f.file_uri = m.file_uri) AS registered
     FROM (SELECT name, file_uri FROM ${table} WHERE name = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))
           UNION
           SELECT name, file_uri FROM ${table} WHERE file_uri = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))) AS m`,
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
  await tx.query(
    `UPDATE ${table} SET name = chr(1) || id::text WHERE file_uri = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))`,
    [JSON.stringify(fileUris)],
  );
}

/** Deletes the members of these files; answers the files whose member was deleted. */
export async function deleteMembersOfFiles(tx: Queryable, table: MemberTable, fileUris: string[]) {
  if (fileUris.length === 0) return [];
  const { rows } = await tx.query<{ file_uri: string; name: string }>(
    `DELETE FROM ${table} WHERE file_uri = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) RETURNING file_uri, name`,
    [JSON.stringify(fileUris)],
  );
  return rows;
}
