-- rack_behaviour.sql: every rule of fleet_assign_devices_to_rack (spec/api.md,
-- and the README's "Choices where the contract is silent" for the audit
-- row's site_id and description), on a small fixed fleet.
--
-- The fleet (pg_temp.reset() rebuilds it before each scenario):
--   sites 1 north, 2 south, 3 east
--   racks 10 at site 1 (3 x 3)      11 at site 1 (1 x 2, empty)
--         20 at site 2 (2 x 2)      30 no site (3 x 2)      31 no site (1 x 1, empty)
--   devices  loose-n  site 1, no rack        loose-u  Unassigned, no rack
--            loose-s  site 2, no rack
--            n1  site 1, rack 10, slot 0,0   n2  site 1, rack 10, slot 0,1
--            s1  site 2, rack 20, slot 1,1   s2  site 2, rack 20, no slot
--            x1  no site, rack 30, slot 1,0  x2  no site, rack 30, no slot
--   every updated_at is 2000-01-01, so that a write of now() shows.
-- "nothing written" compares a snapshot of every row version of every table
-- (values and ctid) and the activity id sequence, before and after the call.
-- The NOTIFY of an applied move is checked by the fuzz (test/tap/fuzz.t):
-- inside one pgTAP transaction nothing is ever delivered.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION fleet_sites;
\ir lib/helpers.psql

SELECT plan(106);

-------------------------------------------------------------------------------
-- Helpers of this file (the shared ones: clear, place, snap/mark/marked, audit,
-- as_role, are in lib/helpers.psql)
-------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.reset() RETURNS void LANGUAGE sql AS $$
    SELECT pg_temp.clear();
    INSERT INTO fleet_site (id, name) VALUES (1, 'north'), (2, 'south'), (3, 'east');
    INSERT INTO fleet_rack (id, label, site_id, row_count, column_count) VALUES
        (10, 'r-north', 1, 3, 3), (11, 'r-north-small', 1, 1, 2), (20, 'r-south', 2, 2, 2),
        (30, 'r-none', NULL, 3, 2), (31, 'r-none-tiny', NULL, 1, 1);
    INSERT INTO fleet_device (id, identifier, site_id, updated_at) VALUES
        (1, 'loose-n', 1, '2000-01-01'), (2, 'loose-u', NULL, '2000-01-01'), (9, 'loose-s', 2, '2000-01-01'),
        (3, 'n1', 1, '2000-01-01'), (4, 'n2', 1, '2000-01-01'),
        (5, 's1', 2, '2000-01-01'), (6, 's2', 2, '2000-01-01'),
        (7, 'x1', NULL, '2000-01-01'), (8, 'x2', NULL, '2000-01-01');
    INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES
        (10, 3), (10, 4), (20, 5), (20, 6), (30, 7), (30, 8);
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES
        (10, 3, 0, 0), (10, 4, 0, 1), (20, 5, 1, 1), (30, 7, 1, 0);
$$;

-- The row versions of a device's membership and slot (ctid and values).
CREATE FUNCTION pg_temp.placement_rows(ident text) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' ', (SELECT m.ctid || m::text FROM fleet_rack_membership m WHERE m.device_id = d.id),
                          (SELECT s.ctid || s::text FROM fleet_rack_slot s WHERE s.device_id = d.id))
      FROM fleet_device d WHERE d.identifier = ident
$$;

