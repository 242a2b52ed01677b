import { createHash } from 'node:crypto';
import { parseMemberFile, type ParseLimits } from '../members/parse.js';
import type { MemberKind } from '../members/schema.js';
import type { ReadFile } from '../registry/apply.js';
import type { FileRecord } from '../registry/sql/memberFiles.js';
import { StorageError, type Storage } from '../storage/types.js';
import { pacer } from './pacer.js';

export interface FileToRead {
  key: string;
  kind: MemberKind;
}

export interface ReadResult {
  /** Files read and parsed: each with its member or its problems. */
  files: ReadFile[];
  /** Files whose bytes match what was last registered: only their fingerprint moves. */
  touched: Array<{ file_uri: string; version: string }>;
  /** Files gone between the listing (or event) and the read. */
  vanished: string[];
}

/**
 * Reads and parses member files. A file whose content hash matches its registered version is
 * not parsed again; a file that cannot be read is reported invalid on its own. When the storage
 * itself fails, that is thrown: an outage is not the files' fault and must not delete anything.
 */
export async function readFiles(
  storage: Storage,
  batch: readonly FileToRead[],
  records: ReadonlyMap<string, Pick<FileRecord, 'content_hash' | 'status'>>,
  limits: ParseLimits,
): Promise<ReadResult> {
  const result: ReadResult = { files: [], touched: [], vanished: [] };
  // Reading a folder is synchronous: the event loop (and a batch being written) gets a turn
  // every couple of milliseconds.
  const pause = pacer(2);
  await forEachLimit(batch, 16, async (file) => {
    await pause();
    let read;
    try {
      read = await storage.read(file.key, limits.maxBytes);
    } catch (error) {
      if (!(error instanceof StorageError) || error.failure === 'unavailable') throw error;
      if (error.failure === 'not_found') result.vanished.push(file.key);
      else result.files.push({ ...file, file_uri: file.key, version: null, content_hash: null, ok: false, issues: [{ file: file.key, code: 'unreadable', message: `cannot be read: ${error.message}` }] });
      return;
    }
    const hash = createHash('sha256').update(read.bytes).digest('hex');
    const record = records.get(file.key);
    if (record?.status === 'registered' && record.content_hash === hash) {
      result.touched.push({ file_uri: file.key, version: read.version });
      return;
    }
    const parsed = parseMemberFile(file.key, file.kind, read.bytes, limits);
    // Built field by field, not spread: this runs for every file of a sync.
    const { key: file_uri, kind } = file;
    const { version } = read;
    result.files.push(
      parsed.ok
        ? { file_uri, kind, version, content_hash: hash, ok: true, value: parsed.value }
        : { file_uri, kind, version, content_hash: hash, ok: false, issues: parsed.issues },
    );
  });
  return result;
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
