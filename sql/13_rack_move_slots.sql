--
-- 13_rack_move_slots: fleet_assign_devices_to_rack in 1.1 (api.md): a device
-- joining a rack takes the rack's site and building; the NULL target leaves
-- site and building as they are; DEVICE_LOSES_SITE names the target rack's
-- building. Then the slot arrays: every 22023 and 23505 case of the slot
-- rules, swaps, shifts and rotations inside one batch, a device keeping its
-- slot when given none, slotted_device_count, and the 1.0 calls with two
-- and three arguments. Every error writes nothing (fingerprint).
--
-- Sites 13xx, buildings 132x, racks 135x, devices 'rs-*'; removed at the end.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

CREATE TEMP VIEW dev AS
SELECT d.identifier, d.site_id, d.building_id, m.rack_id, s.row_index, s.column_index
  FROM fleet_device d
  LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id
 WHERE d.identifier LIKE 'rs-%';

CREATE FUNCTION pg_temp.fingerprint() RETURNS text
LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.id) FROM fleet_site t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.id) FROM fleet_building t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.id) FROM fleet_rack t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.id) FROM fleet_device t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.device_id) FROM fleet_rack_membership t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.device_id) FROM fleet_rack_slot t),
        (SELECT count(*) || ',' || coalesce(max(id), 0) FROM fleet_activity)))
$$;

-- Rules 1-4 (the view) and rule 5 (capacity, slots inside their rack).
CREATE FUNCTION pg_temp.violations() RETURNS bigint
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM fleet_placement_violation)
         + (SELECT count(*) FROM fleet_rack r
             WHERE (SELECT count(*) FROM fleet_rack_membership m WHERE m.rack_id = r.id)
                   > r.row_count * r.column_count)
         + (SELECT count(*) FROM fleet_rack_slot s JOIN fleet_rack r ON r.id = s.rack_id
             WHERE s.row_index >= r.row_count OR s.column_index >= r.column_count)
$$;

