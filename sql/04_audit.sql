--
-- 04_audit: the fleet_activity row of an applied site move, field by field:
-- event_type, site_id, actor (fleet_sites.actor or current_user), description
-- (force-cleared suffix only when memberships were deleted, "Unassigned" for
-- NULL), metadata keys and values (identifiers distinct in input order, first
-- 50; force keys only when the force clear fired), device_count = distinct
-- devices, and no row at all when conflicts are returned.
--
-- NOTIFY fleet_activity is not checked here: psql prints the sender's PID
-- with every notification, which no expected file can hold.
--
-- Sites 4xx, racks 45x; everything is removed at the end.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

-- The activity rows written since the previous call (first call: sets the mark).
CREATE TEMP TABLE activity_mark (last_id bigint);
INSERT INTO activity_mark SELECT coalesce(max(id), 0) FROM fleet_activity;
CREATE FUNCTION pg_temp.new_activity()
RETURNS SETOF fleet_activity
LANGUAGE plpgsql AS $$
DECLARE
    mark bigint := (SELECT last_id FROM activity_mark);
BEGIN
    RETURN QUERY SELECT * FROM fleet_activity a WHERE a.id > mark ORDER BY a.id;
    UPDATE activity_mark SET last_id = (SELECT coalesce(max(id), mark) FROM fleet_activity);
END
$$;

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_fleet_mover;
RESET client_min_messages;
CREATE ROLE regress_fleet_mover;
GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    TO regress_fleet_mover;
GRANT UPDATE ON fleet_device TO regress_fleet_mover;
GRANT DELETE ON fleet_rack_membership TO regress_fleet_mover;

INSERT INTO fleet_site (id, name) VALUES (401, 'aud-a'), (402, 'aud-b'), (403, 'aud-c');
INSERT INTO fleet_rack (id, label, site_id) VALUES (451, 'aud-rack-b', 402), (452, 'aud-rack-none', NULL);
INSERT INTO fleet_device (identifier, site_id) VALUES
    ('aud-a', NULL), ('aud-b', NULL), ('aud-c', NULL),
    ('aud-r1', 402), ('aud-r2', 402), ('aud-r3', NULL), ('aud-free', NULL);
INSERT INTO fleet_rack_membership (rack_id, device_id)
    SELECT CASE WHEN identifier = 'aud-r3' THEN 452 ELSE 451 END, id
      FROM fleet_device WHERE identifier IN ('aud-r1', 'aud-r2', 'aud-r3');

-- The whole row is shown as fields; actor is stable because every call
-- below is made under SET ROLE (or with fleet_sites.actor set).
SELECT count(*) AS mark_set FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- A plain move: input with repeats, not in byte order. device_count is the
-- number of distinct devices (3, not 5); device_identifiers are the distinct
-- ones in first-occurrence input order; no force keys; no suffix.
--------------------------------------------------------------------------------
SET ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-c', 'aud-a', 'aud-b', 'aud-a', 'aud-c'], 401);
RESET ROLE;
SELECT event_type, site_id, actor, description, metadata,
       ARRAY(SELECT jsonb_object_keys(metadata) ORDER BY 1) AS keys,
       occurred_at IS NOT NULL AS has_time
  FROM pg_temp.new_activity() \gx

--------------------------------------------------------------------------------
-- To Unassigned: site_id NULL, "to site Unassigned", target_site_id present
-- and JSON null (not missing).
--------------------------------------------------------------------------------
SET ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-b'], NULL);
RESET ROLE;
SELECT event_type, site_id, actor, description, metadata,
       metadata ? 'target_site_id' AS has_target_key,
       jsonb_typeof(metadata->'target_site_id') AS target_json_type
  FROM pg_temp.new_activity() \gx

--------------------------------------------------------------------------------
-- force_clear = true with nothing to clear: the force keys are absent and the
-- description has no suffix (the clear did not fire).
--------------------------------------------------------------------------------
SET ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-free'], 401, true);
RESET ROLE;
SELECT description, metadata,
       metadata ? 'force_cleared_rack_membership_count' AS has_count_key,
       metadata ? 'force_cleared_device_identifiers' AS has_ids_key
  FROM pg_temp.new_activity() \gx

--------------------------------------------------------------------------------
-- The force clear fires: two memberships (one in a rack at another site, one
-- in a site-less rack) are cleared, a free device moves along. The suffix
-- and both force keys appear; the cleared identifiers are exactly the two.
--------------------------------------------------------------------------------
SET ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-r3', 'aud-free', 'aud-r1'], 403, true);
RESET ROLE;
SELECT event_type, site_id, actor, description,
       metadata->'target_site_id' AS target_site_id,
       metadata->'device_count' AS device_count,
       metadata->'device_identifiers' AS device_identifiers,
       metadata->'force_cleared_rack_membership_count' AS cleared_count,
       ARRAY(SELECT jsonb_array_elements_text(metadata->'force_cleared_device_identifiers')
             ORDER BY 1) AS cleared_identifiers_as_set,
       ARRAY(SELECT jsonb_object_keys(metadata) ORDER BY 1) AS keys
  FROM pg_temp.new_activity() \gx

