import fs from 'node:fs/promises';
import path from 'node:path';
import { StorageError, type Storage, type StoredFile } from './types.js';

/**
 * A local folder as storage. Symbolic links are followed only while they stay inside the
 * folder: a link to /etc/passwd is not a member file.
 */
export function folderStorage(root: string): Storage {
  const base = path.resolve(root);

  async function realBase(): Promise<string> {
    try {
      return await fs.realpath(base);
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

  /** The real path of a key's file, refused when a link leads outside the folder. */
  async function resolveInside(key: string): Promise<string> {
    const realRoot = await realBase();
    let real: string;
    try {
      real = await fs.realpath(pathOf(key));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new StorageError(`${key}: ${(error as Error).message}`, code === 'ENOENT' || code === 'ENOTDIR', { cause: error });
    }
    if (!inside(realRoot, real)) throw new StorageError(`${key}: links outside the storage folder`, true);
    return real;
  }

  return {
    description: base,

    async *list(): AsyncIterable<StoredFile> {
      const realRoot = await realBase();
      const visited = new Set<string>([realRoot]);
      // Depth-first over sorted entries; directories reached through links are visited once.
      const walk = async function* (dir: string, prefix: string): AsyncGenerator<StoredFile> {
        let entries: string[];
        try {
          entries = (await fs.readdir(dir)).sort();
        } catch {
          return;
        }
        for (const name of entries) {
          const full = path.join(dir, name);
          const key = prefix ? `${prefix}/${name}` : name;
          let stat = await fs.lstat(full, { bigint: true }).catch(() => undefined);
          if (stat?.isSymbolicLink()) {
            const real = await fs.realpath(full).catch(() => undefined);
            if (!real || !inside(realRoot, real)) continue;
            stat = await fs.stat(real, { bigint: true }).catch(() => undefined);
            if (stat?.isDirectory()) {
              if (visited.has(real)) continue;
              visited.add(real);
            }
          }
          if (!stat) continue;
          if (stat.isDirectory()) yield* walk(full, key);
          else if (stat.isFile()) yield { key, version: `${stat.ino}:${stat.size}:${stat.mtimeNs}`, size: Number(stat.size) };
        }
      };
      yield* walk(realRoot, '');
    },

    async read(key, maxBytes) {
      const real = await resolveInside(key);
      const handle = await fs.open(real, 'r').catch((error: NodeJS.ErrnoException) => {
        throw new StorageError(`${key}: ${error.message}`, error.code === 'ENOENT', { cause: error });
      });
      try {
        const { size } = await handle.stat();
        if (size <= maxBytes) return await handle.readFile();
        const buffer = Buffer.alloc(maxBytes + 1);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    },

    async write(key, content) {
      const file = pathOf(key);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file, content);
    },

    async delete(key) {
      await fs.rm(pathOf(key), { force: true });
    },
  };
}
