import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { human, tempDir, writeFiles } from '../helpers/files.js';
import { type ServeProcess, spawnServe } from '../helpers/serveProcess.js';
import { eventually, get } from '../helpers/service.js';

/** Tests that start `vecr serve` (PGlite, dynalite) may wait long on a busy machine; nothing here is timed. */
const processTimeout = 180_000;

/** One request as a client saw it: whether its bytes were out before the signal, and what came back. */
interface Exchange {
  label: string;
  writtenBeforeSignal: boolean;
  answeredBeforeSignal: boolean;
  status?: number;
  error?: string;
}

/**
 * Clients in tight loops against a real `vecr serve` process; SIGTERM mid-load. A request counts
 * as written before the signal when the kernel took all its bytes (nothing left queued in Node)
 * before `kill()` was called: they were in the server's socket, or its accept queue, by then.
 */
describe('vecr serve stopped by SIGTERM under load', () => {
  let serve: ServeProcess | undefined;
  let work: Awaited<ReturnType<typeof tempDir>> | undefined;
  afterEach(async () => {
    await serve?.kill();
    await work?.remove();
  });

  it(
    'answers every request received before the signal, on kept-alive connections, and exits 0',
    async () => {
      work = await tempDir();
      await writeFiles(work.dir, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`storage/human_members/p${i}.yml`, human(`Person ${i}`)])));
      serve = await spawnServe({
        VECR_DATA_DIR: path.join(work.dir, 'data'),
        VECR_STORAGE: path.join(work.dir, 'storage'),
        VECR_RECONCILE_INTERVAL: '0',
        VECR_WATCH: 'false',
        LOG_LEVEL: 'warn',
      });
      const { url } = serve;
      await eventually(async () => expect((await get(`${url}/ready`)).status).toBe(200), 30_000);

      const exchanges: Exchange[] = [];
      let signalled = false;
      let answered = 0;
      let warm: () => void;
      const warmedUp = new Promise<void>((resolve) => (warm = resolve));
      const { port } = new URL(url);
      const body = JSON.stringify({ session_id: 'load' });
      const requests = [
        { label: 'GET members', bytes: `GET /api/members/human?limit=5 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n` },
        { label: 'GET sync status', bytes: `GET /api/sync/status HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n` },
        { label: 'GET health', bytes: `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n` },
        {
          label: 'POST session',
          bytes: `POST /api/chat/sessions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        },
      ];

      const clients = Array.from({ length: 24 }, async (_, client) => {
        // Each client keeps one connection busy, one request after another (no pipelining), and
        // opens another when the server closes it; after the signal it stops when its connection ends.
        for (let i = client; !signalled; ) {
          const connection = await HttpConnection.open(Number(port)).catch(() => undefined);
          if (!connection) break;
          for (;;) {
            const request = requests[i++ % requests.length]!;
            const exchange: Exchange = { label: request.label, writtenBeforeSignal: false, answeredBeforeSignal: false };
            exchanges.push(exchange);
            exchange.writtenBeforeSignal = connection.write(request.bytes) && !signalled;
            const answer = await connection.response();
            if ('status' in answer) {
              exchange.status = answer.status;
              exchange.answeredBeforeSignal = !signalled;
              if (++answered === 300) warm();
            } else exchange.error = answer.error;
            if (!('status' in answer) || answer.close) break;
          }
          connection.destroy();
        }
      });
      // Clients of another kind open a connection per request, as curl or a relay does: such a
      // request can be waiting in the server's accept queue when the signal comes.
      const oneShot = Array.from({ length: 24 }, async (_, client) => {
        for (let i = client; ; i++) {
          const connection = await HttpConnection.open(Number(port)).catch(() => undefined);
          if (!connection) break;
          const request = requests[i % requests.length]!;
          const exchange: Exchange = { label: `${request.label} (new connection)`, writtenBeforeSignal: false, answeredBeforeSignal: false };
          exchanges.push(exchange);
          exchange.writtenBeforeSignal = connection.write(request.bytes) && !signalled;
          const answer = await connection.response();
          connection.destroy();
          if ('status' in answer) {
            exchange.status = answer.status;
            exchange.answeredBeforeSignal = !signalled;
          } else exchange.error = answer.error;
          if (signalled) break;
        }
      });
      await warmedUp;
      signalled = true;
      serve.child.kill('SIGTERM');
      await Promise.all([...clients, ...oneShot]);

      // The load was real: requests of both kinds were on their way when the signal came.
      const inFlightAtSignal = exchanges.filter((e) => e.writtenBeforeSignal && !e.answeredBeforeSignal);
      expect(inFlightAtSignal.filter((e) => e.label.endsWith('(new connection)')).length).toBeGreaterThan(0);
      expect(inFlightAtSignal.filter((e) => !e.label.endsWith('(new connection)')).length).toBeGreaterThan(0);
      // Each of them got its answer; and whatever was answered got a real one (no 503 for closing).
      const unanswered = exchanges.filter((e) => e.writtenBeforeSignal && e.status === undefined).map(({ label, error }) => ({ label, error }));
      expect(unanswered).toEqual([]);
      const notServed = exchanges.filter((e) => e.status !== undefined && e.status !== 200).map(({ label, status }) => ({ label, status }));
      expect(notServed).toEqual([]);
      expect(await serve.exited).toBe(0);
    },
    processTimeout,
  );

  it(
    'cuts a request that does not finish once VECR_SHUTDOWN_TIMEOUT has passed, and exits 0',
    async () => {
      work = await tempDir();
      await writeFiles(work.dir, { 'storage/human_members/rin.yml': human('Rin') });
      serve = await spawnServe({
        VECR_DATA_DIR: path.join(work.dir, 'data'),
        VECR_STORAGE: path.join(work.dir, 'storage'),
        VECR_RECONCILE_INTERVAL: '0',
        VECR_WATCH: 'false',
        VECR_SHUTDOWN_TIMEOUT: '1s',
        VECR_REQUEST_TIMEOUT: '10m',
        LOG_LEVEL: 'warn',
      });
      // A body of a million bytes sent a byte at a time: without the deadline, the process would
      // wait for it (the request timeout is ten minutes here).
      const connection = await HttpConnection.open(Number(new URL(serve.url).port));
      connection.write(`POST /api/chat/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{`);
      const trickle = setInterval(() => connection.write(' '), 100);
      try {
        serve.child.kill('SIGTERM');
        expect(await serve.exited).toBe(0);
        expect(await connection.response()).toEqual({ error: expect.any(String) });
        expect(serve.output()).toContain('requests still unanswered when the shutdown deadline passed');
      } finally {
        clearInterval(trickle);
        connection.destroy();
      }
    },
    processTimeout,
  );
});

/**
 * One HTTP/1.1 connection on a raw socket, so that the test knows exactly when a request's bytes
 * left: `write` reports whether the kernel took all of them at once (nothing left queued in Node).
 */
class HttpConnection {
  private buffer = Buffer.alloc(0);
  private waiting: ((answer: { status: number; close: boolean } | { error: string }) => void) | undefined;
  private failure: string | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.deliver();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => this.fail(error.code ?? error.message));
    socket.on('close', () => this.fail('closed without an answer'));
  }

  static open(port: number): Promise<HttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(new HttpConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends the bytes; true when all of them were handed to the kernel before this returned. */
  write(bytes: string): boolean {
    this.socket.write(bytes);
    return this.socket.writableLength === 0 && !this.failure;
  }

  response(): Promise<{ status: number; close: boolean } | { error: string }> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.deliver();
    });
  }

  destroy() {
    this.socket.destroy();
  }

  private deliver() {
    if (!this.waiting) return;
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end >= 0) {
      const head = this.buffer.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (this.buffer.length >= end + 4 + length) {
        this.buffer = this.buffer.subarray(end + 4 + length);
        const resolve = this.waiting;
        this.waiting = undefined;
        resolve({ status: Number(head.split(' ')[1]), close: /\r\nconnection: *close/i.test(head) });
        return;
      }
    }
    if (this.failure) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ error: this.failure });
    }
  }

  private fail(reason: string) {
    this.failure ??= reason;
    this.deliver();
  }
}
