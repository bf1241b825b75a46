-- guards_bypass.sql: an ordinary role cannot switch off or get around the
-- guards on the placement tables (spec/api.md, "The invariant holds for every
-- write"; src/guards.c, src/exemption.c).
--
-- The role fleet_test_guards holds SELECT, INSERT, UPDATE and DELETE on every
-- placement table (and nothing else on them), owns a schema of its own
-- (fleet_test_guards_own) and tries, one way after another, to leave a row
-- that breaks a rule. Each attempt runs in a subtransaction as that role
-- (pg_temp.attempt) and ends in one of:
--   'ERROR <sqlstate>: <message> | HINT: <hint> | nothing written'
--   'ok | <n> violation(s)'      (the write went through; then undone)
-- A refused write must be 23514 with a message naming the row and a hint
-- naming a fleet_assign_* function, or a refusal PostgreSQL makes first
-- (42501, or 23503/23505 from the tables' own keys); an allowed write must
-- leave 0 violations of rules 1-5 (pg_temp.violations(), read as the
-- superuser: every row, whatever row-level security hides).
--
-- Where the write is not refused today and leaves a violation, the test is a
-- TODO (it runs, and says "not ok ... # TODO" until the hole is closed; then
-- it passes and the TODO must go). The holes are described at each one.
--
-- Cases that need two sessions (a prepared transaction, write skew, deadlocks)
-- and a refused COPY FROM STDIN (psql keeps no SQLSTATE for it)
-- are in test/tap/guards_race.t.
--
-- The fleet (pg_temp.reset()):
--   sites 1, 2
--   buildings 100 hall  site 1, layout 2 x 2
--             200 shed  site 2, no layout
--             300 barn  site 1, no layout, empty
--   racks 10  site 1, hall (0,0), 1 x 2 slots: d1 (slot 0,0) and hidden-6: full
--         11  site 1, hall (1,1), empty
--         20  site 2, shed: d3
--         30  site 1, no building, empty
--         40  site 2, no building: d5
--   devices d1 (site 1, hall, rack 10)   d2 (site 1, free)   d3 (site 2, shed, rack 20)
--           d4 (site 2, free)   d5 (site 2, rack 40)   hidden-6 (site 1, hall, rack 10)
--           d7 (site 1, hall, free)   hidden-8 (site 2, free)
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION fleet_sites;
\ir lib/helpers.psql

SELECT plan(63);
SET LOCAL client_min_messages = warning;   -- TRUNCATE ... CASCADE says what it cascades to

CREATE FUNCTION pg_temp.reset() RETURNS void LANGUAGE sql AS $$
    SELECT pg_temp.clear11();
    INSERT INTO fleet_site (id, name) VALUES (1, 'one'), (2, 'two');
    INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle)
        VALUES (100, 'hall', 1, 2, 2), (200, 'shed', 2, NULL, NULL), (300, 'barn', 1, NULL, NULL);
    INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle,
                            row_count, column_count)
        VALUES (10, 'r10', 1, 100, 0, 0, 1, 2), (11, 'r11', 1, 100, 1, 1, 12, 12),
               (20, 'r20', 2, 200, NULL, NULL, 12, 12), (30, 'r30', 1, NULL, NULL, NULL, 12, 12),
               (40, 'r40', 2, NULL, NULL, NULL, 12, 12);
    INSERT INTO fleet_device (id, identifier, site_id, building_id)
        VALUES (1, 'd1', 1, 100), (2, 'd2', 1, NULL), (3, 'd3', 2, 200), (4, 'd4', 2, NULL),
               (5, 'd5', 2, NULL), (6, 'hidden-6', 1, 100), (7, 'd7', 1, 100),
               (8, 'hidden-8', 2, NULL);
    INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (10, 1), (10, 6), (20, 3), (40, 5);
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (10, 1, 0, 0);
$$;
SELECT pg_temp.reset();

-- Every broken rule, 1 to 5, counted on every row.
CREATE FUNCTION pg_temp.violations() RETURNS bigint LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM fleet_placement_violation)
         + (SELECT count(*) FROM fleet_rack r
             WHERE (SELECT count(*) FROM fleet_rack_membership m WHERE m.rack_id = r.id)
                   > r.row_count * r.column_count)
         + (SELECT count(*) FROM fleet_rack_slot s JOIN fleet_rack r ON r.id = s.rack_id
             WHERE s.row_index >= r.row_count OR s.column_index >= r.column_count)
         + (SELECT count(*) FROM fleet_building b
             WHERE b.aisle_count IS NOT NULL
               AND (SELECT count(*) FROM fleet_rack r WHERE r.building_id = b.id)
                   > b.aisle_count * b.racks_per_aisle)
         + (SELECT count(*) FROM fleet_rack r LEFT JOIN fleet_building b ON b.id = r.building_id
             WHERE r.aisle_index IS NOT NULL
               AND (b.aisle_count IS NULL OR r.aisle_index >= b.aisle_count
                    OR r.position_in_aisle >= b.racks_per_aisle))
