--
-- 19_building_site_delete: deleting buildings, sites and racks (api.md, 1.1:
-- "deletes are always allowed and keep the invariant by themselves"; the C
-- BEFORE DELETE triggers of choices.md). Deleting a building leaves its
-- racks at their site with no building and no position, and its devices
-- (racked or not) with no building, site, rack and slot kept. Deleting a
-- site leaves its buildings, racks and devices with no site, consistently:
-- racks keep building and position, devices keep building, rack and slot.
-- Names of buildings left site-less may clash. A role with only DELETE on
-- the table (and SELECT to find the row) may delete: the writes run on the
-- extension's authority. fleet_placement_violation is empty after each.
--
-- Sites 19xx, buildings 192x, racks 195x, devices 'dl-*'; removed at the end.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

CREATE TEMP VIEW dev AS
SELECT d.identifier, d.site_id, d.building_id, m.rack_id, s.row_index, s.column_index
  FROM fleet_device d
  LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id
 WHERE d.identifier LIKE 'dl-%';
CREATE TEMP VIEW rack AS
SELECT id, site_id, building_id, aisle_index, position_in_aisle FROM fleet_rack
 WHERE id BETWEEN 1951 AND 1959;
CREATE TEMP VIEW building AS
SELECT id, name, site_id FROM fleet_building WHERE id BETWEEN 1921 AND 1929;

-- Every placement rule 1-4 (the view) and the rack half of rule 5 that a
-- delete could break: a position without a building, or without a layout.
CREATE FUNCTION pg_temp.violations() RETURNS bigint
LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM fleet_placement_violation)
         + (SELECT count(*) FROM fleet_rack r LEFT JOIN fleet_building b ON b.id = r.building_id
             WHERE r.aisle_index IS NOT NULL AND b.aisle_count IS NULL)
$$;

-- The fleet.
--   site 1901: building 1921 'dl-hall' (layout 2 x 2): rack 1951 at (0,0)
--              with dl-a1 (slot 0,0), rack 1952 at (1,1) (empty); dl-a-free
--              (in 1921, no rack). building 1922 'dl-shed' (no layout): rack
--              1953 with dl-b1. rack 1954 (no building) with dl-x1; dl-x-free.
--   site 1902: building 1923 'dl-shed' (layout 1 x 2): rack 1955 at (0,1)
--              with dl-c1 (slot 2,2); dl-c-free.
--   no site:   building 1924 'dl-shed', empty.
INSERT INTO fleet_site (id, name) VALUES (1901, 'dl-north'), (1902, 'dl-south');
INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle) VALUES
    (1921, 'dl-hall', 1901, 2, 2),
    (1922, 'dl-shed', 1901, NULL, NULL),
    (1923, 'dl-shed', 1902, 1, 2),
    (1924, 'dl-shed', NULL, NULL, NULL);
INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle) VALUES
    (1951, 'dl-1', 1901, 1921, 0, 0),
    (1952, 'dl-2', 1901, 1921, 1, 1),
    (1953, 'dl-3', 1901, 1922, NULL, NULL),
    (1954, 'dl-4', 1901, NULL, NULL, NULL),
    (1955, 'dl-5', 1902, 1923, 0, 1);

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
CALL pg_temp.racked('dl-a1', 1951, 0, 0);
CALL pg_temp.racked('dl-b1', 1953, NULL, NULL);
CALL pg_temp.racked('dl-x1', 1954, 1, 1);
CALL pg_temp.racked('dl-c1', 1955, 2, 2);
INSERT INTO fleet_device (identifier, site_id, building_id) VALUES
    ('dl-a-free', 1901, 1921), ('dl-x-free', 1901, NULL), ('dl-c-free', 1902, 1923);
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- Deleting a building.
--------------------------------------------------------------------------------
-- Row versions of what the delete must not touch: building 1922, its rack
-- and member, rack 1954 and its member.
SELECT string_agg(v, ',' ORDER BY v) AS untouched FROM (
    SELECT ctid::text AS v FROM fleet_building WHERE id = 1922
    UNION ALL SELECT ctid::text FROM fleet_rack WHERE id IN (1953, 1954)
    UNION ALL SELECT ctid::text FROM fleet_device WHERE identifier IN ('dl-b1', 'dl-x1', 'dl-x-free')) AS t \gset

