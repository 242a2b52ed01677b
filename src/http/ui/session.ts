import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyRequest } from 'fastify';
import { type Config, type UiAccount, type UiRole, uiRoles } from '../../config.js';
import { createPrivateFile, makePrivate, preparePrivateDataFolder } from '../../privateFiles.js';
import type { Principal } from '../principal.js';
import type { SignedOutSessions } from './signedOut.js';

export const sessionCookie = 'vecr_session';

/** Who a valid session cookie is: the account (as configured now) and when the session ends. */
export interface Session {
  readonly principal: Principal;
  readonly role: UiRole;
  /** The cookie's value: what its CSRF token is derived from. */
  readonly cookie: string;
  /** When it ends (epoch ms). */
  readonly expiresAt: number;
}

/** The name a one-time sign-in URL's session goes by (there is no account behind it). */
const oneTimeName = 'local';

export interface SessionsOptions {
  /** Read (or made) when a session is first issued or checked: a service nobody signs in to keeps no key. */
  loadKey: () => Promise<Buffer>;
  accounts: readonly UiAccount[];
  ttlMs: number;
  /** With no accounts on loopback: the one-time sign-in URL's session (admin) is valid. */
  oneTime: boolean;
  /** Where sign-outs are shared with every replica (the database); without it, this process alone knows them. */
  signedOut?: SignedOutSessions;
}

/**
 * Sessions are stateless cookies: `PAYLOAD.SIGNATURE`, the payload (account, expiry) in
 * base64url JSON, signed with HMAC-SHA256. Each request checks the signature, the expiry, and
 * that the account is still configured (with its role as configured now) — so removing an account
 * ends its sessions, and so does changing the key. Sign-out ends a session everywhere: its cookie
 * is recorded as signed out until its expiry (`signedOut`, the database), which every replica asks
 * before taking a cookie, so that a copy taken before is refused too. This process also remembers
 * the cookies it has found signed out, and asks no more about those.
 */
export class Sessions {
  private readonly accounts: ReadonlyMap<string, UiAccount>;

  private key: Promise<Buffer> | undefined;

  /** Cookies known here to be signed out before their expiry, with that expiry (epoch ms): refused until then. */
  private readonly signedOutHere = new Map<string, number>();

  private readonly loadKey: () => Promise<Buffer>;
  private readonly ttlMs: number;
  private readonly oneTime: boolean;
  private readonly signedOut: SignedOutSessions | undefined;

  constructor(options: SessionsOptions) {
    ({ loadKey: this.loadKey, ttlMs: this.ttlMs, oneTime: this.oneTime, signedOut: this.signedOut } = options);
    this.accounts = new Map(options.accounts.map((account) => [account.name, account]));
  }

  /** A new session's cookie value for an account, or for the one-time sign-in (undefined). */
  async issue(account: UiAccount | undefined, now = Date.now()): Promise<string> {
    const payload = Buffer.from(JSON.stringify({ u: account?.name ?? oneTimeName, once: account === undefined, exp: now + this.ttlMs })).toString('base64url');
    return `${payload}.${await this.sign(`session:${payload}`)}`;
  }

  /** The session a cookie value holds, or undefined when it is forged, tampered with, expired, or its account is gone. */
  async verify(cookie: string, now = Date.now()): Promise<Session | undefined> {
    const [payload = '', signature = '', ...rest] = cookie.split('.');
    if (rest.length > 0 || this.signedOutHere.has(cookie) || !sameText(signature, await this.sign(`session:${payload}`))) return undefined;
    let claims: { u?: unknown; once?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return undefined;
    }
    if (typeof claims.exp !== 'number' || claims.exp <= now || typeof claims.u !== 'string') return undefined;
    const role: UiRole | undefined = claims.once === true ? (this.oneTime ? 'admin' : undefined) : this.accounts.get(claims.u)?.role;
    if (!role) return undefined;
    // Asked last, of a cookie valid in every other way: a forged one costs no query.
    if (await this.signedOut?.has(cookie)) {
      this.remember(cookie, claims.exp, now);
      return undefined;
    }
    return { principal: { name: claims.u, scopes: new Set(uiRoles[role]) }, role, cookie, expiresAt: claims.exp };
  }

