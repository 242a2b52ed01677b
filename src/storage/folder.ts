import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { folderFiles, gone, isInside, join, leadsNowhere } from './folderFiles.js';
import { readInThread, startReaderThread, versionsInThread } from './readerThread.js';
import {
  compareKeys,
  conflictOf,
  type FileRead,
  type Listing,
  oneAtATime,
  type Storage,
  StorageError,
  type StoredFile,
  unreadFile,
  WriteConflict,
} from './types.js';

/** Entries looked at per page of a listing; the event loop gets a turn between two pages. */
const pageSize = 1000;

/** From this many files on, `readMany` and `versionsOf` hand the work to the reading thread. */
const threadFrom = 64;

/**
 * A local folder as storage. What may be read, and how, is `folderFiles`'s: links are followed
 * only while they stay inside the folder.
 *
 * Listing and reading use Node's synchronous fs calls (for small files a tenth of the cost of
 * the promise API), and listing yields to the event loop every page so a service stays
 * responsive. The listing takes file types from the directory entries and stats nothing but
 * links: a file's version comes from `versionsOf` (one stat) or `read` (an fstat of the open file),
 * so a file read anyway costs no extra stat. Many files at once — a sync's batch — are read and
 * stat'ed on a thread of their own (`readerThread`): on this kind of machine the system calls of
 * reading a small file cost more than parsing it, and so they run beside the parsing.
 */
export function folderStorage(root: string): Storage {
  const files = folderFiles(root);
  const { base } = files;
  // The storage folder (an `identity()`) where the last listing a sync accepted was taken: the
  // storage's own reads take a file for gone only while the folder is still that one, and none
  // before a listing is accepted or after one is refused (see `Listing`, `FolderFiles.read`).
  let trustedRoot: string | undefined;
  const turns = oneAtATime();

  const readMany = async function* (keys: readonly string[], maxBytes: number, root: string | undefined): AsyncIterable<FileRead[]> {
    if (keys.length >= threadFrom) {
      yield* readInThread(base, root, keys, maxBytes);
      return;
    }
    const group: FileRead[] = [];
    for (const key of keys) {
      try {
        group.push({ key, ...files.read(key, maxBytes, root) });
      } catch (error) {
        group.push(unreadFile(key, error));
      }
    }
    yield group;
  };

  /** The pages of a listing; `taken` learns the folder it walks, before the first page. */
  async function* pages(taken: (rootId: string) => void): AsyncGenerator<StoredFile[]> {
    const realRoot = files.realBase(true);
    const rootId = files.identity();
    taken(rootId);
    startReaderThread();
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
        // Gone while we walked: nothing to list, once the storage folder itself is confirmed
        // to be there, and to be the one listed. Anything else must stop the listing: a folder
        // that cannot be read would otherwise look empty, and its members would be deleted.
        if (gone(error) && dir !== realRoot && files.identity() === rootId) return;
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
          // A link that leads nowhere, or round in a loop, holds no files; one that cannot be
          // resolved for another reason (a stale mount) might.
          let real: string;
          try {
            real = fs.realpathSync.native(full);
          } catch (error) {
            if (leadsNowhere(error)) continue;
            throw new StorageError(`cannot list ${full}: ${(error as Error).message}`, 'unavailable', { cause: error });
          }
          if (!isInside(realRoot, real)) continue;
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
  }

  /**
   * Writes follow links only while they stay inside, as reads do: a folder on the way (or, when it
   * is still to be made, the nearest one there is) that links out of the storage folder is refused.
   */
  async function refuseFolderOutside(key: string, dir: string) {
    let real: string | undefined;
    for (let at = dir; real === undefined; at = path.dirname(at)) {
      real = await fs.promises.realpath(at).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT' && at !== path.dirname(at)) return undefined;
        throw new StorageError(`${key}: cannot resolve ${at}: ${error.message}`, 'unavailable', { cause: error });
      });
    }
    if (!isInside(files.realBase(true), real))
      throw new StorageError(`${key}: its folder links outside the storage folder ${base}; nothing written`, 'unreadable');
  }

  return {
    description: base,

    list(): Listing {
      let listedRoot: string | undefined;
      return {
        [Symbol.asyncIterator]: () => pages((rootId) => (listedRoot = rootId)),
        readMany: (keys, maxBytes) => readMany(keys, maxBytes, listedRoot),
        accept() {
          trustedRoot = listedRoot;
        },
        refuse() {
          trustedRoot = undefined;
        },
      };
    },

    async read(key, maxBytes) {
      return files.read(key, maxBytes, trustedRoot);
    },

    readMany: (keys, maxBytes) => readMany(keys, maxBytes, trustedRoot),

    async versionsOf(keys) {
      // As `read` would see them. A file that cannot be told (a link that leads out, a loop, no
      // permission) is left out, so that it is read, and reported, on its own.
      if (keys.length >= threadFrom) return versionsInThread(base, keys);
      const versions = new Map<string, string>();
      for (const key of keys) {
        const version = files.versionOf(key);
        if (version !== undefined) versions.set(key, version);
      }
      return versions;
    },

    async check() {
      files.realBase(true);
    },

    // The content goes to a temporary file beside the target (a name no listing or watcher takes
    // for a member file), which then replaces the target by rename — or, creating, is linked to
    // its name, which fails if the name is taken: a reader never sees half a file, and a create
    // never overwrites. The version is checked within this service's turn, just before: another
    // program writing the same file in the instant between the check and the rename is the one
    // case not caught (a folder offers no compare-and-swap).
    write: (key, content, condition) =>
      turns(async () => {
        const file = files.pathOf(key);
        const conflict = condition && conflictOf(key, condition, files.versionOf(key));
        if (conflict) throw conflict;
        await refuseFolderOutside(key, path.dirname(file));
        await fs.promises.mkdir(path.dirname(file), { recursive: true });
        const temporary = join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
        await fs.promises.writeFile(temporary, content, { flag: 'wx' });
        try {
          // A file rewritten keeps its permissions.
          const mode = await fs.promises.stat(file).then(
            (stat) => stat.mode & 0o777,
            () => undefined,
          );
          if (mode !== undefined) await fs.promises.chmod(temporary, mode);
          if (condition?.ifAbsent) {
            await fs.promises.link(temporary, file).catch((error: unknown) => {
              throw (error as NodeJS.ErrnoException).code === 'EEXIST' ? new WriteConflict(key, 'exists') : error;
            });
          } else {
            await fs.promises.rename(temporary, file);
          }
        } finally {
          await fs.promises.rm(temporary, { force: true });
        }
      }),

    delete: (key, condition) =>
      turns(async () => {
        const conflict = condition && conflictOf(key, condition, files.versionOf(key));
        if (conflict) throw conflict;
        await refuseFolderOutside(key, path.dirname(files.pathOf(key)));
        await fs.promises.rm(files.pathOf(key), { force: true });
      }),
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
