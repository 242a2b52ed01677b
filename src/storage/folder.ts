import { isUtf8 } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { compareKeys, StorageError, type Storage, type StorageFailure, type StoredFile } from './types.js';

/** Entries looked at per page of a listing; the event loop gets a turn between two pages. */
const pageSize = 1000;

/**
 * A local folder as storage. Symbolic links are followed only while they stay inside the
 * folder: a link to /etc/passwd is not a member file.
 *
 * Member files are small and many, and for small files Node's synchronous fs calls cost a tenth
 * of the promise API's (measured: 16 µs against 137 µs per file). So listing and reading use
 * them, and listing yields to the event loop every few hundred entries so a service stays
 * responsive. The listing takes file types from the directory entries and stats nothing but
 * links: a file's version comes from `versionsOf` (one stat) or `read` (an fstat of the open file),
 * so a file read anyway costs no extra stat.
 */
export function folderStorage(root: string): Storage {
  const base = path.resolve(root);

  let knownRoot: { real: string; at: number } | undefined;
  function realBase(): string {
    if (knownRoot && Date.now() - knownRoot.at < 1000) return knownRoot.real;
    try {
      knownRoot = { real: fs.realpathSync.native(base), at: Date.now() };
      return knownRoot.real;
    } catch (error) {
      throw new StorageError(`storage folder ${base} cannot be read: ${(error as Error).message}`, 'unavailable', { cause: error });
    }
  }

  const inside = (realRoot: string, target: string) => target === realRoot || target.startsWith(realRoot + path.sep);

  function pathOf(key: string): string {
    const parts = key.split('/');
    if (key === '' || parts.some((part) => part === '' || part === '.' || part === '..') || key.includes('\0')) {
      throw new StorageError(`invalid key: ${JSON.stringify(key)}`, 'unreadable');
    }
    // The parts are plain names, so joining them needs no normalising.
    return join(base, parts.join(path.sep));
  }

  // A sync reads thousands of files from the same few folders: resolving a folder's real path
  // for each file would cost more than reading it, so the answer is kept for a second.
  const folderIsInside = rememberFor(1000, (dir: string) => inside(realBase(), fs.realpathSync.native(dir)));

  const failure = (key: string, error: unknown) => new StorageError(`${key}: ${(error as Error).message}`, failureOf(error), { cause: error });

  return {
    description: base,

    async *list(): AsyncIterable<StoredFile[]> {
      const realRoot = realBase();
      const visited = new Set<string>([realRoot]);
      let page: StoredFile[] = [];
      let examined = 0;
      // Depth-first; directories reached through links are visited once. A folder's entries are
      // sorted as their keys sort — a folder `a` as `a/`, after `a-b.yml` — so that the whole
      // listing comes in key order.
      const walk = async function* (dir: string, prefix: string): AsyncGenerator<StoredFile[]> {
        let dirents: DirEntry[];
        try {
          dirents = entriesOf(dir);
        } catch (error) {
          // Gone while we walked: nothing to list. Anything else must stop the listing: a folder
          // that cannot be read would otherwise look empty, and its members would be deleted.
          if (gone(error)) return;
          throw new StorageError(`cannot list ${dir}: ${(error as Error).message}`, 'unavailable', { cause: error });
        }
        const entries: Array<{ name: string; order: string; folder?: { path: string; linkedTo?: string } }> = [];
        for (const entry of dirents) {
          const { name } = entry;
          if (entry.isFile()) {
            entries.push({ name, order: name });
            continue;
          }
          const full = join(dir, name);
          let target = full;
          if (entry.isSymbolicLink()) {
            const real = tryOr(() => fs.realpathSync.native(full));
            if (!real || !inside(realRoot, real)) continue;
            target = real;
          } else if (!entry.isDirectory()) {
            continue;
          }
          let stat: fs.Stats;
          try {
            stat = fs.statSync(target);
          } catch (error) {
            if (gone(error)) continue;
            throw new StorageError(`cannot list ${full}: ${(error as Error).message}`, 'unavailable', { cause: error });
          }
          if (stat.isDirectory()) {
            entries.push({ name, order: `${name}/`, folder: entry.isSymbolicLink() ? { path: full, linkedTo: target } : { path: full } });
          } else if (stat.isFile()) {
            entries.push({ name, order: name });
          }
        }
        entries.sort((a, b) => compareKeys(a.order, b.order));
        for (const entry of entries) {
          if (++examined > pageSize) {
            if (page.length > 0) yield page;
            page = [];
            examined = 1;
            await yieldToEventLoop();
          }
          const key = prefix ? `${prefix}/${entry.name}` : entry.name;
          if (!entry.folder) {
            page.push({ key });
            continue;
          }
          const { linkedTo } = entry.folder;
          if (linkedTo !== undefined) {
            if (visited.has(linkedTo)) continue;
            visited.add(linkedTo);
          }
          yield* walk(entry.folder.path, key);
        }
      };
      yield* walk(realRoot, '');
      if (page.length > 0) yield page;
    },

    async read(key, maxBytes) {
      const file = pathOf(key);
      const realRoot = realBase();
      // The folders on the way must lead to a place inside the storage folder...
      if (!folderIsInside(path.dirname(file))) {
        throw new StorageError(`${key}: links outside the storage folder`, 'not_found');
      }
      // ...and so must the file: opened without following a link, a link is resolved and checked.
      let fd: number;
      try {
        fd = openNoFollow(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ELOOP') throw failure(key, error);
        const real = tryOr(() => fs.realpathSync.native(file));
        if (!real || !inside(realRoot, real)) throw new StorageError(`${key}: links outside the storage folder`, 'not_found');
        try {
          fd = fs.openSync(real, 'r');
        } catch (inner) {
          throw failure(key, inner);
        }
      }
      try {
        const stat = fs.fstatSync(fd, { bigint: true });
        // At most maxBytes + 1: enough to tell a file is too large without reading all of it.
        const wanted = Math.min(Number(stat.size), maxBytes + 1);
        const buffer = Buffer.allocUnsafeSlow(wanted);
        let length = 0;
        while (length < wanted) {
          const n = fs.readSync(fd, buffer, length, wanted - length, length);
          if (n === 0) break;
          length += n;
        }
        return { bytes: buffer.subarray(0, length), version: versionFromStat(stat) };
      } finally {
        fs.closeSync(fd);
      }
    },

    async versionsOf(keys) {
      // As `read` would see them: through links only while they stay inside the folder. A file
      // that cannot be told (a link that leads out, a loop, no permission) is left out, so that
      // it is read, and reported, on its own.
      const versions = new Map<string, string>();
      for (const key of keys) {
        try {
          const file = pathOf(key);
          if (!folderIsInside(path.dirname(file))) continue;
          let stat = fs.lstatSync(file, { bigint: true });
          if (stat.isSymbolicLink()) {
            const real = fs.realpathSync.native(file);
            if (!inside(realBase(), real)) continue;
            stat = fs.statSync(real, { bigint: true });
          }
          versions.set(key, versionFromStat(stat));
        } catch (error) {
          const problem = error instanceof StorageError ? error : failure(key, error);
          if (problem.failure === 'unavailable') throw problem;
        }
      }
      return versions;
    },

    async check() {
      realBase();
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

type DirEntry = Pick<fs.Dirent, 'name' | 'isFile' | 'isDirectory' | 'isSymbolicLink'>;

/**
 * A folder's entries whose names are UTF-8. Node decodes names as UTF-8, with U+FFFD for bytes
 * that are not; such a name cannot be a key (an object store's keys are UTF-8): decoded, it
 * names no file, or the same key as another name. Only then are the raw names read.
 */
function entriesOf(dir: string): DirEntry[] {
  const entries = fs.readdirSync(dir, { withFileTypes: true });
  if (!entries.some((entry) => entry.name.includes('\uFFFD'))) return entries;
  return fs
    .readdirSync(dir, { withFileTypes: true, encoding: 'buffer' })
    .filter((entry) => isUtf8(entry.name))
    .map((entry) => ({
      name: entry.name.toString(),
      isFile: () => entry.isFile(),
      isDirectory: () => entry.isDirectory(),
      isSymbolicLink: () => entry.isSymbolicLink(),
    }));
}

/** Two paths joined; `dir` is absolute and `name` holds no `.` or `..` parts, so nothing to normalise. */
const join = (dir: string, name: string) => (dir.endsWith(path.sep) ? dir + name : dir + path.sep + name);

const gone = (error: unknown) => ['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '');

/** Gone, this file's own problem (permissions, a folder where a file was), or the disk failing. */
function failureOf(error: unknown): StorageFailure {
  if (gone(error)) return 'not_found';
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return ['EACCES', 'EPERM', 'EISDIR', 'ELOOP', 'ENAMETOOLONG'].includes(code) ? 'unreadable' : 'unavailable';
}

/** Changes whenever the content may have: a rewrite, an edit, or a file saved by rename. */
const versionFromStat = (stat: fs.BigIntStats) => `${stat.ino}:${stat.size}:${stat.mtimeNs}`;

const openNoFollow = (file: string) => fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);

/** `check` with its answers kept for `ttlMs`; a check that throws answers false. */
function rememberFor(ttlMs: number, check: (key: string) => boolean): (key: string) => boolean {
  const answers = new Map<string, { value: boolean; at: number }>();
  return (key) => {
    const now = Date.now();
    const known = answers.get(key);
    if (known && now - known.at < ttlMs) return known.value;
    const value = tryOr(() => check(key)) ?? false;
    answers.set(key, { value, at: now });
    return value;
  };
}

function tryOr<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
