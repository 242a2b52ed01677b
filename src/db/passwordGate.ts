import crypto from 'node:crypto';
import type net from 'node:net';
import { promisify } from 'node:util';

/**
 * Password authentication for the embedded database's PostgreSQL port.
 *
 * PGlite, served by pglite-socket, answers every startup message with AuthenticationOk: whoever
 * reaches the port would be a superuser. This gate stands in front of pglite-socket's listener.
 * It reads the startup message itself (answering 'N' to SSL and GSS encryption requests), runs
 * SCRAM-SHA-256 as PostgreSQL does (RFC 5802 and 7677; node-postgres and libpq speak it, and the
 * password never crosses the wire), and only then hands the socket over with the startup
 * message put back in front of what it reads, so that PGlite answers AuthenticationOk and the
 * session goes on exactly as before: pglite-socket's queue, which keeps each connection's
 * transaction to itself, and its connection limit are untouched. A wrong password gets an
 * ErrorResponse (28P01) and the socket is closed.
 */

/** What the server keeps of the password (as PostgreSQL's pg_authid does): enough to check a proof, not to make one. */
export interface ScramVerifier {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** PostgreSQL's own default (scram_iterations). */
const iterations = 4096;

export async function scramVerifier(password: string): Promise<ScramVerifier> {
  // SASLprep leaves printable ASCII as it is, and the embedded passwords are base64url.
  if (!/^[\x21-\x7e]+$/.test(password)) throw new Error('the embedded database password must be printable ASCII');
  const salt = crypto.randomBytes(16);
  const salted = await promisify(crypto.pbkdf2)(password, salt, iterations, 32, 'sha256');
  return { salt, iterations, storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key') };
}

export interface PasswordGate {
  /** Closes the connections not handed over (a server does not close while any is open). */
  close(): void;
}

/**
 * Puts the gate in front of every listener `server` has for new connections (pglite-socket's).
 * Call it as soon as the server listens, before the event loop can accept a connection.
 */
export function requirePassword(server: net.Server, verifier: ScramVerifier, options: { user: string; timeoutMs?: number }): PasswordGate {
  const passOn = server.listeners('connection') as ((socket: net.Socket) => void)[];
  server.removeAllListeners('connection');
  const authenticating = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    // Errors end in 'close', which the reader handles; without a listener, one emitted between
    // the hand-over and pglite-socket attaching its own would crash the process.
    socket.on('error', () => {});
    // Slots are few (the server's connection limit): a client that does not finish, or that
    // was refused and keeps its end open, is let go.
    const timer = setTimeout(() => socket.destroy(), options.timeoutMs ?? 30_000).unref();
    authenticating.add(socket);
    const letGo = () => {
      clearTimeout(timer);
      authenticating.delete(socket);
    };
    socket.once('close', letGo);
    authenticate(socket, verifier, options.user).then(
      (admitted) => {
        if (!admitted) return;
        socket.off('close', letGo);
        letGo();
        for (const listener of passOn) listener(socket);
      },
      () => socket.destroy(),
    );
  });
  return {
    close() {
      for (const socket of authenticating) socket.destroy();
    },
  };
}

const protocolVersion3 = 196608;
const sslRequestCode = 80877103;
const gssEncryptionRequestCode = 80877104;
const cancelRequestCode = 80877102;
/** PostgreSQL refuses longer startup packets (MAX_STARTUP_PACKET_LENGTH) too. */
const maxMessageLength = 10_000;
/** A client that sends much more than the next message before it is answered is not a PostgreSQL client. */
const maxBuffered = 4 * maxMessageLength;

/**
 * One client's way through the startup: true when it proved the password and the socket was
 * handed back with its startup message unread, false when it was answered and closed.
 */