-- Call the rack function with search_path = path, return its rows as text.
CREATE FUNCTION pg_temp.call_with_path(path text, ids text[], target bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    old text := pg_catalog.current_setting('search_path');
    result text;
BEGIN
    PERFORM pg_catalog.set_config('search_path', path, true);
    SELECT pg_catalog.string_agg(r::text, ' ') INTO result
      FROM public.fleet_assign_devices_to_rack(ids, target) r;
    PERFORM pg_catalog.set_config('search_path', old, true);
    RETURN coalesce(result, 'no rows');
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE;
END $$;

-------------------------------------------------------------------------------
-- Objects of the same name earlier on the caller's search_path are never used
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
CREATE SCHEMA shadow;
CREATE TABLE shadow.fleet_rack (id bigint, site_id bigint, row_count int, column_count int);
CREATE TABLE shadow.fleet_device (id bigint, identifier text, site_id bigint, updated_at timestamptz);
CREATE TABLE shadow.fleet_rack_membership (rack_id bigint, device_id bigint);
INSERT INTO shadow.fleet_rack VALUES (999, 1, 12, 12);
INSERT INTO shadow.fleet_device VALUES (2, 'ghost', NULL, NULL);
SELECT pg_temp.mark();
SELECT is(pg_temp.call_with_path('shadow, public', ARRAY['loose-u'], 999), 'ERROR 23503',
          'a target that exists only in a shadow fleet_rack is missing');
SELECT is(pg_temp.call_with_path('shadow, public', ARRAY['ghost'], 10), '(ghost,DEVICE_NOT_FOUND,,,)',
          'a shadow fleet_device on the search_path is not read');
SELECT is(pg_temp.snap(), pg_temp.marked(), 'nothing written by the calls above');
SELECT is(pg_temp.call_with_path('shadow, public', ARRAY['loose-u'], 10), 'no rows',
          'with shadow tables on the path the move still applies');
SELECT is(pg_temp.place('loose-u'), 'site 1, rack 10, slot none', '... to the real tables');
SET LOCAL client_min_messages = warning;
DROP SCHEMA shadow CASCADE;
RESET client_min_messages;

-------------------------------------------------------------------------------
-- Joining a rack: leave any other rack (the old slot goes), take the rack's site
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u'], 10)$$,
                'an unracked Unassigned device joins a rack at a site');
SELECT is(pg_temp.place('loose-u'), 'site 1, rack 10, slot none', '... takes the rack''s site and gets no slot');

SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['s1'], 10)$$,
                'a device racked at another site joins the target rack');
SELECT is(pg_temp.place('s1'), 'site 1, rack 10, slot none', '... it leaves its old rack and takes the target''s site');
SELECT is_empty($$SELECT 'membership' FROM fleet_rack_membership WHERE device_id = 5 AND rack_id <> 10
                  UNION ALL SELECT 'slot' FROM fleet_rack_slot WHERE device_id = 5$$,
                '... its old membership and its old slot (1,1 in rack 20) are gone');
SELECT is(pg_temp.place('s2'), 'site 2, rack 20, slot none', '... its old rack-mate is untouched');
SELECT ok((SELECT updated_at = now() FROM fleet_device WHERE identifier = 's1'),
          '... and its updated_at is now() (its site changed)');

SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['x1'], 20)$$,
                'a device in a site-less rack joins a rack at a site');
SELECT is(pg_temp.place('x1'), 'site 2, rack 20, slot none', '... leaving rack 30 and its slot, taking site 2');
SELECT is(pg_temp.place('x2'), 'site Unassigned, rack 30, slot none', '... its old rack-mate is untouched');

-- Already in the target: keeps membership and slot (the very same rows).
SELECT pg_temp.reset();
CREATE TEMP TABLE n1_rows AS SELECT pg_temp.placement_rows('n1') AS r;
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['n1', 'loose-n'], 10)$$,
                'a move into rack 10 naming n1, already in it, and loose-n');
SELECT is(pg_temp.place('n1'), 'site 1, rack 10, slot 0,0', '... n1 keeps its membership and slot');
SELECT is(pg_temp.placement_rows('n1'), (SELECT r FROM n1_rows),
          '... the same membership and slot row versions (not deleted and re-inserted)');
SELECT is(pg_temp.place('loose-n'), 'site 1, rack 10, slot none', '... loose-n joins');
SELECT results_eq(
    $$SELECT event_type, site_id, description, metadata FROM pg_temp.audit()$$,
    $$VALUES ('devices.assigned_to_rack'::text, 1::bigint, 'Assigned 2 device(s) to rack 10'::text,
              '{"rack_id": 10, "device_count": 2, "device_identifiers": ["n1", "loose-n"]}'::jsonb)$$,
    '... audited without a site-change suffix or key (no site changed)');

-- Between two racks of the same site: no site change.
SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['n2'], 11)$$,
                'a device moves to another rack at its own site');
SELECT is(pg_temp.place('n2'), 'site 1, rack 11, slot none', '... it leaves rack 10 and its slot 0,1');
SELECT is(pg_temp.place('n1'), 'site 1, rack 10, slot 0,0', '... its old rack-mate is untouched');
SELECT results_eq(
    $$SELECT event_type, site_id, description, metadata FROM pg_temp.audit()$$,
    $$VALUES ('devices.assigned_to_rack'::text, 1::bigint, 'Assigned 1 device(s) to rack 11'::text,
              '{"rack_id": 11, "device_count": 1, "device_identifiers": ["n2"]}'::jsonb)$$,
    '... audited at the rack''s site, without site_changed_device_count');

