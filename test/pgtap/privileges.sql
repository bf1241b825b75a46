-- privileges.sql: the privilege gate of fleet_assign_devices_to_site, and
-- the audit table closed to ordinary roles (spec/api.md, "Privilege gate").
--
-- Roles (created here; the ROLLBACK at the end removes them), each with
-- SELECT on the five placement tables and EXECUTE on the function:
--   fleet_test_none    nothing more
--   fleet_test_site    UPDATE on fleet_device               ("site manage")
--   fleet_test_rack    INSERT, DELETE on fleet_rack_membership ("rack manage")
--   fleet_test_both    both
--   fleet_test_member  member of fleet_test_group, which holds site manage
--   fleet_test_ins     INSERT on fleet_rack_membership only (half the rack right)
--   fleet_test_del     DELETE on fleet_rack_membership only (the other half)
-- None of them has any privilege on fleet_activity or fleet_site beyond SELECT.
-- The session user is a superuser: every call is made after SET ROLE, so a
-- gate that checked session_user instead of current_user would let all pass.
-- Fleet: sites 1, 2; racks 10 and 11 at site 1, rack 20 at site 2, rack 30 with no site;
--        free (site 1, no rack), r1 (site 1, rack 10), r2 (site 2, rack 20, slot 0,0),
--        un (Unassigned, no rack).
-- The rack function's matrix (INSERT and DELETE on memberships always, UPDATE
-- on devices only when a site changes) is the last section but one.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION fleet_sites;
\ir lib/helpers.psql

SELECT plan(67);

CREATE ROLE fleet_test_none NOLOGIN;
CREATE ROLE fleet_test_site NOLOGIN;
CREATE ROLE fleet_test_rack NOLOGIN;
CREATE ROLE fleet_test_both NOLOGIN;
CREATE ROLE fleet_test_group NOLOGIN;
CREATE ROLE fleet_test_member NOLOGIN IN ROLE fleet_test_group;
CREATE ROLE fleet_test_ins NOLOGIN;
CREATE ROLE fleet_test_del NOLOGIN;
GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    TO fleet_test_none, fleet_test_site, fleet_test_rack, fleet_test_both, fleet_test_group,
       fleet_test_ins, fleet_test_del;
GRANT EXECUTE ON FUNCTION fleet_assign_devices_to_site(text[], bigint, boolean)
    TO fleet_test_none, fleet_test_site, fleet_test_rack, fleet_test_both, fleet_test_group;
GRANT EXECUTE ON FUNCTION fleet_assign_devices_to_rack(text[], bigint, boolean, integer[], integer[])
    TO fleet_test_none, fleet_test_site, fleet_test_rack, fleet_test_both, fleet_test_group,
       fleet_test_ins, fleet_test_del;
GRANT UPDATE ON fleet_device TO fleet_test_site, fleet_test_both, fleet_test_group;
GRANT INSERT, DELETE ON fleet_rack_membership TO fleet_test_rack, fleet_test_both;
GRANT INSERT ON fleet_rack_membership TO fleet_test_ins;
GRANT DELETE ON fleet_rack_membership TO fleet_test_del;

-------------------------------------------------------------------------------
-- Helpers of this file (the shared ones: clear, place, snap/mark/marked, audit,
-- as_role, are in lib/helpers.psql)
-------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.reset() RETURNS void LANGUAGE sql AS $$
    SELECT pg_temp.clear();
    INSERT INTO fleet_site (id, name) VALUES (1, 'one'), (2, 'two');
    INSERT INTO fleet_rack (id, label, site_id) VALUES (10, 'r10', 1), (11, 'r11', 1), (20, 'r20', 2), (30, 'r30', NULL);
    INSERT INTO fleet_device (id, identifier, site_id) VALUES (1, 'free', 1), (2, 'r1', 1), (3, 'r2', 2), (4, 'un', NULL);
    INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (10, 2), (20, 3);
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (20, 3, 0, 0);
$$;

