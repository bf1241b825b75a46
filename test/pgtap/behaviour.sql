-- behaviour.sql: every rule of fleet_assign_devices_to_site (spec/api.md),
-- and the scenario table of reference/upstream.md, on a small fixed fleet.
--
-- The fleet (pg_temp.reset() rebuilds it before each scenario):
--   sites 1 north, 2 south, 3 east
--   racks 10 at site 1, 20 at site 2, 30 with no site
--   devices  loose-n  site 1, no rack        loose-u  Unassigned, no rack
--            n1  site 1, rack 10, slot 0,0   n2  site 1, rack 10, slot 0,1
--            s1  site 2, rack 20, slot 2,2   s2  site 2, rack 20, no slot
--            x1  no site, rack 30, slot 1,0  x2  no site, rack 30, no slot
-- "nothing written" compares a snapshot of every row version of every table
-- (values and ctid) and the activity id sequence, before and after the call.
-- Sections: search_path, scenario table, target missing, conflict order and
-- force partition, audit row, bad input, call forms. The rack function's
-- scenarios are in rack_behaviour.sql.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION fleet_sites;
\ir lib/helpers.psql

SELECT plan(100);

-------------------------------------------------------------------------------
-- Helpers of this file (the shared ones: clear, place, snap/mark/marked, audit,
-- as_role, are in lib/helpers.psql)
-------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.reset() RETURNS void LANGUAGE sql AS $$
    SELECT pg_temp.clear();
    INSERT INTO fleet_site (id, name) VALUES (1, 'north'), (2, 'south'), (3, 'east');
    INSERT INTO fleet_rack (id, label, site_id) VALUES (10, 'r-north', 1), (20, 'r-south', 2), (30, 'r-none', NULL);
    INSERT INTO fleet_device (id, identifier, site_id) VALUES
        (1, 'loose-n', 1), (2, 'loose-u', NULL), (3, 'n1', 1), (4, 'n2', 1),
        (5, 's1', 2), (6, 's2', 2), (7, 'x1', NULL), (8, 'x2', NULL);
    INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES
        (10, 3), (10, 4), (20, 5), (20, 6), (30, 7), (30, 8);
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES
        (10, 3, 0, 0), (10, 4, 0, 1), (20, 5, 2, 2), (30, 7, 1, 0);
$$;

-- Call the site function with search_path = path, return its rows as text.
CREATE FUNCTION pg_temp.call_with_path(path text, ids text[], target bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    old text := pg_catalog.current_setting('search_path');
    result text;
BEGIN
    PERFORM pg_catalog.set_config('search_path', path, true);
    SELECT pg_catalog.string_agg(r::text, ' ') INTO result
      FROM public.fleet_assign_devices_to_site(ids, target) r;
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
CREATE TABLE shadow.fleet_site (id bigint, name text);
CREATE TABLE shadow.fleet_device (id bigint, identifier text, site_id bigint, updated_at timestamptz);
CREATE TABLE shadow.fleet_rack (id bigint, site_id bigint);
CREATE TABLE shadow.fleet_rack_membership (rack_id bigint, device_id bigint);
INSERT INTO shadow.fleet_site VALUES (999, 'shadow site');
INSERT INTO shadow.fleet_device VALUES (2, 'ghost', NULL, NULL);
INSERT INTO shadow.fleet_rack VALUES (40, 2);
INSERT INTO shadow.fleet_rack_membership VALUES (40, 2);
CREATE FUNCTION shadow.always_equal(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR shadow.= (LEFTARG = text, RIGHTARG = text, FUNCTION = shadow.always_equal);
SELECT pg_temp.mark();

SELECT is(pg_temp.call_with_path('shadow, public', ARRAY['ghost', 'loose-u'], 3),
          '(ghost,DEVICE_NOT_FOUND,,,)',
          'shadow tables on the search_path are not read (ghost is not found, loose-u has no rack)');
SELECT is(pg_temp.call_with_path('shadow, public', ARRAY['loose-u'], 999), 'ERROR 23503',
          'a target that exists only in a shadow fleet_site is missing');
SELECT is(pg_temp.call_with_path('shadow, pg_catalog, public', ARRAY['nope'], 1),
          '(nope,DEVICE_NOT_FOUND,,,)',
          'a shadow text = operator ahead of pg_catalog is not used');
SELECT is(pg_temp.snap(), pg_temp.marked(), 'nothing written by the calls above');
SELECT is(pg_temp.call_with_path('shadow, public', ARRAY['loose-u'], 3), 'no rows',
          'with shadow tables on the path the move still applies');
SELECT is(pg_temp.place('loose-u'), 'site 3, rack none, slot none', '... to the real fleet_device');
SET LOCAL client_min_messages = warning;
DROP SCHEMA shadow CASCADE;
RESET client_min_messages;

-------------------------------------------------------------------------------
-- The scenario table, target = a site (site 1)
-------------------------------------------------------------------------------

-- Not in a rack: site := S.
SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-u'], 1)$$,
                'unracked device to a site: no conflict');
SELECT is(pg_temp.place('loose-u'), 'site 1, rack none, slot none', '... and it is at the site');

-- In a rack at S: no conflict, stays racked (membership and slot).
SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['n1'], 1)$$,
                'device in a rack at the target: no conflict');