async function authenticate(socket: net.Socket, verifier: ScramVerifier, user: string): Promise<boolean> {
  const reader = new StartupReader(socket);
  let startup: Buffer;
  for (;;) {
    startup = await reader.startupPacket();
    const code = startup.readInt32BE(4);
    if (code === sslRequestCode || code === gssEncryptionRequestCode) {
      // No TLS: loopback only, and SCRAM keeps the password off the wire.
      socket.write('N');
      continue;
    }
    // PGlite has no backend process to interrupt: a cancel request is read and dropped.
    if (code === cancelRequestCode) return refuse(socket);
    if (code !== protocolVersion3) {
      return refuse(socket, '0A000', `unsupported frontend protocol ${code >>> 16}.${code & 0xffff}: the embedded database speaks 3.0`);
    }
    break;
  }
  const requested = startupParameters(startup).get('user');
  if (!requested) return refuse(socket, '28000', 'no PostgreSQL user name specified in startup packet');
  if (requested !== user) return refuse(socket, '28000', `role "${requested}" does not exist: the embedded database has one role, ${user}`);

  socket.write(authenticationRequest(10, Buffer.from('SCRAM-SHA-256\0\0')));
  const initial = await reader.message();
  if (initial.type !== 'p') return refuse(socket, '08P01', 'expected a SASL response');
  // SASLInitialResponse: the mechanism's name, then the length of the client-first-message and the message.
  const mechanismEnd = initial.body.indexOf(0);
  if (mechanismEnd < 0 || initial.body.toString('utf8', 0, mechanismEnd) !== 'SCRAM-SHA-256') {
    return refuse(socket, '28000', 'the only authentication mechanism here is SCRAM-SHA-256');
  }
  const clientFirst = initial.body.subarray(mechanismEnd + 5, mechanismEnd + 5 + Math.max(0, initial.body.readInt32BE(mechanismEnd + 1))).toString('utf8');
  // gs2 header: no channel binding ('n'), or the client could but thinks we cannot ('y'). There is no TLS to bind to.
  const first = /^([ny],(?:a=[^,]*)?,)(.*)$/.exec(clientFirst);
  const clientNonce = first && /(?:^|,)r=([\x21-\x2b\x2d-\x7e]+)/.exec(first[2]!)?.[1];
  if (!first || !clientNonce) return refuse(socket, '08P01', 'malformed SCRAM message');
  const gs2Header = first[1]!;
  const clientFirstBare = first[2]!;

  const nonce = clientNonce + crypto.randomBytes(18).toString('base64');
  const serverFirst = `r=${nonce},s=${verifier.salt.toString('base64')},i=${verifier.iterations}`;
  socket.write(authenticationRequest(11, Buffer.from(serverFirst)));

  const response = await reader.message();
  if (response.type !== 'p') return refuse(socket, '08P01', 'expected a SASL response');
  // client-final-message: c=(the gs2 header, base64),r=(the nonce),p=(the proof, base64), proof last.
  const clientFinal = response.body.toString('utf8');
  const proofAt = clientFinal.lastIndexOf(',p=');
  if (proofAt < 0) return refuse(socket, '08P01', 'malformed SCRAM message');
  const clientFinalWithoutProof = clientFinal.slice(0, proofAt);
  const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64');
  const echoed = /^c=([^,]*),r=([^,]*)/.exec(clientFinalWithoutProof);
  if (!echoed || echoed[1] !== Buffer.from(gs2Header).toString('base64') || echoed[2] !== nonce || proof.length !== verifier.storedKey.length) {
    return refuse(socket, '08P01', 'malformed SCRAM message');
  }

  // The client proves it knows ClientKey: proof XOR HMAC(StoredKey, AuthMessage) hashes to StoredKey.
  const authMessage = `${clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
  const clientSignature = hmac(verifier.storedKey, authMessage);
  const clientKey = Buffer.from(proof.map((byte, i) => byte ^ clientSignature[i]!));
  if (!crypto.timingSafeEqual(sha256(clientKey), verifier.storedKey)) {
    return refuse(socket, '28P01', `password authentication failed for user "${user}"`);
  }
  // And the server proves it knows the password too (psql and node-postgres check this).
  socket.write(authenticationRequest(12, Buffer.from(`v=${hmac(verifier.serverKey, authMessage).toString('base64')}`)));
  reader.handBack(startup);
  return true;
}

/** The startup message's parameters: name, value, ..., then an empty name. */
function startupParameters(startup: Buffer): Map<string, string> {
  const fields = startup.toString('utf8', 8).split('\0');
  const parameters = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length && fields[i]; i += 2) parameters.set(fields[i]!, fields[i + 1]!);
  return parameters;
}

/** Answers with a FATAL error (when there is one to give) and closes the connection. */
function refuse(socket: net.Socket, code?: string, message?: string): false {
  if (code && message) {
    const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`);
    const error = Buffer.alloc(5 + fields.length);
    error.write('E', 0);
    error.writeInt32BE(4 + fields.length, 1);
    fields.copy(error, 5);
    socket.end(error);
  } else {
    socket.end();
  }
  return false;
}

