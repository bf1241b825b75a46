-- fresh_install.sql: a fresh CREATE EXTENSION fleet_sites (version 1.1) is
-- usable in the very transaction that installed it, as every pgTAP file here
-- (and any migration that installs and seeds in one transaction) relies on.
--
-- The 1.1 enum value DEVICE_IN_RACK_AT_OTHER_BUILDING is the case to watch:
-- a value added by ALTER TYPE ... ADD VALUE cannot be used before its
-- transaction commits (55P04), even when the type itself was created in that
-- transaction; a fresh install made of the 1.0 script plus the 1.0 -> 1.1
-- update (as the first 1.1 was) adds it that way, and failed here. The full
-- fleet_sites--1.1.sql creates the type with all four values.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION fleet_sites;
\ir lib/helpers.psql

SELECT plan(5);

SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'fleet_sites'), '1.1',
          'the fresh install is version 1.1');

INSERT INTO fleet_site (id, name) VALUES (1, 'one');
INSERT INTO fleet_building (id, name, site_id) VALUES (100, 'hall', 1), (200, 'shed', 1);
INSERT INTO fleet_rack (id, label, site_id, building_id) VALUES (10, 'r10', 1, 100);
INSERT INTO fleet_device (id, identifier, site_id, building_id) VALUES (1, 'd1', 1, 100);
INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (10, 1);

SELECT lives_ok($$SELECT 'DEVICE_IN_RACK_AT_OTHER_BUILDING'::fleet_conflict_reason$$,
                'the 1.1 conflict reason can be used in the installing transaction');
-- A query's rows as text, or its error: a failure here must not stop the file.
CREATE FUNCTION pg_temp.rows_or_error(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SELECT coalesce(string_agg(x::text, '' ''), ''no rows'') FROM (%s) x', query) INTO result;
    RETURN result;
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.mark11();
SELECT is(pg_temp.rows_or_error($$SELECT * FROM fleet_assign_devices_to_building(ARRAY['d1'], 200)$$),
          '(d1,DEVICE_IN_RACK_AT_OTHER_BUILDING,1,10,100)',
          'fleet_assign_devices_to_building returns a DEVICE_IN_RACK_AT_OTHER_BUILDING conflict in the installing transaction');
SELECT is(pg_temp.snap11(), pg_temp.marked11(), '... and writes nothing');
SELECT is(pg_temp.rows_or_error($$SELECT * FROM fleet_assign_devices_to_building(ARRAY['d1'], 200, true)$$),
          'no rows', 'with force the conflict is cleared and the move applies');

SELECT * FROM finish();
ROLLBACK;
