-- The console's sign-ins. A session is stored server-side so that signing out, or the
-- person losing their standing, ends it at once; the cookie's secret is stored only as
-- its SHA-256 hash. csrf is the session's synchronizer token for its forms.
CREATE TABLE console_sessions (
    id               TEXT PRIMARY KEY,
    hash             TEXT NOT NULL UNIQUE,
    csrf             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    operator         TEXT,
    connection_id    TEXT REFERENCES connections (id),
    user_id          TEXT,
    auth_at          BIGINT NOT NULL,
    idle_expires_at  BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    revoked_at       BIGINT,
    revoke_reason    TEXT,
    CHECK (kind IN ('operator', 'delegate')),
    CHECK ((kind = 'operator') = (operator IS NOT NULL))
);
CREATE INDEX console_sessions_holder ON console_sessions (connection_id, user_id);

-- One-time sign-in links for operators (orgscim console link), by the hash of their
-- secret; used_at is set by the one redemption.
CREATE TABLE console_links (
    hash        TEXT PRIMARY KEY,
    operator    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

-- A connection's OpenID Connect sign-in for its administrators: the IdP that provisions
-- the connection's users also signs them in. The client secret is never read back
-- through the API.
CREATE TABLE console_sign_in (
    connection_id  TEXT PRIMARY KEY REFERENCES connections (id),
    issuer         TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    client_secret  TEXT NOT NULL,
    claim          TEXT NOT NULL,
    updated_at     BIGINT NOT NULL
);
