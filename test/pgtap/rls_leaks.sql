-- rls_leaks.sql: what row-level security hides from a caller stays hidden
-- (spec/api.md, "Privilege gate", 1.1): "a target site, building or rack
-- the caller cannot see is 23503, exactly as if it did not exist, and is
-- never locked; a conflict caused by a rack the caller cannot see reports
-- rack_id, conflicting_site_id and conflicting_building_id as NULL; no
-- error message names or counts rows the caller cannot see." And the move
-- still never leaves a device inconsistently placed. (That a hidden target
-- is never locked needs a second session: test/tap/rls_locks.t.)
--
-- "Exactly as if it did not exist" is tested as indistinguishability: the
-- SQLSTATE, message, detail and hint for a hidden id are those for an id
-- that does not exist, once the id itself is blanked out. "Counts no rows"
-- likewise: two racks that look the same to the caller (same size, same
-- visible members) but hide different numbers of members give the same
-- error.
--
-- Tenant fleet_leak_tenant sees the sites, racks, devices (and in 1.1
-- buildings) whose names start with "a-", the memberships and slots of its
-- devices in its racks. Hidden rows have ids that appear nowhere else
-- (7001.., 8001, 9001, devices 101..), so a message naming one is caught.
--   sites    1 a-site-1   2 a-site-2   8001 b-site-8001 (hidden)
--   racks    10 a-rack-10  site 1, 1 x 3: a-1 (slot 0,0), b-101 (hidden, slot 0,1)
--            11 a-rack-11  site 1, 1 x 3: a-6, b-104, b-105 (hidden)
--            12 a-rack-12  site 1, 1 x 2: b-106, b-107 (hidden; looks empty)
--            20 a-rack-20  site 2, 12 x 12, empty
--            7001 b-rack-7001 site 2, 1 x 2: a-3, b-102   (hidden rack)
--            7002 b-rack-7002 site 1, 1 x 1: b-103        (hidden, full)
--            7003 b-rack-7003 site 1, 12 x 12, empty      (hidden)
--   devices  a-1 (site 1, rack 10) a-2 (site 2) a-3 (site 2, hidden rack 7001)
--            a-4, a-5 (site 1) a-6 (site 1, rack 11); b-* hidden
--   (1.1) buildings 100 a-bld-100 (site 1), 9001 b-bld-9001 (site 1, hidden)
-- Ids that exist nowhere: site 999001, rack 999002, building 999003.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION fleet_sites;
\ir lib/helpers.psql

SELECT plan(38);

CREATE ROLE fleet_leak_tenant NOLOGIN;
GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    TO fleet_leak_tenant;
GRANT UPDATE ON fleet_device, fleet_rack TO fleet_leak_tenant;
GRANT INSERT, DELETE ON fleet_rack_membership, fleet_rack_slot TO fleet_leak_tenant;

ALTER TABLE fleet_site ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_rack ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_device ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_rack_membership ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_rack_slot ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_a ON fleet_site TO fleet_leak_tenant USING (name LIKE 'a-%');
CREATE POLICY tenant_a ON fleet_rack TO fleet_leak_tenant USING (label LIKE 'a-%');
CREATE POLICY tenant_a ON fleet_device TO fleet_leak_tenant USING (identifier LIKE 'a-%');
CREATE POLICY tenant_a ON fleet_rack_membership TO fleet_leak_tenant
    USING (EXISTS (SELECT 1 FROM fleet_device d WHERE d.id = device_id)
           AND EXISTS (SELECT 1 FROM fleet_rack r WHERE r.id = rack_id));
CREATE POLICY tenant_a ON fleet_rack_slot TO fleet_leak_tenant
    USING (EXISTS (SELECT 1 FROM fleet_rack_membership m
                    WHERE m.rack_id = fleet_rack_slot.rack_id AND m.device_id = fleet_rack_slot.device_id));
-- (1.1) buildings, once the table exists.
DO $$
BEGIN
    IF to_regclass('fleet_building') IS NOT NULL THEN
        GRANT SELECT, UPDATE ON fleet_building TO fleet_leak_tenant;
        ALTER TABLE fleet_building ENABLE ROW LEVEL SECURITY;
        CREATE POLICY tenant_a ON fleet_building TO fleet_leak_tenant USING (name LIKE 'a-%');
    END IF;
END $$;