CREATE TEMP TABLE activity_mark (last_id bigint);
INSERT INTO activity_mark SELECT coalesce(max(id), 0) FROM fleet_activity;
CREATE FUNCTION pg_temp.new_activity()
RETURNS TABLE (event_type text, site_id bigint, description text, metadata jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    mark bigint := (SELECT last_id FROM activity_mark);
BEGIN
    RETURN QUERY
        SELECT a.event_type, a.site_id, a.description, a.metadata
          FROM fleet_activity a
         WHERE a.id > mark
         ORDER BY a.id;
    UPDATE activity_mark SET last_id = (SELECT coalesce(max(id), mark) FROM fleet_activity);
END
$$;

CREATE FUNCTION pg_temp.try(call text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SELECT coalesce(string_agg(c::text, '' '' ORDER BY c::text COLLATE "C"), ''no rows'') FROM (%s) AS c', call)
        INTO result;
    RETURN 'ok: ' || result;
EXCEPTION WHEN OTHERS THEN
    RETURN format('ERROR %s: %s', SQLSTATE, SQLERRM);
END
$$;

-- The fleet.
--   site 1301: building 1321; rack 1351 (2 rows x 3 columns) in it; rack 1354 in no building
--   site 1302: building 1322; rack 1352 in it
--   no site:   building 1323; rack 1353 in it
INSERT INTO fleet_site (id, name) VALUES (1301, 'rs-north'), (1302, 'rs-south');
INSERT INTO fleet_building (id, name, site_id) VALUES
    (1321, 'rs-hall-n', 1301), (1322, 'rs-hall-s', 1302), (1323, 'rs-depot', NULL);
INSERT INTO fleet_rack (id, label, site_id, building_id, row_count, column_count) VALUES
    (1351, 'rs-small', 1301, 1321, 2, 3),
    (1352, 'rs-south', 1302, 1322, 12, 12),
    (1353, 'rs-depot', NULL, 1323, 12, 12),
    (1354, 'rs-loose', 1301, NULL, 12, 12);

CREATE PROCEDURE pg_temp.racked(p_identifier text, p_rack bigint, p_row int, p_column int)
LANGUAGE sql AS $$
    INSERT INTO fleet_device (identifier, site_id, building_id)
        SELECT p_identifier, site_id, building_id FROM fleet_rack WHERE id = p_rack;
    INSERT INTO fleet_rack_membership (rack_id, device_id)
        SELECT p_rack, id FROM fleet_device WHERE identifier = p_identifier;
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
        SELECT p_rack, id, p_row, p_column FROM fleet_device
         WHERE identifier = p_identifier AND p_row IS NOT NULL;
$$;

SELECT count(*) AS mark_set FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- Joining a rack copies its site and building: from no building, from a
-- rack of another building (the old slot goes), from a building into a
-- building-less rack (the building is cleared). The 1.0 two- and
-- three-argument calls are this same function.
--------------------------------------------------------------------------------
INSERT INTO fleet_device (identifier, site_id, building_id) VALUES
    ('rs-free', NULL, NULL), ('rs-in-hall-s', 1302, 1322);
CALL pg_temp.racked('rs-south-1', 1352, 7, 7);

SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-free', 'rs-in-hall-s', 'rs-south-1'], 1351);
SELECT * FROM dev WHERE identifier IN ('rs-free', 'rs-in-hall-s', 'rs-south-1') ORDER BY identifier COLLATE "C";
-- No slot arrays: no slotted_device_count key.
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-free'], 1354, false);
SELECT * FROM fleet_assign_devices_to_rack(ids => ARRAY['rs-in-hall-s'], target_rack => 1354);
SELECT * FROM dev WHERE identifier IN ('rs-free', 'rs-in-hall-s') ORDER BY identifier COLLATE "C";
-- Same site, only the building changed: no site_changed_device_count.
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

-- The NULL target: out of the rack, site and building kept.
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-south-1'], NULL);
SELECT * FROM dev WHERE identifier = 'rs-south-1';
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

-- Into the site-less rack of the site-less building: DEVICE_LOSES_SITE names
-- the target rack and its building; forced (three arguments), the device
-- joins, Unassigned, in building 1323.
SELECT pg_temp.fingerprint() AS fp \gset
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-south-1', 'rs-ghost'], 1353);
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-south-1', 'rs-ghost'], 1353, true);
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-south-1'], 1353);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-south-1'], 1353, true);
SELECT * FROM dev WHERE identifier = 'rs-south-1';
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

-- Back out; rack 1351 is emptied for the slot tests.
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-free', 'rs-in-hall-s', 'rs-south-1'], NULL);
SELECT count(*) AS cleanup_audited FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- Slots, the 22023 cases (none needs a row; the rack bounds are checked
-- under the rack lock). Rack 1351 is 2 x 3: rows 0..1, columns 0..2.
-- Members now: rs-a at (0,0), rs-b at (0,1), rs-c with no slot.
--------------------------------------------------------------------------------
CALL pg_temp.racked('rs-a', 1351, 0, 0);
CALL pg_temp.racked('rs-b', 1351, 0, 1);
CALL pg_temp.racked('rs-c', 1351, NULL, NULL);
INSERT INTO fleet_device (identifier, site_id, building_id) VALUES ('rs-new', 1301, NULL), ('rs-new-2', NULL, NULL);
SELECT pg_temp.fingerprint() AS fp \gset

