import type { Queryable } from '../db/types.js';
import { fileKeysFor } from '../members/fileName.js';
import type { MemberIssue } from '../members/issues.js';
import { defaultLimits, type ParseLimits, parseMemberFile } from '../members/parse.js';
import type { MemberKind } from '../members/schema.js';
import { getMember } from '../registry/read.js';
import { type Storage, WriteConflict } from '../storage/types.js';
import type { ChangeOutcome, Registrar } from './registrar.js';

/** What writing member files needs: the storage written to, and the registry that follows it. */
export interface MemberWriter {
  db: Queryable;
  storage: Storage;
  registrar: Registrar;
  limits?: ParseLimits;
}

/** A member file as storage has it now. */
export interface StoredText {
  text: string;
  version: string;
}

export type SaveResult =
  /** The text is no valid member file: nothing written. */
  | { status: 'invalid'; key: string; issues: MemberIssue[] }
  /** Another file's member has this name already: nothing written. */
  | { status: 'name_taken'; key: string; name: string; heldBy: string }
  /** Storage is not as the caller read it (changed, gone, or taken meanwhile): nothing written; what it has now, if anything. */
  | { status: 'conflict'; key: string; found: WriteConflict['found']; now?: StoredText }
  /** Written; the registry's outcome for the file (`invalid` when it refused it, with its issues). */
  | { status: 'written'; key: string; outcome: ChangeOutcome };

/**
 * Writes a member's file after the registry's own validation, and registers it by the same path
 * as a storage event (the registrar): nothing reaches the member tables but through the file.
 * Saving an existing file needs the version it was read at; storage refuses the write if the
 * file changed since (see `Storage.write`).
 */
export async function saveMemberFile(writer: MemberWriter, file: { key: string; kind: MemberKind; text: string; ifVersion: string }): Promise<SaveResult> {
  const checked = await check(writer, file.key, file.kind, file.text);
  if (checked) return checked;
  return writeAndRegister(writer, file.key, file.kind, file.text, { ifVersion: file.ifVersion });
}

/**
 * Creates a new member's file, named after the member (`fileKeysFor`): the first name no file
 * has, created only while still absent — a file made meanwhile under that name is never
 * overwritten; the next name is taken instead.
 */
export async function createMemberFile(writer: MemberWriter, file: { kind: MemberKind; text: string }): Promise<SaveResult> {
  const parsed = parseMemberFile('', file.kind, Buffer.from(file.text), writer.limits ?? defaultLimits);
  const name = parsed.ok ? parsed.value.member.name : '';
  const keys = fileKeysFor(file.kind, name);
  const taken = await writer.storage.versionsOf(keys);
  const free = keys.filter((key) => !taken.has(key));
  const first = free[0] ?? keys[0]!;
  const checked = await check(writer, first, file.kind, file.text);
  if (checked) return checked;
  let result: SaveResult | undefined;
  for (const key of free) {
    result = await writeAndRegister(writer, key, file.kind, file.text, { ifAbsent: true });
    if (result.status !== 'conflict') return result;
  }
  return result ?? { status: 'conflict', key: first, found: 'exists' };
}

export type DeleteResult =
  | { status: 'conflict'; key: string; found: WriteConflict['found']; now?: StoredText }
  | { status: 'deleted'; key: string; outcome: ChangeOutcome };

/**
 * Deletes a member's file, if it is still at the version the caller saw, and registers the
 * delete. A file already gone is what the caller wanted: the registry follows all the same.
 */
export async function deleteMemberFile(writer: MemberWriter, file: { key: string; kind: MemberKind; ifVersion: string }): Promise<DeleteResult> {
  try {
    await writer.storage.delete(file.key, { ifVersion: file.ifVersion });
  } catch (error) {
    if (!(error instanceof WriteConflict)) throw error;
    if (error.found !== 'gone') return { status: 'conflict', key: file.key, found: error.found, ...(await nowIn(writer, file.key)) };
  }
  const [outcome] = await writer.registrar.submit([{ key: file.key, kind: file.kind }]);
  return { status: 'deleted', key: file.key, outcome: outcome! };
}

/** The file as storage has it now, or undefined when it is gone. */
export async function readMemberText(writer: MemberWriter, key: string): Promise<StoredText | undefined> {
  try {
    const { bytes, version } = await writer.storage.read(key, (writer.limits ?? defaultLimits).maxBytes);
    return { text: Buffer.from(bytes).toString('utf8'), version };
  } catch (error) {
    if ((error as { notFound?: boolean }).notFound) return undefined;
    throw error;
  }
}

/** The registry's verdict before anything is written: the file's own problems, then a name another file holds. */
async function check(writer: MemberWriter, key: string, kind: MemberKind, text: string): Promise<SaveResult | undefined> {
  const parsed = parseMemberFile(key, kind, Buffer.from(text), writer.limits ?? defaultLimits);
  if (!parsed.ok) return { status: 'invalid', key, issues: parsed.issues };
  const { name } = parsed.value.member;
  const holder = await getMember(writer.db, kind, name);
  if (holder?.file_uri && holder.file_uri !== key) return { status: 'name_taken', key, name, heldBy: holder.file_uri };
  return undefined;
}

async function writeAndRegister(
  writer: MemberWriter,
  key: string,
  kind: MemberKind,
  text: string,
  condition: { ifVersion?: string; ifAbsent?: boolean },
): Promise<SaveResult> {
  try {
    await writer.storage.write(key, text, condition);
  } catch (error) {
    if (!(error instanceof WriteConflict)) throw error;
    return { status: 'conflict', key, found: error.found, ...(await nowIn(writer, key)) };
  }
  const [outcome] = await writer.registrar.submit([{ key, kind }]);
  return { status: 'written', key, outcome: outcome! };
}

async function nowIn(writer: MemberWriter, key: string): Promise<{ now?: StoredText }> {
  const now = await readMemberText(writer, key);
  return now ? { now } : {};
}
