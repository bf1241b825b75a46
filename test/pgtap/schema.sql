-- schema.sql: the shape of fleet_sites 1.1 as spec/api.md fixes it.
--
-- Tables, columns and their types, keys, foreign keys with their ON DELETE
-- action (checked in the catalog and by deleting rows), unique rules and
-- checks (on rows), the indexes a user expects under those foreign keys,
-- the enum and the composite types, every function's signature and
-- properties, registration for pg_dump, no privilege for PUBLIC, and a
-- comment on every object 1.1 added. Columns beyond the contract are
-- allowed: every column check is limited to the contract's columns.
-- The six move functions, fleet_last_activity_id(), the view
-- fleet_placement_violation (rules 1-4, on rows), and the BEFORE DELETE
-- triggers that keep site and building deletion in the lock order.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION fleet_sites;

SELECT plan(259);

-- Helpers (pg_temp: gone with the session, and the ROLLBACK drops them anyway).

-- (column, type) of the named columns of a relation, for results_eq.
CREATE FUNCTION pg_temp.columns_of(rel regclass, cols text[])
RETURNS TABLE (column_name name, column_type text) LANGUAGE sql AS $$
    SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname = ANY (cols)
     ORDER BY array_position(cols, a.attname::text)
$$;

-- Is there a valid, non-partial unique index on exactly these columns (any order)?
CREATE FUNCTION pg_temp.has_unique_on(rel regclass, cols text[]) RETURNS boolean LANGUAGE sql AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_index i
         WHERE i.indrelid = rel AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
           AND i.indnkeyatts = cardinality(cols)
           AND (SELECT array_agg(a.attname::text ORDER BY a.attname)
                  FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = rel AND a.attnum = ANY ((i.indkey::int2[])[0:i.indnkeyatts - 1]))
               = (SELECT array_agg(c ORDER BY c) FROM unnest(cols) c))
$$;

-- Is there a valid index whose first key column is col?
CREATE FUNCTION pg_temp.has_leading_index(rel regclass, col name) RETURNS boolean LANGUAGE sql AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_attribute a ON a.attrelid = rel AND a.attnum = i.indkey[0]
         WHERE i.indrelid = rel AND i.indisvalid AND i.indpred IS NULL AND a.attname = col)
$$;

-- ON DELETE action of the foreign key on exactly these columns of rel.
CREATE FUNCTION pg_temp.fk_delete_action(rel regclass, cols text[]) RETURNS text LANGUAGE sql AS $$
    SELECT CASE c.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                              WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END
      FROM pg_catalog.pg_constraint c
     WHERE c.conrelid = rel AND c.contype = 'f'
       AND (SELECT array_agg(a.attname::text ORDER BY k.n)
              FROM unnest(c.conkey) WITH ORDINALITY k(attnum, n)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = rel AND a.attnum = k.attnum) = cols
$$;

-------------------------------------------------------------------------------
-- Tables and their contract columns
-------------------------------------------------------------------------------

SELECT has_table('fleet_site');
SELECT has_table('fleet_rack');
SELECT has_table('fleet_device');
SELECT has_table('fleet_rack_membership');
SELECT has_table('fleet_rack_slot');
SELECT has_table('fleet_activity');
SELECT has_table('fleet_building');

SELECT results_eq(
    $$SELECT * FROM pg_temp.columns_of('fleet_site', ARRAY['id', 'name'])$$,
    $$VALUES ('id'::name, 'bigint'), ('name', 'text')$$,
    'fleet_site contract columns and types');
SELECT results_eq(
    $$SELECT * FROM pg_temp.columns_of('fleet_rack', ARRAY['id', 'label', 'site_id', 'row_count', 'column_count',
                                                            'building_id', 'aisle_index', 'position_in_aisle'])$$,
    $$VALUES ('id'::name, 'bigint'), ('label', 'text'), ('site_id', 'bigint'),
             ('row_count', 'integer'), ('column_count', 'integer'),
             ('building_id', 'bigint'), ('aisle_index', 'integer'), ('position_in_aisle', 'integer')$$,
    'fleet_rack contract columns and types (1.1: building_id, aisle_index, position_in_aisle)');
SELECT results_eq(
    $$SELECT * FROM pg_temp.columns_of('fleet_device', ARRAY['id', 'identifier', 'site_id', 'updated_at', 'building_id'])$$,
    $$VALUES ('id'::name, 'bigint'), ('identifier', 'text'), ('site_id', 'bigint'),
             ('updated_at', 'timestamp with time zone'), ('building_id', 'bigint')$$,
    'fleet_device contract columns and types (1.1: building_id)');
SELECT results_eq(
    $$SELECT * FROM pg_temp.columns_of('fleet_building', ARRAY['id', 'name', 'site_id', 'aisle_count', 'racks_per_aisle'])$$,
    $$VALUES ('id'::name, 'bigint'), ('name', 'text'), ('site_id', 'bigint'),
             ('aisle_count', 'integer'), ('racks_per_aisle', 'integer')$$,
    'fleet_building contract columns and types');
SELECT results_eq(
    $$SELECT * FROM pg_temp.columns_of('fleet_rack_membership', ARRAY['rack_id', 'device_id'])$$,
    $$VALUES ('rack_id'::name, 'bigint'), ('device_id', 'bigint')$$,
    'fleet_rack_membership contract columns and types');
SELECT results_eq(
    $$SELECT * FROM pg_temp.columns_of('fleet_rack_slot', ARRAY['rack_id', 'device_id', 'row_index', 'column_index'])$$,
    $$VALUES ('rack_id'::name, 'bigint'), ('device_id', 'bigint'), ('row_index', 'integer'),
             ('column_index', 'integer')$$,
    'fleet_rack_slot contract columns and types');
SELECT results_eq(
    $$SELECT * FROM pg_temp.columns_of('fleet_activity',
        ARRAY['id', 'occurred_at', 'actor', 'event_type', 'site_id', 'description', 'metadata'])$$,
    $$VALUES ('id'::name, 'bigint'), ('occurred_at', 'timestamp with time zone'), ('actor', 'text'),
             ('event_type', 'text'), ('site_id', 'bigint'), ('description', 'text'), ('metadata', 'jsonb')$$,
    'fleet_activity contract columns and types');

-- NOT NULL where the contract says so, nullable where NULL has a meaning.
SELECT col_not_null('fleet_site', 'name');
SELECT col_not_null('fleet_rack', 'label');
SELECT col_not_null('fleet_rack', 'row_count');
SELECT col_not_null('fleet_rack', 'column_count');
SELECT col_not_null('fleet_device', 'identifier');
SELECT col_not_null('fleet_rack_membership', 'rack_id');
SELECT col_not_null('fleet_rack_membership', 'device_id');
SELECT col_not_null('fleet_activity', 'occurred_at');
SELECT col_not_null('fleet_activity', 'actor');
SELECT col_not_null('fleet_activity', 'event_type');
SELECT col_not_null('fleet_activity', 'description');
SELECT col_not_null('fleet_activity', 'metadata');
SELECT col_is_null('fleet_rack', 'site_id', 'fleet_rack.site_id is nullable (a rack with no site)');
SELECT col_is_null('fleet_device', 'site_id', 'fleet_device.site_id is nullable (Unassigned)');
SELECT col_is_null('fleet_activity', 'site_id', 'fleet_activity.site_id is nullable (moves to Unassigned)');
SELECT col_not_null('fleet_building', 'name');
SELECT col_is_null('fleet_building', 'site_id', 'fleet_building.site_id is nullable (a building with no site)');
SELECT col_is_null('fleet_building', 'aisle_count', 'fleet_building.aisle_count is nullable (no layout)');
SELECT col_is_null('fleet_building', 'racks_per_aisle', 'fleet_building.racks_per_aisle is nullable (no layout)');
SELECT col_is_null('fleet_rack', 'building_id', 'fleet_rack.building_id is nullable (a rack in no building)');
SELECT col_is_null('fleet_rack', 'aisle_index', 'fleet_rack.aisle_index is nullable (no position)');
SELECT col_is_null('fleet_rack', 'position_in_aisle', 'fleet_rack.position_in_aisle is nullable (no position)');
SELECT col_is_null('fleet_device', 'building_id', 'fleet_device.building_id is nullable (in no building)');

