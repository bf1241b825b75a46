--
-- 12_site_move_buildings: the building rule of fleet_assign_devices_to_site
-- (api.md step 7, 1.1): a device keeps its building only where that
-- building stands at the target (IS NOT DISTINCT FROM, so a site-less
-- building stays with a move to Unassigned), and loses it otherwise; a
-- device that stays in its rack keeps its rack's building; a force-cleared
-- device leaves its rack's building with the rack. The audit key
-- building_cleared_device_count is present only when more than 0. The
-- conflict rows carry the rack's building (the fifth column). A role with
-- only its 1.0 grants (nothing on fleet_building) keeps using the site move.
--
-- Sites 12xx, buildings 122x, racks 125x, devices 'sb-*'; removed at the end.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

CREATE TEMP VIEW dev AS
SELECT d.identifier, d.site_id, d.building_id, m.rack_id, s.row_index, s.column_index
  FROM fleet_device d
  LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id
 WHERE d.identifier LIKE 'sb-%';

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

CREATE FUNCTION pg_temp.violations() RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM fleet_placement_violation $$;

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

-- The fleet.
--   site 1201: building 1221, rack 1251 in it, rack 1253 in no building
--   site 1202: building 1222, rack 1252 in it
--   no site:   building 1223, rack 1254 in it; rack 1255 in no building
INSERT INTO fleet_site (id, name) VALUES (1201, 'sb-north'), (1202, 'sb-south');
INSERT INTO fleet_building (id, name, site_id) VALUES
    (1221, 'sb-hall-n', 1201), (1222, 'sb-hall-s', 1202), (1223, 'sb-depot', NULL);
INSERT INTO fleet_rack (id, label, site_id, building_id) VALUES
    (1251, 'sb-rack-n', 1201, 1221),
    (1252, 'sb-rack-s', 1202, 1222),
    (1253, 'sb-rack-n-loose', 1201, NULL),
    (1254, 'sb-rack-depot', NULL, 1223),
    (1255, 'sb-rack-nowhere', NULL, NULL);

CREATE PROCEDURE pg_temp.racked(p_identifier text, p_rack bigint, p_row int, p_column int)
LANGUAGE sql AS $$
    INSERT INTO fleet_device (identifier, site_id, building_id)
        SELECT p_identifier, site_id, building_id FROM fleet_rack WHERE id = p_rack;
    INSERT INTO fleet_rack_membership (rack_id, device_id)
        SELECT p_rack, id FROM fleet_device WHERE identifier = p_identifier;
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
        SELECT p_rack, id, p_row, p_column FROM fleet_device WHERE identifier = p_identifier;
$$;

SELECT count(*) AS mark_set FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- Devices in no rack, to a site: the one whose building stands at the target
-- keeps it; buildings elsewhere (another site, no site) are cleared; a device
-- in no building is not counted.
--------------------------------------------------------------------------------
INSERT INTO fleet_device (identifier, site_id, building_id) VALUES
    ('sb-at-target', 1202, 1222),
    ('sb-elsewhere', 1201, 1221),
    ('sb-siteless-building', NULL, 1223),
    ('sb-no-building', 1201, NULL);

SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['sb-at-target', 'sb-elsewhere', 'sb-siteless-building', 'sb-no-building'], 1202);
SELECT * FROM dev WHERE identifier IN ('sb-at-target', 'sb-elsewhere', 'sb-siteless-building', 'sb-no-building')
 ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- To Unassigned: a site-less building stands "at" the NULL target and is
-- kept; a building at a site is cleared.
--------------------------------------------------------------------------------
INSERT INTO fleet_device (identifier, site_id, building_id) VALUES
    ('sb-depot-free', NULL, 1223), ('sb-north-free', 1201, 1221);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sb-depot-free', 'sb-north-free'], NULL);
SELECT * FROM dev WHERE identifier IN ('sb-depot-free', 'sb-north-free') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx

-- Nobody loses a building: the key is absent (not 0).
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sb-depot-free', 'sb-north-free'], NULL);
SELECT * FROM dev WHERE identifier IN ('sb-depot-free', 'sb-north-free') ORDER BY identifier COLLATE "C";
SELECT metadata ? 'building_cleared_device_count' AS has_cleared_key, metadata
  FROM pg_temp.new_activity();
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- A device that stays in its rack keeps the rack's building, its membership
-- and its slot: in a rack at the target site (in a building, and in none),
-- and in a site-less rack of a site-less building moving to Unassigned.
--------------------------------------------------------------------------------
CALL pg_temp.racked('sb-rack-n-1', 1251, 0, 0);
CALL pg_temp.racked('sb-rack-n-loose-1', 1253, 0, 0);
CALL pg_temp.racked('sb-rack-depot-1', 1254, 0, 0);
CALL pg_temp.racked('sb-rack-nowhere-1', 1255, 0, 0);

SELECT * FROM fleet_assign_devices_to_site(ARRAY['sb-rack-n-1', 'sb-rack-n-loose-1'], 1201);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sb-rack-depot-1', 'sb-rack-nowhere-1'], NULL, true);
SELECT * FROM dev WHERE identifier LIKE 'sb-rack-%-1' ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- Conflicts name the rack's building; without force nothing is written. With
-- force the device leaves its rack and the rack's building, unless that
-- building stands at the target (it cannot, by rule 3, for a rack at another
-- site; a site-less building and a NULL target is no conflict at all).
--------------------------------------------------------------------------------
CALL pg_temp.racked('sb-rack-s-1', 1252, 1, 1);
CALL pg_temp.racked('sb-rack-depot-2', 1254, 1, 1);
CALL pg_temp.racked('sb-rack-n-2', 1251, 1, 1);
SELECT pg_temp.fingerprint() AS fp \gset

SELECT * FROM fleet_assign_devices_to_site(ARRAY['sb-rack-s-1', 'sb-rack-depot-2', 'sb-rack-n-2'], 1201);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sb-rack-n-2'], NULL);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS audit_rows FROM pg_temp.new_activity();

SELECT * FROM fleet_assign_devices_to_site(ARRAY['sb-rack-s-1', 'sb-rack-depot-2', 'sb-rack-n-2'], 1201, true);
SELECT * FROM dev WHERE identifier IN ('sb-rack-s-1', 'sb-rack-depot-2', 'sb-rack-n-2')
 ORDER BY identifier COLLATE "C";
-- Two memberships cleared (sb-rack-n-2 stays), two buildings cleared.
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

-- To Unassigned with force: sb-rack-n-2 leaves rack 1251 and building 1221.
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sb-rack-n-2', 'sb-depot-free'], NULL, true);
SELECT * FROM dev WHERE identifier IN ('sb-rack-n-2', 'sb-depot-free') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- A role with only its 1.0 grants (no privilege at all on fleet_building)
-- still uses the site move, buildings cleared included.
--------------------------------------------------------------------------------
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_fleet_sb_mover;
RESET client_min_messages;
CREATE ROLE regress_fleet_sb_mover;
GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    TO regress_fleet_sb_mover;
GRANT UPDATE ON fleet_device TO regress_fleet_sb_mover;
GRANT DELETE ON fleet_rack_membership TO regress_fleet_sb_mover;
SELECT has_table_privilege('regress_fleet_sb_mover', 'fleet_building', 'SELECT') AS may_read_buildings;

CALL pg_temp.racked('sb-rack-s-2', 1252, 2, 2);
INSERT INTO fleet_device (identifier, site_id, building_id) VALUES ('sb-old-role', 1202, 1222);
SET ROLE regress_fleet_sb_mover;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sb-old-role', 'sb-rack-s-2'], 1201);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sb-old-role', 'sb-rack-s-2'], 1201, true);
RESET ROLE;
SELECT * FROM dev WHERE identifier IN ('sb-old-role', 'sb-rack-s-2') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier LIKE 'sb-%';
DELETE FROM fleet_rack WHERE id BETWEEN 1251 AND 1259;
DELETE FROM fleet_building WHERE id BETWEEN 1221 AND 1229;
DELETE FROM fleet_site WHERE id IN (1201, 1202);
REVOKE ALL ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    FROM regress_fleet_sb_mover;
DROP ROLE regress_fleet_sb_mover;