SELECT is(pg_temp.place('n1'), 'site 1, rack 10, slot 0,0', '... it keeps its rack and slot');

-- In a rack at T <> S: conflict (T, rack); nothing written.
SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['s1'], 1)$$,
                  $$VALUES ('s1'::text, 'DEVICE_IN_RACK_AT_OTHER_SITE'::fleet_conflict_reason, 2::bigint, 20::bigint, NULL::bigint)$$,
                  'device in a rack at another site: conflict naming that site and rack');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written');

-- ... with force: membership and slot deleted, site := S; its rack-mate stays.
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['s1'], 1, true)$$,
                'force: device in a rack at another site moves');
SELECT is(pg_temp.place('s1'), 'site 1, rack none, slot none', '... without its membership and slot');
SELECT is(pg_temp.place('s2'), 'site 2, rack 20, slot none', '... its rack-mate is untouched');

-- In a site-less rack: conflict (no site, rack); with force: cleared.
SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['x1'], 1)$$,
                  $$VALUES ('x1'::text, 'DEVICE_IN_RACK_AT_OTHER_SITE'::fleet_conflict_reason, NULL::bigint, 30::bigint, NULL::bigint)$$,
                  'device in a site-less rack to a site: conflict with no site and that rack');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written');
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['x1'], 1, true)$$,
                'force: device in a site-less rack moves');
SELECT is(pg_temp.place('x1'), 'site 1, rack none, slot none', '... without its membership and slot');
SELECT is(pg_temp.place('x2'), 'site Unassigned, rack 30, slot none', '... its rack-mate is untouched');

-- Unknown identifier: DEVICE_NOT_FOUND, also under force.
SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['nope'], 1)$$,
                  $$VALUES ('nope'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint)$$,
                  'unknown identifier: DEVICE_NOT_FOUND');
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['nope'], 1, true)$$,
                  $$VALUES ('nope'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint)$$,
                  'unknown identifier under force: DEVICE_NOT_FOUND');
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['N1'], 1)$$,
                  $$VALUES ('N1'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint)$$,
                  'identifiers match exactly (N1 is not n1)');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written');

-------------------------------------------------------------------------------
-- The scenario table, target = Unassigned (NULL)
-------------------------------------------------------------------------------

-- Not in a rack: site := NULL.
SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-n'], NULL)$$,
                'unracked device to Unassigned: no conflict');
SELECT is(pg_temp.place('loose-n'), 'site Unassigned, rack none, slot none', '... and it is Unassigned');

-- In a rack at a site: conflict (that site, rack); with force: cleared, site NULL.
SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['n1'], NULL)$$,
                  $$VALUES ('n1'::text, 'DEVICE_IN_RACK_AT_OTHER_SITE'::fleet_conflict_reason, 1::bigint, 10::bigint, NULL::bigint)$$,
                  'device in a rack at a site to Unassigned: conflict naming that site and rack');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written');
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['n1', 's1'], NULL, true)$$,
                'force: devices in racks at sites go Unassigned');
