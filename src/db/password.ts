import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { makePrivate, readKeptSecret, replacePrivateFile } from '../privateFiles.js';
import { DatabaseUnavailableError } from './types.js';

/**
 * The password of the embedded database's PostgreSQL port. Made once per data folder and kept
 * beside it in a pgpass file (0600), so that it survives restarts: psql reads it with
 * `PGPASSFILE=.vecr/pgdata.pgpass psql -h localhost -p 55432 -U postgres member_db`, and other
 * `vecr` commands read it to reach a running `vecr serve`. PGlite has one role, `postgres`.
 */
export const embeddedUser = 'postgres';

export const passwordFileOf = (dataDir: string) => `${dataDir}.pgpass`;

/** Where a client connects, with the password: never to be printed (redactUrl masks it). */
export function embeddedDatabaseUrl(port: number, password: string): string {
  return `postgres://${embeddedUser}:${encodeURIComponent(password)}@127.0.0.1:${port}/member_db`;
}

/**
 * The folder's password, made now if it has none (or its file is damaged). Only the holder of
 * the folder's lock calls this: no other process writes the file meanwhile.
 */
export async function ensurePassword(dataDir: string): Promise<string> {
  const file = passwordFileOf(dataDir);
  const kept = parsePgpass(await fs.readFile(file, 'utf8').catch(() => ''));
  if (kept !== undefined) {
    await makePrivate(file);
    return kept;
  }
  // 32 characters of base64url: nothing pgpass would have to escape (`:` and `\`).
  const password = crypto.randomBytes(24).toString('base64url');
  await replacePrivateFile(file, pgpassText(password));
  return password;
}

/** The password of a data folder whose database a running `vecr serve` shares. */
export async function readPassword(dataDir: string): Promise<string> {
  return readKeptSecret(passwordFileOf(dataDir), {
    what: 'the password of the embedded database',
    missing: 'no password for the embedded database',
    parse: parsePgpass,
    failure: (message, cause) => new DatabaseUnavailableError(message, cause === undefined ? {} : { cause }),
  });
}

// Only loopback names: set as PGPASSFILE by mistake for another server, the file offers nothing.
function pgpassText(password: string): string {
  return [
    '# The password of the embedded database that vecr serve shares on 127.0.0.1 (VECR_PG_PORT).',
    '# PGPASSFILE=<this file> psql -h localhost -p <port> -U postgres member_db',
    `localhost:*:*:${embeddedUser}:${password}`,
    `127.0.0.1:*:*:${embeddedUser}:${password}`,
    '',
  ].join('\n');
}

/** The password of the first entry for our user; the file is ours, written by pgpassText. */
function parsePgpass(text: string): string | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields.length === 5 && fields[3] === embeddedUser && fields[4]) return fields[4];
  }
  return undefined;
}