-- Run a statement as role r: 'ok' or 'ERROR <sqlstate>: <message> (<detail>)'.
-- The message names the table; the detail names the privilege and the right.
CREATE FUNCTION pg_temp.exec_as(r name, statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text := 'ok';
    detail text;
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r);
    BEGIN
        EXECUTE statement;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
        result := 'ERROR ' || SQLSTATE || ': ' || SQLERRM || ' (' || detail || ')';
    END;
    RESET ROLE;
    RETURN result;
END $$;

-------------------------------------------------------------------------------
-- Neither right
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT matches(pg_temp.as_role('fleet_test_none', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['free'], 2)$$),
               '^ERROR 42501: .*UPDATE.*fleet_device',
               'no right: 42501 naming UPDATE on fleet_device');
SELECT matches(pg_temp.as_role('fleet_test_none', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['r2'], 1, true)$$),
               '^ERROR 42501: .*(UPDATE.*fleet_device|DELETE.*fleet_rack_membership)',
               'no right, force: 42501');
SELECT matches(pg_temp.as_role('fleet_test_none', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['nope'], 1)$$),
               '^ERROR 42501',
               'no right: 42501 even for an unknown device (no conflict list leaks)');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... nothing written');

-- Input is validated before the gate.
SELECT matches(pg_temp.as_role('fleet_test_none', $$SELECT * FROM fleet_assign_devices_to_site('{}', 2)$$),
               '^ERROR 22023', 'no right, empty ids: 22023 (input is checked first)');
SELECT matches(pg_temp.as_role('fleet_test_none', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['free'], 0)$$),
               '^ERROR 22023', 'no right, target 0: 22023 (input is checked first)');

-------------------------------------------------------------------------------
-- Rack right only
-------------------------------------------------------------------------------

SELECT matches(pg_temp.as_role('fleet_test_rack', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['free'], 2)$$),
               '^ERROR 42501: .*UPDATE.*fleet_device',
               'rack right only: 42501 naming UPDATE on fleet_device');
SELECT matches(pg_temp.as_role('fleet_test_rack', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['r2'], 1, true)$$),
               '^ERROR 42501: .*UPDATE.*fleet_device',
               'rack right only, force: 42501 naming UPDATE on fleet_device');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... nothing written');

-------------------------------------------------------------------------------
-- Site right only
-------------------------------------------------------------------------------

SELECT is(pg_temp.as_role('fleet_test_site', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['free'], 2)$$),
          'no rows', 'site right, no force: the move applies (no UPDATE needed on fleet_site)');
SELECT is(pg_temp.place('free'), 'site 2, rack none, slot none', '... the device is at the target');
SELECT results_eq($$SELECT actor, event_type, site_id FROM fleet_activity$$,
                  $$VALUES ('fleet_test_site'::text, 'devices.reassigned_to_site'::text, 2::bigint)$$,
                  '... and one audit row is written with the role as actor, though it has no privilege on fleet_activity');

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT is(pg_temp.as_role('fleet_test_site', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['r2'], 1)$$),
          '(r2,DEVICE_IN_RACK_AT_OTHER_SITE,2,20,)', 'site right, no force, conflict: the conflict is returned');
SELECT matches(pg_temp.as_role('fleet_test_site', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['free'], 2, true)$$),
               '^ERROR 42501: .*DELETE.*fleet_rack_membership',
               'site right, force without any conflict: 42501 naming DELETE on fleet_rack_membership');
SELECT matches(pg_temp.as_role('fleet_test_site', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['r2'], 1, true)$$),
               '^ERROR 42501: .*DELETE.*fleet_rack_membership',
               'site right, force with a conflict: 42501, the rack is not stripped');
SELECT matches(pg_temp.as_role('fleet_test_site', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['r2'], 999, true)$$),
               '^ERROR 42501',
               'site right, force, missing target: 42501 (the gate comes before the target site is looked up)');
SELECT matches(pg_temp.as_role('fleet_test_site', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['free'], 2, NULL)$$),
               '^ERROR 22004', 'site right, force_clear NULL: 22004 (input is checked first)');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... nothing written; r2 keeps its membership and slot');

-------------------------------------------------------------------------------
-- Both rights
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT is(pg_temp.as_role('fleet_test_both', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['r2', 'free'], 1, true)$$),
          'no rows', 'both rights, force with a conflict: applies');