-------------------------------------------------------------------------------
-- Helpers of this file
-------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.reset() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_temp.clear();
    IF to_regclass('fleet_building') IS NOT NULL THEN
        EXECUTE 'DELETE FROM fleet_building';
    END IF;
    INSERT INTO fleet_site (id, name) VALUES (1, 'a-site-1'), (2, 'a-site-2'), (8001, 'b-site-8001');
    INSERT INTO fleet_rack (id, label, site_id, row_count, column_count) VALUES
        (10, 'a-rack-10', 1, 1, 3), (11, 'a-rack-11', 1, 1, 3), (12, 'a-rack-12', 1, 1, 2),
        (20, 'a-rack-20', 2, 12, 12),
        (7001, 'b-rack-7001', 2, 1, 2), (7002, 'b-rack-7002', 1, 1, 1), (7003, 'b-rack-7003', 1, 12, 12);
    INSERT INTO fleet_device (id, identifier, site_id) VALUES
        (1, 'a-1', 1), (2, 'a-2', 2), (3, 'a-3', 2), (4, 'a-4', 1), (5, 'a-5', 1), (6, 'a-6', 1),
        (101, 'b-101', 1), (102, 'b-102', 2), (103, 'b-103', 1), (104, 'b-104', 1), (105, 'b-105', 1),
        (106, 'b-106', 1), (107, 'b-107', 1);
    INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES
        (10, 1), (10, 101), (11, 6), (11, 104), (11, 105), (12, 106), (12, 107),
        (7001, 3), (7001, 102), (7002, 103);
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES
        (10, 1, 0, 0), (10, 101, 0, 1);
    IF to_regclass('fleet_building') IS NOT NULL THEN
        EXECUTE $i$INSERT INTO fleet_building (id, name, site_id) VALUES
            (100, 'a-bld-100', 1), (9001, 'b-bld-9001', 1)$i$;
    END IF;
END $$;

-- The outcome of a query run as role r: 'no error: <rows>' or
-- '<SQLSTATE>|<message>|<detail>|<hint>' (everything the caller is told).
CREATE FUNCTION pg_temp.told(r name, query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
    st text;
    msg text;
    det text;
    hin text;
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r);
    BEGIN
        EXECUTE format('SELECT coalesce(string_agg(x::text, '' ''), ''no rows'') FROM (%s) x', query) INTO result;
        RESET ROLE;
        RETURN 'no error: ' || result;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
    END;
    RESET ROLE;
    RETURN st || '|' || msg || '|' || coalesce(det, '') || '|' || coalesce(hin, '');
END $$;

-- What the caller is told, with one id blanked out.
CREATE FUNCTION pg_temp.told_blank(r name, query text, id bigint) RETURNS text LANGUAGE sql AS $$
    SELECT replace(pg_temp.told(r, query), id::text, '<id>')
$$;

-- The expected side of "exactly as if it did not exist": what the caller is
-- told for an id that does not exist, which must itself be a 23503.
CREATE FUNCTION pg_temp.as_missing(told text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN told ~ '^23503\|' THEN told ELSE 'a 23503 for the missing id, not: ' || told END
$$;

-- Which hidden ids, labels, names or identifiers a text mentions ('none').
CREATE FUNCTION pg_temp.hidden_in(told text) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(DISTINCT m[1], ', '), 'none')
      FROM regexp_matches(told, '(\m(?:7001|7002|7003|8001|9001|10[1-7])\M|\mb-[a-z0-9-]*)', 'g') AS m
$$;

