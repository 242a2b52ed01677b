import type { UpsertKey } from '../../config.js';
import type { Queryable } from '../../db/types.js';
import type { HumanMember } from '../../members/schema.js';
import { type MemberWithFile, recordRegisteredFiles, upsertMembersWithFiles } from './memberFiles.js';

export type HumanFile = MemberWithFile<HumanMember>;

// Both keys read the batch the same way and record the files the same way; they differ in the
// conflict, and in what a new row of the name key may take back.
const input = `
WITH input AS (
SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(name text, role text, skills text[], bio text,
                                        contact_email text, github_username text, file_uri text)
)`;

const byFileUriHead = `${input}, written AS (
INSERT INTO human_members AS m (name, role, skills, bio, contact_email, github_username, file_uri)
SELECT name, role, skills, bio, contact_email, github_username, file_uri FROM input
`;

// Under the name key a member is its name: a new row for a name that departed within the day (its
// file deleted, or renamed to another member) takes the departed row's id and created_at back —
// the member's file moved — unless another row has taken that id meanwhile.
const byNameHead = `${input}, departed AS (
SELECT d.name, d.id, d.created_at FROM human_members_departed d
WHERE d.name IN (SELECT name FROM input) AND d.departed_at >= now() - interval '1 day'
  AND NOT EXISTS (SELECT 1 FROM human_members t WHERE t.id = d.id)
), written AS (
INSERT INTO human_members AS m (id, created_at, name, role, skills, bio, contact_email, github_username, file_uri)
SELECT coalesce(d.id, nextval(pg_get_serial_sequence('human_members', 'id'))), coalesce(d.created_at, CURRENT_TIMESTAMP),
       i.name, i.role, i.skills, i.bio, i.contact_email, i.github_username, i.file_uri
FROM input i LEFT JOIN departed d ON d.name = i.name
`;

const byFileUri = `
${byFileUriHead}ON CONFLICT (file_uri) DO UPDATE SET
    name = EXCLUDED.name, role = EXCLUDED.role, skills = EXCLUDED.skills, bio = EXCLUDED.bio,
    contact_email = EXCLUDED.contact_email, github_username = EXCLUDED.github_username,
    updated_at = CURRENT_TIMESTAMP
WHERE (m.name, m.role, m.skills, m.bio, m.contact_email, m.github_username)
      IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.role, EXCLUDED.skills, EXCLUDED.bio, EXCLUDED.contact_email, EXCLUDED.github_username)
RETURNING m.file_uri, (m.xmax = 0) AS created
), ${recordRegisteredFiles('human')}
SELECT json_agg(json_build_array(file_uri, created)) AS written FROM written`;

// A row that takes a departed one's id back is not reported created: it is that member, moved.
const byName = `
${byNameHead}ON CONFLICT (name) DO UPDATE SET
    role = EXCLUDED.role, skills = EXCLUDED.skills, bio = EXCLUDED.bio,
    contact_email = EXCLUDED.contact_email, github_username = EXCLUDED.github_username,
    file_uri = EXCLUDED.file_uri, updated_at = CURRENT_TIMESTAMP
WHERE (m.role, m.skills, m.bio, m.contact_email, m.github_username, m.file_uri)
      IS DISTINCT FROM
      (EXCLUDED.role, EXCLUDED.skills, EXCLUDED.bio, EXCLUDED.contact_email, EXCLUDED.github_username, EXCLUDED.file_uri)
RETURNING m.file_uri, m.id, (m.xmax = 0) AS created
), taken_back AS (
DELETE FROM human_members_departed d USING departed p, written w WHERE d.name = p.name AND w.id = p.id RETURNING d.id
), ${recordRegisteredFiles('human')}
SELECT json_agg(json_build_array(file_uri, created AND id NOT IN (SELECT id FROM taken_back))) AS written FROM written`;

/**
 * Inserts or updates many humans in one statement, and records their files as registered.
 * Rows whose content is unchanged are not touched (updated_at stays) and are not returned.
 */
export async function upsertHumanMembers(tx: Queryable, files: readonly HumanFile[], key: UpsertKey) {
  if (files.length === 0) return [];
  // Rows of one shape, built field by field: a spread per file costs more than the rest of this.
  const rows = files.map(({ member: m, file_uri, version, content_hash }) => ({
    name: m.name,
    role: m.role,
    skills: m.skills,
    bio: m.bio,
    contact_email: m.contact_email,
    github_username: m.github_username,
    file_uri,
    version,
    content_hash,
  }));
  return upsertMembersWithFiles(tx, key === 'name' ? byName : byFileUri, rows);
}