/** AuthenticationSASL (10), AuthenticationSASLContinue (11), AuthenticationSASLFinal (12). */
function authenticationRequest(code: number, data: Buffer): Buffer {
  const message = Buffer.alloc(9 + data.length);
  message.write('R', 0);
  message.writeInt32BE(8 + data.length, 1);
  message.writeInt32BE(code, 5);
  data.copy(message, 9);
  return message;
}

const hmac = (key: Buffer, text: string) => crypto.createHmac('sha256', key).update(text).digest();
const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest();

/**
 * Reads whole protocol messages off a socket in paused mode ('readable'), so that what it has
 * not consumed can go back to the socket (`unshift`) for pglite-socket to read as if first.
 */
class StartupReader {
  private buffered = Buffer.alloc(0);
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(private readonly socket: net.Socket) {
    socket.on('readable', this.onReadable);
    socket.on('close', this.onClose);
  }

  private readonly onReadable = () => {
    for (let chunk = this.socket.read() as Buffer | null; chunk !== null; chunk = this.socket.read() as Buffer | null)
      this.buffered = Buffer.concat([this.buffered, chunk]);
    if (this.buffered.length > maxBuffered) this.socket.destroy();
    this.wake?.();
  };

  private readonly onClose = () => {
    this.closed = true;
    this.wake?.();
  };

  /** A startup packet (length, then code or protocol version, then its body), whole. */
  async startupPacket(): Promise<Buffer> {
    const length = (await this.peek(4)).readInt32BE(0);
    if (length < 8 || length > maxMessageLength) throw new Error('invalid startup packet length');
    return this.take(length);
  }

  /** A typed message: its type byte and its body. */
  async message(): Promise<{ type: string; body: Buffer }> {
    const header = await this.peek(5);
    const length = header.readInt32BE(1);
    if (length < 4 || length > maxMessageLength) throw new Error('invalid message length');
    const message = await this.take(1 + length);
    return { type: String.fromCharCode(header[0]!), body: message.subarray(5) };
  }

  /** Stops reading: `first`, then anything read but not consumed, is the next thing the socket gives. */
  handBack(first: Buffer): void {
    this.socket.off('readable', this.onReadable);
    this.socket.off('close', this.onClose);
    // With no 'readable' listener left the socket flows again as soon as pglite-socket listens
    // for 'data', starting with what is put back here.
    this.socket.unshift(Buffer.concat([first, this.buffered]));
  }

  private async peek(length: number): Promise<Buffer> {
    while (this.buffered.length < length) {
      if (this.closed) throw new Error('the client closed the connection');
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return this.buffered.subarray(0, length);
  }

  private async take(length: number): Promise<Buffer> {
    const taken = await this.peek(length);
    this.buffered = this.buffered.subarray(length);
    return taken;
  }
}
