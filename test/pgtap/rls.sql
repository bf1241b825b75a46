-- rls.sql: row-level security applies to fleet_assign_devices_to_site
-- (spec/api.md: SECURITY INVOKER; "a device the caller cannot see is
-- DEVICE_NOT_FOUND, and no statement touches it"; the placement invariant).
--
-- Tenant "a" sees the devices and racks whose names start with "a-", the
-- memberships of those devices in those racks, and their slots.
--   sites 1, 2
--   racks   10 a-rack (site 2, 1 x 2, full)   20 b-rack (site 2)   30 a-rack-1 (site 1)
--           40 a-rack-2 (site 2, empty)
--   devices a-1  site 2, rack 10, slot 0,0
--           a-2  site 1, no rack
--           b-1  site 2, rack 20, slot 0,0
--           b-2  site 2, rack 10, slot 0,1   (tenant b's device in a's rack)
--           a-3  site 2, rack 20, slot 1,1   (a's device in b's rack)
-- fleet_test_tenant has both rights (UPDATE on fleet_device, DELETE on
-- fleet_rack_membership); it is not the owner and does not bypass RLS.
-- fleet_test_racker sees what the tenant sees and holds the rack right
-- only (INSERT, DELETE on fleet_rack_membership; no UPDATE on fleet_device).
-- fleet_test_reader may read every device but update only a-*.
-- Every check of the result is made as the session user (a superuser, who
-- sees every row).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION fleet_sites;
\ir lib/helpers.psql

SELECT plan(59);

CREATE ROLE fleet_test_tenant NOLOGIN;
CREATE ROLE fleet_test_reader NOLOGIN;
CREATE ROLE fleet_test_racker NOLOGIN;
GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    TO fleet_test_tenant, fleet_test_reader, fleet_test_racker;
GRANT UPDATE ON fleet_device TO fleet_test_tenant, fleet_test_reader;
GRANT INSERT, DELETE ON fleet_rack_membership TO fleet_test_tenant, fleet_test_reader, fleet_test_racker;
GRANT EXECUTE ON FUNCTION fleet_assign_devices_to_site(text[], bigint, boolean)
    TO fleet_test_tenant, fleet_test_reader;
GRANT EXECUTE ON FUNCTION fleet_assign_devices_to_rack(text[], bigint, boolean, integer[], integer[])
    TO fleet_test_tenant, fleet_test_reader, fleet_test_racker;

ALTER TABLE fleet_device ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_rack ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_rack_membership ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_rack_slot ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_a ON fleet_device TO fleet_test_tenant, fleet_test_racker
    USING (identifier LIKE 'a-%') WITH CHECK (identifier LIKE 'a-%');
CREATE POLICY tenant_a ON fleet_rack TO fleet_test_tenant, fleet_test_racker
    USING (label LIKE 'a-%');
CREATE POLICY tenant_a ON fleet_rack_membership TO fleet_test_tenant, fleet_test_racker
    USING (EXISTS (SELECT 1 FROM fleet_device d WHERE d.id = device_id)
           AND EXISTS (SELECT 1 FROM fleet_rack r WHERE r.id = rack_id));
CREATE POLICY tenant_a ON fleet_rack_slot TO fleet_test_tenant, fleet_test_racker
    USING (EXISTS (SELECT 1 FROM fleet_rack_membership m
                    WHERE m.rack_id = fleet_rack_slot.rack_id AND m.device_id = fleet_rack_slot.device_id));

CREATE POLICY read_all ON fleet_device FOR SELECT TO fleet_test_reader USING (true);
CREATE POLICY update_a ON fleet_device FOR UPDATE TO fleet_test_reader
    USING (identifier LIKE 'a-%') WITH CHECK (identifier LIKE 'a-%');
CREATE POLICY all_rows ON fleet_rack TO fleet_test_reader USING (true);
CREATE POLICY all_rows ON fleet_rack_membership TO fleet_test_reader USING (true);
CREATE POLICY all_rows ON fleet_rack_slot TO fleet_test_reader USING (true);

-------------------------------------------------------------------------------
-- Helpers of this file (the shared ones: clear, place, snap/mark/marked, audit,
-- as_role, are in lib/helpers.psql)
-------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.reset() RETURNS void LANGUAGE sql AS $$
    SELECT pg_temp.clear();
    INSERT INTO fleet_site (id, name) VALUES (1, 'one'), (2, 'two');
    INSERT INTO fleet_rack (id, label, site_id, row_count, column_count) VALUES
        (10, 'a-rack', 2, 1, 2), (20, 'b-rack', 2, 12, 12), (30, 'a-rack-1', 1, 12, 12), (40, 'a-rack-2', 2, 12, 12);
    INSERT INTO fleet_device (id, identifier, site_id) VALUES
        (1, 'a-1', 2), (2, 'a-2', 1), (3, 'b-1', 2), (4, 'b-2', 2), (5, 'a-3', 2);
    INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (10, 1), (20, 3), (10, 4), (20, 5);
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES
        (10, 1, 0, 0), (20, 3, 0, 0), (10, 4, 0, 1), (20, 5, 1, 1);
$$;

CREATE FUNCTION pg_temp.violations() RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(d.identifier || ' at site ' || coalesce(d.site_id::text, 'none')
                               || ' in rack ' || r.id || ' at site ' || coalesce(r.site_id::text, 'none'), '; '), 'none')
      FROM fleet_device d
      JOIN fleet_rack_membership m ON m.device_id = d.id
      JOIN fleet_rack r ON r.id = m.rack_id
     WHERE d.site_id IS DISTINCT FROM r.site_id
