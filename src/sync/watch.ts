import path from 'node:path';
import { watch } from 'chokidar';
import { memberKindOf, unusableKey } from '../members/paths.js';
import type { FileChange } from './registrar.js';

export interface FolderWatch {
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Watches a storage folder and reports changed member files in small groups (a file saved by an
 * editor fires several events). Each change only names the file: the registrar reads it to see
 * whether it is there, so creates, edits, renames and deletes take the same path. A folder
 * appearing or disappearing calls `onFolderChange`, for a full sync.
 */
export function watchFolder(
  root: string,
  onChanges: (changes: FileChange[]) => void,
  onFolderChange: () => void,
  onError: (error: unknown) => void,
  options: { settleMs?: number } = {},
): FolderWatch {
  const settleMs = options.settleMs ?? 100;
  const pending = new Map<string, FileChange>();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const changes = [...pending.values()];
    pending.clear();
    if (changes.length > 0) onChanges(changes);
  };
  const onFile = (file: string) => {
    const key = path.relative(root, file).split(path.sep).join('/');
    const kind = memberKindOf(key);
    // As from a listing or an event: a key no row can hold is never registered (a sync reports it).
    if (!kind || unusableKey(key)) return;
    pending.set(key, { key, kind });
    timer ??= setTimeout(flush, settleMs);
  };

  const watcher = watch(root, {
    ignoreInitial: true,
    followSymlinks: false,
    ignored: (file, stats) => stats?.isFile() === true && !/\.ya?ml$/i.test(file),
  });
  watcher.on('add', onFile).on('change', onFile).on('unlink', onFile);
  watcher.on('addDir', onFolderChange).on('unlinkDir', onFolderChange);
  // Out of inotify watches, a folder that cannot be read: keep running; a full sync heals.
  watcher.on('error', (error) => onError(error));
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return {
    ready,
    async close() {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
