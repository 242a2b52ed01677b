import { type FileRead, type Listing, type ReadMany, type Storage, type StoredFile, unreadFile } from '../../src/storage/types.js';

/**
 * The storage with `through` applied to every file it reads, whether one at a time (`read`) or
 * in groups (`readMany`, its own or a listing's): to count reads, or to make a file fail or
 * vanish as it is read.
 */
export function readingThrough(storage: Storage, through: (file: FileRead) => FileRead | Promise<FileRead>): Storage {
  const readingThroughOf = (readMany: ReadMany): ReadMany =>
    async function* (keys, maxBytes) {
      for await (const group of readMany(keys, maxBytes)) {
        const changed: FileRead[] = [];
        for (const file of group) changed.push(await through(file));
        yield changed;
      }
    };
  return {
    ...storage,
    async read(key, maxBytes) {
      let file: FileRead;
      try {
        file = { key, ...(await storage.read(key, maxBytes)) };
      } catch (error) {
        file = unreadFile(key, error);
      }
      const result = await through(file);
      if (result.error) throw result.error;
      return { bytes: result.bytes, version: result.version };
    },
    readMany: readingThroughOf(storage.readMany),
    list() {
      const listing = storage.list();
      return { ...listing, [Symbol.asyncIterator]: () => listing[Symbol.asyncIterator](), readMany: readingThroughOf(listing.readMany) };
    },
  };
}

/**
 * The storage with its listing's pages made by `pages` from the real ones (which it should walk:
 * a folder's listing learns then which folder it reads). Reading and accepting stay the real
 * listing's.
 */
export function listingThrough(storage: Storage, pages: (real: AsyncIterable<StoredFile[]>) => AsyncIterable<StoredFile[]>): Storage {
  return {
    ...storage,
    list(): Listing {
      const listing = storage.list();
      return { ...listing, [Symbol.asyncIterator]: () => pages(listing)[Symbol.asyncIterator]() };
    },
  };
}