SELECT col_default_is('fleet_rack', 'row_count', '12');
SELECT col_default_is('fleet_rack', 'column_count', '12');

-- Identity ids, GENERATED BY DEFAULT (explicit ids load, pg_restore works).
SELECT is((SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'fleet_site'::regclass AND attname = 'id'),
          'd', 'fleet_site.id is an identity GENERATED BY DEFAULT');
SELECT is((SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'fleet_rack'::regclass AND attname = 'id'),
          'd', 'fleet_rack.id is an identity GENERATED BY DEFAULT');
SELECT is((SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'fleet_device'::regclass AND attname = 'id'),
          'd', 'fleet_device.id is an identity GENERATED BY DEFAULT');
SELECT is((SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'fleet_activity'::regclass AND attname = 'id'),
          'd', 'fleet_activity.id is an identity GENERATED BY DEFAULT');
SELECT is((SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'fleet_building'::regclass AND attname = 'id'),
          'd', 'fleet_building.id is an identity GENERATED BY DEFAULT');

-------------------------------------------------------------------------------
-- Keys and unique rules
-------------------------------------------------------------------------------

SELECT col_is_pk('fleet_site', 'id');
SELECT col_is_pk('fleet_rack', 'id');
SELECT col_is_pk('fleet_device', 'id');
SELECT col_is_pk('fleet_activity', 'id');
SELECT col_is_pk('fleet_building', 'id');

SELECT ok(pg_temp.has_unique_on('fleet_site', ARRAY['name']), 'fleet_site.name is unique');
SELECT ok(pg_temp.has_unique_on('fleet_device', ARRAY['identifier']), 'fleet_device.identifier is unique');
SELECT ok(pg_temp.has_unique_on('fleet_rack_membership', ARRAY['device_id']),
          'fleet_rack_membership is unique on device_id alone (a device is in at most one rack)');
SELECT ok(pg_temp.has_unique_on('fleet_rack_slot', ARRAY['rack_id', 'row_index', 'column_index']),
          'fleet_rack_slot is unique on (rack_id, row_index, column_index) (one device per slot)');
SELECT ok(NOT EXISTS (
              SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
               WHERE i.indrelid = 'fleet_device'::regclass AND i.indisunique AND a.attname = 'site_id'),
          'fleet_device.site_id is in no unique index (a site move stays a non-key update)');
SELECT ok(pg_temp.has_unique_on('fleet_building', ARRAY['site_id', 'name']),
          'fleet_building is unique on (site_id, name) (names unique among the buildings of one site)');
SELECT ok(pg_temp.has_unique_on('fleet_rack', ARRAY['building_id', 'aisle_index', 'position_in_aisle']),
          'fleet_rack is unique on (building_id, aisle_index, position_in_aisle) (one rack per position)');
SELECT ok(NOT EXISTS (
              SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
               WHERE i.indrelid = 'fleet_device'::regclass AND i.indisunique AND a.attname = 'building_id'),
          'fleet_device.building_id is in no unique index (a building move of devices stays a non-key update)');
SELECT ok(NOT EXISTS (
              SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
               WHERE i.indrelid = 'fleet_rack'::regclass AND i.indisunique AND i.indimmediate
                 AND a.attname IN ('site_id', 'building_id')),
          'fleet_rack.site_id and building_id are in no immediate unique index (moving a rack stays a non-key update)');
SELECT ok((SELECT bool_and(c.condeferrable AND NOT c.condeferred) FROM pg_constraint c
            WHERE c.conrelid = 'fleet_rack'::regclass AND c.contype = 'u'
              AND c.conkey @> ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = 'fleet_rack'::regclass
                                                                    AND attname = 'building_id')]),
          'the rack position key is DEFERRABLE INITIALLY IMMEDIATE (racks of one batch may swap positions)');

-- The same rules, enforced on rows.
INSERT INTO fleet_site (id, name) VALUES (101, 'north'), (102, 'south');
INSERT INTO fleet_rack (id, label, site_id, row_count, column_count) VALUES (110, 'r110', 101, 2, 2), (120, 'r120', 102, 2, 2);
INSERT INTO fleet_device (id, identifier, site_id) VALUES (101, 'd1', 101), (102, 'd2', 101), (103, 'd3', 102);
INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (110, 101), (110, 102), (120, 103);
INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (110, 101, 0, 0), (120, 103, 1, 1);

SELECT throws_ok($$INSERT INTO fleet_site (name) VALUES ('north')$$, '23505', NULL,
                 'a second site named north is rejected');
SELECT throws_ok($$INSERT INTO fleet_device (identifier) VALUES ('d1')$$, '23505', NULL,
                 'a second device d1 is rejected');
SELECT throws_ok($$INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (120, 101)$$, '23505', NULL,
                 'a device cannot join a second rack');
SELECT throws_ok($$INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (110, 102, 0, 0)$$,
                 '23505', NULL, 'two devices cannot share a slot');
SELECT throws_ok($$INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (120, 102, 0, 0)$$,
                 '23503', NULL, 'a slot needs a membership of that device in that rack');
SELECT throws_ok($$INSERT INTO fleet_rack (label, row_count) VALUES ('bad', 0)$$, '23514', NULL,
                 'row_count 0 is rejected');
SELECT throws_ok($$INSERT INTO fleet_rack (label, row_count) VALUES ('bad', 13)$$, '23514', NULL,
                 'row_count 13 is rejected');
SELECT throws_ok($$INSERT INTO fleet_rack (label, column_count) VALUES ('bad', 0)$$, '23514', NULL,
                 'column_count 0 is rejected');
SELECT throws_ok($$INSERT INTO fleet_rack (label, column_count) VALUES ('bad', 13)$$, '23514', NULL,
                 'column_count 13 is rejected');
SELECT lives_ok($$INSERT INTO fleet_rack (id, label, row_count, column_count) VALUES (130, 'edges', 1, 12),
                                                                                    (131, 'edges', 12, 1)$$,
                'row_count and column_count 1 and 12 are accepted');

-- 1.1: building names and layouts, rack positions, on rows (all at site 101,
-- consistently placed).
INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle)
VALUES (201, 'hall', 101, 2, 2), (202, 'shed', 101, NULL, NULL);
SELECT throws_ok($$INSERT INTO fleet_building (name, site_id) VALUES ('hall', 101)$$, '23505', NULL,
                 'a second building named hall at site 101 is rejected');
SELECT lives_ok($$INSERT INTO fleet_building (id, name, site_id) VALUES (203, 'hall', 102)$$,
                'a building named hall at another site is accepted');
