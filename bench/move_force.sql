-- bench/move_force.sql: fleet_assign_devices_to_site(..., force_clear => true)
-- on a batch of which ceil(N/2) devices are racked at the other site.
--
-- The batch is a random block of :batch (see setup.sql). Before each script
-- run the block is at site 1 with its racked half in the site-1 racks. The
-- call to site 2 force-clears those memberships; the re-rack statements put
-- the same devices into the site-2 racks (they are at site 2 by then, so the
-- placement invariant holds); the call back to site 1 clears those, and the
-- devices are re-racked at site 1. So every call changes the site of all N
-- devices and clears ceil(N/2) memberships (and their slots). Only the two
-- calls are measured: the re-rack statements (/* rerack */) are set-up,
-- reported on their own.
-- calls: 2
\set block random(0, :blocks - 1)
\if :blocks > 1 or :loaded = 0
/* setup */ SELECT ids, k_lo, k_hi, 1 AS loaded FROM bench_batch WHERE name = :batch AND block = :block \gset
\endif
/* measured */ SELECT count(*) AS conflicts FROM fleet_assign_devices_to_site(:ids::text[], 2, true) \gset
\if :conflicts != 0
SELECT bench_fail('forced move to site 2 returned conflicts');
\endif
/* rerack */ INSERT INTO fleet_rack_membership (rack_id, device_id)
SELECT rack_id, device_id FROM bench_rerack WHERE side = 2 AND k BETWEEN :k_lo AND :k_hi;
/* rerack */ INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
SELECT rack_id, device_id, row_index, column_index FROM bench_rerack WHERE side = 2 AND k BETWEEN :k_lo AND :k_hi;
/* measured */ SELECT count(*) AS conflicts FROM fleet_assign_devices_to_site(:ids::text[], 1, true) \gset
\if :conflicts != 0
SELECT bench_fail('forced move to site 1 returned conflicts');
\endif
/* rerack */ INSERT INTO fleet_rack_membership (rack_id, device_id)
SELECT rack_id, device_id FROM bench_rerack WHERE side = 1 AND k BETWEEN :k_lo AND :k_hi;
/* rerack */ INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
SELECT rack_id, device_id, row_index, column_index FROM bench_rerack WHERE side = 1 AND k BETWEEN :k_lo AND :k_hi;
