import { createHash } from 'node:crypto';
import type { Queryable } from '../../db/types.js';

/** Sessions signed out before their expiry, as every replica sees them (migration 0009). */
export interface SignedOutSessions {
  /** Records a session's cookie as signed out until `expiresAt` (epoch ms). */
  add(cookie: string, expiresAt: number): Promise<void>;
  has(cookie: string): Promise<boolean>;
}

/** The table `signed_out_sessions` of this database; the rows of expired sessions go as others come. */
export function signedOutSessionsIn(db: Queryable): SignedOutSessions {
  return {
    async add(cookie, expiresAt) {
      await db.query(
        `WITH expired AS (DELETE FROM signed_out_sessions WHERE expires_at <= now())
         INSERT INTO signed_out_sessions (cookie_sha256, expires_at) VALUES ($1, to_timestamp($2::double precision / 1000))
         ON CONFLICT (cookie_sha256) DO NOTHING`,
        [sha256(cookie), expiresAt],
      );
    },
    async has(cookie) {
      const { rows } = await db.query('SELECT 1 FROM signed_out_sessions WHERE cookie_sha256 = $1', [sha256(cookie)]);
      return rows.length > 0;
    },
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
