-- bench/conc_rack.sql: concurrency, rack moves (used only when
-- fleet_assign_devices_to_rack exists). A random run of 1..16 consecutive
-- devices of the concurrency pool, shuffled, into one of the racks 71..90
-- (86..90 have no site) or out of every rack (1 in 21), forced half of the
-- time. The pool (1,000 devices) over 20 racks of 144 slots keeps every rack
-- far from full, so the capacity error does not come up.
\set first random(20001, 21000)
\set length random(1, 16)
\set rack random(71, 91)
\set force random(0, 1)
\set last least(:first + :length - 1, 21000)
/* measured */ SELECT count(*) AS conflicts FROM fleet_assign_devices_to_rack(
    (SELECT array_agg('dev-' || g ORDER BY random())
       FROM generate_series(:first::int, :last::int) AS g),
    nullif(:rack::int, 91)::bigint, :force::int = 1);
