-- test/memcheck/workload.sql: the memcheck workload.
--
-- Run by test/memcheck/run with psql (ON_ERROR_STOP) against a server under
-- valgrind. Its job is to drive every code path of fleet_assign_devices_to_site
-- and fleet_assign_devices_to_rack at least once, in one database, so that
-- memcheck watches the C code on each of them. It checks its own outcomes
-- (mc.check, mc.expect_error): a path that silently stopped being reached
-- fails the run instead of passing unwatched. It is not the functional test
-- suite and says nothing about output text; only SQLSTATEs and counts.
--
-- Every path, with the section that reaches it:
--   1 bad input: each row of the contract's table, for both functions, and
--     the missing target site / rack (23503)
--   2 site move: apply, duplicates, DEVICE_NOT_FOUND (more than 16, so the
--     conflict list grows), DEVICE_IN_RACK_AT_OTHER_SITE with and without
--     force, residual conflicts under force, a device already racked at the
--     target, Unassigned targets, a site-less rack, the 50-identifier sample,
--     JSON escaping, fleet_sites.actor, a rolled-back call
--   3 rack move: apply with site change, members counted once, leaving another
--     rack, capacity error, DEVICE_LOSES_SITE with and without force, residual,
--     NULL rack (removal), NOT_FOUND on removal
--   4 a 10,000-id batch through both functions (20,000 elements with
--     duplicates, force-clearing 100 memberships, capacity, removal, 10,000
--     conflicts)
--   5 privileges and row-level security: each 42501, the rack-only caller
--     whose device lock runs on the extension's authority, an RLS-hidden
--     device (DEVICE_NOT_FOUND for both functions)
--   6 plan cache: relcache invalidations (GRANT, ALTER TABLE, VACUUM), DROP
--     EXTENSION and a call with the extension gone, CREATE EXTENSION in a
--     schema whose name needs quoting, calls again in the same session
--   7 memory growth: repeated calls and DROP/CREATE cycles must not pile up
--     kept plans or grow the backend's memory contexts
--   8 re-entrancy: a trigger that calls the move function from inside a move,
--     after a relcache invalidation of the extension's tables
\set ON_ERROR_STOP 1
\set VERBOSITY terse
SET client_min_messages = warning;
-- Not the extension's schema: the functions must resolve their own tables.
SET search_path = public, mc;

-------------------------------------------------------------------------------
-- 0. Setup
-------------------------------------------------------------------------------
CREATE SCHEMA mc;

