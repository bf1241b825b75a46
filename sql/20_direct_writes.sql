--
-- 20_direct_writes: the placement invariant holds for plain INSERT, UPDATE
-- and COPY too, not only for the move functions. Each rule: a write that
-- would break it fails with 23514 (the message names the row, the hint the
-- function that makes the change atomically) and writes nothing; writes that
-- cannot break it stay plain SQL; deletes are always allowed. A user trigger
-- fired from inside a move, writing other rows, is checked like any write.
--
-- Sites 20xx, buildings 20xx, racks 20xx; everything is removed at the end.
--
\pset null '(null)'

-- Everything placement-related, hashed: "nothing written" means this holds.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text
LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(concat_ws(',', id, identifier, site_id, building_id), ';' ORDER BY id)
           FROM fleet_device),
        (SELECT string_agg(concat_ws(',', id, site_id, building_id, aisle_index, position_in_aisle,
                                     row_count, column_count), ';' ORDER BY id)
           FROM fleet_rack),
        (SELECT string_agg(concat_ws(',', id, site_id, aisle_count, racks_per_aisle), ';' ORDER BY id)
           FROM fleet_building),
        (SELECT string_agg(concat_ws(',', rack_id, device_id), ';' ORDER BY device_id)
           FROM fleet_rack_membership),
        (SELECT string_agg(concat_ws(',', rack_id, device_id, row_index, column_index), ';'
                           ORDER BY rack_id, device_id)
           FROM fleet_rack_slot)))
$$;

-- SQLSTATE, message and hint of a statement, or 'ok'; and whether it wrote.
CREATE FUNCTION pg_temp.try(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.fingerprint();
    hint text;
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN format('ERROR %s: %s%s%s', SQLSTATE, SQLERRM,
                  CASE WHEN hint <> '' THEN E'\nHINT: ' || hint ELSE '' END,
                  CASE WHEN pg_temp.fingerprint() = before THEN '' ELSE E'\n(AND IT WROTE SOMETHING)' END);
END
$$;

INSERT INTO fleet_site (id, name) VALUES (2001, 'dw-a'), (2002, 'dw-b');
INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle)
VALUES (2001, 'dw-hall', 2001, 1, 2), (2002, 'dw-shed', 2002, NULL, NULL);
INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle,
                        row_count, column_count)
VALUES (2001, 'dw-r1', 2001, 2001, 0, 0, 1, 2),       -- 2 slots, in the hall
       (2002, 'dw-r2', 2002, NULL, NULL, NULL, 12, 12), -- at site b, no building
       (2003, 'dw-empty', 2001, NULL, NULL, NULL, 12, 12);
INSERT INTO fleet_device (id, identifier, site_id, building_id)
VALUES (2001, 'dw-1', 2001, 2001), (2002, 'dw-2', 2001, 2001), (2003, 'dw-3', 2001, 2001),
       (2004, 'dw-4', 2002, NULL), (2005, 'dw-5', NULL, NULL);
-- Allowed: members that share the rack's site and building, up to capacity.
INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (2001, 2001), (2001, 2002);
INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (2001, 2001, 0, 0);

--------------------------------------------------------------------------------
-- Rule 1: a racked device has its rack's site.
--------------------------------------------------------------------------------
SELECT pg_temp.try($$UPDATE fleet_device SET site_id = 2002 WHERE id = 2001$$);
SELECT pg_temp.try($$INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (2002, 2003)$$);
SELECT pg_temp.try($$UPDATE fleet_rack SET site_id = 2002 WHERE id = 2001$$);
-- A membership moved by UPDATE is checked like an insert.
SELECT pg_temp.try($$UPDATE fleet_rack_membership SET rack_id = 2002 WHERE device_id = 2002$$);
-- Allowed: an unracked device moves freely; a new device with no rack.
SELECT pg_temp.try($$UPDATE fleet_device SET site_id = 2001 WHERE id = 2004$$);
SELECT pg_temp.try($$UPDATE fleet_device SET site_id = 2002 WHERE id = 2004$$);
SELECT pg_temp.try($$INSERT INTO fleet_device (id, identifier, site_id) VALUES (2006, 'dw-6', 2002)$$);

--------------------------------------------------------------------------------
-- Rule 2: a racked device has its rack's building.
--------------------------------------------------------------------------------
SELECT pg_temp.try($$UPDATE fleet_device SET building_id = NULL WHERE id = 2001$$);
SELECT pg_temp.try($$UPDATE fleet_rack SET building_id = NULL, aisle_index = NULL,
                                           position_in_aisle = NULL WHERE id = 2001$$);

--------------------------------------------------------------------------------
-- Rule 3: a rack in a building has the building's site.
--------------------------------------------------------------------------------
SELECT pg_temp.try($$INSERT INTO fleet_rack (id, label, site_id, building_id) VALUES (2004, 'dw-x', 2002, 2001)$$);
SELECT pg_temp.try($$UPDATE fleet_rack SET building_id = 2001 WHERE id = 2002$$);
SELECT pg_temp.try($$UPDATE fleet_building SET site_id = 2002 WHERE id = 2001$$);
-- Allowed: an empty rack moves into a building at its own site; and out again.
SELECT pg_temp.try($$UPDATE fleet_rack SET building_id = 2001 WHERE id = 2003$$);
SELECT pg_temp.try($$UPDATE fleet_rack SET building_id = NULL WHERE id = 2003$$);

--------------------------------------------------------------------------------
-- Rule 4: a device in a building has the building's site.
--------------------------------------------------------------------------------
SELECT pg_temp.try($$UPDATE fleet_device SET building_id = 2002 WHERE id = 2005$$);
SELECT pg_temp.try($$INSERT INTO fleet_device (id, identifier, site_id, building_id) VALUES (2007, 'dw-7', NULL, 2001)$$);
-- Allowed: with the building's site.
SELECT pg_temp.try($$UPDATE fleet_device SET site_id = 2002, building_id = 2002 WHERE id = 2005$$);

