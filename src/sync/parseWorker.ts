import { parseMemberFile, type ParseLimits, type ParseResult } from '../members/parse.js';
import type { MemberKind } from '../members/schema.js';

export interface ParseTask {
  limits: ParseLimits;
  files: Array<{ file_uri: string; kind: MemberKind; bytes: Uint8Array }>;
}

/** Runs in a worker thread: parsing is the costliest part of a full sync. */
export default function parseFiles(task: ParseTask): ParseResult[] {
  return task.files.map((file) => parseMemberFile(file.file_uri, file.kind, file.bytes, task.limits));
}
