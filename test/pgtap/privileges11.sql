-- privileges11.sql: the privilege gate of the 1.1 functions (spec/api.md,
-- "Privilege gate" and each function's Privileges line; choices.md lists the
-- SELECT grants each reads with).
--
-- The matrix: for each call below, the set of table privileges it needs. A
-- role holding all of them succeeds; a role holding all but one gets 42501
-- with PostgreSQL's message for that table, a DETAIL naming the function,
-- the privilege and the table, and a HINT with the GRANT that fixes it; the
-- call writes nothing and takes no row lock (checked on every row's xmax:
-- a row lock, even one rolled back with its subtransaction, leaves one).
--
-- Then: input is checked before the gate; force_clear needs DELETE on
-- fleet_rack_membership whether or not a conflict exists; the rack move
-- needs the slot rights whenever slot arrays are given (even all NULL
-- pairs), and UPDATE on fleet_device when only a building changes; rights
-- through a group role.
--
-- Fleet (pg_temp.reset()): sites 1, 2; building 100 at site 1 (layout 2 x 2)
-- holding rack 10 at (0,0) with device r10 (slot 0,0); building 200 at site
-- 2 (no layout) holding rack 20; rack 30 at site 1 and rack 31 at site 2, in
-- no building; device free at site 1, in no building and no rack.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION fleet_sites;
\ir lib/helpers.psql

SELECT plan(74);

-- The fixture rows are inserted with session_replication_role = replica
-- (ordinary triggers and foreign-key checks off): inserted normally, the
-- guards and the foreign-key checks would lock them for this transaction,
-- and a lock the transaction already holds is not taken again, so it would
-- not show in the xmaxes below. The fixture is consistent all the same.
CREATE FUNCTION pg_temp.reset() RETURNS void LANGUAGE sql AS $$
    SELECT pg_temp.clear11();
    SELECT set_config('session_replication_role', 'replica', true);
    INSERT INTO fleet_site (id, name) VALUES (1, 'one'), (2, 'two');
    INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle)
        VALUES (100, 'hall', 1, 2, 2), (200, 'shed', 2, NULL, NULL);
    INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle)
        VALUES (10, 'r10', 1, 100, 0, 0), (20, 'r20', 2, 200, NULL, NULL),
               (30, 'r30', 1, NULL, NULL, NULL), (31, 'r31', 2, NULL, NULL, NULL);
    INSERT INTO fleet_device (id, identifier, site_id, building_id) VALUES (1, 'free', 1, NULL), (2, 'r10', 1, 100);
    INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (10, 2);
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (10, 2, 0, 0);
    SELECT set_config('session_replication_role', 'origin', true);
    SELECT 1 / (count(*) = 0)::int FROM fleet_placement_violation;
$$;

-- The calls of the matrix, each one that applies when every right is held.
CREATE TEMP TABLE calls (call text PRIMARY KEY, fn text, query text, applied text);
INSERT INTO calls VALUES
    ('building', 'fleet_assign_devices_to_building',
     $$SELECT * FROM fleet_assign_devices_to_building(ARRAY['free'], 200)$$, 'no rows'),
    ('building force', 'fleet_assign_devices_to_building',
     $$SELECT * FROM fleet_assign_devices_to_building(ARRAY['r10', 'free'], 200, true)$$, 'no rows'),
    ('racks to site', 'fleet_assign_racks_to_site',
     $$SELECT * FROM fleet_assign_racks_to_site(ARRAY[10, 30], 2)$$, '(0,2,1)'),
    ('racks to building', 'fleet_assign_racks_to_building',
     $$SELECT * FROM fleet_assign_racks_to_building(ARRAY[31, 10], 200)$$, '(0,2,1)'),
    ('buildings to site', 'fleet_assign_buildings_to_site',
     $$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[100], 2)$$, '(1,1,1)'),
    ('rack with slots', 'fleet_assign_devices_to_rack',
     $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 31, false, ARRAY[0], ARRAY[0])$$, 'no rows');