SELECT is(pg_temp.place('r2'), 'site 1, rack none, slot none',
          '... membership and slot cleared (no privilege on fleet_rack_slot needed)');
SELECT results_eq($$SELECT actor, description FROM fleet_activity$$,
                  $$VALUES ('fleet_test_both'::text, 'Reassigned 2 device(s) to site 1 (1 rack membership(s) force-cleared)'::text)$$,
                  '... audited with the role as actor');
SELECT is(pg_temp.as_role('fleet_test_both', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['free'], 2, true)$$),
          'no rows', 'both rights, force without a conflict: applies');
SELECT is(pg_temp.as_role('fleet_test_both', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['free', 'r1'], NULL)$$),
          '(r1,DEVICE_IN_RACK_AT_OTHER_SITE,1,10,)', 'both rights, no force, conflict: the conflict is returned');

-------------------------------------------------------------------------------
-- Rights through membership, and current_user rather than session_user
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT is(pg_temp.as_role('fleet_test_member', $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['free'], 2)$$),
          'no rows', 'site right inherited from a group role: applies');
SELECT is((SELECT actor FROM fleet_activity), 'fleet_test_member', '... the actor is the calling role, not the group');

-- A SECURITY DEFINER wrapper owned by a role with both rights, called by a
-- role with none: current_user inside is the owner, and that is whose rights
-- count and who is recorded.
CREATE FUNCTION public.fleet_test_wrapper(ids text[], target bigint) RETURNS SETOF fleet_conflict
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_catalog
    AS $$ SELECT * FROM fleet_assign_devices_to_site(ids, target, true) $$;
ALTER FUNCTION public.fleet_test_wrapper(text[], bigint) OWNER TO fleet_test_both;
GRANT EXECUTE ON FUNCTION public.fleet_test_wrapper(text[], bigint) TO fleet_test_none;
SELECT pg_temp.reset();
SELECT is(pg_temp.as_role('fleet_test_none', $$SELECT * FROM public.fleet_test_wrapper(ARRAY['r2'], 1)$$),
          'no rows', 'called through a definer wrapper of a role with both rights: applies');
SELECT is((SELECT actor FROM fleet_activity), 'fleet_test_both', '... and the actor is current_user at call time');

-------------------------------------------------------------------------------
-- fleet_assign_devices_to_rack: INSERT and DELETE on fleet_rack_membership
-- always, before anything is looked up or locked
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT matches(pg_temp.as_role('fleet_test_none', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 11)$$),
               '^ERROR 42501: .*(INSERT|DELETE).*fleet_rack_membership',
               'rack move, no right: 42501 naming INSERT or DELETE on fleet_rack_membership');
SELECT matches(pg_temp.as_role('fleet_test_none', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['r1'], NULL)$$),
               '^ERROR 42501: .*(INSERT|DELETE).*fleet_rack_membership',
               'rack removal (NULL target), no right: 42501');
SELECT matches(pg_temp.as_role('fleet_test_none', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['nope'], 10)$$),
               '^ERROR 42501', 'rack move, no right: 42501 even for an unknown device (no conflict list leaks)');
SELECT matches(pg_temp.as_role('fleet_test_none', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 999)$$),
               '^ERROR 42501', 'rack move, no right, missing rack: 42501 (the gate comes before the rack is looked up)');
SELECT matches(pg_temp.as_role('fleet_test_none', $$SELECT * FROM fleet_assign_devices_to_rack('{}', 11)$$),
               '^ERROR 22023', 'rack move, no right, empty ids: 22023 (input is checked first)');
SELECT matches(pg_temp.as_role('fleet_test_none', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 0)$$),
               '^ERROR 22023', 'rack move, no right, target_rack 0: 22023 (input is checked first)');
SELECT matches(pg_temp.as_role('fleet_test_site', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 20)$$),
               '^ERROR 42501: .*(INSERT|DELETE).*fleet_rack_membership',
               'rack move, site right only: 42501 naming the rack right (site manage is not enough)');