SELECT lives_ok($$INSERT INTO fleet_building (id, name, site_id) VALUES (204, 'yard', NULL), (205, 'yard', NULL)$$,
                'buildings with no site may share a name');
SELECT throws_ok($$INSERT INTO fleet_building (name, aisle_count, racks_per_aisle) VALUES ('bad', 0, 1)$$, '23514', NULL,
                 'aisle_count 0 is rejected');
SELECT throws_ok($$INSERT INTO fleet_building (name, aisle_count, racks_per_aisle) VALUES ('bad', 101, 1)$$, '23514', NULL,
                 'aisle_count 101 is rejected');
SELECT throws_ok($$INSERT INTO fleet_building (name, aisle_count, racks_per_aisle) VALUES ('bad', 1, 0)$$, '23514', NULL,
                 'racks_per_aisle 0 is rejected');
SELECT throws_ok($$INSERT INTO fleet_building (name, aisle_count, racks_per_aisle) VALUES ('bad', 1, 101)$$, '23514', NULL,
                 'racks_per_aisle 101 is rejected');
SELECT throws_ok($$INSERT INTO fleet_building (name, aisle_count) VALUES ('bad', 1)$$, '23514', NULL,
                 'aisle_count without racks_per_aisle is rejected (both or neither)');
SELECT throws_ok($$INSERT INTO fleet_building (name, racks_per_aisle) VALUES ('bad', 1)$$, '23514', NULL,
                 'racks_per_aisle without aisle_count is rejected (both or neither)');
SELECT lives_ok($$INSERT INTO fleet_building (id, name, aisle_count, racks_per_aisle) VALUES (206, 'small', 1, 1),
                                                                                             (207, 'large', 100, 100)$$,
                'layouts of 1 x 1 and 100 x 100 are accepted');
INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle)
VALUES (210, 'r210', 101, 201, 0, 0), (211, 'r211', 101, 201, NULL, NULL);
SELECT throws_ok($$INSERT INTO fleet_rack (label, site_id, building_id, aisle_index, position_in_aisle)
                   VALUES ('bad', 101, 201, 0, 0)$$, '23505', NULL,
                 'two racks at one position of a building are rejected');
SELECT lives_ok($$INSERT INTO fleet_rack (id, label, site_id, building_id) VALUES (212, 'r212', 101, 201)$$,
                'several racks of a building may have no position');
SELECT throws_ok($$INSERT INTO fleet_rack (label, site_id, building_id, aisle_index) VALUES ('bad', 101, 201, 1)$$,
                 '23514', NULL, 'an aisle_index without position_in_aisle is rejected (both or neither)');
SELECT throws_ok($$INSERT INTO fleet_rack (label, site_id, building_id, position_in_aisle) VALUES ('bad', 101, 201, 1)$$,
                 '23514', NULL, 'a position_in_aisle without aisle_index is rejected (both or neither)');
SELECT throws_ok($$INSERT INTO fleet_rack (label, site_id, building_id, aisle_index, position_in_aisle)
                   VALUES ('bad', 101, 201, -1, 0)$$, '23514', NULL, 'a negative aisle_index is rejected');
SELECT throws_ok($$INSERT INTO fleet_rack (label, site_id, building_id, aisle_index, position_in_aisle)
                   VALUES ('bad', 101, 201, 0, -1)$$, '23514', NULL, 'a negative position_in_aisle is rejected');
SELECT throws_ok($$INSERT INTO fleet_rack (label, site_id, aisle_index, position_in_aisle) VALUES ('bad', 101, 0, 0)$$,
                 '23514', NULL, 'a position without a building is rejected');

-- An INSERT naming only the contract columns works on every table.
SELECT lives_ok($$INSERT INTO fleet_site (name) VALUES ('only-contract')$$,
                'fleet_site takes an INSERT of its contract columns');
SELECT lives_ok($$INSERT INTO fleet_rack (label, site_id) VALUES ('only-contract', NULL)$$,
                'fleet_rack takes an INSERT of its contract columns');
SELECT is((SELECT ROW(building_id, aisle_index, position_in_aisle)::text FROM fleet_rack WHERE label = 'only-contract'),
          '(,,)', '... of its 1.0 contract columns: no building, no position');
SELECT lives_ok($$INSERT INTO fleet_building (name, site_id, aisle_count, racks_per_aisle) VALUES ('only-contract', NULL, NULL, NULL)$$,
                'fleet_building takes an INSERT of its contract columns');
SELECT lives_ok($$INSERT INTO fleet_device (identifier, site_id) VALUES ('only-contract', 102)$$,
                'fleet_device takes an INSERT of its contract columns');
SELECT is((SELECT building_id FROM fleet_device WHERE identifier = 'only-contract'), NULL,
          '... of its 1.0 contract columns: no building');
SELECT lives_ok($$INSERT INTO fleet_rack_membership (rack_id, device_id)
                  SELECT 120, id FROM fleet_device WHERE identifier = 'only-contract'$$,
                'fleet_rack_membership takes an INSERT of its contract columns');
SELECT lives_ok($$INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (110, 102, 1, 0)$$,
                'fleet_rack_slot takes an INSERT of its contract columns');
SELECT lives_ok($$INSERT INTO fleet_activity (occurred_at, actor, event_type, site_id, description, metadata)
                  VALUES (now(), 'me', 'test', NULL, 'test', '{}')$$,
                'fleet_activity takes an INSERT of its contract columns');

-------------------------------------------------------------------------------
-- Foreign keys and their ON DELETE actions
-------------------------------------------------------------------------------

SELECT fk_ok('fleet_rack', 'site_id', 'fleet_site', 'id');
SELECT fk_ok('fleet_device', 'site_id', 'fleet_site', 'id');
SELECT fk_ok('fleet_rack_membership', 'rack_id', 'fleet_rack', 'id');
SELECT fk_ok('fleet_rack_membership', 'device_id', 'fleet_device', 'id');
SELECT fk_ok('fleet_rack_slot', ARRAY['rack_id', 'device_id'], 'fleet_rack_membership', ARRAY['rack_id', 'device_id']);
SELECT fk_ok('fleet_building', 'site_id', 'fleet_site', 'id');
SELECT fk_ok('fleet_rack', 'building_id', 'fleet_building', 'id');
SELECT fk_ok('fleet_device', 'building_id', 'fleet_building', 'id');

SELECT is(pg_temp.fk_delete_action('fleet_rack', ARRAY['site_id']), 'SET NULL',
          'fleet_rack.site_id -> fleet_site ON DELETE SET NULL');
SELECT is(pg_temp.fk_delete_action('fleet_device', ARRAY['site_id']), 'SET NULL',
          'fleet_device.site_id -> fleet_site ON DELETE SET NULL');
SELECT is(pg_temp.fk_delete_action('fleet_rack_membership', ARRAY['rack_id']), 'CASCADE',
          'fleet_rack_membership.rack_id -> fleet_rack ON DELETE CASCADE');
SELECT is(pg_temp.fk_delete_action('fleet_rack_membership', ARRAY['device_id']), 'CASCADE',
          'fleet_rack_membership.device_id -> fleet_device ON DELETE CASCADE');
SELECT is(pg_temp.fk_delete_action('fleet_rack_slot', ARRAY['rack_id', 'device_id']), 'CASCADE',
          'fleet_rack_slot (rack_id, device_id) -> fleet_rack_membership ON DELETE CASCADE');
SELECT is(pg_temp.fk_delete_action('fleet_building', ARRAY['site_id']), 'SET NULL',
          'fleet_building.site_id -> fleet_site ON DELETE SET NULL');
