--
-- 15_racks_to_site: fleet_assign_racks_to_site (api.md, 1.1). A rack already
-- at the target is left exactly as it is (building, position, members: the
-- same row versions); a rack whose site changes takes the target and leaves
-- its building and position, its members follow (site, building NULL) with
-- memberships and slots untouched; devices of the old building that are not
-- in the rack stay. The returned fleet_cascade counts what changed; the
-- audit row field by field (rack_ids distinct ascending, first 50).
--
-- Sites 15xx, buildings 152x, racks 155x (and 15600.. for the 60 racks),
-- devices 'rts-*'; removed at the end.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

CREATE TEMP VIEW dev AS
SELECT d.identifier, d.site_id, d.building_id, m.rack_id, s.row_index, s.column_index
  FROM fleet_device d
  LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id
 WHERE d.identifier LIKE 'rts-%';
CREATE TEMP VIEW rack AS
SELECT id, site_id, building_id, aisle_index, position_in_aisle FROM fleet_rack
 WHERE id BETWEEN 1551 AND 1559;

-- Row versions of everything placing one rack and its members.
CREATE FUNCTION pg_temp.versions(p_rack bigint) RETURNS text
LANGUAGE sql AS $$
    SELECT concat_ws('|',
        (SELECT ctid::text FROM fleet_rack WHERE id = p_rack),
        (SELECT string_agg(d.ctid::text, ',' ORDER BY d.id) FROM fleet_device d
           JOIN fleet_rack_membership m ON m.device_id = d.id WHERE m.rack_id = p_rack),
        (SELECT string_agg(m.ctid::text, ',' ORDER BY m.device_id) FROM fleet_rack_membership m
          WHERE m.rack_id = p_rack),
        (SELECT string_agg(s.ctid::text, ',' ORDER BY s.device_id) FROM fleet_rack_slot s
          WHERE s.rack_id = p_rack))
$$;

CREATE FUNCTION pg_temp.violations() RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM fleet_placement_violation $$;

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

-- The fleet.
--   site 1501: building 1521 (layout 2 x 2): rack 1551 at (0,0) with rts-a1 (slot 0,0)
--              and rts-a2 (no slot), rack 1552 (no position) with rts-b1;
--              rts-hall (in building 1521, in no rack); rack 1554 (no building, empty)
--   site 1502: building 1522: rack 1553 at no position with rts-c1 (slot 3,3);
--              rack 1556 (no building) with rts-f1
--   no site:   rack 1555 with rts-e1
INSERT INTO fleet_site (id, name) VALUES (1501, 'rts-north'), (1502, 'rts-south');
INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle) VALUES
    (1521, 'rts-hall-n', 1501, 2, 2), (1522, 'rts-hall-s', 1502, NULL, NULL);
INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle) VALUES
    (1551, 'rts-1', 1501, 1521, 0, 0),
    (1552, 'rts-2', 1501, 1521, NULL, NULL),
    (1553, 'rts-3', 1502, 1522, NULL, NULL),
    (1554, 'rts-4', 1501, NULL, NULL, NULL),
    (1555, 'rts-5', NULL, NULL, NULL, NULL),
    (1556, 'rts-6', 1502, NULL, NULL, NULL);

CREATE PROCEDURE pg_temp.racked(p_identifier text, p_rack bigint, p_row int, p_column int)
LANGUAGE sql AS $$
    INSERT INTO fleet_device (identifier, site_id, building_id)
        SELECT p_identifier, site_id, building_id FROM fleet_rack WHERE id = p_rack;
    INSERT INTO fleet_rack_membership (rack_id, device_id)
        SELECT p_rack, id FROM fleet_device WHERE identifier = p_identifier;
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
        SELECT p_rack, id, p_row, p_column FROM fleet_device
         WHERE identifier = p_identifier AND p_row IS NOT NULL;
$$;
CALL pg_temp.racked('rts-a1', 1551, 0, 0);
CALL pg_temp.racked('rts-a2', 1551, NULL, NULL);
CALL pg_temp.racked('rts-b1', 1552, NULL, NULL);
CALL pg_temp.racked('rts-c1', 1553, 3, 3);
CALL pg_temp.racked('rts-e1', 1555, 1, 1);
CALL pg_temp.racked('rts-f1', 1556, NULL, NULL);
INSERT INTO fleet_device (identifier, site_id, building_id) VALUES ('rts-hall', 1501, 1521);
SELECT pg_temp.violations();

SELECT count(*) AS mark_set FROM pg_temp.new_activity();

--------------------------------------------------------------------------------
-- One rack changes site, one is already at the target.
--------------------------------------------------------------------------------
SELECT pg_temp.versions(1553) AS at_target_versions,
       (SELECT string_agg(m.ctid::text || s.ctid::text, ',' ORDER BY m.device_id)
          FROM fleet_rack_membership m LEFT JOIN fleet_rack_slot s USING (rack_id, device_id)
         WHERE m.rack_id = 1551) AS moving_membership_versions \gset

