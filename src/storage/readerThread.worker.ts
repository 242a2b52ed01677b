import { parentPort } from 'node:worker_threads';
import { folderFiles, type FolderFiles } from './folderFiles.js';
import type { ReaderReply, ReaderRequest, WireFile } from './readerThread.js';
import { StorageError } from './types.js';

/**
 * The folder storage's reading thread: opens, stats and reads files, which on this kind of
 * machine costs more than parsing them, while the main thread parses and writes. Answers each
 * request in groups as they fill, the bytes of a group in one transferred buffer.
 */
const groupFiles = 128;
const groupBytes = 256 * 1024;

const folders = new Map<string, FolderFiles>();
const folderAt = (root: string) => folders.get(root) ?? folders.set(root, folderFiles(root)).get(root)!;

parentPort!.on('message', (request: ReaderRequest) => {
  const reply = (message: ReaderReply, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(message, transfer);
  try {
    const folder = folderAt(request.root);
    if (request.op === 'versions') {
      const versions: Array<[string, string]> = [];
      for (const key of request.keys) {
        const version = folder.versionOf(key);
        if (version !== undefined) versions.push([key, version]);
      }
      reply({ id: request.id, done: true, versions });
      return;
    }
    let files: WireFile[] = [];
    let buffer = Buffer.allocUnsafeSlow(groupBytes);
    let used = 0;
    const send = (done: boolean) => {
      const bytes = buffer.buffer.slice(0, used);
      reply({ id: request.id, done, files, bytes }, [bytes]);
      files = [];
      used = 0;
    };
    for (const key of request.keys) {
      try {
        const { bytes, version } = folder.read(key, request.maxBytes);
        if (used + bytes.length > buffer.length && files.length > 0) send(false);
        if (bytes.length > buffer.length) buffer = Buffer.allocUnsafeSlow(bytes.length);
        bytes.copy(buffer, used);
        files.push({ key, start: used, end: used + bytes.length, version });
        used += bytes.length;
      } catch (error) {
        if (!(error instanceof StorageError) || error.failure === 'unavailable') throw error;
        files.push({ key, failure: error.failure, message: error.message });
      }
      if (files.length >= groupFiles) send(false);
    }
    send(true);
  } catch (error) {
    const failure = error instanceof StorageError ? error.failure : 'unavailable';
    reply({ id: request.id, done: true, error: { failure, message: (error as Error).message } });
  }
});