$$;
SELECT is(pg_temp.violations(), 0::bigint, 'the fixture is consistent');

CREATE ROLE fleet_test_guards NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON fleet_site, fleet_building, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    TO fleet_test_guards;
CREATE SCHEMA fleet_test_guards_own AUTHORIZATION fleet_test_guards;

-- Run the statements as fleet_test_guards in a subtransaction, and say what
-- happened (see the top of the file). Always undone.
CREATE FUNCTION pg_temp.attempt(VARIADIC statements text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.snap11();
    outcome text;
    statement text;
    state text;
    message text;
    hint text;
BEGIN
    BEGIN
        SET LOCAL ROLE fleet_test_guards;
        FOREACH statement IN ARRAY statements LOOP
            EXECUTE statement;
        END LOOP;
        RESET ROLE;
        outcome := format('ok | %s violation(s)', pg_temp.violations());
        RAISE EXCEPTION USING ERRCODE = 'P0T01', MESSAGE = outcome;
    EXCEPTION
        WHEN SQLSTATE 'P0T01' THEN
            outcome := SQLERRM;
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                                    hint = PG_EXCEPTION_HINT;
            outcome := format('ERROR %s: %s | HINT: %s', state, message, hint);
    END;
    RESET ROLE;
    RETURN outcome || CASE WHEN outcome LIKE 'ERROR%' AND pg_temp.snap11() = before
                           THEN ' | nothing written'
                           WHEN outcome LIKE 'ERROR%' THEN ' | IT WROTE SOMETHING'
                           ELSE '' END;
END $$;

-- A write refused by the guard: 23514, the message matching what (it names
-- the row), a hint naming a move function, nothing written.
CREATE FUNCTION pg_temp.refused(what text) RETURNS text LANGUAGE sql AS $$
    SELECT '^ERROR 23514: ' || what || '.* \| HINT: .*fleet_assign_[a-z_]+\(.*\| nothing written$'
$$;

-- The guard is there and works: the write every later attempt dresses up.
SELECT matches(pg_temp.attempt($$UPDATE fleet_device SET site_id = 2 WHERE id = 1$$),
    pg_temp.refused('device "d1" is in a rack at another site'),
    'a plain UPDATE moving a racked device to another site is refused');

-------------------------------------------------------------------------------
-- Switching the guards off
-------------------------------------------------------------------------------
SELECT matches(pg_temp.attempt($$ALTER TABLE fleet_device DISABLE TRIGGER fleet_guard_update$$),
    '^ERROR 42501: must be owner of table fleet_device', 'DISABLE TRIGGER <guard>: 42501, not the owner');
SELECT matches(pg_temp.attempt($$ALTER TABLE fleet_rack_membership DISABLE TRIGGER ALL$$),
    '^ERROR 42501: must be owner of table fleet_rack_membership', 'DISABLE TRIGGER ALL: 42501');
SELECT matches(pg_temp.attempt($$ALTER TABLE fleet_device ENABLE REPLICA TRIGGER fleet_guard_update$$),
    '^ERROR 42501: must be owner', 'ENABLE REPLICA TRIGGER: 42501');
SELECT matches(pg_temp.attempt($$DROP TRIGGER fleet_guard_insert ON fleet_rack_membership$$),
    '^ERROR 42501: must be owner', 'DROP TRIGGER: 42501');
SELECT matches(pg_temp.attempt($$SET session_replication_role = replica$$),
    '^ERROR 42501: permission denied to set parameter "session_replication_role"',
    'SET session_replication_role = replica: 42501, a superuser''s setting');
SELECT matches(pg_temp.attempt($$SELECT set_config('session_replication_role', 'replica', true)$$),
    '^ERROR 42501: permission denied to set parameter', 'set_config(session_replication_role): 42501');
SELECT matches(pg_temp.attempt($$ALTER ROLE fleet_test_guards SET session_replication_role = replica$$),
    '^ERROR 42501: permission denied to set parameter', 'ALTER ROLE ... SET session_replication_role: 42501');
SELECT matches(pg_temp.attempt($$TRUNCATE fleet_rack_membership CASCADE$$),
    '^ERROR 42501: permission denied for table fleet_rack_membership', 'TRUNCATE without the privilege: 42501');

-------------------------------------------------------------------------------
-- Objects of its own: views, rules, functions, triggers
-------------------------------------------------------------------------------
SET LOCAL ROLE fleet_test_guards;
CREATE VIEW fleet_test_guards_own.members AS SELECT rack_id, device_id FROM public.fleet_rack_membership;
CREATE VIEW fleet_test_guards_own.site1_devices AS
    SELECT id, identifier, site_id, building_id FROM public.fleet_device WHERE site_id = 1
    WITH CHECK OPTION;
-- Not auto-updatable (a join): writes go through an INSTEAD OF trigger...
CREATE VIEW fleet_test_guards_own.placed AS
    SELECT d.id, d.site_id, m.rack_id FROM public.fleet_device d
      LEFT JOIN public.fleet_rack_membership m ON m.device_id = d.id;
CREATE FUNCTION fleet_test_guards_own.placed_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.fleet_device SET site_id = NEW.site_id WHERE id = NEW.id;
    RETURN NEW;
END $$;
CREATE TRIGGER placed_update INSTEAD OF UPDATE ON fleet_test_guards_own.placed
    FOR EACH ROW EXECUTE FUNCTION fleet_test_guards_own.placed_update();
-- ... or a rule.
CREATE VIEW fleet_test_guards_own.racking AS
    SELECT r.id AS rack_id, d.id AS device_id FROM public.fleet_rack r, public.fleet_device d;
CREATE RULE racking_insert AS ON INSERT TO fleet_test_guards_own.racking DO INSTEAD
    INSERT INTO public.fleet_rack_membership (rack_id, device_id) VALUES (NEW.rack_id, NEW.device_id);
-- SECURITY DEFINER, owned by the role itself.
CREATE FUNCTION fleet_test_guards_own.move_rack(rack bigint, site bigint) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
    AS $$ UPDATE public.fleet_rack SET site_id = site, building_id = NULL, aisle_index = NULL,
                                        position_in_aisle = NULL WHERE id = rack $$;
-- A trigger on a table of its own that writes ours; and a deferred one.
CREATE TABLE fleet_test_guards_own.requests (device_id bigint, site_id bigint);
CREATE FUNCTION fleet_test_guards_own.apply_request() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.fleet_device SET site_id = NEW.site_id WHERE id = NEW.device_id;
    RETURN NULL;
END $$;
CREATE TRIGGER apply_request AFTER INSERT ON fleet_test_guards_own.requests
    FOR EACH ROW EXECUTE FUNCTION fleet_test_guards_own.apply_request();
CREATE TABLE fleet_test_guards_own.later (device_id bigint, site_id bigint);
CREATE CONSTRAINT TRIGGER apply_later AFTER INSERT ON fleet_test_guards_own.later
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION fleet_test_guards_own.apply_request();
RESET ROLE;

SELECT matches(pg_temp.attempt($$INSERT INTO fleet_test_guards_own.members VALUES (30, 4)$$),
    pg_temp.refused('device "d4" cannot be in rack 30: the rack is at another site'),
    'INSERT through a simple view of its own: refused');
SELECT matches(pg_temp.attempt($$UPDATE fleet_test_guards_own.site1_devices SET building_id = 300 WHERE id = 1$$),
    pg_temp.refused('device "d1" is in a rack in another building'),
    'UPDATE through a WITH CHECK OPTION view of its own: refused');
SELECT matches(pg_temp.attempt($$UPDATE fleet_test_guards_own.placed SET site_id = 1 WHERE id = 3$$),
    pg_temp.refused('device "d3" is in a rack at another site'),
    'UPDATE through an INSTEAD OF trigger of its own: refused');
SELECT matches(pg_temp.attempt($$INSERT INTO fleet_test_guards_own.racking VALUES (20, 2)$$),
    pg_temp.refused('device "d2" cannot be in rack 20: the rack is at another site'),
    'INSERT through a DO INSTEAD rule of its own: refused');
SELECT matches(pg_temp.attempt($$SELECT fleet_test_guards_own.move_rack(40, 1)$$),
    pg_temp.refused('rack 40 holds devices at another site or in another building'),
    'a SECURITY DEFINER function of its own: refused');
SELECT matches(pg_temp.attempt($$INSERT INTO fleet_test_guards_own.requests VALUES (5, 1)$$),
    pg_temp.refused('device "d5" is in a rack at another site'),
    'a trigger on a table of its own that writes ours: refused');
SELECT matches(pg_temp.attempt($$INSERT INTO fleet_test_guards_own.later VALUES (5, 1)$$,
                               $$SET CONSTRAINTS ALL IMMEDIATE$$),
    pg_temp.refused('device "d5" is in a rack at another site'),
    'a deferred constraint trigger of its own, fired by SET CONSTRAINTS ALL IMMEDIATE: refused');
-- Allowed through the same objects when nothing breaks.
SELECT is(pg_temp.attempt($$INSERT INTO fleet_test_guards_own.requests VALUES (4, 1)$$),
    'ok | 0 violation(s)', 'the same trigger moving a free device: allowed, consistent');

-------------------------------------------------------------------------------
-- Statement forms
-------------------------------------------------------------------------------
SELECT matches(pg_temp.attempt($$WITH moved AS (UPDATE fleet_device SET site_id = 2 WHERE id = 1 RETURNING id)
                                 SELECT count(*) FROM moved$$),
    pg_temp.refused('device "d1" is in a rack at another site'),
    'a data-modifying CTE: refused');
SELECT matches(pg_temp.attempt($$WITH gone AS (DELETE FROM fleet_rack_membership WHERE device_id = 5 RETURNING *)
                                 INSERT INTO fleet_rack_membership SELECT 30, device_id FROM gone$$),
    pg_temp.refused('device "d5" cannot be in rack 30: the rack is at another site'),
    'a CTE deleting a membership and inserting it into another rack: refused');
-- A whole rack and its member moved together in one statement is consistent.
SELECT is(pg_temp.attempt($$WITH r AS (UPDATE fleet_rack SET site_id = 1 WHERE id = 40 RETURNING id),
                                 d AS (UPDATE fleet_device SET site_id = 1 WHERE id = 5 RETURNING id)
                            SELECT (SELECT count(*) FROM r) + (SELECT count(*) FROM d)$$),
    'ok | 0 violation(s)', 'a CTE moving a rack with its members: allowed, consistent');
SELECT matches(pg_temp.attempt($$INSERT INTO fleet_device (id, identifier, site_id) VALUES (1, 'd1', 2)
                                 ON CONFLICT (id) DO UPDATE SET site_id = excluded.site_id$$),
    pg_temp.refused('device "d1" is in a rack at another site'),
    'INSERT ... ON CONFLICT DO UPDATE of a device: refused');
SELECT matches(pg_temp.attempt($$INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (20, 5)
                                 ON CONFLICT (device_id) DO UPDATE SET rack_id = excluded.rack_id$$),
    pg_temp.refused('device "d5" cannot be in rack 20: the rack is in another building'),
    'INSERT ... ON CONFLICT DO UPDATE of a membership: refused');
SELECT matches(pg_temp.attempt($$UPDATE fleet_device d SET site_id = r.site_id
                                   FROM fleet_rack r WHERE r.id = 40 AND d.id = 1$$),
    pg_temp.refused('device "d1" is in a rack at another site'),
    'UPDATE ... FROM: refused');
SELECT matches(pg_temp.attempt($$MERGE INTO fleet_device d
                                 USING (VALUES (1::bigint, 2::bigint), (90, 1)) AS v (id, site) ON d.id = v.id
                                 WHEN MATCHED THEN UPDATE SET site_id = v.site
                                 WHEN NOT MATCHED THEN INSERT (id, identifier, site_id) VALUES (v.id, 'new', v.site)$$),
    pg_temp.refused('device "d1" is in a rack at another site'),
    'MERGE whose UPDATE action breaks a rule (its INSERT does not): refused');
SELECT matches(pg_temp.attempt($$MERGE INTO fleet_device d
                                 USING (VALUES (2::bigint, 1::bigint), (90, 1)) AS v (id, site) ON d.id = v.id
                                 WHEN MATCHED AND d.id = 99 THEN DELETE
                                 WHEN MATCHED THEN UPDATE SET identifier = 'd2-renamed'
                                 WHEN NOT MATCHED THEN INSERT (id, identifier, site_id, building_id)
                                                       VALUES (v.id, 'new', v.site, 200)$$),
    pg_temp.refused('device "new" is in building 200, which is at another site'),
    'MERGE whose INSERT action breaks a rule (next to DELETE and UPDATE actions): refused');
SELECT matches(pg_temp.attempt($$MERGE INTO fleet_rack_membership m
                                 USING (VALUES (30::bigint, 5::bigint)) AS v (rack, device) ON m.device_id = v.device
                                 WHEN MATCHED THEN UPDATE SET rack_id = v.rack
                                 WHEN NOT MATCHED THEN INSERT VALUES (v.rack, v.device)$$),
    pg_temp.refused('device "d5" cannot be in rack 30: the rack is at another site'),
    'MERGE moving a membership: refused');
SELECT matches(pg_temp.attempt($$SET CONSTRAINTS ALL DEFERRED$$,
                               $$UPDATE fleet_device SET building_id = NULL WHERE id = 1$$),
    pg_temp.refused('device "d1" is in a rack in another building'),
    'SET CONSTRAINTS ALL DEFERRED does not defer the guards: refused at once');

-- COPY, as clients send it (FROM STDIN): a consistent load goes through. (A
-- refused COPY is in test/tap/guards_race.t, which can read its SQLSTATE;
-- psql does not set LAST_ERROR_SQLSTATE for COPY FROM STDIN.)
SAVEPOINT copy_allowed;
SET LOCAL ROLE fleet_test_guards;
COPY fleet_rack_membership (rack_id, device_id) FROM stdin;
30	2
40	4
\.
RESET ROLE;
SELECT is(pg_temp.violations() || ' violation(s), ' ||
          (SELECT count(*) FROM fleet_rack_membership WHERE (rack_id, device_id) IN ((30, 2), (40, 4))) || ' loaded',
          '0 violation(s), 2 loaded', 'COPY of consistent memberships: loaded, consistent');
ROLLBACK TO SAVEPOINT copy_allowed;

-- TRUNCATE, for a role that has the privilege: it empties the tables it
-- cascades to, which keeps the invariant; a reinsert is checked as ever.
GRANT TRUNCATE ON fleet_rack_membership, fleet_rack_slot TO fleet_test_guards;
SELECT is(pg_temp.attempt($$TRUNCATE fleet_rack_membership CASCADE$$),
    'ok | 0 violation(s)', 'TRUNCATE of the memberships (with the privilege): allowed, consistent');
SELECT matches(pg_temp.attempt($$TRUNCATE fleet_rack_membership CASCADE$$,
                               $$INSERT INTO fleet_rack_membership VALUES (10, 1), (10, 6), (10, 7)$$),
    pg_temp.refused('rack 10 is full: it holds at most 2 devices'),
    'TRUNCATE and reinsert over capacity: refused');
REVOKE TRUNCATE ON fleet_rack_membership, fleet_rack_slot FROM fleet_test_guards;

-------------------------------------------------------------------------------
-- Key columns
-------------------------------------------------------------------------------
-- Swapping ids in one statement passes the foreign keys' NO ACTION checks
-- (the referenced id still exists at the end of the statement) but puts a
-- membership on another row.
SELECT matches(pg_temp.attempt($$UPDATE fleet_device SET id = CASE id WHEN 1 THEN 1001 ELSE 1 END
                                  WHERE id IN (1, 2)$$),
    pg_temp.refused('device "d2" is in a rack'),
    'UPDATE fleet_device SET id: a membership pointed at another device: refused');
SELECT matches(pg_temp.attempt($$UPDATE fleet_rack SET id = CASE id WHEN 20 THEN 1020 ELSE 20 END
                                  WHERE id IN (20, 30)$$),
    pg_temp.refused('rack 20 holds devices at another site or in another building'),
    'UPDATE fleet_rack SET id: a membership pointed at another rack: refused');
SELECT matches(pg_temp.attempt($$UPDATE fleet_building SET id = CASE id WHEN 200 THEN 1200 ELSE 200 END
                                  WHERE id IN (200, 300)$$),
    pg_temp.refused('building 200 holds (racks|devices) at another site'),
    'UPDATE fleet_building SET id: racks pointed at another building: refused');
SELECT matches(pg_temp.attempt($$UPDATE fleet_rack_membership SET device_id = 2 WHERE device_id = 3$$),
    pg_temp.refused('device "d2" cannot be in rack 20: the rack is at another site'),
    'UPDATE fleet_rack_membership SET device_id: refused');
SELECT matches(pg_temp.attempt($$UPDATE fleet_rack_membership SET rack_id = CASE rack_id WHEN 20 THEN 40 ELSE 20 END
                                  WHERE device_id IN (3, 5)$$),
    pg_temp.refused('device "d[35]" cannot be in rack [24]0: the rack is in another building'),
    'a membership UPDATE swapping the racks of two devices: refused');
SELECT matches(pg_temp.attempt($$UPDATE fleet_rack_membership SET device_id = CASE device_id WHEN 3 THEN 5 ELSE 3 END
                                  WHERE device_id IN (3, 5)$$),
    '^ERROR 23505: .*fleet_rack_membership_pkey.*nothing written$',
    'a membership UPDATE swapping two devices: the primary key refuses it first (23505)');
SELECT matches(pg_temp.attempt($$UPDATE fleet_rack_slot SET rack_id = 11 WHERE device_id = 1$$),
    '^ERROR 23503: .*fleet_rack_slot_membership_fkey.*nothing written$',
    'moving a slot to another rack: its foreign key refuses it first (23503)');
SELECT matches(pg_temp.attempt($$UPDATE fleet_rack SET column_count = 1 WHERE id = 10$$),
    pg_temp.refused('rack 10 would hold more devices than its 1 slot'),
    'shrinking a rack below its members: refused');
SELECT matches(pg_temp.attempt($$UPDATE fleet_building SET racks_per_aisle = 1 WHERE id = 100$$),
    pg_temp.refused('the layout of building 100 does not fit rack 11'),
    'shrinking a layout below a rack''s position: refused');

-------------------------------------------------------------------------------
-- Writes that cannot break the invariant stay plain SQL
-------------------------------------------------------------------------------
SELECT is(pg_temp.attempt($$INSERT INTO fleet_device (id, identifier, site_id, building_id) VALUES (50, 'n50', 1, 300)$$),
    'ok | 0 violation(s)', 'a new device with no rack: allowed');
SELECT is(pg_temp.attempt($$UPDATE fleet_device SET identifier = 'd1-renamed' WHERE id = 1$$,
                          $$UPDATE fleet_rack SET label = 'r10-renamed' WHERE id = 10$$,
                          $$UPDATE fleet_building SET name = 'hall-renamed' WHERE id = 100$$),
    'ok | 0 violation(s)', 'renames: allowed');
SELECT is(pg_temp.attempt($$UPDATE fleet_rack SET site_id = 2, building_id = 200, aisle_index = NULL,
                                                  position_in_aisle = NULL WHERE id = 11$$),
    'ok | 0 violation(s)', 'an empty rack moving to another site and building: allowed');
SELECT is(pg_temp.attempt($$UPDATE fleet_rack_slot SET column_index = 1 WHERE device_id = 1$$),
    'ok | 0 violation(s)', 'a slot moving inside its rack: allowed');
SELECT is(pg_temp.attempt($$UPDATE fleet_building SET aisle_count = 3 WHERE id = 100$$),
    'ok | 0 violation(s)', 'a layout growing: allowed');
SELECT is(pg_temp.attempt($$DELETE FROM fleet_site WHERE id = 1$$),
    'ok | 0 violation(s)', 'deleting a site: allowed, consistent');
SELECT is(pg_temp.attempt($$DELETE FROM fleet_building WHERE id = 100$$),
    'ok | 0 violation(s)', 'deleting a building: allowed, consistent');

-------------------------------------------------------------------------------
-- From inside one of our move calls: the exemption of the functions' own
-- statements must not reach a user trigger's
-------------------------------------------------------------------------------
GRANT EXECUTE ON FUNCTION fleet_assign_devices_to_rack(text[], bigint, boolean, integer[], integer[]),
    fleet_assign_devices_to_site(text[], bigint, boolean), fleet_assign_racks_to_site(bigint[], bigint)
    TO fleet_test_guards;
SET LOCAL ROLE fleet_test_guards;
-- Moves d5 (racked at site 2) to site 1 whenever a membership is inserted.
-- Names are qualified: a trigger fired by a move runs under the move's
-- search_path (pg_catalog, pg_temp).
CREATE FUNCTION fleet_test_guards_own.sneak() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.fleet_device SET site_id = 1 WHERE id = 5;
    RETURN NULL;
END $$;
RESET ROLE;
-- The owner puts the role's function on our table (the role cannot).
CREATE TRIGGER zz_sneak AFTER INSERT ON fleet_rack_membership
    FOR EACH ROW EXECUTE FUNCTION fleet_test_guards_own.sneak();
SELECT matches(pg_temp.attempt($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['d4'], 40)$$),
    pg_temp.refused('device "d5" is in a rack at another site'),
    'a user row trigger fired by a move, writing another row: refused, the move undone');
