-- bench/floor.sql: the floor. A bare UPDATE of the batch's site, by
-- identifier, with no lock step, conflict check or audit row: there to site
-- 2 and back to site 1, so both statements change every device. The batch
-- is a random block of :batch (bench_batch, :blocks of them); the id list is
-- fetched by an untimed set-up statement and sent as a bound parameter.
-- calls: 2
\set block random(0, :blocks - 1)
\if :blocks > 1 or :loaded = 0
/* setup */ SELECT ids, 1 AS loaded FROM bench_batch WHERE name = :batch AND block = :block \gset
\endif
/* measured */ UPDATE fleet_device SET site_id = 2 WHERE identifier = ANY (:ids::text[]);
/* measured */ UPDATE fleet_device SET site_id = 1 WHERE identifier = ANY (:ids::text[]);