SELECT is(pg_temp.fk_delete_action('fleet_rack', ARRAY['building_id']), 'SET NULL',
          'fleet_rack.building_id -> fleet_building ON DELETE SET NULL');
SELECT is(pg_temp.fk_delete_action('fleet_device', ARRAY['building_id']), 'SET NULL',
          'fleet_device.building_id -> fleet_building ON DELETE SET NULL');
SELECT is_empty($$SELECT conname FROM pg_constraint WHERE conrelid = 'fleet_activity'::regclass AND contype = 'f'$$,
                'fleet_activity has no foreign key (history outlives sites)');

-- The actions, on rows. State now: d1 in r110 (slot 0,0), d2 in r110 (slot 1,0), d3 in r120 (slot 1,1).
DELETE FROM fleet_rack_membership WHERE device_id = 101;
SELECT is_empty($$SELECT 1 FROM fleet_rack_slot WHERE device_id = 101$$,
                'deleting a membership deletes its slot');
DELETE FROM fleet_device WHERE id = 102;
SELECT is_empty($$SELECT 1 FROM fleet_rack_membership WHERE device_id = 102 UNION ALL
                  SELECT 1 FROM fleet_rack_slot WHERE device_id = 102$$,
                'deleting a device deletes its membership and slot');
INSERT INTO fleet_activity (actor, event_type, site_id, description, metadata)
VALUES ('me', 'test', 102, 'about site 102', '{}');
DELETE FROM fleet_site WHERE id = 102;
SELECT results_eq($$SELECT (SELECT site_id FROM fleet_rack WHERE id = 120), (SELECT site_id FROM fleet_device WHERE id = 103),
                           (SELECT count(*) FROM fleet_rack_membership WHERE device_id = 103),
                           (SELECT count(*) FROM fleet_activity WHERE site_id = 102)$$,
                  $$VALUES (NULL::bigint, NULL::bigint, 1::bigint, 1::bigint)$$,
                  'deleting a site leaves its racks and devices Unassigned, memberships and history intact');
DELETE FROM fleet_rack WHERE id = 120;
SELECT is_empty($$SELECT 1 FROM fleet_rack_membership WHERE rack_id = 120 UNION ALL
                  SELECT 1 FROM fleet_rack_slot WHERE rack_id = 120$$,
                'deleting a rack deletes its memberships and their slots');
-- Building 201 holds rack 210 at (0,0), rack 211, rack 212; a device in it,
-- one in rack 210.
INSERT INTO fleet_device (id, identifier, site_id, building_id) VALUES (211, 'in-201', 101, 201), (212, 'racked-201', 101, 201);
INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (210, 212);
DELETE FROM fleet_building WHERE id = 201;
SELECT results_eq($$SELECT id, site_id, building_id, aisle_index, position_in_aisle FROM fleet_rack
                     WHERE id IN (210, 211, 212) ORDER BY id$$,
                  $$VALUES (210::bigint, 101::bigint, NULL::bigint, NULL::int, NULL::int),
                           (211, 101, NULL, NULL, NULL), (212, 101, NULL, NULL, NULL)$$,
                  'deleting a building leaves its racks at their site with no building and no position');
SELECT results_eq($$SELECT d.id, d.site_id, d.building_id, m.rack_id FROM fleet_device d
                      LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
                     WHERE d.id IN (211, 212) ORDER BY d.id$$,
                  $$VALUES (211::bigint, 101::bigint, NULL::bigint, NULL::bigint), (212, 101, NULL, 210)$$,
                  '... and its devices with no building, site and membership kept');

-------------------------------------------------------------------------------
-- Indexes
-------------------------------------------------------------------------------

-- Every foreign key's referencing columns lead an index, so ON DELETE
-- actions and "members of a rack" do not scan whole tables.
SELECT ok(pg_temp.has_leading_index('fleet_rack', 'site_id'), 'fleet_rack.site_id is indexed');
SELECT ok(pg_temp.has_leading_index('fleet_device', 'site_id'), 'fleet_device.site_id is indexed');
SELECT ok(pg_temp.has_leading_index('fleet_device', 'identifier'), 'fleet_device.identifier is indexed');
SELECT ok(pg_temp.has_leading_index('fleet_rack_membership', 'rack_id'), 'fleet_rack_membership.rack_id is indexed');
SELECT ok(pg_temp.has_leading_index('fleet_rack_membership', 'device_id'), 'fleet_rack_membership.device_id is indexed');
SELECT ok(pg_temp.has_leading_index('fleet_rack_slot', 'rack_id'), 'fleet_rack_slot.rack_id is indexed');
SELECT ok(pg_temp.has_leading_index('fleet_building', 'site_id'), 'fleet_building.site_id is indexed');
SELECT ok(pg_temp.has_leading_index('fleet_rack', 'building_id'), 'fleet_rack.building_id is indexed');
SELECT ok(pg_temp.has_leading_index('fleet_device', 'building_id'), 'fleet_device.building_id is indexed');

-------------------------------------------------------------------------------
-- Types
-------------------------------------------------------------------------------

SELECT has_enum('fleet_conflict_reason');
SELECT enum_has_labels('fleet_conflict_reason',
                       ARRAY['DEVICE_NOT_FOUND', 'DEVICE_IN_RACK_AT_OTHER_SITE', 'DEVICE_LOSES_SITE',
                             'DEVICE_IN_RACK_AT_OTHER_BUILDING'],
                       'fleet_conflict_reason has the four labels, in order (1.1 appended the last)');
SELECT has_composite('fleet_conflict');
SELECT results_eq(
    $$SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
       WHERE a.attrelid = (SELECT typrelid FROM pg_type WHERE oid = 'fleet_conflict'::regtype)
         AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum$$,
    $$VALUES ('device_identifier'::name, 'text'), ('reason', 'fleet_conflict_reason'),
             ('conflicting_site_id', 'bigint'), ('rack_id', 'bigint'),
             ('conflicting_building_id', 'bigint')$$,
    'fleet_conflict has exactly the five attributes, in order, with their types (1.1 appended the last)');
SELECT has_composite('fleet_cascade');
SELECT results_eq(
    $$SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
       WHERE a.attrelid = (SELECT typrelid FROM pg_type WHERE oid = 'fleet_cascade'::regtype)
         AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum$$,
    $$VALUES ('building_count'::name, 'integer'), ('rack_count', 'integer'), ('device_count', 'integer')$$,
    'fleet_cascade has exactly the three attributes, in order, with their types');

-------------------------------------------------------------------------------
-- Functions
-------------------------------------------------------------------------------

SELECT has_function('fleet_assign_devices_to_site', ARRAY['text[]', 'bigint', 'boolean']);
SELECT is(pg_get_function_arguments('fleet_assign_devices_to_site(text[], bigint, boolean)'::regprocedure),
          'ids text[], target bigint, force_clear boolean DEFAULT false',
          'fleet_assign_devices_to_site argument names, order and default');
SELECT function_returns('fleet_assign_devices_to_site', ARRAY['text[]', 'bigint', 'boolean'], 'setof fleet_conflict');
SELECT volatility_is('fleet_assign_devices_to_site', ARRAY['text[]', 'bigint', 'boolean'], 'volatile');
SELECT isnt_definer('fleet_assign_devices_to_site', ARRAY['text[]', 'bigint', 'boolean'],
                    'fleet_assign_devices_to_site is SECURITY INVOKER');
