import http from 'node:http';
import type net from 'node:net';

/**
 * What the proxy does to requests: pass them on; answer 500 (S3's InternalError); never answer
 * (a network that swallows packets); or pass the answer's head and first bytes, then hold the
 * rest (a body that stalls halfway); or refuse HEAD requests (403), as a policy that grants
 * listing a prefix and reading its objects, and nothing else, does.
 */
export type S3Fault = 'none' | 'error' | 'stall' | 'stall-body' | 'refuse-head';

/**
 * An HTTP proxy in front of an S3 server that a test can make fail, request by request: the
 * way to see the bucket answer 500 or time out without touching the server behind. Requests are
 * passed with their headers as they are (their Host too, which their signature covers).
 */
export async function startS3Faults(target: string) {
  let fault: S3Fault = 'none';
  const sockets = new Set<net.Socket>();
  const server = http.createServer((request, response) => {
    if (fault === 'error') {
      request.resume();
      response.writeHead(500, { 'content-type': 'application/xml' });
      response.end(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>',
      );
      return;
    }
    if (fault === 'refuse-head' && request.method === 'HEAD') {
      request.resume();
      response.writeHead(403).end();
      return;
    }
    if (fault === 'stall') {
      request.resume();
      return;
    }
    const stallBody = fault === 'stall-body';
    const upstream = http.request(new URL(request.url ?? '/', target), { method: request.method, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      if (!stallBody) {
        answer.pipe(response);
        return;
      }
      answer.once('data', (chunk: Buffer) => {
        response.write(chunk.subarray(0, Math.max(1, chunk.length >> 1)));
        answer.destroy();
      });
    });
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    set fault(value: S3Fault) {
      fault = value;
    },
    get fault() {
      return fault;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
