-- bench/move.sql: fleet_assign_devices_to_site on the batch, there to site 2
-- and back to site 1, so every call changes every device. A call that
-- returns a conflict stops the benchmark (it would have written nothing).
-- The batch is a random block of :batch, fetched as in floor.sql.
-- calls: 2
\set block random(0, :blocks - 1)
\if :blocks > 1 or :loaded = 0
/* setup */ SELECT ids, 1 AS loaded FROM bench_batch WHERE name = :batch AND block = :block \gset
\endif
/* measured */ SELECT count(*) AS conflicts FROM fleet_assign_devices_to_site(:ids::text[], 2) \gset
\if :conflicts != 0
SELECT bench_fail('move to site 2 returned conflicts');
\endif
/* measured */ SELECT count(*) AS conflicts FROM fleet_assign_devices_to_site(:ids::text[], 1) \gset
\if :conflicts != 0
SELECT bench_fail('move to site 1 returned conflicts');
\endif
