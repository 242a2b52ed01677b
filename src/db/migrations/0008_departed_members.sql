-- Members deleted under the name key (D6), for a day. Under that key a member is its name: a
-- file that names a departed member again — the member's file moved (x.yml to y.yml), whichever
-- of the delete and the new file arrives first — gets the row's id and created_at back.
CREATE TABLE human_members_departed (
    name VARCHAR(255) PRIMARY KEY,
    id INTEGER NOT NULL,
    created_at TIMESTAMP,
    departed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX human_members_departed_at_idx ON human_members_departed (departed_at);

CREATE TABLE virtual_members_departed (
    name VARCHAR(255) PRIMARY KEY,
    id INTEGER NOT NULL,
    created_at TIMESTAMP,
    departed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX virtual_members_departed_at_idx ON virtual_members_departed (departed_at);