-- only one of the arrays given
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1351, false, ARRAY[1], NULL)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1351, false, NULL, ARRAY[1])$$);
-- a length that differs from ids (longer, shorter, empty; each array)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1351, false, ARRAY[1, 1], ARRAY[2, 2])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new', 'rs-new-2'], 1351, false, ARRAY[1, 1], ARRAY[2])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1351, false, '{}', '{}')$$);
-- a length counted on the ids as given, duplicates included
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new', 'rs-new'], 1351, false, ARRAY[1], ARRAY[2])$$);
-- more than one dimension
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1351, false, '{{1}}', '{{2}}')$$);
-- half a pair NULL (either half)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1351, false, ARRAY[1], ARRAY[NULL]::int[])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new', 'rs-new-2'], 1351, false, ARRAY[1, NULL], ARRAY[2, 0])$$);
-- a negative index (row, column)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1351, false, ARRAY[-1], ARRAY[0])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1351, false, ARRAY[0], ARRAY[-3])$$);
-- an index outside the rack: row_index >= row_count, column_index >= column_count
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1351, false, ARRAY[2], ARRAY[0])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1351, false, ARRAY[0], ARRAY[3])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new', 'rs-a'], 1351, false, ARRAY[1, 2147483647], ARRAY[2, 0])$$);
-- outside the rack, for a device already in it
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-a'], 1351, false, ARRAY[5], ARRAY[5])$$);
-- a slot given with a NULL target_rack
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-a'], NULL, false, ARRAY[0], ARRAY[0])$$);
-- two devices of the batch given one slot (a free one, and one held by a member)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new', 'rs-new-2'], 1351, false, ARRAY[1, 1], ARRAY[2, 2])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-a', 'rs-b'], 1351, false, ARRAY[0, 0], ARRAY[1, 1])$$);
-- a slot given to a duplicated identifier (with or without a slot on the repeat)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new', 'rs-new'], 1351, false, ARRAY[1, 1], ARRAY[2, 2])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new', 'rs-new'], 1351, false, ARRAY[1, NULL], ARRAY[2, NULL])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new', 'rs-new'], 1351, false, ARRAY[NULL, 1], ARRAY[NULL, 0])$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS audit_rows FROM pg_temp.new_activity();

-- Input comes before the rack: a missing rack with bad slots is the slot
-- error when the error needs no row, 23503 when it needs the rack's size.
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1359, false, ARRAY[-1], ARRAY[0])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1359, false, ARRAY[5], ARRAY[5])$$);

--------------------------------------------------------------------------------
-- Slots, the 23505 cases: a slot held by a device that keeps it.
--------------------------------------------------------------------------------
-- a member not in the batch (a joining device, and a member given a new slot)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new'], 1351, false, ARRAY[0], ARRAY[0])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-b'], 1351, false, ARRAY[0], ARRAY[0])$$);
-- a member in the batch given no slot (a NULL pair)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-a', 'rs-new'], 1351, false, ARRAY[NULL, 0], ARRAY[NULL, 0])$$);
-- ... and the same under force
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-a', 'rs-b'], 1351, true, ARRAY[NULL, 0], ARRAY[NULL, 0])$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS audit_rows FROM pg_temp.new_activity();

-- A conflict in a batch with slots: conflicts, nothing written.
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new', 'rs-ghost'], 1351, false, ARRAY[1, 1], ARRAY[0, 1]);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- The capacity (6) counts members once: rs-a, rs-b, rs-c + 4 joining = 7.
INSERT INTO fleet_device (identifier, site_id) VALUES ('rs-x1', NULL), ('rs-x2', NULL), ('rs-x3', NULL);
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_rack(
    ARRAY['rs-new', 'rs-x1', 'rs-x2', 'rs-x3', 'rs-a'], 1351, false, ARRAY[1, 1, 1, 0, NULL], ARRAY[0, 1, 2, 2, NULL])$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

--------------------------------------------------------------------------------
-- What the slot arrays do when accepted.
--------------------------------------------------------------------------------
-- A swap: rs-a (0,0) <-> rs-b (0,1).
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-a', 'rs-b'], 1351, false, ARRAY[0, 0], ARRAY[1, 0]);
SELECT * FROM dev WHERE rack_id = 1351 ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx

-- A shift: rs-new joins at rs-a's (0,1), rs-a moves to rs-b's (0,0), rs-b
-- to the free (1,0); rs-c, in the batch with a NULL pair, keeps having no
-- slot. Three slotted, site changes none (rs-new is at 1301 already).
SELECT * FROM fleet_assign_devices_to_rack(
    ARRAY['rs-new', 'rs-a', 'rs-b', 'rs-c'], 1351, false, ARRAY[0, 0, 1, NULL], ARRAY[1, 0, 0, NULL]);
SELECT * FROM dev WHERE rack_id = 1351 ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

-- A rotation of three: rs-a (0,0) -> (0,1), rs-new (0,1) -> (1,0), rs-b (1,0) -> (0,0).
SELECT * FROM fleet_assign_devices_to_rack(
    ARRAY['rs-b', 'rs-new', 'rs-a'], 1351, false, ARRAY[0, 1, 0], ARRAY[0, 0, 1]);
