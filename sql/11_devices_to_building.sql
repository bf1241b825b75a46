--
-- 11_devices_to_building: fleet_assign_devices_to_building (api.md, 1.1),
-- scenario by scenario: a device in no rack, in a rack of the target
-- building, in a rack of another building, in a building-less rack, or
-- unknown; a building target and the NULL target; with and without force;
-- the audit row field by field; nothing written on a conflict or an error
-- (proven by a fingerprint of every table, with row versions); the
-- placement invariant (fleet_placement_violation) after every call.
--
-- Sites 11xx, buildings 112x, racks 115x, devices 'bd-*'; everything this
-- file creates is deleted at the end.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

-- A device's placement: site, building, rack and slot.
CREATE TEMP VIEW dev AS
SELECT d.identifier, d.site_id, d.building_id, m.rack_id, s.row_index, s.column_index
  FROM fleet_device d
  LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id
 WHERE d.identifier LIKE 'bd-%';

-- Every row of every table with its row version (ctid), so that even an
-- UPDATE writing the same values shows, and the activity rows: used to prove
-- "nothing written".
CREATE FUNCTION pg_temp.fingerprint() RETURNS text
LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.id) FROM fleet_site t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.id) FROM fleet_building t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.id) FROM fleet_rack t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.id) FROM fleet_device t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.device_id) FROM fleet_rack_membership t),
        (SELECT string_agg(t.ctid::text || t::text, ';' ORDER BY t.device_id) FROM fleet_rack_slot t),
        (SELECT count(*) || ',' || coalesce(max(id), 0) FROM fleet_activity)))
$$;

-- Rows of the violation view (rules 1-4). Must stay 0.
CREATE FUNCTION pg_temp.violations() RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM fleet_placement_violation $$;

-- The activity rows written since the previous call (the first call sets
-- the mark). An applied call adds exactly one; a conflict or error none.
CREATE TEMP TABLE activity_mark (last_id bigint);
INSERT INTO activity_mark SELECT coalesce(max(id), 0) FROM fleet_activity;
CREATE FUNCTION pg_temp.new_activity()
RETURNS TABLE (event_type text, site_id bigint, actor_is_caller boolean, description text, metadata jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    mark bigint := (SELECT last_id FROM activity_mark);
BEGIN
    RETURN QUERY
        SELECT a.event_type, a.site_id, a.actor = current_user, a.description, a.metadata
          FROM fleet_activity a
         WHERE a.id > mark
         ORDER BY a.id;
    UPDATE activity_mark SET last_id = (SELECT coalesce(max(id), mark) FROM fleet_activity);
END
$$;

-- A call's rows as text, or its SQLSTATE and message.
CREATE FUNCTION pg_temp.try(call text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SELECT coalesce(string_agg(c::text, '' '' ORDER BY c::text COLLATE "C"), ''no rows'') FROM (%s) AS c', call)
        INTO result;
    RETURN 'ok: ' || result;
EXCEPTION WHEN OTHERS THEN
    RETURN format('ERROR %s: %s', SQLSTATE, SQLERRM);
END
$$;

-- The fleet.
--   site 1101: building 1121 (layout 2x2), racks 1151 (in 1121) and 1153 (no building)
--   site 1102: building 1122 (no layout), rack 1152 (in 1122)
--   no site:   building 1123, rack 1154 (no building, no site)
INSERT INTO fleet_site (id, name) VALUES (1101, 'bd-north'), (1102, 'bd-south');
INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle) VALUES
    (1121, 'bd-hall-a', 1101, 2, 2),
    (1122, 'bd-hall-b', 1102, NULL, NULL),
    (1123, 'bd-depot', NULL, NULL, NULL);
INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle) VALUES
    (1151, 'bd-rack-a', 1101, 1121, 0, 0),
    (1152, 'bd-rack-b', 1102, 1122, NULL, NULL),
    (1153, 'bd-rack-loose', 1101, NULL, NULL, NULL),
    (1154, 'bd-rack-nowhere', NULL, NULL, NULL, NULL);

-- A new device in a rack at a slot, with the rack's site and building.
CREATE PROCEDURE pg_temp.racked(p_identifier text, p_rack bigint, p_row int, p_column int)
LANGUAGE sql AS $$
    INSERT INTO fleet_device (identifier, site_id, building_id)
        SELECT p_identifier, site_id, building_id FROM fleet_rack WHERE id = p_rack;
    INSERT INTO fleet_rack_membership (rack_id, device_id)
        SELECT p_rack, id FROM fleet_device WHERE identifier = p_identifier;
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
        SELECT p_rack, id, p_row, p_column FROM fleet_device WHERE identifier = p_identifier;