-------------------------------------------------------------------------------
-- NULL target: out of whatever rack, sites stay
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['n1', 's1', 'loose-n', 'x1'], NULL)$$,
                'NULL target: devices leave their racks');
SELECT results_eq(
    $$SELECT identifier, pg_temp.place(identifier) FROM fleet_device ORDER BY id$$,
    $$VALUES ('loose-n'::text, 'site 1, rack none, slot none'),
             ('loose-u', 'site Unassigned, rack none, slot none'),
             ('n1', 'site 1, rack none, slot none'),
             ('n2', 'site 1, rack 10, slot 0,1'),
             ('s1', 'site 2, rack none, slot none'),
             ('s2', 'site 2, rack 20, slot none'),
             ('x1', 'site Unassigned, rack none, slot none'),
             ('x2', 'site Unassigned, rack 30, slot none'),
             ('loose-s', 'site 2, rack none, slot none')$$,
    '... n1, s1, x1 lose membership and slot and keep their sites; nobody else changes');
SELECT results_eq(
    $$SELECT event_type, site_id, description, metadata FROM pg_temp.audit()$$,
    $$VALUES ('devices.removed_from_rack'::text, NULL::bigint, 'Removed 4 device(s) from their racks'::text,
              '{"rack_id": null, "device_count": 4, "device_identifiers": ["n1", "s1", "loose-n", "x1"]}'::jsonb)$$,
    '... audited as devices.removed_from_rack, site_id NULL, rack_id JSON null, no site change');
SELECT is((SELECT count(*) FROM fleet_activity), 1::bigint, '... in exactly one activity row');

SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['n2'], NULL, true)$$,
                'NULL target with force and nothing to force: applies');
SELECT is(pg_temp.place('n2'), 'site 1, rack none, slot none', '... n2 leaves rack 10, keeps site 1');

SELECT pg_temp.mark();
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['s2', 'nope'], NULL, true)$$,
                  $$VALUES ('nope'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint)$$,
                  'NULL target with an unknown identifier, under force: DEVICE_NOT_FOUND');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written (s2 stays in rack 20)');

-------------------------------------------------------------------------------
-- DEVICE_NOT_FOUND
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['nope', 'loose-u'], 10)$$,
                  $$VALUES ('nope'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint)$$,
                  'unknown identifier: DEVICE_NOT_FOUND with no site and no rack');
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['nope', 'loose-u'], 10, true)$$,
                  $$VALUES ('nope'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint)$$,
                  '... also under force');
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['N1'], 10)$$,
                  $$VALUES ('N1'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint)$$,
                  'identifiers match exactly (N1 is not n1)');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written');

-------------------------------------------------------------------------------
-- DEVICE_LOSES_SITE: a site-less target rack and a device that has a site
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT results_eq(
    $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['s1', 'loose-u', 'x2', 'n1', 'loose-n'], 30)$$,
    $$VALUES ('loose-n'::text, 'DEVICE_LOSES_SITE'::fleet_conflict_reason, NULL::bigint, 30::bigint, NULL::bigint),
             ('n1', 'DEVICE_LOSES_SITE', NULL, 30, NULL),
             ('s1', 'DEVICE_LOSES_SITE', NULL, 30, NULL)$$,
    'site-less target: DEVICE_LOSES_SITE for each device with a site (no conflicting site, rack = target), byte order');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written (not even loose-u or x2)');

SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-n', 'n1', 'loose-u', 'x2'], 30, true)$$,
                'force: the devices join the site-less rack');
SELECT results_eq(
    $$SELECT identifier, pg_temp.place(identifier) FROM fleet_device WHERE identifier IN ('loose-n', 'n1', 'loose-u', 'x1', 'x2', 'n2') ORDER BY id$$,
    $$VALUES ('loose-n'::text, 'site Unassigned, rack 30, slot none'),
             ('loose-u', 'site Unassigned, rack 30, slot none'),
             ('n1', 'site Unassigned, rack 30, slot none'),
             ('n2', 'site 1, rack 10, slot 0,1'),
             ('x1', 'site Unassigned, rack 30, slot 1,0'),
             ('x2', 'site Unassigned, rack 30, slot none')$$,
    '... loose-n and n1 become Unassigned (n1 leaves rack 10 and its slot), x2 stays, x1 and n2 untouched');
