--
-- 07_schema_search_path: installed into its own schema, the extension uses
-- its own objects whatever the caller's search_path, and never an object of
-- the same name elsewhere on that path: not a table of the same name in
-- public or pg_temp, not an = operator or now() placed before pg_catalog.
-- Its schema comes from pg_extension, so it works with no schema on the path
-- at all, and with a schema name that needs quoting. An install script never
-- adopts an object somebody else created first.
--
-- This file drops and re-creates the extension. At the end it is installed
-- in public again, as pg_regress --load-extension left it, for later files.
--
\pset null '(null)'

-- Warm this session's plans against the extension in public: the plans used
-- below must follow the extension to its new schema, not stay on the old one.
INSERT INTO fleet_site (id, name) VALUES (701, 'sp-warm');
INSERT INTO fleet_device (identifier) VALUES ('sp-warm');
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sp-warm'], 701);
DELETE FROM fleet_activity WHERE site_id = 701;
DELETE FROM fleet_device WHERE identifier = 'sp-warm';
DELETE FROM fleet_site WHERE id = 701;

DROP EXTENSION fleet_sites;

--------------------------------------------------------------------------------
-- Hostile objects, created before the extension: tables named like the
-- extension's in public (holding decoy rows that would change the outcome
-- if read), a temporary one (pg_temp is searched first for tables), and an
-- = operator for bigint and for text plus a now(), all of which log every
-- use to public.hostile_calls.
--------------------------------------------------------------------------------
CREATE TABLE public.hostile_calls (what text);
CREATE TABLE public.fleet_site (id bigint PRIMARY KEY, name text);
CREATE TABLE public.fleet_rack (id bigint PRIMARY KEY, label text, site_id bigint,
                                row_count int DEFAULT 12, column_count int DEFAULT 12);
CREATE TABLE public.fleet_device (id bigint PRIMARY KEY, identifier text, site_id bigint,
                                  updated_at timestamptz);
CREATE TABLE public.fleet_rack_membership (rack_id bigint, device_id bigint);
CREATE TABLE public.fleet_rack_slot (rack_id bigint, device_id bigint, row_index int,
                                     column_index int);
CREATE TABLE public.fleet_activity (id bigserial, occurred_at timestamptz, actor text,
                                    event_type text, site_id bigint, description text,
                                    metadata jsonb);
-- Decoys: a site 799 that exists only here, sp-1 racked at 799 here (in the
-- real tables it is free), sp-2 free here (in the real tables it is racked).
INSERT INTO public.fleet_site VALUES (799, 'decoy');
INSERT INTO public.fleet_rack (id, label, site_id) VALUES (1, 'decoy-rack', 799);
INSERT INTO public.fleet_device VALUES (1, 'sp-1', 799, NULL), (2, 'sp-2', NULL, NULL);
INSERT INTO public.fleet_rack_membership VALUES (1, 1);
CREATE TEMP TABLE fleet_device (id bigint, identifier text, site_id bigint, updated_at timestamptz);
INSERT INTO pg_temp.fleet_device VALUES (1, 'sp-1', 799, NULL), (2, 'sp-2', 799, NULL);

CREATE FUNCTION public.hostile_bigint_eq(bigint, bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.hostile_calls VALUES ('= (bigint, bigint)');
    RETURN true;
END
$$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.hostile_bigint_eq);
CREATE FUNCTION public.hostile_text_eq(text, text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.hostile_calls VALUES ('= (text, text)');
    RETURN true;
END
$$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.hostile_text_eq);
CREATE FUNCTION public.now() RETURNS timestamptz
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.hostile_calls VALUES ('now()');
    RETURN '2000-01-01 00:00:00+00';
END
$$;

