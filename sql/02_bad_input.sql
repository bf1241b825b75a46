--
-- 02_bad_input: every row of the contract's bad-input table raises its own
-- SQLSTATE and writes nothing, and the values just inside each limit are
-- accepted (256 multibyte characters; 10,001 ids collapsing to 10,000).
--
-- Each bad call carries a device that would otherwise move and a device whose
-- rack membership force_clear would otherwise delete, so "nothing written" is
-- checked against real work. Sites 2xx, racks 25x; cleaned up at the end.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

-- SQLSTATE and message of a call, or how many conflict rows it returned.
CREATE FUNCTION pg_temp.try(call text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s) AS c', call) INTO n;
    RETURN format('ok, %s conflict row(s)', n);
EXCEPTION WHEN OTHERS THEN
    RETURN format('ERROR %s: %s', SQLSTATE, SQLERRM);
END
$$;

-- Everything a move can write, hashed.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text
LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(concat_ws(',', id, identifier, site_id, updated_at), ';' ORDER BY id)
           FROM fleet_device),
        (SELECT string_agg(concat_ws(',', rack_id, device_id), ';' ORDER BY device_id)
           FROM fleet_rack_membership),
        (SELECT string_agg(concat_ws(',', rack_id, device_id, row_index, column_index), ';'
                           ORDER BY rack_id, device_id)
           FROM fleet_rack_slot),
        (SELECT count(*) || ',' || coalesce(max(id), 0) FROM fleet_activity)))
$$;

INSERT INTO fleet_site (id, name) VALUES (201, 'bad-a'), (202, 'bad-b');
INSERT INTO fleet_rack (id, label, site_id) VALUES (251, 'bad-rack-b', 202);
INSERT INTO fleet_device (identifier, site_id) VALUES ('bad-free', NULL), ('bad-racked', 202);
INSERT INTO fleet_rack_membership (rack_id, device_id)
    SELECT 251, id FROM fleet_device WHERE identifier = 'bad-racked';
INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
    SELECT 251, id, 0, 0 FROM fleet_device WHERE identifier = 'bad-racked';

-- Sanity: with good input the same batch does work (checked inside a
-- transaction that is rolled back), so the errors below are about input only.
BEGIN;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['bad-free', 'bad-racked'], 201, true);
SELECT identifier, site_id FROM fleet_device WHERE identifier LIKE 'bad-%' ORDER BY identifier COLLATE "C";
ROLLBACK;

SELECT pg_temp.fingerprint() AS fp \gset

--------------------------------------------------------------------------------
-- The table, row by row. Expected SQLSTATE in the comment of each call.
--------------------------------------------------------------------------------
-- ids is NULL: 22004 (with and without force, to a site and to Unassigned)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(NULL, 201)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(NULL::text[], NULL, true)$$);

-- an element is NULL: 22004 (first, middle, last; lower bound not 1)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY[NULL, 'bad-free'], 201)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['bad-free', NULL, 'bad-racked'], 201, true)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site('[5:6]={bad-free,NULL}'::text[], 201)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY[NULL]::text[], NULL)$$);

-- empty: 22023, whether written '{}' (zero dimensions) or ARRAY[]::text[]
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site('{}', 201)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY[]::text[], 201, true)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site('{}'::text[], NULL)$$);

-- more than one dimension: 2202E (also a 1x1 array, and 2-D with a bound shift)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(
    ARRAY[['bad-free', 'bad-racked'], ['x', 'y']], 201)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY[['bad-free']], 201)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(
    '[0:0][3:4]={{bad-free,bad-racked}}'::text[], 201, true)$$);

-- an empty identifier: 22023 (alone, and among good ones)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY[''], 201)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['bad-free', 'bad-racked', ''], 201, true)$$);

-- longer than 256 characters: 22023, counted in characters (ASCII, and
-- two-byte 'é': 257 characters are 514 bytes)
SELECT pg_temp.try(format($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['bad-free', %L], 201)$$,
                          repeat('x', 257)));
SELECT pg_temp.try(format($$SELECT * FROM fleet_assign_devices_to_site(ARRAY[%L, 'bad-racked'], 201, true)$$,
                          repeat('é', 257)));

