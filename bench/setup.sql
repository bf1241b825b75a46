-- bench/setup.sql: the benchmark's dataset, loaded by bench/run into a
-- throwaway database (never into a database that matters).
--
--   sites    1..5                 (1 and 2 are the "there and back" pair)
--   devices  1..21,001            identifier 'dev-<id>'
--     1..10,000       plain pool: unracked, at site 1; floor, curve, single
--     10,001..20,000  force pool: at site 1, every other one racked at site 1
--     20,001..21,000  concurrency pool: mixed sites, half racked
--     21,001          'dev-warm', moved only by warm-up calls
--   racks    12 x 12 slots
--     1..35    at site 1  (A side of the force pool)
--     36..70   at site 2  (B side of the force pool)
--     71..90   concurrency racks: 71-75 site 3, 76-80 site 4, 81-85 site 5,
--              86-90 without a site
--
-- bench_batch holds the id lists (shuffled, so input order is not id order)
-- and bench_rerack the slot every racked force-pool device goes back to.
-- Nothing here is timed.

SET client_min_messages = warning;
SELECT FROM pg_catalog.setseed(0.42);

CREATE EXTENSION fleet_sites;

INSERT INTO fleet_site (id, name)
SELECT g, 'bench-site-' || g FROM generate_series(1, 5) AS g;
SELECT FROM setval(pg_get_serial_sequence('fleet_site', 'id'), 5);

INSERT INTO fleet_rack (id, label, site_id)
SELECT g, 'rack-' || g,
       CASE WHEN g <= 35 THEN 1
            WHEN g <= 70 THEN 2
            WHEN g <= 75 THEN 3
            WHEN g <= 80 THEN 4
            WHEN g <= 85 THEN 5
       END
  FROM generate_series(1, 90) AS g;
SELECT FROM setval(pg_get_serial_sequence('fleet_rack', 'id'), 90);

-- Plain and force pools start at site 1; the concurrency pool is placed below.
INSERT INTO fleet_device (id, identifier, site_id)
SELECT g, 'dev-' || g, CASE WHEN g <= 20000 THEN 1 END
  FROM generate_series(1, 21000) AS g;
-- One more, unracked at site 1, that only warm-up calls move.
INSERT INTO fleet_device (id, identifier, site_id) VALUES (21001, 'dev-warm', 1);
SELECT FROM setval(pg_get_serial_sequence('fleet_device', 'id'), 21001);

-- Force pool: the k-th racked device is 10001 + 2k (k = 0..4999), so the first
-- N devices of the pool always hold ceil(N/2) racked ones. Side 1 is its slot
-- in the site-1 racks, side 2 its slot in the site-2 racks.
CREATE TABLE bench_rerack (
    side         int    NOT NULL,
    k            int    NOT NULL,
    device_id    bigint NOT NULL,
    rack_id      bigint NOT NULL,
    row_index    int    NOT NULL,
    column_index int    NOT NULL,
    PRIMARY KEY (side, k)
);
INSERT INTO bench_rerack
SELECT s.side, k, 10001 + 2 * k,
       (s.side - 1) * 35 + 1 + k / 144,
       (k % 144) / 12, k % 12
  FROM generate_series(0, 4999) AS k, (VALUES (1), (2)) AS s(side);

INSERT INTO fleet_rack_membership (rack_id, device_id)
SELECT rack_id, device_id FROM bench_rerack WHERE side = 1;
INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
SELECT rack_id, device_id, row_index, column_index FROM bench_rerack WHERE side = 1;

-- Concurrency pool: even offsets (odd ids) racked 25 to a rack (device site = rack
-- site, NULL for the site-less racks), odd offsets unracked at sites 3..5 or
-- Unassigned.
WITH placed AS (
    SELECT 20001 + i AS device_id, 71 + (i / 2) % 20 AS rack_id, (i / 2) / 20 AS pos
      FROM generate_series(0, 999, 2) AS i
)
INSERT INTO fleet_rack_membership (rack_id, device_id)
SELECT rack_id, device_id FROM placed;
INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
SELECT m.rack_id, m.device_id, p.pos / 12, p.pos % 12
  FROM fleet_rack_membership m
  JOIN LATERAL (SELECT ((m.device_id - 20001) / 2) / 20 AS pos) AS p ON true
 WHERE m.device_id > 20000;
UPDATE fleet_device d SET site_id = r.site_id
  FROM fleet_rack_membership m JOIN fleet_rack r ON r.id = m.rack_id
 WHERE m.device_id = d.id AND d.id BETWEEN 20001 AND 21000;
UPDATE fleet_device d SET site_id = CASE (id % 8) WHEN 0 THEN 3 WHEN 2 THEN 4 WHEN 4 THEN 5 END
 WHERE id BETWEEN 20001 AND 21000
   AND NOT EXISTS (SELECT FROM fleet_rack_membership m WHERE m.device_id = d.id);

-- The id lists, each in a fixed shuffled order. A batch size N comes in
-- blocks that tile its pool (block b of the plain pool is dev-(bN+1) ..
-- dev-(bN+N)) and a run picks a random block per call, so a small batch does
-- not update the same few rows thousands of times (and pile up dead versions
-- of them) while a large one touches each row a few dozen times.
-- A force block holds ceil(N/2) racked devices: the k-range (k_lo..k_hi) of
-- bench_rerack that puts them back. Force blocks of 1 are the racked devices.
CREATE TABLE bench_batch (
    name  text NOT NULL,
    block int  NOT NULL,
    ids   text[] NOT NULL,
    k_lo  int,
    k_hi  int,
    PRIMARY KEY (name, block)
);
INSERT INTO bench_batch (name, block, ids)
SELECT 'plain_' || n, b,
       (SELECT array_agg('dev-' || g ORDER BY md5(g::text))
          FROM generate_series(b * n + 1, b * n + n) AS g)
  FROM unnest(ARRAY[1, 10, 100, 1000, 10000]) AS n, generate_series(0, 10000 / n - 1) AS b;
INSERT INTO bench_batch (name, block, ids, k_lo, k_hi)
SELECT 'force_' || n, b,
       (SELECT array_agg('dev-' || g ORDER BY md5(g::text))
          FROM generate_series(10001 + b * n, 10000 + b * n + n) AS g),
       b * n / 2, b * n / 2 + n / 2 - 1
  FROM unnest(ARRAY[10, 100, 1000, 10000]) AS n, generate_series(0, 10000 / n - 1) AS b;
INSERT INTO bench_batch (name, block, ids, k_lo, k_hi)
SELECT 'force_1', b, ARRAY['dev-' || (10001 + 2 * b)], b, b
  FROM generate_series(0, 4999) AS b;

-- A pgbench script aborts its client through this when a check fails.
CREATE FUNCTION bench_fail(message text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'bench check failed: %', message;
END
$$;

-- Racked devices share their rack's site (the placement invariant).
CREATE FUNCTION bench_placement_violations() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*)
      FROM fleet_device d
      JOIN fleet_rack_membership m ON m.device_id = d.id
      JOIN fleet_rack r ON r.id = m.rack_id
     WHERE d.site_id IS DISTINCT FROM r.site_id
$$;

VACUUM ANALYZE;
