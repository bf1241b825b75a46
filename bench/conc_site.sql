-- bench/conc_site.sql: concurrency, site moves. A random run of 1..64
-- consecutive devices of the concurrency pool (dev-20001..dev-21000), in
-- shuffled order, to site 3, 4, 5 or Unassigned, forced half of the time.
-- Clients overlap on purpose; a call may return conflicts (then it writes
-- nothing), which is an outcome, not a failure.
\set first random(20001, 21000)
\set length random(1, 64)
\set site random(3, 6)
\set force random(0, 1)
\set last least(:first + :length - 1, 21000)
/* measured */ SELECT count(*) AS conflicts FROM fleet_assign_devices_to_site(
    (SELECT array_agg('dev-' || g ORDER BY random())
       FROM generate_series(:first::int, :last::int) AS g),
    nullif(:site::int, 6)::bigint, :force::int = 1);