--------------------------------------------------------------------------------
-- Rule 5: capacity and bounds of racks and buildings.
--------------------------------------------------------------------------------
-- A third member of a 2-slot rack.
SELECT pg_temp.try($$INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (2001, 2003)$$);
-- Shrinking the rack below its members, or below a slot.
SELECT pg_temp.try($$UPDATE fleet_rack SET column_count = 1 WHERE id = 2001$$);
-- A slot outside the rack.
SELECT pg_temp.try($$INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (2001, 2002, 0, 2)$$);
SELECT pg_temp.try($$UPDATE fleet_rack_slot SET column_index = 5 WHERE device_id = 2001$$);
-- A position outside the hall's layout, a position in a building with none.
SELECT pg_temp.try($$UPDATE fleet_rack SET position_in_aisle = 2 WHERE id = 2001$$);
SELECT pg_temp.try($$UPDATE fleet_rack SET building_id = 2002, aisle_index = 0, position_in_aisle = 0,
                                           site_id = 2002 WHERE id = 2003$$);
-- A layout that no longer fits its racks.
SELECT pg_temp.try($$UPDATE fleet_building SET aisle_count = NULL, racks_per_aisle = NULL WHERE id = 2001$$);
-- A third rack in a 1 x 2 hall: two fit, the third does not.
INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle)
VALUES (2005, 'dw-r5', 2001, 2001, 0, 1);
-- A position with no building at all: a rack taken out of its building with
-- its position kept, a position given to a rack in no building. Refused by
-- the guard, naming the rack (not by a bare CHECK constraint).
SELECT pg_temp.try($$UPDATE fleet_rack SET building_id = NULL WHERE id = 2005$$);
SELECT pg_temp.try($$UPDATE fleet_rack SET aisle_index = 0, position_in_aisle = 1 WHERE id = 2003$$);
SELECT pg_temp.try($$INSERT INTO fleet_rack (id, label, site_id, building_id) VALUES (2006, 'dw-r6', 2001, 2001)$$);
-- Allowed: a slot inside the rack; a rename; a layout that still fits.
SELECT pg_temp.try($$INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (2001, 2002, 0, 1)$$);
SELECT pg_temp.try($$UPDATE fleet_rack SET label = 'dw-r1-renamed' WHERE id = 2001$$);
SELECT pg_temp.try($$UPDATE fleet_building SET aisle_count = 2 WHERE id = 2001$$);

--------------------------------------------------------------------------------
-- COPY is an INSERT: a consistent batch loads, one bad row fails it whole.
--------------------------------------------------------------------------------
COPY fleet_device (id, identifier, site_id, building_id) FROM stdin;
2010	dw-c10	2001	\N
2011	dw-c11	2001	\N
\.
SELECT pg_temp.fingerprint() AS before_copy \gset
\set ON_ERROR_STOP 0
COPY fleet_rack_membership (rack_id, device_id) FROM stdin;
2003	2010
2002	2011
\.
\set ON_ERROR_STOP 1
SELECT pg_temp.fingerprint() = :'before_copy' AS copy_wrote_nothing;

--------------------------------------------------------------------------------
-- Deletes are always allowed and leave everything consistently placed.
--------------------------------------------------------------------------------
DELETE FROM fleet_rack WHERE id = 2005;
DELETE FROM fleet_building WHERE id = 2001;
SELECT id, site_id, building_id, aisle_index FROM fleet_rack WHERE id BETWEEN 2001 AND 2099 ORDER BY id;
SELECT * FROM fleet_placement_violation;

--------------------------------------------------------------------------------
-- The functions' own writes pass; a user trigger fired from inside a move
-- does not pass with them. This one, on fleet_rack_membership, moves another
-- device to another site behind the move's back.
--
-- User triggers fired by a move run under the move's pinned search_path
-- (pg_catalog, pg_temp): unqualified names in them do not resolve.
--------------------------------------------------------------------------------
INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (2003, 2010);
CREATE FUNCTION pg_temp.sneak_unqualified() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE fleet_device SET site_id = 2002 WHERE id = 2001;
    RETURN NULL;
END $$;
CREATE TRIGGER dw_sneak AFTER DELETE ON fleet_rack_membership
    FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.sneak_unqualified();
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['dw-c10'], 2002::bigint, true)$$);
DROP TRIGGER dw_sneak ON fleet_rack_membership;
CREATE FUNCTION pg_temp.sneak() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.fleet_device SET site_id = 2002 WHERE id = 2001;   -- racked in 2001 at site 2001
    RETURN NULL;
END $$;
CREATE TRIGGER dw_sneak AFTER DELETE ON fleet_rack_membership
    FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.sneak();
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['dw-c10'], 2002::bigint, true)$$);
DROP TRIGGER dw_sneak ON fleet_rack_membership;
-- Without it, the same move applies.
SELECT * FROM fleet_assign_devices_to_site(ARRAY['dw-c10'], 2002::bigint, true);
SELECT * FROM fleet_placement_violation;

-- Clean up.
DELETE FROM fleet_rack WHERE id BETWEEN 2001 AND 2099;
DELETE FROM fleet_device WHERE id BETWEEN 2001 AND 2099;
DELETE FROM fleet_building WHERE id BETWEEN 2001 AND 2099;
DELETE FROM fleet_site WHERE id BETWEEN 2001 AND 2099;
DELETE FROM fleet_activity WHERE metadata->'device_identifiers' ? 'dw-c10';
