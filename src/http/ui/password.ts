import { createHash, randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
import { passwordHashPattern, type UiAccount } from '../../config.js';

/**
 * scrypt's cost for new hashes (OWASP's recommended minimum is N=2^17 with r=8; 2^15 keeps a
 * sign-in near 100 ms on a small machine, and the hash carries its parameters: raising them
 * later leaves existing hashes valid).
 */
const cost = { N: 2 ** 15, r: 8, p: 1 };
const keyLength = 32;

function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }, length = keyLength): Promise<Buffer> {
  // scrypt needs 128·N·r bytes; Node refuses more than 32 MiB unless told.
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, length, options, (error, key) => (error ? reject(error) : resolve(key))));
}

/** `scrypt$N=…,r=…,p=…$SALT$KEY`: what VECR_UI_USERS holds for an account (`vecr password`). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, cost);
  return `scrypt$N=${cost.N},r=${cost.r},p=${cost.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** A hash no password matches, checked when the name is unknown: the answer takes as long as for a known one. */
const unknownAccountHash = `scrypt$N=${cost.N},r=${cost.r},p=${cost.p}$${randomBytes(16).toString('base64url')}$${randomBytes(keyLength).toString('base64url')}`;

/** Whether the password is the account's (compared in constant time); an unknown account costs the same. */
export async function passwordMatches(account: UiAccount | undefined, password: string): Promise<boolean> {
  const stored = account?.password ?? { kind: 'scrypt' as const, hash: unknownAccountHash };
  if (stored.kind === 'plain') return timingSafeEqual(createHash('sha256').update(password).digest(), stored.sha256);
  const [, n, r, p, salt, key] = passwordHashPattern.exec(stored.hash)!;
  const expected = Buffer.from(key!, 'base64url');
  const given = await derive(password, Buffer.from(salt!, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) }, expected.length);
  return timingSafeEqual(given, expected) && account !== undefined;
}