SELECT matches(pg_temp.as_role('fleet_test_site', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['r1'], NULL)$$),
               '^ERROR 42501: .*(INSERT|DELETE).*fleet_rack_membership',
               'rack removal, site right only: 42501');
SELECT matches(pg_temp.as_role('fleet_test_ins', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 11)$$),
               '^ERROR 42501: .*DELETE.*fleet_rack_membership',
               'rack move with INSERT but not DELETE on fleet_rack_membership: 42501 naming DELETE');
SELECT matches(pg_temp.as_role('fleet_test_del', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 11)$$),
               '^ERROR 42501: .*INSERT.*fleet_rack_membership',
               'rack move with DELETE but not INSERT on fleet_rack_membership: 42501 naming INSERT');
SELECT matches(pg_temp.as_role('fleet_test_del', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['r1'], NULL)$$),
               '^ERROR 42501: .*INSERT.*fleet_rack_membership',
               'rack removal with DELETE but not INSERT: 42501 naming INSERT (always required)');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... none of these wrote anything');

-------------------------------------------------------------------------------
-- fleet_assign_devices_to_rack: UPDATE on fleet_device only when a site changes
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT is(pg_temp.as_role('fleet_test_rack', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 11)$$),
          'no rows', 'rack right only: an unracked device joins a rack at its own site');
SELECT is(pg_temp.place('free'), 'site 1, rack 11, slot none', '... and is in it');
SELECT is(pg_temp.as_role('fleet_test_rack', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['r1'], 11)$$),
          'no rows', 'rack right only: a device moves between two racks of the same site');
SELECT is(pg_temp.place('r1'), 'site 1, rack 11, slot none', '... it left rack 10');
SELECT results_eq($$SELECT actor, event_type, site_id, description FROM fleet_activity ORDER BY id$$,
                  $$VALUES ('fleet_test_rack'::text, 'devices.assigned_to_rack'::text, 1::bigint, 'Assigned 1 device(s) to rack 11'::text),
                           ('fleet_test_rack', 'devices.assigned_to_rack', 1, 'Assigned 1 device(s) to rack 11')$$,
                  '... both audited with the role as actor, though it has no privilege on fleet_activity');
SELECT is(pg_temp.as_role('fleet_test_rack', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['un'], 30)$$),
          'no rows', 'rack right only: an Unassigned device joins a site-less rack (no site changes)');
SELECT is(pg_temp.as_role('fleet_test_rack', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['r2', 'free'], NULL)$$),
          'no rows', 'rack right only: devices are removed from their racks');
SELECT results_eq($$SELECT pg_temp.place('r2'), pg_temp.place('free'), pg_temp.place('un')$$,
                  $$VALUES ('site 2, rack none, slot none', 'site 1, rack none, slot none', 'site Unassigned, rack 30, slot none')$$,
                  '... r2 and free are out of their racks with their sites; un is in rack 30');

SELECT pg_temp.reset();
SELECT pg_temp.mark();
SELECT matches(pg_temp.as_role('fleet_test_rack', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 20)$$),
               '^ERROR 42501: .*UPDATE.*fleet_device',
               'rack right only, a device to a rack at another site: 42501 naming UPDATE on fleet_device');
SELECT matches(pg_temp.as_role('fleet_test_rack', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['r2', 'r1'], 20)$$),
               '^ERROR 42501: .*UPDATE.*fleet_device',
               'rack right only, one of two devices would change site: 42501');
SELECT matches(pg_temp.as_role('fleet_test_rack', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 30, true)$$),
               '^ERROR 42501: .*UPDATE.*fleet_device',
               'rack right only, forced into a site-less rack (the device would lose its site): 42501');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... nothing written: r1 keeps rack 10, r2 its rack and slot');
SELECT is(pg_temp.as_role('fleet_test_rack', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 30)$$),
          '(free,DEVICE_LOSES_SITE,,30,)', 'rack right only, unforced into a site-less rack: the conflict is returned');
SELECT is(pg_temp.as_role('fleet_test_rack', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['nope', 'free'], 20)$$),
          '(nope,DEVICE_NOT_FOUND,,,)', 'rack right only, an unknown device: the conflict is returned');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... nothing written');

