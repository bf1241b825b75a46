-- fleet_sites demo, played by demo/run in psql on a throwaway cluster.
-- The story: a cross-site move that used to take several requests (and could
-- leave machines orphaned between them) done as one call, all or nothing.
-- Written for an 80-column terminal: the pager is off, a result wider than 80
-- columns is shown one record at a time (\x auto against 80 columns, tty or
-- not: fleet_conflict has five columns since 1.1), and each statement the
-- reader should see is echoed before its result (ECHO queries), with psql's
-- row count footer on: "(0 rows)" from a move means it was applied.
\set ON_ERROR_STOP on
\set QUIET on
\pset pager off
\pset footer on
\pset columns 80
\x auto
SET client_min_messages = warning;

CREATE EXTENSION fleet_sites;

-- The fleet: two sites, a rack of 2 x 4 slots at each, five miners at lisbon,
-- four of them racked (in slots) at lisbon-A.
INSERT INTO fleet_site (name) VALUES ('lisbon'), ('porto');
INSERT INTO fleet_rack (label, site_id, row_count, column_count)
     VALUES ('lisbon-A', 1, 2, 4), ('porto-A', 2, 2, 4);
INSERT INTO fleet_device (identifier, site_id)
     SELECT 'miner-' || i, 1 FROM generate_series(15, 19) AS i;
SELECT count(*) AS conflicts
  FROM fleet_assign_devices_to_rack(ARRAY['miner-15','miner-16','miner-17','miner-18'], 1,
                                    row_indexes => ARRAY[0, 0, 0, 0],
                                    column_indexes => ARRAY[0, 1, 2, 3])
\gset

-- Where every device is, by name (the demo's own view, not the extension's).
CREATE TEMP VIEW fleet AS
SELECT d.identifier AS device, s.name AS site, r.label AS rack
  FROM fleet_device d
  LEFT JOIN fleet_site s ON s.id = d.site_id
  LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet_rack r ON r.id = m.rack_id
 ORDER BY d.identifier;

\echo '=============================================================================='
\echo ' fleet_sites demo: moving machines between sites in one SQL call'
\echo '=============================================================================='
\echo
\echo 'The fleet: sites lisbon (id 1) and porto (id 2), a rack at each, and five'
\echo 'miners at lisbon, four of them in rack lisbon-A:'
\echo
\set ECHO queries
TABLE fleet;
\set ECHO none

\echo
\echo '--- 1. The operator asks to move miner-17, miner-18 and miner-19 to porto.'
\echo
\set ECHO queries
SELECT * FROM fleet_assign_devices_to_site(
           ARRAY['miner-17','miner-18','miner-19'], 2);
\set ECHO none
\echo
\echo 'Two conflicts came back, and nothing was written: miner-17 and miner-18 are'
\echo 'in rack 1 (lisbon-A) at site 1, and moving only their site would leave them'
\echo 'in a rack at another site. Even miner-19, which has no conflict, stayed put:'
\echo
TABLE fleet;

\echo
\echo '--- 2. The application asks "miner-17 and miner-18 are in rack lisbon-A at'
\echo '       lisbon: remove them from the rack and continue?" The operator says yes,'
\echo '       and the application makes the same call with force_clear:'
\echo
\set ECHO queries
SELECT * FROM fleet_assign_devices_to_site(
           ARRAY['miner-17','miner-18','miner-19'], 2, force_clear => true);
\set ECHO none
\echo
\echo 'No rows back: the move was applied. In that one statement the two rack'
\echo 'memberships (and their slots) were deleted and all three miners moved:'
\echo
TABLE fleet;

\echo
\echo '--- 3. The audit log got one row, written in the same transaction (row 1 is'
\echo '       from racking the miners when the demo set the fleet up):'
\echo
\set ECHO queries
SELECT id, actor, event_type, site_id FROM fleet_activity ORDER BY id;
\set ECHO none
\echo
\echo 'fleet_last_activity_id() is the id of this session''s last move; on commit,'
\echo 'NOTIFY fleet_activity delivered the same id to every session that had run'
\echo '"LISTEN fleet_activity". The row says what happened:'
\echo
\set ECHO queries
SELECT description FROM fleet_activity WHERE id = fleet_last_activity_id();
SELECT jsonb_pretty(metadata) AS metadata
  FROM fleet_activity WHERE id = fleet_last_activity_id();
\set ECHO none
\echo
\echo '--- 4. A typo never half-moves anything: one identifier is unknown, so even'
\echo '       with force_clear nothing is written, and the conflict says which.'
\echo
\set ECHO queries
SELECT * FROM fleet_assign_devices_to_site(
           ARRAY['miner-15','miner-99'], 2, force_clear => true);
\set ECHO none
\echo
\echo '--- 5. The move runs in the caller''s transaction, so it rolls back with it:'
\echo
\set ECHO queries
BEGIN;
SELECT * FROM fleet_assign_devices_to_site(
           ARRAY['miner-15','miner-16'], 2, force_clear => true);
ROLLBACK;
\set ECHO none
\echo
\echo 'miner-15 and miner-16 are still in lisbon-A at lisbon, and the audit log'
\echo 'still ends with the move of step 2:'
\echo
TABLE fleet;
\set ECHO queries
SELECT max(id) AS last_audit_id FROM fleet_activity;
\set ECHO none
\echo
\echo '--- 6. The consistency check: no device is in a rack at another site.'
\echo
\set ECHO queries
SELECT * FROM fleet_placement_violation;
\set ECHO none
\echo
\echo 'End of the demo. The throwaway cluster is dropped now; README.md has the'
\echo 'reference, and sudo ./test/run runs every test.'
