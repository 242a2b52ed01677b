import { hash as digest } from 'node:crypto';
import type { MemberKind } from '../members/kinds.js';
import type { ParseLimits } from '../members/limits.js';
import type { ReadFile } from '../registry/apply.js';
import { type Storage, StorageError } from '../storage/types.js';
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
 * The parser (YAML, the schemas), loaded by the first file that needs it: a sync that finds every
 * file as it was registered never loads it.
 */
let parser: typeof import('../members/parse.js') | undefined;

/**
 * Reads and parses member files. A file whose bytes hash as they did when it was registered
 * (`registeredHashes`) is not parsed again; a file that cannot be read is reported invalid on its
 * own. When the storage itself fails, that is thrown: an outage is not the files' fault and must
 * not delete anything.
 */
export async function readFiles(
  storage: Pick<Storage, 'description' | 'readMany'>,
  batch: readonly FileToRead[],
  registeredHashes: ReadonlyMap<string, string>,
  limits: ParseLimits,
): Promise<ReadResult> {
  const result: ReadResult = { files: [], touched: [], vanished: [] };
  // The files not answered yet, and their kinds.
  const waiting = new Map(batch.map((file) => [file.key, file.kind]));
  // Parsing is synchronous: the event loop (and a batch being written) gets a turn every couple
  // of milliseconds.
  const pause = pacer(2);
  for await (const group of storage.readMany([...waiting.keys()], limits.maxBytes)) {
    for (const read of group) {
      const turn = pause();
      if (turn) await turn;
      const { key: file_uri } = read;
      const kind = waiting.get(file_uri);
      if (!kind) throw new StorageError(`${storage.description} answered ${JSON.stringify(file_uri)}, which was not asked for, or twice`, 'unavailable');
      waiting.delete(file_uri);
      if (read.error) {
        if (read.error.failure === 'not_found') result.vanished.push(file_uri);
        else
          result.files.push({
            file_uri,
            kind,
            version: null,
            content_hash: null,
            ok: false,
            issues: [{ file: file_uri, code: 'unreadable', message: `cannot be read: ${read.error.message}` }],
          });
        continue;
      }
      const hash = digest('sha256', read.bytes, 'hex');
      if (registeredHashes.get(file_uri) === hash) {
        result.touched.push({ file_uri, version: read.version });
        continue;
      }
      parser ??= await import('../members/parse.js');
      const parsed = parser.parseMemberFile(file_uri, kind, read.bytes, limits);
      // Built field by field, not spread: this runs for every file of a sync.
      const { version } = read;
      result.files.push(
        parsed.ok
          ? { file_uri, kind, version, content_hash: hash, ok: true, value: parsed.value }
          : { file_uri, kind, version, content_hash: hash, ok: false, issues: parsed.issues },
      );
    }
  }
  // A file left unanswered would be neither registered nor deleted: the storage is failing.
  if (waiting.size > 0) throw new StorageError(`${storage.description} did not answer for ${waiting.size} of ${batch.length} files`, 'unavailable');
  return result;
}