SELECT isnt_strict('fleet_assign_devices_to_site', ARRAY['text[]', 'bigint', 'boolean'],
                   'fleet_assign_devices_to_site is not STRICT (NULL arguments raise errors)');
SELECT is((SELECT proparallel::text FROM pg_proc
            WHERE oid = 'fleet_assign_devices_to_site(text[], bigint, boolean)'::regprocedure),
          'u', 'fleet_assign_devices_to_site is PARALLEL UNSAFE (it writes)');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'fleet_assign_devices_to_site'), 1,
          'fleet_assign_devices_to_site has exactly one signature');
SELECT is((SELECT proconfig FROM pg_proc
            WHERE oid = 'fleet_assign_devices_to_site(text[], bigint, boolean)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'],
          'fleet_assign_devices_to_site runs with search_path pinned to pg_catalog, pg_temp');

SELECT has_function('fleet_assign_devices_to_rack', ARRAY['text[]', 'bigint', 'boolean', 'integer[]', 'integer[]']);
SELECT is(pg_get_function_arguments('fleet_assign_devices_to_rack(text[], bigint, boolean, integer[], integer[])'::regprocedure),
          'ids text[], target_rack bigint, force_clear boolean DEFAULT false, row_indexes integer[] DEFAULT NULL::integer[], column_indexes integer[] DEFAULT NULL::integer[]',
          'fleet_assign_devices_to_rack argument names, order and defaults');
SELECT function_returns('fleet_assign_devices_to_rack', ARRAY['text[]', 'bigint', 'boolean', 'integer[]', 'integer[]'], 'setof fleet_conflict');
SELECT volatility_is('fleet_assign_devices_to_rack', ARRAY['text[]', 'bigint', 'boolean', 'integer[]', 'integer[]'], 'volatile');
SELECT isnt_definer('fleet_assign_devices_to_rack', ARRAY['text[]', 'bigint', 'boolean', 'integer[]', 'integer[]'],
                    'fleet_assign_devices_to_rack is SECURITY INVOKER');
SELECT isnt_strict('fleet_assign_devices_to_rack', ARRAY['text[]', 'bigint', 'boolean', 'integer[]', 'integer[]'],
                   'fleet_assign_devices_to_rack is not STRICT (NULL arguments raise errors)');
SELECT is((SELECT proparallel::text FROM pg_proc
            WHERE oid = 'fleet_assign_devices_to_rack(text[], bigint, boolean, integer[], integer[])'::regprocedure),
          'u', 'fleet_assign_devices_to_rack is PARALLEL UNSAFE (it writes)');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'fleet_assign_devices_to_rack'), 1,
          'fleet_assign_devices_to_rack has exactly one signature');
SELECT is((SELECT proconfig FROM pg_proc
            WHERE oid = 'fleet_assign_devices_to_rack(text[], bigint, boolean, integer[], integer[])'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'],
          'fleet_assign_devices_to_rack runs with search_path pinned to pg_catalog, pg_temp');

-- 1.1: the building move and the three container moves.
SELECT has_function('fleet_assign_devices_to_building', ARRAY['text[]', 'bigint', 'boolean']);
SELECT is(pg_get_function_arguments('fleet_assign_devices_to_building(text[], bigint, boolean)'::regprocedure),
          'ids text[], target_building bigint, force_clear boolean DEFAULT false',
          'fleet_assign_devices_to_building argument names, order and defaults');
SELECT function_returns('fleet_assign_devices_to_building', ARRAY['text[]', 'bigint', 'boolean'], 'setof fleet_conflict');
SELECT volatility_is('fleet_assign_devices_to_building', ARRAY['text[]', 'bigint', 'boolean'], 'volatile');
SELECT isnt_definer('fleet_assign_devices_to_building', ARRAY['text[]', 'bigint', 'boolean'],
                    'fleet_assign_devices_to_building is SECURITY INVOKER');
SELECT isnt_strict('fleet_assign_devices_to_building', ARRAY['text[]', 'bigint', 'boolean'],
                   'fleet_assign_devices_to_building is not STRICT (NULL arguments raise errors)');
SELECT function_lang_is('fleet_assign_devices_to_building', ARRAY['text[]', 'bigint', 'boolean'], 'c');
SELECT is((SELECT proparallel::text FROM pg_proc WHERE oid = 'fleet_assign_devices_to_building(text[], bigint, boolean)'::regprocedure),
          'u', 'fleet_assign_devices_to_building is PARALLEL UNSAFE (it writes)');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'fleet_assign_devices_to_building'), 1,
          'fleet_assign_devices_to_building has exactly one signature');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'fleet_assign_devices_to_building(text[], bigint, boolean)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'],
          'fleet_assign_devices_to_building runs with search_path pinned to pg_catalog, pg_temp');
SELECT has_function('fleet_assign_racks_to_site', ARRAY['bigint[]', 'bigint']);
SELECT is(pg_get_function_arguments('fleet_assign_racks_to_site(bigint[], bigint)'::regprocedure),
          'rack_ids bigint[], target bigint',
          'fleet_assign_racks_to_site argument names, order and defaults');
SELECT function_returns('fleet_assign_racks_to_site', ARRAY['bigint[]', 'bigint'], 'fleet_cascade');
SELECT volatility_is('fleet_assign_racks_to_site', ARRAY['bigint[]', 'bigint'], 'volatile');
SELECT isnt_definer('fleet_assign_racks_to_site', ARRAY['bigint[]', 'bigint'],
                    'fleet_assign_racks_to_site is SECURITY INVOKER');
SELECT isnt_strict('fleet_assign_racks_to_site', ARRAY['bigint[]', 'bigint'],
                   'fleet_assign_racks_to_site is not STRICT (NULL arguments raise errors)');
SELECT function_lang_is('fleet_assign_racks_to_site', ARRAY['bigint[]', 'bigint'], 'c');
SELECT is((SELECT proparallel::text FROM pg_proc WHERE oid = 'fleet_assign_racks_to_site(bigint[], bigint)'::regprocedure),
          'u', 'fleet_assign_racks_to_site is PARALLEL UNSAFE (it writes)');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'fleet_assign_racks_to_site'), 1,
          'fleet_assign_racks_to_site has exactly one signature');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'fleet_assign_racks_to_site(bigint[], bigint)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'],
          'fleet_assign_racks_to_site runs with search_path pinned to pg_catalog, pg_temp');
SELECT has_function('fleet_assign_racks_to_building', ARRAY['bigint[]', 'bigint', 'integer[]', 'integer[]']);
SELECT is(pg_get_function_arguments('fleet_assign_racks_to_building(bigint[], bigint, integer[], integer[])'::regprocedure),
          'rack_ids bigint[], target_building bigint, aisle_indexes integer[] DEFAULT NULL::integer[], positions_in_aisle integer[] DEFAULT NULL::integer[]',
          'fleet_assign_racks_to_building argument names, order and defaults');
SELECT function_returns('fleet_assign_racks_to_building', ARRAY['bigint[]', 'bigint', 'integer[]', 'integer[]'], 'fleet_cascade');
SELECT volatility_is('fleet_assign_racks_to_building', ARRAY['bigint[]', 'bigint', 'integer[]', 'integer[]'], 'volatile');
SELECT isnt_definer('fleet_assign_racks_to_building', ARRAY['bigint[]', 'bigint', 'integer[]', 'integer[]'],
                    'fleet_assign_racks_to_building is SECURITY INVOKER');
