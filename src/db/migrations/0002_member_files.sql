-- Bookkeeping of the sync, kept apart from the member tables so that those stay as designed.

-- One row per member file seen in storage: what was last read and what became of it.
CREATE TABLE member_files (
    file_uri VARCHAR(512) PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('human', 'virtual')),
    -- The storage's fingerprint when last read (size and mtime of a file, ETag of an object):
    -- an unchanged fingerprint lets a sync skip the file without reading it.
    version TEXT,
    content_hash TEXT,
    status TEXT NOT NULL CHECK (status IN ('registered', 'invalid')),
    member_name TEXT,
    errors JSONB NOT NULL DEFAULT '[]',
    checked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX member_files_invalid_idx ON member_files (file_uri) WHERE status = 'invalid';

-- One row per sync run, for status reports.
CREATE TABLE sync_runs (
    id SERIAL PRIMARY KEY,
    trigger TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    unchanged INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    invalid INTEGER NOT NULL
);
