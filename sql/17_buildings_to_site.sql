--
-- 17_buildings_to_site: fleet_assign_buildings_to_site (api.md, 1.1). A
-- building whose site changes takes the target with everything in it: its
-- racks (keeping building and position), the devices in those racks and the
-- devices whose building it is (keeping building, rack, slot); buildings at
-- the target are left as they are. Name clashes are 23505 for a site target
-- (with a building at the target, and between two moving buildings), never
-- for the NULL target. The fleet_cascade counts, the audit row
-- (building_ids distinct ascending, first 50), nothing written on an error.
--
-- Sites 17xx, buildings 172x (and 17800.. for the 60 buildings), racks 175x,
-- devices 'bts-*'; removed at the end.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

CREATE TEMP VIEW dev AS
SELECT d.identifier, d.site_id, d.building_id, m.rack_id, s.row_index, s.column_index
  FROM fleet_device d
  LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id
 WHERE d.identifier LIKE 'bts-%';
CREATE TEMP VIEW rack AS
SELECT id, site_id, building_id, aisle_index, position_in_aisle FROM fleet_rack
 WHERE id BETWEEN 1751 AND 1759;
CREATE TEMP VIEW building AS
SELECT id, name, site_id FROM fleet_building WHERE id BETWEEN 1721 AND 1729;

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

CREATE FUNCTION pg_temp.violations() RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM fleet_placement_violation $$;

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
--   site 1701: building 1721 'main' (layout 2 x 2): rack 1751 at (0,1) with
--              bts-a1 (slot 1,1), rack 1752 (no position, empty); bts-a-free
--              (in 1721, no rack); rack 1755 (no building) with bts-x1;
--              bts-x-free (no building)
--   site 1702: building 1722 'main', building 1725 'lab' with rack 1754 and bts-c1
--   site 1703: building 1724 'annex'
--   no site:   building 1723 'annex' with rack 1753 holding bts-b1, and
--              bts-b-free; building 1726 'lab'
INSERT INTO fleet_site (id, name) VALUES (1701, 'bts-north'), (1702, 'bts-south'), (1703, 'bts-east');
INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle) VALUES
    (1721, 'main', 1701, 2, 2),
    (1722, 'main', 1702, NULL, NULL),
    (1723, 'annex', NULL, NULL, NULL),
    (1724, 'annex', 1703, NULL, NULL),
    (1725, 'lab', 1702, NULL, NULL),
    (1726, 'lab', NULL, NULL, NULL);
INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle) VALUES
    (1751, 'bts-1', 1701, 1721, 0, 1),
    (1752, 'bts-2', 1701, 1721, NULL, NULL),
    (1753, 'bts-3', NULL, 1723, NULL, NULL),
    (1754, 'bts-4', 1702, 1725, NULL, NULL),
    (1755, 'bts-5', 1701, NULL, NULL, NULL);

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
CALL pg_temp.racked('bts-a1', 1751, 1, 1);
CALL pg_temp.racked('bts-b1', 1753, NULL, NULL);
CALL pg_temp.racked('bts-c1', 1754, NULL, NULL);
CALL pg_temp.racked('bts-x1', 1755, NULL, NULL);
INSERT INTO fleet_device (identifier, site_id, building_id) VALUES
    ('bts-a-free', 1701, 1721), ('bts-b-free', NULL, 1723), ('bts-x-free', 1701, NULL);
SELECT pg_temp.violations();

SELECT count(*) AS mark_set FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- Name clashes: 23505, nothing written.
--------------------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
-- a building at the target has the name of a moving one
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1721], 1702)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1723], 1703)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1726], 1702)$$);
-- ... also when that building is named in the batch (it is already there)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1722, 1721], 1702)$$);
-- two moving buildings of one name
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1723, 1724], 1701)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1726, 1725, 1721], 1701)$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS audit_rows FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- A building with racks and devices moves: everything in it takes the site,
-- keeping building, position, membership and slot; a rack and a device at
-- the old site in no building stay.
--------------------------------------------------------------------------------
SELECT string_agg(m.ctid::text || coalesce(s.ctid::text, '-'), ',' ORDER BY m.device_id) AS mv
  FROM fleet_rack_membership m LEFT JOIN fleet_rack_slot s USING (rack_id, device_id)
 WHERE m.rack_id IN (1751, 1752) \gset
SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1721], 1703);
SELECT * FROM building ORDER BY id;
SELECT * FROM rack ORDER BY id;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT string_agg(m.ctid::text || coalesce(s.ctid::text, '-'), ',' ORDER BY m.device_id) = :'mv'
           AS memberships_and_slots_untouched
  FROM fleet_rack_membership m LEFT JOIN fleet_rack_slot s USING (rack_id, device_id)
 WHERE m.rack_id IN (1751, 1752);
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- A building at the target is left as it is (not a row of it or its
-- contents is written); the others move. Repeats count once, building_ids
-- distinct ascending.
--------------------------------------------------------------------------------
SELECT string_agg(t.ctid::text, ',' ORDER BY t.id) AS lab_versions FROM (
    SELECT id, ctid FROM fleet_building WHERE id = 1725
    UNION ALL SELECT id, ctid FROM fleet_rack WHERE id = 1754
    UNION ALL SELECT d.id, d.ctid FROM fleet_device d WHERE d.identifier = 'bts-c1') AS t \gset
SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1725, 1723, 1725, 1723], 1702);
SELECT string_agg(t.ctid::text, ',' ORDER BY t.id) = :'lab_versions' AS at_target_untouched FROM (
    SELECT id, ctid FROM fleet_building WHERE id = 1725
    UNION ALL SELECT id, ctid FROM fleet_rack WHERE id = 1754
    UNION ALL SELECT d.id, d.ctid FROM fleet_device d WHERE d.identifier = 'bts-c1') AS t;
SELECT * FROM building WHERE id IN (1723, 1725) ORDER BY id;
SELECT * FROM rack WHERE id IN (1753, 1754) ORDER BY id;
SELECT * FROM dev WHERE identifier IN ('bts-b1', 'bts-b-free', 'bts-c1') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- To Unassigned: names never clash (buildings with no site may share names).
--------------------------------------------------------------------------------
SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1722, 1721, 1723], NULL);
SELECT * FROM building ORDER BY id;
SELECT * FROM rack ORDER BY id;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

-- Nothing to change: the call applies with zero counts, not a row written.
SELECT pg_temp.fingerprint(false) AS fp_rows \gset
SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1726, 1721], NULL);
SELECT pg_temp.fingerprint(false) = :'fp_rows' AS no_row_written;
SELECT * FROM pg_temp.new_activity() \gx

-- From no site to a site again: two 'main' cannot both go to 1701 ...
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1721, 1722], 1701)$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
-- ... one can, and the other to another site.
SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1721], 1701);
SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1722], 1702);
SELECT * FROM building WHERE id IN (1721, 1722) ORDER BY id;
SELECT description FROM pg_temp.new_activity();
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- Sixty buildings given in descending order: building_count 60, building_ids
-- the 50 smallest ascending.
--------------------------------------------------------------------------------
INSERT INTO fleet_building (id, name, site_id)
    SELECT 17800 + i, 'bts-many-' || i, NULL FROM generate_series(1, 60) AS i;
SELECT * FROM fleet_assign_buildings_to_site(
    ARRAY(SELECT 17800 + i FROM generate_series(60, 1, -1) AS i)::bigint[], 1703);
SELECT a.description, a.metadata->'building_count' AS building_count,
       jsonb_array_length(a.metadata->'building_ids') AS listed,
       a.metadata->'building_ids' = to_jsonb(ARRAY(SELECT 17800 + i FROM generate_series(1, 50) AS i)::bigint[])
           AS smallest_50_ascending,
       ARRAY(SELECT jsonb_object_keys(a.metadata) ORDER BY 1) AS keys
  FROM pg_temp.new_activity() AS a \gx
SELECT pg_temp.violations();

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier LIKE 'bts-%';
DELETE FROM fleet_rack WHERE id BETWEEN 1751 AND 1759;
DELETE FROM fleet_building WHERE id BETWEEN 1721 AND 1729 OR id BETWEEN 17801 AND 17860;
DELETE FROM fleet_site WHERE id IN (1701, 1702, 1703);