-- What each needs.
CREATE TEMP TABLE needs (call text, priv text, tbl text);
INSERT INTO needs VALUES
    ('building', 'UPDATE', 'fleet_device'), ('building', 'SELECT', 'fleet_device'),
    ('building', 'SELECT', 'fleet_rack_membership'), ('building', 'SELECT', 'fleet_rack'),
    ('building', 'SELECT', 'fleet_building'),
    ('building force', 'UPDATE', 'fleet_device'), ('building force', 'DELETE', 'fleet_rack_membership'),
    ('building force', 'SELECT', 'fleet_device'), ('building force', 'SELECT', 'fleet_rack_membership'),
    ('building force', 'SELECT', 'fleet_rack'), ('building force', 'SELECT', 'fleet_building'),
    ('racks to site', 'UPDATE', 'fleet_rack'), ('racks to site', 'UPDATE', 'fleet_device'),
    ('racks to site', 'SELECT', 'fleet_rack'), ('racks to site', 'SELECT', 'fleet_device'),
    ('racks to site', 'SELECT', 'fleet_rack_membership'),
    ('racks to building', 'UPDATE', 'fleet_rack'), ('racks to building', 'UPDATE', 'fleet_device'),
    ('racks to building', 'SELECT', 'fleet_rack'), ('racks to building', 'SELECT', 'fleet_device'),
    ('racks to building', 'SELECT', 'fleet_rack_membership'), ('racks to building', 'SELECT', 'fleet_building'),
    ('buildings to site', 'UPDATE', 'fleet_building'), ('buildings to site', 'UPDATE', 'fleet_rack'),
    ('buildings to site', 'UPDATE', 'fleet_device'), ('buildings to site', 'SELECT', 'fleet_building'),
    ('buildings to site', 'SELECT', 'fleet_rack'), ('buildings to site', 'SELECT', 'fleet_device'),
    ('buildings to site', 'SELECT', 'fleet_rack_membership'),
    ('rack with slots', 'INSERT', 'fleet_rack_membership'), ('rack with slots', 'DELETE', 'fleet_rack_membership'),
    ('rack with slots', 'INSERT', 'fleet_rack_slot'), ('rack with slots', 'DELETE', 'fleet_rack_slot'),
    ('rack with slots', 'SELECT', 'fleet_rack_slot'),
    ('rack with slots', 'UPDATE', 'fleet_device'), ('rack with slots', 'SELECT', 'fleet_device'),
    ('rack with slots', 'SELECT', 'fleet_rack_membership'), ('rack with slots', 'SELECT', 'fleet_rack');

-- A role for a call holding every right it needs but one (or all: missing NULL).
CREATE FUNCTION pg_temp.role_for(p_call text, p_priv text, p_tbl text) RETURNS name LANGUAGE plpgsql AS $$
DECLARE
    r name := left('fleet_t11_' || md5(p_call || coalesce(p_priv || p_tbl, 'all')), 40);
    g record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        FOR g IN SELECT priv, tbl FROM needs
                  WHERE call = p_call AND (p_priv IS NULL OR (priv, tbl) <> (p_priv, p_tbl)) LOOP
            EXECUTE format('GRANT %s ON TABLE %I TO %I', g.priv, g.tbl, r);
        END LOOP;
    END IF;
    RETURN r;
END $$;

-- Run a query as role r: its rows as text ('no rows'), or
-- 'ERROR <sqlstate>: <message> | <detail> | <hint>'.
CREATE FUNCTION pg_temp.outcome(r name, query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
    detail text;
    hint text;
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r);
    BEGIN
        EXECUTE format('SELECT coalesce(string_agg(x::text, '' ''), ''no rows'') FROM (%s) x', query) INTO result;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
        result := 'ERROR ' || SQLSTATE || ': ' || SQLERRM || ' | ' || detail || ' | ' || hint;
    END;
    RESET ROLE;
    RETURN result;
END $$;

-- The xmax of every site, building, rack and device row: a row lock taken by
-- a call, even in a subtransaction rolled back since, changes it.
CREATE FUNCTION pg_temp.xmaxes() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' ',
        (SELECT string_agg('s' || id || ':' || xmax::text, ' ' ORDER BY id) FROM fleet_site),
        (SELECT string_agg('b' || id || ':' || xmax::text, ' ' ORDER BY id) FROM fleet_building),
        (SELECT string_agg('r' || id || ':' || xmax::text, ' ' ORDER BY id) FROM fleet_rack),
        (SELECT string_agg('d' || id || ':' || xmax::text, ' ' ORDER BY id) FROM fleet_device))
$$;

