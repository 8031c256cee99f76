-- 006: bearer tokens of the read-only REST API (`cryptobot api token create|list|revoke`).
-- Only the SHA-256 of a token is stored: a token is 32 random bytes, so a plain hash is as hard
-- to invert as the token is to guess (a slow hash like scrypt defends low-entropy passwords).
-- Times are naive UTC. A revoked token keeps its row (revoked_at set) for the audit trail.
create table api_tokens (
    token_id varchar primary key,          -- public id, shown by `token list`, e.g. 3f9c1a2b
    name varchar not null,                 -- who or what uses it; unique among active tokens
    token_hash varchar not null unique,    -- sha256 hex of the whole token
    created_at timestamp not null,
    last_used_at timestamp,                -- written by the API at most once a minute per token
    revoked_at timestamp
);
