-- Every user insert maintained scim_users_seen (connection_id, updated_at) of active
-- users, which duplicated scim_users_updated (connection_id, updated_at) of all live
-- users: the stale-member scan reads the latter and filters on active. (PostgreSQL also
-- drops its text_pattern_ops index on userName; SQLite never had one.)
DROP INDEX scim_users_seen;
