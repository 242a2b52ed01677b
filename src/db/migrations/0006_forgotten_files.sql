-- Files whose members were deleted, for a while: a sync that read such a file before the delete
-- must not register its older read afterwards (a delete leaves no member_files record to say
-- it came later). Kept a day, pruned as new deletes come.
CREATE TABLE forgotten_files (
    file_uri VARCHAR(512) COLLATE "C" PRIMARY KEY,
    forgotten_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX forgotten_files_at_idx ON forgotten_files (forgotten_at);
