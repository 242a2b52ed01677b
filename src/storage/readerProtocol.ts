import type { StorageFailure } from './types.js';

/** What the main thread asks of the reading thread. */
export type ReaderMessage =
  /** Files of the folder `root`, read (`rootId`: see `FolderFiles.read`): answered in groups. */
  | { op: 'read'; id: number; root: string; rootId: string | undefined; keys: readonly string[]; maxBytes: number }
  /** Their versions, told without reading them: answered at once. */
  | { op: 'versions'; id: number; root: string; keys: readonly string[] }
  /** A group of a read taken up: the thread may read that much further ahead. */
  | { op: 'taken'; id: number; bytes: number }
  /** A read no longer wanted. */
  | { op: 'cancel'; id: number };

/** A file read, its bytes at [start, end) of the group's buffer; or why it could not be read. */
export type WireFile = { key: string; start: number; end: number; version: string } | { key: string; failure: StorageFailure; message: string };

/** One answer to a request: a group of files, versions, or the failure that ended it. */
export type ReaderReply = { id: number; done: boolean } & (
  | { files: WireFile[]; bytes: ArrayBuffer }
  | { versions: Array<[string, string]> }
  | { error: { failure: StorageFailure; message: string } }
);

/** What a group counts against how far the thread may read ahead: its bytes, and a little for being a group. */
export const costOf = (bytes: number) => bytes + 1;
