--
-- 16_racks_to_building: fleet_assign_racks_to_building (api.md, 1.1). Racks
-- take the building and its site, their members follow; the NULL target
-- takes racks out of their building (site kept, position NULL, members'
-- building NULL). Positions: every case that needs the locked building
-- (a target without a layout, an index outside the layout: 22023; a
-- position held by a rack that keeps it: 23505), swaps and shifts within one
-- batch, a rack in the target keeping its position when given none; the
-- building capacity (23514, racks in the batch already inside counted once,
-- no limit without a layout). The fleet_cascade counts and the audit row
-- (rack_ids as given when positions are given, else distinct ascending;
-- first 50). Nothing written on any error (fingerprint).
--
-- Sites 16xx, buildings 162x, racks 165x (and 16700.. for the 60 racks),
-- devices 'rtb-*'; removed at the end. (The position rules that need no
-- row are in 14_container_input.)
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

CREATE TEMP VIEW dev AS
SELECT d.identifier, d.site_id, d.building_id, m.rack_id, s.row_index, s.column_index
  FROM fleet_device d
  LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id
 WHERE d.identifier LIKE 'rtb-%';
CREATE TEMP VIEW rack AS
SELECT id, site_id, building_id, aisle_index, position_in_aisle FROM fleet_rack
 WHERE id BETWEEN 1651 AND 1659;

-- Every row with its row version; with the activity rows unless told not to.
CREATE FUNCTION pg_temp.fingerprint(with_activity boolean DEFAULT true) RETURNS text
LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.id) FROM fleet_site t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.id) FROM fleet_building t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.id) FROM fleet_rack t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.id) FROM fleet_device t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.device_id) FROM fleet_rack_membership t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.device_id) FROM fleet_rack_slot t),
        (SELECT count(*) || ',' || coalesce(max(id), 0) FROM fleet_activity WHERE with_activity)))
$$;

-- Rules 1-4 (the view) and the building half of rule 5: capacity, positions
-- inside the layout, a position only in a building with a layout.
CREATE FUNCTION pg_temp.violations() RETURNS bigint
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM fleet_placement_violation)
         + (SELECT count(*) FROM fleet_building b
             WHERE b.aisle_count IS NOT NULL
               AND (SELECT count(*) FROM fleet_rack r WHERE r.building_id = b.id)
                   > b.aisle_count * b.racks_per_aisle)
         + (SELECT count(*) FROM fleet_rack r LEFT JOIN fleet_building b ON b.id = r.building_id
             WHERE r.aisle_index IS NOT NULL
               AND (b.aisle_count IS NULL OR r.aisle_index >= b.aisle_count
                    OR r.position_in_aisle >= b.racks_per_aisle))
$$;

CREATE TEMP TABLE activity_mark (last_id bigint);
INSERT INTO activity_mark SELECT coalesce(max(id), 0) FROM fleet_activity;
CREATE FUNCTION pg_temp.new_activity()
RETURNS TABLE (event_type text, site_id bigint, actor_is_caller boolean, description text, metadata jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    mark bigint := (SELECT last_id FROM activity_mark);
BEGIN
    RETURN QUERY
        SELECT a.event_type, a.site_id, a.actor = current_user, a.description, a.metadata
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
--   site 1601: building 1621 (layout 2 aisles x 2 positions = 4 racks) holding
--              rack 1651 at (0,0) with rtb-a1 (slot 0,0) and rack 1652 at (0,1);
--              building 1624 (layout 1 x 1, empty); rack 1654 (no building) with rtb-d1
--   site 1602: building 1622 (no layout) holding rack 1653 with rtb-c1;
--              rack 1656 (no building, empty)
--   no site:   building 1623 (layout 1 x 2, empty); rack 1655 (no building) with rtb-e1
INSERT INTO fleet_site (id, name) VALUES (1601, 'rtb-north'), (1602, 'rtb-south');
INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle) VALUES
    (1621, 'rtb-hall', 1601, 2, 2),
    (1622, 'rtb-shed', 1602, NULL, NULL),
    (1623, 'rtb-depot', NULL, 1, 2),
    (1624, 'rtb-closet', 1601, 1, 1);
INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle) VALUES
    (1651, 'rtb-1', 1601, 1621, 0, 0),
    (1652, 'rtb-2', 1601, 1621, 0, 1),
    (1653, 'rtb-3', 1602, 1622, NULL, NULL),
    (1654, 'rtb-4', 1601, NULL, NULL, NULL),
    (1655, 'rtb-5', NULL, NULL, NULL, NULL),
    (1656, 'rtb-6', 1602, NULL, NULL, NULL);

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
CALL pg_temp.racked('rtb-a1', 1651, 0, 0);
CALL pg_temp.racked('rtb-c1', 1653, NULL, NULL);
CALL pg_temp.racked('rtb-d1', 1654, 2, 2);
CALL pg_temp.racked('rtb-e1', 1655, NULL, NULL);
SELECT pg_temp.violations();

SELECT count(*) AS mark_set FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- Into a building, no positions: a rack from no building at the same site
-- (only the building changes), a rack from another building at another site
-- (site and building); each gets no position; members follow, keeping
-- membership and slot. rack_ids distinct ascending.
--------------------------------------------------------------------------------
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1654, 1653, 1654], 1621);
SELECT * FROM rack WHERE id IN (1653, 1654) ORDER BY id;
SELECT * FROM dev WHERE identifier IN ('rtb-c1', 'rtb-d1') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- Capacity: building 1621 now holds four racks (its layout's 4). One more is
-- 23514; the four already inside are counted once when named again.
--------------------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1655], 1621)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1651, 1652, 1653, 1654, 1656], 1621)$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS audit_rows FROM pg_temp.new_activity();

-- The 1 x 1 closet takes one rack, at its only position, and then no more.
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1656], 1624, ARRAY[0], ARRAY[0])$$);
SELECT * FROM rack WHERE id = 1656;
SELECT description FROM pg_temp.new_activity();
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1655], 1624)$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- Named again, all four inside, no positions: nothing changes (not a row
-- is written), the call still applies and is audited.
SELECT pg_temp.fingerprint(false) AS fp_rows \gset
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1654, 1653, 1652, 1651], 1621);
SELECT pg_temp.fingerprint(false) = :'fp_rows' AS no_row_written;
SELECT * FROM pg_temp.new_activity() \gx

--------------------------------------------------------------------------------
-- Positions, with the building locked. State: 1651 (0,0), 1652 (0,1),
-- 1653 and 1654 with none.
--------------------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
-- a target without a layout: 22023
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1655], 1622, ARRAY[0], ARRAY[0])$$);
-- an index outside the layout (aisle, position; also for a rack inside): 22023
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1653], 1621, ARRAY[2], ARRAY[0])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1653], 1621, ARRAY[1], ARRAY[2])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1651, 1653], 1621, ARRAY[NULL, 7], ARRAY[NULL, 7])$$);
-- held by a rack not in the batch: 23505
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1653], 1621, ARRAY[0], ARRAY[1])$$);
-- held by a rack of the batch that stays and is given no position: 23505
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1651, 1653], 1621, ARRAY[NULL, 0], ARRAY[NULL, 0])$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS audit_rows FROM pg_temp.new_activity();

-- A swap (1651 <-> 1652), given in descending order: rack_ids as given.
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1652, 1651], 1621, ARRAY[0, 0], ARRAY[0, 1]);
SELECT * FROM rack WHERE building_id = 1621 ORDER BY id;
SELECT * FROM pg_temp.new_activity() \gx

-- A shift: 1654 takes 1651's (0,1), 1651 takes the free (1,0), 1653 takes the
-- free (1,1); 1652, in the batch with a NULL pair, keeps (0,0).
SELECT * FROM fleet_assign_racks_to_building(
    ARRAY[1654, 1651, 1652, 1653], 1621, ARRAY[0, 1, NULL, 1], ARRAY[1, 0, NULL, 1]);
SELECT * FROM rack WHERE building_id = 1621 ORDER BY id;
SELECT * FROM dev WHERE identifier IN ('rtb-a1', 'rtb-c1', 'rtb-d1') ORDER BY identifier COLLATE "C";
-- Only positions changed: three racks, no devices.
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

