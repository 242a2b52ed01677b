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

/** Where member files live. The sync only lists and reads; tools and tests also write and delete. */
export interface Storage {
  readonly description: string;
  /** Every file below the root, in key order, a page at a time (an object store's listing pages; a folder's, 1,000 files). */
  list(): AsyncIterable<StoredFile[]>;
  /**
   * The file's bytes — at most `maxBytes + 1` of them, enough to tell that it is too large — and
   * its version, as `versionsOf` (or a listing that shows versions) would tell it. Throws a StorageError, `notFound` when it is gone.
   */
  read(key: string, maxBytes: number): Promise<{ bytes: Uint8Array; version: string }>;
  /** The files' versions as `read` would report them, without reading them; files gone are left out. */
  versionsOf(keys: readonly string[]): Promise<Map<string, string>>;
  /** Whether the storage answers (for readiness checks). */
  check(): Promise<void>;
  write(key: string, content: string | Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
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
