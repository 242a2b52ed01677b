import type { Worker } from 'node:worker_threads';
import { startWorker } from '../workerThread.js';
import { StorageError, type FileRead, type StorageFailure } from './types.js';

/** What the main thread asks of the reading thread: files of the folder `root` read, or their versions. */
type Ask = { root: string; keys: readonly string[] } & ({ op: 'read'; maxBytes: number } | { op: 'versions' });
export type ReaderRequest = Ask & { id: number };

/** A file read, its bytes at [start, end) of the group's buffer; or why it could not be read. */
export type WireFile = { key: string; start: number; end: number; version: string } | { key: string; failure: StorageFailure; message: string };

/** One answer to a request: a group of files, versions, or the failure that stopped it. */
export interface ReaderReply {
  id: number;
  /** The last answer to this request. */
  done: boolean;
  files?: WireFile[];
  bytes?: ArrayBuffer;
  versions?: Array<[string, string]>;
  error?: { failure: StorageFailure; message: string };
}

interface Inbox {
  replies: ReaderReply[];
  wake?: () => void;
}

/**
 * One reading thread per process, shared by every folder storage: started when first asked,
 * holding the process open only while it has work, started again if it ever stops.
 */
let thread: { worker: Worker; inboxes: Map<number, Inbox> } | undefined;
let lastId = 0;

function readerThread() {
  if (thread) return thread;
  const worker = startWorker(import.meta.url, 'readerThread.worker');
  const current = { worker, inboxes: new Map<number, Inbox>() };
  const deliver = (reply: ReaderReply) => {
    const inbox = current.inboxes.get(reply.id);
    if (!inbox) return;
    inbox.replies.push(reply);
    inbox.wake?.();
  };
  const stop = (message: string) => {
    if (thread === current) thread = undefined;
    for (const id of current.inboxes.keys()) deliver({ id, done: true, error: { failure: 'unavailable', message } });
  };
  worker.on('message', deliver);
  worker.on('error', (error) => stop(`the reading thread failed: ${error.message}`));
  worker.on('exit', (code) => stop(`the reading thread stopped (exit code ${code})`));
  worker.unref();
  thread = current;
  return current;
}

/**
 * Starts the reading thread ahead of its first request: starting takes longer than reading a
 * batch (60–80 ms here), and a listing is about to be followed by reads.
 */
export function startReaderThread(): void {
  readerThread();
}

/** Sends a request to the reading thread and answers its replies as they come. */
async function* ask(request: Ask): AsyncGenerator<ReaderReply> {
  const { worker, inboxes } = readerThread();
  const id = ++lastId;
  const inbox: Inbox = { replies: [] };
  inboxes.set(id, inbox);
  // The thread holds the process open only while someone waits for it.
  if (inboxes.size === 1) worker.ref();
  try {
    const message: ReaderRequest = { ...request, id };
    worker.postMessage(message);
    for (;;) {
      if (inbox.replies.length === 0) await new Promise<void>((resolve) => (inbox.wake = resolve));
      const reply = inbox.replies.shift()!;
      if (reply.error) throw new StorageError(reply.error.message, reply.error.failure);
      yield reply;
      if (reply.done) return;
    }
  } finally {
    inboxes.delete(id);
    if (inboxes.size === 0) worker.unref();
  }
}

/** Reads files of the folder `root` on the reading thread, a group at a time. */
export async function* readInThread(root: string, keys: readonly string[], maxBytes: number): AsyncIterable<FileRead[]> {
  for await (const reply of ask({ op: 'read', root, keys, maxBytes })) {
    const bytes = new Uint8Array(reply.bytes ?? new ArrayBuffer(0));
    yield (reply.files ?? []).map((file) =>
      'failure' in file
        ? { key: file.key, error: new StorageError(file.message, file.failure) }
        : { key: file.key, bytes: bytes.subarray(file.start, file.end), version: file.version },
    );
  }
}

/** The versions of files of the folder `root`, told on the reading thread. */
export async function versionsInThread(root: string, keys: readonly string[]): Promise<Map<string, string>> {
  const versions = new Map<string, string>();
  for await (const reply of ask({ op: 'versions', root, keys })) {
    for (const [key, version] of reply.versions ?? []) versions.set(key, version);
  }
  return versions;
}
