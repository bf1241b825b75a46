-- fleet_sites 1.0 -> 1.1.
--
-- There is no full 1.1 script, on purpose (as PostgreSQL's contrib does, see
-- contrib/pg_stat_statements/Makefile): CREATE EXTENSION fleet_sites runs
-- fleet_sites--1.0.sql and then this file, so a fresh install and an
-- updated 1.0 database are made by the very same statements, and every
-- fresh install in the test suite exercises the upgrade path.
--
-- Rules this file keeps:
--   - 1.0 rows are kept as they are, and every identity sequence keeps its
--     position;
--   - no CREATE OR REPLACE, no IF NOT EXISTS (an update must not adopt an
--     object somebody else created);
--   - a new enum value is not used by any statement of this file (PostgreSQL
--     forbids using it in the transaction that added it, unless the type was
--     created in the same transaction);
--   - a C function whose signature changes is dropped and created again.

\echo Use "ALTER EXTENSION fleet_sites UPDATE TO '1.1'" to load this file. \quit

-------------------------------------------------------------------------------
-- The session's last audit row
-------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.fleet_last_activity_id() RETURNS bigint
    LANGUAGE c VOLATILE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'fleet_last_activity_id';
COMMENT ON FUNCTION @extschema@.fleet_last_activity_id() IS
    'The id of the fleet_activity row written by the last applied move of this session, NULL if there is none (like lastval()). Needs no privilege on fleet_activity.';
