import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';
import type { EmbeddedCredentials } from './credentials.js';
import { checkSignature } from './signature.js';

/**
 * The embedded DynamoDB-compatible server (dynalite on LevelDB), on a thread of its own: the
 * service's thread answers HTTP while this one stores, as a real DynamoDB would elsewhere.
 *
 * dynalite takes any signature; here every request must be signed with the data folder's access
 * key (credentials.ts), as DynamoDB would require, or it is refused in DynamoDB's own words
 * before dynalite sees it. The port is on 127.0.0.1 only, and that is not a setting.
 */
const { path, credentials } = workerData as { path: string; credentials: EmbeddedCredentials };
const server = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });

/** dynalite's own limit on a request body. */
const maxRequestBytes = 16 * 1024 * 1024;

// The check goes in front of dynalite's own handler, before the server listens.
const [answer] = server.listeners('request') as ((request: IncomingMessage, response: ServerResponse) => void)[];
server.removeAllListeners('request');
server.on('request', (request: IncomingMessage, response: ServerResponse) => {
  const chunks: Buffer[] = [];
  let size = 0;
  request.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= maxRequestBytes) chunks.push(chunk);
  });
  request.on('end', () => {
    if (size > maxRequestBytes) return refuse(response, 413, 'com.amazon.coral.service#RequestEntityTooLarge', 'the request body is larger than 16 MB');
    const body = Buffer.concat(chunks);
    const refusal = checkSignature({ method: request.method ?? '', url: request.url ?? '/', headers: request.headers, body }, credentials);
    if (refusal) return refuse(response, 400, `com.amazon.coral.service#${refusal.type}`, refusal.message);
    // dynalite reads the body from the request's events: it gets the one read here, replayed.
    answer!(
      Object.assign(Readable.from([body], { objectMode: false }), {
        headers: request.headers,
        method: request.method,
        url: request.url,
      }) as unknown as IncomingMessage,
      response,
    );
  });
  request.on('error', () => response.destroy());
});

function refuse(response: ServerResponse, status: number, type: string, message: string): void {
  const body = JSON.stringify({ __type: type, message });
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

server.once('error', (error) => parentPort!.postMessage({ error: (error as Error).message }));
server.listen(0, '127.0.0.1', () => parentPort!.postMessage({ port: (server.address() as { port: number }).port }));
parentPort!.on('message', (message) => {
  if (message === 'stop') server.close(() => process.exit(0));
});