-- A denied call: its outcome, then whether it wrote anything and whether it
-- locked any row.
CREATE FUNCTION pg_temp.denied(p_call text, p_priv text, p_tbl text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r name := pg_temp.role_for(p_call, p_priv, p_tbl);
    before_rows text := pg_temp.snap11();
    before_locks text := pg_temp.xmaxes();
    result text := pg_temp.outcome(r, (SELECT query FROM calls WHERE call = p_call));
BEGIN
    RETURN replace(result, r, '<role>')
        || CASE WHEN pg_temp.snap11() = before_rows THEN ' [nothing written]' ELSE ' [WRITTEN]' END
        || CASE WHEN pg_temp.xmaxes() = before_locks THEN ' [no lock]' ELSE ' [LOCKED]' END;
END $$;

-------------------------------------------------------------------------------
-- The method: a call that locks rows and then stops (returning conflicts, or
-- failing after its locks) does show in the xmaxes.
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.xmaxes() AS before \gset
SELECT is(pg_temp.outcome(pg_temp.role_for('building', NULL, NULL),
                          $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['r10'], 2)$$),
          '(r10,DEVICE_IN_RACK_AT_OTHER_SITE,1,10,100)', 'control: a conflict comes back ...');
SELECT isnt(pg_temp.xmaxes(), :'before', '... after the device rows were locked: the xmaxes show it');
INSERT INTO fleet_building (id, name, site_id) VALUES (300, 'hall', 2);
SELECT pg_temp.xmaxes() AS before \gset
SELECT matches(pg_temp.outcome(pg_temp.role_for('buildings to site', NULL, NULL),
                               $$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[100], 2)$$),
               '^ERROR 23505', 'control: a name clash found under the building lock ...');
SELECT isnt(pg_temp.xmaxes(), :'before', '... shows in the xmaxes');
DELETE FROM fleet_building WHERE id = 300;

-------------------------------------------------------------------------------
-- The matrix: all but one right, 42501 naming that one, nothing written,
-- nothing locked.
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT is(pg_temp.denied(n.call, n.priv, n.tbl),
          format('ERROR 42501: permission denied for table %s | %s needs %s privilege on table %s (the "%s" right), which role "<role>" lacks. | GRANT %s ON TABLE public.%s TO <role>; [nothing written] [no lock]',
                 n.tbl, c.fn, n.priv, n.tbl,
                 CASE WHEN n.priv = 'SELECT' THEN 'read'
                      WHEN n.tbl = 'fleet_device' THEN 'site manage'
                      WHEN n.tbl = 'fleet_building' THEN 'building manage'
                      ELSE 'rack manage' END,
                 n.priv, n.tbl),
          format('%s without %s on %s: 42501 naming it, before any lock, nothing written', n.call, n.priv, n.tbl))
  FROM needs n JOIN calls c USING (call)
 ORDER BY n.call, n.tbl, n.priv;

-- With every right, each call applies (each from a fresh fleet).
CREATE FUNCTION pg_temp.applied(p_call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    PERFORM pg_temp.reset();
    result := pg_temp.outcome(pg_temp.role_for(p_call, NULL, NULL), (SELECT query FROM calls WHERE call = p_call));
    RETURN result || ' / ' || (SELECT event_type || ' by ' || CASE WHEN actor = pg_temp.role_for(p_call, NULL, NULL)
                                                                   THEN 'the role' ELSE actor END
                                 FROM fleet_activity ORDER BY id DESC LIMIT 1);
END $$;
SELECT is(pg_temp.applied(c.call),
          c.applied || ' / ' || CASE c.fn WHEN 'fleet_assign_devices_to_building' THEN 'devices.reassigned_to_building'
                                          WHEN 'fleet_assign_racks_to_site' THEN 'racks.assigned_to_site'
                                          WHEN 'fleet_assign_racks_to_building' THEN 'racks.assigned_to_building'
                                          WHEN 'fleet_assign_buildings_to_site' THEN 'buildings.assigned_to_site'
                                          ELSE 'devices.assigned_to_rack' END || ' by the role',
          format('%s with every right it needs: applies, audited with the role as actor (no privilege on fleet_activity)', c.call))
  FROM calls c ORDER BY c.call;

-------------------------------------------------------------------------------
-- Input comes before the gate: a role with no right at all sees the input
-- error of each new function.
-------------------------------------------------------------------------------

CREATE ROLE fleet_t11_nothing NOLOGIN;
SELECT matches(pg_temp.outcome('fleet_t11_nothing', $$SELECT * FROM fleet_assign_devices_to_building('{}', 200)$$),
               '^ERROR 22023', 'no right, empty ids: devices to building says 22023');
SELECT matches(pg_temp.outcome('fleet_t11_nothing', $$SELECT * FROM fleet_assign_racks_to_site(ARRAY[NULL::bigint], 2)$$),
               '^ERROR 22004', 'no right, a NULL rack id: racks to site says 22004');
SELECT matches(pg_temp.outcome('fleet_t11_nothing', $$SELECT * FROM fleet_assign_racks_to_building(ARRAY[10], 0)$$),
               '^ERROR 22023', 'no right, target 0: racks to building says 22023');
SELECT matches(pg_temp.outcome('fleet_t11_nothing', $$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[[100]], 2)$$),
               '^ERROR 2202E', 'no right, a 2-D array: buildings to site says 2202E');