DROP TRIGGER zz_sneak ON fleet_rack_membership;
CREATE TRIGGER zz_sneak AFTER INSERT ON fleet_rack_membership
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_test_guards_own.sneak();
SELECT matches(pg_temp.attempt($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['d4'], 40)$$),
    pg_temp.refused('device "d5" is in a rack at another site'),
    'a user statement trigger fired by a move: refused');
DROP TRIGGER zz_sneak ON fleet_rack_membership;
SELECT is(pg_temp.attempt($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['d4'], 40)$$),
    'ok | 0 violation(s)', 'without the trigger the same move applies');

-- A table of the role's own referencing our memberships ON DELETE CASCADE:
-- PostgreSQL queues the triggers of a cascaded delete at the level of the
-- statement that caused it, here the move's own exempt DELETE (force_clear).
GRANT REFERENCES ON fleet_rack_membership TO fleet_test_guards;
SET LOCAL ROLE fleet_test_guards;
CREATE TABLE fleet_test_guards_own.tags (
    device_id bigint REFERENCES public.fleet_rack_membership (device_id) ON DELETE CASCADE);
INSERT INTO fleet_test_guards_own.tags VALUES (3);
CREATE FUNCTION fleet_test_guards_own.untagged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.fleet_device SET site_id = 1 WHERE id = 5;
    RETURN NULL;