SELECT is(pg_temp.place('n1'), 'site Unassigned, rack none, slot none', '... n1 without membership and slot');
SELECT is(pg_temp.place('s1'), 'site Unassigned, rack none, slot none', '... s1 without membership and slot');
SELECT is(pg_temp.place('n2'), 'site 1, rack 10, slot 0,1', '... their rack-mates are untouched');

-- In a site-less rack: no conflict, stays racked (with or without force).
SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['x1'], NULL)$$,
                'device in a site-less rack to Unassigned: no conflict');
SELECT is(pg_temp.place('x1'), 'site Unassigned, rack 30, slot 1,0', '... it stays in its rack and slot');
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['x1'], NULL, true)$$,
                'the same with force: no conflict');
SELECT is(pg_temp.place('x1'), 'site Unassigned, rack 30, slot 1,0', '... and force clears nothing');
SELECT ok(NOT (SELECT metadata FROM pg_temp.audit()) ?| ARRAY['force_cleared_rack_membership_count',
                                                             'force_cleared_device_identifiers'],
          '... and its audit row has no force-clear keys');

-- Unknown identifier: DEVICE_NOT_FOUND.
SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['nope'], NULL, true)$$,
                  $$VALUES ('nope'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint)$$,
                  'unknown identifier to Unassigned under force: DEVICE_NOT_FOUND');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written');

-------------------------------------------------------------------------------
-- Target site missing: 23503 naming the id, no conflict list, nothing written
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-u'], 999)$$, '23503', NULL,
                 'missing target site: 23503');
SELECT throws_like($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-u'], 999)$$, '%999%',
                   '... the message names the id');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['s1', 'nope'], 999)$$, '23503', NULL,
                 'missing target site with would-be conflicts: 23503, not a conflict list');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['s1'], 999, true)$$, '23503', NULL,
                 'missing target site under force: 23503');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... nothing written (s1 keeps its membership)');

-------------------------------------------------------------------------------
-- Conflict order and the force partition
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT results_eq(
    $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['x1', 'nope', 's1', 'Nope', 'é-dev', '_u', 'n1', 'loose-u'], 3)$$,
    $$VALUES ('Nope'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint),
             ('_u', 'DEVICE_NOT_FOUND', NULL, NULL, NULL),
             ('n1', 'DEVICE_IN_RACK_AT_OTHER_SITE', 1, 10, NULL),
             ('nope', 'DEVICE_NOT_FOUND', NULL, NULL, NULL),
             ('s1', 'DEVICE_IN_RACK_AT_OTHER_SITE', 2, 20, NULL),
             ('x1', 'DEVICE_IN_RACK_AT_OTHER_SITE', NULL, 30, NULL),
             ('é-dev', 'DEVICE_NOT_FOUND', NULL, NULL, NULL)$$,
    'all conflicts, sorted by identifier in byte order');
SELECT results_eq(
    $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['x1', 'nope', 's1', 'Nope', 'é-dev', '_u', 'n1', 'loose-u'], 3, true)$$,
    $$VALUES ('Nope'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint),
             ('_u', 'DEVICE_NOT_FOUND', NULL, NULL, NULL),
             ('nope', 'DEVICE_NOT_FOUND', NULL, NULL, NULL),
             ('é-dev', 'DEVICE_NOT_FOUND', NULL, NULL, NULL)$$,
    'force with residual conflicts: only the residual ones, in byte order');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written: no membership deleted');

SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['nope', 'x1', 'nope'], 3)$$,
                  $$VALUES ('nope'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint),
                           ('x1', 'DEVICE_IN_RACK_AT_OTHER_SITE', NULL, 30, NULL)$$,
                  'a duplicated identifier is one conflict');

-- Only clearable conflicts: exactly the conflicting memberships go.
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['s1', 'x1', 'n1', 'loose-u'], 1, true)$$,
                'force with only clearable conflicts applies');
