-- The member tables of the design document (D2, D3), column for column. A database the original
-- service built already has them: they are kept, with their rows, and given what they lack.
CREATE TABLE IF NOT EXISTS human_members (
    id SERIAL PRIMARY KEY,
    name VARCHAR(255) NOT NULL UNIQUE,
    role VARCHAR(255),
    skills TEXT[],
    bio TEXT,
    contact_email VARCHAR(255),
    github_username VARCHAR(255),
    file_uri VARCHAR(512),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS virtual_members (
    id SERIAL PRIMARY KEY,
    name VARCHAR(255) NOT NULL UNIQUE,
    role VARCHAR(255),
    llm_model VARCHAR(255) NOT NULL,
    system_prompt TEXT,
    personality_traits TEXT[],
    expertise_areas TEXT[],
    file_uri VARCHAR(512),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

-- One row per file (D7): the key of INSERT ... ON CONFLICT (file_uri). Rows written by older
-- tools may have no file_uri; a unique index allows any number of NULLs.
ALTER TABLE human_members ADD COLUMN IF NOT EXISTS file_uri VARCHAR(512);
ALTER TABLE virtual_members ADD COLUMN IF NOT EXISTS file_uri VARCHAR(512);
CREATE UNIQUE INDEX IF NOT EXISTS human_members_file_uri_key ON human_members (file_uri);
CREATE UNIQUE INDEX IF NOT EXISTS virtual_members_file_uri_key ON virtual_members (file_uri);
