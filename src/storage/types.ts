/** A file in storage as a listing shows it. */
export interface StoredFile {
  /** Path below the storage root, `/`-separated: `human_members/rin.yml`. This is the member's file_uri. */
  key: string;
  /**
   * Changes whenever the content may have changed: inode, size and mtime of a file, ETag of an
   * object. Absent where the listing would have to ask file by file (a folder): `versionsOf`
   * answers then, for the files that need it.
   */
  version?: string;
}

/** A file of `Storage.readMany`: its bytes and version, or why it could not be read. */
export type FileRead = { key: string; bytes: Uint8Array; version: string; error?: undefined } | { key: string; error: StorageError };

/**
 * A file that could not be read, as `readMany` answers it: gone or unreadable, it is this file's
 * answer. Any other error — the storage failing — is thrown, and ends the whole read.
 */
export function unreadFile(key: string, error: unknown): { key: string; error: StorageError } {
  if (!(error instanceof StorageError) || error.failure === 'unavailable') throw error;
  return { key, error };
}

/** Where member files live. The sync only lists and reads; tools and tests also write and delete. */
export interface Storage {
  readonly description: string;
  /**
   * Every file below the root, in key order (`compareKeys`), a page at a time (an object
   * store's listing pages; a folder's, 1,000 entries), and reading as of that listing.
   */
  list(): Listing;
  /**
   * The file's bytes — at most `maxBytes + 1` of them, enough to tell that it is too large — and
   * its version, as `versionsOf` (or a listing that shows versions) would tell it. Throws a StorageError, `notFound` when it is gone
   * (from a folder: only where a listing was accepted, see `Listing`; else `unavailable`).
   */
  read(key: string, maxBytes: number): Promise<{ bytes: Uint8Array; version: string }>;
  /**
   * Many files as `read` reads them, a group at a time as they arrive, in no particular order.
   * A file that cannot be read comes with its StorageError (`not_found`, `unreadable`); when the
   * storage itself fails (`unavailable`), the iteration throws.
   */
  readMany: ReadMany;
  /** The files' versions as `read` would report them, without reading them; files gone are left out. */
  versionsOf(keys: readonly string[]): Promise<Map<string, string>>;
  /** Whether the storage answers (for readiness checks). */
  check(): Promise<void>;
  /**
   * Writes the file whole: a reader sees the old content or the new, never a part. With a
   * condition, the write happens only while it holds — `ifVersion`: the file is still at this
   * version (as `read` told it); `ifAbsent`: no file has the key — and a WriteConflict says
   * otherwise. Writes and deletes through one Storage take turns, so two saves of this service
   * cannot both pass the check; how far another writer is kept out depends on the storage (see
   * folder.ts, s3.ts).
   */
  write(key: string, content: string | Uint8Array, condition?: WriteCondition): Promise<void>;
  /** Removes the file (gone already is fine); with `ifVersion`, only while it is at that version. */
  delete(key: string, condition?: Pick<WriteCondition, 'ifVersion'>): Promise<void>;
}

/** When a write may happen: the file unchanged since it was read, or not there at all. */
export interface WriteCondition {
  ifVersion?: string;
  ifAbsent?: boolean;
}

/**
 * A conditional write or delete refused: the file is not as the caller expected. `found` says
 * how: it changed (another version now), it is gone, or (creating) one is there already.
 */
export class WriteConflict extends Error {
  override name = 'WriteConflict';
  constructor(
    readonly key: string,
    readonly found: 'changed' | 'gone' | 'exists',
  ) {
    super(
      found === 'exists'
        ? `${key}: a file with this key exists already`
        : found === 'gone'
          ? `${key}: the file is gone`
          : `${key}: the file changed since it was read`,
    );
  }
}

/** Why a write under `condition` must not happen to a file now at `version` (undefined: no file); undefined when it may. */
export function conflictOf(key: string, condition: WriteCondition | undefined, version: string | undefined): WriteConflict | undefined {
  if (condition?.ifAbsent && version !== undefined) return new WriteConflict(key, 'exists');
  if (condition?.ifVersion === undefined) return undefined;
  if (version === undefined) return new WriteConflict(key, 'gone');
  return version === condition.ifVersion ? undefined : new WriteConflict(key, 'changed');
}

/** Runs operations one after another, each once the one before has settled: the writes of one storage take turns. */
export function oneAtATime(): <T>(operation: () => Promise<T>) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return (operation) => {
    const next = last.then(operation, operation);
    last = next.catch(() => {});
    return next;
  };
}

export type ReadMany = (keys: readonly string[], maxBytes: number) => AsyncIterable<FileRead[]>;

/**
 * One walk through the storage's files, and what a sync makes of it. A storage that can be
 * swapped under the service — a folder, unmounted, leaves an empty one in its place — takes a
 * file missing for gone only where a listing that a sync accepted was taken; elsewhere, and
 * before any listing is accepted, a missing file is `unavailable`: an empty folder must not
 * delete members one event at a time after the sync refused to delete them all at once.
 */
export interface Listing extends AsyncIterable<StoredFile[]> {
  /**
   * Files read as `Storage.readMany` reads them, except that a file missing is gone where this
   * listing is being taken, accepted or not (the sync's own reads: a file deleted since it was
   * listed).
   */
  readMany: ReadMany;
  /** The sync found the listing sound: the storage's own reads trust where it was taken. */
  accept(): void;
  /**
   * The sync refused the listing (it shows no member files while members are registered): the
   * storage's own reads take no missing file for gone until a listing is accepted.
   */
  refuse(): void;
}

/**
 * The listing of a storage that cannot be swapped under the service (a bucket: a wrong or
 * missing one fails as `unavailable`, see s3.ts): its reads are the storage's, nothing to trust.
 */
export function plainListing(pages: () => AsyncIterable<StoredFile[]>, readMany: ReadMany): Listing {
  return {
    [Symbol.asyncIterator]: () => pages()[Symbol.asyncIterator](),
    readMany,
    accept() {},
    refuse() {},
  };
}

/**
 * What went wrong, which decides what happens next: `not_found` — the file is gone (a delete);
 * `unreadable` — this one file cannot be read (recorded as invalid, the rest carry on);
 * `unavailable` — the storage itself is failing (the whole operation stops, nothing is deleted,
 * and it is worth trying again later).
 */
export type StorageFailure = 'not_found' | 'unreadable' | 'unavailable';

export class StorageError extends Error {
  override name = 'StorageError';
  constructor(
    message: string,
    readonly failure: StorageFailure = 'unavailable',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get notFound(): boolean {
    return this.failure === 'not_found';
  }
}

/**
 * The order of a listing: UTF-8 byte order, in which object stores list keys and PostgreSQL's
 * "C" collation sorts. JavaScript's `<` compares UTF-16 units, which puts characters beyond
 * U+FFFF (stored as surrogates) before U+E000–U+FFFF; here they come after, as their bytes do.
 */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return byteOrderRank(x) - byteOrderRank(y);
  }
  return a.length - b.length;
}

const byteOrderRank = (unit: number) => (unit < 0xd800 ? unit : unit < 0xe000 ? unit + 0x2000 : unit - 0x800);
