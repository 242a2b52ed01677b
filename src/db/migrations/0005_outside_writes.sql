-- Writes to the member tables that did not come through the registry — a DELETE, UPDATE or
-- TRUNCATE in psql, a restore of those tables alone — leave the sync's records (member_files)
-- claiming rows that are gone or different. They are noted here, so that the next full sync
-- reads every file again instead of skipping it as unchanged, and puts the rows back.
CREATE TABLE registry_state (
    id BOOLEAN PRIMARY KEY DEFAULT true CHECK (id),
    -- The last write to a member table from outside the registry.
    rows_touched_at TIMESTAMPTZ,
    -- The start of the last full sync that read every file again.
    rows_verified_at TIMESTAMPTZ
);

-- The registry's own transactions say who they are (set_config('vecr.writer', 'registry', true)).
CREATE FUNCTION note_outside_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('vecr.writer', true) IS DISTINCT FROM 'registry' THEN
        INSERT INTO registry_state (id, rows_touched_at) VALUES (true, clock_timestamp())
        ON CONFLICT (id) DO UPDATE SET rows_touched_at = EXCLUDED.rows_touched_at;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER human_members_outside_writes AFTER UPDATE OR DELETE OR TRUNCATE ON human_members
    FOR EACH STATEMENT EXECUTE FUNCTION note_outside_write();
CREATE TRIGGER virtual_members_outside_writes AFTER UPDATE OR DELETE OR TRUNCATE ON virtual_members
    FOR EACH STATEMENT EXECUTE FUNCTION note_outside_write();