CREATE FUNCTION mc.check(ok boolean, what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'memcheck workload: check failed: %', what;
    END IF;
END
$$;

-- Run stmt; it must fail with SQLSTATE state (caught in a subtransaction).
CREATE FUNCTION mc.expect_error(stmt text, state text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    got text;
    msg text;
BEGIN
    BEGIN
        EXECUTE stmt;
    EXCEPTION WHEN OTHERS THEN
        got := SQLSTATE;
        msg := SQLERRM;
    END;
    IF got IS DISTINCT FROM state THEN
        RAISE EXCEPTION 'memcheck workload: % gave % (%), expected SQLSTATE %',
            stmt, coalesce(got, 'no error'), msg, state;
    END IF;
END
$$;

-- The rows a move returns, as one string: "identifier/reason/site/rack ...",
-- in the order the function returned them.
CREATE FUNCTION mc.conflicts(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format($q$SELECT coalesce(string_agg(concat_ws('/', c.device_identifier, c.reason,
                                         coalesce(c.conflicting_site_id::text, '-'),
                                         coalesce(c.rack_id::text, '-')), ' '), '')
                        FROM (%s) AS c$q$, stmt)
        INTO result;
    RETURN result;
END
$$;

-- The newest activity row of the installed extension, wherever it lives.
CREATE FUNCTION mc.last_activity() RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    schema_name text;
    result jsonb;
BEGIN
    SELECT n.nspname INTO schema_name
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'fleet_sites';
    EXECUTE format('SELECT to_jsonb(a) FROM %I.fleet_activity a ORDER BY id DESC LIMIT 1',
                   schema_name)
        INTO result;
    RETURN result;
END
$$;

CREATE FUNCTION mc.activity_count() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    schema_name text;
    result bigint;
BEGIN
    SELECT n.nspname INTO schema_name
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'fleet_sites';
    EXECUTE format('SELECT count(*) FROM %I.fleet_activity', schema_name) INTO result;
    RETURN result;
END
$$;

-- Decoys on the caller's search_path that the functions must never use.
CREATE TABLE public.fleet_device (id bigint, identifier text, site_id bigint);
CREATE TABLE public.fleet_rack_membership (rack_id bigint, device_id bigint);
INSERT INTO public.fleet_device VALUES (1, 'd01', 999);

CREATE SCHEMA fleet;
CREATE EXTENSION fleet_sites SCHEMA fleet;

-- Fixtures, reloaded after every re-create of the extension.
CREATE FUNCTION mc.load_fixtures(schema_name text, bulk int DEFAULT 0) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($f$
        INSERT INTO %1$I.fleet_site (id, name) VALUES (1, 'north'), (2, 'south'), (3, 'east');
        -- rack 10: 2x2 at north; 11: south; 12: no site; 13: north
        INSERT INTO %1$I.fleet_rack (id, label, site_id, row_count, column_count) VALUES
            (10, 'small-north', 1, 2, 2),
            (11, 'south-1', 2, 12, 12),
            (12, 'siteless', NULL, 12, 12),
            (13, 'north-2', 1, 12, 12);
        INSERT INTO %1$I.fleet_device (identifier)
            SELECT format('d%%s', lpad(g::text, 2, '0')) FROM generate_series(1, 60) g;
        INSERT INTO %1$I.fleet_device (identifier) VALUES
            ('hidden-1'), ('hidden-2'),
            (E'q"uo\\te\ttab'), ('ünïcödé-✓'), (repeat('é', 256));
        INSERT INTO %1$I.fleet_device (identifier)
            SELECT format('b%%s', lpad(g::text, 5, '0')) FROM generate_series(1, %2$s) g;
    $f$, schema_name, bulk);
END
$$;
SELECT mc.load_fixtures('fleet', 10000);

-------------------------------------------------------------------------------
-- 1. Bad input, both functions
-------------------------------------------------------------------------------
DO $$
DECLARE
    fn text;
    big text := 'ARRAY(SELECT format(''x%s'', g) FROM generate_series(1, 10001) g)';
BEGIN
    FOREACH fn IN ARRAY ARRAY['fleet.fleet_assign_devices_to_site',
                              'fleet.fleet_assign_devices_to_rack']
    LOOP
        PERFORM mc.expect_error(format('SELECT * FROM %s(NULL, 1)', fn), '22004');
        PERFORM mc.expect_error(format('SELECT * FROM %s(NULL::text[], NULL)', fn), '22004');
        PERFORM mc.expect_error(format('SELECT * FROM %s(ARRAY[''d01'', NULL], 1)', fn), '22004');
        PERFORM mc.expect_error(format('SELECT * FROM %s(''[5:6]={d01,NULL}''::text[], 1)', fn), '22004');
        PERFORM mc.expect_error(format('SELECT * FROM %s(''{}''::text[], 1)', fn), '22023');
        PERFORM mc.expect_error(format('SELECT * FROM %s(''{{d01,d02},{d03,d04}}''::text[], 1)', fn), '2202E');
        PERFORM mc.expect_error(format('SELECT * FROM %s(''{{{d01}}}''::text[], 1)', fn), '2202E');
        PERFORM mc.expect_error(format('SELECT * FROM %s(ARRAY[''d01'', ''''], 1)', fn), '22023');
        PERFORM mc.expect_error(format('SELECT * FROM %s(ARRAY[repeat(''x'', 257)], 1)', fn), '22023');
        PERFORM mc.expect_error(format('SELECT * FROM %s(ARRAY[repeat(''é'', 257)], 1)', fn), '22023');
        PERFORM mc.expect_error(format('SELECT * FROM %s(ARRAY[''d01'' || repeat(''✓'', 300)], 1)', fn), '22023');
        PERFORM mc.expect_error(format('SELECT * FROM %s(%s, 1)', fn, big), '54000');
        PERFORM mc.expect_error(format('SELECT * FROM %s(ARRAY[''d01''], 0)', fn), '22023');
        PERFORM mc.expect_error(format('SELECT * FROM %s(ARRAY[''d01''], -5)', fn), '22023');
        PERFORM mc.expect_error(format('SELECT * FROM %s(ARRAY[''d01''], 1, NULL)', fn), '22004');
        PERFORM mc.expect_error(format('SELECT * FROM %s(ARRAY[''d01''], 999)', fn), '23503');
        PERFORM mc.expect_error(format('SELECT * FROM %s(ARRAY[''d01''], 999, true)', fn), '23503');
    END LOOP;
    PERFORM mc.check(mc.activity_count() = 0, 'bad input wrote nothing');
END
$$;

-- The same, as plain DO blocks with an EXCEPTION clause.
DO $$
BEGIN
    PERFORM * FROM fleet.fleet_assign_devices_to_site(ARRAY['d01', NULL, 'd02'], 1);
    RAISE EXCEPTION 'memcheck workload: NULL element accepted';
EXCEPTION WHEN null_value_not_allowed THEN
    NULL;
END
$$;
DO $$
BEGIN
    PERFORM * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d01'], 10, NULL);
    RAISE EXCEPTION 'memcheck workload: NULL force_clear accepted';
EXCEPTION WHEN null_value_not_allowed THEN
    NULL;
END
$$;
-- 256 characters of two bytes each is a valid identifier (found).
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY[repeat('é', 256)], 3)$$) = '',
                '256-character multibyte identifier accepted');

-------------------------------------------------------------------------------
-- 2. Site move
-------------------------------------------------------------------------------
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d01','d02','d03','d04','d05'], 1)$$) = '',
                'plain site move applies');
SELECT mc.check((mc.last_activity()->'metadata'->>'device_count')::int = 5, 'device_count 5');
SELECT mc.check(mc.last_activity()->>'actor' = current_user, 'actor is current_user');

SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d01','d01','d02','d01'], 2)$$) = '',
                'duplicates collapse');
SELECT mc.check((mc.last_activity()->'metadata'->>'device_count')::int = 2, 'duplicates counted once');

SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d01','nope-b','nope-a'], 3)$$)
                = 'nope-a/DEVICE_NOT_FOUND/-/- nope-b/DEVICE_NOT_FOUND/-/-', 'not found, sorted');

-- More than 16 conflicts, so the conflict list is reallocated, with force.
SELECT mc.check(array_length(string_to_array(mc.conflicts(
           $$SELECT * FROM fleet.fleet_assign_devices_to_site(
                 ARRAY(SELECT format('missing-%s', g) FROM generate_series(1, 40) g) || ARRAY['d06'], 3, true)$$), ' '), 1) = 40,
                '40 not-found conflicts');

-- Rack 10 (north) gets d10..d13 through the rack function.
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d10','d11','d12','d13'], 10)$$) = '',
                'fill rack 10');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d11','d10'], 2)$$)
                = 'd10/DEVICE_IN_RACK_AT_OTHER_SITE/1/10 d11/DEVICE_IN_RACK_AT_OTHER_SITE/1/10',
                'racked at another site');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d11','d10','d07'], 2, true)$$) = '',
                'force clears');
SELECT mc.check((mc.last_activity()->'metadata'->>'force_cleared_rack_membership_count')::int = 2,
                'two memberships force-cleared');
SELECT mc.check((SELECT count(*) FROM fleet.fleet_rack_membership WHERE rack_id = 10) = 2, 'rack 10 keeps two');

-- Residual conflicts under force: only DEVICE_NOT_FOUND comes back, nothing is cleared.
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d12','ghost'], 2, true)$$)
                = 'ghost/DEVICE_NOT_FOUND/-/-', 'residual only');
SELECT mc.check((SELECT count(*) FROM fleet.fleet_rack_membership WHERE rack_id = 10) = 2, 'residual cleared nothing');

-- A device racked at the target site stays in its rack.
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d13','d14'], 1)$$) = '',
                'racked at target is no conflict');
SELECT mc.check((SELECT count(*) FROM fleet.fleet_rack_membership WHERE rack_id = 10) = 2, 'd13 kept its rack');

-- Site-less rack 12: conflicts with any site, not with Unassigned.
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d20','d21'], 12)$$) = '',
                'site-less rack takes Unassigned devices');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d20','d21'], NULL)$$) = '',
                'site-less rack member to Unassigned');
SELECT mc.check(mc.last_activity()->'metadata'->'target_site_id' = 'null'::jsonb, 'Unassigned target in metadata');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d20'], 3)$$)
                = 'd20/DEVICE_IN_RACK_AT_OTHER_SITE/-/12', 'site-less rack conflicts with a site');
-- North rack member to Unassigned: conflict, then forced.
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d12'], NULL)$$)
                = 'd12/DEVICE_IN_RACK_AT_OTHER_SITE/1/10', 'rack member to Unassigned conflicts');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d12'], NULL, true)$$) = '',
                'forced to Unassigned');

-- 60 identifiers: the metadata sample stops at 50.
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(
                    ARRAY(SELECT format('d%s', lpad(g::text, 2, '0')) FROM generate_series(60, 1, -1) g), 3, true)$$) = '',
                '60 devices, forced');
SELECT mc.check(jsonb_array_length(mc.last_activity()->'metadata'->'device_identifiers') = 50, 'sample of 50');
SELECT mc.check(mc.last_activity()->'metadata'->'device_identifiers'->>0 = 'd60', 'sample in input order');

-- Identifiers that need JSON escaping; the actor setting.
SET fleet_sites.actor = 'memcheck "actor"';
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY[E'q"uo\\te\ttab', 'ünïcödé-✓'], 2)$$) = '',
                'escaped identifiers');
SELECT mc.check(mc.last_activity()->'metadata'->'device_identifiers'->>0 = E'q"uo\\te\ttab', 'escaped round trip');
SELECT mc.check(mc.last_activity()->>'actor' = 'memcheck "actor"', 'actor setting');
SET fleet_sites.actor = '';
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d01'], 1)$$) = '', 'empty actor');
SELECT mc.check(mc.last_activity()->>'actor' = current_user, 'empty actor falls back');
RESET fleet_sites.actor;

-- A rolled-back call leaves nothing; a committed one notifies.
LISTEN fleet_activity;
BEGIN;
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d02'], 1)$$) = '', 'in transaction');
SAVEPOINT s;
SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d03'], 3) \g /dev/null
ROLLBACK TO SAVEPOINT s;
ROLLBACK;
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d02'], 2)$$) = '', 'committed');
UNLISTEN fleet_activity;

-- Called in the target list (value-per-call context) rather than FROM.
SELECT fleet.fleet_assign_devices_to_site(ARRAY['d04', 'zz-missing'], 1) \g /dev/null

-------------------------------------------------------------------------------
-- 3. Rack move
-------------------------------------------------------------------------------
-- Into rack 13 (north) from several sites: sites change.
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d30','d31','d32','d01'], 13)$$) = '',
                'rack move with site change');
SELECT mc.check((mc.last_activity()->'metadata'->>'site_changed_device_count')::int >= 3, 'site changes counted');
SELECT mc.check(mc.last_activity()->>'event_type' = 'devices.assigned_to_rack', 'rack event');
-- Again with members already there (count once) and one from another rack.
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d33'], 11)$$) = '', 'd33 to rack 11');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d30','d30','d31','d33'], 13)$$) = '',
                'members count once, d33 leaves rack 11');
SELECT mc.check((SELECT count(*) FROM fleet.fleet_rack_membership WHERE rack_id = 13) = 5, 'rack 13 has five');
SELECT mc.check((SELECT count(*) FROM fleet.fleet_rack_membership WHERE rack_id = 11) = 0, 'rack 11 empty');

-- Capacity: rack 10 holds 4 and is empty by now (its members were force-cleared).
SELECT mc.check((SELECT count(*) FROM fleet.fleet_rack_membership WHERE rack_id = 10) = 0, 'rack 10 empty');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d13'], 10)$$) = '', 'd13 back in rack 10');
SELECT mc.expect_error($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d40','d41','d42','d43'], 10)$$, '23514');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d40','d41','d13'], 10)$$) = '',
                'fits: d13 counted once');
SELECT mc.expect_error($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d44','d45'], 10, true)$$, '23514');

-- DEVICE_LOSES_SITE into site-less rack 12.
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d41','d40','d22'], 12)$$)
                = 'd22/DEVICE_LOSES_SITE/-/12 d40/DEVICE_LOSES_SITE/-/12 d41/DEVICE_LOSES_SITE/-/12', 'loses site');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d41','d40','nobody'], 12, true)$$)
                = 'nobody/DEVICE_NOT_FOUND/-/-', 'residual under force');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d41','d40','d22'], 12, true)$$) = '',
                'forced into site-less rack');
SELECT mc.check((SELECT count(*) FROM fleet.fleet_device WHERE identifier IN ('d40','d41','d22') AND site_id IS NULL) = 3,
                'forced devices are Unassigned');

-- NULL rack: out of every rack, sites stay.
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d40','d30','d50'], NULL)$$) = '',
                'removal');
SELECT mc.check(mc.last_activity()->>'event_type' = 'devices.removed_from_rack', 'removal event');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d40','gone'], NULL, true)$$)
                = 'gone/DEVICE_NOT_FOUND/-/-', 'removal with a missing device');

-------------------------------------------------------------------------------
-- 4. 10,000 ids
-------------------------------------------------------------------------------
-- Each 10,000-row site change costs ~30 s under valgrind (one foreign-key
-- check per row), so the batch goes through each path once.
CREATE TABLE mc.bulk AS
    SELECT ARRAY(SELECT format('b%s', lpad(g::text, 5, '0')) FROM generate_series(10000, 1, -1) g) AS ids;
SELECT mc.expect_error($$SELECT * FROM fleet.fleet_assign_devices_to_site((SELECT ids || ARRAY['b10001'] FROM mc.bulk), 3)$$, '54000');
-- 100 of them into rack 11 (south), then the batch, twice over (20,000
-- elements, 10,000 distinct), to north with force: 100 conflicts cleared.
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack((SELECT ids[1:100] FROM mc.bulk), 11)$$) = '',
                '100 into rack 11');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site((SELECT ids || ids FROM mc.bulk), 1, true)$$) = '',
                '10,000 forced to north');
SELECT mc.check((mc.last_activity()->'metadata'->>'device_count')::int = 10000, 'device_count 10000');
SELECT mc.check((mc.last_activity()->'metadata'->>'force_cleared_rack_membership_count')::int = 100, '100 cleared');
SELECT mc.check(jsonb_array_length(mc.last_activity()->'metadata'->'force_cleared_device_identifiers') = 50,
                'cleared sample of 50');
-- Capacity is checked after all 10,000 are locked.
SELECT mc.expect_error($$SELECT * FROM fleet.fleet_assign_devices_to_rack((SELECT ids FROM mc.bulk), 11)$$, '23514');
-- Rack 13 (144 slots) has other members: 144 more do not fit.
SELECT mc.expect_error($$SELECT * FROM fleet.fleet_assign_devices_to_rack((SELECT ids[1:144] FROM mc.bulk), 13)$$, '23514');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack((SELECT ids[1:50] FROM mc.bulk), 13)$$) = '',
                '50 into rack 13');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack((SELECT ids FROM mc.bulk), NULL)$$) = '',
                '10,000 out of racks');
SELECT mc.check((mc.last_activity()->'metadata'->>'device_count')::int = 10000, 'removal of 10,000');
-- 5,000 conflicts: the conflict list grows to 5,000 and is sorted.
SELECT mc.check(array_length(string_to_array(mc.conflicts(
                    $$SELECT * FROM fleet.fleet_assign_devices_to_rack(
                          (SELECT ids[1:5000] FROM mc.bulk) || ARRAY(SELECT format('nx%s', g) FROM generate_series(1, 5000) g), 12)$$), ' '), 1)
                = 10000, '5,000 not found and 5,000 losing their site among 10,000');

-------------------------------------------------------------------------------
-- 5. Privileges and row-level security
-------------------------------------------------------------------------------
CREATE ROLE mc_all;
CREATE ROLE mc_site;
CREATE ROLE mc_rack;
CREATE ROLE mc_none;
GRANT USAGE ON SCHEMA fleet, mc TO mc_all, mc_site, mc_rack, mc_none;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA mc TO mc_all, mc_site, mc_rack, mc_none;
GRANT SELECT ON ALL TABLES IN SCHEMA fleet, mc TO mc_all, mc_site, mc_rack, mc_none;
GRANT UPDATE ON fleet.fleet_device TO mc_all, mc_site;
GRANT INSERT, DELETE ON fleet.fleet_rack_membership TO mc_all, mc_rack;
ALTER TABLE fleet.fleet_device ENABLE ROW LEVEL SECURITY;
CREATE POLICY mc_visible ON fleet.fleet_device USING (identifier NOT LIKE 'hidden-%');

SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d08'], 2)$$) = '', 'd08 to south');

SET ROLE mc_all;
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['hidden-1','d05'], 1)$$)
                = 'hidden-1/DEVICE_NOT_FOUND/-/-', 'RLS-hidden device, site move');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d05','hidden-2'], 13)$$)
                = 'hidden-2/DEVICE_NOT_FOUND/-/-', 'RLS-hidden device, rack move');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d05','d06'], 1, true)$$) = '',
                'privileged caller applies');
SELECT mc.check(mc.last_activity()->>'actor' = 'mc_all', 'actor is the calling role');
SELECT mc.expect_error($$INSERT INTO fleet.fleet_activity (occurred_at, actor, event_type, description, metadata)
                         VALUES (now(), 'x', 'x', 'x', '{}')$$, '42501');
RESET ROLE;

SET ROLE mc_none;
SELECT mc.expect_error($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d05'], 1)$$, '42501');
SELECT mc.expect_error($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d05'], 13)$$, '42501');
RESET ROLE;

SET ROLE mc_site;
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d07'], 2)$$) = '', 'site manager moves');
SELECT mc.expect_error($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d07'], 2, true)$$, '42501');
SELECT mc.expect_error($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d07'], 11)$$, '42501');
RESET ROLE;

-- Rack manager without UPDATE on fleet_device: the device lock runs on the
-- extension's authority, for the ids the caller can see.
SET ROLE mc_rack;
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d07','d08'], 11)$$) = '',
                'rack manager, no site change');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d07','hidden-1'], 11)$$)
                = 'hidden-1/DEVICE_NOT_FOUND/-/-', 'rack manager, hidden device');
SELECT mc.expect_error($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d09'], 13)$$, '42501');
SELECT mc.expect_error($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d09'], 1)$$, '42501');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d07'], NULL)$$) = '',
                'rack manager removes');
RESET ROLE;

-------------------------------------------------------------------------------
-- 6. Plan cache: invalidation, DROP EXTENSION, CREATE EXTENSION, same session
-------------------------------------------------------------------------------
GRANT UPDATE ON fleet.fleet_site TO mc_none;
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d09'], 1)$$) = '', 'after GRANT');
ALTER TABLE fleet.fleet_device ADD COLUMN memcheck_note text;
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d09'], 13)$$) = '', 'after ALTER TABLE');
VACUUM ANALYZE fleet.fleet_device;
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d09','d10'], 1)$$) = '', 'after VACUUM');

-- A C function bound to the module but not part of any extension: with the
-- extension gone, it must fail cleanly (and keep the old plans until later).
CREATE TYPE mc.conflict AS (device_identifier text, reason text, conflicting_site_id bigint, rack_id bigint);
CREATE FUNCTION mc.orphan_site_move(text[], bigint, boolean DEFAULT false) RETURNS SETOF mc.conflict
    LANGUAGE c AS '$libdir/fleet_sites', 'fleet_assign_devices_to_site';
CREATE FUNCTION mc.orphan_rack_move(text[], bigint, boolean DEFAULT false) RETURNS SETOF mc.conflict
    LANGUAGE c AS '$libdir/fleet_sites', 'fleet_assign_devices_to_rack';

DROP EXTENSION fleet_sites;
SELECT mc.expect_error($$SELECT * FROM mc.orphan_site_move(ARRAY['d01'], 1)$$, '42704');
SELECT mc.expect_error($$SELECT * FROM mc.orphan_rack_move(ARRAY['d01'], 10)$$, '42704');
-- Bad input is still checked first, with the extension gone.
SELECT mc.expect_error($$SELECT * FROM mc.orphan_site_move('{}', 1)$$, '22023');

-- Re-created in a schema whose name needs quoting; same session, new tables.
CREATE SCHEMA "Fleet Ops";
CREATE EXTENSION fleet_sites SCHEMA "Fleet Ops";
SELECT mc.load_fixtures('Fleet Ops');
SELECT mc.check(mc.activity_count() = 0, 'new extension, empty audit');
SELECT mc.check(mc.conflicts($$SELECT * FROM "Fleet Ops".fleet_assign_devices_to_site(ARRAY['d01','d02'], 2)$$) = '',
                'site move after re-create');
SELECT mc.check(mc.conflicts($$SELECT * FROM "Fleet Ops".fleet_assign_devices_to_rack(ARRAY['d01','d02'], 11)$$) = '',
                'rack move after re-create');
SELECT mc.check(mc.conflicts($$SELECT * FROM "Fleet Ops".fleet_assign_devices_to_site(ARRAY['d01'], 1)$$)
                = 'd01/DEVICE_IN_RACK_AT_OTHER_SITE/2/11', 'conflicts after re-create');
SELECT mc.check(mc.activity_count() = 2, 'audit rows land in the new table');
-- The orphan, with the extension back: its result type is not the
-- extension's, so it fails on the enum (after the move), but cleanly.
SELECT mc.expect_error($$SELECT * FROM mc.orphan_site_move(ARRAY['nobody-here'], 1)$$, '22P02');
DROP FUNCTION mc.orphan_site_move(text[], bigint, boolean), mc.orphan_rack_move(text[], bigint, boolean);

DROP EXTENSION fleet_sites;
CREATE EXTENSION fleet_sites SCHEMA fleet;
SELECT mc.load_fixtures('fleet');
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d01','d02'], 2)$$) = '',
                'back in schema fleet');

-------------------------------------------------------------------------------
-- 7. Memory growth: kept plans and backend memory
-------------------------------------------------------------------------------
-- The extension keeps at most one plan per statement (13, FLEET_PLAN_COUNT in src/fleet_sites.h). Counted by the
-- plan cache's own contexts, whose ident is the statement text.
CREATE FUNCTION mc.kept_plans() RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM pg_backend_memory_contexts
     WHERE name = 'CachedPlanSource'
       AND ident ~ '\.fleet_(site|rack|device|rack_membership|activity)\M'
       AND ident LIKE '%$1%'
$$;
CREATE FUNCTION mc.backend_bytes() RETURNS bigint
LANGUAGE sql AS $$
    SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts
$$;

-- Repeated calls of both functions, each path once per round.
CREATE FUNCTION mc.rounds(n int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        PERFORM * FROM fleet.fleet_assign_devices_to_site(ARRAY['d01','d02','d03'], 1 + i % 2, true);
        PERFORM * FROM fleet.fleet_assign_devices_to_site(ARRAY['d04','missing'], 1);
        PERFORM * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d05','d06'], 11 + 2 * (i % 2));
        PERFORM * FROM fleet.fleet_assign_devices_to_rack(ARRAY['d05'], NULL);
    END LOOP;
END
$$;

SELECT mc.rounds(10);
SELECT mc.backend_bytes() AS bytes_before \gset
SELECT mc.rounds(100);
SELECT mc.backend_bytes() AS bytes_after \gset
SELECT :bytes_after - :bytes_before AS growth_after_400_calls \gset
\echo memory: backend contexts grew by :growth_after_400_calls bytes over 400 calls
SELECT mc.check(:growth_after_400_calls < 64 * 1024, 'backend memory flat over 400 calls');
SELECT mc.check(mc.kept_plans() BETWEEN 1 AND 13, format('kept plans: %s', mc.kept_plans()));

-- DROP/CREATE cycles in one session: the old plans must be freed.
CREATE FUNCTION mc.cycle() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DROP EXTENSION fleet_sites;
    CREATE EXTENSION fleet_sites SCHEMA fleet;
    PERFORM mc.load_fixtures('fleet');
END
$$;
SELECT mc.cycle();
SELECT mc.rounds(1);
SELECT mc.cycle();
SELECT mc.rounds(1);
SELECT mc.backend_bytes() AS cycle_bytes_before \gset
SELECT mc.cycle();
SELECT mc.rounds(1);
SELECT mc.cycle();
SELECT mc.rounds(1);
SELECT mc.cycle();
SELECT mc.rounds(1);
SELECT mc.cycle();
SELECT mc.rounds(1);
SELECT mc.cycle();
SELECT mc.rounds(1);
SELECT mc.backend_bytes() AS cycle_bytes_after \gset
SELECT :cycle_bytes_after - :cycle_bytes_before AS growth_after_5_cycles \gset
\echo memory: backend contexts grew by :growth_after_5_cycles bytes over 5 DROP/CREATE cycles
SELECT mc.check(mc.kept_plans() BETWEEN 1 AND 13, format('kept plans after cycles: %s', mc.kept_plans()));
SELECT mc.check(:growth_after_5_cycles < 2 * 1024 * 1024, 'backend memory bounded over DROP/CREATE cycles');

-------------------------------------------------------------------------------
-- 8. Re-entrancy: a move called from a trigger inside a move
-------------------------------------------------------------------------------
-- A trigger on fleet_device fires inside the outer call's UPDATE (an SPI
-- statement of a kept plan). The nested call must not free what the outer
-- statement is still running. The GRANT is a relcache invalidation of an
-- extension table, the same thing autovacuum, ANALYZE or any DDL sends from
-- another session at any time. The nested call then fails (missing site) and
-- the error is caught, so the error context of the outer statement is built
-- while the outer plan is still executing.
CREATE FUNCTION mc.reenter() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.identifier = 'd01' THEN
        -- nested, no invalidation: plans stay valid
        PERFORM * FROM fleet.fleet_assign_devices_to_site(ARRAY['d03'], NEW.site_id);
        -- nested after an invalidation, succeeding
        EXECUTE 'GRANT UPDATE ON fleet.fleet_site TO mc_none';
        PERFORM * FROM fleet.fleet_assign_devices_to_site(ARRAY['d02'], NEW.site_id);
        -- nested after an invalidation, failing (23503) inside the outer statement
        EXECUTE 'REVOKE UPDATE ON fleet.fleet_site FROM mc_none';
        BEGIN
            PERFORM * FROM fleet.fleet_assign_devices_to_site(ARRAY['d02'], 999);
        EXCEPTION WHEN foreign_key_violation THEN
            NULL;
        END;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER mc_reenter AFTER UPDATE OF site_id ON fleet.fleet_device
    FOR EACH ROW EXECUTE FUNCTION mc.reenter();
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d01'], 3)$$) = '',
                'outer move with nested moves');
SELECT mc.check((SELECT count(*) FROM fleet.fleet_device WHERE identifier IN ('d01','d02','d03') AND site_id = 3) = 3,
                'nested moves applied');
DROP TRIGGER mc_reenter ON fleet.fleet_device;
SELECT mc.check(mc.conflicts($$SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['d01','d02'], 1)$$) = '',
                'plain move after the nested ones');
\echo workload: complete