SELECT results_eq(
    $$SELECT identifier, pg_temp.place(identifier) FROM fleet_device ORDER BY id$$,
    $$VALUES ('loose-n'::text, 'site 1, rack none, slot none'),
             ('loose-u', 'site 1, rack none, slot none'),
             ('n1', 'site 1, rack 10, slot 0,0'),
             ('n2', 'site 1, rack 10, slot 0,1'),
             ('s1', 'site 1, rack none, slot none'),
             ('s2', 'site 2, rack 20, slot none'),
             ('x1', 'site 1, rack none, slot none'),
             ('x2', 'site Unassigned, rack 30, slot none')$$,
    '... s1 and x1 lose rack and slot, n1 (already at the target) keeps both, nobody else changes');
SELECT results_eq(
    $$SELECT event_type, site_id, description, metadata - 'force_cleared_device_identifiers' FROM pg_temp.audit()$$,
    $$VALUES ('devices.reassigned_to_site'::text, 1::bigint,
              'Reassigned 4 device(s) to site 1 (2 rack membership(s) force-cleared)'::text,
              '{"target_site_id": 1, "device_count": 4, "device_identifiers": ["s1", "x1", "n1", "loose-u"],
                "force_cleared_rack_membership_count": 2}'::jsonb)$$,
    '... the audit row records the move and the force clear');
SELECT set_eq($$SELECT jsonb_array_elements_text(metadata -> 'force_cleared_device_identifiers') FROM pg_temp.audit()$$,
              ARRAY['s1', 'x1'],
              '... and lists the cleared identifiers');
SELECT is((SELECT count(*) FROM fleet_activity), 1::bigint, '... in exactly one activity row');

-- force with no conflict at all: a plain move, no force-clear trace.
SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-u', 'n1'], 1, true)$$,
                'force without conflicts applies');
SELECT results_eq($$SELECT description, metadata FROM pg_temp.audit()$$,
                  $$VALUES ('Reassigned 2 device(s) to site 1'::text,
                            '{"target_site_id": 1, "device_count": 2, "device_identifiers": ["loose-u", "n1"]}'::jsonb)$$,
                  '... its audit row has no force-clear suffix or keys');

-- A failure after the force clear (a trigger refuses s1's site write)
-- fails the call and takes the clear back with it: all or nothing.
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
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['x1', 's1'], 1, true)$$, 'P0001', 'site write refused',
                 'a site write that fails after the force clear fails the call');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing is left: both memberships and slots, no audit row');
DROP TRIGGER fleet_test_refuse_s1 ON fleet_device;

-------------------------------------------------------------------------------
-- The audit row
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['s2', 'loose-u', 's2', 'loose-u'], 2)$$,
                'a move to site 2 (duplicates, one device already racked there)');
SELECT results_eq(
    $$SELECT event_type, site_id, actor, description, metadata FROM fleet_activity$$,
    $$VALUES ('devices.reassigned_to_site'::text, 2::bigint, current_user::text COLLATE "default",
              'Reassigned 2 device(s) to site 2'::text,
              '{"target_site_id": 2, "device_count": 2, "device_identifiers": ["s2", "loose-u"]}'::jsonb)$$,
    '... writes one audit row: distinct devices counted once, in input order, actor = current_user');
SELECT ok((SELECT occurred_at BETWEEN now() AND clock_timestamp() FROM pg_temp.audit()),
          '... occurred_at within this transaction');

SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-n'], NULL)$$, 'a move to Unassigned');
SELECT results_eq(
    $$SELECT site_id, description, metadata FROM pg_temp.audit()$$,
    $$VALUES (NULL::bigint, 'Reassigned 1 device(s) to site Unassigned'::text,
              '{"target_site_id": null, "device_count": 1, "device_identifiers": ["loose-n"]}'::jsonb)$$,
    '... audit site_id NULL, "Unassigned", target_site_id JSON null');