$$;

SELECT count(*) AS mark_set FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- A device in no rack: it takes the building and the building's site.
-- From Unassigned (site changes), from another building at another site
-- (site and building change), already in the target (nothing changes, the
-- call still applies and is audited).
--------------------------------------------------------------------------------
INSERT INTO fleet_device (identifier, site_id, building_id) VALUES
    ('bd-free', NULL, NULL), ('bd-in-b', 1102, 1122), ('bd-in-a', 1101, 1121);

SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-free'], 1121);
SELECT * FROM dev WHERE identifier = 'bd-free';
SELECT * FROM pg_temp.new_activity() \gx

SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-in-b', 'bd-in-a'], 1121);
SELECT * FROM dev WHERE identifier IN ('bd-in-b', 'bd-in-a') ORDER BY identifier COLLATE "C";
-- site_changed_device_count counts only bd-in-b.
SELECT * FROM pg_temp.new_activity() \gx

-- Already there: no site changes, so no site_changed_device_count key.
SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-in-a'], 1121);
SELECT metadata ? 'site_changed_device_count' AS has_site_changed_key, description
  FROM pg_temp.new_activity();
SELECT pg_temp.violations();

-- Into a building with no site: the device becomes Unassigned.
SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-in-b'], 1123);
SELECT * FROM dev WHERE identifier = 'bd-in-b';
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- The NULL target: out of the building, site kept (no site change is
-- counted); a device in no building stays as it is.
--------------------------------------------------------------------------------
SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-in-a', 'bd-in-b', 'bd-free'], NULL);
SELECT * FROM dev WHERE identifier IN ('bd-in-a', 'bd-in-b', 'bd-free') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- A device in a rack of the target building is no conflict: it stays in its
-- rack and keeps its slot (the very same membership and slot rows), with and
-- without force.
--------------------------------------------------------------------------------
CALL pg_temp.racked('bd-rack-a-1', 1151, 0, 0);
SELECT (SELECT m.ctid::text FROM fleet_rack_membership m JOIN fleet_device d ON d.id = m.device_id
         WHERE d.identifier = 'bd-rack-a-1') AS membership_version,
       (SELECT s.ctid::text FROM fleet_rack_slot s JOIN fleet_device d ON d.id = s.device_id
         WHERE d.identifier = 'bd-rack-a-1') AS slot_version \gset

SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-rack-a-1'], 1121);
SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-rack-a-1'], 1121, true);
SELECT * FROM dev WHERE identifier = 'bd-rack-a-1';
SELECT (SELECT m.ctid::text FROM fleet_rack_membership m JOIN fleet_device d ON d.id = m.device_id
         WHERE d.identifier = 'bd-rack-a-1') = :'membership_version' AS same_membership_row,
       (SELECT s.ctid::text FROM fleet_rack_slot s JOIN fleet_device d ON d.id = s.device_id
         WHERE d.identifier = 'bd-rack-a-1') = :'slot_version' AS same_slot_row;
-- Two applied calls; nothing was cleared, so neither has a force suffix or keys.
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- A device in a rack of another building conflicts with that rack (its site
-- and its building). Without force nothing is written; with force its
-- membership and slot go and it moves.
--------------------------------------------------------------------------------
CALL pg_temp.racked('bd-rack-b-1', 1152, 3, 3);
SELECT pg_temp.fingerprint() AS fp \gset

SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-rack-b-1'], 1121);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS audit_rows FROM pg_temp.new_activity();

SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-rack-b-1'], 1121, true);
SELECT * FROM dev WHERE identifier = 'bd-rack-b-1';
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- A device in a building-less rack conflicts too: the rack's building (NULL)
-- is not the target. At a site (conflicting_site_id the rack's site) and with
-- no site (NULL); with force both are cleared.
--------------------------------------------------------------------------------
CALL pg_temp.racked('bd-loose-1', 1153, 0, 1);
CALL pg_temp.racked('bd-nowhere-1', 1154, 0, 2);
SELECT pg_temp.fingerprint() AS fp \gset

SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-nowhere-1', 'bd-loose-1'], 1122);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-nowhere-1', 'bd-loose-1'], 1122, true);
SELECT * FROM dev WHERE identifier IN ('bd-nowhere-1', 'bd-loose-1') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- The NULL target and racked devices: a rack that stands in a building is a
-- conflict (any building is distinct from NULL); a building-less rack is not:
-- the device stays in it, keeps its slot and its site.
--------------------------------------------------------------------------------
CALL pg_temp.racked('bd-rack-a-2', 1151, 1, 1);
CALL pg_temp.racked('bd-loose-2', 1153, 1, 1);
CALL pg_temp.racked('bd-nowhere-2', 1154, 1, 2);
SELECT pg_temp.fingerprint() AS fp \gset

SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-rack-a-2', 'bd-loose-2', 'bd-nowhere-2'], NULL);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-loose-2', 'bd-nowhere-2'], NULL);
SELECT * FROM dev WHERE identifier IN ('bd-loose-2', 'bd-nowhere-2') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx

-- With force: bd-rack-a-2 leaves rack 1151 and its building, keeps site 1101.
SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-rack-a-2', 'bd-loose-2'], NULL, true);
SELECT * FROM dev WHERE identifier IN ('bd-rack-a-2', 'bd-loose-2') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- An unknown identifier is DEVICE_NOT_FOUND (no rack, no site, no building).
-- Under force it is residual: only it is returned and nothing is written,
-- not even the clearable conflict's membership is deleted.
--------------------------------------------------------------------------------
CALL pg_temp.racked('bd-clearable', 1152, 4, 4);
INSERT INTO fleet_device (identifier, site_id) VALUES ('bd-movable', NULL);
SELECT pg_temp.fingerprint() AS fp \gset

SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-ghost'], 1121);
SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-ghost'], NULL);
SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-movable', 'bd-clearable', 'bd-ghost'], 1121);
SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-movable', 'bd-clearable', 'bd-ghost'], 1121, true);
SELECT * FROM dev WHERE identifier IN ('bd-movable', 'bd-clearable') ORDER BY identifier COLLATE "C";
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS audit_rows FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- Conflicts come back sorted by identifier in byte order; duplicates count
-- once (one conflict row each; a batch with repeats applies its distinct
-- devices, device_count and the identifier list counting each once).
--------------------------------------------------------------------------------
CALL pg_temp.racked('bd-Z', 1152, 5, 0);
CALL pg_temp.racked('bd-a', 1153, 5, 1);
CALL pg_temp.racked('bd-É', 1154, 5, 2);
SELECT ord, device_identifier, reason, conflicting_site_id, rack_id, conflicting_building_id
  FROM fleet_assign_devices_to_building(
        ARRAY['bd-É', 'bd-a', 'bd-é-missing', 'bd-Z', 'bd-B-missing', 'bd-a', 'bd-É'], 1121)
       WITH ORDINALITY AS c(device_identifier, reason, conflicting_site_id, rack_id, conflicting_building_id, ord);

INSERT INTO fleet_device (identifier, site_id) VALUES ('bd-dup-1', NULL), ('bd-dup-2', NULL);
SELECT * FROM fleet_assign_devices_to_building(
    ARRAY['bd-dup-2', 'bd-dup-1', 'bd-dup-2', 'bd-dup-2', 'bd-dup-1'], 1122);
SELECT * FROM dev WHERE identifier LIKE 'bd-dup-%' ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx

-- Force with repeats: each conflicting membership deleted once, listed once.
SELECT * FROM fleet_assign_devices_to_building(
    ARRAY['bd-Z', 'bd-a', 'bd-Z', 'bd-É', 'bd-a'], 1121, true);
SELECT * FROM dev WHERE identifier IN ('bd-Z', 'bd-a', 'bd-É') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- The target building missing: 23503 naming the id, even when every id is
-- unknown and under force with a clearable conflict; nothing written.
--------------------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-movable'], 1129)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-ghost'], 1129)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(
    ARRAY['bd-movable', 'bd-clearable'], 1129, true)$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS audit_rows FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- The bad-input table, for this function; each call carries a device that
-- would otherwise move and one whose membership force would clear.
--------------------------------------------------------------------------------
-- ids NULL: 22004
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(NULL, 1121)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(NULL::text[], NULL, true)$$);
-- an element NULL: 22004 (also with a lower bound other than 1)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-movable', NULL], 1121)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building('[3:4]={bd-clearable,NULL}'::text[], 1121, true)$$);
-- empty: 22023
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building('{}', 1121)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(ARRAY[]::text[], NULL, true)$$);
-- two dimensions: 2202E
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(ARRAY[['bd-movable'], ['bd-clearable']], 1121)$$);
-- an empty identifier, one longer than 256 characters: 22023
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-movable', ''], 1121)$$);
SELECT pg_temp.try(format($$SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-clearable', %L], 1121, true)$$,
                          repeat('é', 257)));