SELECT matches(pg_temp.outcome('fleet_t11_nothing', $$SELECT * FROM fleet_assign_racks_to_building(ARRAY[10], 200, ARRAY[1], NULL)$$),
               '^ERROR 22023', 'no right, one position array: racks to building says 22023');
SELECT matches(pg_temp.outcome('fleet_t11_nothing', $$SELECT * FROM fleet_assign_racks_to_site(ARRAY[10], 99)$$),
               '^ERROR 42501', 'no right, a missing target: 42501 (the gate comes before the target is looked up)');
SELECT matches(pg_temp.outcome('fleet_t11_nothing', $$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[999], 2)$$),
               '^ERROR 42501', 'no right, a missing building: 42501 (no existence is revealed)');

-------------------------------------------------------------------------------
-- force_clear needs DELETE on fleet_rack_membership even with nothing to
-- clear; without force, devices to building does not.
-------------------------------------------------------------------------------

SELECT pg_temp.reset();
SELECT pg_temp.mark11();
SELECT matches(pg_temp.outcome(pg_temp.role_for('building force', 'DELETE', 'fleet_rack_membership'),
                               $$SELECT * FROM fleet_assign_devices_to_building(ARRAY['free'], 200, true)$$),
               '^ERROR 42501: permission denied for table fleet_rack_membership \| fleet_assign_devices_to_building needs DELETE privilege',
               'devices to building, force with no conflict, no DELETE on fleet_rack_membership: 42501');
SELECT is(pg_temp.snap11(), pg_temp.marked11(), '... nothing written');
SELECT is(pg_temp.outcome(pg_temp.role_for('building', NULL, NULL),
                          $$SELECT * FROM fleet_assign_devices_to_building(ARRAY['nobody', 'free'], 200)$$),
          '(nobody,DEVICE_NOT_FOUND,,,)',
          'devices to building without force and without DELETE: the conflict is returned');

-------------------------------------------------------------------------------
-- The rack move: slot rights whenever slot arrays are given; UPDATE on
-- fleet_device when only the building changes.
-------------------------------------------------------------------------------

-- The 1.0 rack rights (and site manage): no slot rights.
CREATE ROLE fleet_t11_rack10 NOLOGIN;
GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot TO fleet_t11_rack10;
GRANT INSERT, DELETE ON fleet_rack_membership TO fleet_t11_rack10;
GRANT UPDATE ON fleet_device TO fleet_t11_rack10;

SELECT pg_temp.reset();
SELECT pg_temp.mark11();
SELECT matches(pg_temp.outcome('fleet_t11_rack10',
                               $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 30, false, ARRAY[NULL]::int[], ARRAY[NULL]::int[])$$),
               '^ERROR 42501: permission denied for table fleet_rack_slot \| fleet_assign_devices_to_rack needs (INSERT|DELETE) privilege on table fleet_rack_slot',
               'rack move with slot arrays of NULL pairs (slots "given"), no slot rights: 42501 naming fleet_rack_slot');
SELECT matches(pg_temp.outcome('fleet_t11_rack10',
                               $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['r10'], 10, false, ARRAY[1], ARRAY[1])$$),
               '^ERROR 42501: permission denied for table fleet_rack_slot \| fleet_assign_devices_to_rack needs (INSERT|DELETE) privilege on table fleet_rack_slot',
               'rack move moving a member to another slot, no slot rights: 42501 naming fleet_rack_slot');
SELECT is(pg_temp.snap11(), pg_temp.marked11(), '... nothing written');
SELECT is(pg_temp.outcome('fleet_t11_rack10', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 30)$$),
          'no rows', 'rack move without slot arrays: the 1.0 rights are enough');
SELECT is(pg_temp.outcome('fleet_t11_rack10', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 10, false)$$),
          'no rows', '... also into a rack that stands in a building (the building is copied; no right on fleet_building)');
SELECT is(pg_temp.place11('free'), 'site 1, building 100, rack 10, slot none', '... and the device took the rack''s building');

