-- bench/single_client.sql: the client-side way. One device moved by a
-- multi-statement client transaction with the function's semantics: lock the
-- target site, lock the device, read its conflicts, update it, write the
-- audit row and its NOTIFY, commit. A random device of the plain pool
-- (dev-1..dev-10000) goes to site 2 and back to site 1, so both transactions
-- change it.
-- calls: 2
\set n random(1, 10000)
/* measured */ BEGIN;
/* measured */ SELECT 1 FROM fleet_site WHERE id = 2 FOR KEY SHARE;
/* measured */ SELECT id AS device_id FROM fleet_device WHERE identifier = 'dev-' || :n FOR NO KEY UPDATE \gset
/* measured */ SELECT count(*) AS conflicts FROM fleet_rack_membership m JOIN fleet_rack r ON r.id = m.rack_id
 WHERE m.device_id = :device_id AND r.site_id IS DISTINCT FROM 2 \gset
\if :conflicts != 0
SELECT bench_fail('client move to site 2 found conflicts');
\endif
/* measured */ UPDATE fleet_device SET site_id = 2, updated_at = now() WHERE id = :device_id;
/* measured */ WITH activity AS (
    INSERT INTO fleet_activity (occurred_at, actor, event_type, site_id, description, metadata)
    VALUES (now(), current_user, 'devices.reassigned_to_site', 2, 'Reassigned 1 device(s) to site 2',
            jsonb_build_object('target_site_id', 2, 'device_count', 1,
                               'device_identifiers', jsonb_build_array('dev-' || :n)))
    RETURNING id)
SELECT pg_notify('fleet_activity', id::text) FROM activity;
/* measured */ COMMIT;
/* measured */ BEGIN;
/* measured */ SELECT 1 FROM fleet_site WHERE id = 1 FOR KEY SHARE;
/* measured */ SELECT id AS device_id FROM fleet_device WHERE identifier = 'dev-' || :n FOR NO KEY UPDATE \gset
/* measured */ SELECT count(*) AS conflicts FROM fleet_rack_membership m JOIN fleet_rack r ON r.id = m.rack_id
 WHERE m.device_id = :device_id AND r.site_id IS DISTINCT FROM 1 \gset
\if :conflicts != 0
SELECT bench_fail('client move to site 1 found conflicts');
\endif
/* measured */ UPDATE fleet_device SET site_id = 1, updated_at = now() WHERE id = :device_id;
/* measured */ WITH activity AS (
    INSERT INTO fleet_activity (occurred_at, actor, event_type, site_id, description, metadata)
    VALUES (now(), current_user, 'devices.reassigned_to_site', 1, 'Reassigned 1 device(s) to site 1',
            jsonb_build_object('target_site_id', 1, 'device_count', 1,
                               'device_identifiers', jsonb_build_array('dev-' || :n)))
    RETURNING id)
SELECT pg_notify('fleet_activity', id::text) FROM activity;
/* measured */ COMMIT;