SELECT is(pg_temp.as_role('fleet_test_both', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free', 'r2'], 20)$$),
          'no rows', 'both rights: a device moves to a rack at another site');
SELECT is(pg_temp.place('free'), 'site 2, rack 20, slot none', '... and takes its site');
SELECT results_eq($$SELECT actor, site_id, description FROM fleet_activity$$,
                  $$VALUES ('fleet_test_both'::text, 2::bigint, 'Assigned 2 device(s) to rack 20 (1 device site(s) changed)'::text)$$,
                  '... audited with the role as actor');
SELECT is(pg_temp.as_role('fleet_test_both', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['r1'], 30, true)$$),
          'no rows', 'both rights, forced into a site-less rack: applies');
SELECT is(pg_temp.place('r1'), 'site Unassigned, rack 30, slot none', '... r1 is Unassigned in rack 30');
SELECT matches(pg_temp.as_role('fleet_test_site', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['un'], 20)$$),
               '^ERROR 42501: .*(INSERT|DELETE).*fleet_rack_membership',
               'site right alone still cannot use the rack move, even where a site changes');

-------------------------------------------------------------------------------
-- fleet_activity: no ordinary role writes it
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
INSERT INTO fleet_activity (actor, event_type, description, metadata) VALUES ('me', 'test', 'a row', '{}');
SELECT pg_temp.mark();
CREATE TEMP TABLE activity_writes (statement text);
INSERT INTO activity_writes VALUES
    ($$INSERT INTO fleet_activity (actor, event_type, description, metadata) VALUES ('x', 'forged', 'x', '{}')$$),
    ($$UPDATE fleet_activity SET actor = 'x'$$),
    ($$DELETE FROM fleet_activity$$),
    ($$TRUNCATE fleet_activity$$);
SELECT is((SELECT string_agg(left(pg_temp.exec_as('fleet_test_none', statement), 11), ' ') FROM activity_writes),
          'ERROR 42501 ERROR 42501 ERROR 42501 ERROR 42501',
          'fleet_test_none cannot INSERT, UPDATE, DELETE or TRUNCATE fleet_activity');
SELECT is((SELECT string_agg(left(pg_temp.exec_as('fleet_test_site', statement), 11), ' ') FROM activity_writes),
          'ERROR 42501 ERROR 42501 ERROR 42501 ERROR 42501',
          'fleet_test_site cannot INSERT, UPDATE, DELETE or TRUNCATE fleet_activity');
SELECT is((SELECT string_agg(left(pg_temp.exec_as('fleet_test_rack', statement), 11), ' ') FROM activity_writes),
          'ERROR 42501 ERROR 42501 ERROR 42501 ERROR 42501',
          'fleet_test_rack cannot INSERT, UPDATE, DELETE or TRUNCATE fleet_activity');
SELECT is((SELECT string_agg(left(pg_temp.exec_as('fleet_test_both', statement), 11), ' ') FROM activity_writes),
          'ERROR 42501 ERROR 42501 ERROR 42501 ERROR 42501',
          'fleet_test_both cannot INSERT, UPDATE, DELETE or TRUNCATE fleet_activity');
SELECT is((SELECT string_agg(left(pg_temp.exec_as('fleet_test_member', statement), 11), ' ') FROM activity_writes),
          'ERROR 42501 ERROR 42501 ERROR 42501 ERROR 42501',
          'fleet_test_member cannot INSERT, UPDATE, DELETE or TRUNCATE fleet_activity');
SELECT is(pg_temp.snap(), pg_temp.marked(), '... and the activity rows are as they were');
SELECT is_empty($$SELECT r FROM unnest(ARRAY['fleet_test_none', 'fleet_test_site', 'fleet_test_rack',
                                              'fleet_test_both', 'fleet_test_member', 'fleet_test_ins',
                                              'fleet_test_del', 'public']) r
                   WHERE has_table_privilege(r, 'fleet_activity', 'INSERT, UPDATE, DELETE, TRUNCATE')$$,
                'no test role and not PUBLIC holds a write privilege on fleet_activity');

SELECT * FROM finish();
ROLLBACK;
