-- fleet_sites demo: a cross-site move that upstream could only do as several
-- requests (and could leave machines orphaned), done as one call.
\set ECHO queries
\pset footer off
CREATE EXTENSION fleet_sites;

-- Two sites, a rack at each, four miners racked at Lisbon.
INSERT INTO fleet_site (name) VALUES ('lisbon'), ('porto');
INSERT INTO fleet_rack (label, site_id, row_count, column_count)
     VALUES ('lisbon-A', 1, 2, 4), ('porto-A', 2, 2, 4);
INSERT INTO fleet_device (identifier, site_id)
     SELECT 'miner-' || i, 1 FROM generate_series(15, 19) AS i;
SELECT * FROM fleet_assign_devices_to_rack(ARRAY['miner-15','miner-16','miner-17','miner-18'], 1);
INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
     SELECT 1, device_id, 0, row_number() OVER (ORDER BY device_id) - 1
       FROM fleet_rack_membership WHERE rack_id = 1;

SELECT d.identifier, d.site_id, m.rack_id
  FROM fleet_device d LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
 ORDER BY d.identifier;

-- 1. The operator moves miner-17 and miner-18 (racked at Lisbon) and
--    miner-19 (not racked) to Porto. Nothing is written; the conflicts come back.
SELECT * FROM fleet_assign_devices_to_site(ARRAY['miner-17','miner-18','miner-19'], 2);

-- 2. The UI asks "remove them from rack lisbon-A and continue?"; on yes, the
--    same call with force_clear clears exactly those memberships and moves,
--    in one transaction.
LISTEN fleet_activity;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['miner-17','miner-18','miner-19'], 2,
                                           force_clear => true);

SELECT d.identifier, d.site_id, m.rack_id
  FROM fleet_device d LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
 ORDER BY d.identifier;

-- 3. The audit row was written in the same transaction.
\x on
SELECT id, actor, event_type, site_id, description, metadata
  FROM fleet_activity ORDER BY id DESC LIMIT 1;
\x off

-- 4. A typo never half-moves anything: one unknown identifier, nothing written.
SELECT * FROM fleet_assign_devices_to_site(ARRAY['miner-15','miner-99'], 2, force_clear => true);

-- 5. The consistency check stays empty.
SELECT count(*) AS placement_violations FROM fleet_placement_violation;