-- The columns of every returned conflict row other than identifier and
-- reason that are not NULL (0 when all are NULL).
CREATE FUNCTION pg_temp.non_null_conflict_columns(r name, query text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.told(r, format(
        'SELECT count(*) FROM (%s) c, jsonb_each(to_jsonb(c)) e
          WHERE e.key NOT IN (''device_identifier'', ''reason'') AND e.value <> ''null''::jsonb', query))
$$;

-------------------------------------------------------------------------------
-- The policies work (otherwise the rest proves nothing)
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT is(pg_temp.told('fleet_leak_tenant', $$SELECT id FROM fleet_site ORDER BY id$$),
          'no error: (1) (2)', 'the tenant sees sites 1 and 2 only');
SELECT is(pg_temp.told('fleet_leak_tenant', $$SELECT id FROM fleet_rack ORDER BY id$$),
          'no error: (10) (11) (12) (20)', 'the tenant sees racks 10, 11, 12 and 20 only');
SELECT is(pg_temp.told('fleet_leak_tenant', $$SELECT identifier FROM fleet_device ORDER BY id$$),
          'no error: (a-1) (a-2) (a-3) (a-4) (a-5) (a-6)', 'the tenant sees its devices only');

-------------------------------------------------------------------------------
-- A target site the caller cannot see is a site that does not exist
-------------------------------------------------------------------------------

SELECT is(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-4'], 8001)$$, 8001),
          pg_temp.as_missing(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-4'], 999001)$$, 999001)),
          'site move to a hidden site: 23503, told exactly what it is told for a site that does not exist');
SELECT pg_temp.reset();
SELECT matches(pg_temp.told('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-1'], 8001, true)$$),
               '^23503\|', '... also with force_clear');
SELECT pg_temp.reset();
SELECT matches(pg_temp.told('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-4', 'a-none'], 8001)$$),
               '^23503\|', '... also when the batch has a DEVICE_NOT_FOUND (no conflict rows instead)');
SELECT pg_temp.reset();
SELECT pg_temp.mark();
DO $$ BEGIN PERFORM pg_temp.told('fleet_leak_tenant', $q$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-4'], 8001)$q$); END $$;
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing is written: a-4 does not join the hidden site');

-------------------------------------------------------------------------------
-- A target rack the caller cannot see is a rack that does not exist
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT is(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4'], 7003)$$, 7003),
          pg_temp.as_missing(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4'], 999002)$$, 999002)),
          'rack move into a hidden rack with room: told exactly what it is told for a rack that does not exist (not 42501)');
SELECT pg_temp.reset();
SELECT is(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4'], 7002)$$, 7002),
          pg_temp.as_missing(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4'], 999002)$$, 999002)),
          'rack move into a hidden full rack: as for a rack that does not exist (not its size and member count)');
SELECT matches(pg_temp.told('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4', 'a-none'], 7003)$$),
               '^23503\|', '... also when the batch has a DEVICE_NOT_FOUND');
SELECT matches(pg_temp.told('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-2'], 7003, true)$$),
               '^23503\|', '... also with force_clear (a-2 would lose nothing: it is not a conflict either)');
SELECT pg_temp.reset();
SELECT pg_temp.mark();
DO $$ BEGIN
    PERFORM pg_temp.told('fleet_leak_tenant', $q$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4'], 7003)$q$);
    PERFORM pg_temp.told('fleet_leak_tenant', $q$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-2'], 7003, true)$q$);
END $$;
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing is written: no device joins a hidden rack');

-------------------------------------------------------------------------------
-- A conflict caused by a rack the caller cannot see
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT is(pg_temp.told('fleet_leak_tenant', $$SELECT device_identifier, reason FROM fleet_assign_devices_to_site(ARRAY['a-3'], 1)$$),
          'no error: (a-3,DEVICE_IN_RACK_AT_OTHER_SITE)', 'a-3 in the hidden rack 7001 is still a conflict');
SELECT is(pg_temp.non_null_conflict_columns('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-3'], 1)$$),
          'no error: (0)', '... that names neither the rack, nor its site, nor its building (all NULL)');
SELECT is(pg_temp.non_null_conflict_columns('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-3'], NULL)$$),
          'no error: (0)', '... also for a move to Unassigned');
SELECT is(pg_temp.told('fleet_leak_tenant', $$SELECT device_identifier, reason, conflicting_site_id, rack_id
                                             FROM fleet_assign_devices_to_site(ARRAY['a-1', 'a-3'], NULL)$$),
          'no error: (a-1,DEVICE_IN_RACK_AT_OTHER_SITE,1,10) (a-3,DEVICE_IN_RACK_AT_OTHER_SITE,,)',
          'a visible rack''s conflict still names the rack and its site, next to the hidden one''s');
SELECT is(pg_temp.hidden_in(pg_temp.told('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-3'], 1, true)$$)),
          'none', 'forcing a-3 out of the hidden rack: what the tenant is told names nothing hidden');
SELECT is(pg_temp.place('a-3'), 'site 2, rack 7001, slot none', '... and a-3 stays in its rack at its rack''s site');
SELECT is(pg_temp.hidden_in(pg_temp.told('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-3'], 20)$$)),
          'none', 'rack move of a-3 out of the hidden rack into rack 20: nothing hidden is named');