$$;

-------------------------------------------------------------------------------
-- The policies work (otherwise the rest proves nothing)
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT identifier FROM fleet_device ORDER BY identifier$$),
          '(a-1) (a-2) (a-3)', 'the tenant sees its devices only');
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT rack_id, device_id FROM fleet_rack_membership$$),
          '(10,1)', 'the tenant sees only the membership of its device in its rack');
SELECT ok(NOT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'fleet_test_tenant'),
          'the tenant role neither is a superuser nor bypasses RLS');

-------------------------------------------------------------------------------
-- A device the caller cannot see is not found and not touched
-------------------------------------------------------------------------------

SELECT pg_temp.mark();
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['b-1'], 1)$$),
          '(b-1,DEVICE_NOT_FOUND,,,)', 'an invisible device is DEVICE_NOT_FOUND (not a rack conflict)');
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['b-1'], 1, true)$$),
          '(b-1,DEVICE_NOT_FOUND,,,)', '... also under force');
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['b-1'], NULL, true)$$),
          '(b-1,DEVICE_NOT_FOUND,,,)', '... also to Unassigned');
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-2', 'b-1'], 2)$$),
          '(b-1,DEVICE_NOT_FOUND,,,)', 'a visible and an invisible device: only the invisible one is reported');
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-1', 'b-2'], 1, true)$$),
          '(b-2,DEVICE_NOT_FOUND,,,)', 'force with a clearable visible device and an invisible one: only the residual');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... none of these calls wrote anything');
SELECT is(pg_temp.place('b-1'), 'site 2, rack 20, slot 0,0', 'b-1 keeps its site, membership and slot');
SELECT is(pg_temp.place('a-1'), 'site 2, rack 10, slot 0,0', 'a-1 keeps its membership (no half-applied force)');

-------------------------------------------------------------------------------
-- A visible device moves; the invisible rack-mate stays
-------------------------------------------------------------------------------

SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-1'], 1, true)$$),
          'no rows', 'the tenant force-moves its own racked device');
SELECT is(pg_temp.place('a-1'), 'site 1, rack none, slot none', '... which leaves its rack and slot');
SELECT is(pg_temp.place('b-2'), 'site 2, rack 10, slot 0,1', '... while the invisible device in the same rack stays');
SELECT results_eq($$SELECT actor, description, metadata FROM fleet_activity$$,
                  $$VALUES ('fleet_test_tenant'::text,
                            'Reassigned 1 device(s) to site 1 (1 rack membership(s) force-cleared)'::text,
                            '{"target_site_id": 1, "device_count": 1, "device_identifiers": ["a-1"],
                              "force_cleared_rack_membership_count": 1,
                              "force_cleared_device_identifiers": ["a-1"]}'::jsonb)$$,
                  '... and the audit row names only the visible device');
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-2'], NULL)$$),
          'no rows', 'the tenant moves its unracked device to Unassigned');