-- A rotation of four over the full building: 1651 (1,0) -> (0,0),
-- 1652 (0,0) -> (0,1), 1654 (0,1) -> (1,1), 1653 (1,1) -> (1,0).
SELECT * FROM fleet_assign_racks_to_building(
    ARRAY[1651, 1652, 1653, 1654], 1621, ARRAY[0, 0, 1, 1], ARRAY[0, 1, 0, 1]);
SELECT * FROM rack WHERE building_id = 1621 ORDER BY id;
SELECT description, metadata FROM pg_temp.new_activity();

-- No arrays: a rack in the target keeps its position.
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1652], 1621);
SELECT * FROM rack WHERE id = 1652;
SELECT description, metadata FROM pg_temp.new_activity();
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- From one building to another: the position is not carried over (new
-- building, no position given), members change building.
--------------------------------------------------------------------------------
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1651], 1623);
SELECT * FROM rack WHERE id = 1651;
SELECT * FROM dev WHERE identifier = 'rtb-a1';
-- Building 1623 has no site: the rack and its member become Unassigned.
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

-- A building without a layout has no capacity limit.
INSERT INTO fleet_rack (id, label, site_id) VALUES (1657, 'rtb-7', 1602), (1658, 'rtb-8', NULL);
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1658, 1657, 1656, 1655, 1654], 1622);
SELECT * FROM rack ORDER BY id;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- The NULL target: out of the building, site kept, position cleared; members
-- keep their site and lose the building. A rack in no building is unchanged
-- (not counted).
--------------------------------------------------------------------------------
INSERT INTO fleet_rack (id, label, site_id) VALUES (1659, 'rtb-9', 1601);
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1659, 1652, 1651, 1654], NULL);
SELECT * FROM rack WHERE id IN (1651, 1652, 1654, 1659) ORDER BY id;
SELECT * FROM dev WHERE identifier IN ('rtb-a1', 'rtb-d1') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- Sixty racks into a 10 x 10 building: with positions, rack_ids are the first
-- 50 as given; without, the 50 smallest ascending.
--------------------------------------------------------------------------------
INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle)
    VALUES (1625, 'rtb-big', 1601, 10, 10), (1626, 'rtb-big-2', 1601, 10, 10);
INSERT INTO fleet_rack (id, label, site_id)
    SELECT 16700 + i, 'rtb-many-' || i, 1601 FROM generate_series(1, 60) AS i;
SELECT * FROM fleet_assign_racks_to_building(
    ARRAY(SELECT 16700 + i FROM generate_series(60, 1, -1) AS i)::bigint[], 1625,
    ARRAY(SELECT i / 10 FROM generate_series(0, 59) AS i), ARRAY(SELECT i % 10 FROM generate_series(0, 59) AS i));
SELECT a.description, a.metadata->'rack_count' AS rack_count,
       jsonb_array_length(a.metadata->'rack_ids') AS listed,
       a.metadata->'rack_ids' = to_jsonb(ARRAY(SELECT 16700 + i FROM generate_series(60, 11, -1) AS i)::bigint[])
           AS first_50_as_given
  FROM pg_temp.new_activity() AS a \gx
SELECT aisle_index, position_in_aisle FROM fleet_rack WHERE id IN (16760, 16701) ORDER BY id;
SELECT * FROM fleet_assign_racks_to_building(
    ARRAY(SELECT 16700 + i FROM generate_series(60, 1, -1) AS i)::bigint[], 1626);
SELECT a.description,
       a.metadata->'rack_ids' = to_jsonb(ARRAY(SELECT 16700 + i FROM generate_series(1, 50) AS i)::bigint[])
           AS smallest_50_ascending
  FROM pg_temp.new_activity() AS a \gx
SELECT count(*) AS in_big_2, count(aisle_index) AS with_position FROM fleet_rack WHERE building_id = 1626;
SELECT pg_temp.violations();

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier LIKE 'rtb-%';
DELETE FROM fleet_rack WHERE id BETWEEN 1651 AND 1659 OR id BETWEEN 16701 AND 16760;
DELETE FROM fleet_building WHERE id BETWEEN 1621 AND 1629;
DELETE FROM fleet_site WHERE id IN (1601, 1602);