-- The decoy tables' content, to prove below that nothing touched them.
CREATE FUNCTION pg_temp.decoy_fingerprint() RETURNS text
LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(concat_ws(',', id, name), ';' ORDER BY id) FROM public.fleet_site),
        (SELECT string_agg(concat_ws(',', id, label, site_id), ';' ORDER BY id) FROM public.fleet_rack),
        (SELECT string_agg(concat_ws(',', id, identifier, site_id, updated_at), ';' ORDER BY id)
           FROM public.fleet_device),
        (SELECT string_agg(concat_ws(',', rack_id, device_id), ';' ORDER BY device_id)
           FROM public.fleet_rack_membership),
        (SELECT count(*) FROM public.fleet_rack_slot),
        (SELECT count(*) FROM public.fleet_activity),
        (SELECT string_agg(concat_ws(',', id, identifier, site_id), ';' ORDER BY id)
           FROM pg_temp.fleet_device)))
$$;
SELECT pg_temp.decoy_fingerprint() AS decoy_fp \gset

--------------------------------------------------------------------------------
-- The install script does not adopt an object that is already there: a
-- table named fleet_site in the target schema makes CREATE EXTENSION fail.
--------------------------------------------------------------------------------
CREATE SCHEMA fleet;
CREATE TABLE fleet.fleet_site (id bigint);
\set VERBOSITY sqlstate
CREATE EXTENSION fleet_sites SCHEMA fleet;
\set VERBOSITY default
DROP TABLE fleet.fleet_site;

-- Installed under a hostile search_path, into schema fleet.
SET search_path = public, pg_catalog, fleet;
CREATE EXTENSION fleet_sites SCHEMA fleet;
RESET search_path;
SELECT n.nspname AS extension_schema
  FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'fleet_sites';
SELECT c.relname
  FROM pg_catalog.pg_class c
 WHERE c.relnamespace = 'fleet'::regnamespace AND c.relkind = 'r'
 ORDER BY c.relname COLLATE "C";

-- The real fleet, written with qualified names.
INSERT INTO fleet.fleet_site (id, name) VALUES (701, 'sp-a'), (702, 'sp-b');
INSERT INTO fleet.fleet_rack (id, label, site_id) VALUES (751, 'sp-rack-b', 702);
INSERT INTO fleet.fleet_device (identifier, site_id) VALUES ('sp-1', NULL), ('sp-2', 702), ('sp-3', NULL);
INSERT INTO fleet.fleet_rack_membership (rack_id, device_id)
    SELECT 751, id FROM fleet.fleet_device WHERE identifier = 'sp-2';
INSERT INTO fleet.fleet_rack_slot (rack_id, device_id, row_index, column_index)
    SELECT 751, id, 1, 1 FROM fleet.fleet_device WHERE identifier = 'sp-2';

CREATE TEMP VIEW dev AS
SELECT d.identifier, d.site_id, m.rack_id, s.row_index, s.column_index,
       d.updated_at > '2001-01-01' AS updated_at_is_real
  FROM fleet.fleet_device d
  LEFT JOIN fleet.fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet.fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id;

SELECT count(*) AS hostile_calls_so_far FROM public.hostile_calls;

--------------------------------------------------------------------------------
-- Calls under search_path = public, pg_catalog, fleet: every hostile object
-- comes first. This session's first calls since the reinstall, so the
-- statements are prepared under this path.
--------------------------------------------------------------------------------
SET search_path = public, pg_catalog, fleet;
-- The real conflict (sp-2 in rack 751 at 702), not the decoy's (sp-1 at 799).
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sp-1', 'sp-2'], 701);
-- Site 799 exists only in the decoy table: 23503.
\set VERBOSITY sqlstate
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sp-1'], 799);
\set VERBOSITY default
-- With force: sp-2 is cleared from the real rack, both move.
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sp-1', 'sp-2'], 701, true);
RESET search_path;

SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT actor = current_user AS actor_is_caller, site_id, description, metadata
  FROM fleet.fleet_activity ORDER BY id;
