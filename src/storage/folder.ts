import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { StorageError, type Storage, type StoredFile } from './types.js';

/** Entries stat'ed between two yields to the event loop while listing. */
const listChunk = 256;

/**
 * A local folder as storage. Symbolic links are followed only while they stay inside the
 * folder: a link to /etc/passwd is not a member file.
 *
 * Member files are small and many, and for small files Node's synchronous fs calls cost a tenth
 * of the promise API's (measured: 16 µs against 137 µs per file). So listing and reading use
 * them, and listing yields to the event loop every few hundred entries so a service stays
 * responsive.
 */
export function folderStorage(root: string): Storage {
  const base = path.resolve(root);

  function realBase(): string {
    try {
      return fs.realpathSync.native(base);
    } catch (error) {
      throw new StorageError(`storage folder ${base} cannot be read: ${(error as Error).message}`, false, { cause: error });
    }
  }

  const inside = (realRoot: string, target: string) => target === realRoot || target.startsWith(realRoot + path.sep);

  function pathOf(key: string): string {
    const parts = key.split('/');
    if (key === '' || parts.some((part) => part === '' || part === '.' || part === '..') || key.includes('\\') || key.includes('\0')) {
      throw new StorageError(`invalid key: ${JSON.stringify(key)}`);
    }
    return path.join(base, ...parts);
  }

  const failure = (key: string, error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    return new StorageError(`${key}: ${(error as Error).message}`, code === 'ENOENT' || code === 'ENOTDIR', { cause: error });
  };

  return {
    description: base,

    async *list(): AsyncIterable<StoredFile> {
      const realRoot = realBase();
      const visited = new Set<string>([realRoot]);
      let sinceYield = 0;
      // Depth-first over sorted entries; directories reached through links are visited once.
      const walk = async function* (dir: string, prefix: string): AsyncGenerator<StoredFile> {
        let entries: fs.Dirent[];
        try {
          entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        } catch {
          return;
        }
        for (const entry of entries) {
          if (++sinceYield >= listChunk) {
            sinceYield = 0;
            await yieldToEventLoop();
          }
          const full = path.join(dir, entry.name);
          const key = prefix ? `${prefix}/${entry.name}` : entry.name;
          let target = full;
          if (entry.isSymbolicLink()) {
            const real = tryOr(() => fs.realpathSync.native(full));
            if (!real || !inside(realRoot, real)) continue;
            target = real;
          } else if (!entry.isDirectory() && !entry.isFile()) {
            continue;
          }
          const stat = tryOr(() => fs.statSync(target, { bigint: true }));
          if (!stat) continue;
          if (stat.isDirectory()) {
            if (entry.isSymbolicLink()) {
              if (visited.has(target)) continue;
              visited.add(target);
            }
            yield* walk(full, key);
          } else if (stat.isFile()) {
            yield { key, version: `${stat.ino}:${stat.size}:${stat.mtimeNs}`, size: Number(stat.size) };
          }
        }
      };
      yield* walk(realRoot, '');
    },

    async read(key, maxBytes) {
      const file = pathOf(key);
      let real: string;
      try {
        real = fs.realpathSync.native(file);
      } catch (error) {
        throw failure(key, error);
      }
      if (!inside(realBase(), real)) throw new StorageError(`${key}: links outside the storage folder`, true);
      let fd: number;
      try {
        fd = fs.openSync(real, 'r');
      } catch (error) {
        throw failure(key, error);
      }
      try {
        const size = fs.fstatSync(fd).size;
        // At most maxBytes + 1: enough to tell a file is too large without reading all of it.
        const buffer = Buffer.allocUnsafeSlow(Math.min(size, maxBytes) + 1);
        let length = 0;
        while (length < buffer.length) {
          const n = fs.readSync(fd, buffer, length, buffer.length - length, length);
          if (n === 0) break;
          length += n;
        }
        return buffer.subarray(0, length);
      } finally {
        fs.closeSync(fd);
      }
    },

    async write(key, content) {
      const file = pathOf(key);
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await fs.promises.writeFile(file, content);
    },

    async delete(key) {
      await fs.promises.rm(pathOf(key), { force: true });
    },
  };
}

function tryOr<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