DELETE FROM fleet_building WHERE id = 1921;
SELECT * FROM building ORDER BY id;
SELECT * FROM rack ORDER BY id;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT string_agg(v, ',' ORDER BY v) = :'untouched' AS others_untouched FROM (
    SELECT ctid::text AS v FROM fleet_building WHERE id = 1922
    UNION ALL SELECT ctid::text FROM fleet_rack WHERE id IN (1953, 1954)
    UNION ALL SELECT ctid::text FROM fleet_device WHERE identifier IN ('dl-b1', 'dl-x1', 'dl-x-free')) AS t;
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- Deleting a site with a building: everything it held is left with no site;
-- racks keep their building (and position), devices their building, rack
-- and slot. Two site-less buildings named 'dl-shed' now exist (1922, 1924).
--------------------------------------------------------------------------------
DELETE FROM fleet_site WHERE id = 1901;
SELECT * FROM building ORDER BY id;
SELECT * FROM rack ORDER BY id;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT pg_temp.violations();

-- A site-less building deleted: its rack stays site-less with no building.
DELETE FROM fleet_building WHERE id = 1922;
SELECT * FROM rack WHERE id = 1953;
SELECT * FROM dev WHERE identifier = 'dl-b1';
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- A role with DELETE (and SELECT) on fleet_building and fleet_site only: it
-- may delete them; the racks and devices are updated though it could not
-- update them itself.
--------------------------------------------------------------------------------
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_fleet_dl_deleter;
RESET client_min_messages;
CREATE ROLE regress_fleet_dl_deleter;
GRANT SELECT, DELETE ON fleet_building, fleet_site TO regress_fleet_dl_deleter;

SET ROLE regress_fleet_dl_deleter;
SELECT has_table_privilege('fleet_rack', 'UPDATE') AS may_update_racks,
       has_table_privilege('fleet_device', 'UPDATE') AS may_update_devices;
UPDATE fleet_rack SET building_id = NULL WHERE id = 1955;
DELETE FROM fleet_building WHERE id = 1923;
RESET ROLE;
SELECT * FROM rack WHERE id = 1955;
SELECT * FROM dev WHERE identifier IN ('dl-c1', 'dl-c-free') ORDER BY identifier COLLATE "C";
SELECT pg_temp.violations();

-- Back into a building (the functions), then the role deletes the site.
INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle) VALUES (1925, 'dl-new', 1902, 3, 3);
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1955], 1925, ARRAY[2], ARRAY[2]);
SELECT * FROM fleet_assign_devices_to_building(ARRAY['dl-c-free'], 1925);
SET ROLE regress_fleet_dl_deleter;
DELETE FROM fleet_site WHERE id = 1902;
RESET ROLE;
SELECT * FROM building WHERE id = 1925;
SELECT * FROM rack WHERE id = 1955;
SELECT * FROM dev WHERE identifier IN ('dl-c1', 'dl-c-free') ORDER BY identifier COLLATE "C";
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- Several buildings in one statement; then a rack: its memberships and slots
-- go, its former members keep their site and building (no longer racked,
-- they break no rule).
--------------------------------------------------------------------------------
INSERT INTO fleet_site (id, name) VALUES (1903, 'dl-east');
SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1925], 1903);
INSERT INTO fleet_building (id, name, site_id) VALUES (1926, 'dl-annex', 1903);
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1953], 1926);
SELECT * FROM building ORDER BY id;
SELECT * FROM rack WHERE id IN (1953, 1955) ORDER BY id;
DELETE FROM fleet_building WHERE id IN (1926, 1925, 1924);
SELECT * FROM building ORDER BY id;
SELECT * FROM rack WHERE id IN (1953, 1955) ORDER BY id;
SELECT * FROM dev WHERE identifier IN ('dl-b1', 'dl-c1', 'dl-c-free') ORDER BY identifier COLLATE "C";
SELECT pg_temp.violations();

INSERT INTO fleet_building (id, name, site_id) VALUES (1927, 'dl-last', 1903);
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1955], 1927);
DELETE FROM fleet_rack WHERE id = 1955;
SELECT * FROM dev WHERE identifier = 'dl-c1';
SELECT count(*) AS slots_left FROM fleet_rack_slot s JOIN fleet_device d ON d.id = s.device_id
 WHERE d.identifier = 'dl-c1';
SELECT pg_temp.violations();

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier LIKE 'dl-%';
DELETE FROM fleet_rack WHERE id BETWEEN 1951 AND 1959;
DELETE FROM fleet_building WHERE id BETWEEN 1921 AND 1929;
DELETE FROM fleet_site WHERE id IN (1901, 1902, 1903);
REVOKE ALL ON fleet_building, fleet_site FROM regress_fleet_dl_deleter;
DROP ROLE regress_fleet_dl_deleter;