END $$;
CREATE TRIGGER untagged AFTER DELETE ON fleet_test_guards_own.tags
    FOR EACH ROW EXECUTE FUNCTION fleet_test_guards_own.untagged();
RESET ROLE;
SELECT matches(pg_temp.attempt($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['d3'], 1, true)$$),
    pg_temp.refused('device "d5" is in a rack at another site'),
    'a trigger of its own fired by a cascade from a move''s force-clear: refused');

-- A role with the TRIGGER privilege on a placement table (not its owner: it
-- cannot disable the guards) puts a BEFORE ROW trigger on it that rewrites
-- the new row. Inside a move the rewritten row is written by the move's own
-- statement; the guards check such a statement like a direct write (before
-- the fix the exemption let the violation commit).
GRANT TRIGGER ON fleet_device TO fleet_test_guards;
SET LOCAL ROLE fleet_test_guards;
CREATE FUNCTION fleet_test_guards_own.bend() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.site_id := 2;
    RETURN NEW;
END $$;
CREATE TRIGGER bend BEFORE UPDATE ON public.fleet_device
    FOR EACH ROW EXECUTE FUNCTION fleet_test_guards_own.bend();
RESET ROLE;
SELECT matches(pg_temp.attempt($$UPDATE fleet_device SET updated_at = now() WHERE id = 1$$),
    pg_temp.refused('device "d1" is in a rack at another site'),
    'TRIGGER privilege: its BEFORE ROW trigger bending a direct write is checked');
