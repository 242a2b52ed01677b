import type { Worker } from 'node:worker_threads';
import { startWorker } from '../workerThread.js';
import { costOf, type ReaderMessage, type ReaderReply } from './readerProtocol.js';
import { type FileRead, StorageError } from './types.js';

interface Inbox {
  replies: ReaderReply[];
  wake?: () => void;
}

/**
 * One reading thread per process, shared by every folder storage: started when first asked,
 * holding the process open only while someone waits for it, started again if it ever stops.
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
  // Whatever stops the thread fails what waits for it: nothing hangs.
  const stop = (message: string) => {
    if (thread === current) thread = undefined;
    for (const id of current.inboxes.keys()) deliver({ id, done: true, error: { failure: 'unavailable', message } });
    void worker.terminate();
  };
  worker.on('message', deliver);
  worker.on('messageerror', (error) => stop(`a reply of the reading thread could not be read: ${error.message}`));
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

/**
 * Sends a request to the reading thread and answers its replies as they come. Each reply taken
 * lets the thread read further ahead; a caller that stops early (leaving its `for await`)
 * cancels the rest.
 */
async function* ask(request: Extract<ReaderMessage, { op: 'read' | 'versions' }>): AsyncGenerator<ReaderReply> {
  const { worker, inboxes } = readerThread();
  const inbox: Inbox = { replies: [] };
  inboxes.set(request.id, inbox);
  if (inboxes.size === 1) worker.ref();
  let done = false;
  try {
    worker.postMessage(request);
    while (!done) {
      if (inbox.replies.length === 0) await new Promise<void>((resolve) => (inbox.wake = resolve));
      const reply = inbox.replies.shift()!;
      done = reply.done;
      if ('error' in reply) throw new StorageError(reply.error.message, reply.error.failure);
      // Counted before the caller has the buffer, which it may transfer or let go.
      const cost = 'bytes' in reply ? costOf(reply.bytes.byteLength) : 0;
      yield reply;
      if (cost > 0 && !done) worker.postMessage({ op: 'taken', id: request.id, bytes: cost } satisfies ReaderMessage);
    }
  } finally {
    inboxes.delete(request.id);
    if (!done) worker.postMessage({ op: 'cancel', id: request.id } satisfies ReaderMessage);
    if (inboxes.size === 0) worker.unref();
  }
}

/** Reads files of the folder `root` on the reading thread, a group at a time. */
export async function* readInThread(root: string, rootId: string | undefined, keys: readonly string[], maxBytes: number): AsyncIterable<FileRead[]> {
  for await (const reply of ask({ op: 'read', id: ++lastId, root, rootId, keys, maxBytes })) {
    if (!('files' in reply)) continue;
    const bytes = new Uint8Array(reply.bytes);
    yield reply.files.map((file) =>
      'failure' in file
        ? { key: file.key, error: new StorageError(file.message, file.failure) }
        : { key: file.key, bytes: bytes.subarray(file.start, file.end), version: file.version },
    );
  }
}

/** The versions of files of the folder `root`, told on the reading thread. */
export async function versionsInThread(root: string, keys: readonly string[]): Promise<Map<string, string>> {
  const versions = new Map<string, string>();
  for await (const reply of ask({ op: 'versions', id: ++lastId, root, keys })) {
    if ('versions' in reply) for (const [key, version] of reply.versions) versions.set(key, version);
  }
  return versions;
}
