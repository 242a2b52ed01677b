-- A sync walks storage's listing and member_files side by side, both in key order, to find
-- each listed file's record and the records of files gone. Object stores list keys in UTF-8
-- byte order, which is the order of the "C" collation, whatever the database's default.
ALTER TABLE member_files ALTER COLUMN file_uri TYPE VARCHAR(512) COLLATE "C";
