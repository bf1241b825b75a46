--
-- 14_container_input: the bad-input table for the three container moves
-- (fleet_assign_racks_to_site, fleet_assign_racks_to_building,
-- fleet_assign_buildings_to_site; api.md, 1.1): NULL array, NULL element,
-- empty, more than one dimension, an id zero or negative, more than 10,000
-- distinct ids (54000; 10,001 collapsing to 10,000 is accepted), a target
-- zero or negative; the position arrays' rules that need no row; missing
-- ids (23503 naming the smallest), a missing target (23503), and ids or a
-- target that row-level security hides (23503, exactly as missing). Every
-- call writes nothing: the fixture has racks and buildings with members
-- that a good call would move (checked first, in a rolled-back transaction).
--
-- Sites 14xx, buildings 142x, racks 145x, devices 'ci-*'; removed at the end.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

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

-- The fleet: site 1401 with building 1421 (racks 1451, 1452 in it, each with
-- a member); site 1402 with building 1422 (rack 1453, a member); rack 1454 at
-- site 1401 in no building.
INSERT INTO fleet_site (id, name) VALUES (1401, 'ci-north'), (1402, 'ci-south');
INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle) VALUES
    (1421, 'ci-visible-hall', 1401, 4, 4), (1422, 'ci-hidden-hall', 1402, 4, 4);
INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle) VALUES
    (1451, 'ci-visible-1', 1401, 1421, 0, 0),
    (1452, 'ci-hidden-2', 1401, 1421, 0, 1),
    (1453, 'ci-visible-3', 1402, 1422, NULL, NULL),
    (1454, 'ci-visible-4', 1401, NULL, NULL, NULL);
INSERT INTO fleet_device (identifier, site_id, building_id) VALUES
    ('ci-d1', 1401, 1421), ('ci-d2', 1401, 1421), ('ci-d3', 1402, 1422), ('ci-d4', 1401, NULL);
INSERT INTO fleet_rack_membership (rack_id, device_id)
    SELECT CASE identifier WHEN 'ci-d1' THEN 1451 WHEN 'ci-d2' THEN 1452
                           WHEN 'ci-d3' THEN 1453 ELSE 1454 END, id
      FROM fleet_device WHERE identifier LIKE 'ci-d_';

-- Sanity: good calls on this fleet do move things (rolled back), so the
-- errors below are about the input only.
BEGIN;
SELECT * FROM fleet_assign_racks_to_site(ARRAY[1453, 1454], 1401);
SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453, 1454], 1421, ARRAY[1, 1], ARRAY[0, 1]);
SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1421, 1422], 1402);
ROLLBACK;

SELECT pg_temp.fingerprint() AS fp \gset

--------------------------------------------------------------------------------
-- fleet_assign_racks_to_site
--------------------------------------------------------------------------------
-- the array NULL: 22004
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(NULL, 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(NULL::bigint[], NULL)$$);
-- an element NULL: 22004 (first, last; lower bound not 1)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[NULL, 1451], 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site('[4:5]={1451,NULL}'::bigint[], 1402)$$);
-- empty: 22023
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site('{}', 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[]::bigint[], NULL)$$);
-- more than one dimension: 2202E (also 1 x 1)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[[1451, 1452], [1453, 1454]], 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[[1451]], 1402)$$);
-- an id zero or negative: 22023
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[1451, 0], 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[-1451, 1452], 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[-9223372036854775808], NULL)$$);
-- more than 10,000 distinct: 54000 (none needs to exist)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(
    ARRAY(SELECT i FROM generate_series(1000001, 1010001) AS i)::bigint[], 1402)$$);
-- the target zero or negative: 22023
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[1451], 0)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[1451], -1402)$$);
-- input first: bad input with a missing target or missing racks is the input error
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[1459, 0], 1409)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site('{}', 1409)$$);
-- missing racks: 23503 naming the smallest missing id, whatever the input order
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[1451, 1499, 1453, 1498], 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[1498, 1451, 1459], NULL)$$);
-- 10,001 elements, 10,000 distinct: no 54000; they do not exist: 23503
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(
    ARRAY(SELECT i FROM generate_series(1000001, 1010000) AS i)::bigint[] || ARRAY[1000001::bigint], 1402)$$);
-- the target site missing: 23503
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[1451, 1453], 1409)$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

--------------------------------------------------------------------------------
-- fleet_assign_racks_to_building
--------------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(NULL, 1421)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(NULL::bigint[], NULL, ARRAY[0], ARRAY[0])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453, NULL], 1421)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building('[0:1]={NULL,1453}'::bigint[], NULL)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building('{}', 1421)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[]::bigint[], 1421, ARRAY[]::int[], ARRAY[]::int[])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[[1453], [1454]], 1421)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453, 0], 1421)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[-7], NULL)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(
    ARRAY(SELECT i FROM generate_series(1000001, 1010001) AS i)::bigint[], 1421)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453], 0)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453], -1421, ARRAY[0], ARRAY[0])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1459, -1], 1429)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1454, 1499, 1453, 1498], 1421)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1499, 1454], NULL)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(
    ARRAY(SELECT i FROM generate_series(1000001, 1010000) AS i)::bigint[] || ARRAY[1000001::bigint], 1421)$$);
-- the target building missing: 23503
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453, 1454], 1429)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453, 1454], 1429, ARRAY[0, 0], ARRAY[2, 3])$$);