SELECT isnt_strict('fleet_assign_racks_to_building', ARRAY['bigint[]', 'bigint', 'integer[]', 'integer[]'],
                   'fleet_assign_racks_to_building is not STRICT (NULL arguments raise errors)');
SELECT function_lang_is('fleet_assign_racks_to_building', ARRAY['bigint[]', 'bigint', 'integer[]', 'integer[]'], 'c');
SELECT is((SELECT proparallel::text FROM pg_proc WHERE oid = 'fleet_assign_racks_to_building(bigint[], bigint, integer[], integer[])'::regprocedure),
          'u', 'fleet_assign_racks_to_building is PARALLEL UNSAFE (it writes)');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'fleet_assign_racks_to_building'), 1,
          'fleet_assign_racks_to_building has exactly one signature');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'fleet_assign_racks_to_building(bigint[], bigint, integer[], integer[])'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'],
          'fleet_assign_racks_to_building runs with search_path pinned to pg_catalog, pg_temp');
SELECT has_function('fleet_assign_buildings_to_site', ARRAY['bigint[]', 'bigint']);
SELECT is(pg_get_function_arguments('fleet_assign_buildings_to_site(bigint[], bigint)'::regprocedure),
          'building_ids bigint[], target bigint',
          'fleet_assign_buildings_to_site argument names, order and defaults');
SELECT function_returns('fleet_assign_buildings_to_site', ARRAY['bigint[]', 'bigint'], 'fleet_cascade');
SELECT volatility_is('fleet_assign_buildings_to_site', ARRAY['bigint[]', 'bigint'], 'volatile');
SELECT isnt_definer('fleet_assign_buildings_to_site', ARRAY['bigint[]', 'bigint'],
                    'fleet_assign_buildings_to_site is SECURITY INVOKER');
SELECT isnt_strict('fleet_assign_buildings_to_site', ARRAY['bigint[]', 'bigint'],
                   'fleet_assign_buildings_to_site is not STRICT (NULL arguments raise errors)');
SELECT function_lang_is('fleet_assign_buildings_to_site', ARRAY['bigint[]', 'bigint'], 'c');
SELECT is((SELECT proparallel::text FROM pg_proc WHERE oid = 'fleet_assign_buildings_to_site(bigint[], bigint)'::regprocedure),
          'u', 'fleet_assign_buildings_to_site is PARALLEL UNSAFE (it writes)');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'fleet_assign_buildings_to_site'), 1,
          'fleet_assign_buildings_to_site has exactly one signature');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'fleet_assign_buildings_to_site(bigint[], bigint)'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'],
          'fleet_assign_buildings_to_site runs with search_path pinned to pg_catalog, pg_temp');

-- fleet_last_activity_id(): reads this backend's memory, so it must not run
-- in a parallel worker (which has none of it): not PARALLEL SAFE. It runs no
-- SQL, so it needs no pinned search_path. Any role may call it.
SELECT has_function('fleet_last_activity_id', ARRAY[]::text[]);
SELECT function_returns('fleet_last_activity_id', ARRAY[]::text[], 'bigint');
SELECT volatility_is('fleet_last_activity_id', ARRAY[]::text[], 'volatile');
SELECT isnt_definer('fleet_last_activity_id', ARRAY[]::text[], 'fleet_last_activity_id is SECURITY INVOKER');
SELECT isnt((SELECT proparallel::text FROM pg_proc WHERE oid = 'fleet_last_activity_id()'::regprocedure),
            's', 'fleet_last_activity_id is not PARALLEL SAFE (it reads the session''s state)');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname = 'fleet_last_activity_id'), 1,
          'fleet_last_activity_id has exactly one signature');
SELECT ok(has_function_privilege('public', 'fleet_last_activity_id()', 'EXECUTE'),
          'PUBLIC may execute fleet_last_activity_id');

-------------------------------------------------------------------------------
-- The view fleet_placement_violation
-------------------------------------------------------------------------------

SELECT has_view('fleet_placement_violation');
SELECT results_eq(
    $$SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
       WHERE a.attrelid = 'fleet_placement_violation'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       ORDER BY a.attnum$$,
    $$VALUES ('device_id'::name, 'bigint'), ('device_identifier', 'text'), ('device_site_id', 'bigint'),
             ('rack_id', 'bigint'), ('rack_site_id', 'bigint'), ('rule', 'integer'),
             ('device_building_id', 'bigint'), ('rack_building_id', 'bigint'),
             ('building_site_id', 'bigint')$$,
    'fleet_placement_violation has its 1.0 columns first, then rule and the building columns');
SELECT ok((SELECT 'security_invoker=true' = ANY (reloptions) FROM pg_class
            WHERE oid = 'fleet_placement_violation'::regclass),
          'fleet_placement_violation is security_invoker = true');
SELECT is_empty($$
    SELECT a.privilege_type
      FROM pg_class c
      CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
     WHERE c.oid = 'fleet_placement_violation'::regclass AND a.grantee = 0$$,
    'fleet_placement_violation grants nothing to PUBLIC');