SELECT results_eq(
    $$SELECT event_type, site_id, description, metadata FROM pg_temp.audit()$$,
    $$VALUES ('devices.assigned_to_rack'::text, NULL::bigint,
              'Assigned 4 device(s) to rack 30 (2 device site(s) changed)'::text,
              '{"rack_id": 30, "device_count": 4, "device_identifiers": ["loose-n", "n1", "loose-u", "x2"],
                "site_changed_device_count": 2}'::jsonb)$$,
    '... audited with site_id NULL (site-less rack) and 2 site changes');
SELECT is((SELECT count(*) FROM fleet_activity), 1::bigint, '... in exactly one activity row');

-- Residual conflicts under force: only those, nothing written.
SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT results_eq(
    $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['s1', 'nope', 'loose-n', 'Nope'], 30)$$,
    $$VALUES ('Nope'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint),
             ('loose-n', 'DEVICE_LOSES_SITE', NULL, 30, NULL),
             ('nope', 'DEVICE_NOT_FOUND', NULL, NULL, NULL),
             ('s1', 'DEVICE_LOSES_SITE', NULL, 30, NULL)$$,
    'without force: every conflict, in byte order');
SELECT results_eq(
    $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['s1', 'nope', 'loose-n', 'Nope'], 30, true)$$,
    $$VALUES ('Nope'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint),
             ('nope', 'DEVICE_NOT_FOUND', NULL, NULL, NULL)$$,
    'force with residual conflicts: only the residual ones');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written: s1 keeps rack 20 and its slot, nobody loses a site');

-- A device with no site into a site-less rack is no conflict.
SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u'], 31)$$,
                'an Unassigned device joins a site-less rack without force');
SELECT is(pg_temp.place('loose-u'), 'site Unassigned, rack 31, slot none', '... and is in it');
SELECT results_eq(
    $$SELECT event_type, site_id, description, metadata FROM pg_temp.audit()$$,
    $$VALUES ('devices.assigned_to_rack'::text, NULL::bigint, 'Assigned 1 device(s) to rack 31'::text,
              '{"rack_id": 31, "device_count": 1, "device_identifiers": ["loose-u"]}'::jsonb)$$,
    '... audited with site_id NULL and no site change');

-------------------------------------------------------------------------------
-- Capacity: members after the move <= row_count * column_count
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-n', 'loose-u', 'n1'], 11)$$, '23514', NULL,
                 'three devices into a 1 x 2 rack: 23514');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written (n1 keeps rack 10 and its slot)');
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-n', 'loose-u', 'loose-n'], 11)$$,
                'two distinct devices (one named twice) fill the 1 x 2 rack exactly');
SELECT pg_temp.mark();
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['n1'], 11)$$, '23514', NULL,
                 'a full rack takes no one more: 23514');
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u', 'loose-n'], 11)$$,
                'the two members named again: devices already in the target count once');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-n', 'n1'], 11)$$, '23514', NULL,
                 'one member and a newcomer, with the other member staying: 3 > 2, 23514');
SELECT results_eq($$SELECT count(*) FROM fleet_activity$$, $$VALUES (2::bigint)$$,
                  '... only the two applied moves were audited');
SELECT is(pg_temp.place('n1'), 'site 1, rack 10, slot 0,0', '... n1 never left rack 10');

SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-s', 'n1'], 20)$$,
                'rack 20 (2 x 2) with two members takes two more: exact fill');
SELECT is((SELECT count(*) FROM fleet_rack_membership WHERE rack_id = 20), 4::bigint, '... 4 members');

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u', 'loose-n'], 31)$$,
                  $$VALUES ('loose-n'::text, 'DEVICE_LOSES_SITE'::fleet_conflict_reason, NULL::bigint, 31::bigint, NULL::bigint)$$,
                  'two devices into a 1 x 1 site-less rack, one with a site: the conflict, not 23514');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u', 'loose-n'], 31, true)$$, '23514', NULL,
                 '... forced past the conflict, the capacity still applies: 23514');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written');