-- more than 10,000 distinct ids: 54000 (none of them needs to exist: the
-- limit is checked before anything is looked up)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(
    ARRAY(SELECT 'bad-many-' || i FROM generate_series(1, 10001) AS i), 201)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['bad-free', 'bad-racked'] || ARRAY(SELECT 'bad-many-' || i FROM generate_series(1, 9999) AS i),
    201, true)$$);

-- target zero or negative: 22023 (also the most negative bigint)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['bad-free'], 0)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['bad-free'], -1)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['bad-racked'], -9223372036854775808, true)$$);

-- force_clear NULL: 22004 (a null force must not be read as false)
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['bad-free'], 201, NULL)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['bad-free'], NULL, NULL)$$);

-- Not one of the calls above wrote anything, and no activity row appeared.
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT count(*) AS activity_rows FROM fleet_activity WHERE id > :start_activity;
SELECT identifier, site_id FROM fleet_device WHERE identifier LIKE 'bad-%' ORDER BY identifier COLLATE "C";
SELECT count(*) AS racked_memberships FROM fleet_rack_membership WHERE rack_id = 251;

-- Input is checked before the target: bad input with a missing target site
-- reports the input error, not 23503.
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY[''], 299)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site('{}', 299)$$);

--------------------------------------------------------------------------------
-- Just inside the limits: accepted.
--------------------------------------------------------------------------------
-- Exactly 256 characters, ASCII and multibyte (256 'é' are 512 bytes; a
-- byte-counting check would reject it). A 4-byte character too.
INSERT INTO fleet_device (identifier, site_id) VALUES
    (repeat('y', 256), NULL),
    (repeat('é', 256), NULL),
    (repeat('😀', 256), NULL);
SELECT length(identifier) AS chars, octet_length(identifier) AS bytes
  FROM fleet_device WHERE identifier IN (repeat('y', 256), repeat('é', 256), repeat('😀', 256))
 ORDER BY bytes;
SELECT pg_temp.try(format($$SELECT * FROM fleet_assign_devices_to_site(ARRAY[%L, %L, %L], 201)$$,
                          repeat('y', 256), repeat('é', 256), repeat('😀', 256)));
SELECT length(identifier) AS chars, site_id
  FROM fleet_device WHERE identifier IN (repeat('y', 256), repeat('é', 256), repeat('😀', 256))
 ORDER BY octet_length(identifier);
-- A one-character identifier is fine too (only empty is rejected).
INSERT INTO fleet_device (identifier) VALUES ('z');
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['z'], 201)$$);

-- 10,001 elements that collapse to 10,000 distinct ids: accepted and applied
-- as 10,000 devices (one audit row saying 10000).
INSERT INTO fleet_device (identifier)
    SELECT 'bad-bulk-' || lpad(i::text, 5, '0') FROM generate_series(1, 10000) AS i;
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(
    ARRAY(SELECT 'bad-bulk-' || lpad(i::text, 5, '0') FROM generate_series(1, 10000) AS i)
        || ARRAY['bad-bulk-00001'],
    202)$$);
SELECT count(*) FILTER (WHERE site_id = 202) AS moved, count(*) AS bulk
  FROM fleet_device WHERE identifier LIKE 'bad-bulk-%';
SELECT description, metadata->'device_count' AS device_count,
       jsonb_array_length(metadata->'device_identifiers') AS listed
  FROM fleet_activity WHERE id > :start_activity AND site_id = 202;

-- 10,000 distinct ids of which none exists are a valid call too: it returns
-- one DEVICE_NOT_FOUND per distinct id and writes nothing.
SELECT pg_temp.fingerprint() AS fp \gset
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(
    ARRAY(SELECT 'bad-none-' || i FROM generate_series(1, 10000) AS i)
        || ARRAY(SELECT 'bad-none-' || i FROM generate_series(1, 500) AS i),
    201)$$);
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device
 WHERE identifier LIKE 'bad-%' OR identifier = 'z'
    OR identifier IN (repeat('y', 256), repeat('é', 256), repeat('😀', 256));
DELETE FROM fleet_rack WHERE id = 251;
DELETE FROM fleet_site WHERE id IN (201, 202);