-- The position arrays' rules that need no row (all 22023):
-- only one array given
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453], 1421, ARRAY[1], NULL)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453], 1421, NULL, ARRAY[1])$$);
-- a length that differs from rack_ids (longer, shorter, empty, counted with repeats)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453], 1421, ARRAY[1, 2], ARRAY[1, 2])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453, 1454], 1421, ARRAY[1, 2], ARRAY[1])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453], 1421, '{}', '{}')$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453, 1453], 1421, ARRAY[1], ARRAY[1])$$);
-- more than one dimension
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453], 1421, '{{1}}', '{{1}}')$$);
-- duplicated rack ids when positions are given (even all-NULL pairs)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453, 1453], 1421, ARRAY[1, 2], ARRAY[1, 2])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453, 1454, 1453], 1421,
    ARRAY[NULL, NULL, NULL]::int[], ARRAY[NULL, NULL, NULL]::int[])$$);
-- half a pair NULL (either half)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453], 1421, ARRAY[1], ARRAY[NULL]::int[])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1454, 1453], 1421, ARRAY[1, NULL], ARRAY[1, 2])$$);
-- a negative index (aisle, position)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453], 1421, ARRAY[-1], ARRAY[0])$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453], 1421, ARRAY[0], ARRAY[-2])$$);
-- a position given with a NULL target
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1451], NULL, ARRAY[0], ARRAY[0])$$);
-- two racks of the batch given one position
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453, 1454], 1421, ARRAY[3, 3], ARRAY[3, 3])$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

--------------------------------------------------------------------------------
-- fleet_assign_buildings_to_site
--------------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(NULL, 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(NULL::bigint[], NULL)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1421, NULL], 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site('[-2:-1]={NULL,1421}'::bigint[], 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site('{}', 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[]::bigint[], NULL)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[[1421, 1422]], 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1421, 0], 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[-1421], NULL)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(
    ARRAY(SELECT i FROM generate_series(1000001, 1010001) AS i)::bigint[], 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1421], 0)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1421], -1)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[0], 1409)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1421, 1429, 1422, 1428], 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1429, 1421], NULL)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(
    ARRAY(SELECT i FROM generate_series(1000001, 1010000) AS i)::bigint[] || ARRAY[1000001::bigint], 1402)$$);
-- the target site missing: 23503
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1421], 1409)$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS activity_rows FROM fleet_activity WHERE id > :start_activity;

--------------------------------------------------------------------------------
-- Ids and targets that row-level security hides are 23503, exactly as if
-- they did not exist (the smallest hidden-or-missing id is named), and the
-- visible ones still move. The tenant sees racks and buildings named
-- 'ci-visible-*' and site 1401 only.
--------------------------------------------------------------------------------
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_fleet_ci_tenant;
RESET client_min_messages;
CREATE ROLE regress_fleet_ci_tenant;
GRANT SELECT ON fleet_site, fleet_building, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    TO regress_fleet_ci_tenant;
GRANT UPDATE ON fleet_building, fleet_rack, fleet_device TO regress_fleet_ci_tenant;
ALTER TABLE fleet_rack ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_building ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_site ENABLE ROW LEVEL SECURITY;
CREATE POLICY regress_ci_racks ON fleet_rack TO regress_fleet_ci_tenant USING (label LIKE 'ci-visible-%');
CREATE POLICY regress_ci_buildings ON fleet_building TO regress_fleet_ci_tenant USING (name LIKE 'ci-visible-%');
CREATE POLICY regress_ci_sites ON fleet_site TO regress_fleet_ci_tenant USING (id = 1401);

SET ROLE regress_fleet_ci_tenant;
SELECT id FROM fleet_rack WHERE id BETWEEN 1451 AND 1459 ORDER BY id;
-- a hidden rack (1452) is named as the smallest hidden-or-missing id
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[1454, 1452, 1499], NULL)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[1499, 1452], 1401)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1453, 1452], 1421)$$);
-- a hidden target site, a hidden target building
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[1454], 1402)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1454], 1422)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1421], 1402)$$);
-- a hidden building
SELECT pg_temp.try($$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[1422, 1421], NULL)$$);
RESET ROLE;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- The visible rack 1454 moves into the visible building 1421 (positions given).
SET ROLE regress_fleet_ci_tenant;
SELECT pg_temp.try($$SELECT * FROM fleet_assign_racks_to_building(ARRAY[1454], 1421, ARRAY[2], ARRAY[2])$$);
RESET ROLE;
SELECT id, site_id, building_id, aisle_index, position_in_aisle FROM fleet_rack WHERE id = 1454;
SELECT actor = 'regress_fleet_ci_tenant' AS actor_is_tenant, event_type, description
  FROM fleet_activity WHERE id > :start_activity ORDER BY id;

DROP POLICY regress_ci_racks ON fleet_rack;
DROP POLICY regress_ci_buildings ON fleet_building;
DROP POLICY regress_ci_sites ON fleet_site;
ALTER TABLE fleet_rack DISABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_building DISABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_site DISABLE ROW LEVEL SECURITY;

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier LIKE 'ci-%';
DELETE FROM fleet_rack WHERE id BETWEEN 1451 AND 1459;
DELETE FROM fleet_building WHERE id BETWEEN 1421 AND 1429;
DELETE FROM fleet_site WHERE id IN (1401, 1402);
REVOKE ALL ON fleet_site, fleet_building, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    FROM regress_fleet_ci_tenant;
DROP ROLE regress_fleet_ci_tenant;