SELECT matches(pg_temp.attempt($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[40::bigint], 1)$$),
    '^ERROR 23514: .*nothing written$',
    'TRIGGER privilege: its BEFORE ROW trigger bending a move''s own UPDATE is refused');
SELECT matches(pg_temp.attempt($$SELECT * FROM fleet_assign_devices_to_rack(ARRAY['d2'], 11)$$),
    '(^ERROR 23514: .*nothing written$)|(^ok \| 0 violation)',
    'TRIGGER privilege: the same trigger inside a rack move leaves no violation');
DROP TRIGGER bend ON fleet_device;

-- A BEFORE DELETE trigger that suppresses the delete of a membership a
-- force-clear removes: the device would leave for another site still in
-- its rack. Checked when the call ends.
GRANT TRIGGER ON fleet_rack_membership, fleet_rack TO fleet_test_guards;
SET LOCAL ROLE fleet_test_guards;
CREATE FUNCTION fleet_test_guards_own.keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NULL;
END $$;
CREATE TRIGGER keep BEFORE DELETE ON public.fleet_rack_membership
    FOR EACH ROW EXECUTE FUNCTION fleet_test_guards_own.keep();
RESET ROLE;
SELECT matches(pg_temp.attempt($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['d3'], 1, true)$$),
    '^ERROR (42501|23514): .*d3.*nothing written$',
    'TRIGGER privilege: a BEFORE DELETE trigger keeping a membership a force-clear removes is refused');