  /**
   * Ends a session (sign-out): its cookie, and every copy of it, is refused from now on, by every
   * replica. When it cannot be recorded (the database down), it throws and nothing has changed.
   */
  async signOut(session: Session, now = Date.now()): Promise<void> {
    await this.signedOut?.add(session.cookie, session.expiresAt);
    this.remember(session.cookie, session.expiresAt, now);
  }

  private remember(cookie: string, expiresAt: number, now: number) {
    for (const [known, until] of this.signedOutHere) if (until <= now) this.signedOutHere.delete(known);
    this.signedOutHere.set(cookie, expiresAt);
  }

  /** The CSRF token of a session: forms carry it (`_csrf`), scripts send it (`x-csrf-token`). */
  csrfToken(session: Session): Promise<string> {
    return this.sign(`csrf:${session.cookie}`);
  }

  async csrfMatches(session: Session, given: unknown): Promise<boolean> {
    return typeof given === 'string' && sameText(given, await this.csrfToken(session));
  }

  /**
   * A proof that this service said `text` to this session: a page link carrying a message (after
   * a delete, whose file went) shows it only with its proof, so that nobody else's link can.
   */
  proofOf(session: Session, text: string): Promise<string> {
    return this.sign(`said:${session.cookie}:${text}`);
  }

  async proves(session: Session, text: string, given: unknown): Promise<boolean> {
    return typeof given === 'string' && sameText(given, await this.proofOf(session, text));
  }

  /** The session of a request's cookie, if it has a valid one. */
  async of(request: FastifyRequest): Promise<Session | undefined> {
    const cookie = cookiesOf(request)[sessionCookie];
    return cookie ? this.verify(cookie) : undefined;
  }

  get maxAgeSeconds(): number {
    return Math.floor(this.ttlMs / 1000);
  }

  private async sign(text: string): Promise<string> {
    // A key that could not be read is tried again on the next request, not remembered as failed.
    this.key ??= this.loadKey().catch((error: unknown) => {
      this.key = undefined;
      throw error;
    });
    return createHmac('sha256', await this.key)
      .update(text)
      .digest('base64url');
  }
}

function sameText(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export const sessionKeyFile = 'ui-session.key';

/**
 * The key that signs sessions: VECR_SESSION_SECRET (replicas must share one), else a random one
 * kept in VECR_DATA_DIR/ui-session.key, owner-only, so that sessions outlive a restart.
 * Deleting the file (or changing the secret) ends every session.
 */
export async function sessionKey(config: Config): Promise<Buffer> {
  if (config.ui.sessionSecret) return Buffer.from(config.ui.sessionSecret);
  const file = path.join(config.dataDir, sessionKeyFile);
  await preparePrivateDataFolder(config.dataDir);
  try {
    await createPrivateFile(file, `${randomBytes(32).toString('hex')}\n`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    await makePrivate(file);
  }
  const key = (await fs.readFile(file, 'utf8')).trim();
  if (!/^[0-9a-f]{64}$/.test(key))
    throw new Error(`${file} does not hold a session key (64 hexadecimal digits): delete it, and a new one is made (every session then ends)`);
  return Buffer.from(key, 'hex');
}

/** The request's cookies by name (the first of a name wins; values percent-decoded when they can be). */
export function cookiesOf(request: FastifyRequest): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const pair of (request.headers.cookie ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at < 0) continue;
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    if (name in cookies) continue;
    try {
      cookies[name] = decodeURIComponent(value);
    } catch {
      cookies[name] = value;
    }
  }
  return cookies;
}
