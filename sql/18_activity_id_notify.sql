--
-- 18_activity_id_notify: fleet_last_activity_id() and the setting
-- fleet_sites.notify (api.md, 1.1).
--
-- fleet_last_activity_id(): NULL in a fresh session; after an applied call
-- of each of the six move functions, the id of the row that call wrote; not
-- changed by a call that returned conflicts or raised an error; local to the
-- session; callable by a role with no privilege on fleet_activity.
--
-- fleet_sites.notify: on by default, settable by any role; off, an applied
-- call still writes its audit row but sends no NOTIFY (this session LISTENs:
-- a notification would show in the output, with the sender's PID). What it
-- is for, PREPARE TRANSACTION after a move, needs max_prepared_transactions
-- > 0, which a pg_regress run on any server (the Debian package's check,
-- say) cannot assume: test/tap/two_phase.t proves it.
--
-- Sites 18xx, buildings 182x, racks 185x, devices 'an-*'; removed at the end.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

SELECT fleet_last_activity_id() IS NULL AS null_in_a_fresh_session;

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_fleet_an_nobody;
DROP ROLE IF EXISTS regress_fleet_an_mover;
RESET client_min_messages;
-- No privilege on anything of the extension.
CREATE ROLE regress_fleet_an_nobody;
-- The site move's rights, and nothing on fleet_activity.
CREATE ROLE regress_fleet_an_mover;
GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership TO regress_fleet_an_mover;
GRANT UPDATE ON fleet_device TO regress_fleet_an_mover;

INSERT INTO fleet_site (id, name) VALUES (1801, 'an-north'), (1802, 'an-south');
INSERT INTO fleet_building (id, name, site_id) VALUES (1821, 'an-hall', 1801), (1822, 'an-shed', 1802);
INSERT INTO fleet_rack (id, label, site_id, building_id) VALUES
    (1851, 'an-1', 1801, 1821), (1852, 'an-2', 1802, NULL);
INSERT INTO fleet_device (identifier, site_id) VALUES ('an-1', NULL), ('an-2', NULL), ('an-3', NULL);
INSERT INTO fleet_device (identifier, site_id) VALUES ('an-racked', 1802);
INSERT INTO fleet_rack_membership (rack_id, device_id)
    SELECT 1852, id FROM fleet_device WHERE identifier = 'an-racked';

-- After each applied call: is fleet_last_activity_id() the newest row, and
-- which event wrote it?
CREATE FUNCTION pg_temp.last() RETURNS TABLE (is_newest_row boolean, event_type text)
LANGUAGE sql AS $$
    SELECT fleet_last_activity_id() = (SELECT max(id) FROM fleet_activity),
           (SELECT a.event_type FROM fleet_activity a WHERE a.id = fleet_last_activity_id())
$$;

--------------------------------------------------------------------------------
-- Every move function sets it.
--------------------------------------------------------------------------------
SELECT * FROM fleet_assign_devices_to_site(ARRAY['an-1'], 1801);
SELECT * FROM pg_temp.last();
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['an-1'], 1851);
SELECT * FROM pg_temp.last();
SELECT * FROM fleet_assign_devices_to_building(ARRAY['an-2'], 1822);
SELECT * FROM pg_temp.last();
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1852], 1822);
SELECT * FROM pg_temp.last();
SELECT * FROM fleet_assign_racks_to_site(ARRAY[1851], 1802);
SELECT * FROM pg_temp.last();
SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1821], 1802);
SELECT * FROM pg_temp.last();

--------------------------------------------------------------------------------
-- A call that returns conflicts, or raises an error, leaves it alone (also
-- when it is the first call of a session, below).
--------------------------------------------------------------------------------
SELECT fleet_last_activity_id() AS last_id \gset
SELECT * FROM fleet_assign_devices_to_site(ARRAY['an-racked', 'an-nobody'], 1801);
SELECT fleet_last_activity_id() = :last_id AS unchanged_by_conflicts;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['an-3'], 1809);
SELECT * FROM fleet_assign_racks_to_site(ARRAY[1859], 1801);
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['an-3'], 1851, false, ARRAY[99], ARRAY[99]);
SELECT fleet_last_activity_id() = :last_id AS unchanged_by_errors;

-- A role with no privilege on fleet_activity (or anything else) reads it.
SET ROLE regress_fleet_an_nobody;
SELECT has_table_privilege('fleet_activity', 'SELECT') AS may_read_activity,
       fleet_last_activity_id() = :last_id AS same_id;
RESET ROLE;

-- A role that cannot read fleet_activity learns the id of its own audit row.
SET ROLE regress_fleet_an_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['an-3'], 1801);
SELECT fleet_last_activity_id() AS mover_id \gset
SELECT * FROM fleet_activity;
RESET ROLE;
SELECT actor, event_type, description FROM fleet_activity WHERE id = :mover_id;
SELECT :mover_id > :last_id AS newer;

-- Another session has its own: NULL until it applies a call; an error or a
-- conflict as its first call keeps it NULL.
\c
SELECT fleet_last_activity_id() IS NULL AS null_in_the_new_session;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['an-racked'], 1801);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['an-3'], 1809);
SELECT fleet_last_activity_id() IS NULL AS still_null;

--------------------------------------------------------------------------------
-- fleet_sites.notify
--------------------------------------------------------------------------------
SHOW fleet_sites.notify;
-- Any role may set it, for its session or its transaction.
SET ROLE regress_fleet_an_nobody;
SET fleet_sites.notify = off;
SHOW fleet_sites.notify;
RESET fleet_sites.notify;
BEGIN;
SET LOCAL fleet_sites.notify = false;
SHOW fleet_sites.notify;
COMMIT;
SHOW fleet_sites.notify;
RESET ROLE;
-- It is a boolean.
SET fleet_sites.notify = 'sometimes';
\echo :LAST_ERROR_SQLSTATE

-- Off: no notification reaches this listening session (psql would print
-- it), and the audit row is written all the same.
LISTEN fleet_activity;
SELECT count(*) AS rows_before FROM fleet_activity \gset
SET fleet_sites.notify = off;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['an-3'], 1802);
BEGIN;
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1851], NULL);
COMMIT;
RESET fleet_sites.notify;
BEGIN;
SET LOCAL fleet_sites.notify = off;
SELECT * FROM fleet_assign_devices_to_building(ARRAY['an-3'], 1822);
COMMIT;
SELECT count(*) - :rows_before AS audit_rows_written FROM fleet_activity;
SELECT event_type FROM fleet_activity WHERE id = fleet_last_activity_id();
UNLISTEN fleet_activity;

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier LIKE 'an-%';
DELETE FROM fleet_rack WHERE id IN (1851, 1852);
DELETE FROM fleet_building WHERE id IN (1821, 1822);
DELETE FROM fleet_site WHERE id IN (1801, 1802);
REVOKE ALL ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership FROM regress_fleet_an_mover;
DROP ROLE regress_fleet_an_nobody;
DROP ROLE regress_fleet_an_mover;