SELECT ok(NOT has_table_privilege('public', 'fleet_placement_violation', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
          'PUBLIC has no privilege on fleet_placement_violation');

-- On rows: break the invariant by hand (as the superuser, who alone may
-- switch the guard off, as 1.0 data may have done), see it listed.
-- State now: d1 (101, site 101) unracked; d3 (103) no site, rack gone; 'only-contract' (site 102 deleted -> NULL).
INSERT INTO fleet_rack (id, label, site_id) VALUES (140, 'r140', 101), (150, 'r150', NULL);
INSERT INTO fleet_device (id, identifier, site_id) VALUES (141, 'ok-141', 101), (142, 'bad-142', NULL),
                                                          (151, 'ok-151', NULL), (152, 'bad-152', 101);
ALTER TABLE fleet_rack_membership DISABLE TRIGGER fleet_guard_insert;
INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (140, 141), (140, 142), (150, 151), (150, 152);
ALTER TABLE fleet_rack_membership ENABLE TRIGGER fleet_guard_insert;
SELECT results_eq(
    $$SELECT device_id, device_identifier, device_site_id, rack_id, rack_site_id, rule
        FROM fleet_placement_violation ORDER BY device_id$$,
    $$VALUES (142::bigint, 'bad-142'::text, NULL::bigint, 140::bigint, 101::bigint, 1),
             (152, 'bad-152', 101, 150, NULL, 1)$$,
    'fleet_placement_violation lists exactly the racked devices whose site differs from their rack''s (NULL-aware)');

-- Rules 2-4 on rows. session_replication_role = replica keeps ordinary
-- triggers (a guard on direct writes) from refusing these rows.
SET LOCAL session_replication_role = replica;
DELETE FROM fleet_rack_membership WHERE rack_id IN (140, 150);
INSERT INTO fleet_building (id, name, site_id) VALUES (160, 'b160', 101), (170, 'b170', NULL);
-- rule 3: rack 161 at site 101 in building 170 (no site); rack 162 with no site in 160 (at 101)
INSERT INTO fleet_rack (id, label, site_id, building_id) VALUES (161, 'r161', 101, 170), (162, 'r162', NULL, 160),
                                                                 (163, 'r163', 101, 160);
-- rule 2: device 164 in rack 163 (building 160) with building NULL; 165 with building 170
-- rule 4: device 166 at site 101 in building 170 (no site); 167 with no site in 160
INSERT INTO fleet_device (id, identifier, site_id, building_id) VALUES
    (164, 'bad-164', 101, NULL), (165, 'bad-165', 101, 170), (166, 'bad-166', 101, 170),
    (167, 'bad-167', NULL, 160), (168, 'ok-168', 101, 160);
INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (163, 164), (163, 168);
SET LOCAL session_replication_role = DEFAULT;
SELECT results_eq(
    $$SELECT rule, device_id, device_identifier, device_site_id, rack_id, rack_site_id,
             device_building_id, rack_building_id, building_site_id
        FROM fleet_placement_violation ORDER BY rule, device_id, rack_id$$,
    $$VALUES (2, 164::bigint, 'bad-164'::text, 101::bigint, 163::bigint, 101::bigint, NULL::bigint, 160::bigint, NULL::bigint),
             (3, NULL, NULL, NULL, 161, 101, NULL, 170, NULL),
             (3, NULL, NULL, NULL, 162, NULL, NULL, 160, 101),
             (4, 165, 'bad-165', 101, NULL, NULL, 170, NULL, NULL),
             (4, 166, 'bad-166', 101, NULL, NULL, 170, NULL, NULL),
             (4, 167, 'bad-167', NULL, NULL, NULL, 160, NULL, 101)$$,
    'fleet_placement_violation lists one row per broken rule 2-4 and offending row, with its columns');

-- security_invoker, on rows: a role granted SELECT on the view but not on
-- the tables under it is refused (the view does not lend its owner's rights).
CREATE ROLE fleet_test_viewer NOLOGIN;
GRANT SELECT ON fleet_placement_violation TO fleet_test_viewer;
SET LOCAL ROLE fleet_test_viewer;
SELECT throws_ok($$SELECT * FROM fleet_placement_violation$$, '42501', NULL,
                 'a reader of the view needs SELECT on the tables under it (security_invoker)');
RESET ROLE;

-------------------------------------------------------------------------------
-- The site-delete lock trigger
-------------------------------------------------------------------------------

SELECT has_trigger('fleet_site', 'fleet_site_before_delete');
SELECT trigger_is('fleet_site', 'fleet_site_before_delete', 'fleet_site_before_delete');
-- tgtype bits: ROW 1, BEFORE 2, INSERT 4, DELETE 8, UPDATE 16, TRUNCATE 32.
SELECT results_eq(
    $$SELECT tgtype::int, tgenabled::text FROM pg_trigger
       WHERE tgrelid = 'fleet_site'::regclass AND tgname = 'fleet_site_before_delete'$$,
    $$VALUES (1 | 2 | 8, 'O')$$,
    'fleet_site_before_delete is a BEFORE DELETE FOR EACH ROW trigger, enabled');
SELECT function_returns('fleet_site_before_delete', ARRAY[]::text[], 'trigger');
SELECT function_lang_is('fleet_site_before_delete', ARRAY[]::text[], 'c',
                        'fleet_site_before_delete is C: it finds the schema by oid, never by name');
SELECT isnt_definer('fleet_site_before_delete', ARRAY[]::text[],
                    'fleet_site_before_delete is not SECURITY DEFINER (it switches authority in C, for its own statements only)');
SELECT hasnt_function('fleet_site_lock_placements', ARRAY[]::text[],
                      'the 1.0 SECURITY DEFINER trigger function is gone');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'fleet_site_before_delete()'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'],
          'fleet_site_before_delete runs with search_path pinned to pg_catalog, pg_temp');
SELECT is_empty($$
    SELECT a.privilege_type FROM pg_proc p
      CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
     WHERE p.oid = 'fleet_site_before_delete()'::regprocedure AND a.grantee = 0$$,
    'fleet_site_before_delete grants nothing to PUBLIC');
SELECT ok(NOT has_function_privilege('public', 'fleet_site_before_delete()', 'EXECUTE'),
          'PUBLIC may not execute fleet_site_before_delete');

SELECT has_trigger('fleet_building', 'fleet_building_before_delete');
SELECT trigger_is('fleet_building', 'fleet_building_before_delete', 'fleet_building_before_delete');
SELECT results_eq(
    $$SELECT tgtype::int, tgenabled::text FROM pg_trigger
       WHERE tgrelid = 'fleet_building'::regclass AND tgname = 'fleet_building_before_delete'$$,
    $$VALUES (1 | 2 | 8, 'O')$$,
    'fleet_building_before_delete is a BEFORE DELETE FOR EACH ROW trigger, enabled');
SELECT function_returns('fleet_building_before_delete', ARRAY[]::text[], 'trigger');
SELECT function_lang_is('fleet_building_before_delete', ARRAY[]::text[], 'c',
                        'fleet_building_before_delete is C');
SELECT isnt_definer('fleet_building_before_delete', ARRAY[]::text[],
                    'fleet_building_before_delete is not SECURITY DEFINER');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'fleet_building_before_delete()'::regprocedure),
          ARRAY['search_path=pg_catalog, pg_temp'],
          'fleet_building_before_delete runs with search_path pinned to pg_catalog, pg_temp');
SELECT ok(NOT has_function_privilege('public', 'fleet_building_before_delete()', 'EXECUTE'),
          'PUBLIC may not execute fleet_building_before_delete');
SELECT throws_ok($$SELECT fleet_building_before_delete()$$, '39P01', NULL,
                 'fleet_building_before_delete refuses to run other than as its BEFORE DELETE row trigger');
SELECT is_empty($$SELECT tgname FROM pg_trigger WHERE tgrelid IN ('fleet_rack'::regclass, 'fleet_device'::regclass,
                                                               'fleet_building'::regclass, 'fleet_site'::regclass)
                    AND NOT tgisinternal AND tgname NOT LIKE 'fleet\_%'$$,
                'every trigger the extension put on its tables is named fleet_*');

-------------------------------------------------------------------------------
-- The extension
-------------------------------------------------------------------------------

SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'fleet_sites'), false,
          'fleet_sites is not relocatable');
SELECT is((SELECT trusted FROM pg_available_extension_versions WHERE name = 'fleet_sites' AND version = '1.0'),
          false, 'fleet_sites is not a trusted extension');
SELECT is((SELECT trusted FROM pg_available_extension_versions WHERE name = 'fleet_sites' AND version = '1.1'),
          false, 'fleet_sites 1.1 is not a trusted extension');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'fleet_sites'), '1.1',
          'CREATE EXTENSION installs version 1.1');
SELECT is_empty($$
    SELECT pg_describe_object(d.classid, d.objid, 0)
      FROM pg_depend d
      JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'fleet_sites'
      LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
      LEFT JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid
      LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
     WHERE d.deptype = 'e'
       AND coalesce(c.relname, t.typname, p.proname) NOT LIKE 'fleet\_%'$$,
    'every object of the extension is named fleet_*');

-- pg_dump keeps the data (all of it: no filter) and the next ids.
SELECT ok((SELECT 'fleet_site'::regclass::oid = ANY (extconfig) FROM pg_extension WHERE extname = 'fleet_sites'),
          'fleet_site is registered with pg_extension_config_dump');
SELECT ok((SELECT 'fleet_rack'::regclass::oid = ANY (extconfig) FROM pg_extension WHERE extname = 'fleet_sites'),
          'fleet_rack is registered with pg_extension_config_dump');
SELECT ok((SELECT 'fleet_device'::regclass::oid = ANY (extconfig) FROM pg_extension WHERE extname = 'fleet_sites'),
          'fleet_device is registered with pg_extension_config_dump');