SELECT * FROM fleet_assign_racks_to_site(ARRAY[1553, 1551], 1502);
SELECT * FROM rack WHERE id IN (1551, 1553) ORDER BY id;
SELECT * FROM dev WHERE identifier IN ('rts-a1', 'rts-a2', 'rts-c1', 'rts-hall') ORDER BY identifier COLLATE "C";
-- The rack at the target: not one row of it or its members was written.
SELECT pg_temp.versions(1553) = :'at_target_versions' AS at_target_untouched;
-- The moving rack's memberships and slots: the same rows.
SELECT (SELECT string_agg(m.ctid::text || s.ctid::text, ',' ORDER BY m.device_id)
          FROM fleet_rack_membership m LEFT JOIN fleet_rack_slot s USING (rack_id, device_id)
         WHERE m.rack_id = 1551) = :'moving_membership_versions' AS memberships_and_slots_untouched;
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- Repeats and input order: rack_ids are distinct and ascending, <n> counts
-- distinct ids; an empty rack counts as a changed rack with no devices;
-- rack 1556 is at the target already, rack 1552 leaves building 1521.
--------------------------------------------------------------------------------
SELECT * FROM fleet_assign_racks_to_site(ARRAY[1556, 1554, 1556, 1552, 1554], 1502);
SELECT * FROM rack WHERE id IN (1552, 1554, 1556) ORDER BY id;
SELECT * FROM dev WHERE identifier IN ('rts-b1', 'rts-f1') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- To Unassigned, and from no site: a rack with no site is at the NULL target
-- already; moving it to a site takes its members along.
--------------------------------------------------------------------------------
SELECT * FROM fleet_assign_racks_to_site(ARRAY[1555, 1551], NULL);
SELECT * FROM rack WHERE id IN (1551, 1555) ORDER BY id;
SELECT * FROM dev WHERE identifier IN ('rts-a1', 'rts-a2', 'rts-e1') ORDER BY identifier COLLATE "C";
SELECT * FROM pg_temp.new_activity() \gx

SELECT * FROM fleet_assign_racks_to_site(ARRAY[1555], 1502);
SELECT * FROM rack WHERE id = 1555;
SELECT * FROM dev WHERE identifier = 'rts-e1';
SELECT * FROM pg_temp.new_activity() \gx
SELECT pg_temp.violations();

--------------------------------------------------------------------------------
-- Nothing to change: every rack at the target. The call still applies and
-- writes its audit row, with zero counts.
--------------------------------------------------------------------------------
SELECT pg_temp.versions(1553) AS v3, pg_temp.versions(1555) AS v5 \gset
SELECT * FROM fleet_assign_racks_to_site(ARRAY[1555, 1553], 1502);
SELECT pg_temp.versions(1553) = :'v3' AND pg_temp.versions(1555) = :'v5' AS untouched;
SELECT * FROM pg_temp.new_activity() \gx

--------------------------------------------------------------------------------
-- The building stays behind: rack 1552 left building 1521 above; the
-- building's other contents (rts-hall, rack 1551's old place) are not moved.
--------------------------------------------------------------------------------
SELECT id, name, site_id FROM fleet_building WHERE id IN (1521, 1522) ORDER BY id;
SELECT * FROM dev WHERE identifier = 'rts-hall';

--------------------------------------------------------------------------------
-- Sixty racks, given in descending order: <n> and rack_count 60, rack_ids the
-- 50 smallest, ascending.
--------------------------------------------------------------------------------
INSERT INTO fleet_rack (id, label, site_id)
    SELECT 15600 + i, 'rts-many-' || i, 1501 FROM generate_series(1, 60) AS i;
SELECT * FROM fleet_assign_racks_to_site(
    ARRAY(SELECT 15600 + i FROM generate_series(60, 1, -1) AS i)::bigint[], 1502);
SELECT a.description, a.metadata->'rack_count' AS rack_count,
       jsonb_array_length(a.metadata->'rack_ids') AS listed,
       a.metadata->'rack_ids' = to_jsonb(ARRAY(SELECT 15600 + i FROM generate_series(1, 50) AS i)::bigint[])
           AS smallest_50_ascending
  FROM pg_temp.new_activity() AS a \gx
SELECT count(*) FILTER (WHERE site_id = 1502) AS moved FROM fleet_rack WHERE id > 15600;
SELECT pg_temp.violations();

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier LIKE 'rts-%';
DELETE FROM fleet_rack WHERE id BETWEEN 1551 AND 1559 OR id BETWEEN 15601 AND 15660;
DELETE FROM fleet_building WHERE id IN (1521, 1522);
DELETE FROM fleet_site WHERE id IN (1501, 1502);