DROP TRIGGER keep ON fleet_rack_membership;

-- A BEFORE UPDATE trigger bending the writes of a site delete (its racks
-- leave the site; one is put back at site 1, away from its member).
SET LOCAL ROLE fleet_test_guards;
CREATE FUNCTION fleet_test_guards_own.stay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.site_id = 2 AND NEW.site_id IS NULL AND NEW.building_id IS NULL THEN
        NEW.site_id := 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER stay BEFORE UPDATE ON public.fleet_rack
    FOR EACH ROW EXECUTE FUNCTION fleet_test_guards_own.stay();
RESET ROLE;
SELECT matches(pg_temp.attempt($$DELETE FROM fleet_site WHERE id = 2$$),
    '^ERROR 23514: (device "d5"|rack 40) .*nothing written$',
    'TRIGGER privilege: a BEFORE UPDATE trigger bending a site delete''s own writes is refused');
DROP TRIGGER stay ON fleet_rack;

-- A trigger that only touches updated_at changes no placement: the moves,
-- whose statements are consistent only together, apply as before.
SET LOCAL ROLE fleet_test_guards;
CREATE FUNCTION fleet_test_guards_own.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER touch BEFORE UPDATE ON public.fleet_device
    FOR EACH ROW EXECUTE FUNCTION fleet_test_guards_own.touch();