-------------------------------------------------------------------------------
-- Target rack missing: 23503 naming the id, nothing written
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u'], 999)$$, '23503', NULL,
                 'missing target rack: 23503');
SELECT throws_like($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u'], 999)$$, '%999%',
                   '... the message names the id');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['s1', 'nope'], 999)$$, '23503', NULL,
                 'missing target rack with would-be conflicts: 23503, not a conflict list');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['s1'], 999, true)$$, '23503', NULL,
                 'missing target rack under force: 23503');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... nothing written (s1 keeps its membership)');

-------------------------------------------------------------------------------
-- All or nothing: a failure after the old memberships went takes them back
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
CREATE FUNCTION public.fleet_test_refuse_s1() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.identifier = 's1' THEN
        RAISE EXCEPTION 'site write refused' USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fleet_test_refuse_s1 BEFORE UPDATE ON fleet_device
    FOR EACH ROW EXECUTE FUNCTION public.fleet_test_refuse_s1();
SELECT pg_temp.mark();
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['x1', 's1'], 10)$$, 'P0001', 'site write refused',
                 'a site write that fails mid-move fails the call');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing is left: both old memberships and slots, no audit row');
DROP TRIGGER fleet_test_refuse_s1 ON fleet_device;

-------------------------------------------------------------------------------
-- The audit row
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['s2', 'loose-u', 's2', 'loose-u', 'n1'], 10)$$,
                'a move into rack 10 (duplicates, one device already in it)');
SELECT results_eq(
    $$SELECT event_type, site_id, actor, description, metadata FROM fleet_activity$$,
    $$VALUES ('devices.assigned_to_rack'::text, 1::bigint, current_user::text COLLATE "default",
              'Assigned 3 device(s) to rack 10 (2 device site(s) changed)'::text,
              '{"rack_id": 10, "device_count": 3, "device_identifiers": ["s2", "loose-u", "n1"],
                "site_changed_device_count": 2}'::jsonb)$$,
    '... one audit row: distinct devices once, in input order, 2 site changes, actor = current_user');
SELECT ok((SELECT occurred_at BETWEEN now() AND clock_timestamp() FROM pg_temp.audit()),
          '... occurred_at within this transaction');
SELECT results_eq($$SELECT identifier, updated_at = now() FROM fleet_device WHERE identifier IN ('s2', 'loose-u') ORDER BY id$$,
                  $$VALUES ('loose-u'::text, true), ('s2', true)$$,
                  '... updated_at = now() on the devices whose site changed');

SET LOCAL fleet_sites.actor = 'rack-bot';
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-n'], 11)$$, 'a move with fleet_sites.actor set');
SELECT is((SELECT actor FROM pg_temp.audit()), 'rack-bot', '... records that actor');
SET LOCAL fleet_sites.actor = '';
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-n'], NULL)$$, 'a removal with fleet_sites.actor empty');
SELECT is((SELECT actor FROM pg_temp.audit()), current_user::text COLLATE "default", '... records current_user');

-- More than 50 devices: device_count is all of them, the list the first 50
-- distinct in input order.
SELECT pg_temp.reset();
INSERT INTO fleet_rack (id, label, site_id) VALUES (50, 'r-big', 3);
INSERT INTO fleet_device (id, identifier) SELECT 100 + g, 'm' || lpad(g::text, 2, '0') FROM generate_series(1, 60) g;
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(
                      (SELECT array_agg('m' || lpad(g::text, 2, '0') ORDER BY o)
                         FROM (SELECT g, (61 - g) * 2 AS o FROM generate_series(1, 60) g
                               UNION ALL SELECT 55, 1 UNION ALL SELECT 7, 3) s), 50)$$,
                'a move of 60 devices into rack 50, named 62 times: m55 m60 m07 m59 m58 ... m01 with m55, m07 again');
SELECT results_eq(
    $$SELECT description, (metadata ->> 'device_count')::int, (metadata ->> 'site_changed_device_count')::int,
             metadata -> 'device_identifiers' FROM pg_temp.audit()$$,
    $$SELECT 'Assigned 60 device(s) to rack 50 (60 device site(s) changed)'::text, 60, 60,
             to_jsonb((ARRAY['m55', 'm60', 'm07'] ||
                       (SELECT array_agg('m' || lpad(g::text, 2, '0') ORDER BY g DESC)
                          FROM generate_series(1, 59) g WHERE g NOT IN (55, 7)))[1:50])$$,
    '... description and counts say 60, device_identifiers the first 50 distinct in input order');
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(
                      (SELECT array_agg('m' || lpad(g::text, 2, '0') ORDER BY g) FROM generate_series(1, 60) g), NULL)$$,
                'the same 60 devices out of their rack');
