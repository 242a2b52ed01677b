import { unreadFile, type FileRead, type Storage } from '../../src/storage/types.js';

/**
 * The storage with `through` applied to every file it reads, whether one at a time (`read`) or
 * in groups (`readMany`): to count reads, or to make a file fail or vanish as it is read.
 */
export function readingThrough(storage: Storage, through: (file: FileRead) => FileRead | Promise<FileRead>): Storage {
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
    async *readMany(keys, maxBytes) {
      for await (const group of storage.readMany(keys, maxBytes)) {
        const changed: FileRead[] = [];
        for (const file of group) changed.push(await through(file));
        yield changed;
      }
    },
  };
}