-- Rack rights only: a move that changes only the building needs UPDATE on
-- fleet_device; one that changes neither site nor building does not.
CREATE ROLE fleet_t11_rackonly NOLOGIN;
GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot TO fleet_t11_rackonly;
GRANT INSERT, DELETE ON fleet_rack_membership TO fleet_t11_rackonly;
SELECT pg_temp.reset();
SELECT pg_temp.mark11();
SELECT matches(pg_temp.outcome('fleet_t11_rackonly', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['r10'], 30)$$),
               '^ERROR 42501: permission denied for table fleet_device \| fleet_assign_devices_to_rack needs UPDATE privilege on table fleet_device',
               'rack right only, same site but out of building 100: 42501 naming UPDATE on fleet_device');
SELECT matches(pg_temp.outcome('fleet_t11_rackonly', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 10)$$),
               '^ERROR 42501: permission denied for table fleet_device \| fleet_assign_devices_to_rack needs UPDATE privilege on table fleet_device',
               'rack right only, same site but into building 100: 42501 naming UPDATE on fleet_device');
SELECT is(pg_temp.snap11(), pg_temp.marked11(), '... nothing written');
INSERT INTO fleet_rack (id, label, site_id, building_id) VALUES (11, 'r11', 1, 100);
SELECT is(pg_temp.outcome('fleet_t11_rackonly', $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['r10'], 11)$$),
          'no rows', 'rack right only, to another rack of the same building and site: applies');
SELECT is(pg_temp.place11('r10'), 'site 1, building 100, rack 11, slot none', '... the device is in rack 11');

-- The slot writes and SELECT on fleet_rack_slot: whatever the team decides
-- (the gate asks for SELECT on fleet_rack_slot, or the slot writes do not
-- need it), a member that has a slot and a new member must be treated
-- alike, and a refusal must be the gate's (DETAIL naming the privilege).
CREATE ROLE fleet_t11_noslotread NOLOGIN;
GRANT SELECT ON fleet_site, fleet_building, fleet_rack, fleet_device, fleet_rack_membership TO fleet_t11_noslotread;
GRANT INSERT, DELETE ON fleet_rack_membership, fleet_rack_slot TO fleet_t11_noslotread;
GRANT UPDATE ON fleet_device TO fleet_t11_noslotread;
SELECT pg_temp.reset();
SELECT pg_temp.outcome('fleet_t11_noslotread',
                       $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['free'], 10, false, ARRAY[1], ARRAY[1])$$) AS joining \gset
SELECT pg_temp.reset();
SELECT pg_temp.outcome('fleet_t11_noslotread',
                       $$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['r10'], 10, false, ARRAY[1], ARRAY[1])$$) AS reslotting \gset
SELECT matches(:'joining'::text,
               '^(no rows|ERROR 42501: permission denied for table fleet_rack_slot \| fleet_assign_devices_to_rack needs SELECT privilege on table fleet_rack_slot .*)$',
               'no SELECT on fleet_rack_slot, a device joining at a slot: applied, or refused by the gate');
SELECT matches(:'reslotting'::text,
               '^(no rows|ERROR 42501: permission denied for table fleet_rack_slot \| fleet_assign_devices_to_rack needs SELECT privilege on table fleet_rack_slot .*)$',
               'no SELECT on fleet_rack_slot, a member moving to another slot: applied, or refused by the gate');
SELECT is(:'reslotting'::text LIKE 'ERROR%', :'joining'::text LIKE 'ERROR%',
          '... and both calls get the same answer');

-------------------------------------------------------------------------------
-- Rights through a group role count (current_user's, inherited).
-------------------------------------------------------------------------------

CREATE ROLE fleet_t11_member NOLOGIN IN ROLE fleet_t11_nothing;
GRANT SELECT ON fleet_building, fleet_rack, fleet_device, fleet_rack_membership TO fleet_t11_nothing;
GRANT UPDATE ON fleet_building, fleet_rack, fleet_device TO fleet_t11_nothing;
SELECT pg_temp.reset();
SELECT is(pg_temp.outcome('fleet_t11_member', $$SELECT * FROM fleet_assign_buildings_to_site(ARRAY[100], 2)$$),
          '(1,1,1)', 'buildings to site with the rights of a group role: applies');
SELECT is((SELECT actor FROM fleet_activity ORDER BY id DESC LIMIT 1), 'fleet_t11_member',
          '... the actor is the calling role, not the group');

SELECT * FROM finish();
ROLLBACK;