CREATE FUNCTION fleet_test_guards_own.pass() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NEW;
END $$;
CREATE TRIGGER touch BEFORE UPDATE ON public.fleet_rack
    FOR EACH ROW EXECUTE FUNCTION fleet_test_guards_own.pass();
RESET ROLE;
SELECT is(pg_temp.attempt($$SELECT * FROM fleet_assign_racks_to_site(ARRAY[40::bigint, 20], 1)$$,
                          $$SELECT * FROM fleet_assign_devices_to_site(ARRAY['d3'], 2, true)$$,
                          $$SELECT * FROM fleet_assign_racks_to_building(ARRAY[30::bigint], 100,
                                                                         ARRAY[1], ARRAY[0])$$),
    'ok | 0 violation(s)',
    'a harmless BEFORE UPDATE trigger of a user: rack and device moves apply, consistent');
DROP TRIGGER touch ON fleet_device;
DROP TRIGGER touch ON fleet_rack;
REVOKE TRIGGER ON fleet_device, fleet_rack_membership, fleet_rack FROM fleet_test_guards;

-------------------------------------------------------------------------------
-- Row-level security hiding rows from the writer: the guards see them all
-------------------------------------------------------------------------------
ALTER TABLE fleet_device ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_rack_membership ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_rack_slot ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON fleet_device TO fleet_test_guards USING (identifier NOT LIKE 'hidden-%');
-- Memberships: the role reads and deletes those of devices it sees, and may
-- insert any (a racking team that does not see every device).
CREATE POLICY visible ON fleet_rack_membership FOR SELECT TO fleet_test_guards
    USING (EXISTS (SELECT 1 FROM fleet_device d WHERE d.id = device_id));
