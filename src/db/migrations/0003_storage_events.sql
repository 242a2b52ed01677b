-- The last storage event applied per file: in the database, so that it survives restarts and is
-- shared by every replica. An event older than the one recorded never overwrites newer state.
CREATE TABLE storage_events (
    file_uri VARCHAR(512) PRIMARY KEY,
    sequencer TEXT NOT NULL,
    etag TEXT,
    event_name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
