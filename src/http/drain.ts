import net from 'node:net';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';

/**
 * How long connections that carry no request are left open once no more are accepted: bytes a
 * client sent just before may still be on their way into the socket, or in it unread.
 */
const graceMs = 250;

/**
 * Closing the server answers every request it has received. Node's `http.Server.close()`
 * destroys, at once, every connection that is between two requests — including one whose next
 * request is already in the socket buffer, unread — and closes the listening socket, which resets
 * the connections still waiting in the kernel's accept queue with their requests; Fastify answers
 * 503 to requests read after closing began. The accept queue matters: Node (libuv) accepts one
 * connection per turn of the event loop, so under load clients wait there for hundreds of
 * milliseconds after their request was sent. Instead, on close:
 * 1. every request read from now on is processed like any other, and every answer says
 *    `Connection: close`, so that each connection ends after the answer it is owed;
 * 2. connections are accepted until a turn of the event loop finds none waiting (or half the
 *    deadline has passed, if clients keep coming), then the listening socket closes;
 * 3. after a short grace, connections still without a request are closed;
 * 4. the rest end as their answers go out — or are cut when `deadlineMs` has passed, so that a
 *    request that never finishes cannot hold the process.
 * (Fastify's `return503OnClosing` must be off; `buildServer` sets it.)
 */
export function drainOnClose(fastify: FastifyInstance, deadlineMs: number): void {
  let draining = false;
  fastify.addHook('onSend', async (_request, reply) => {
    if (draining) reply.header('connection', 'close');
  });
  fastify.addHook('preClose', async () => {
    const server = fastify.server;
    if (!server.listening) return;
    draining = true;
    const started = Date.now();
    let accepted = 0;
    const count = () => void accepted++;
    server.on('connection', count);
    // Two turns have a poll of the sockets between them: one that accepts nothing means the
    // accept queue was empty.
    for (let before = -1; before !== accepted && Date.now() - started < deadlineMs / 2; ) {
      before = accepted;
      await nextTurn();
      await nextTurn();
    }
    server.off('connection', count);
    // The listening socket only: http.Server.close() would also close the idle connections now.
    const drained = new Promise<void>((resolve) => net.Server.prototype.close.call(server, () => resolve()));
    // What the last connections accepted sent is read on the next turns.
    await nextTurn();
    await nextTurn();
    await sleep(graceMs);
    server.closeIdleConnections();
    const cut = setTimeout(
      () => {
        fastify.log.warn({ deadlineMs }, 'requests still unanswered when the shutdown deadline passed: their connections are cut');
        server.closeAllConnections();
      },
      Math.max(0, started + deadlineMs - Date.now()),
    );
    await drained;
    clearTimeout(cut);
  });
}
