-- Demo data for the examples in this directory. Run it in an empty database:
--
--     createdb fleet_demo
--     psql -X -v ON_ERROR_STOP=1 -d fleet_demo -f examples/seed.sql
--
-- The extension goes into its own schema, fleet, and the examples call it
-- schema-qualified (fleet.fleet_assign_devices_to_site), so nothing else on
-- the application's search_path can stand in for it.
--
-- Two sites (1 lisbon, 2 porto), rack 1 at lisbon holding miner-15..18,
-- miner-19 at lisbon in no rack.
CREATE SCHEMA fleet;
CREATE EXTENSION fleet_sites SCHEMA fleet;

INSERT INTO fleet.fleet_site (name) VALUES ('lisbon'), ('porto');
INSERT INTO fleet.fleet_rack (label, site_id, row_count, column_count)
     VALUES ('lisbon-A', 1, 2, 4);
INSERT INTO fleet.fleet_device (identifier, site_id)
     SELECT 'miner-' || i, 1 FROM generate_series(15, 19) AS i;
-- Racking goes through the extension too: a membership is a placement.
SELECT count(*) AS conflicts
  FROM fleet.fleet_assign_devices_to_rack(ARRAY['miner-15','miner-16','miner-17','miner-18'], 1::bigint);
