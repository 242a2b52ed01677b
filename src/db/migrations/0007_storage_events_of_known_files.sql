-- An applied event is kept only for a file the registry knows (one with a member_files record):
-- events for files that never existed leave nothing behind, and a file's event goes with its
-- record when the file is deleted, by whichever path (event, watcher, full sync). Nothing is lost
-- by forgetting it: the registrar reads what storage has now whatever an event says.
ALTER TABLE storage_events ALTER COLUMN file_uri TYPE VARCHAR(512) COLLATE "C";
DELETE FROM storage_events e WHERE NOT EXISTS (SELECT 1 FROM member_files f WHERE f.file_uri = e.file_uri);
ALTER TABLE storage_events
    ADD CONSTRAINT storage_events_file_uri_fkey FOREIGN KEY (file_uri) REFERENCES member_files (file_uri) ON DELETE CASCADE;
