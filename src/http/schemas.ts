import * as z from 'zod';
import { isStorable, storableString } from '../storableText.js';
import { HttpError } from './errors.js';

/** The API's shapes, declared once: they validate, serialise and make /openapi.json. */

const timestamp = z.string().describe('ISO 8601, UTC');
const text = z.string().nullable();
const list = z.array(z.string()).nullable();

export const humanRecordSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    role: text,
    skills: list,
    bio: text,
    contact_email: text,
    github_username: text,
    file_uri: text,
    created_at: timestamp,
    updated_at: timestamp,
  })
  .describe('A human member: every column of human_members');

export const virtualRecordSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    role: text,
    llm_model: z.string(),
    system_prompt: text,
    personality_traits: list,
    expertise_areas: list,
    file_uri: text,
    created_at: timestamp,
    updated_at: timestamp,
  })
  .describe('An AI member: every column of virtual_members');

export const issueSchema = z.object({
  file: z.string(),
  field: z.string().optional(),
  line: z.number().int().optional(),
  column: z.number().int().optional(),
  code: z.string(),
  message: z.string(),
  hint: z.string().optional(),
});

export const errorSchema = z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) }).describe('An error');

/** A text query value or path segment: no NUL, no lone surrogate (400, not a failed statement). */
export const textParam = storableString;

export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('Items per page (1-500)'),
  cursor: z.string().optional().describe('The next_cursor of the previous page'),
};

export const nextCursor = z.string().nullable().describe('Pass back as ?cursor= for the next page; null on the last page');

/** Opaque cursors: the position after which the next page starts. */
export function encodeCursor(after: string): string {
  return Buffer.from(JSON.stringify({ after })).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  let value: { after?: unknown } | undefined;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
  } catch {
    value = undefined;
  }
  if (typeof value?.after !== 'string' || !isStorable(value.after)) throw new HttpError(400, 'bad_cursor', 'cursor is not one this API handed out');
  return value.after;
}