CREATE POLICY delete_visible ON fleet_rack_membership FOR DELETE TO fleet_test_guards
    USING (EXISTS (SELECT 1 FROM fleet_device d WHERE d.id = device_id));
CREATE POLICY insert_any ON fleet_rack_membership FOR INSERT TO fleet_test_guards WITH CHECK (true);
CREATE POLICY visible ON fleet_rack_slot TO fleet_test_guards USING (true);
SELECT is(pg_temp.as_role('fleet_test_guards',
          $$SELECT count(*) FROM fleet_rack_membership WHERE rack_id = 10$$),
    '(1)', 'the role sees one member of rack 10 (hidden-6 is hidden)');
SELECT matches(pg_temp.attempt($$INSERT INTO fleet_rack_membership VALUES (10, 7)$$),
    pg_temp.refused('rack 10 is full: it holds at most 2 devices'),
    'a member joining a rack that looks half empty to the writer: refused (the hidden member counts)');
SELECT matches(pg_temp.attempt($$DELETE FROM fleet_rack_membership WHERE rack_id = 10$$,
                               $$UPDATE fleet_rack SET site_id = 2, building_id = NULL, aisle_index = NULL,
                                                       position_in_aisle = NULL WHERE id = 10$$),
    pg_temp.refused('rack 10 holds devices at another site or in another building'),
    'a rack that looks empty to the writer moving away from its hidden member: refused');
SELECT matches(pg_temp.attempt($$UPDATE fleet_building SET site_id = 2 WHERE id = 100$$),
    pg_temp.refused('building 100 holds (racks|devices) at another site'),
    'a building moving away from racks and hidden devices: refused');
-- The writer names a device it cannot see by its id; the refusal does not
-- tell it the device's identifier (PostgreSQL's own foreign-key errors leave
-- out key values the writer cannot see under row-level security).
SELECT matches(pg_temp.attempt($$INSERT INTO fleet_rack_membership VALUES (30, 8)$$),
    '^ERROR 23514: device with id 8 cannot be in rack 30',
    'a refused membership of a hidden device names it by the id the writer gave, not its identifier');
SELECT matches(pg_temp.attempt($$INSERT INTO fleet_rack_membership VALUES (30, 8)$$),
    '^ERROR 23514: .*nothing written$', 'a membership of a hidden device at another site: refused all the same');

SELECT * FROM finish();
ROLLBACK;
