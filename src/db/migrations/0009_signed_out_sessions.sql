-- Web UI sessions signed out before their expiry. A session is a signed cookie that any replica
-- checks on its own; this table is what every replica, and a restarted one, asks before taking
-- one, so that a copy of a signed-out cookie is refused everywhere. The cookie is kept as its
-- SHA-256 only: nothing here signs anyone in. A row goes once its session would have expired.
CREATE TABLE signed_out_sessions (
    cookie_sha256 TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX signed_out_sessions_expires_at_idx ON signed_out_sessions (expires_at);