SELECT * FROM dev WHERE rack_id = 1351 ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx

-- Given no slot (a NULL pair): a member keeps its slot, a joining device has
-- none. A member without a slot gets the one it is given. slotted_device_count
-- counts the devices given a slot (here 1).
SELECT * FROM fleet_assign_devices_to_rack(
    ARRAY['rs-a', 'rs-new-2', 'rs-c'], 1351, false, ARRAY[NULL, NULL, 1], ARRAY[NULL, NULL, 2]);
SELECT * FROM dev WHERE rack_id = 1351 ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx

-- All pairs NULL: slots are "given" (the arrays are not NULL), none placed:
-- slotted_device_count 0, and every member keeps its slot.
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-a', 'rs-b'], 1351, false, ARRAY[NULL, NULL]::int[], ARRAY[NULL, NULL]::int[]);
SELECT * FROM dev WHERE rack_id = 1351 ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx

-- No arrays at all (two arguments): every member keeps its slot, the very
-- same membership and slot rows.
SELECT string_agg(s.ctid::text, ',' ORDER BY s.device_id) AS slot_versions FROM fleet_rack_slot s WHERE s.rack_id = 1351 \gset
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-a', 'rs-b', 'rs-new', 'rs-c', 'rs-new-2'], 1351);
SELECT string_agg(s.ctid::text, ',' ORDER BY s.device_id) = :'slot_versions' AS same_slot_rows FROM fleet_rack_slot s WHERE s.rack_id = 1351;
SELECT * FROM dev WHERE rack_id = 1351 ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx

-- A device from another rack takes a slot in this one (its old slot goes with
-- its old membership); the slot it is given is the last free one, (1,1).
CALL pg_temp.racked('rs-south-2', 1352, 9, 9);
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-south-2'], 1351, false, ARRAY[1], ARRAY[1]);
SELECT * FROM dev WHERE identifier = 'rs-south-2';
SELECT count(*) AS slots_in_old_rack FROM fleet_rack_slot s JOIN fleet_device d ON d.id = s.device_id
 WHERE d.identifier = 'rs-south-2' AND s.rack_id = 1352;
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

-- Arrays with a lower bound other than 1 line up with ids by position.
SELECT * FROM fleet_assign_devices_to_rack('[0:1]={rs-a,rs-b}'::text[], 1351, false, '[5:6]={0,0}'::int[], '[-1:0]={2,1}'::int[]);
SELECT * FROM dev WHERE identifier IN ('rs-a', 'rs-b') ORDER BY identifier COLLATE "C";
SELECT metadata->'slotted_device_count' AS slotted FROM pg_temp.new_activity();

-- Slot arrays with a NULL target and only NULL pairs: removal, counted 0.
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-new-2'], NULL, false, ARRAY[NULL]::int[], ARRAY[NULL]::int[]);
SELECT * FROM dev WHERE identifier = 'rs-new-2';
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- A role with its 1.0 grants (rack manage, site manage, nothing on
-- fleet_building or fleet_rack_slot) uses the rack move into a rack that
-- stands in a building, with the 1.0 arguments.
--------------------------------------------------------------------------------
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_fleet_rs_mover;
RESET client_min_messages;
CREATE ROLE regress_fleet_rs_mover;
GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    TO regress_fleet_rs_mover;
GRANT UPDATE ON fleet_device TO regress_fleet_rs_mover;
GRANT INSERT, DELETE ON fleet_rack_membership TO regress_fleet_rs_mover;
INSERT INTO fleet_device (identifier, site_id) VALUES ('rs-old-role', NULL);
SET ROLE regress_fleet_rs_mover;
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-old-role'], 1352);
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['rs-old-role'], 1353, true);
RESET ROLE;
SELECT * FROM dev WHERE identifier = 'rs-old-role';
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier LIKE 'rs-%';
DELETE FROM fleet_rack WHERE id BETWEEN 1351 AND 1359;
DELETE FROM fleet_building WHERE id BETWEEN 1321 AND 1329;
DELETE FROM fleet_site WHERE id IN (1301, 1302);
REVOKE ALL ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    FROM regress_fleet_rs_mover;
DROP ROLE regress_fleet_rs_mover;