SET LOCAL fleet_sites.actor = 'ops-bot';
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-n'], 2)$$, 'a move with fleet_sites.actor set');
SELECT is((SELECT actor FROM pg_temp.audit()), 'ops-bot', '... records that actor');
SET LOCAL fleet_sites.actor = '';
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-n'], 3)$$, 'a move with fleet_sites.actor empty');
SELECT is((SELECT actor FROM pg_temp.audit()), current_user::text COLLATE "default", '... records current_user');

-- More than 50 devices: the identifier list is the first 50 distinct, in input order.
SELECT pg_temp.reset();
INSERT INTO fleet_device (id, identifier) SELECT 100 + g, 'm' || lpad(g::text, 2, '0') FROM generate_series(1, 60) g;
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(
                      (SELECT array_agg('m' || lpad(g::text, 2, '0') ORDER BY o)
                         FROM (SELECT g, (61 - g) * 2 AS o FROM generate_series(1, 60) g
                               UNION ALL SELECT 55, 1 UNION ALL SELECT 7, 3) s), 1)$$,
                'a move of 60 devices, named 62 times: m55 m60 m07 m59 m58 ... m01 with m55, m07 again');
SELECT results_eq(
    $$SELECT (metadata ->> 'device_count')::int, metadata -> 'device_identifiers' FROM pg_temp.audit()$$,
    $$SELECT 60, to_jsonb((ARRAY['m55', 'm60', 'm07'] ||
                           (SELECT array_agg('m' || lpad(g::text, 2, '0') ORDER BY g DESC)
                              FROM generate_series(1, 59) g WHERE g NOT IN (55, 7)))[1:50])$$,
    '... device_count 60, device_identifiers the first 50 distinct in input order');

-- More than 50 cleared memberships: the count is all of them, the list 50 of them.
SELECT pg_temp.reset();
INSERT INTO fleet_device (id, identifier, site_id) SELECT 100 + g, 'c' || g, 2 FROM generate_series(1, 55) g;
INSERT INTO fleet_rack_membership (rack_id, device_id) SELECT 20, 100 + g FROM generate_series(1, 55) g;
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site((SELECT array_agg('c' || g) FROM generate_series(1, 55) g), 1, true)$$,
                'force clears 55 memberships');
SELECT results_eq(
    $$SELECT description, (metadata ->> 'force_cleared_rack_membership_count')::int FROM pg_temp.audit()$$,
    $$VALUES ('Reassigned 55 device(s) to site 1 (55 rack membership(s) force-cleared)'::text, 55)$$,
    '... description and count say 55');
SELECT ok((SELECT jsonb_array_length(metadata -> 'force_cleared_device_identifiers') = 50
                  AND (SELECT count(DISTINCT v) FROM jsonb_array_elements_text(metadata -> 'force_cleared_device_identifiers') v) = 50
                  AND (SELECT bool_and(v ~ '^c([1-9]|[1-4][0-9]|5[0-5])$')
                         FROM jsonb_array_elements_text(metadata -> 'force_cleared_device_identifiers') v)
             FROM pg_temp.audit()),
          '... force_cleared_device_identifiers lists 50 distinct cleared identifiers');

-------------------------------------------------------------------------------
-- Bad input: the SQLSTATE of each rule, nothing written
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(NULL, 1)$$, '22004', NULL, 'ids NULL: 22004');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-u', NULL], 1)$$, '22004', NULL,
                 'an element NULL: 22004');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site('[-3:-2]={loose-u,NULL}', 1)$$, '22004', NULL,
                 'an element NULL at a negative subscript: 22004');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site('{}', 1)$$, '22023', NULL, 'ids empty: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY[['loose-u', 'n1'], ['s1', 'x1']], 1)$$, '2202E', NULL,
                 'ids with two dimensions: 2202E');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site('{{loose-u}}', 1)$$, '2202E', NULL,
                 'ids with two dimensions and one element: 2202E');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-u', ''], 1)$$, '22023', NULL,
                 'an empty identifier: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY[repeat('a', 257)], 1)$$, '22023', NULL,
                 'an identifier of 257 characters: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-u', repeat('é', 257)], 1)$$, '22023', NULL,
                 'an identifier of 257 two-byte characters: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site((SELECT array_agg('u' || g) FROM generate_series(1, 10001) g), 1)$$,
                 '54000', NULL, '10,001 distinct ids: 54000');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-u'], 0)$$, '22023', NULL, 'target 0: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-u'], -1)$$, '22023', NULL, 'target -1: 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['loose-u'], 1, NULL)$$, '22004', NULL,
                 'force_clear NULL: 22004');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site('{}', 999)$$, '22023', NULL,
                 'input is checked before the target: empty ids with a missing target is 22023');