SELECT pg_temp.decoy_fingerprint() = :'decoy_fp' AS decoys_untouched;
SELECT what, count(*) FROM public.hostile_calls GROUP BY what ORDER BY what COLLATE "C";

--------------------------------------------------------------------------------
-- Under search_path = public, fleet (pg_catalog implicitly first, pg_temp
-- first for tables): the function is found through fleet, the tables used are
-- still fleet's.
--------------------------------------------------------------------------------
SET search_path = public, fleet;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sp-3', 'sp-2'], 702);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sp-3'], NULL);
RESET search_path;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT pg_temp.decoy_fingerprint() = :'decoy_fp' AS decoys_untouched;
SELECT count(*) AS hostile_calls FROM public.hostile_calls;

--------------------------------------------------------------------------------
-- With no usable schema on the path at all, the qualified call still works.
--------------------------------------------------------------------------------
SET search_path = '';
SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['sp-1', 'sp-nowhere'], 702);
SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['sp-1'], 702);
RESET search_path;
SELECT * FROM dev WHERE identifier = 'sp-1';
SELECT count(*) AS activity_rows, count(*) FILTER (WHERE site_id = 702) AS to_702
  FROM fleet.fleet_activity;
SELECT pg_temp.decoy_fingerprint() = :'decoy_fp' AS decoys_untouched;
SELECT count(*) AS hostile_calls FROM public.hostile_calls;

--------------------------------------------------------------------------------
-- A schema whose name needs quoting. Reinstalling also proves again that the
-- session's prepared statements follow the extension.
--------------------------------------------------------------------------------
DROP VIEW dev;
DROP EXTENSION fleet_sites;
CREATE SCHEMA "Fleet Ops";
CREATE EXTENSION fleet_sites SCHEMA "Fleet Ops";
INSERT INTO "Fleet Ops".fleet_site (id, name) VALUES (701, 'q-a');
INSERT INTO "Fleet Ops".fleet_device (identifier) VALUES ('sp-1');
SET search_path = public, pg_catalog;
SELECT * FROM "Fleet Ops".fleet_assign_devices_to_site(ARRAY['sp-1'], 701);
RESET search_path;
SELECT identifier, site_id FROM "Fleet Ops".fleet_device;
SELECT site_id, description FROM "Fleet Ops".fleet_activity;
SELECT pg_temp.decoy_fingerprint() = :'decoy_fp' AS decoys_untouched;
SELECT count(*) AS hostile_calls FROM public.hostile_calls;

--------------------------------------------------------------------------------
-- Restore: hostile objects gone, the extension back in public, empty.
--------------------------------------------------------------------------------
DROP EXTENSION fleet_sites;
DROP SCHEMA "Fleet Ops";
DROP SCHEMA fleet;
DROP TABLE pg_temp.fleet_device;
DROP OPERATOR public.= (bigint, bigint);
DROP OPERATOR public.= (text, text);
DROP FUNCTION public.hostile_bigint_eq(bigint, bigint);
DROP FUNCTION public.hostile_text_eq(text, text);
DROP FUNCTION public.now();
DROP TABLE public.fleet_site, public.fleet_rack, public.fleet_device, public.fleet_rack_membership,
    public.fleet_rack_slot, public.fleet_activity, public.hostile_calls;
CREATE EXTENSION fleet_sites SCHEMA public;
SELECT n.nspname AS extension_schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'fleet_sites';
-- and it works there again in this same session
INSERT INTO fleet_site (id, name) VALUES (701, 'sp-back');
INSERT INTO fleet_device (identifier) VALUES ('sp-back');
SELECT * FROM fleet_assign_devices_to_site(ARRAY['sp-back'], 701);
SELECT identifier, site_id FROM fleet_device WHERE identifier = 'sp-back';
DELETE FROM fleet_activity;
DELETE FROM fleet_device WHERE identifier = 'sp-back';
DELETE FROM fleet_site WHERE id = 701;