SELECT is(pg_temp.place('a-2'), 'site Unassigned, rack none, slot none', '... and it is Unassigned');

-------------------------------------------------------------------------------
-- A visible device whose membership the caller cannot see (it is in another
-- tenant's rack): the move must not break the placement invariant, and the
-- hidden membership is not the caller's to delete.
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT isnt(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-3'], 1)$$),
            'no rows', 'moving a-3, racked in a rack the tenant cannot see, is not applied');
SELECT is(pg_temp.place('a-3'), 'site 2, rack 20, slot 1,1', '... a-3 stays at its rack''s site, in its rack and slot');
SELECT is(pg_temp.violations(), 'none', '... the placement invariant holds');
SELECT isnt(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-3'], 1, true)$$),
            'no rows', 'the same with force is not applied');
SELECT is(pg_temp.place('a-3'), 'site 2, rack 20, slot 1,1', '... the hidden membership is not deleted, a-3 does not move');
SELECT is(pg_temp.violations(), 'none', '... the placement invariant holds');

-------------------------------------------------------------------------------
-- The rack move: a device the caller cannot see is not found and not
-- touched, whether the caller may update devices (tenant) or not (racker)
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['b-1'], 40)$$),
          '(b-1,DEVICE_NOT_FOUND,,,)', 'rack move: an invisible device is DEVICE_NOT_FOUND');
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['b-1'], 30, true)$$),
          '(b-1,DEVICE_NOT_FOUND,,,)', '... also under force');
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['b-1'], NULL)$$),
          '(b-1,DEVICE_NOT_FOUND,,,)', '... also for a removal from racks');
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-2', 'b-2'], 30)$$),
          '(b-2,DEVICE_NOT_FOUND,,,)', 'a visible and an invisible device: only the invisible one is reported');
SELECT is(pg_temp.as_role('fleet_test_racker', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['b-2'], 40)$$),
          '(b-2,DEVICE_NOT_FOUND,,,)',
          'rack-only caller: an invisible device is DEVICE_NOT_FOUND (even where no site would change)');
SELECT is(pg_temp.as_role('fleet_test_racker', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['b-1'], NULL)$$),
          '(b-1,DEVICE_NOT_FOUND,,,)', 'rack-only caller: ... also for a removal from racks');
