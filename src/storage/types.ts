/** A file in storage as a listing shows it. */
export interface StoredFile {
  /** Path below the storage root, `/`-separated: `human_members/rin.yml`. This is the member's file_uri. */
  key: string;
  /** Changes whenever the content may have changed: size and mtime of a file, ETag of an object. */
  version: string;
  size: number;
}

/** Where member files live. The sync only lists and reads; tools and tests also write and delete. */
export interface Storage {
  readonly description: string;
  /** Every file below the root, in key order. */
  list(): AsyncIterable<StoredFile>;
  /** The file's bytes, at most `maxBytes + 1` of them (enough to tell that it is too large). */
  read(key: string, maxBytes: number): Promise<Uint8Array>;
  write(key: string, content: string | Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
}

export class StorageError extends Error {
  override name = 'StorageError';
  constructor(message: string, readonly notFound = false, options?: { cause?: unknown }) {
    super(message, options);
  }
}