SELECT is(pg_temp.hidden_in(pg_temp.told('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-3'], NULL)$$)),
          'none', 'removing a-3 from its (hidden) rack: nothing hidden is named');
SELECT is(pg_temp.place('a-3'), 'site 2, rack 7001, slot none', '... and a-3 is still in rack 7001');
SELECT is(pg_temp.snap(), pg_temp.marked(), 'none of these calls wrote anything');
SELECT is_empty($$SELECT 1 FROM fleet_placement_violation$$, '... and the placement invariant holds');

-------------------------------------------------------------------------------
-- Capacity: hidden members count, but are not counted out loud
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT matches(pg_temp.told('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4', 'a-5'], 10)$$),
               '^23514\|', 'rack 10 (1 x 3; a-1 and one hidden member) cannot take a-4 and a-5: 23514');
SELECT matches(pg_temp.told('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4', 'a-5'], 11)$$),
               '^23514\|', 'rack 11 (1 x 3; a-6 and two hidden members) cannot either: 23514');
SELECT is(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4', 'a-5'], 10)$$, 10),
          pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4', 'a-5'], 11)$$, 11),
          '... and the two racks, alike to the tenant, give the same error: hidden members are not counted in it');
SELECT matches(pg_temp.told('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4'], 12)$$),
               '^23514\|', 'rack 12, full of hidden members (it looks empty), takes nobody: 23514');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing is written');

-------------------------------------------------------------------------------
-- (1.1) slots, buildings and the rack and building moves
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT is((SELECT split_part(t, '|', 1) || ', hidden named: ' || pg_temp.hidden_in(t)
             FROM pg_temp.told('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4'], 10, false, ARRAY[0], ARRAY[1])$$) AS t),
          '23505, hidden named: none',
          '(1.1) slot 0,1 of rack 10 is held by a hidden device: 23505, naming neither the holder nor its id');
SELECT is(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_building(ARRAY['a-4'], 9001)$$, 9001),
          pg_temp.as_missing(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_building(ARRAY['a-4'], 999003)$$, 999003)),
          '(1.1) device move into a hidden building: as for a building that does not exist');
SELECT is(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_racks_to_building(ARRAY[20]::bigint[], 9001)$$, 9001),
          pg_temp.as_missing(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_racks_to_building(ARRAY[20]::bigint[], 999003)$$, 999003)),
          '(1.1) rack move into a hidden building: as for one that does not exist');
SELECT is(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_racks_to_site(ARRAY[20, 7001]::bigint[], 1)$$, 7001),
          pg_temp.as_missing(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_racks_to_site(ARRAY[20, 999002]::bigint[], 1)$$, 999002)),
          '(1.1) racks_to_site naming a hidden rack: as for a rack that does not exist');
SELECT is(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_racks_to_site(ARRAY[20]::bigint[], 8001)$$, 8001),
          pg_temp.as_missing(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_racks_to_site(ARRAY[20]::bigint[], 999001)$$, 999001)),
          '(1.1) racks_to_site into a hidden site: as for a site that does not exist');
SELECT is(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[100, 9001]::bigint[], 2)$$, 9001),
          pg_temp.as_missing(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[100, 999003]::bigint[], 2)$$, 999003)),
          '(1.1) buildings_to_site naming a hidden building: as for one that does not exist');
SELECT is(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[100]::bigint[], 8001)$$, 8001),
          pg_temp.as_missing(pg_temp.told_blank('fleet_leak_tenant', $$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[100]::bigint[], 999001)$$, 999001)),
          '(1.1) buildings_to_site into a hidden site: as for a site that does not exist');
SELECT is(pg_temp.told('fleet_leak_tenant', $$SELECT * FROM fleet_assign_devices_to_building(ARRAY['a-3'], 100)$$),
          'no error: (a-3,DEVICE_IN_RACK_AT_OTHER_BUILDING,,,)',
          '(1.1) a-3 in the hidden rack is a building conflict that names no rack, site or building');
SELECT is(pg_temp.snap(), pg_temp.marked(), '(1.1) none of these calls wrote anything');
SELECT is_empty($$SELECT 1 FROM fleet_placement_violation$$, 'the placement invariant holds at the end');

SELECT * FROM finish();
ROLLBACK;