--------------------------------------------------------------------------------
-- No audit row when the call returns conflicts: without force, and with
-- force when a residual conflict remains.
--------------------------------------------------------------------------------
SET ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-r2'], 401);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-r2', 'aud-nobody'], 401, true);
RESET ROLE;
SELECT count(*) AS audit_rows FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- Sixty devices: device_count 60, device_identifiers the first 50 of the
-- input order (given in descending order, so a sorted list would differ).
--------------------------------------------------------------------------------
INSERT INTO fleet_device (identifier, site_id)
    SELECT 'aud-many-' || lpad(i::text, 2, '0'), NULL FROM generate_series(1, 60) AS i;
SET ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(
    ARRAY(SELECT 'aud-many-' || lpad(i::text, 2, '0') FROM generate_series(60, 1, -1) AS i), 402);
RESET ROLE;
SELECT description,
       metadata->'device_count' AS device_count,
       jsonb_array_length(metadata->'device_identifiers') AS listed,
       metadata->'device_identifiers' = to_jsonb(ARRAY(
           SELECT 'aud-many-' || lpad(i::text, 2, '0') FROM generate_series(60, 11, -1) AS i))
           AS first_50_in_input_order,
       metadata->'device_identifiers'->>0 AS first_listed,
       metadata->'device_identifiers'->>49 AS last_listed
  FROM pg_temp.new_activity() \gx

--------------------------------------------------------------------------------
-- Sixty force-cleared memberships: the count says 60, the list holds 50
-- distinct identifiers, all of them among the cleared devices.
--------------------------------------------------------------------------------
INSERT INTO fleet_rack_membership (rack_id, device_id)
    SELECT 451, id FROM fleet_device WHERE identifier LIKE 'aud-many-%';
SET ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(
    ARRAY(SELECT 'aud-many-' || lpad(i::text, 2, '0') FROM generate_series(60, 1, -1) AS i), 401, true);
RESET ROLE;
SELECT a.description,
       a.metadata->'device_count' AS device_count,
       a.metadata->'force_cleared_rack_membership_count' AS cleared_count,
       jsonb_array_length(a.metadata->'force_cleared_device_identifiers') AS cleared_listed,
       (SELECT count(DISTINCT x) FROM jsonb_array_elements_text(a.metadata->'force_cleared_device_identifiers') AS x)
           AS cleared_listed_distinct,
       (SELECT bool_and(x LIKE 'aud-many-%') FROM jsonb_array_elements_text(a.metadata->'force_cleared_device_identifiers') AS x)
           AS all_listed_were_cleared,
       jsonb_array_length(a.metadata->'device_identifiers') AS listed
  FROM pg_temp.new_activity() AS a \gx
SELECT count(*) AS memberships_left FROM fleet_rack_membership WHERE rack_id = 451
   AND device_id IN (SELECT id FROM fleet_device WHERE identifier LIKE 'aud-many-%');

--------------------------------------------------------------------------------
-- Identifiers are JSON-escaped: quotes, backslashes, control characters and
-- non-ASCII come back unchanged from the metadata.
--------------------------------------------------------------------------------
INSERT INTO fleet_device (identifier, site_id)
    VALUES (E'aud-"q"\\b\tn\u00e9', NULL), ('aud-{x}', NULL);
SET ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY[E'aud-"q"\\b\tn\u00e9', 'aud-{x}'], 401);
RESET ROLE;
SELECT metadata->'device_identifiers' AS device_identifiers,
       metadata->'device_identifiers'->>0 = E'aud-"q"\\b\tn\u00e9' AS first_round_trips,
       metadata->'device_identifiers'->>1 = 'aud-{x}' AS second_round_trips
  FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- The actor: fleet_sites.actor when set and non-empty, else current_user at
-- call time (the role set with SET ROLE, not the session user).
--------------------------------------------------------------------------------
SET fleet_sites.actor = 'ops-console:alice';
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-a'], 402);
SET ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-a'], 401);
RESET ROLE;
-- empty means "not set"
SET fleet_sites.actor = '';
SET ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-a'], 402);
RESET ROLE;
-- a transaction-local setting applies to that transaction only
BEGIN;
SET LOCAL fleet_sites.actor = 'batch-job-7';
SET LOCAL ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-a'], 401);
COMMIT;
RESET fleet_sites.actor;
SET ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-a'], 402);
RESET ROLE;
-- no setting and no SET ROLE: the session's own role (its name depends on
-- who runs the suite, so it is shown as <session user>)
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-a'], 401);
SELECT CASE WHEN actor = session_user THEN '<session user>' ELSE actor END AS actor,
       description
  FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- One row per applied call, written at call time in the caller's transaction,
-- and kept when its site is later deleted (no foreign key: history outlives
-- sites).
--------------------------------------------------------------------------------
BEGIN;
SET LOCAL ROLE regress_fleet_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-c'], 403);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['aud-c', 'aud-b'], 403);
RESET ROLE;
SELECT count(*) AS rows_in_transaction,
       bool_and(occurred_at BETWEEN now() AND clock_timestamp()) AS stamped_in_transaction
  FROM fleet_activity WHERE id > (SELECT last_id FROM activity_mark);
COMMIT;
DELETE FROM fleet_site WHERE id = 403;
SELECT site_id, description FROM pg_temp.new_activity();

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier LIKE 'aud-%';
DELETE FROM fleet_rack WHERE id IN (451, 452);
DELETE FROM fleet_site WHERE id IN (401, 402, 403);
REVOKE ALL ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    FROM regress_fleet_mover;
DROP ROLE regress_fleet_mover;
