-- bench/single_function.sql: the same single-device move as
-- single_client.sql, as one call of fleet_assign_devices_to_site.
-- calls: 2
\set n random(1, 10000)
/* measured */ SELECT count(*) AS conflicts FROM fleet_assign_devices_to_site(ARRAY['dev-' || :n], 2) \gset
\if :conflicts != 0
SELECT bench_fail('move to site 2 returned conflicts');
\endif
/* measured */ SELECT count(*) AS conflicts FROM fleet_assign_devices_to_site(ARRAY['dev-' || :n], 1) \gset
\if :conflicts != 0
SELECT bench_fail('move to site 1 returned conflicts');
\endif