SELECT is(pg_temp.as_role('fleet_test_racker', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-2', 'b-1'], 30, true)$$),
          '(b-1,DEVICE_NOT_FOUND,,,)', 'rack-only caller: ... and a batch with one is not applied');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... none of these calls wrote anything');
SELECT results_eq($$SELECT pg_temp.place('b-1'), pg_temp.place('b-2')$$,
                  $$VALUES ('site 2, rack 20, slot 0,0', 'site 2, rack 10, slot 0,1')$$,
                  'b-1 and b-2 keep their sites, memberships and slots');

SELECT is(pg_temp.as_role('fleet_test_racker', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-2'], 30)$$),
          'no rows', 'rack-only caller: its own device joins its own rack at the device''s site');
SELECT is(pg_temp.place('a-2'), 'site 1, rack 30, slot none', '... and is in it');
SELECT is(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-1'], 30)$$),
          'no rows', 'the tenant moves its device from its rack 10 (site 2) into its rack 30 (site 1)');
SELECT results_eq($$SELECT pg_temp.place('a-1'), pg_temp.place('b-2')$$,
                  $$VALUES ('site 1, rack 30, slot none', 'site 2, rack 10, slot 0,1')$$,
                  '... a-1 leaves rack 10 and its slot; the invisible b-2 in rack 10 stays');
SELECT results_eq($$SELECT actor, description, metadata FROM fleet_activity ORDER BY id DESC LIMIT 1$$,
                  $$VALUES ('fleet_test_tenant'::text, 'Assigned 1 device(s) to rack 30 (1 device site(s) changed)'::text,
                            '{"rack_id": 30, "device_count": 1, "device_identifiers": ["a-1"],
                              "site_changed_device_count": 1}'::jsonb)$$,
                  '... and the audit row names only that device');

-- Capacity counts the members the caller cannot see: rack 10 (1 x 2)
-- holds a-1 and the invisible b-2.
SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT matches(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-3'], 10)$$),
               '^ERROR 23514', 'a rack full of members, one of them invisible to the caller, is full: 23514');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written');

-------------------------------------------------------------------------------
-- The rack move of a visible device whose membership the caller cannot see
-- (a-3, in b-rack 20): it must not end up in two racks, nor in a rack at
-- another site; the hidden membership is not the caller's to delete.
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT isnt(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-3'], 40)$$),
            'no rows', 'moving a-3 into the tenant''s rack 40 (same site) is not applied');
SELECT is(pg_temp.place('a-3'), 'site 2, rack 20, slot 1,1', '... a-3 stays in rack 20 with its slot');
SELECT is_empty($$SELECT 1 FROM fleet_rack_membership WHERE rack_id = 40$$, '... and did not join rack 40');
SELECT is(pg_temp.violations(), 'none', '... the placement invariant holds');
SELECT isnt(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-3'], 30)$$),
            'no rows', 'moving a-3 into the tenant''s rack 30 at another site is not applied');
SELECT is(pg_temp.place('a-3'), 'site 2, rack 20, slot 1,1', '... a-3 keeps its site, rack and slot');
SELECT is(pg_temp.violations(), 'none', '... the placement invariant holds');
SELECT isnt(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-2', 'a-3'], NULL)$$),
            'no rows', 'removing a-3 (and a-2) from their racks is not applied');
SELECT is(pg_temp.place('a-3'), 'site 2, rack 20, slot 1,1', '... a-3 stays in rack 20');
SELECT isnt(pg_temp.as_role('fleet_test_racker', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-3'], 40)$$),
            'no rows', 'rack-only caller: moving a-3 into rack 40 is not applied either');
SELECT is(pg_temp.violations(), 'none', '... the placement invariant holds');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and none of these calls wrote anything');

-- A target rack the caller cannot see: the device would join a rack through
-- a membership the caller may not create.
SELECT isnt(pg_temp.as_role('fleet_test_tenant', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-2'], 20)$$),
            'no rows', 'moving a-2 into the invisible b-rack 20 is not applied');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... nothing written: a-2 keeps site 1 and joins no rack');

-------------------------------------------------------------------------------
-- A device the caller may read but not update is not touched either, and
-- the batch stays all or nothing.
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT isnt(pg_temp.as_role('fleet_test_reader', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-2', 'b-1'], 2, true)$$),
            'no rows', 'a batch with a device the caller may not update is not applied');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... nothing written: b-1 untouched, a-2 not moved alone');

-- The rack move of devices the reader can see but not update. Where no site
-- changes, no device row is written, but the contract locks device rows on
-- the caller's rights whenever the caller holds UPDATE on fleet_device (only a
-- rack-only caller's locks run on the extension's authority), and a policy
-- that forbids the update forbids that lock. Whether the move then applies
-- is not fixed; that it is all or nothing is.
SELECT pg_temp.reset();
SELECT pg_temp.mark();
CREATE TEMP TABLE reader_move AS
    SELECT pg_temp.as_role('fleet_test_reader', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-1', 'b-1'], 40)$$) AS result;
SELECT ok(CASE WHEN (SELECT result FROM reader_move) = 'no rows'
               THEN pg_temp.place('a-1') = 'site 2, rack 40, slot none' AND pg_temp.place('b-1') = 'site 2, rack 40, slot none'
               ELSE pg_temp.snap() = pg_temp.marked() END,
          'a rack move (no site changes) of devices the caller may read but not all update is all or nothing');
SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT isnt(pg_temp.as_role('fleet_test_reader', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-2', 'a-1', 'b-1'], 30)$$),
            'no rows', 'a rack move that would change the site of a device the caller may not update is not applied');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... nothing written: b-1, a-1 and a-2 stay where they are');
SELECT is(pg_temp.violations(), 'none', '... the placement invariant holds');

SELECT * FROM finish();
ROLLBACK;
