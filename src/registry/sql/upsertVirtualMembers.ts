import type { UpsertKey } from '../../config.js';
import type { Queryable } from '../../db/types.js';
import type { VirtualMember } from '../../members/schema.js';
import { recordRegisteredFiles, upsertMembersWithFiles, type MemberWithFile } from './memberFiles.js';

export type VirtualFile = MemberWithFile<VirtualMember>;

// Both keys read the batch the same way and record the files the same way; only the conflict differs.
const head = `
WITH input AS (
SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(name text, role text, llm_model text, system_prompt text,
                                        personality_traits text[], expertise_areas text[], file_uri text)
), written AS (
INSERT INTO virtual_members AS m (name, role, llm_model, system_prompt, personality_traits, expertise_areas, file_uri)
SELECT name, role, llm_model, system_prompt, personality_traits, expertise_areas, file_uri FROM input
`;

const tail = `RETURNING m.file_uri, (m.xmax = 0) AS created
), ${recordRegisteredFiles('virtual')}
SELECT json_agg(json_build_array(file_uri, created)) AS written FROM written`;

const byFileUri = `
${head}ON CONFLICT (file_uri) DO UPDATE SET
    name = EXCLUDED.name, role = EXCLUDED.role, llm_model = EXCLUDED.llm_model,
    system_prompt = EXCLUDED.system_prompt, personality_traits = EXCLUDED.personality_traits,
    expertise_areas = EXCLUDED.expertise_areas, updated_at = CURRENT_TIMESTAMP
WHERE (m.name, m.role, m.llm_model, m.system_prompt, m.personality_traits, m.expertise_areas)
      IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.role, EXCLUDED.llm_model, EXCLUDED.system_prompt, EXCLUDED.personality_traits, EXCLUDED.expertise_areas)
${tail}`;

const byName = `
${head}ON CONFLICT (name) DO UPDATE SET
    role = EXCLUDED.role, llm_model = EXCLUDED.llm_model, system_prompt = EXCLUDED.system_prompt,
    personality_traits = EXCLUDED.personality_traits, expertise_areas = EXCLUDED.expertise_areas,
    file_uri = EXCLUDED.file_uri, updated_at = CURRENT_TIMESTAMP
WHERE (m.role, m.llm_model, m.system_prompt, m.personality_traits, m.expertise_areas, m.file_uri)
      IS DISTINCT FROM
      (EXCLUDED.role, EXCLUDED.llm_model, EXCLUDED.system_prompt, EXCLUDED.personality_traits, EXCLUDED.expertise_areas, EXCLUDED.file_uri)
${tail}`;

/**
 * Inserts or updates many AI members in one statement, and records their files as registered.
 * Rows whose content is unchanged are not touched (updated_at stays) and are not returned.
 */
export async function upsertVirtualMembers(tx: Queryable, files: readonly VirtualFile[], key: UpsertKey) {
  if (files.length === 0) return [];
  // Rows of one shape, built field by field: a spread per file costs more than the rest of this.
  const rows = files.map(({ member: m, file_uri, version, content_hash }) => ({
    name: m.name,
    role: m.role,
    llm_model: m.llm_model,
    system_prompt: m.system_prompt,
    personality_traits: m.personality_traits,
    expertise_areas: m.expertise_areas,
    file_uri,
    version,
    content_hash,
  }));
  return upsertMembersWithFiles(tx, key === 'name' ? byName : byFileUri, rows);
}
