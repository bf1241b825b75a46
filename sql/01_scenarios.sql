--
-- 01_scenarios: fleet_assign_devices_to_site, row by row of the behaviour
-- table (upstream.md, api.md steps 4-7), plus the force partition, byte-order
-- sorting, duplicate ids, arrays with a lower bound other than 1, and the
-- placement invariant after every call.
--
-- Ids of sites (1xx) and racks (15x) are explicit so the output is stable;
-- everything this file creates is deleted at the end.
--
\pset null '(null)'

-- Activity rows from here on are this file's (deleted at the end).
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

-- Helpers, all temporary (gone with the session).

-- A device's placement: site, rack and slot (NULL when not racked).
CREATE TEMP VIEW dev AS
SELECT d.identifier, d.site_id, m.rack_id, s.row_index, s.column_index
  FROM fleet_device d
  LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id;

-- The placement invariant, checked over the whole database, NULL-aware: the
-- number of racked devices whose site differs from their rack's. Must be 0.
CREATE FUNCTION pg_temp.placement_violations() RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*)
      FROM fleet_device d
      JOIN fleet_rack_membership m ON m.device_id = d.id
      JOIN fleet_rack r ON r.id = m.rack_id
     WHERE d.site_id IS DISTINCT FROM r.site_id
$$;

-- Everything a move can write, hashed: used to prove "nothing written".
CREATE FUNCTION pg_temp.fingerprint() RETURNS text
LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(concat_ws(',', id, identifier, site_id, updated_at), ';' ORDER BY id)
           FROM fleet_device),
        (SELECT string_agg(concat_ws(',', rack_id, device_id), ';' ORDER BY device_id)
           FROM fleet_rack_membership),
        (SELECT string_agg(concat_ws(',', rack_id, device_id, row_index, column_index), ';'
                           ORDER BY rack_id, device_id)
           FROM fleet_rack_slot),
        (SELECT count(*) || ',' || coalesce(max(id), 0) FROM fleet_activity)))
$$;

-- Activity rows written since the previous call of this function (the first
-- call only sets the mark). Each applied move must add exactly one row; a
-- call that returns conflicts or fails must add none.
CREATE TEMP TABLE activity_mark (last_id bigint);
INSERT INTO activity_mark SELECT coalesce(max(id), 0) FROM fleet_activity;
CREATE FUNCTION pg_temp.new_activity()
RETURNS TABLE (site_id bigint, actor_is_caller boolean, description text)
LANGUAGE plpgsql AS $$
DECLARE
    mark bigint := (SELECT last_id FROM activity_mark);
BEGIN
    RETURN QUERY
        SELECT a.site_id, a.actor = current_user, a.description
          FROM fleet_activity a
         WHERE a.id > mark
         ORDER BY a.id;
    UPDATE activity_mark SET last_id = (SELECT coalesce(max(id), mark) FROM fleet_activity);
END
$$;

-- Errors as text: SQLSTATE and message, so a test can show both.
CREATE FUNCTION pg_temp.try(call text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s) AS c', call) INTO n;
    RETURN format('ok, %s conflict row(s)', n);
EXCEPTION WHEN OTHERS THEN
    RETURN format('ERROR %s: %s', SQLSTATE, SQLERRM);
END
$$;

-- The fleet: three sites, racks at two of them, and a rack with no site.
INSERT INTO fleet_site (id, name) VALUES
    (101, 'scn-north'), (102, 'scn-south'), (103, 'scn-east');
INSERT INTO fleet_rack (id, label, site_id) VALUES
    (151, 'scn-rack-north', 101),
    (152, 'scn-rack-south', 102),
    (153, 'scn-rack-siteless', NULL);

-- Puts a (new) device into a rack at a slot, with the rack's site.
CREATE PROCEDURE pg_temp.racked(p_identifier text, p_rack bigint, p_row int, p_column int)
LANGUAGE sql AS $$
    INSERT INTO fleet_device (identifier, site_id)
        SELECT p_identifier, site_id FROM fleet_rack WHERE id = p_rack;
    INSERT INTO fleet_rack_membership (rack_id, device_id)
        SELECT p_rack, id FROM fleet_device WHERE identifier = p_identifier;
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
        SELECT p_rack, id, p_row, p_column FROM fleet_device WHERE identifier = p_identifier;
