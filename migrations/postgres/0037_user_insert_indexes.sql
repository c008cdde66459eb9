-- Every user insert maintained two indexes nothing needed (docs/PERFORMANCE.md, "A
-- create's statements in PostgreSQL"):
--
-- scim_users_seen (connection_id, updated_at) of active users duplicated scim_users_updated
-- (connection_id, updated_at) of all live users: the stale-member scan reads the latter
-- and filters on active, which EXPLAIN shows as the same index range plus a filter.
--
-- scim_users_user_name_pattern (text_pattern_ops) served userName sw/co filters because
-- the unique index, under the database's collation, cannot serve LIKE. With userName's
-- folded key compared bytewise ("C", as SQLite compares it), the unique index serves
-- eq, gt/lt and LIKE prefixes alike. A folded key is only compared with other folded
-- keys and literals, so nothing but the order of sortBy=userName changes, to codepoint
-- order, which is SQLite's.
DROP INDEX scim_users_seen;
DROP INDEX scim_users_user_name_pattern;
ALTER TABLE scim_users ALTER COLUMN user_name_key TYPE TEXT COLLATE "C";