-- more than 10,000 distinct: 54000
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(
    ARRAY['bd-movable'] || ARRAY(SELECT 'bd-many-' || i FROM generate_series(1, 10000) AS i), 1121)$$);
-- target zero or negative: 22023
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-movable'], 0)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-clearable'], -1121, true)$$);
-- force_clear NULL: 22004
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(ARRAY['bd-clearable'], 1121, NULL)$$);
-- input before the target: bad input with a missing building is the input error
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_building(ARRAY[''], 1129)$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS audit_rows FROM pg_temp.new_activity();

-- A lower bound other than 1, and 10,001 elements collapsing to 10,000
-- distinct, are accepted.
SELECT * FROM fleet_assign_devices_to_building('[7:8]={bd-movable,bd-dup-1}'::text[], 1123);
SELECT * FROM dev WHERE identifier IN ('bd-movable', 'bd-dup-1') ORDER BY identifier COLLATE "C";
SELECT description FROM pg_temp.new_activity();
SELECT count(*) AS not_found_rows FROM fleet_assign_devices_to_building(
    ARRAY(SELECT 'bd-many-' || i FROM generate_series(1, 10000) AS i) || ARRAY['bd-many-1'], 1121);
SELECT count(*) AS audit_rows FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- The audit row: actor from fleet_sites.actor, identifiers in input order
-- (first 50 of 60), the force keys only when the clear fired.
--------------------------------------------------------------------------------
INSERT INTO fleet_device (identifier, site_id)
    SELECT 'bd-many-' || lpad(i::text, 2, '0'), NULL FROM generate_series(1, 60) AS i;
SET fleet_sites.actor = 'bd-console';
SELECT * FROM fleet_assign_devices_to_building(
    ARRAY(SELECT 'bd-many-' || lpad(i::text, 2, '0') FROM generate_series(60, 1, -1) AS i), 1122);
RESET fleet_sites.actor;
SELECT a.event_type, a.site_id, a.actor, a.description,
       a.metadata->'device_count' AS device_count,
       a.metadata->'site_changed_device_count' AS site_changed,
       jsonb_array_length(a.metadata->'device_identifiers') AS listed,
       a.metadata->'device_identifiers' = to_jsonb(ARRAY(
           SELECT 'bd-many-' || lpad(i::text, 2, '0') FROM generate_series(60, 11, -1) AS i))
           AS first_50_in_input_order,
       ARRAY(SELECT jsonb_object_keys(a.metadata) ORDER BY 1) AS keys
  FROM fleet_activity a WHERE a.id > (SELECT last_id FROM activity_mark) \gx
SELECT count(*) AS mark_moved FROM pg_temp.new_activity();

-- Sixty memberships cleared by force: the count says 60, the list holds 50
-- (the first 50 in byte order, as the conflicts are ordered). The devices
-- join a building-less rack at site 1101 first.
INSERT INTO fleet_rack (id, label, site_id, building_id, row_count, column_count)
    VALUES (1155, 'bd-rack-big', 1101, NULL, 12, 12);
SELECT * FROM fleet_assign_devices_to_rack(
    ARRAY(SELECT 'bd-many-' || lpad(i::text, 2, '0') FROM generate_series(1, 60) AS i), 1155);
SELECT count(*) AS rack_move_audited FROM pg_temp.new_activity();
SELECT pg_temp.violations();
SELECT * FROM fleet_assign_devices_to_building(
    ARRAY(SELECT 'bd-many-' || lpad(i::text, 2, '0') FROM generate_series(60, 1, -1) AS i), 1121, true);
SELECT a.description,
       a.metadata->'force_cleared_rack_membership_count' AS cleared_count,
       a.metadata->'force_cleared_device_identifiers' = to_jsonb(ARRAY(
           SELECT 'bd-many-' || lpad(i::text, 2, '0') FROM generate_series(1, 50) AS i))
           AS first_50_cleared_in_byte_order,
       a.metadata->'site_changed_device_count' AS site_changed
  FROM pg_temp.new_activity() AS a \gx
SELECT count(*) AS left_in_rack FROM fleet_rack_membership WHERE rack_id = 1155;
SELECT pg_temp.violations();

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier LIKE 'bd-%';
DELETE FROM fleet_rack WHERE id BETWEEN 1151 AND 1159;
DELETE FROM fleet_building WHERE id BETWEEN 1121 AND 1129;
DELETE FROM fleet_site WHERE id IN (1101, 1102);