SELECT throws_ok($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['s1'], 999, NULL)$$, '22004', NULL,
                 'input is checked before the target: force_clear NULL with a missing target is 22004');
SELECT is(pg_temp.snap(), pg_temp.marked(), 'nothing written by any bad input');

-- The edges that are not errors.
SELECT results_eq($$SELECT count(*), count(*) FILTER (WHERE reason = 'DEVICE_NOT_FOUND')
                      FROM fleet_assign_devices_to_site((SELECT array_agg('u' || g) FROM generate_series(1, 10000) g), 1)$$,
                  $$VALUES (10000::bigint, 10000::bigint)$$,
                  '10,000 distinct ids are accepted (10,000 DEVICE_NOT_FOUND)');
SELECT results_eq($$SELECT count(*) FROM fleet_assign_devices_to_site(
                        (SELECT array_agg('u' || g) || ARRAY['u1'] FROM generate_series(1, 10000) g), 1)$$,
                  $$VALUES (10000::bigint)$$,
                  '10,001 ids of which 10,000 distinct are accepted');
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_site(ARRAY[repeat('z', 256)], 1)$$,
                  $$SELECT repeat('z', 256), 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint$$,
                  'an unknown identifier of 256 characters is a conflict, not an error');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and nothing written');
INSERT INTO fleet_device (id, identifier) VALUES (50, repeat('é', 256));
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(ARRAY[repeat('é', 256)], 2)$$,
                'a device named by 256 two-byte characters (512 bytes) moves');
SELECT is((SELECT site_id FROM fleet_device WHERE id = 50), 2::bigint, '... to its target');

-- Arrays whose subscripts do not start at 1.
SELECT pg_temp.reset();
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site('[5:6]={loose-u,s2}', 2)$$,
                'ids subscripted 5..6 apply');
SELECT results_eq($$SELECT pg_temp.place('loose-u'), metadata -> 'device_identifiers' FROM pg_temp.audit()$$,
                  $$VALUES ('site 2, rack none, slot none', '["loose-u", "s2"]'::jsonb)$$,
                  '... every element is used, in order');
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_site('[0:1]={nope,loose-u}', 1)$$,
                  $$VALUES ('nope'::text, 'DEVICE_NOT_FOUND'::fleet_conflict_reason, NULL::bigint, NULL::bigint, NULL::bigint)$$,
                  'ids subscripted 0..1: the element at 0 is read');

-------------------------------------------------------------------------------
-- Call forms
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT results_eq($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['s1'], 1)$$,
                  $$VALUES ('s1'::text, 'DEVICE_IN_RACK_AT_OTHER_SITE'::fleet_conflict_reason, 2::bigint, 20::bigint, NULL::bigint)$$,
                  'force_clear defaults to false');
SELECT is_empty($$SELECT * FROM fleet_assign_devices_to_site(force_clear => true, target => 1, ids => ARRAY['s1'])$$,
                'named arguments ids, target, force_clear');
SELECT is(pg_temp.place('s1'), 'site 1, rack none, slot none', '... and they mean what they say');

SELECT is_empty($$SELECT d.identifier, r.site_id FROM fleet_device d
                    JOIN fleet_rack_membership m ON m.device_id = d.id JOIN fleet_rack r ON r.id = m.rack_id
                   WHERE d.site_id IS DISTINCT FROM r.site_id$$,
                'the placement invariant holds at the end');

SELECT * FROM finish();
ROLLBACK;