$$;

SELECT count(*) AS mark_set FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- Row 1: a device in no rack moves to the site, and to Unassigned.
--------------------------------------------------------------------------------
INSERT INTO fleet_device (identifier, site_id) VALUES ('scn-free-1', NULL), ('scn-free-2', 102);

SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-free-1'], 101);
SELECT * FROM dev WHERE identifier = 'scn-free-1';
SELECT * FROM pg_temp.new_activity();

SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-free-2'], NULL);
SELECT * FROM dev WHERE identifier = 'scn-free-2';
SELECT * FROM pg_temp.new_activity();
SELECT pg_temp.placement_violations();

--------------------------------------------------------------------------------
-- Row 2: a device in a rack at the target site is no conflict; it stays in
-- its rack and keeps its slot, with and without force.
--------------------------------------------------------------------------------
CALL pg_temp.racked('scn-at-target', 151, 2, 3);

SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-at-target'], 101);
SELECT * FROM dev WHERE identifier = 'scn-at-target';
SELECT * FROM pg_temp.new_activity();

SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-at-target'], 101, true);
SELECT * FROM dev WHERE identifier = 'scn-at-target';
-- No membership was cleared, so the description has no force-cleared suffix.
SELECT * FROM pg_temp.new_activity();
SELECT pg_temp.placement_violations();

--------------------------------------------------------------------------------
-- Row 2, Unassigned column: a device in a rack at a site, moving to
-- Unassigned, conflicts with its rack's site; with force it is cleared.
--------------------------------------------------------------------------------
CALL pg_temp.racked('scn-to-unassigned', 151, 4, 4);
SELECT pg_temp.fingerprint() AS fp \gset

SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-to-unassigned'], NULL);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT * FROM pg_temp.new_activity();

SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-to-unassigned'], NULL, true);
SELECT * FROM dev WHERE identifier = 'scn-to-unassigned';
SELECT * FROM pg_temp.new_activity();
SELECT pg_temp.placement_violations();

--------------------------------------------------------------------------------
-- Row 3: a device in a rack at another site conflicts (that rack and its
-- site); without force nothing is written, with force its membership and slot
-- are deleted and it takes the target site.
--------------------------------------------------------------------------------
CALL pg_temp.racked('scn-other-site', 152, 0, 0);
SELECT pg_temp.fingerprint() AS fp \gset

SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-other-site'], 101);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT * FROM pg_temp.new_activity();

SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-other-site'], 101, true);
SELECT * FROM dev WHERE identifier = 'scn-other-site';
-- The slot went with the membership.
SELECT count(*) AS slots_left
  FROM fleet_rack_slot s JOIN fleet_device d ON d.id = s.device_id
 WHERE d.identifier = 'scn-other-site';
SELECT * FROM pg_temp.new_activity();
SELECT pg_temp.placement_violations();

--------------------------------------------------------------------------------
-- Row 4: a device in a rack with no site. Moving it to a site conflicts
-- (conflicting_site_id NULL, the rack's id); with force it is cleared.
-- Moving it to Unassigned is no conflict: it stays racked, slot kept.
--------------------------------------------------------------------------------
CALL pg_temp.racked('scn-siteless-1', 153, 0, 1);
CALL pg_temp.racked('scn-siteless-2', 153, 0, 2);
SELECT pg_temp.fingerprint() AS fp \gset

SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-siteless-1'], 103);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-siteless-1'], 103, true);
SELECT * FROM dev WHERE identifier = 'scn-siteless-1';
SELECT * FROM pg_temp.new_activity();

SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-siteless-2'], NULL);
SELECT * FROM dev WHERE identifier = 'scn-siteless-2';
SELECT * FROM pg_temp.new_activity();
SELECT pg_temp.placement_violations();

--------------------------------------------------------------------------------
-- Row 5: an unknown identifier is DEVICE_NOT_FOUND (no site, no rack), for a
-- site or Unassigned target, and also under force, which then writes nothing:
-- not even the clearable conflict's membership is deleted.
--------------------------------------------------------------------------------
CALL pg_temp.racked('scn-clearable', 152, 1, 1);
INSERT INTO fleet_device (identifier, site_id) VALUES ('scn-movable', NULL);
SELECT pg_temp.fingerprint() AS fp \gset

SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-ghost'], 101);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-ghost'], NULL);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-ghost'], 101, true);

-- Without force: every conflict, both reasons.
SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['scn-movable', 'scn-clearable', 'scn-ghost'], 101);
-- With force: only the residual (non-clearable) conflict comes back ...
SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['scn-movable', 'scn-clearable', 'scn-ghost'], 101, true);
-- ... and nothing was written: scn-clearable is still in its rack at 102,
-- scn-movable did not move, no activity row.
SELECT * FROM dev WHERE identifier IN ('scn-movable', 'scn-clearable') ORDER BY identifier COLLATE "C";
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT * FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- Row 6: the target site is missing: ERROR 23503 naming the id, no conflict
-- list (even when every id is unknown), nothing written (even with force and
-- a clearable conflict in the batch).
--------------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-movable'], 199)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-ghost'], 199)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['scn-movable', 'scn-clearable'], 199, true)$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT * FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- Force clears exactly the conflicting devices: in one batch a device racked
-- at the target keeps membership and slot, devices racked elsewhere (at
-- another site, and in the site-less rack) lose theirs, a free device just
-- moves, and an unrelated member of the same other-site rack is untouched.
--------------------------------------------------------------------------------
CALL pg_temp.racked('scn-mix-at-target', 151, 5, 5);
CALL pg_temp.racked('scn-mix-elsewhere', 152, 5, 5);
CALL pg_temp.racked('scn-mix-siteless', 153, 5, 5);
CALL pg_temp.racked('scn-mix-bystander', 152, 6, 6);
INSERT INTO fleet_device (identifier, site_id) VALUES ('scn-mix-free', 103);

SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['scn-mix-free', 'scn-mix-siteless', 'scn-mix-elsewhere', 'scn-mix-at-target'], 101);
SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['scn-mix-free', 'scn-mix-siteless', 'scn-mix-elsewhere', 'scn-mix-at-target'], 101, true);
SELECT * FROM dev WHERE identifier LIKE 'scn-mix-%' ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity();
SELECT pg_temp.placement_violations();

--------------------------------------------------------------------------------
-- Conflicts are sorted by identifier in byte order, whatever the collation.
-- 'B' < 'Z' < 'a' < 'b' < 'É' < 'é' in bytes; a linguistic collation orders
-- them differently (checked first, so the test data really tells them apart).
--------------------------------------------------------------------------------
SELECT array_agg(x ORDER BY x COLLATE "C") AS byte_order,
       array_agg(x ORDER BY x COLLATE "C") <> array_agg(x ORDER BY x COLLATE "en-x-icu")
           AS differs_from_en
  FROM unnest(ARRAY['é-rack', 'a-missing', 'Z-missing', 'B-rack', 'b-rack', 'É-missing']) AS x;

CALL pg_temp.racked('é-rack', 152, 7, 0);
CALL pg_temp.racked('B-rack', 152, 7, 1);
CALL pg_temp.racked('b-rack', 153, 7, 2);

SELECT ord, device_identifier, reason, conflicting_site_id, rack_id
  FROM fleet_assign_devices_to_site(
        ARRAY['é-rack', 'a-missing', 'Z-missing', 'B-rack', 'b-rack', 'É-missing'], 101)
       WITH ORDINALITY AS c(device_identifier, reason, conflicting_site_id, rack_id, conflicting_building_id, ord);

-- Residual conflicts under force come back in byte order too.
SELECT ord, device_identifier, reason
  FROM fleet_assign_devices_to_site(
        ARRAY['é-rack', 'a-missing', 'Z-missing', 'B-rack', 'b-rack', 'É-missing'], 101, true)
       WITH ORDINALITY AS c(device_identifier, reason, conflicting_site_id, rack_id, conflicting_building_id, ord);
SELECT * FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- Duplicate ids count once: one conflict row per distinct identifier, and a
-- batch with repeats is applied as its distinct devices.
--------------------------------------------------------------------------------
CALL pg_temp.racked('scn-dup-racked', 152, 8, 0);
INSERT INTO fleet_device (identifier, site_id) VALUES ('scn-dup-a', NULL), ('scn-dup-b', NULL);

SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['scn-dup-racked', 'scn-nope', 'scn-dup-racked', 'scn-nope', 'scn-dup-a'], 103);

SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['scn-dup-a', 'scn-dup-b', 'scn-dup-a', 'scn-dup-a', 'scn-dup-b'], 103);
SELECT * FROM dev WHERE identifier IN ('scn-dup-a', 'scn-dup-b') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity();

-- Force with a duplicated conflicting device: its membership is deleted once.
SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['scn-dup-racked', 'scn-dup-racked'], 103, true);
SELECT * FROM dev WHERE identifier = 'scn-dup-racked';
SELECT * FROM pg_temp.new_activity();
SELECT pg_temp.placement_violations();

--------------------------------------------------------------------------------
-- Arrays whose lower bound is not 1 are read whole.
--------------------------------------------------------------------------------
INSERT INTO fleet_device (identifier, site_id) VALUES ('scn-lb-1', NULL), ('scn-lb-2', NULL);
CALL pg_temp.racked('scn-lb-racked', 152, 9, 0);

SELECT array_lower(a, 1), array_upper(a, 1)
  FROM (SELECT '[5:6]={scn-lb-1,scn-lb-2}'::text[] AS a) AS s;
SELECT * FROM fleet_assign_devices_to_site('[5:6]={scn-lb-1,scn-lb-2}'::text[], 101);
SELECT * FROM dev WHERE identifier LIKE 'scn-lb-%' ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity();

-- Conflicts are found at every position, including the last one and a
-- negative lower bound.
SELECT * FROM fleet_assign_devices_to_site('[-1:1]={scn-lb-1,scn-lb-x,scn-lb-racked}'::text[], 101);
SELECT * FROM fleet_assign_devices_to_site('[0:0]={scn-lb-racked}'::text[], 101, true);
SELECT * FROM dev WHERE identifier = 'scn-lb-racked';
SELECT * FROM pg_temp.new_activity();
SELECT pg_temp.placement_violations();

--------------------------------------------------------------------------------
-- Devices already at the target: the batch is still applied (one activity
-- row) and their placement is unchanged.
--------------------------------------------------------------------------------
SELECT * FROM fleet_assign_devices_to_site(ARRAY['scn-lb-1', 'scn-lb-2'], 101);
SELECT * FROM dev WHERE identifier LIKE 'scn-lb-_' ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity();
SELECT pg_temp.placement_violations();

-- Clean up: devices, racks (memberships and slots cascade), sites, and the
-- activity rows this file wrote.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device
 WHERE identifier LIKE 'scn-%' OR identifier IN ('é-rack', 'B-rack', 'b-rack');
DELETE FROM fleet_rack WHERE id IN (151, 152, 153);
DELETE FROM fleet_site WHERE id IN (101, 102, 103);

--------------------------------------------------------------------------------
-- Byte order even where the database's default collation is linguistic: in a
-- database with the ICU "en" collation, 'a' sorts before 'B', so an
-- implementation sorting with ORDER BY identifier would fail here.
--------------------------------------------------------------------------------
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_fleet_icu TEMPLATE template0 ENCODING 'UTF8'
    LOCALE_PROVIDER icu ICU_LOCALE 'en';
\c regress_fleet_icu
CREATE EXTENSION fleet_sites;
SELECT 'a-missing' < 'B-rack' AS default_collation_is_linguistic;

INSERT INTO fleet_site (id, name) VALUES (101, 'icu-north'), (102, 'icu-south');
INSERT INTO fleet_rack (id, label, site_id) VALUES (152, 'icu-rack-south', 102);
INSERT INTO fleet_device (identifier, site_id) VALUES ('é-rack', 102), ('B-rack', 102);
INSERT INTO fleet_rack_membership (rack_id, device_id) SELECT 152, id FROM fleet_device;

SELECT ord, device_identifier, reason
  FROM fleet_assign_devices_to_site(
        ARRAY['é-rack', 'a-missing', 'Z-missing', 'B-rack', 'É-missing'], 101)
       WITH ORDINALITY AS c(device_identifier, reason, conflicting_site_id, rack_id, conflicting_building_id, ord);

\c :regress_db
DROP DATABASE regress_fleet_icu;