SELECT results_eq(
    $$SELECT description, metadata - 'device_identifiers', jsonb_array_length(metadata -> 'device_identifiers') FROM pg_temp.audit()$$,
    $$VALUES ('Removed 60 device(s) from their racks'::text, '{"rack_id": null, "device_count": 60}'::jsonb, 50)$$,
    '... the removal lists 50 of 60');

-------------------------------------------------------------------------------
-- Bad input: the SQLSTATE of each rule, nothing written
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(NULL, 10)$$, '22004', NULL, 'ids NULL: 22004');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u', NULL], 10)$$, '22004', NULL,
                 'an element NULL: 22004');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack('[-3:-2]={loose-u,NULL}', 10)$$, '22004', NULL,
                 'an element NULL at a negative subscript: 22004');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack('{}', 10)$$, '22023', NULL, 'ids empty: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY[['loose-u', 'n1'], ['s1', 'x1']], 10)$$, '2202E', NULL,
                 'ids with two dimensions: 2202E');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack('{{loose-u}}', 10)$$, '2202E', NULL,
                 'ids with two dimensions and one element: 2202E');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u', ''], 10)$$, '22023', NULL,
                 'an empty identifier: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY[repeat('a', 257)], 10)$$, '22023', NULL,
                 'an identifier of 257 characters: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u', repeat('é', 257)], 10)$$, '22023', NULL,
                 'an identifier of 257 two-byte characters: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack((SELECT array_agg('u' || g) FROM generate_series(1, 10001) g), 10)$$,
                 '54000', NULL, '10,001 distinct ids: 54000');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u'], 0)$$, '22023', NULL, 'target_rack 0: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u'], -1)$$, '22023', NULL, 'target_rack -1: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u'], -9223372036854775808)$$, '22023', NULL,
                 'target_rack -2^63: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-u'], 10, NULL)$$, '22004', NULL,
                 'force_clear NULL: 22004');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['n1'], NULL, NULL)$$, '22004', NULL,
                 'force_clear NULL with a NULL target: 22004');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack('{}', 999)$$, '22023', NULL,
                 'input is checked before the target: empty ids with a missing rack is 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['s1'], 999, NULL)$$, '22004', NULL,
                 'input is checked before the target: force_clear NULL with a missing rack is 22004');
SELECT is(pg_temp.snap(), pg_temp.marked(), 'nothing written by any bad input');

-- The edges that are not errors.
SELECT results_eq($$SELECT count(*), count(*) FILTER (WHERE reason = 'DEVICE_NOT_FOUND')
                      FROM fleet_assign_devices_to_rack((SELECT array_agg('u' || g) FROM generate_series(1, 10000) g), 10)$$,
                  $$VALUES (10000::bigint, 10000::bigint)$$,
                  '10,000 distinct ids are accepted (10,000 DEVICE_NOT_FOUND)');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written');
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack('[5:6]={loose-u,s2}', 20)$$,
                'ids subscripted 5..6 apply');
SELECT results_eq($$SELECT pg_temp.place('loose-u'), metadata -> 'device_identifiers' FROM pg_temp.audit()$$,
                  $$VALUES ('site 2, rack 20, slot none', '["loose-u", "s2"]'::jsonb)$$,
                  '... every element is used, in order');

-------------------------------------------------------------------------------
-- Call forms
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['loose-n'], 30)$$,
                  $$VALUES ('loose-n'::text, 'DEVICE_LOSES_SITE'::fleet_conflict_reason, NULL::bigint, 30::bigint, NULL::bigint)$$,
                  'force_clear defaults to false');
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_rack(force_clear => true, target_rack => 30, ids => ARRAY['loose-n'])$$,
                'named arguments ids, target_rack, force_clear');
SELECT is(pg_temp.place('loose-n'), 'site Unassigned, rack 30, slot none', '... and they mean what they say');

SELECT is_empty($$SELECT * FROM fleet_placement_violation$$, 'the placement invariant holds at the end');

SELECT * FROM finish();
ROLLBACK;
