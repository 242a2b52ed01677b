import { parentPort } from 'node:worker_threads';
import { type FolderFiles, folderFiles } from './folderFiles.js';
import { costOf, type ReaderMessage, type ReaderReply, type WireFile } from './readerProtocol.js';
import { StorageError, unreadFile } from './types.js';

/**
 * The folder storage's reading thread: opens, stats and reads files, which on this kind of
 * machine costs more than parsing them, while the main thread parses and writes. Answers a read
 * in groups, the bytes of a group in one transferred buffer, and stays at most `aheadBytes`
 * ahead of what the main thread has taken: a batch of large files never sits in memory whole.
 */
const groupFiles = 128;
const groupBytes = 256 * 1024;
const aheadBytes = 4 * 1024 * 1024;

const folders = new Map<string, FolderFiles>();
const folderAt = (root: string) => folders.get(root) ?? folders.set(root, folderFiles(root)).get(root)!;

interface Job {
  id: number;
  folder: FolderFiles;
  rootId: string | undefined;
  keys: readonly string[];
  maxBytes: number;
  next: number;
  /** A file read that did not fit the group before: the first of the next. */
  carried?: { key: string; bytes: Buffer; version: string };
  /** Bytes sent and not yet taken. */
  ahead: number;
}
const jobs = new Map<number, Job>();

const reply = (message: ReaderReply, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(message, transfer);

function fail(id: number, error: unknown) {
  jobs.delete(id);
  const failure = error instanceof StorageError ? error.failure : 'unavailable';
  reply({ id, done: true, error: { failure, message: (error as Error).message } });
}

/** Reads on until the job is done or far enough ahead. */
function pump(job: Job) {
  try {
    while (job.ahead < aheadBytes && jobs.has(job.id)) {
      const files: WireFile[] = [];
      let buffer = Buffer.allocUnsafeSlow(groupBytes);
      let used = 0;
      while ((job.carried || job.next < job.keys.length) && files.length < groupFiles) {
        let read = job.carried;
        job.carried = undefined;
        if (!read) {
          const key = job.keys[job.next++]!;
          try {
            read = { key, ...job.folder.read(key, job.maxBytes, job.rootId) };
          } catch (error) {
            const { failure, message } = unreadFile(key, error).error;
            files.push({ key, failure, message });
            continue;
          }
        }
        if (used + read.bytes.length > buffer.length) {
          // A file too large for what is left of this group starts the next, unless the group is empty.
          if (files.length > 0) {
            job.carried = read;
            break;
          }
          buffer = Buffer.allocUnsafeSlow(read.bytes.length);
        }
        read.bytes.copy(buffer, used);
        files.push({ key: read.key, start: used, end: used + read.bytes.length, version: read.version });
        used += read.bytes.length;
      }
      const done = !job.carried && job.next >= job.keys.length;
      const bytes = buffer.buffer.slice(0, used);
      reply({ id: job.id, done, files, bytes }, [bytes]);
      job.ahead += costOf(used);
      if (done) jobs.delete(job.id);
    }
  } catch (error) {
    fail(job.id, error);
  }
}

parentPort!.on('message', (message: ReaderMessage) => {
  switch (message.op) {
    case 'read': {
      const job: Job = {
        id: message.id,
        folder: folderAt(message.root),
        rootId: message.rootId,
        keys: message.keys,
        maxBytes: message.maxBytes,
        next: 0,
        ahead: 0,
      };
      jobs.set(job.id, job);
      pump(job);
      return;
    }
    case 'taken': {
      const job = jobs.get(message.id);
      if (!job) return;
      job.ahead -= message.bytes;
      pump(job);
      return;
    }
    case 'cancel':
      jobs.delete(message.id);
      return;
    case 'versions':
      try {
        const folder = folderAt(message.root);
        const versions: Array<[string, string]> = [];
        for (const key of message.keys) {
          const version = folder.versionOf(key);
          if (version !== undefined) versions.push([key, version]);
        }
        reply({ id: message.id, done: true, versions });
      } catch (error) {
        fail(message.id, error);
      }
  }
});