SELECT ok((SELECT 'fleet_rack_membership'::regclass::oid = ANY (extconfig) FROM pg_extension WHERE extname = 'fleet_sites'),
          'fleet_rack_membership is registered with pg_extension_config_dump');
SELECT ok((SELECT 'fleet_rack_slot'::regclass::oid = ANY (extconfig) FROM pg_extension WHERE extname = 'fleet_sites'),
          'fleet_rack_slot is registered with pg_extension_config_dump');
SELECT ok((SELECT 'fleet_activity'::regclass::oid = ANY (extconfig) FROM pg_extension WHERE extname = 'fleet_sites'),
          'fleet_activity is registered with pg_extension_config_dump');
SELECT ok((SELECT pg_get_serial_sequence('fleet_site', 'id')::regclass::oid = ANY (extconfig)
             FROM pg_extension WHERE extname = 'fleet_sites'),
          'the id sequence of fleet_site is registered with pg_extension_config_dump');
SELECT ok((SELECT pg_get_serial_sequence('fleet_rack', 'id')::regclass::oid = ANY (extconfig)
             FROM pg_extension WHERE extname = 'fleet_sites'),
          'the id sequence of fleet_rack is registered with pg_extension_config_dump');
SELECT ok((SELECT pg_get_serial_sequence('fleet_device', 'id')::regclass::oid = ANY (extconfig)
             FROM pg_extension WHERE extname = 'fleet_sites'),
          'the id sequence of fleet_device is registered with pg_extension_config_dump');
SELECT ok((SELECT pg_get_serial_sequence('fleet_activity', 'id')::regclass::oid = ANY (extconfig)
             FROM pg_extension WHERE extname = 'fleet_sites'),
          'the id sequence of fleet_activity is registered with pg_extension_config_dump');
SELECT ok((SELECT 'fleet_building'::regclass::oid = ANY (extconfig) FROM pg_extension WHERE extname = 'fleet_sites'),
          'fleet_building is registered with pg_extension_config_dump');
SELECT ok((SELECT pg_get_serial_sequence('fleet_building', 'id')::regclass::oid = ANY (extconfig)
             FROM pg_extension WHERE extname = 'fleet_sites'),
          'the id sequence of fleet_building is registered with pg_extension_config_dump');
-- The same, for whatever tables and sequences later versions add.
SELECT is_empty($$
    SELECT c.relname FROM pg_depend d
      JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'fleet_sites'
      JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
     WHERE d.deptype = 'e' AND c.relkind IN ('r', 'p') AND NOT c.oid = ANY (e.extconfig)$$,
    'every table of the extension is registered with pg_extension_config_dump');
SELECT is_empty($$
    SELECT s.relname FROM pg_depend d
      JOIN pg_extension e ON e.extname = 'fleet_sites'
      JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
      JOIN pg_depend m ON m.classid = 'pg_class'::regclass AND m.objid = d.refobjid
                      AND m.refobjid = e.oid AND m.deptype = 'e'
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
       AND d.deptype IN ('i', 'a') AND NOT s.oid = ANY (e.extconfig)$$,
    'every sequence owned by a table of the extension is registered with pg_extension_config_dump');
SELECT ok((SELECT coalesce(bool_and(c = ''), true) FROM pg_extension e, unnest(e.extcondition) c
            WHERE e.extname = 'fleet_sites'),
          'pg_dump keeps every row (no registration has a WHERE filter)');

-- Default deny: PUBLIC holds nothing on any table, view or sequence of the extension.
SELECT is_empty($$
    SELECT c.relname, a.privilege_type FROM pg_depend d
      JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'fleet_sites'
      JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
      CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char",
                                                                   c.relowner))) a
     WHERE d.deptype = 'e' AND a.grantee = 0$$,
    'no table, view or sequence of the extension grants anything to PUBLIC');
SELECT ok(NOT has_table_privilege('public', 'fleet_activity', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
          'PUBLIC has no privilege on fleet_activity');
SELECT ok(NOT has_table_privilege('public', 'fleet_device', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'),
          'PUBLIC has no privilege on fleet_device');
SELECT ok(NOT has_table_privilege('public', 'fleet_building', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'),
          'PUBLIC has no privilege on fleet_building');
SELECT is_empty($$
    SELECT a.privilege_type FROM pg_class c
      CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
     WHERE c.oid = 'fleet_building'::regclass AND a.grantee <> c.relowner$$,
    'fleet_building grants nothing to anybody but its owner (default deny)');
SELECT ok(NOT has_sequence_privilege('public', pg_get_serial_sequence('fleet_building', 'id'), 'USAGE, SELECT, UPDATE'),
          'PUBLIC has no privilege on the id sequence of fleet_building');

-------------------------------------------------------------------------------
-- Comments on what 1.1 added
-------------------------------------------------------------------------------

SELECT is_empty($$
    SELECT pg_describe_object(d.classid, d.objid, 0) FROM pg_depend d
      JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'fleet_sites'
     WHERE d.deptype = 'e'
       AND NOT (d.classid = 'pg_class'::regclass AND (SELECT relkind FROM pg_class WHERE oid = d.objid) = 'S')
       AND NOT EXISTS (SELECT 1 FROM pg_description c
                        WHERE c.classoid = d.classid AND c.objoid = d.objid AND c.objsubid = 0)$$,
    'every table, view, type and function of the extension has a comment');
SELECT is_empty($$
    SELECT a.attname FROM pg_attribute a
     WHERE a.attrelid = 'fleet_building'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND col_description(a.attrelid, a.attnum) IS NULL$$,
    'every column of fleet_building has a comment');
SELECT is_empty($$
    SELECT c.rel || '.' || c.col FROM (VALUES ('fleet_rack', 'building_id'), ('fleet_rack', 'aisle_index'),
                                              ('fleet_rack', 'position_in_aisle'), ('fleet_device', 'building_id')) AS c (rel, col)
     WHERE col_description(c.rel::regclass,
                           (SELECT attnum FROM pg_attribute WHERE attrelid = c.rel::regclass AND attname = c.col)) IS NULL$$,
    'the columns 1.1 added to fleet_rack and fleet_device have comments');
SELECT is_empty($$
    SELECT a.attname FROM pg_attribute a
     WHERE a.attrelid = 'fleet_placement_violation'::regclass
       AND a.attname IN ('rule', 'device_building_id', 'rack_building_id', 'building_site_id')
       AND col_description(a.attrelid, a.attnum) IS NULL$$,
    'the columns 1.1 added to fleet_placement_violation have comments');
SELECT is_empty($$
    SELECT a.attname FROM pg_attribute a
     WHERE a.attrelid = (SELECT typrelid FROM pg_type WHERE oid = 'fleet_cascade'::regtype)
       AND a.attnum > 0 AND col_description(a.attrelid, a.attnum) IS NULL$$,
    'every attribute of fleet_cascade has a comment');
SELECT is_empty($$
    SELECT t.tgname FROM pg_trigger t
     WHERE t.tgrelid IN ('fleet_site'::regclass, 'fleet_building'::regclass) AND NOT t.tgisinternal
       AND obj_description(t.oid, 'pg_trigger') IS NULL$$,
    'the delete triggers have comments');
SELECT ok(obj_description('fleet_conflict_reason'::regtype, 'pg_type') LIKE '%building%',
          'the comment of fleet_conflict_reason covers the 1.1 reason');

SELECT * FROM finish();
ROLLBACK;
