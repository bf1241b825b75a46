-- test/fuzz/fuzz.sql: the property-based fuzz of fleet_sites, in PL/pgSQL.
--
-- Loaded by test/tap/fuzz.t into a scratch database that already has
-- CREATE EXTENSION fleet_sites (in schema public). Everything here lives in
-- schema fleet_fuzz.
--
-- One round = one transaction: reset the tables, build a random fleet
-- (sites, buildings with and without a layout and a site, racks in buildings
-- with and without positions, devices in racks, in buildings, or loose),
-- then make random calls of the six move functions, interleaved with plain
-- INSERT/UPDATE/DELETE statements on the placement tables (the guards).
-- Each call is checked against a MODEL of the contract (spec/api.md, and
-- /work/dev/choices.md where the contract is silent) that is written here
-- from the contract alone: the model keeps its own copy of the fleet in
-- arrays, predicts the result of every call (the SQLSTATE, or the exact
-- conflict list in order, or the exact fleet_cascade row, the exact new
-- state and the audit row), and after every call the database must agree
-- with it, every row the call had no business touching must be the very
-- same row version (ctid), and the placement invariant (rules 1-5, and the
-- view fleet_placement_violation) must hold.
--
-- All randomness comes from random() after setseed(), in one backend, so a
-- (seed, round) pair replays exactly. Device, rack, building and site ids
-- are explicit (1..n) in every round, so a replayed round sees the same ids.
--
-- Layout:
--   fleet, call, expectation, state, outcome   the types
--   bulk                               the 10,001-element arrays (54000)
--   role_labels, role_rights, gate     the test roles, what each may do, the gate
--   gen_fleet                          random fleet, written and returned
--   gen_caller, gen_ids, gen_nums, gen_force, gen_pairs, gen_slots, gen_positions
--                                      the parts of a random call
--   gen_call                           one random call (op: one of the six
--                                      functions, or direct)
--   *_input_states                     the contract's bad-input table
--   expect_site, expect_rack, expect_building,
--   expect_racks_site, expect_racks_building, expect_buildings_site
--                                      the models of the six functions
--   model_problem, gen_direct, expect_direct
--                                      the direct writes and their model
--   run_call                           makes the call (as the chosen role)
--   capture, render_*, invariant_problems, check_call
--                                      looking at the tables, comparing
--   round                              one round; returns counts and failures

CREATE SCHEMA fleet_fuzz;

-- The model's fleet. Sites are 1..nsites. Building i is b_*[i]; rack i is
-- r_*[i]; device i is d_*[i] (its id is i). NULL means "none" everywhere:
-- no site, no building, no layout, no position, no rack, no slot. by_ident
-- maps identifier -> device id.
CREATE TYPE fleet_fuzz.fleet AS (
    nsites   int,
    b_name   text[],
    b_site   bigint[],
    b_aisles int[],
    b_per    int[],
    r_site   bigint[],
    r_rows   int[],
    r_cols   int[],
    r_bldg   bigint[],
    r_aisle  int[],
    r_pos    int[],
    d_ident  text[],
    d_site   bigint[],
    d_bldg   bigint[],
    d_rack   bigint[],
    d_row    int[],
    d_col    int[],
    by_ident jsonb
);

-- One call. op: site, rack, building (the device moves), racks_site,
-- racks_building, buildings_site (the container moves), direct (a plain
-- INSERT, UPDATE or DELETE on a placement table). ids are device
-- identifiers, nums rack or building ids. nargs: how many arguments are
-- passed (the rest take their defaults). ar/ac: row_indexes/column_indexes
-- of the rack move, aisle_indexes/positions_in_aisle of the racks-into-a-
-- building move. rights: what the calling role holds (see role_rights);
-- NULL for the superuser running the fuzz.
CREATE TYPE fleet_fuzz.call AS (
    op      text,
    ids     text[],
    nums    bigint[],
    target  bigint,
    force   boolean,
    nargs   int,
    ar      int[],
    ac      int[],
    role    name,
    label   text,
    rights  text[],
    actor   text,
    kind    text,       -- op direct: which statement (see gen_direct)
    params  bigint[],   -- op direct: its values (NULL elements are NULL values)
    str     text        -- op direct: an identifier or a name
);

-- What the model predicts. Either states (the acceptable SQLSTATEs of an
-- error; the contract does not order the bad-input rules among themselves,
-- nor the checks made under the locks, so when several apply any of them is
-- right) with msg_regex (what the message must name), or a result:
-- conflicts (in order; device moves) or cascade (container moves) and, when
-- applied, the fleet after the call, the rows the call may rewrite, and the
-- audit row.
CREATE TYPE fleet_fuzz.expectation AS (
    states       text[],
    msg_regex    text,
    conflicts    public.fleet_conflict[],
    cascade      public.fleet_cascade,
    applied      boolean,
    after        fleet_fuzz.fleet,
    touch_b      int[],      -- buildings the call may rewrite
    touch_r      int[],      -- racks it may rewrite
    touch_d      int[],      -- devices it may rewrite
    touch_m      boolean,    -- and whether their memberships and slots may change
    n_devices    int,        -- distinct identifiers / ids named (audit sample coverage)
    event_type   text,
    audit_site   bigint,
    description  text,
    metadata     jsonb,      -- without force_cleared_device_identifiers
    cleared      text[],     -- identifiers whose membership the force clear deleted
    tags         text[]      -- which rules the call exercises (coverage, see round)
);

-- Every row of every table as it is (ctid and values), the audit rows and
-- the activity sequence, and fleet_last_activity_id().
CREATE TYPE fleet_fuzz.state AS (
    sites        text[],
    buildings    text[],     -- ordered by id (ids are 1..n: element i is row i)
    racks        text[],
    devices      text[],
    memberships  text[],     -- 'device_id|ctid|row', ordered by device_id
    slots        text[],     -- the same
    activity_max bigint,
    activity     text,       -- digest of every activity row
    seq          text,
    last_id      bigint
);

-- What a call did: the SQLSTATE and message (with detail) of its error, or
-- its rows (device moves) or its fleet_cascade row (container moves), and
-- fleet_last_activity_id() right after it, asked by the caller (who has no
-- privilege on fleet_activity).
CREATE TYPE fleet_fuzz.outcome AS (
    state    text,
    message  text,
    result   public.fleet_conflict[],
    cascade  public.fleet_cascade,
    last_id  bigint
);

CREATE FUNCTION fleet_fuzz.rnd(lo int, hi int) RETURNS int
    LANGUAGE sql VOLATILE
    AS $$ SELECT lo + floor(random() * (hi - lo + 1))::int $$;

CREATE FUNCTION fleet_fuzz.chance(p float8) RETURNS boolean
    LANGUAGE sql VOLATILE
    AS $$ SELECT random() < p $$;

CREATE FUNCTION fleet_fuzz.nb(f fleet_fuzz.fleet) RETURNS int
    LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(cardinality(f.b_name), 0) $$;
CREATE FUNCTION fleet_fuzz.nr(f fleet_fuzz.fleet) RETURNS int
    LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(cardinality(f.r_rows), 0) $$;
CREATE FUNCTION fleet_fuzz.nd(f fleet_fuzz.fleet) RETURNS int
    LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(cardinality(f.d_ident), 0) $$;

-- The distinct elements of an array in first-occurrence order (any lower bound).
CREATE FUNCTION fleet_fuzz.distinct_text(a text[]) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (
    SELECT coalesce(array_agg(v ORDER BY first_at), '{}')
      FROM (SELECT v, min(o) AS first_at FROM unnest(a) WITH ORDINALITY u(v, o) GROUP BY v) s
    );
END $$;
CREATE FUNCTION fleet_fuzz.distinct_bigint(a bigint[]) RETURNS bigint[]
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (
    SELECT coalesce(array_agg(v ORDER BY first_at), '{}')
      FROM (SELECT v, min(o) AS first_at FROM unnest(a) WITH ORDINALITY u(v, o) GROUP BY v) s
    );
END $$;
CREATE FUNCTION fleet_fuzz.sorted(a bigint[]) RETURNS bigint[]
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (
    SELECT coalesce(array_agg(DISTINCT v ORDER BY v), '{}') FROM unnest(a) u(v)
    );
END $$;

-- The big arrays of the 54000 rule, made once: 10,001 distinct identifiers
-- and rack/building ids, and 10,000 distinct (the ids with 4 repeated).
CREATE TABLE fleet_fuzz.bulk (n int PRIMARY KEY, ids text[], nums bigint[]);
INSERT INTO fleet_fuzz.bulk
SELECT 10001, array_agg('bulk-' || g ORDER BY g), array_agg(g::bigint ORDER BY g) FROM generate_series(1, 10001) g;
INSERT INTO fleet_fuzz.bulk
SELECT 10000, array_agg('bulk-' || g ORDER BY g) FILTER (WHERE g <= 10000),
       array_agg((g % 10000 + 1)::bigint ORDER BY g) FROM generate_series(1, 10004) g;

-------------------------------------------------------------------------------
-- Roles
-------------------------------------------------------------------------------

-- The roles the fuzz calls as (besides the superuser). Every role may read
-- fleet_site, fleet_rack, fleet_device, fleet_rack_membership and
-- fleet_rack_slot (the 1.0 reading rights); what else each holds is one of
-- these rights:
--   dev_u   UPDATE on fleet_device               (the "site manage" right)
--   mem_i   INSERT on fleet_rack_membership
--   mem_d   DELETE on fleet_rack_membership      (the "rack manage" right)
--   slot_i  INSERT on fleet_rack_slot
--   slot_d  DELETE on fleet_rack_slot
--   rack_u  UPDATE on fleet_rack
--   bld_u   UPDATE on fleet_building
--   bld_s   SELECT on fleet_building
-- Chosen so that every function meets callers with all it needs, and with
-- all but one of the things it needs.
CREATE FUNCTION fleet_fuzz.role_labels() RETURNS text[]
    LANGUAGE sql IMMUTABLE AS $$
SELECT ARRAY['none', 'site', 'rack', 'both', 'del', 'bsel', 'bsite', 'bboth', 'slots',
             'slotsu', 'slotins', 'racks', 'racksb', 'rackub', 'bldgs', 'bldnor', 'bldnos',
             'all']
$$;

CREATE FUNCTION fleet_fuzz.role_rights(label text) RETURNS text[]
    LANGUAGE sql IMMUTABLE AS $$
SELECT CASE label
    WHEN 'none'    THEN '{}'::text[]
    WHEN 'site'    THEN '{dev_u}'
    WHEN 'rack'    THEN '{mem_i,mem_d}'
    WHEN 'both'    THEN '{dev_u,mem_i,mem_d}'                       -- the 1.0 grants
    WHEN 'del'     THEN '{dev_u,mem_d}'
    WHEN 'bsel'    THEN '{bld_s}'
    WHEN 'bsite'   THEN '{dev_u,bld_s}'
    WHEN 'bboth'   THEN '{dev_u,mem_d,bld_s}'
    WHEN 'slots'   THEN '{mem_i,mem_d,slot_i,slot_d}'               -- rack-only, with slots
    WHEN 'slotsu'  THEN '{dev_u,mem_i,mem_d,slot_i,slot_d}'
    WHEN 'slotins' THEN '{dev_u,mem_i,mem_d,slot_i}'                -- no DELETE on slots
    WHEN 'racks'   THEN '{dev_u,rack_u}'
    WHEN 'racksb'  THEN '{dev_u,rack_u,bld_s}'
    WHEN 'rackub'  THEN '{rack_u,bld_s}'                            -- no UPDATE on devices
    WHEN 'bldgs'   THEN '{dev_u,rack_u,bld_u,bld_s}'
    WHEN 'bldnor'  THEN '{dev_u,bld_u,bld_s}'                       -- no UPDATE on racks
    WHEN 'bldnos'  THEN '{dev_u,rack_u,bld_u}'                      -- no SELECT on buildings
    WHEN 'all'     THEN '{dev_u,mem_i,mem_d,slot_i,slot_d,rack_u,bld_u,bld_s}'
END
$$;

-- The privilege a right stands for, as a regex for the 42501 message and
-- detail, which name the privilege and the table.
CREATE FUNCTION fleet_fuzz.right_regex(r text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT CASE r
    WHEN 'dev_u'  THEN '\mUPDATE\M.*\mfleet_device\M'
    WHEN 'mem_i'  THEN '\mINSERT\M.*\mfleet_rack_membership\M'
    WHEN 'mem_d'  THEN '\mDELETE\M.*\mfleet_rack_membership\M'
    WHEN 'slot_i' THEN '\mINSERT\M.*\mfleet_rack_slot\M'
    WHEN 'slot_d' THEN '\mDELETE\M.*\mfleet_rack_slot\M'
    WHEN 'rack_u' THEN '\mUPDATE\M.*\mfleet_rack\M'
    WHEN 'bld_u'  THEN '\mUPDATE\M.*\mfleet_building\M'
    WHEN 'bld_s'  THEN '\mSELECT\M.*\mfleet_building\M'
END
$$;

-- Grant the rights (roles[i] is role_labels()[i]). Nobody gets anything on
-- fleet_activity.
CREATE FUNCTION fleet_fuzz.grant_roles(roles name[]) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    labels text[] := fleet_fuzz.role_labels();
    i int;
    r text;
    grants text := '';
BEGIN
    FOR i IN 1 .. cardinality(labels) LOOP
        EXECUTE format('GRANT SELECT ON public.fleet_site, public.fleet_rack, public.fleet_device,'
                       ' public.fleet_rack_membership, public.fleet_rack_slot TO %I', roles[i]);
        FOREACH r IN ARRAY fleet_fuzz.role_rights(labels[i]) LOOP
            EXECUTE format('GRANT %s TO %I', CASE r
                WHEN 'dev_u'  THEN 'UPDATE ON public.fleet_device'
                WHEN 'mem_i'  THEN 'INSERT ON public.fleet_rack_membership'
                WHEN 'mem_d'  THEN 'DELETE ON public.fleet_rack_membership'
                WHEN 'slot_i' THEN 'INSERT ON public.fleet_rack_slot'
                WHEN 'slot_d' THEN 'DELETE ON public.fleet_rack_slot'
                WHEN 'rack_u' THEN 'UPDATE ON public.fleet_rack'
                WHEN 'bld_u'  THEN 'UPDATE ON public.fleet_building'
                WHEN 'bld_s'  THEN 'SELECT ON public.fleet_building' END, roles[i]);
        END LOOP;
    END LOOP;
END $$;

-- Does the caller hold right r? The superuser (rights NULL) holds all.
CREATE FUNCTION fleet_fuzz.holds(c fleet_fuzz.call, r text) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$ SELECT c.rights IS NULL OR r = ANY (c.rights) $$;

-- The privilege gate: which of the needed rights the caller lacks; sets e to
-- the 42501 it predicts and returns true when some are missing.
-- (e.states is set when they are.)
CREATE FUNCTION fleet_fuzz.gate(c fleet_fuzz.call, needed text[], e fleet_fuzz.expectation)
RETURNS fleet_fuzz.expectation
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    missing text[];
BEGIN
    SELECT array_agg(r) INTO missing FROM unnest(needed) u(r) WHERE NOT fleet_fuzz.holds(c, r);
    IF missing IS NOT NULL THEN
        e.states := ARRAY['42501'];
        SELECT '(' || string_agg(fleet_fuzz.right_regex(r), '|') || ')' INTO e.msg_regex
          FROM unnest(missing) u(r);
        e.tags := coalesce(e.tags, '{}') || (c.op || ' 42501 ' || array_to_string(missing, '+'));
    END IF;
    RETURN e;
END $$;

-------------------------------------------------------------------------------
-- Identifiers
-------------------------------------------------------------------------------

-- A device identifier, unique by i: ASCII, upper case (sorts before lower case
-- in byte order), Cyrillic, emoji, exactly 256 characters (ASCII, and
-- multibyte: 256 characters but more than 256 bytes), spaces, underscores,
-- and the characters JSON must escape in the audit's identifier lists (a
-- double quote, a backslash, a tab).
CREATE FUNCTION fleet_fuzz.gen_ident(i int) RETURNS text
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    CASE fleet_fuzz.rnd(0, 12)
        WHEN 0, 1, 2, 3 THEN RETURN 'dev-' || i;
        WHEN 4 THEN RETURN 'Dev-' || i;
        WHEN 5 THEN RETURN 'прибор-' || i;
        WHEN 6 THEN RETURN '⚡' || i || '-é';
        WHEN 7 THEN RETURN rpad('L' || i || '-', 256, 'x');
        WHEN 8 THEN RETURN rpad('Ł' || i || '-', 256, 'ß');
        WHEN 9 THEN RETURN 'dev ' || i || ' ';
        WHEN 10 THEN RETURN '_' || i;
        WHEN 11 THEN RETURN 'q"' || i || E'\\\t';
        ELSE RETURN 'Z' || i || 'z';
    END CASE;
END $$;

-- An identifier that is (most likely) not in the fleet; it may still collide
-- with one, which is fine: the model looks every identifier up.
CREATE FUNCTION fleet_fuzz.gen_unknown(f fleet_fuzz.fleet) RETURNS text
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n int := fleet_fuzz.nd(f);
    pick text;
BEGIN
    IF n > 0 THEN
        pick := f.d_ident[fleet_fuzz.rnd(1, n)];
    ELSE
        pick := 'dev-1';
    END IF;
    CASE fleet_fuzz.rnd(0, 6)
        WHEN 0 THEN RETURN 'ghost-' || fleet_fuzz.rnd(1, 30);
        WHEN 1 THEN RETURN upper(pick);
        WHEN 2 THEN RETURN pick || ' ';
        WHEN 3 THEN RETURN ' ' || pick;
        WHEN 4 THEN RETURN 'ghöst-' || fleet_fuzz.rnd(1, 30);
        WHEN 5 THEN RETURN rpad('G' || fleet_fuzz.rnd(1, 30), 256, 'é');   -- 256 chars: valid
        ELSE RETURN 'dev-' || (n + fleet_fuzz.rnd(1, 5));
    END CASE;
END $$;

-------------------------------------------------------------------------------
-- The fleet
-------------------------------------------------------------------------------

-- Empty the tables, build a random fleet in them (placement invariant true,
-- every row written in an order that keeps it true at each step), and
-- return the model's copy.
CREATE FUNCTION fleet_fuzz.gen_fleet() RETURNS fleet_fuzz.fleet
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    f fleet_fuzz.fleet;
    nb int;
    nracks int;
    ndev int;
    used int[] := '{}';          -- members per rack
    occupied text[] := '{}';     -- 'rack:row:col'
    b_racks int[] := '{}';       -- racks per building
    b_cells text[] := '{}';      -- 'building:aisle:position'
    names text[] := ARRAY['hall-A', 'hall-B', 'Halle-ü', 'hall-A '];
    i int;
    j int;
    rack int;
    bldg int;
    site bigint;
    cell text;
    r int;
    c int;
    try int;
    big boolean;
    wide boolean;
    nm text;
BEGIN
    -- DELETE (TRUNCATE costs more than a round's calls); fuzz.t vacuums the
    -- tables every few rounds so that they do not bloat over a run.
    DELETE FROM public.fleet_rack_slot;
    DELETE FROM public.fleet_rack_membership;
    DELETE FROM public.fleet_device;
    DELETE FROM public.fleet_rack;
    DELETE FROM public.fleet_building;
    DELETE FROM public.fleet_site;
    DELETE FROM public.fleet_activity;
    PERFORM pg_catalog.setval(pg_catalog.pg_get_serial_sequence('public.fleet_activity', 'id'), 1, false);

    f.nsites := fleet_fuzz.rnd(0, 4);
    f.b_name := '{}'; f.b_site := '{}'; f.b_aisles := '{}'; f.b_per := '{}';
    f.r_site := '{}'; f.r_rows := '{}'; f.r_cols := '{}';
    f.r_bldg := '{}'; f.r_aisle := '{}'; f.r_pos := '{}';
    f.d_ident := '{}'; f.d_site := '{}'; f.d_bldg := '{}'; f.d_rack := '{}';
    f.d_row := '{}'; f.d_col := '{}';
    f.by_ident := '{}';

    FOR i IN 1 .. f.nsites LOOP
        INSERT INTO public.fleet_site (id, name) VALUES (i, 'site-' || i);
    END LOOP;

    -- One fleet in twelve is big (more than 50 devices, racks up to 12 x 12),
    -- so that the audit's 50-identifier samples are reached; one in twenty
    -- is wide (more than 50 racks, more than 50 buildings), for the audit's
    -- 50-id samples of rack and building ids.
    big := fleet_fuzz.chance(1.0 / 12);
    wide := NOT big AND fleet_fuzz.chance(1.0 / 20);

    -- Buildings: a small layout (capacity 1..6) or none; a site or none.
    -- Names from a small pool, so that a building move meets a clash, unique
    -- among the buildings of one site.
    nb := CASE WHEN wide THEN fleet_fuzz.rnd(51, 60) WHEN fleet_fuzz.chance(0.08) THEN 0
               ELSE fleet_fuzz.rnd(1, 4) END;
    FOR i IN 1 .. nb LOOP
        IF f.nsites = 0 OR fleet_fuzz.chance(0.3) THEN
            site := NULL;
        ELSE
            site := fleet_fuzz.rnd(1, f.nsites);
        END IF;
        nm := NULL;
        FOR try IN 1 .. 3 LOOP
            nm := names[fleet_fuzz.rnd(1, cardinality(names))];
            EXIT WHEN site IS NULL;
            EXIT WHEN NOT EXISTS (SELECT 1 FROM generate_subscripts(f.b_name, 1) k
                                   WHERE f.b_site[k] = site AND f.b_name[k] = nm);
            nm := NULL;
        END LOOP;
        nm := coalesce(nm, 'hall-' || i);
        f.b_name[i] := nm;
        f.b_site[i] := site;
        IF fleet_fuzz.chance(0.55) THEN
            f.b_aisles[i] := fleet_fuzz.rnd(1, 2);
            f.b_per[i] := fleet_fuzz.rnd(1, 3);
        ELSE
            f.b_aisles[i] := NULL;
            f.b_per[i] := NULL;
        END IF;
        b_racks[i] := 0;
        INSERT INTO public.fleet_building (id, name, site_id, aisle_count, racks_per_aisle)
        VALUES (i, nm, site, f.b_aisles[i], f.b_per[i]);
    END LOOP;

    -- Racks: about half in a building (within its capacity; in a building
    -- with a layout mostly at a position), the others at a site or none.
    nracks := CASE WHEN wide THEN fleet_fuzz.rnd(51, 70) WHEN fleet_fuzz.chance(0.06) THEN 0
                   WHEN big THEN fleet_fuzz.rnd(1, 8) ELSE fleet_fuzz.rnd(1, 7) END;
    FOR i IN 1 .. nracks LOOP
        f.r_rows[i] := fleet_fuzz.rnd(1, CASE WHEN big THEN 12 ELSE 3 END);
        f.r_cols[i] := fleet_fuzz.rnd(1, CASE WHEN big THEN 12 ELSE 3 END);
        f.r_bldg[i] := NULL; f.r_aisle[i] := NULL; f.r_pos[i] := NULL;
        used[i] := 0;
        bldg := NULL;
        IF nb > 0 AND fleet_fuzz.chance(0.65) THEN
            bldg := fleet_fuzz.rnd(1, nb);
            IF f.b_aisles[bldg] IS NOT NULL AND b_racks[bldg] >= f.b_aisles[bldg] * f.b_per[bldg] THEN
                bldg := NULL;
            END IF;
        END IF;
        IF bldg IS NOT NULL THEN
            f.r_bldg[i] := bldg;
            f.r_site[i] := f.b_site[bldg];
            b_racks[bldg] := b_racks[bldg] + 1;
            IF f.b_aisles[bldg] IS NOT NULL AND fleet_fuzz.chance(0.7) THEN
                FOR try IN 1 .. 6 LOOP
                    r := fleet_fuzz.rnd(0, f.b_aisles[bldg] - 1);
                    c := fleet_fuzz.rnd(0, f.b_per[bldg] - 1);
                    cell := bldg || ':' || r || ':' || c;
                    IF NOT cell = ANY (b_cells) THEN
                        b_cells := b_cells || cell;
                        f.r_aisle[i] := r;
                        f.r_pos[i] := c;
                        EXIT;
                    END IF;
                END LOOP;
            END IF;
        ELSIF f.nsites = 0 OR fleet_fuzz.chance(0.3) THEN
            f.r_site[i] := NULL;
        ELSE
            f.r_site[i] := fleet_fuzz.rnd(1, f.nsites);
        END IF;
        INSERT INTO public.fleet_rack (id, label, site_id, row_count, column_count,
                                       building_id, aisle_index, position_in_aisle)
        VALUES (i, 'rack-' || i, f.r_site[i], f.r_rows[i], f.r_cols[i],
                f.r_bldg[i], f.r_aisle[i], f.r_pos[i]);
    END LOOP;

    -- Devices: in a rack (its site and building), in a building (its site),
    -- or at a site or none.
    ndev := CASE WHEN big THEN fleet_fuzz.rnd(51, 120) ELSE fleet_fuzz.rnd(0, 20) END;
    FOR i IN 1 .. ndev LOOP
        f.d_ident[i] := fleet_fuzz.gen_ident(i);
        f.d_rack[i] := NULL; f.d_row[i] := NULL; f.d_col[i] := NULL; f.d_bldg[i] := NULL;
        rack := NULL;
        IF nracks > 0 AND fleet_fuzz.chance(0.55) THEN
            rack := fleet_fuzz.rnd(1, nracks);
            IF used[rack] >= f.r_rows[rack] * f.r_cols[rack] THEN
                rack := NULL;
            END IF;
        END IF;
        IF rack IS NOT NULL THEN
            f.d_site[i] := f.r_site[rack];
            f.d_bldg[i] := f.r_bldg[rack];
        ELSIF nb > 0 AND fleet_fuzz.chance(0.35) THEN
            f.d_bldg[i] := fleet_fuzz.rnd(1, nb);
            f.d_site[i] := f.b_site[f.d_bldg[i]];
        ELSIF f.nsites > 0 AND fleet_fuzz.chance(0.75) THEN
            f.d_site[i] := fleet_fuzz.rnd(1, f.nsites);
        ELSE
            f.d_site[i] := NULL;
        END IF;
        -- An updated_at before the round, so that a write of now() shows.
        INSERT INTO public.fleet_device (id, identifier, site_id, building_id, updated_at)
        VALUES (i, f.d_ident[i], f.d_site[i], f.d_bldg[i],
                timestamptz '2000-01-01 00:00+00' + i * interval '1 minute');
        f.by_ident := f.by_ident || jsonb_build_object(f.d_ident[i], i);

        IF rack IS NOT NULL THEN
            f.d_rack[i] := rack;
            used[rack] := used[rack] + 1;
            INSERT INTO public.fleet_rack_membership (rack_id, device_id) VALUES (rack, i);
            IF fleet_fuzz.chance(0.6) THEN
                FOR try IN 1 .. 4 LOOP
                    r := fleet_fuzz.rnd(0, f.r_rows[rack] - 1);
                    c := fleet_fuzz.rnd(0, f.r_cols[rack] - 1);
                    cell := rack || ':' || r || ':' || c;
                    IF NOT cell = ANY (occupied) THEN
                        occupied := occupied || cell;
                        f.d_row[i] := r;
                        f.d_col[i] := c;
                        INSERT INTO public.fleet_rack_slot (rack_id, device_id, row_index, column_index)
                        VALUES (rack, i, r, c);
                        EXIT;
                    END IF;
                END LOOP;
            END IF;
        END IF;
    END LOOP;
    RETURN f;
END $$;

-------------------------------------------------------------------------------
-- Random calls
-------------------------------------------------------------------------------

-- The roles that matter most to a function: those that hold what it
-- needs, and those that lack one thing of it.
CREATE FUNCTION fleet_fuzz.near_roles(op text) RETURNS text[]
    LANGUAGE sql IMMUTABLE AS $$
SELECT CASE op
    WHEN 'site'           THEN ARRAY['site', 'both', 'del', 'rack', 'all']
    WHEN 'rack'           THEN ARRAY['rack', 'both', 'slots', 'slots', 'slotsu', 'slotins', 'site', 'all']
    WHEN 'building'       THEN ARRAY['bsite', 'bboth', 'both', 'site', 'bsel', 'all']
    WHEN 'racks_site'     THEN ARRAY['racks', 'racksb', 'rackub', 'site', 'all']
    WHEN 'racks_building' THEN ARRAY['racksb', 'racks', 'rackub', 'bldgs', 'bldnos', 'all']
    WHEN 'buildings_site' THEN ARRAY['bldgs', 'bldnor', 'bldnos', 'racksb', 'all']
END
$$;

-- Who calls, and the actor recorded. roles are the test roles (parallel to
-- role_labels()), or NULL to call only as the superuser. A quarter of the
-- calls are made by a role, most of them by one that matters to op.
CREATE FUNCTION fleet_fuzz.gen_caller(roles name[], op text, OUT role name, OUT label text,
                                      OUT rights text[], OUT actor text)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p float8;
    i int;
    near text[];
BEGIN
    p := random();
    IF roles IS NULL OR p < 0.75 THEN
        role := NULL; label := 'superuser'; rights := NULL;
    ELSE
        IF fleet_fuzz.chance(0.6) THEN
            near := fleet_fuzz.near_roles(op);
            i := array_position(fleet_fuzz.role_labels(), near[fleet_fuzz.rnd(1, cardinality(near))]);
        ELSE
            i := fleet_fuzz.rnd(1, cardinality(roles));
        END IF;
        role := roles[i];
        label := (fleet_fuzz.role_labels())[i];
        rights := fleet_fuzz.role_rights(label);
    END IF;

    -- The recorded actor: unset, empty, or a name (ASCII or not).
    p := random();
    IF p < 0.65 THEN actor := NULL;
    ELSIF p < 0.75 THEN actor := '';
    ELSIF p < 0.9 THEN actor := 'ops-' || fleet_fuzz.rnd(1, 9);
    ELSE actor := 'опер"атор\' || fleet_fuzz.rnd(1, 9);
    END IF;
END $$;

-- Give array a the lower bound lb (same elements, same order).
CREATE FUNCTION fleet_fuzz.rebase(a anyarray, lb int) RETURNS anyarray
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    out_a a%TYPE;
    i int;
    n int := coalesce(cardinality(a), 0);
BEGIN
    IF a IS NULL OR array_ndims(a) IS DISTINCT FROM 1 THEN
        RETURN a;
    END IF;
    out_a := a[0:-1];       -- empty, of the right type
    FOR i IN 1 .. n LOOP
        out_a[lb + i - 1] := a[array_lower(a, 1) + i - 1];
    END LOOP;
    RETURN out_a;
END $$;

-- The identifiers of a device move: mostly devices of the fleet, some
-- unknown, some duplicated, now and then every bad-input rule, and lower
-- bounds other than 1.
CREATE FUNCTION fleet_fuzz.gen_ids(f fleet_fuzz.fleet) RETURNS text[]
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    ids text[];
    ndev int := fleet_fuzz.nd(f);
    elems text[] := '{}';
    k int;
    i int;
    x text;
    p float8;
    unknown_p float8;
BEGIN
    p := random();
    IF p < 0.015 THEN
        ids := NULL;
    ELSIF p < 0.03 THEN
        ids := '{}';
    ELSIF p < 0.05 THEN
        -- two dimensions
        ids := ARRAY[ARRAY[fleet_fuzz.gen_unknown(f), CASE WHEN ndev > 0 THEN f.d_ident[1] ELSE 'a' END],
                     ARRAY[CASE WHEN fleet_fuzz.chance(0.3) THEN NULL ELSE 'b' END, 'c']];
    ELSIF p < 0.0565 THEN
        -- more than 10,000 distinct: 54000
        ids := (SELECT b.ids FROM fleet_fuzz.bulk b WHERE b.n = 10001);
    ELSIF p < 0.058 THEN
        -- exactly 10,000 distinct (some of them real devices, one duplicated)
        ids := (SELECT b.ids FROM fleet_fuzz.bulk b WHERE b.n = 10000)[1:10000 - least(ndev, 5)];
        FOR i IN 1 .. least(ndev, 5) LOOP
            ids := ids || f.d_ident[fleet_fuzz.rnd(1, ndev)] || ('bulk-' || fleet_fuzz.rnd(1, 9000));
        END LOOP;
    ELSE
        p := random();
        k := CASE WHEN ndev > 50 AND p < 0.3 THEN fleet_fuzz.rnd(40, 2 * ndev)
                  WHEN p < 0.85 THEN fleet_fuzz.rnd(1, 6)
                  ELSE fleet_fuzz.rnd(7, 30) END;
        -- A quarter of the calls name unknown identifiers too.
        unknown_p := CASE WHEN fleet_fuzz.chance(0.3) OR ndev = 0 THEN 0.3 ELSE 0 END;
        FOR i IN 1 .. k LOOP
            p := random();
            IF p < unknown_p THEN
                x := fleet_fuzz.gen_unknown(f);
            ELSIF p < unknown_p + 0.15 AND i > 1 THEN
                x := elems[fleet_fuzz.rnd(1, i - 1)];           -- duplicate
            ELSIF ndev > 0 THEN
                x := f.d_ident[fleet_fuzz.rnd(1, ndev)];
            ELSE
                x := fleet_fuzz.gen_unknown(f);
            END IF;
            elems[i] := x;
        END LOOP;
        -- One call in twelve has one bad element somewhere.
        IF fleet_fuzz.chance(1.0 / 12) THEN
            elems[fleet_fuzz.rnd(1, k)] := (ARRAY[NULL,                      -- 22004
                                                  '',                        -- 22023
                                                  rpad('T', 257, 'x'),         -- 22023
                                                  rpad('Ж', 257, 'ж')]         -- 22023, 514 bytes
                                           )[fleet_fuzz.rnd(1, 4)];
        END IF;
        -- Lower bound: usually 1, sometimes anything (the array is the same list).
        IF fleet_fuzz.chance(0.7) THEN
            ids := elems;
        ELSE
            ids := fleet_fuzz.rebase(elems, fleet_fuzz.rnd(-5, 10));
        END IF;
    END IF;
    RETURN ids;
END $$;

-- The rack or building ids of a container move, n of which exist (1..n):
-- mostly existing ones, some duplicated, some missing, now and then every
-- bad-input rule, and lower bounds other than 1.
CREATE FUNCTION fleet_fuzz.gen_nums(n int) RETURNS bigint[]
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    nums bigint[] := '{}';
    k int;
    i int;
    p float8;
BEGIN
    p := random();
    IF p < 0.015 THEN
        RETURN NULL;
    ELSIF p < 0.03 THEN
        RETURN '{}';
    ELSIF p < 0.055 THEN
        RETURN ARRAY[ARRAY[1, 2], ARRAY[CASE WHEN fleet_fuzz.chance(0.3) THEN NULL ELSE 3 END, 4]]::bigint[];
    ELSIF p < 0.0615 THEN
        RETURN (SELECT b.nums FROM fleet_fuzz.bulk b WHERE b.n = 10001);   -- 54000
    ELSIF p < 0.063 THEN
        -- exactly 10,000 distinct (and some duplicated): not 54000
        RETURN (SELECT b.nums FROM fleet_fuzz.bulk b WHERE b.n = 10000);
    END IF;
    p := random();
    k := CASE WHEN n > 50 AND p < 0.3 THEN fleet_fuzz.rnd(45, n + 5)
              WHEN p < 0.9 THEN fleet_fuzz.rnd(1, 3)
              ELSE fleet_fuzz.rnd(4, 8) END;
    FOR i IN 1 .. k LOOP
        p := random();
        IF n = 0 OR p < 0.025 THEN
            nums[i] := n + fleet_fuzz.rnd(1, 3);                     -- missing: 23503
        ELSIF p < 0.03 THEN
            nums[i] := 9223372036854775807;
        ELSIF p < 0.2 AND i > 1 THEN
            nums[i] := nums[fleet_fuzz.rnd(1, i - 1)];               -- duplicate
        ELSE
            nums[i] := fleet_fuzz.rnd(1, n);
        END IF;
    END LOOP;
    IF fleet_fuzz.chance(1.0 / 15) THEN
        nums[fleet_fuzz.rnd(1, k)] := (ARRAY[NULL, 0, -1, -9223372036854775808]::bigint[])[fleet_fuzz.rnd(1, 4)];
    END IF;
    IF fleet_fuzz.chance(0.3) THEN
        nums := fleet_fuzz.rebase(nums, fleet_fuzz.rnd(-5, 10));
    END IF;
    RETURN nums;
END $$;

-- force_clear, and whether to leave it to its default (nargs 2).
CREATE FUNCTION fleet_fuzz.gen_force(OUT force boolean, OUT nargs int)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p float8 := random();
BEGIN
    IF p < 0.45 THEN
        force := true; nargs := 3;
    ELSIF p < 0.98 THEN
        force := false; nargs := CASE WHEN fleet_fuzz.chance(0.3) THEN 2 ELSE 3 END;
    ELSE
        force := NULL; nargs := 3;                        -- 22004
    END IF;
END $$;

-- A site target: existing, NULL, the site of something in the fleet, missing
-- (23503) or not positive (22023).
CREATE FUNCTION fleet_fuzz.gen_site_target(f fleet_fuzz.fleet, hint bigint[]) RETURNS bigint
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p float8 := random();
BEGIN
    IF p < 0.55 AND f.nsites > 0 THEN
        RETURN fleet_fuzz.rnd(1, f.nsites);
    ELSIF p < 0.75 THEN
        RETURN NULL;
    ELSIF p < 0.92 AND cardinality(hint) > 0 THEN
        RETURN hint[fleet_fuzz.rnd(1, cardinality(hint))];
    ELSIF p < 0.97 THEN
        RETURN CASE WHEN fleet_fuzz.chance(0.8) THEN f.nsites + fleet_fuzz.rnd(1, 3)
                    ELSE 9223372036854775807 END;
    ELSE
        RETURN (ARRAY[0, -1, -9223372036854775808])[fleet_fuzz.rnd(1, 3)];
    END IF;
END $$;

-- A building or rack target among n: the same shares.
CREATE FUNCTION fleet_fuzz.gen_target(n int, hint bigint[]) RETURNS bigint
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p float8 := random();
BEGIN
    IF p < 0.55 AND n > 0 THEN
        RETURN fleet_fuzz.rnd(1, n);
    ELSIF p < 0.72 THEN
        RETURN NULL;
    ELSIF p < 0.9 AND cardinality(hint) > 0 THEN
        RETURN hint[fleet_fuzz.rnd(1, cardinality(hint))];
    ELSIF p < 0.97 THEN
        RETURN CASE WHEN fleet_fuzz.chance(0.8) THEN n + fleet_fuzz.rnd(1, 3)
                    ELSE 9223372036854775807 END;
    ELSE
        RETURN (ARRAY[0, -1, -9223372036854775808])[fleet_fuzz.rnd(1, 3)];
    END IF;
END $$;

-- A pair of parallel index arrays for keys (the identifiers of a rack move,
-- the rack ids of a racks-into-a-building move): element i places keys[i].
-- cells: the grid of the target ('r:c' strings, in the order to use them),
-- held: the cells held by what keeps its place (a slot or position given
-- one of them is a 23505), nrows x ncols the grid's size (for values
-- outside it). Valid pairs: first occurrences of a key get distinct cells
-- or a NULL pair, repeated keys a NULL pair. About one call in three then
-- breaks one rule of the function's 22023 list, or takes a held cell.
CREATE FUNCTION fleet_fuzz.gen_pairs(keys text[], cells text[], held text[], nrows int, ncols int,
                                     OUT ar int[], OUT ac int[])
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n int := coalesce(cardinality(keys), 0);
    lb int := coalesce(array_lower(keys, 1), 1);
    seen text[] := '{}';
    firsts int[] := '{}';       -- ordinals of first occurrences
    repeats int[] := '{}';      -- ordinals of repeated keys
    paired int[] := '{}';       -- ordinals given a pair
    k text;
    i int;
    x int;
    next_cell int := 1;
    cell text;
    null_p float8 := (ARRAY[0.05, 0.3, 0.7])[fleet_fuzz.rnd(1, 3)];
    -- 0: valid; 1-7: one 22023 rule broken; 8: a held cell (23505).
    p float8 := random();
    how int := CASE WHEN p < 0.65 THEN 0
                    WHEN p < 0.72 THEN 8
                    WHEN p < 0.79 THEN fleet_fuzz.rnd(1, 2)
                    WHEN p < 0.8425 THEN 5
                    WHEN p < 0.895 THEN 7
                    ELSE (ARRAY[3, 4, 6])[fleet_fuzz.rnd(1, 3)] END;
BEGIN
    ar := '{}'; ac := '{}';
    FOR i IN 1 .. n LOOP
        k := keys[lb + i - 1];
        ar[i] := NULL; ac[i] := NULL;
        IF k IS NOT NULL AND k = ANY (seen) THEN
            repeats := repeats || i;
        ELSE
            firsts := firsts || i;
            IF NOT fleet_fuzz.chance(null_p) AND next_cell <= coalesce(cardinality(cells), 0) THEN
                cell := cells[next_cell];
                next_cell := next_cell + 1;
                ar[i] := split_part(cell, ':', 1)::int;
                ac[i] := split_part(cell, ':', 2)::int;
                paired := paired || i;
            END IF;
        END IF;
        seen := seen || k;
    END LOOP;

    IF how BETWEEN 1 AND 4 AND n > 0 THEN
        IF cardinality(paired) > 0 THEN
            x := paired[fleet_fuzz.rnd(1, cardinality(paired))];
        ELSE
            x := firsts[fleet_fuzz.rnd(1, cardinality(firsts))];
            ar[x] := 0; ac[x] := 0;
        END IF;
        CASE how
            WHEN 1 THEN ar[x] := nrows + fleet_fuzz.rnd(0, 1);          -- outside the grid
            WHEN 2 THEN ac[x] := ncols + fleet_fuzz.rnd(0, 1);
            WHEN 3 THEN
                IF fleet_fuzz.chance(0.5) THEN ar[x] := -1; ELSE ac[x] := -2147483648; END IF;   -- negative
            ELSE
                IF fleet_fuzz.chance(0.5) THEN ar[x] := NULL; ELSE ac[x] := NULL; END IF;      -- half a pair
        END CASE;
    ELSIF how = 5 AND cardinality(firsts) > 1 THEN
        -- two keys given one cell
        IF cardinality(paired) = 0 THEN
            x := firsts[1];
            ar[x] := 0; ac[x] := 0;
        ELSE
            x := paired[fleet_fuzz.rnd(1, cardinality(paired))];
        END IF;
        i := firsts[fleet_fuzz.rnd(1, cardinality(firsts))];
        IF i = x THEN
            i := CASE WHEN x = firsts[1] THEN firsts[2] ELSE firsts[1] END;
        END IF;
        ar[i] := ar[x]; ac[i] := ac[x];
    ELSIF how = 6 AND cardinality(repeats) > 0 THEN
        x := repeats[fleet_fuzz.rnd(1, cardinality(repeats))];          -- a pair for a repeated key
        ar[x] := 0; ac[x] := 0;
    ELSIF how = 7 THEN
        IF n = 0 OR fleet_fuzz.chance(0.5) THEN
            ar := ar || 0; ac := ac || 0;                                -- lengths that differ
        ELSIF fleet_fuzz.chance(0.5) THEN
            ac := ac[1:n - 1];
        ELSE
            ar := ar[1:n - 1]; ac := ac[1:n - 1];
        END IF;
    ELSIF how = 8 AND cardinality(held) > 0 AND n > 0 THEN
        x := firsts[fleet_fuzz.rnd(1, cardinality(firsts))];            -- a cell that is kept: 23505
        cell := held[fleet_fuzz.rnd(1, cardinality(held))];
        ar[x] := split_part(cell, ':', 1)::int;
        ac[x] := split_part(cell, ':', 2)::int;
    END IF;
    ar := fleet_fuzz.rebase(ar, lb);
    ac := fleet_fuzz.rebase(ac, lb);
END $$;

-- The cells of a grid in the order gen_pairs should use them: mostly the
-- free ones and those the batch holds first (so that valid calls swap and
-- shift), else all in random order. taken: the cells held by what is not
-- in the batch.
CREATE FUNCTION fleet_fuzz.order_cells(nrows int, ncols int, taken text[]) RETURNS text[]
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF fleet_fuzz.chance(0.7) THEN
        RETURN (SELECT coalesce(array_agg(cell ORDER BY cell = ANY (taken), random()), '{}')
                  FROM (SELECT r || ':' || c AS cell
                          FROM generate_series(0, nrows - 1) r, generate_series(0, ncols - 1) c) g);
    END IF;
    RETURN (SELECT coalesce(array_agg(cell ORDER BY random()), '{}')
              FROM (SELECT r || ':' || c AS cell
                      FROM generate_series(0, nrows - 1) r, generate_series(0, ncols - 1) c) g);
END $$;

-- cells with the ones of rotate first, rotated by one: given in that order
-- to keys that hold rotate in that order, each key gets the next one's.
CREATE FUNCTION fleet_fuzz.rotated_first(cells text[], rotate text[]) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF coalesce(cardinality(rotate), 0) < 2 THEN
        RETURN cells;
    END IF;
    RETURN rotate[2:] || rotate[1] || (SELECT coalesce(array_agg(x ORDER BY o), '{}')
                                         FROM unnest(cells) WITH ORDINALITY u(x, o) WHERE NOT x = ANY (rotate));
END $$;

-- The slot arrays of a rack move (sets nargs 4 or 5 and ar, ac), always
-- when want, else in about four calls in ten.
CREATE FUNCTION fleet_fuzz.gen_slots(f fleet_fuzz.fleet, INOUT c fleet_fuzz.call, want boolean)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p float8;
    nrows int := 3;
    ncols int := 3;
    taken text[] := '{}';
    cells text[];
BEGIN
    IF c.ids IS NULL OR array_ndims(c.ids) IS DISTINCT FROM 1 OR cardinality(c.ids) > 200 THEN
        IF c.ids IS NOT NULL AND fleet_fuzz.chance(0.03) THEN
            c.nargs := 5;                                             -- lengths differ (mostly)
            c.ar := fleet_fuzz.rebase('{0}'::int[], coalesce(array_lower(c.ids, 1), 1));
            c.ac := c.ar;
        END IF;
        RETURN;
    END IF;
    IF NOT want AND fleet_fuzz.chance(0.6) THEN
        RETURN;
    END IF;
    IF c.target BETWEEN 1 AND fleet_fuzz.nr(f) THEN
        nrows := f.r_rows[c.target];
        ncols := f.r_cols[c.target];
        -- the slots of members outside the batch (they keep them)
        SELECT coalesce(array_agg(f.d_row[d] || ':' || f.d_col[d]), '{}') INTO taken
          FROM generate_subscripts(f.d_rack, 1) d
         WHERE f.d_rack[d] = c.target AND f.d_row[d] IS NOT NULL AND NOT f.d_ident[d] = ANY (c.ids);
    ELSIF c.target IS NULL AND fleet_fuzz.chance(0.7) THEN
        -- removal: slot arrays of NULL pairs are valid
        c.nargs := 5;
        SELECT array_agg(NULL::int) INTO c.ar FROM unnest(c.ids);
        c.ar := fleet_fuzz.rebase(c.ar, array_lower(c.ids, 1));
        c.ac := c.ar;
        RETURN;
    END IF;
    cells := fleet_fuzz.order_cells(nrows, ncols, taken);
    IF want AND fleet_fuzz.chance(0.5) THEN
        -- the batch's own slots, shifted by one along the batch
        cells := fleet_fuzz.rotated_first(cells,
                     (SELECT array_agg(f.d_row[d] || ':' || f.d_col[d] ORDER BY u.o)
                        FROM (SELECT x, min(o) AS o FROM unnest(c.ids) WITH ORDINALITY u(x, o) GROUP BY x) u,
                             LATERAL (SELECT (f.by_ident ->> u.x)::int AS d) l
                       WHERE f.d_rack[d] = c.target AND f.d_row[d] IS NOT NULL));
    END IF;
    SELECT g.ar, g.ac INTO c.ar, c.ac FROM fleet_fuzz.gen_pairs(c.ids, cells, taken, nrows, ncols) g;
    p := random();
    IF p < 0.87 THEN
        c.nargs := 5;
    ELSIF p < 0.9 THEN
        c.nargs := 4;                                      -- column_indexes left out
    ELSIF p < 0.93 THEN
        c.nargs := 5; c.ac := NULL;                        -- only one given
    ELSIF p < 0.95 THEN
        c.nargs := 5; c.ar := NULL;
    ELSIF p < 0.98 THEN
        c.nargs := 5; c.ar := ARRAY[c.ar, c.ar]; c.ac := ARRAY[c.ac, c.ac];   -- two dimensions
    ELSE
        c.nargs := 5; c.ar := NULL; c.ac := NULL;          -- both NULL: no slots given
    END IF;
END $$;

-- The position arrays of a racks-into-a-building move (nargs 2, 3 or 4):
-- always when want, mostly for a target with a layout, now and then for
-- any other.
CREATE FUNCTION fleet_fuzz.gen_positions(f fleet_fuzz.fleet, INOUT c fleet_fuzz.call, want boolean)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p float8 := random();
    nrows int := 2;
    ncols int := 3;
    taken text[] := '{}';
    keys text[];
    cells text[];
BEGIN
    c.nargs := 2;
    IF c.nums IS NULL OR array_ndims(c.nums) IS DISTINCT FROM 1 OR cardinality(c.nums) > 200 THEN
        RETURN;
    END IF;
    IF c.target BETWEEN 1 AND fleet_fuzz.nb(f) AND f.b_aisles[c.target] IS NOT NULL THEN
        IF NOT want AND p < 0.35 THEN
            RETURN;
        END IF;
        nrows := f.b_aisles[c.target];
        ncols := f.b_per[c.target];
        SELECT coalesce(array_agg(f.r_aisle[k] || ':' || f.r_pos[k]), '{}') INTO taken
          FROM generate_subscripts(f.r_bldg, 1) k
         WHERE f.r_bldg[k] = c.target AND f.r_aisle[k] IS NOT NULL AND NOT k = ANY (c.nums);
    ELSIF NOT want AND p < 0.85 THEN
        RETURN;
    END IF;
    -- Repeated rack ids are a 22023 whenever positions are given: mostly none.
    IF fleet_fuzz.chance(0.85) THEN
        c.nums := fleet_fuzz.rebase(fleet_fuzz.distinct_bigint(c.nums), array_lower(c.nums, 1));
    END IF;
    SELECT array_agg(x::text ORDER BY o) INTO keys FROM unnest(c.nums) WITH ORDINALITY u(x, o);
    keys := fleet_fuzz.rebase(keys, array_lower(c.nums, 1));
    cells := fleet_fuzz.order_cells(nrows, ncols, taken);
    IF want AND fleet_fuzz.chance(0.5) THEN
        -- the batch's own positions, shifted by one along the batch
        cells := fleet_fuzz.rotated_first(cells,
                     (SELECT array_agg(f.r_aisle[x] || ':' || f.r_pos[x] ORDER BY o)
                        FROM unnest(c.nums) WITH ORDINALITY u(x, o)
                       WHERE f.r_bldg[x] = c.target AND f.r_aisle[x] IS NOT NULL));
    END IF;
    SELECT g.ar, g.ac INTO c.ar, c.ac FROM fleet_fuzz.gen_pairs(keys, cells, taken, nrows, ncols) g;
    p := random();
    IF p < 0.87 THEN
        c.nargs := 4;
    ELSIF p < 0.9 THEN
        c.nargs := 3;                                      -- positions_in_aisle left out
    ELSIF p < 0.93 THEN
        c.nargs := 4; c.ac := NULL;
    ELSIF p < 0.95 THEN
        c.nargs := 4; c.ar := NULL;
    ELSIF p < 0.98 THEN
        c.nargs := 4; c.ar := ARRAY[c.ar, c.ar]; c.ac := ARRAY[c.ac, c.ac];
    ELSE
        c.nargs := 4; c.ar := NULL; c.ac := NULL;
    END IF;
END $$;

-- One random call. weights: the share of each op, in the order site, rack,
-- building, racks_site, racks_building, buildings_site, direct.
CREATE FUNCTION fleet_fuzz.gen_call(f fleet_fuzz.fleet, roles name[], weights float8[])
RETURNS fleet_fuzz.call
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    c fleet_fuzz.call;
    ops text[] := ARRAY['site', 'rack', 'building', 'racks_site', 'racks_building', 'buildings_site', 'direct'];
    total float8 := 0;
    p float8;
    i int;
    hint bigint[];
BEGIN
    FOR i IN 1 .. 7 LOOP
        total := total + coalesce(weights[i], 0);
    END LOOP;
    p := random() * total;
    c.op := ops[6];
    FOR i IN 1 .. 7 LOOP
        IF p < weights[i] THEN
            c.op := ops[i];
            EXIT;
        END IF;
        p := p - weights[i];
    END LOOP;

    IF c.op = 'direct' THEN
        -- a plain statement, as the superuser (the guards are no privilege matter)
        c.label := 'superuser';
        RETURN fleet_fuzz.gen_direct(f, c);
    END IF;
    SELECT g.role, g.label, g.rights, g.actor INTO c.role, c.label, c.rights, c.actor
      FROM fleet_fuzz.gen_caller(roles, c.op) g;

    IF c.op IN ('site', 'rack', 'building') THEN
        c.ids := fleet_fuzz.gen_ids(f);
        SELECT g.force, g.nargs INTO c.force, c.nargs FROM fleet_fuzz.gen_force() g;
        -- hints: where the named devices are
        IF c.op = 'site' THEN
            SELECT array_agg(f.d_site[(f.by_ident ->> x)::int]) INTO hint
              FROM unnest(c.ids[1:8]) x WHERE f.by_ident ? x;
            c.target := fleet_fuzz.gen_site_target(f, coalesce(hint, '{}'));
        ELSIF c.op = 'rack' AND fleet_fuzz.chance(CASE WHEN fleet_fuzz.holds(c, 'dev_u') THEN 0.25 ELSE 0.75 END)
              AND EXISTS (SELECT 1 FROM unnest(f.d_rack) r WHERE r IS NOT NULL) THEN
            -- Reslotting: members of one rack (and maybe one more device, often
            -- one that the rack's site and building already hold) into that
            -- rack, with slots: swaps, shifts, holders.
            SELECT r INTO c.target FROM unnest(f.d_rack) r WHERE r IS NOT NULL ORDER BY random() LIMIT 1;
            SELECT array_agg(f.d_ident[d] ORDER BY random()) INTO c.ids
              FROM generate_subscripts(f.d_rack, 1) d WHERE f.d_rack[d] = c.target;
            c.ids := c.ids[1:fleet_fuzz.rnd(1, cardinality(c.ids))];
            IF fleet_fuzz.chance(0.4) THEN
                c.ids := c.ids || (SELECT f.d_ident[d] FROM generate_subscripts(f.d_ident, 1) d
                                    WHERE f.d_rack[d] IS DISTINCT FROM c.target
                                      AND (fleet_fuzz.chance(0.3)
                                           OR (f.d_site[d] IS NOT DISTINCT FROM f.r_site[c.target]
                                               AND f.d_bldg[d] IS NOT DISTINCT FROM f.r_bldg[c.target]))
                                    ORDER BY random() LIMIT 1);
                c.ids := array_remove(c.ids, NULL);
            END IF;
            IF fleet_fuzz.chance(0.2) THEN
                c.ids := fleet_fuzz.rebase(c.ids, fleet_fuzz.rnd(-3, 5));
            END IF;
            c := fleet_fuzz.gen_slots(f, c, true);
        ELSIF c.op = 'rack' THEN
            SELECT array_agg(f.d_rack[(f.by_ident ->> x)::int]) INTO hint
              FROM unnest(c.ids[1:8]) x WHERE f.by_ident ? x;
            c.target := fleet_fuzz.gen_target(fleet_fuzz.nr(f), coalesce(hint, '{}'));
            IF fleet_fuzz.chance(0.2) THEN
                -- a rack with no site: DEVICE_LOSES_SITE (and, now and then,
                -- an unknown identifier with it: the residual under force)
                c.target := coalesce((SELECT k FROM generate_subscripts(f.r_site, 1) k
                                       WHERE f.r_site[k] IS NULL ORDER BY random() LIMIT 1), c.target);
                IF c.ids IS NOT NULL AND array_ndims(c.ids) = 1 AND cardinality(c.ids) < 100 AND fleet_fuzz.chance(0.5) THEN
                    c.ids := c.ids || fleet_fuzz.gen_unknown(f);
                END IF;
            END IF;
            c := fleet_fuzz.gen_slots(f, c, false);
        ELSE
            SELECT array_agg(coalesce(f.r_bldg[f.d_rack[(f.by_ident ->> x)::int]], f.d_bldg[(f.by_ident ->> x)::int]))
              INTO hint FROM unnest(c.ids[1:8]) x WHERE f.by_ident ? x;
            c.target := fleet_fuzz.gen_target(fleet_fuzz.nb(f), coalesce(hint, '{}'));
        END IF;
    ELSIF c.op = 'racks_site' THEN
        c.nums := fleet_fuzz.gen_nums(fleet_fuzz.nr(f));
        c.nargs := 2;
        SELECT array_agg(f.r_site[x]) INTO hint FROM unnest(c.nums[1:8]) x WHERE x BETWEEN 1 AND fleet_fuzz.nr(f);
        c.target := fleet_fuzz.gen_site_target(f, coalesce(hint, '{}'));
    ELSIF c.op = 'racks_building' AND fleet_fuzz.chance(0.45)
          AND EXISTS (SELECT 1 FROM unnest(f.r_bldg) b WHERE b IS NOT NULL) THEN
        -- Repositioning: racks of one building (and maybe one more rack)
        -- into that building, with positions: swaps, shifts, holders.
        SELECT b INTO c.target FROM unnest(f.r_bldg) b WHERE b IS NOT NULL
         ORDER BY f.b_aisles[b] IS NULL, random() LIMIT 1;
        SELECT array_agg(k::bigint ORDER BY random()) INTO c.nums
          FROM generate_subscripts(f.r_bldg, 1) k WHERE f.r_bldg[k] = c.target;
        c.nums := c.nums[1:fleet_fuzz.rnd(1, cardinality(c.nums))];
        IF fleet_fuzz.chance(0.4) THEN
            c.nums := array_remove(c.nums || (SELECT k::bigint FROM generate_subscripts(f.r_bldg, 1) k
                                               WHERE f.r_bldg[k] IS DISTINCT FROM c.target
                                               ORDER BY random() LIMIT 1), NULL);
        END IF;
        IF fleet_fuzz.chance(0.2) THEN
            c.nums := fleet_fuzz.rebase(c.nums, fleet_fuzz.rnd(-3, 5));
        END IF;
        c := fleet_fuzz.gen_positions(f, c, true);
    ELSIF c.op = 'racks_building' THEN
        c.nums := fleet_fuzz.gen_nums(fleet_fuzz.nr(f));
        SELECT array_agg(f.r_bldg[x]) INTO hint FROM unnest(c.nums[1:8]) x WHERE x BETWEEN 1 AND fleet_fuzz.nr(f);
        c.target := fleet_fuzz.gen_target(fleet_fuzz.nb(f), coalesce(hint, '{}'));
        c := fleet_fuzz.gen_positions(f, c, false);
    ELSE
        c.nums := fleet_fuzz.gen_nums(fleet_fuzz.nb(f));
        IF fleet_fuzz.chance(0.2) THEN
            -- buildings of one name (clashes at a site; none at Unassigned)
            c.nums := coalesce((SELECT array_agg(k::bigint ORDER BY random())
                                  FROM generate_subscripts(f.b_name, 1) k
                                 WHERE f.b_name[k] = (SELECT f.b_name[j] FROM generate_subscripts(f.b_name, 1) j
                                                       GROUP BY f.b_name[j] HAVING count(*) > 1
                                                       ORDER BY random() LIMIT 1)), c.nums);
        END IF;
        c.nargs := 2;
        SELECT array_agg(f.b_site[x]) INTO hint FROM unnest(c.nums[1:8]) x WHERE x BETWEEN 1 AND fleet_fuzz.nb(f);
        c.target := fleet_fuzz.gen_site_target(f, coalesce(hint, '{}'));
    END IF;
    RETURN c;
END $$;

-------------------------------------------------------------------------------
-- The bad-input table
-------------------------------------------------------------------------------

-- The identifier array: every rule that applies gives an acceptable SQLSTATE.
CREATE FUNCTION fleet_fuzz.ids_input_states(ids text[]) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    states text[] := '{}';
    has_null boolean;
    has_bad boolean;
BEGIN
    IF ids IS NULL THEN
        RETURN ARRAY['22004'];
    END IF;
    IF array_ndims(ids) > 1 THEN
        states := states || '2202E'::text;
    END IF;
    IF cardinality(ids) = 0 THEN
        states := states || '22023'::text;
    END IF;
    SELECT bool_or(v IS NULL), bool_or(v = '' OR char_length(v) > 256) INTO has_null, has_bad
      FROM unnest(ids) u(v);
    IF has_null THEN
        states := states || '22004'::text;
    END IF;
    IF has_bad THEN
        states := states || '22023'::text;
    END IF;
    -- distinct: byte equality (the "C" collation only makes the count cheap)
    IF cardinality(ids) > 10000 AND (SELECT count(DISTINCT v COLLATE "C") FROM unnest(ids) u(v)) > 10000 THEN
        states := states || '54000'::text;
    END IF;
    RETURN states;
END $$;

-- A rack or building id array.
CREATE FUNCTION fleet_fuzz.nums_input_states(nums bigint[]) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    states text[] := '{}';
    has_null boolean;
    has_bad boolean;
BEGIN
    IF nums IS NULL THEN
        RETURN ARRAY['22004'];
    END IF;
    IF array_ndims(nums) > 1 THEN
        states := states || '2202E'::text;
    END IF;
    IF cardinality(nums) = 0 THEN
        states := states || '22023'::text;
    END IF;
    SELECT bool_or(v IS NULL), bool_or(v <= 0) INTO has_null, has_bad FROM unnest(nums) u(v);
    IF has_null THEN
        states := states || '22004'::text;
    END IF;
    IF has_bad THEN
        states := states || '22023'::text;
    END IF;
    IF cardinality(nums) > 10000 AND (SELECT count(DISTINCT v) FROM unnest(nums) u(v)) > 10000 THEN
        states := states || '54000'::text;
    END IF;
    RETURN states;
END $$;

-- The parallel pair arrays (slots of a rack move, positions of a racks move)
-- against their keys: the rules that need no row. has_target: the target
-- argument is not NULL. keys_unique: repeated keys are an error whenever
-- the arrays are given (positions), not only when the key is given a pair
-- (slots). Returns the states, and whether the arrays count as given.
CREATE FUNCTION fleet_fuzz.pairs_input_states(keys text[], ar int[], ac int[], has_target boolean,
                                              keys_unique boolean,
                                              OUT states text[], OUT given boolean, OUT reasons text[])
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    n int;
BEGIN
    states := '{}';
    reasons := '{}';
    given := false;
    IF ar IS NULL AND ac IS NULL THEN
        RETURN;
    END IF;
    IF ar IS NULL OR ac IS NULL THEN
        states := ARRAY['22023'];
        reasons := ARRAY['only one array'];
        RETURN;
    END IF;
    given := true;
    IF keys IS NULL THEN
        RETURN;                         -- the key array's own state covers it
    END IF;
    IF array_ndims(ar) > 1 OR array_ndims(ac) > 1 THEN
        states := ARRAY['22023', '2202E'];
        reasons := ARRAY['two dimensions'];
        RETURN;
    END IF;
    n := cardinality(keys);
    IF cardinality(ar) <> n OR cardinality(ac) <> n THEN
        states := ARRAY['22023'];
        reasons := ARRAY['a length that differs'];
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(ar, ac) u(r, c) WHERE (r IS NULL) <> (c IS NULL)) THEN
        reasons := reasons || 'half a pair'::text;
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(ar, ac) u(r, c) WHERE r IS NOT NULL AND c IS NOT NULL AND NOT has_target) THEN
        reasons := reasons || 'a pair with a NULL target'::text;
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(ar, ac) u(r, c) WHERE r < 0 OR c < 0) THEN
        reasons := reasons || 'a negative index'::text;
    END IF;
    -- a repeated key: given a pair (slots) or at all (positions)
    IF EXISTS (SELECT 1 FROM unnest(keys, ar) u(k, r) WHERE k IS NOT NULL
                GROUP BY k HAVING count(*) > 1 AND (keys_unique OR count(r) > 0)) THEN
        reasons := reasons || CASE WHEN keys_unique THEN 'a repeated key' ELSE 'a repeated key given a pair' END;
    END IF;
    -- two keys given one pair (first occurrences)
    IF EXISTS (SELECT 1
                 FROM (SELECT DISTINCT ON (k) k, r, c FROM unnest(keys, ar, ac) WITH ORDINALITY u(k, r, c, o)
                        WHERE k IS NOT NULL ORDER BY k, o) s
                WHERE r IS NOT NULL AND c IS NOT NULL
                GROUP BY r, c HAVING count(*) > 1) THEN
        reasons := reasons || 'two keys given one pair'::text;
    END IF;
    IF cardinality(reasons) > 0 THEN
        states := ARRAY['22023'];
    END IF;
END $$;

-------------------------------------------------------------------------------
-- Helpers of the models
-------------------------------------------------------------------------------

-- Sort conflicts by identifier in byte order (whatever the database collation).
CREATE FUNCTION fleet_fuzz.sort_conflicts(cs public.fleet_conflict[], leave_out public.fleet_conflict_reason)
RETURNS public.fleet_conflict[]
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (
    SELECT coalesce(array_agg(cf ORDER BY convert_to(cf.device_identifier, 'UTF8')), '{}')
      FROM unnest(cs) cf WHERE leave_out IS NULL OR cf.reason <> leave_out
    );
END $$;

-- 23503 naming one of these ids (any of them is right when several apply).
CREATE FUNCTION fleet_fuzz.missing(INOUT e fleet_fuzz.expectation, ids bigint[], tag text)
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    e.states := ARRAY['23503'];
    SELECT '(^|[^0-9])(' || string_agg(i::text, '|') || ')([^0-9]|$)' INTO e.msg_regex FROM unnest(ids) i;
    e.tags := coalesce(e.tags, '{}') || tag;
END $$;

-- The identifiers of these devices (first 50 of the sample, input order).
CREATE FUNCTION fleet_fuzz.sample(a anyarray) RETURNS jsonb
    LANGUAGE sql IMMUTABLE AS $$ SELECT to_jsonb(a[1:50]) $$;

-------------------------------------------------------------------------------
-- The model of fleet_assign_devices_to_site (spec/api.md, steps 1-7)
-------------------------------------------------------------------------------

CREATE FUNCTION fleet_fuzz.expect_site(f fleet_fuzz.fleet, c fleet_fuzz.call)
RETURNS fleet_fuzz.expectation
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e fleet_fuzz.expectation;
    states text[];
    distinct_ids text[];
    found int[] := '{}';
    clear int[] := '{}';
    conflicts public.fleet_conflict[] := '{}';
    has_residual boolean := false;
    x text;
    id int;
    rack bigint;
    n int;
    k int;
    bc int := 0;
    kept int := 0;
    stayed int := 0;
BEGIN
    e.applied := false; e.after := f; e.conflicts := '{}'; e.tags := '{}';

    states := fleet_fuzz.ids_input_states(c.ids);
    IF c.target <= 0 THEN states := states || '22023'::text; END IF;
    IF c.nargs >= 3 AND c.force IS NULL THEN states := states || '22004'::text; END IF;
    IF cardinality(states) > 0 THEN
        e.states := states;
        RETURN e;
    END IF;

    -- The gate: UPDATE on fleet_device; DELETE on memberships with force.
    e := fleet_fuzz.gate(c, CASE WHEN c.force THEN '{dev_u,mem_d}' ELSE '{dev_u}' END::text[], e);
    IF e.states IS NOT NULL THEN RETURN e; END IF;

    IF c.target > f.nsites THEN
        RETURN fleet_fuzz.missing(e, ARRAY[c.target], 'site 23503');
    END IF;

    distinct_ids := fleet_fuzz.distinct_text(c.ids);
    FOREACH x IN ARRAY distinct_ids LOOP
        id := (f.by_ident ->> x)::int;
        IF id IS NULL THEN
            conflicts := conflicts || ROW(x, 'DEVICE_NOT_FOUND', NULL, NULL, NULL)::public.fleet_conflict;
            has_residual := true;
            CONTINUE;
        END IF;
        found := found || id;
        rack := f.d_rack[id];
        IF rack IS NOT NULL AND f.r_site[rack] IS DISTINCT FROM c.target THEN
            conflicts := conflicts
                || ROW(x, 'DEVICE_IN_RACK_AT_OTHER_SITE', f.r_site[rack], rack, f.r_bldg[rack])::public.fleet_conflict;
            clear := clear || id;
            IF f.r_bldg[rack] IS NOT NULL THEN
                e.tags := e.tags || 'site conflict names the rack''s building'::text;
            END IF;
        END IF;
    END LOOP;
    conflicts := fleet_fuzz.sort_conflicts(conflicts, NULL);

    IF cardinality(conflicts) > 0 AND NOT c.force THEN
        e.conflicts := conflicts;
        e.tags := e.tags || 'site conflicts returned'::text;
        RETURN e;
    END IF;
    IF has_residual THEN
        e.conflicts := fleet_fuzz.sort_conflicts(conflicts, 'DEVICE_IN_RACK_AT_OTHER_SITE');
        e.tags := e.tags || 'site residual under force'::text;
        RETURN e;
    END IF;

    -- Apply: clear exactly the conflicting memberships (the slot goes with
    -- them); every named device goes to the target; a device keeps its
    -- building only where that building stands at the target.
    FOREACH id IN ARRAY clear LOOP
        e.after.d_rack[id] := NULL;
        e.after.d_row[id] := NULL;
        e.after.d_col[id] := NULL;
    END LOOP;
    FOREACH id IN ARRAY found LOOP
        IF f.d_bldg[id] IS NOT NULL THEN
            IF f.b_site[f.d_bldg[id]] IS NOT DISTINCT FROM c.target THEN
                kept := kept + 1;
            ELSE
                e.after.d_bldg[id] := NULL;
                bc := bc + 1;
            END IF;
        END IF;
        IF (e.after).d_rack[id] IS NOT NULL THEN
            stayed := stayed + 1;
        END IF;
        e.after.d_site[id] := c.target;
    END LOOP;
    e.applied := true;
    e.touch_d := found;
    e.touch_m := true;
    e.n_devices := cardinality(found);

    n := cardinality(found);
    k := cardinality(clear);
    e.event_type := 'devices.reassigned_to_site';
    e.audit_site := c.target;
    e.description := 'Reassigned ' || n || ' device(s) to site ' || coalesce(c.target::text, 'Unassigned');
    e.metadata := jsonb_build_object('target_site_id', c.target,
                                     'device_count', n,
                                     'device_identifiers', fleet_fuzz.sample(distinct_ids));
    IF k > 0 THEN
        e.description := e.description || ' (' || k || ' rack membership(s) force-cleared)';
        e.metadata := e.metadata || jsonb_build_object('force_cleared_rack_membership_count', k);
        SELECT array_agg(f.d_ident[i]) INTO e.cleared FROM unnest(clear) i;
        e.tags := e.tags || 'site applied with force clear'::text;
    END IF;
    IF bc > 0 THEN
        e.metadata := e.metadata || jsonb_build_object('building_cleared_device_count', bc);
        e.tags := e.tags || 'site cleared buildings'::text;
    END IF;
    IF kept > 0 THEN e.tags := e.tags || 'site kept a building at the target'::text; END IF;
    IF stayed > 0 THEN e.tags := e.tags || 'site device stayed in its rack'::text; END IF;
    e.tags := e.tags || 'site applied'::text;
    IF c.rights IS NOT NULL THEN e.tags := e.tags || 'site applied by a role'::text; END IF;
    RETURN e;
END $$;

-------------------------------------------------------------------------------
-- The model of fleet_assign_devices_to_rack (spec/api.md; the README's
-- choices for the audit row's site_id and description; choices.md for the
-- slot holders and slotted_device_count)
-------------------------------------------------------------------------------

CREATE FUNCTION fleet_fuzz.expect_rack(f fleet_fuzz.fleet, c fleet_fuzz.call)
RETURNS fleet_fuzz.expectation
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e fleet_fuzz.expectation;
    states text[];
    slot_states text[];
    slots_given boolean;
    reasons text[];
    ar int[] := CASE WHEN c.nargs >= 4 THEN c.ar END;
    ac int[] := CASE WHEN c.nargs >= 5 THEN c.ac END;
    distinct_ids text[];
    found int[] := '{}';
    conflicts public.fleet_conflict[] := '{}';
    has_residual boolean := false;
    loses int := 0;
    rack_site bigint;
    rack_bldg bigint;
    x text;
    id int;
    n int;
    members int;
    changed int;
    bchanged int;
    already int;
    slot_r int[] := '{}';     -- per device id: the slot given (NULL: none)
    slot_c int[] := '{}';
    slotted int := 0;
    swapped boolean := false;
    reslotted int := 0;
    kept_slot int := 0;
    ord int;
BEGIN
    e.applied := false; e.after := f; e.conflicts := '{}'; e.tags := '{}';

    states := fleet_fuzz.ids_input_states(c.ids);
    IF c.target <= 0 THEN states := states || '22023'::text; END IF;
    IF c.nargs >= 3 AND c.force IS NULL THEN states := states || '22004'::text; END IF;
    SELECT p.states, p.given, p.reasons INTO slot_states, slots_given, reasons
      FROM fleet_fuzz.pairs_input_states(c.ids, ar, ac, c.target IS NOT NULL, false) p;
    IF cardinality(slot_states) > 0 THEN
        e.tags := e.tags || 'rack slot arrays 22023'::text
                  || (SELECT array_agg('rack slots: ' || rs) FROM unnest(reasons) rs);
    END IF;
    states := states || slot_states;
    IF cardinality(states) > 0 THEN
        e.states := states;
        RETURN e;
    END IF;

    -- The gate, before anything is looked up: INSERT and DELETE on
    -- memberships always, on slots when slot arrays are given.
    e := fleet_fuzz.gate(c, CASE WHEN slots_given THEN '{mem_i,mem_d,slot_i,slot_d}'
                                   ELSE '{mem_i,mem_d}' END::text[], e);
    IF e.states IS NOT NULL THEN RETURN e; END IF;

    IF c.target > fleet_fuzz.nr(f) THEN
        RETURN fleet_fuzz.missing(e, ARRAY[c.target], 'rack 23503');
    END IF;
    IF c.target IS NOT NULL THEN
        rack_site := f.r_site[c.target];
        rack_bldg := f.r_bldg[c.target];
    END IF;

    distinct_ids := fleet_fuzz.distinct_text(c.ids);
    -- Conflicts: not found; or a site-less target and a device with a site.
    FOREACH x IN ARRAY distinct_ids LOOP
        id := (f.by_ident ->> x)::int;
        IF id IS NULL THEN
            conflicts := conflicts || ROW(x, 'DEVICE_NOT_FOUND', NULL, NULL, NULL)::public.fleet_conflict;
            has_residual := true;
            CONTINUE;
        END IF;
        found := found || id;
        IF c.target IS NOT NULL AND rack_site IS NULL AND f.d_site[id] IS NOT NULL THEN
            conflicts := conflicts || ROW(x, 'DEVICE_LOSES_SITE', NULL, c.target, rack_bldg)::public.fleet_conflict;
            loses := loses + 1;
        END IF;
    END LOOP;
    conflicts := fleet_fuzz.sort_conflicts(conflicts, NULL);

    -- Without force every conflict is returned; with force, DEVICE_LOSES_SITE
    -- is the clearable kind, anything else is residual: only those are
    -- returned. Conflicts come before the checks under the rack lock.
    IF cardinality(conflicts) > 0 AND NOT coalesce(c.force, false) THEN
        e.conflicts := conflicts;
        IF loses > 0 THEN
            e.tags := e.tags || 'DEVICE_LOSES_SITE returned'::text;
            IF rack_bldg IS NOT NULL THEN
                e.tags := e.tags || 'DEVICE_LOSES_SITE names the rack''s building'::text;
            END IF;
        END IF;
        RETURN e;
    END IF;
    IF has_residual THEN
        e.conflicts := fleet_fuzz.sort_conflicts(conflicts, 'DEVICE_LOSES_SITE');
        IF loses > 0 THEN
            e.tags := e.tags || 'residual under force (DEVICE_LOSES_SITE left out)'::text;
        END IF;
        RETURN e;
    END IF;

    n := cardinality(found);
    e.touch_d := found;
    e.touch_m := true;
    e.n_devices := n;

    -- The slot given to each device (first occurrence; repeated identifiers
    -- given a slot were refused above).
    IF slots_given THEN
        FOR x, ord IN SELECT DISTINCT ON (u.k) u.k, u.o
                        FROM unnest(c.ids) WITH ORDINALITY u(k, o) ORDER BY u.k, u.o LOOP
            id := (f.by_ident ->> x)::int;
            CONTINUE WHEN id IS NULL;
            slot_r[id] := ar[array_lower(ar, 1) + ord - 1];
            slot_c[id] := ac[array_lower(ac, 1) + ord - 1];
            IF slot_r[id] IS NOT NULL THEN
                slotted := slotted + 1;
            END IF;
        END LOOP;
    END IF;

    IF c.target IS NULL THEN
        -- Out of whatever rack (the slot goes with the membership); sites
        -- and buildings stay.
        IF EXISTS (SELECT 1 FROM unnest(found) u(dev) WHERE f.d_rack[u.dev] IS NOT NULL) THEN
            e.tags := e.tags || 'rack removal of a racked device'::text;
        END IF;
        FOREACH id IN ARRAY found LOOP
            e.after.d_rack[id] := NULL;
            e.after.d_row[id] := NULL;
            e.after.d_col[id] := NULL;
        END LOOP;
        e.applied := true;
        e.event_type := 'devices.removed_from_rack';
        e.audit_site := NULL;
        e.description := 'Removed ' || n || ' device(s) from their racks';
        e.metadata := jsonb_build_object('rack_id', NULL::bigint,
                                         'device_count', n,
                                         'device_identifiers', fleet_fuzz.sample(distinct_ids));
        IF slots_given THEN
            e.metadata := e.metadata || jsonb_build_object('slotted_device_count', 0);
            e.tags := e.tags || 'rack removal with slot arrays'::text;
        END IF;
        e.tags := e.tags || 'rack removal applied'::text;
        RETURN e;
    END IF;

    -- Under the rack lock: capacity (members that stay plus the named
    -- devices), slots inside the rack (22023), slots held by devices that
    -- keep theirs (23505), and UPDATE on fleet_device when some site or
    -- building changes (42501). The contract orders none of these.
    SELECT count(*) INTO members FROM generate_subscripts(f.d_rack, 1) i
     WHERE f.d_rack[i] = c.target AND NOT i = ANY (found);
    members := members + n;
    SELECT count(*) INTO already FROM unnest(found) i WHERE f.d_rack[i] = c.target;
    SELECT count(*) INTO changed FROM unnest(found) i WHERE f.d_site[i] IS DISTINCT FROM rack_site;
    SELECT count(*) INTO bchanged FROM unnest(found) i
     WHERE f.d_site[i] IS DISTINCT FROM rack_site OR f.d_bldg[i] IS DISTINCT FROM rack_bldg;

    states := '{}';
    IF members > f.r_rows[c.target] * f.r_cols[c.target] THEN
        states := states || '23514'::text;
        e.msg_regex := 'rack ' || c.target || ' is full';
    END IF;
    IF slots_given THEN
        IF EXISTS (SELECT 1 FROM unnest(found) i
                    WHERE slot_r[i] >= f.r_rows[c.target] OR slot_c[i] >= f.r_cols[c.target]) THEN
            states := states || '22023'::text;
            e.tags := e.tags || 'rack slot outside the rack'::text;
        END IF;
        -- holders: members that keep their slot (not named, or named and given none)
        IF EXISTS (SELECT 1 FROM generate_subscripts(f.d_rack, 1) h, unnest(found) i
                    WHERE f.d_rack[h] = c.target AND f.d_row[h] IS NOT NULL
                      AND (NOT h = ANY (found) OR slot_r[h] IS NULL)
                      AND slot_r[i] = f.d_row[h] AND slot_c[i] = f.d_col[h]) THEN
            states := states || '23505'::text;
            e.tags := e.tags || 'rack slot taken'::text;
        END IF;
    END IF;
    IF bchanged > 0 AND NOT fleet_fuzz.holds(c, 'dev_u') THEN
        states := states || '42501'::text;
    END IF;
    IF cardinality(states) > 0 THEN
        e.states := states;
        IF cardinality(states) > 1 THEN
            e.msg_regex := NULL;
        ELSIF states[1] = '42501' THEN
            e.msg_regex := fleet_fuzz.right_regex('dev_u');
        END IF;
        e.tags := e.tags || ('rack ' || array_to_string(states, '/'));
        RETURN e;
    END IF;

    -- Apply: every named device is in the target (a member keeps membership,
    -- and its slot unless given one; anyone else leaves the old rack and slot
    -- and joins with the slot given, or none) with the rack's site and
    -- building.
    FOREACH id IN ARRAY found LOOP
        IF f.d_rack[id] IS DISTINCT FROM c.target THEN
            e.after.d_rack[id] := c.target;
            e.after.d_row[id] := NULL;
            e.after.d_col[id] := NULL;
        ELSIF f.d_row[id] IS NOT NULL AND slots_given AND slot_r[id] IS NULL THEN
            kept_slot := kept_slot + 1;
        END IF;
        IF slot_r[id] IS NOT NULL THEN
            IF f.d_rack[id] = c.target THEN
                reslotted := reslotted + 1;
            END IF;
            -- a slot another batch member held before
            IF EXISTS (SELECT 1 FROM unnest(found) j
                        WHERE j <> id AND f.d_rack[j] = c.target
                          AND f.d_row[j] = slot_r[id] AND f.d_col[j] = slot_c[id]) THEN
                swapped := true;
            END IF;
            e.after.d_row[id] := slot_r[id];
            e.after.d_col[id] := slot_c[id];
        END IF;
        e.after.d_site[id] := rack_site;
        e.after.d_bldg[id] := rack_bldg;
    END LOOP;
    e.applied := true;
    e.event_type := 'devices.assigned_to_rack';
    e.audit_site := rack_site;
    e.description := 'Assigned ' || n || ' device(s) to rack ' || c.target;
    e.metadata := jsonb_build_object('rack_id', c.target,
                                     'device_count', n,
                                     'device_identifiers', fleet_fuzz.sample(distinct_ids));
    IF changed > 0 THEN
        e.description := e.description || ' (' || changed || ' device site(s) changed)';
        e.metadata := e.metadata || jsonb_build_object('site_changed_device_count', changed);
    END IF;
    IF slots_given THEN
        e.metadata := e.metadata || jsonb_build_object('slotted_device_count', slotted);
    END IF;

    e.tags := e.tags || 'rack join applied'::text;
    IF changed > 0 THEN e.tags := e.tags || 'rack join changed sites'::text; END IF;
    IF bchanged > changed THEN e.tags := e.tags || 'rack join changed only buildings'::text; END IF;
    IF rack_bldg IS NOT NULL AND bchanged > 0 THEN e.tags := e.tags || 'rack join into a building'::text; END IF;
    IF loses > 0 THEN e.tags := e.tags || 'forced DEVICE_LOSES_SITE applied'::text; END IF;
    IF already > 0 THEN e.tags := e.tags || 'rack join naming members again'::text; END IF;
    IF members = f.r_rows[c.target] * f.r_cols[c.target] THEN e.tags := e.tags || 'rack filled exactly'::text; END IF;
    IF NOT fleet_fuzz.holds(c, 'dev_u') THEN e.tags := e.tags || 'rack-only caller applied'::text; END IF;
    IF slotted > 0 THEN e.tags := e.tags || 'rack slots applied'::text; END IF;
    IF slotted > 0 AND NOT fleet_fuzz.holds(c, 'dev_u') THEN e.tags := e.tags || 'rack-only caller placed slots'::text; END IF;
    IF swapped THEN e.tags := e.tags || 'rack slots swapped or shifted'::text; END IF;
    IF reslotted > 0 THEN e.tags := e.tags || 'rack member given a new slot'::text; END IF;
    IF kept_slot > 0 THEN e.tags := e.tags || 'rack member kept its slot (NULL pair)'::text; END IF;
    RETURN e;
END $$;

-------------------------------------------------------------------------------
-- The model of fleet_assign_devices_to_building (spec/api.md)
-------------------------------------------------------------------------------

CREATE FUNCTION fleet_fuzz.expect_building(f fleet_fuzz.fleet, c fleet_fuzz.call)
RETURNS fleet_fuzz.expectation
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e fleet_fuzz.expectation;
    states text[];
    distinct_ids text[];
    found int[] := '{}';
    clear int[] := '{}';
    conflicts public.fleet_conflict[] := '{}';
    has_residual boolean := false;
    bsite bigint;
    x text;
    id int;
    rack bigint;
    n int;
    k int;
    site_changes int := 0;
    stayed int := 0;
BEGIN
    e.applied := false; e.after := f; e.conflicts := '{}'; e.tags := '{}';

    states := fleet_fuzz.ids_input_states(c.ids);
    IF c.target <= 0 THEN states := states || '22023'::text; END IF;
    IF c.nargs >= 3 AND c.force IS NULL THEN states := states || '22004'::text; END IF;
    IF cardinality(states) > 0 THEN
        e.states := states;
        RETURN e;
    END IF;

    -- The gate: as for the site move, and SELECT on fleet_building (choices.md).
    e := fleet_fuzz.gate(c, CASE WHEN c.force THEN '{dev_u,mem_d,bld_s}' ELSE '{dev_u,bld_s}' END::text[], e);
    IF e.states IS NOT NULL THEN RETURN e; END IF;

    IF c.target > fleet_fuzz.nb(f) THEN
        RETURN fleet_fuzz.missing(e, ARRAY[c.target], 'building 23503');
    END IF;
    IF c.target IS NOT NULL THEN
        bsite := f.b_site[c.target];
    END IF;

    distinct_ids := fleet_fuzz.distinct_text(c.ids);
    FOREACH x IN ARRAY distinct_ids LOOP
        id := (f.by_ident ->> x)::int;
        IF id IS NULL THEN
            conflicts := conflicts || ROW(x, 'DEVICE_NOT_FOUND', NULL, NULL, NULL)::public.fleet_conflict;
            has_residual := true;
            CONTINUE;
        END IF;
        found := found || id;
        rack := f.d_rack[id];
        IF rack IS NOT NULL AND f.r_bldg[rack] IS DISTINCT FROM c.target THEN
            conflicts := conflicts
                || ROW(x, 'DEVICE_IN_RACK_AT_OTHER_BUILDING', f.r_site[rack], rack, f.r_bldg[rack])::public.fleet_conflict;
            clear := clear || id;
        END IF;
    END LOOP;
    conflicts := fleet_fuzz.sort_conflicts(conflicts, NULL);

    IF cardinality(conflicts) > 0 AND NOT c.force THEN
        e.conflicts := conflicts;
        e.tags := e.tags || 'building conflicts returned'::text;
        RETURN e;
    END IF;
    IF has_residual THEN
        e.conflicts := fleet_fuzz.sort_conflicts(conflicts, 'DEVICE_IN_RACK_AT_OTHER_BUILDING');
        e.tags := e.tags || 'building residual under force'::text;
        RETURN e;
    END IF;

    FOREACH id IN ARRAY clear LOOP
        e.after.d_rack[id] := NULL;
        e.after.d_row[id] := NULL;
        e.after.d_col[id] := NULL;
    END LOOP;
    FOREACH id IN ARRAY found LOOP
        IF (e.after).d_rack[id] IS NOT NULL THEN
            stayed := stayed + 1;
        END IF;
        e.after.d_bldg[id] := c.target;
        IF c.target IS NOT NULL THEN
            IF f.d_site[id] IS DISTINCT FROM bsite THEN
                site_changes := site_changes + 1;
            END IF;
            e.after.d_site[id] := bsite;
        END IF;
    END LOOP;
    e.applied := true;
    e.touch_d := found;
    e.touch_m := true;
    n := cardinality(found);
    e.n_devices := n;
    k := cardinality(clear);
    e.event_type := 'devices.reassigned_to_building';
    e.audit_site := bsite;
    e.description := 'Reassigned ' || n || ' device(s) to building ' || coalesce(c.target::text, 'Unassigned');
    e.metadata := jsonb_build_object('target_building_id', c.target,
                                     'device_count', n,
                                     'device_identifiers', fleet_fuzz.sample(distinct_ids));
    IF site_changes > 0 THEN
        e.metadata := e.metadata || jsonb_build_object('site_changed_device_count', site_changes);
        e.tags := e.tags || 'building move changed sites'::text;
    END IF;
    IF k > 0 THEN
        e.description := e.description || ' (' || k || ' rack membership(s) force-cleared)';
        e.metadata := e.metadata || jsonb_build_object('force_cleared_rack_membership_count', k);
        SELECT array_agg(f.d_ident[i]) INTO e.cleared FROM unnest(clear) i;
        e.tags := e.tags || 'building applied with force clear'::text;
    END IF;
    IF stayed > 0 THEN e.tags := e.tags || 'building device stayed in its rack'::text; END IF;
    e.tags := e.tags || CASE WHEN c.target IS NULL THEN 'building removal applied' ELSE 'building applied' END;
    IF c.rights IS NOT NULL THEN e.tags := e.tags || 'building applied by a role'::text; END IF;
    RETURN e;
END $$;

-------------------------------------------------------------------------------
-- The container moves: common checks
-------------------------------------------------------------------------------

-- Bad input, the gate, and the missing ids (23503, the smallest missing of
-- the named ids, or the missing target; either when both). n: how many of
-- the named kind exist; ntarget: how many targets exist.
-- (e.states is set when the call stops here.)
CREATE FUNCTION fleet_fuzz.container_checks(c fleet_fuzz.call, n int, ntarget int, needed text[],
                                            extra_states text[], INOUT e fleet_fuzz.expectation)
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    states text[];
    smallest bigint;
    ids bigint[] := '{}';
BEGIN
    states := fleet_fuzz.nums_input_states(c.nums) || coalesce(extra_states, '{}');
    IF c.target <= 0 THEN states := states || '22023'::text; END IF;
    IF cardinality(states) > 0 THEN
        e.states := states;
        RETURN;
    END IF;
    e := fleet_fuzz.gate(c, needed, e);
    IF e.states IS NOT NULL THEN RETURN; END IF;
    SELECT min(v) INTO smallest FROM unnest(c.nums) v WHERE v > n;
    IF smallest IS NOT NULL THEN
        ids := ids || smallest;
    END IF;
    IF c.target > ntarget THEN
        ids := ids || c.target;
    END IF;
    IF cardinality(ids) > 0 THEN
        e := fleet_fuzz.missing(e, ids, c.op || ' 23503' || CASE WHEN smallest IS NOT NULL THEN ' (named id)' ELSE '' END);
    END IF;
END $$;

-------------------------------------------------------------------------------
-- The model of fleet_assign_racks_to_site (spec/api.md)
-------------------------------------------------------------------------------

CREATE FUNCTION fleet_fuzz.expect_racks_site(f fleet_fuzz.fleet, c fleet_fuzz.call)
RETURNS fleet_fuzz.expectation
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e fleet_fuzz.expectation;
    named bigint[];
    moving int[] := '{}';
    members int[] := '{}';
    r int;
    d int;
    dc int := 0;
    out_of_building boolean := false;
BEGIN
    e.applied := false; e.after := f; e.tags := '{}';
    e := fleet_fuzz.container_checks(c, fleet_fuzz.nr(f), f.nsites, '{rack_u,dev_u}', NULL, e);
    IF e.states IS NOT NULL THEN RETURN e; END IF;

    named := fleet_fuzz.sorted(c.nums);
    FOREACH r IN ARRAY named LOOP
        IF f.r_site[r] IS DISTINCT FROM c.target THEN
            moving := moving || r;
        ELSE
            e.tags := e.tags || 'racks_site rack already at the target'::text;
            IF f.r_bldg[r] IS NOT NULL THEN
                e.tags := e.tags || 'racks_site rack at the target kept its building'::text;
            END IF;
        END IF;
    END LOOP;
    -- A rack whose site changes leaves its building and position; its members
    -- follow to the site and leave the building too. Memberships and slots stay.
    FOREACH r IN ARRAY moving LOOP
        IF f.r_bldg[r] IS NOT NULL THEN
            out_of_building := true;
        END IF;
        e.after.r_site[r] := c.target;
        e.after.r_bldg[r] := NULL;
        e.after.r_aisle[r] := NULL;
        e.after.r_pos[r] := NULL;
    END LOOP;
    FOR d IN SELECT i FROM generate_subscripts(f.d_rack, 1) i WHERE f.d_rack[i] = ANY (moving) LOOP
        members := members || d;
        IF f.d_site[d] IS DISTINCT FROM c.target OR f.d_bldg[d] IS NOT NULL THEN
            dc := dc + 1;
        END IF;
        e.after.d_site[d] := c.target;
        e.after.d_bldg[d] := NULL;
    END LOOP;

    e.applied := true;
    e.cascade := ROW(0, cardinality(moving), dc)::public.fleet_cascade;
    e.touch_r := moving;
    e.touch_d := members;
    e.touch_m := false;
    e.n_devices := cardinality(named);
    e.event_type := 'racks.assigned_to_site';
    e.audit_site := c.target;
    e.description := 'Assigned ' || cardinality(named) || ' rack(s) to site '
                     || coalesce(c.target::text, 'Unassigned') || ' (' || dc || ' device(s) cascaded)';
    e.metadata := jsonb_build_object('target_site_id', c.target,
                                     'rack_ids', fleet_fuzz.sample(named),
                                     'rack_count', cardinality(moving),
                                     'device_count', dc);
    e.tags := e.tags || 'racks_site applied'::text;
    IF dc > 0 THEN e.tags := e.tags || 'racks_site cascaded devices'::text; END IF;
    IF out_of_building THEN e.tags := e.tags || 'racks_site took a rack out of its building'::text; END IF;
    IF cardinality(named) > 50 THEN e.tags := e.tags || 'racks_site over 50 racks'::text; END IF;
    IF c.rights IS NOT NULL THEN e.tags := e.tags || 'racks_site applied by a role'::text; END IF;
    RETURN e;
END $$;

-------------------------------------------------------------------------------
-- The model of fleet_assign_racks_to_building (spec/api.md; choices.md for
-- the position holders and the 22023 of a position without a layout)
-------------------------------------------------------------------------------

CREATE FUNCTION fleet_fuzz.expect_racks_building(f fleet_fuzz.fleet, c fleet_fuzz.call)
RETURNS fleet_fuzz.expectation
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e fleet_fuzz.expectation;
    ar int[] := CASE WHEN c.nargs >= 3 THEN c.ar END;
    ac int[] := CASE WHEN c.nargs >= 4 THEN c.ac END;
    pos_states text[];
    given boolean;
    reasons text[];
    keys text[];
    named bigint[];
    listed bigint[];
    pa int[] := '{}';       -- per rack id: the position given
    pp int[] := '{}';
    others int;
    bsite bigint;
    layout boolean;
    states text[] := '{}';
    r int;
    i int;
    relocated int[] := '{}';
    changed int := 0;
    members int[] := '{}';
    d int;
    dc int := 0;
    new_a int;
    new_p int;
    n int;
    swapped boolean := false;
    kept boolean := false;
    placed boolean := false;
BEGIN
    e.applied := false; e.after := f; e.tags := '{}';

    IF c.nums IS NOT NULL THEN
        SELECT array_agg(x::text ORDER BY o) INTO keys FROM unnest(c.nums) WITH ORDINALITY u(x, o);
        keys := fleet_fuzz.rebase(keys, coalesce(array_lower(c.nums, 1), 1));
    END IF;
    SELECT p.states, p.given, p.reasons INTO pos_states, given, reasons
      FROM fleet_fuzz.pairs_input_states(keys, ar, ac, c.target IS NOT NULL, true) p;
    IF cardinality(pos_states) > 0 THEN
        e.tags := e.tags || 'racks_building position arrays 22023'::text
                  || (SELECT array_agg('racks_building positions: ' || rs) FROM unnest(reasons) rs);
    END IF;
    e := fleet_fuzz.container_checks(c, fleet_fuzz.nr(f), fleet_fuzz.nb(f), '{rack_u,dev_u,bld_s}',
                                       pos_states, e);
    IF e.states IS NOT NULL THEN RETURN e; END IF;

    named := fleet_fuzz.sorted(c.nums);
    n := cardinality(named);
    IF given THEN
        FOR i IN 1 .. cardinality(c.nums) LOOP
            r := c.nums[array_lower(c.nums, 1) + i - 1];
            pa[r] := ar[array_lower(ar, 1) + i - 1];
            pp[r] := ac[array_lower(ac, 1) + i - 1];
        END LOOP;
    END IF;

    IF c.target IS NOT NULL THEN
        bsite := f.b_site[c.target];
        layout := f.b_aisles[c.target] IS NOT NULL;
        -- Under the building lock: capacity, positions inside a layout, and
        -- positions held by racks that keep theirs.
        SELECT count(*) INTO others FROM generate_subscripts(f.r_bldg, 1) k
         WHERE f.r_bldg[k] = c.target AND NOT k = ANY (named);
        IF layout AND others + n > f.b_aisles[c.target] * f.b_per[c.target] THEN
            states := states || '23514'::text;
            e.msg_regex := 'building ' || c.target || ' is full';
            e.tags := e.tags || 'racks_building building full'::text;
        END IF;
        IF given AND EXISTS (SELECT 1 FROM unnest(named) k WHERE pa[k] IS NOT NULL) THEN
            IF NOT layout THEN
                states := states || '22023'::text;
                e.tags := e.tags || 'racks_building position without a layout'::text;
            ELSIF EXISTS (SELECT 1 FROM unnest(named) k
                           WHERE pa[k] >= f.b_aisles[c.target] OR pp[k] >= f.b_per[c.target]) THEN
                states := states || '22023'::text;
                e.tags := e.tags || 'racks_building position outside the layout'::text;
            END IF;
            IF EXISTS (SELECT 1 FROM generate_subscripts(f.r_bldg, 1) h, unnest(named) k
                        WHERE f.r_bldg[h] = c.target AND f.r_aisle[h] IS NOT NULL
                          AND (NOT h = ANY (named) OR pa[h] IS NULL)
                          AND pa[k] = f.r_aisle[h] AND pp[k] = f.r_pos[h]) THEN
                states := states || '23505'::text;
                e.tags := e.tags || 'racks_building position taken'::text;
            END IF;
        END IF;
        IF cardinality(states) > 0 THEN
            e.states := states;
            IF cardinality(states) > 1 THEN e.msg_regex := NULL; END IF;
            RETURN e;
        END IF;
        IF layout AND others + n = f.b_aisles[c.target] * f.b_per[c.target] THEN
            e.tags := e.tags || 'racks_building filled exactly'::text;
        END IF;
    END IF;

    FOREACH r IN ARRAY named LOOP
        IF c.target IS NOT NULL THEN
            IF pa[r] IS NOT NULL THEN
                new_a := pa[r]; new_p := pp[r];
                placed := true;
                IF EXISTS (SELECT 1 FROM unnest(named) k
                            WHERE k <> r AND f.r_bldg[k] = c.target AND f.r_aisle[k] = new_a AND f.r_pos[k] = new_p) THEN
                    swapped := true;
                END IF;
            ELSIF f.r_bldg[r] = c.target THEN
                new_a := f.r_aisle[r]; new_p := f.r_pos[r];
                IF new_a IS NOT NULL THEN kept := true; END IF;
            ELSE
                new_a := NULL; new_p := NULL;
            END IF;
            IF f.r_bldg[r] IS DISTINCT FROM c.target OR f.r_site[r] IS DISTINCT FROM bsite THEN
                relocated := relocated || r;
            END IF;
            e.after.r_bldg[r] := c.target;
            e.after.r_site[r] := bsite;
        ELSE
            new_a := NULL; new_p := NULL;
            IF f.r_bldg[r] IS NOT NULL THEN
                relocated := relocated || r;
            END IF;
            e.after.r_bldg[r] := NULL;
        END IF;
        e.after.r_aisle[r] := new_a;
        e.after.r_pos[r] := new_p;
        IF r = ANY (relocated) OR f.r_aisle[r] IS DISTINCT FROM new_a OR f.r_pos[r] IS DISTINCT FROM new_p THEN
            changed := changed + 1;
        END IF;
    END LOOP;
    FOR d IN SELECT k FROM generate_subscripts(f.d_rack, 1) k WHERE f.d_rack[k] = ANY (relocated) LOOP
        members := members || d;
        IF c.target IS NOT NULL THEN
            IF f.d_site[d] IS DISTINCT FROM bsite OR f.d_bldg[d] IS DISTINCT FROM c.target THEN
                dc := dc + 1;
            END IF;
            e.after.d_site[d] := bsite;
            e.after.d_bldg[d] := c.target;
        ELSE
            IF f.d_bldg[d] IS NOT NULL THEN
                dc := dc + 1;
            END IF;
            e.after.d_bldg[d] := NULL;
        END IF;
    END LOOP;

    -- The audit's rack ids: as given when positions are given, else distinct ascending.
    listed := CASE WHEN given THEN fleet_fuzz.distinct_bigint(c.nums) ELSE named END;
    e.applied := true;
    e.cascade := ROW(0, changed, dc)::public.fleet_cascade;
    e.touch_r := named;
    e.touch_d := members;
    e.touch_m := false;
    e.n_devices := n;
    e.event_type := 'racks.assigned_to_building';
    e.audit_site := bsite;
    e.description := 'Assigned ' || n || ' rack(s) to building '
                     || coalesce(c.target::text, 'Unassigned') || ' (' || dc || ' device(s) cascaded)';
    e.metadata := jsonb_build_object('target_building_id', c.target,
                                     'rack_ids', fleet_fuzz.sample(listed),
                                     'rack_count', changed,
                                     'device_count', dc);
    e.tags := e.tags || CASE WHEN c.target IS NULL THEN 'racks_building removal applied'
                             ELSE 'racks_building applied' END;
    IF placed THEN e.tags := e.tags || 'racks_building positions applied'::text; END IF;
    IF swapped THEN e.tags := e.tags || 'racks_building positions swapped or shifted'::text; END IF;
    IF kept THEN e.tags := e.tags || 'racks_building rack kept its position'::text; END IF;
    IF dc > 0 THEN e.tags := e.tags || 'racks_building cascaded devices'::text; END IF;
    IF c.target IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(relocated) k WHERE f.r_site[k] IS DISTINCT FROM bsite) THEN
        e.tags := e.tags || 'racks_building moved a rack to another site'::text;
    END IF;
    IF c.target IS NOT NULL AND NOT layout THEN e.tags := e.tags || 'racks_building into a building without layout'::text; END IF;
    IF changed = 0 THEN e.tags := e.tags || 'racks_building changed nothing'::text; END IF;
    IF n > 50 THEN e.tags := e.tags || 'racks_building over 50 racks'::text; END IF;
    IF c.rights IS NOT NULL THEN e.tags := e.tags || 'racks_building applied by a role'::text; END IF;
    RETURN e;
END $$;

-------------------------------------------------------------------------------
-- The model of fleet_assign_buildings_to_site (spec/api.md)
-------------------------------------------------------------------------------

CREATE FUNCTION fleet_fuzz.expect_buildings_site(f fleet_fuzz.fleet, c fleet_fuzz.call)
RETURNS fleet_fuzz.expectation
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e fleet_fuzz.expectation;
    named bigint[];
    moving int[] := '{}';
    racks int[] := '{}';
    devices int[] := '{}';
    b int;
    k int;
    rc int := 0;
    dc int := 0;
    clash text;
BEGIN
    e.applied := false; e.after := f; e.tags := '{}';
    e := fleet_fuzz.container_checks(c, fleet_fuzz.nb(f), f.nsites, '{bld_u,rack_u,dev_u,bld_s}', NULL, e);
    IF e.states IS NOT NULL THEN RETURN e; END IF;

    named := fleet_fuzz.sorted(c.nums);
    FOREACH b IN ARRAY named LOOP
        IF f.b_site[b] IS DISTINCT FROM c.target THEN
            moving := moving || b;
        ELSE
            e.tags := e.tags || 'buildings_site building already at the target'::text;
        END IF;
    END LOOP;

    -- Names: unique among the buildings of a site (not for Unassigned).
    IF c.target IS NOT NULL THEN
        SELECT f.b_name[m] INTO clash FROM unnest(moving) m GROUP BY f.b_name[m] HAVING count(*) > 1 LIMIT 1;
        IF clash IS NOT NULL THEN
            e.states := ARRAY['23505'];
            e.tags := e.tags || 'buildings_site two moving buildings of one name'::text;
            RETURN e;
        END IF;
        IF EXISTS (SELECT 1 FROM generate_subscripts(f.b_name, 1) o, unnest(moving) m
                    WHERE f.b_site[o] = c.target AND f.b_name[o] = f.b_name[m]) THEN
            e.states := ARRAY['23505'];
            e.tags := e.tags || 'buildings_site name taken at the target'::text;
            RETURN e;
        END IF;
    ELSIF EXISTS (SELECT 1 FROM unnest(moving) m, generate_subscripts(f.b_name, 1) o
                   WHERE f.b_site[o] IS NULL AND o <> m AND f.b_name[o] = f.b_name[m]) THEN
        e.tags := e.tags || 'buildings_site shared name at Unassigned'::text;
    END IF;

    FOREACH b IN ARRAY moving LOOP
        e.after.b_site[b] := c.target;
    END LOOP;
    FOR k IN SELECT i FROM generate_subscripts(f.r_bldg, 1) i WHERE f.r_bldg[i] = ANY (moving) LOOP
        racks := racks || k;
        IF f.r_site[k] IS DISTINCT FROM c.target THEN
            rc := rc + 1;
        END IF;
        e.after.r_site[k] := c.target;
    END LOOP;
    FOR k IN SELECT i FROM generate_subscripts(f.d_bldg, 1) i
              WHERE f.d_bldg[i] = ANY (moving) OR f.r_bldg[f.d_rack[i]] = ANY (moving) LOOP
        devices := devices || k;
        IF f.d_site[k] IS DISTINCT FROM c.target THEN
            dc := dc + 1;
        END IF;
        e.after.d_site[k] := c.target;
    END LOOP;

    e.applied := true;
    e.cascade := ROW(cardinality(moving), rc, dc)::public.fleet_cascade;
    e.touch_b := moving;
    e.touch_r := racks;
    e.touch_d := devices;
    e.touch_m := false;
    e.n_devices := cardinality(named);
    e.event_type := 'buildings.assigned_to_site';
    e.audit_site := c.target;
    e.description := 'Assigned ' || cardinality(named) || ' building(s) to site '
                     || coalesce(c.target::text, 'Unassigned') || ' (' || rc || ' rack(s), '
                     || dc || ' device(s) cascaded)';
    e.metadata := jsonb_build_object('target_site_id', c.target,
                                     'building_ids', fleet_fuzz.sample(named),
                                     'building_count', cardinality(moving),
                                     'rack_count', rc,
                                     'device_count', dc);
    e.tags := e.tags || 'buildings_site applied'::text;
    IF rc > 0 THEN e.tags := e.tags || 'buildings_site cascaded racks'::text; END IF;
    IF dc > 0 THEN e.tags := e.tags || 'buildings_site cascaded devices'::text; END IF;
    IF EXISTS (SELECT 1 FROM unnest(devices) dv WHERE f.d_rack[dv] IS NOT NULL) THEN
        e.tags := e.tags || 'buildings_site cascaded racked devices'::text;
    END IF;
    IF cardinality(named) > 50 THEN e.tags := e.tags || 'buildings_site over 50 buildings'::text; END IF;
    IF c.rights IS NOT NULL THEN e.tags := e.tags || 'buildings_site applied by a role'::text; END IF;
    RETURN e;
END $$;

CREATE FUNCTION fleet_fuzz.expect(f fleet_fuzz.fleet, c fleet_fuzz.call) RETURNS fleet_fuzz.expectation
    LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    CASE c.op
        WHEN 'site' THEN RETURN fleet_fuzz.expect_site(f, c);
        WHEN 'rack' THEN RETURN fleet_fuzz.expect_rack(f, c);
        WHEN 'building' THEN RETURN fleet_fuzz.expect_building(f, c);
        WHEN 'racks_site' THEN RETURN fleet_fuzz.expect_racks_site(f, c);
        WHEN 'racks_building' THEN RETURN fleet_fuzz.expect_racks_building(f, c);
        WHEN 'buildings_site' THEN RETURN fleet_fuzz.expect_buildings_site(f, c);
        WHEN 'direct' THEN RETURN fleet_fuzz.expect_direct(f, c);
    END CASE;
END $$;

-------------------------------------------------------------------------------
-- Direct writes (spec/api.md, "The invariant holds for every write"): the
-- model applies the statement to its fleet and predicts 23514 when the
-- result breaks a rule (or a CHECK constraint), 23505 / 23503 when it breaks
-- a unique key / foreign key, and otherwise exactly that change, with no
-- audit row and no notification.
-------------------------------------------------------------------------------

-- What in a fleet breaks the placement invariant (rules 1-5), or NULL.
CREATE FUNCTION fleet_fuzz.model_problem(f fleet_fuzz.fleet) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    p text;
BEGIN
    SELECT format('rack %s: rule %s', r, CASE WHEN f.r_site[r] IS DISTINCT FROM f.b_site[f.r_bldg[r]] THEN 3 ELSE 5 END) INTO p
      FROM generate_subscripts(f.r_rows, 1) r
     WHERE (f.r_bldg[r] IS NOT NULL AND f.r_site[r] IS DISTINCT FROM f.b_site[f.r_bldg[r]])
        OR (f.r_aisle[r] IS NOT NULL AND (f.b_aisles[f.r_bldg[r]] IS NULL OR f.r_aisle[r] >= f.b_aisles[f.r_bldg[r]]
                                          OR f.r_pos[r] >= f.b_per[f.r_bldg[r]]))
     LIMIT 1;
    IF p IS NOT NULL THEN RETURN p; END IF;
    SELECT format('device %s: rule %s', d, CASE
               WHEN f.d_site[d] IS DISTINCT FROM f.r_site[f.d_rack[d]] THEN 1
               WHEN f.d_bldg[d] IS DISTINCT FROM f.r_bldg[f.d_rack[d]] THEN 2
               ELSE 5 END) INTO p
      FROM generate_subscripts(f.d_ident, 1) d
     WHERE f.d_rack[d] IS NOT NULL
       AND (f.d_site[d] IS DISTINCT FROM f.r_site[f.d_rack[d]]
            OR f.d_bldg[d] IS DISTINCT FROM f.r_bldg[f.d_rack[d]]
            OR f.d_row[d] >= f.r_rows[f.d_rack[d]] OR f.d_col[d] >= f.r_cols[f.d_rack[d]])
     LIMIT 1;
    IF p IS NOT NULL THEN RETURN p; END IF;
    SELECT format('device %s: rule 4', d) INTO p
      FROM generate_subscripts(f.d_ident, 1) d
     WHERE f.d_bldg[d] IS NOT NULL AND f.d_site[d] IS DISTINCT FROM f.b_site[f.d_bldg[d]]
     LIMIT 1;
    IF p IS NOT NULL THEN RETURN p; END IF;
    SELECT format('rack %s: rule 5 (%s members)', f.d_rack[d], count(*)) INTO p
      FROM generate_subscripts(f.d_rack, 1) d WHERE f.d_rack[d] IS NOT NULL
     GROUP BY f.d_rack[d] HAVING count(*) > f.r_rows[f.d_rack[d]] * f.r_cols[f.d_rack[d]] LIMIT 1;
    IF p IS NOT NULL THEN RETURN p; END IF;
    SELECT format('building %s: rule 5 (%s racks)', f.r_bldg[r], count(*)) INTO p
      FROM generate_subscripts(f.r_bldg, 1) r WHERE f.b_aisles[f.r_bldg[r]] IS NOT NULL
     GROUP BY f.r_bldg[r] HAVING count(*) > f.b_aisles[f.r_bldg[r]] * f.b_per[f.r_bldg[r]] LIMIT 1;
    RETURN p;
END $$;

-- A site value for a direct write: mostly the one that keeps the fleet
-- consistent (consistent), else any site, NULL, or one that does not exist.
CREATE FUNCTION fleet_fuzz.pick_site(f fleet_fuzz.fleet, consistent bigint) RETURNS bigint
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p float8 := random();
BEGIN
    IF p < 0.5 THEN
        RETURN consistent;
    ELSIF p < 0.75 AND f.nsites > 0 THEN
        RETURN fleet_fuzz.rnd(1, f.nsites);
    ELSIF p < 0.96 THEN
        RETURN NULL;
    ELSE
        RETURN f.nsites + 1;                                   -- 23503
    END IF;
END $$;

CREATE FUNCTION fleet_fuzz.pick_building(f fleet_fuzz.fleet, consistent bigint) RETURNS bigint
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p float8 := random();
BEGIN
    IF p < 0.5 THEN
        RETURN consistent;
    ELSIF p < 0.8 AND fleet_fuzz.nb(f) > 0 THEN
        RETURN fleet_fuzz.rnd(1, fleet_fuzz.nb(f));
    ELSIF p < 0.97 THEN
        RETURN NULL;
    ELSE
        RETURN fleet_fuzz.nb(f) + 1;                           -- 23503
    END IF;
END $$;

-- A cell of a grid: inside (mostly), on the edge outside, or negative.
CREATE FUNCTION fleet_fuzz.pick_cell(nrows int, ncols int, OUT r int, OUT c int)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p float8 := random();
BEGIN
    r := fleet_fuzz.rnd(0, greatest(coalesce(nrows, 1), 1) - 1);
    c := fleet_fuzz.rnd(0, greatest(coalesce(ncols, 1), 1) - 1);
    IF p < 0.12 THEN
        r := coalesce(nrows, 1);
    ELSIF p < 0.24 THEN
        c := coalesce(ncols, 1);
    ELSIF p < 0.28 THEN
        r := -1;
    END IF;
END $$;

-- A random direct write: kind and values (params; str for names).
CREATE FUNCTION fleet_fuzz.gen_direct(f fleet_fuzz.fleet, INOUT c fleet_fuzz.call)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    kinds text[] := ARRAY['dev_site', 'dev_bldg', 'dev_both', 'dev_ident', 'dev_insert',
                          'rack_site', 'rack_place', 'rack_size', 'rack_insert',
                          'bldg_site', 'bldg_layout', 'bldg_insert',
                          'mem_insert', 'mem_delete', 'mem_move',
                          'slot_insert', 'slot_update', 'slot_delete',
                          'dev_delete', 'rack_delete', 'bldg_delete', 'site_delete'];
    nd int := fleet_fuzz.nd(f);
    nr int := fleet_fuzz.nr(f);
    nb int := fleet_fuzz.nb(f);
    d int;
    r int;
    b bigint;
    x bigint;
    cell record;
    names text[] := ARRAY['hall-A', 'hall-B', 'Halle-ü', 'hall-A '];
BEGIN
    c.kind := kinds[fleet_fuzz.rnd(1, cardinality(kinds))];
    c.nargs := 0;
    IF nd = 0 AND c.kind LIKE 'dev\_%' OR c.kind LIKE 'mem\_%' OR c.kind LIKE 'slot\_%' THEN
        IF nd = 0 THEN c.kind := 'dev_insert'; END IF;
    END IF;
    IF nr = 0 AND (c.kind LIKE 'rack\_%' OR c.kind LIKE 'mem\_%' OR c.kind LIKE 'slot\_%') THEN
        c.kind := 'rack_insert';
    END IF;
    IF nb = 0 AND c.kind LIKE 'bldg\_%' THEN
        c.kind := 'bldg_insert';
    END IF;
    IF f.nsites = 0 AND c.kind = 'site_delete' THEN
        c.kind := 'bldg_insert';
    END IF;
    IF nd > 0 THEN
        d := fleet_fuzz.rnd(1, nd);
    END IF;
    IF nr > 0 THEN
        r := fleet_fuzz.rnd(1, nr);
        IF c.kind IN ('rack_site', 'rack_place') AND fleet_fuzz.chance(0.5) THEN
            -- an empty rack (only its own placement can break a rule)
            r := coalesce((SELECT k FROM generate_subscripts(f.r_rows, 1) k
                            WHERE NOT k = ANY (array_remove(f.d_rack, NULL)) ORDER BY random() LIMIT 1), r);
        END IF;
    END IF;
    CASE c.kind
        WHEN 'dev_site' THEN
            c.params := ARRAY[d, fleet_fuzz.pick_site(f, coalesce(f.r_site[f.d_rack[d]], f.b_site[f.d_bldg[d]], f.d_site[d]))];
        WHEN 'dev_bldg' THEN
            c.params := ARRAY[d, fleet_fuzz.pick_building(f, CASE WHEN f.d_rack[d] IS NOT NULL THEN f.r_bldg[f.d_rack[d]]
                                   ELSE (SELECT k FROM generate_subscripts(f.b_site, 1) k
                                          WHERE f.b_site[k] IS NOT DISTINCT FROM f.d_site[d] ORDER BY random() LIMIT 1) END)];
        WHEN 'dev_both' THEN
            b := fleet_fuzz.pick_building(f, f.r_bldg[f.d_rack[d]]);
            c.params := ARRAY[d, fleet_fuzz.pick_site(f, CASE WHEN b <= nb THEN f.b_site[b] END), b];
        WHEN 'dev_ident' THEN
            c.params := ARRAY[d];
            c.str := CASE WHEN fleet_fuzz.chance(0.3) THEN f.d_ident[fleet_fuzz.rnd(1, nd)]   -- taken: 23505 (or itself)
                          ELSE 'renamed-' || d || '-' || fleet_fuzz.rnd(1, 99) END;
        WHEN 'dev_insert' THEN
            b := fleet_fuzz.pick_building(f, NULL);
            c.params := ARRAY[nd + 1, fleet_fuzz.pick_site(f, CASE WHEN b <= nb THEN f.b_site[b] END), b];
            c.str := CASE WHEN nd > 0 AND fleet_fuzz.chance(0.1) THEN f.d_ident[fleet_fuzz.rnd(1, nd)]
                          ELSE 'new-' || (nd + 1) END;
        WHEN 'rack_site' THEN
            c.params := ARRAY[r, fleet_fuzz.pick_site(f, f.b_site[f.r_bldg[r]])];
        WHEN 'rack_place' THEN
            b := fleet_fuzz.pick_building(f, f.r_bldg[r]);
            SELECT * INTO cell FROM fleet_fuzz.pick_cell(f.b_aisles[b], f.b_per[b]);
            IF fleet_fuzz.chance(0.4) THEN
                cell.r := NULL; cell.c := NULL;
            ELSIF fleet_fuzz.chance(0.05) THEN
                cell.c := NULL;                                    -- half a position: CHECK
            END IF;
            c.params := ARRAY[r, fleet_fuzz.pick_site(f, CASE WHEN b <= nb THEN f.b_site[b] ELSE f.r_site[r] END), b, cell.r, cell.c];
        WHEN 'rack_size' THEN
            c.params := ARRAY[r, CASE WHEN fleet_fuzz.chance(0.05) THEN (ARRAY[0, 13])[fleet_fuzz.rnd(1, 2)] ELSE fleet_fuzz.rnd(1, 4) END,
                                 CASE WHEN fleet_fuzz.chance(0.05) THEN (ARRAY[0, 13])[fleet_fuzz.rnd(1, 2)] ELSE fleet_fuzz.rnd(1, 4) END];
        WHEN 'rack_insert' THEN
            b := fleet_fuzz.pick_building(f, NULL);
            SELECT * INTO cell FROM fleet_fuzz.pick_cell(f.b_aisles[b], f.b_per[b]);
            IF fleet_fuzz.chance(0.5) THEN
                cell.r := NULL; cell.c := NULL;
            END IF;
            c.params := ARRAY[nr + 1, fleet_fuzz.pick_site(f, CASE WHEN b <= nb THEN f.b_site[b] END), b, cell.r, cell.c,
                              fleet_fuzz.rnd(1, 3), fleet_fuzz.rnd(1, 3)];
        WHEN 'bldg_site' THEN
            b := fleet_fuzz.rnd(1, nb);
            c.params := ARRAY[b, fleet_fuzz.pick_site(f, f.b_site[b])];
        WHEN 'bldg_layout' THEN
            b := fleet_fuzz.rnd(1, nb);
            c.params := CASE WHEN fleet_fuzz.chance(0.25) THEN ARRAY[b, NULL, NULL]
                             WHEN fleet_fuzz.chance(0.07) THEN ARRAY[b, NULL, 2]                  -- CHECK
                             WHEN fleet_fuzz.chance(0.05) THEN ARRAY[b, 0, 3]                     -- CHECK
                             ELSE ARRAY[b, fleet_fuzz.rnd(1, 3), fleet_fuzz.rnd(1, 3)] END;
        WHEN 'bldg_insert' THEN
            c.params := ARRAY[nb + 1, fleet_fuzz.pick_site(f, NULL), NULL, NULL];
            IF fleet_fuzz.chance(0.6) THEN
                c.params[3] := fleet_fuzz.rnd(1, 3); c.params[4] := fleet_fuzz.rnd(1, 3);
            END IF;
            c.str := names[fleet_fuzz.rnd(1, cardinality(names))];
        WHEN 'mem_insert' THEN
            d := coalesce((SELECT k FROM generate_subscripts(f.d_ident, 1) k
                            WHERE f.d_rack[k] IS NULL ORDER BY random() LIMIT 1), d);
            IF fleet_fuzz.chance(0.6) THEN
                -- a rack at the device's site and building
                r := coalesce((SELECT k FROM generate_subscripts(f.r_rows, 1) k
                                WHERE f.r_site[k] IS NOT DISTINCT FROM f.d_site[d]
                                  AND f.r_bldg[k] IS NOT DISTINCT FROM f.d_bldg[d]
                                ORDER BY random() LIMIT 1), r);
            END IF;
            c.params := ARRAY[r, d];
        WHEN 'mem_delete' THEN
            d := coalesce((SELECT k FROM generate_subscripts(f.d_ident, 1) k
                            WHERE f.d_rack[k] IS NOT NULL ORDER BY random() LIMIT 1), d);
            c.params := ARRAY[d];
        WHEN 'mem_move' THEN
            d := coalesce((SELECT k FROM generate_subscripts(f.d_ident, 1) k
                            WHERE f.d_rack[k] IS NOT NULL ORDER BY f.d_row[k] IS NOT NULL, random() LIMIT 1), d);
            IF fleet_fuzz.chance(0.7) THEN
                -- another rack at the device's site and building
                r := coalesce((SELECT k FROM generate_subscripts(f.r_rows, 1) k
                                WHERE f.r_site[k] IS NOT DISTINCT FROM f.d_site[d]
                                  AND f.r_bldg[k] IS NOT DISTINCT FROM f.d_bldg[d]
                                  AND k IS DISTINCT FROM f.d_rack[d]
                                ORDER BY random() LIMIT 1), r);
            END IF;
            c.params := ARRAY[d, r];
        WHEN 'slot_insert' THEN
            d := coalesce((SELECT k FROM generate_subscripts(f.d_ident, 1) k
                            WHERE f.d_rack[k] IS NOT NULL ORDER BY f.d_row[k] IS NOT NULL, random() LIMIT 1), d);
            IF f.d_rack[d] IS NOT NULL AND fleet_fuzz.chance(0.9) THEN
                r := f.d_rack[d];
            END IF;
            SELECT * INTO cell FROM fleet_fuzz.pick_cell(f.r_rows[r], f.r_cols[r]);
            c.params := ARRAY[r, d, cell.r, cell.c];
        WHEN 'slot_update' THEN
            d := coalesce((SELECT k FROM generate_subscripts(f.d_ident, 1) k
                            WHERE f.d_row[k] IS NOT NULL ORDER BY random() LIMIT 1), d);
            SELECT * INTO cell FROM fleet_fuzz.pick_cell(f.r_rows[f.d_rack[d]], f.r_cols[f.d_rack[d]]);
            c.params := ARRAY[d, cell.r, cell.c];
        WHEN 'slot_delete' THEN
            d := coalesce((SELECT k FROM generate_subscripts(f.d_ident, 1) k
                            WHERE f.d_row[k] IS NOT NULL ORDER BY random() LIMIT 1), d);
            c.params := ARRAY[d];
        -- Deletes take the last row of a table, so that ids stay 1..n.
        WHEN 'dev_delete' THEN
            c.params := ARRAY[nd];
        WHEN 'rack_delete' THEN
            c.params := ARRAY[nr];
        WHEN 'bldg_delete' THEN
            c.params := ARRAY[nb];
        WHEN 'site_delete' THEN
            c.params := ARRAY[f.nsites];
    END CASE;
END $$;

CREATE FUNCTION fleet_fuzz.expect_direct(f fleet_fuzz.fleet, c fleet_fuzz.call)
RETURNS fleet_fuzz.expectation
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e fleet_fuzz.expectation;
    a fleet_fuzz.fleet := f;
    p bigint[] := c.params;
    states text[] := '{}';      -- unique / foreign key / CHECK, besides the rules
    problem text;
    nd int := fleet_fuzz.nd(f);
    nr int := fleet_fuzz.nr(f);
    nb int := fleet_fuzz.nb(f);
    d int;
    r int;
    b int;
    changed boolean := true;
BEGIN
    e.applied := false; e.tags := '{}';
    CASE c.kind
        WHEN 'dev_site' THEN
            d := p[1];
            IF p[2] > f.nsites THEN states := states || '23503'::text; END IF;
            a.d_site[d] := p[2];
            e.touch_d := ARRAY[d];
        WHEN 'dev_bldg' THEN
            d := p[1];
            IF p[2] > nb THEN states := states || '23503'::text; END IF;
            a.d_bldg[d] := p[2];
            e.touch_d := ARRAY[d];
        WHEN 'dev_both' THEN
            d := p[1];
            IF p[2] > f.nsites OR p[3] > nb THEN states := states || '23503'::text; END IF;
            a.d_site[d] := p[2];
            a.d_bldg[d] := p[3];
            e.touch_d := ARRAY[d];
        WHEN 'dev_ident' THEN
            d := p[1];
            IF (f.by_ident ->> c.str)::int <> d THEN states := states || '23505'::text; END IF;
            a.by_ident := (a.by_ident - f.d_ident[d]) || jsonb_build_object(c.str, d);
            a.d_ident[d] := c.str;
            e.touch_d := ARRAY[d];
        WHEN 'dev_insert' THEN
            d := p[1];
            IF f.by_ident ? c.str THEN states := states || '23505'::text; END IF;
            IF p[2] > f.nsites OR p[3] > nb THEN states := states || '23503'::text; END IF;
            a.d_ident[d] := c.str; a.d_site[d] := p[2]; a.d_bldg[d] := p[3];
            a.d_rack[d] := NULL; a.d_row[d] := NULL; a.d_col[d] := NULL;
            a.by_ident := a.by_ident || jsonb_build_object(c.str, d);
        WHEN 'rack_site' THEN
            r := p[1];
            IF p[2] > f.nsites THEN states := states || '23503'::text; END IF;
            a.r_site[r] := p[2];
            e.touch_r := ARRAY[r];
        WHEN 'rack_place', 'rack_insert' THEN
            r := p[1];
            IF p[2] > f.nsites OR p[3] > nb THEN states := states || '23503'::text; END IF;
            IF (p[4] IS NULL) <> (p[5] IS NULL) OR p[4] < 0 OR p[5] < 0 OR (p[4] IS NOT NULL AND p[3] IS NULL) THEN
                states := states || '23514'::text;                               -- CHECK
            END IF;
            IF p[4] IS NOT NULL AND EXISTS (SELECT 1 FROM generate_subscripts(f.r_rows, 1) k
                                             WHERE k <> r AND f.r_bldg[k] = p[3] AND f.r_aisle[k] = p[4] AND f.r_pos[k] = p[5]) THEN
                states := states || '23505'::text;                               -- position key
            END IF;
            a.r_site[r] := p[2]; a.r_bldg[r] := p[3]; a.r_aisle[r] := p[4]; a.r_pos[r] := p[5];
            IF c.kind = 'rack_insert' THEN
                a.r_rows[r] := p[6]; a.r_cols[r] := p[7];
            ELSE
                e.touch_r := ARRAY[r];
            END IF;
        WHEN 'rack_size' THEN
            r := p[1];
            IF p[2] NOT BETWEEN 1 AND 12 OR p[3] NOT BETWEEN 1 AND 12 THEN
                states := states || '23514'::text;                               -- CHECK
            END IF;
            a.r_rows[r] := p[2]; a.r_cols[r] := p[3];
            e.touch_r := ARRAY[r];
        WHEN 'bldg_site' THEN
            b := p[1];
            IF p[2] > f.nsites THEN states := states || '23503'::text; END IF;
            IF p[2] IS NOT NULL AND EXISTS (SELECT 1 FROM generate_subscripts(f.b_name, 1) k
                                             WHERE k <> b AND f.b_site[k] = p[2] AND f.b_name[k] = f.b_name[b]) THEN
                states := states || '23505'::text;
            END IF;
            a.b_site[b] := p[2];
            e.touch_b := ARRAY[b];
        WHEN 'bldg_layout' THEN
            b := p[1];
            IF NOT ((p[2] IS NULL AND p[3] IS NULL)
                    OR coalesce(p[2] BETWEEN 1 AND 100 AND p[3] BETWEEN 1 AND 100, false)) THEN
                states := states || '23514'::text;                               -- CHECK
            END IF;
            a.b_aisles[b] := p[2]; a.b_per[b] := p[3];
            e.touch_b := ARRAY[b];
        WHEN 'bldg_insert' THEN
            b := p[1];
            IF p[2] > f.nsites THEN states := states || '23503'::text; END IF;
            IF p[2] IS NOT NULL AND EXISTS (SELECT 1 FROM generate_subscripts(f.b_name, 1) k
                                             WHERE f.b_site[k] = p[2] AND f.b_name[k] = c.str) THEN
                states := states || '23505'::text;
            END IF;
            a.b_name[b] := c.str; a.b_site[b] := p[2]; a.b_aisles[b] := p[3]; a.b_per[b] := p[4];
        WHEN 'mem_insert' THEN
            r := p[1]; d := p[2];
            IF f.d_rack[d] IS NOT NULL THEN states := states || '23505'::text; END IF;   -- in a rack already
            a.d_rack[d] := r; a.d_row[d] := f.d_row[d]; a.d_col[d] := f.d_col[d];
            IF f.d_rack[d] IS NULL THEN a.d_row[d] := NULL; a.d_col[d] := NULL; END IF;
            e.touch_d := ARRAY[d]; e.touch_m := true;
        WHEN 'mem_delete' THEN
            d := p[1];
            changed := f.d_rack[d] IS NOT NULL;
            a.d_rack[d] := NULL; a.d_row[d] := NULL; a.d_col[d] := NULL;          -- the slot goes with it
            e.touch_d := ARRAY[d]; e.touch_m := true;
        WHEN 'mem_move' THEN
            d := p[1]; r := p[2];
            changed := f.d_rack[d] IS NOT NULL AND f.d_rack[d] <> r;
            IF changed AND f.d_row[d] IS NOT NULL THEN
                states := states || '23503'::text;       -- the slot still references the old membership
            END IF;
            IF f.d_rack[d] IS NOT NULL THEN
                a.d_rack[d] := r;
            END IF;
            e.touch_d := ARRAY[d]; e.touch_m := true;
        WHEN 'slot_insert' THEN
            r := p[1]; d := p[2];
            IF f.d_rack[d] IS DISTINCT FROM r THEN
                states := states || '23503'::text;                               -- no such membership
            END IF;
            IF p[3] < 0 OR p[4] < 0 THEN
                states := states || '23514'::text;                               -- CHECK
            END IF;
            IF f.d_rack[d] = r AND f.d_row[d] IS NOT NULL
               OR EXISTS (SELECT 1 FROM generate_subscripts(f.d_rack, 1) k
                           WHERE f.d_rack[k] = r AND f.d_row[k] = p[3] AND f.d_col[k] = p[4]) THEN
                states := states || '23505'::text;
            END IF;
            a.d_row[d] := p[3]; a.d_col[d] := p[4];
            e.touch_d := ARRAY[d]; e.touch_m := true;
        WHEN 'slot_update' THEN
            d := p[1];
            changed := f.d_row[d] IS NOT NULL;
            IF changed THEN
                IF p[2] < 0 OR p[3] < 0 THEN
                    states := states || '23514'::text;
                END IF;
                IF EXISTS (SELECT 1 FROM generate_subscripts(f.d_rack, 1) k
                            WHERE k <> d AND f.d_rack[k] = f.d_rack[d] AND f.d_row[k] = p[2] AND f.d_col[k] = p[3]) THEN
                    states := states || '23505'::text;
                END IF;
                a.d_row[d] := p[2]; a.d_col[d] := p[3];
            END IF;
            e.touch_d := ARRAY[d]; e.touch_m := true;
        WHEN 'slot_delete' THEN
            d := p[1];
            changed := f.d_row[d] IS NOT NULL;
            a.d_row[d] := NULL; a.d_col[d] := NULL;
            e.touch_d := ARRAY[d]; e.touch_m := true;
        -- Deletes are always allowed and leave what the row held
        -- consistently placed.
        WHEN 'dev_delete' THEN
            d := p[1];                                     -- its membership and slot go with it
            a.by_ident := a.by_ident - f.d_ident[d];
            a.d_ident := a.d_ident[1:nd - 1]; a.d_site := a.d_site[1:nd - 1]; a.d_bldg := a.d_bldg[1:nd - 1];
            a.d_rack := a.d_rack[1:nd - 1]; a.d_row := a.d_row[1:nd - 1]; a.d_col := a.d_col[1:nd - 1];
            e.touch_d := ARRAY[d]; e.touch_m := true;
        WHEN 'rack_delete' THEN
            r := p[1];                                     -- memberships and slots go; devices stay placed
            SELECT coalesce(array_agg(k), '{}') INTO e.touch_d FROM generate_subscripts(f.d_rack, 1) k WHERE f.d_rack[k] = r;
            FOREACH d IN ARRAY e.touch_d LOOP
                a.d_rack[d] := NULL; a.d_row[d] := NULL; a.d_col[d] := NULL;
            END LOOP;
            e.touch_m := true;
            a.r_site := a.r_site[1:nr - 1]; a.r_rows := a.r_rows[1:nr - 1]; a.r_cols := a.r_cols[1:nr - 1];
            a.r_bldg := a.r_bldg[1:nr - 1]; a.r_aisle := a.r_aisle[1:nr - 1]; a.r_pos := a.r_pos[1:nr - 1];
            e.touch_r := ARRAY[r];
        WHEN 'bldg_delete' THEN
            b := p[1];                                     -- racks and devices lose it, keep their site
            SELECT coalesce(array_agg(k), '{}') INTO e.touch_r FROM generate_subscripts(f.r_bldg, 1) k WHERE f.r_bldg[k] = b;
            FOREACH r IN ARRAY e.touch_r LOOP
                a.r_bldg[r] := NULL; a.r_aisle[r] := NULL; a.r_pos[r] := NULL;
            END LOOP;
            SELECT coalesce(array_agg(k), '{}') INTO e.touch_d FROM generate_subscripts(f.d_bldg, 1) k WHERE f.d_bldg[k] = b;
            FOREACH d IN ARRAY e.touch_d LOOP
                a.d_bldg[d] := NULL;
            END LOOP;
            a.b_name := a.b_name[1:nb - 1]; a.b_site := a.b_site[1:nb - 1];
            a.b_aisles := a.b_aisles[1:nb - 1]; a.b_per := a.b_per[1:nb - 1];
            e.touch_b := ARRAY[b];
        WHEN 'site_delete' THEN
            -- buildings, racks and devices at it are left at no site
            SELECT coalesce(array_agg(k), '{}') INTO e.touch_b FROM generate_subscripts(f.b_site, 1) k WHERE f.b_site[k] = p[1];
            FOREACH b IN ARRAY e.touch_b LOOP
                a.b_site[b] := NULL;
            END LOOP;
            SELECT coalesce(array_agg(k), '{}') INTO e.touch_r FROM generate_subscripts(f.r_site, 1) k WHERE f.r_site[k] = p[1];
            FOREACH r IN ARRAY e.touch_r LOOP
                a.r_site[r] := NULL;
            END LOOP;
            SELECT coalesce(array_agg(k), '{}') INTO e.touch_d FROM generate_subscripts(f.d_site, 1) k WHERE f.d_site[k] = p[1];
            FOREACH d IN ARRAY e.touch_d LOOP
                a.d_site[d] := NULL;
            END LOOP;
            a.nsites := f.nsites - 1;
    END CASE;

    problem := fleet_fuzz.model_problem(a);
    IF problem IS NOT NULL THEN
        states := states || '23514'::text;
    END IF;
    IF cardinality(states) > 0 THEN
        e.states := states;
        e.tags := ARRAY['direct ' || c.kind || ' refused'];
        IF problem IS NOT NULL AND cardinality(states) = 1 THEN
            e.tags := e.tags || ('direct ' || c.kind || ' breaks ' || split_part(split_part(problem, ': ', 2), ' (', 1));
            e.tags := e.tags || ('direct write breaks ' || split_part(split_part(problem, ': ', 2), ' (', 1));
        END IF;
        RETURN e;
    END IF;
    e.applied := true;
    e.after := a;
    e.event_type := NULL;        -- no audit row
    e.tags := ARRAY['direct ' || c.kind || CASE WHEN changed THEN ' applied' ELSE ' changed nothing' END];
    RETURN e;
END $$;

-------------------------------------------------------------------------------
-- Making the call
-------------------------------------------------------------------------------

-- Call the function as c.role with fleet_sites.actor = c.actor, passing
-- c.nargs arguments. Returns the SQLSTATE and message (with detail) of an
-- error, or the rows in the order returned (device moves) or the
-- fleet_cascade row (container moves). The subtransaction of the EXCEPTION
-- block undoes the role on error; on success the role is reset here.
CREATE FUNCTION fleet_fuzz.run_call(c fleet_fuzz.call) RETURNS fleet_fuzz.outcome
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    detail text;
    state text;
    message text;
    result public.fleet_conflict[];
    cascade public.fleet_cascade;
    last_id bigint;
BEGIN
    BEGIN
        PERFORM pg_catalog.set_config('fleet_sites.actor', coalesce(c.actor, ''), true);
        IF c.role IS NOT NULL THEN
            EXECUTE format('SET LOCAL ROLE %I', c.role);
        END IF;
        CASE c.op || '/' || c.nargs
            WHEN 'site/2' THEN
                SELECT coalesce(array_agg(ROW(a, b, s, k, g)::public.fleet_conflict ORDER BY n), '{}') INTO result
                  FROM public.fleet_assign_devices_to_site(c.ids, c.target) WITH ORDINALITY AS r(a, b, s, k, g, n);
            WHEN 'site/3' THEN
                SELECT coalesce(array_agg(ROW(a, b, s, k, g)::public.fleet_conflict ORDER BY n), '{}') INTO result
                  FROM public.fleet_assign_devices_to_site(c.ids, c.target, c.force) WITH ORDINALITY AS r(a, b, s, k, g, n);
            WHEN 'rack/2' THEN
                SELECT coalesce(array_agg(ROW(a, b, s, k, g)::public.fleet_conflict ORDER BY n), '{}') INTO result
                  FROM public.fleet_assign_devices_to_rack(c.ids, c.target) WITH ORDINALITY AS r(a, b, s, k, g, n);
            WHEN 'rack/3' THEN
                SELECT coalesce(array_agg(ROW(a, b, s, k, g)::public.fleet_conflict ORDER BY n), '{}') INTO result
                  FROM public.fleet_assign_devices_to_rack(c.ids, c.target, c.force) WITH ORDINALITY AS r(a, b, s, k, g, n);
            WHEN 'rack/4' THEN
                SELECT coalesce(array_agg(ROW(a, b, s, k, g)::public.fleet_conflict ORDER BY n), '{}') INTO result
                  FROM public.fleet_assign_devices_to_rack(c.ids, c.target, c.force, c.ar) WITH ORDINALITY AS r(a, b, s, k, g, n);
            WHEN 'rack/5' THEN
                SELECT coalesce(array_agg(ROW(a, b, s, k, g)::public.fleet_conflict ORDER BY n), '{}') INTO result
                  FROM public.fleet_assign_devices_to_rack(c.ids, c.target, c.force, c.ar, c.ac) WITH ORDINALITY AS r(a, b, s, k, g, n);
            WHEN 'building/2' THEN
                SELECT coalesce(array_agg(ROW(a, b, s, k, g)::public.fleet_conflict ORDER BY n), '{}') INTO result
                  FROM public.fleet_assign_devices_to_building(c.ids, c.target) WITH ORDINALITY AS r(a, b, s, k, g, n);
            WHEN 'building/3' THEN
                SELECT coalesce(array_agg(ROW(a, b, s, k, g)::public.fleet_conflict ORDER BY n), '{}') INTO result
                  FROM public.fleet_assign_devices_to_building(c.ids, c.target, c.force) WITH ORDINALITY AS r(a, b, s, k, g, n);
            WHEN 'racks_site/2' THEN
                SELECT x.building_count, x.rack_count, x.device_count INTO cascade
                  FROM public.fleet_assign_racks_to_site(c.nums, c.target) x;
            WHEN 'racks_building/2' THEN
                SELECT x.building_count, x.rack_count, x.device_count INTO cascade
                  FROM public.fleet_assign_racks_to_building(c.nums, c.target) x;
            WHEN 'racks_building/3' THEN
                SELECT x.building_count, x.rack_count, x.device_count INTO cascade
                  FROM public.fleet_assign_racks_to_building(c.nums, c.target, c.ar) x;
            WHEN 'racks_building/4' THEN
                SELECT x.building_count, x.rack_count, x.device_count INTO cascade
                  FROM public.fleet_assign_racks_to_building(c.nums, c.target, c.ar, c.ac) x;
            WHEN 'buildings_site/2' THEN
                SELECT x.building_count, x.rack_count, x.device_count INTO cascade
                  FROM public.fleet_assign_buildings_to_site(c.nums, c.target) x;
            WHEN 'direct/0' THEN
                CASE c.kind
                    WHEN 'dev_site' THEN
                        UPDATE public.fleet_device SET site_id = c.params[2] WHERE id = c.params[1];
                    WHEN 'dev_bldg' THEN
                        UPDATE public.fleet_device SET building_id = c.params[2] WHERE id = c.params[1];
                    WHEN 'dev_both' THEN
                        UPDATE public.fleet_device SET site_id = c.params[2], building_id = c.params[3] WHERE id = c.params[1];
                    WHEN 'dev_ident' THEN
                        UPDATE public.fleet_device SET identifier = c.str WHERE id = c.params[1];
                    WHEN 'dev_insert' THEN
                        INSERT INTO public.fleet_device (id, identifier, site_id, building_id, updated_at)
                        VALUES (c.params[1], c.str, c.params[2], c.params[3], timestamptz '2000-01-01 00:00+00');
                    WHEN 'rack_site' THEN
                        UPDATE public.fleet_rack SET site_id = c.params[2] WHERE id = c.params[1];
                    WHEN 'rack_place' THEN
                        UPDATE public.fleet_rack SET site_id = c.params[2], building_id = c.params[3],
                               aisle_index = c.params[4], position_in_aisle = c.params[5]
                         WHERE id = c.params[1];
                    WHEN 'rack_size' THEN
                        UPDATE public.fleet_rack SET row_count = c.params[2], column_count = c.params[3] WHERE id = c.params[1];
                    WHEN 'rack_insert' THEN
                        INSERT INTO public.fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle,
                                                       row_count, column_count)
                        VALUES (c.params[1], 'rack-' || c.params[1], c.params[2], c.params[3], c.params[4], c.params[5],
                                c.params[6], c.params[7]);
                    WHEN 'bldg_site' THEN
                        UPDATE public.fleet_building SET site_id = c.params[2] WHERE id = c.params[1];
                    WHEN 'bldg_layout' THEN
                        UPDATE public.fleet_building SET aisle_count = c.params[2], racks_per_aisle = c.params[3]
                         WHERE id = c.params[1];
                    WHEN 'bldg_insert' THEN
                        INSERT INTO public.fleet_building (id, name, site_id, aisle_count, racks_per_aisle)
                        VALUES (c.params[1], c.str, c.params[2], c.params[3], c.params[4]);
                    WHEN 'mem_insert' THEN
                        INSERT INTO public.fleet_rack_membership (rack_id, device_id) VALUES (c.params[1], c.params[2]);
                    WHEN 'mem_delete' THEN
                        DELETE FROM public.fleet_rack_membership WHERE device_id = c.params[1];
                    WHEN 'mem_move' THEN
                        UPDATE public.fleet_rack_membership SET rack_id = c.params[2] WHERE device_id = c.params[1];
                    WHEN 'slot_insert' THEN
                        INSERT INTO public.fleet_rack_slot (rack_id, device_id, row_index, column_index)
                        VALUES (c.params[1], c.params[2], c.params[3], c.params[4]);
                    WHEN 'slot_update' THEN
                        UPDATE public.fleet_rack_slot SET row_index = c.params[2], column_index = c.params[3]
                         WHERE device_id = c.params[1];
                    WHEN 'slot_delete' THEN
                        DELETE FROM public.fleet_rack_slot WHERE device_id = c.params[1];
                    WHEN 'dev_delete' THEN
                        DELETE FROM public.fleet_device WHERE id = c.params[1];
                    WHEN 'rack_delete' THEN
                        DELETE FROM public.fleet_rack WHERE id = c.params[1];
                    WHEN 'bldg_delete' THEN
                        DELETE FROM public.fleet_building WHERE id = c.params[1];
                    WHEN 'site_delete' THEN
                        DELETE FROM public.fleet_site WHERE id = c.params[1];
                END CASE;
        END CASE;
        last_id := public.fleet_last_activity_id();
        IF c.role IS NOT NULL THEN
            RESET ROLE;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        -- A 42501 names the table in its message and the privilege in its
        -- detail; the model checks both, so they travel together.
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                                detail = PG_EXCEPTION_DETAIL;
        IF detail <> '' THEN
            message := message || ' (' || detail || ')';
        END IF;
        result := NULL;
        cascade := NULL;
    END;
    RETURN ROW(state, message, result, cascade, last_id)::fleet_fuzz.outcome;
END $$;

-------------------------------------------------------------------------------
-- Looking at the tables
-------------------------------------------------------------------------------

-- Every row version of every table (ctid and values, so that even an UPDATE
-- that changes no value shows), the audit rows, the activity sequence and
-- fleet_last_activity_id().
CREATE FUNCTION fleet_fuzz.capture() RETURNS fleet_fuzz.state
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
    SELECT ROW(
        (SELECT coalesce(array_agg(t.ctid || t::text ORDER BY t.id), '{}') FROM public.fleet_site t),
        (SELECT coalesce(array_agg(t.ctid || t::text ORDER BY t.id), '{}') FROM public.fleet_building t),
        (SELECT coalesce(array_agg(t.ctid || t::text ORDER BY t.id), '{}') FROM public.fleet_rack t),
        (SELECT coalesce(array_agg(t.ctid || t::text ORDER BY t.id), '{}') FROM public.fleet_device t),
        (SELECT coalesce(array_agg(t.device_id || '|' || t.ctid || t::text ORDER BY t.device_id), '{}') FROM public.fleet_rack_membership t),
        (SELECT coalesce(array_agg(t.device_id || '|' || t.ctid || t::text ORDER BY t.device_id), '{}') FROM public.fleet_rack_slot t),
        (SELECT coalesce(max(t.id), 0) FROM public.fleet_activity t),
        (SELECT md5(coalesce(string_agg(t.ctid || t::text, E'\n' ORDER BY t.id), '')) FROM public.fleet_activity t),
        coalesce(pg_catalog.pg_sequence_last_value(pg_catalog.pg_get_serial_sequence('public.fleet_activity', 'id')::regclass)::text, 'not called'),
        public.fleet_last_activity_id()
    )::fleet_fuzz.state
    );
END $$;

CREATE FUNCTION fleet_fuzz.activity_digest(upto bigint) RETURNS text
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
    SELECT md5(coalesce(string_agg(t.ctid || t::text, E'\n' ORDER BY t.id), ''))
      FROM public.fleet_activity t WHERE t.id <= upto
    );
END $$;

-- Placement of everything, as the tables say and as the model says, in the
-- same format, one line per row.
CREATE FUNCTION fleet_fuzz.render_tables() RETURNS text[]
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
    SELECT (SELECT coalesce(array_agg(format('building %s|%s|site %s|layout %s x %s', b.id, b.name, b.site_id,
                                             b.aisle_count, b.racks_per_aisle) ORDER BY b.id), '{}')
              FROM public.fleet_building b)
        || (SELECT coalesce(array_agg(format('rack %s|%s|site %s|%s x %s|building %s|position %s,%s', r.id, r.label,
                                             r.site_id, r.row_count, r.column_count, r.building_id,
                                             r.aisle_index, r.position_in_aisle) ORDER BY r.id), '{}')
              FROM public.fleet_rack r)
        || (SELECT coalesce(array_agg(format('device %s|%s|site %s|building %s|rack %s|slot %s,%s', d.id, d.identifier,
                                             d.site_id, d.building_id, m.rack_id, s.row_index, s.column_index)
                                  ORDER BY d.id), '{}')
              FROM public.fleet_device d
              LEFT JOIN public.fleet_rack_membership m ON m.device_id = d.id
              LEFT JOIN public.fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id)
    );
END $$;

CREATE FUNCTION fleet_fuzz.render_model(f fleet_fuzz.fleet) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (
    SELECT (SELECT coalesce(array_agg(format('building %s|%s|site %s|layout %s x %s', i, f.b_name[i], f.b_site[i],
                                             f.b_aisles[i], f.b_per[i]) ORDER BY i), '{}')
              FROM generate_subscripts(f.b_name, 1) i)
        || (SELECT coalesce(array_agg(format('rack %s|%s|site %s|%s x %s|building %s|position %s,%s', i, 'rack-' || i,
                                             f.r_site[i], f.r_rows[i], f.r_cols[i], f.r_bldg[i],
                                             f.r_aisle[i], f.r_pos[i]) ORDER BY i), '{}')
              FROM generate_subscripts(f.r_rows, 1) i)
        || (SELECT coalesce(array_agg(format('device %s|%s|site %s|building %s|rack %s|slot %s,%s', i, f.d_ident[i],
                                             f.d_site[i], f.d_bldg[i], f.d_rack[i], f.d_row[i], f.d_col[i])
                                  ORDER BY i), '{}')
              FROM generate_subscripts(f.d_ident, 1) i)
    );
END $$;

-- The lines of a that b lacks.
CREATE FUNCTION fleet_fuzz.lines_not_in(a text[], b text[]) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (
    SELECT coalesce(string_agg(x, E'\n        '), '(none)') FROM unnest(a) x WHERE NOT x = ANY (b)
    );
END $$;

-- The placement invariant, checked straight on the tables (rules 1-5, one
-- pass over devices, one over racks, one over buildings), and the view
-- fleet_placement_violation, which must be empty.
CREATE FUNCTION fleet_fuzz.invariant_problems() RETURNS text[]
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    problems text[];
    more text[];
BEGIN
    SELECT array_agg(p) INTO problems
      FROM (SELECT CASE WHEN m.rack_id IS NOT NULL AND d.site_id IS DISTINCT FROM r.site_id
                        THEN format('rule 1: device %s (site %s) in rack %s (site %s)', d.id, d.site_id, r.id, r.site_id) END,
                   CASE WHEN m.rack_id IS NOT NULL AND d.building_id IS DISTINCT FROM r.building_id
                        THEN format('rule 2: device %s (building %s) in rack %s (building %s)', d.id, d.building_id, r.id, r.building_id) END,
                   CASE WHEN d.building_id IS NOT NULL AND d.site_id IS DISTINCT FROM b.site_id
                        THEN format('rule 4: device %s (site %s) in building %s (site %s)', d.id, d.site_id, b.id, b.site_id) END,
                   CASE WHEN s.device_id IS NOT NULL AND (s.row_index >= r.row_count OR s.column_index >= r.column_count
                                                          OR s.row_index < 0 OR s.column_index < 0)
                        THEN format('rule 5: slot (%s, %s) of device %s outside rack %s', s.row_index, s.column_index, d.id, r.id) END
              FROM public.fleet_device d
              LEFT JOIN public.fleet_rack_membership m ON m.device_id = d.id
              LEFT JOIN public.fleet_rack r ON r.id = m.rack_id
              LEFT JOIN public.fleet_rack_slot s ON s.device_id = d.id
              LEFT JOIN public.fleet_building b ON b.id = d.building_id) q(a1, a2, a4, a5),
           LATERAL (VALUES (a1), (a2), (a4), (a5)) v(p)
     WHERE p IS NOT NULL;

    SELECT array_agg(p) INTO more
      FROM (SELECT CASE WHEN r.building_id IS NOT NULL AND r.site_id IS DISTINCT FROM b.site_id
                        THEN format('rule 3: rack %s (site %s) in building %s (site %s)', r.id, r.site_id, b.id, b.site_id) END,
                   CASE WHEN n.members > r.row_count * r.column_count
                        THEN format('rule 5: rack %s holds %s devices, at most %s', r.id, n.members, r.row_count * r.column_count) END,
                   CASE WHEN r.aisle_index IS NOT NULL
                             AND (b.aisle_count IS NULL OR r.aisle_index >= b.aisle_count OR r.position_in_aisle >= b.racks_per_aisle)
                        THEN format('rule 5: rack %s at position (%s, %s) of building %s (layout %s x %s)', r.id, r.aisle_index,
                                    r.position_in_aisle, r.building_id, b.aisle_count, b.racks_per_aisle) END,
                   CASE WHEN b.aisle_count IS NOT NULL
                             AND count(*) OVER (PARTITION BY r.building_id) > b.aisle_count * b.racks_per_aisle
                        THEN format('rule 5: building %s holds %s racks, at most %s', b.id,
                                    count(*) OVER (PARTITION BY r.building_id), b.aisle_count * b.racks_per_aisle) END
              FROM public.fleet_rack r
              LEFT JOIN public.fleet_building b ON b.id = r.building_id
              LEFT JOIN (SELECT rack_id, count(*) FROM public.fleet_rack_membership GROUP BY rack_id) n(rack_id, members)
                     ON n.rack_id = r.id) q(a3, a5, a6, a7),
           LATERAL (VALUES (a3), (a5), (a6), (a7)) v(p)
     WHERE p IS NOT NULL;
    problems := coalesce(problems, '{}') || coalesce(more, '{}');

    IF EXISTS (SELECT 1 FROM public.fleet_placement_violation) THEN
        SELECT problems || array_agg('fleet_placement_violation lists ' || v::text) INTO problems
          FROM public.fleet_placement_violation v;
    END IF;
    RETURN CASE WHEN cardinality(problems) > 0 THEN problems END;
END $$;

-- A call, written so that it can be pasted into psql (huge arrays shortened).
CREATE FUNCTION fleet_fuzz.lit(a anyarray, typ text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN a IS NULL THEN 'NULL'
            WHEN cardinality(a) > 40 THEN format('/* %s elements, first: %s */ NULL', cardinality(a), (a::text[])[array_lower(a, 1)])
            ELSE quote_literal(a::text) || '::' || typ END
$$;

CREATE FUNCTION fleet_fuzz.describe(c fleet_fuzz.call) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF c.op = 'direct' THEN
        RETURN format(CASE c.kind
            WHEN 'dev_site' THEN 'UPDATE fleet_device SET site_id = %2$s WHERE id = %1$s;'
            WHEN 'dev_bldg' THEN 'UPDATE fleet_device SET building_id = %2$s WHERE id = %1$s;'
            WHEN 'dev_both' THEN 'UPDATE fleet_device SET site_id = %2$s, building_id = %3$s WHERE id = %1$s;'
            WHEN 'dev_ident' THEN 'UPDATE fleet_device SET identifier = %8$L WHERE id = %1$s;'
            WHEN 'dev_insert' THEN 'INSERT INTO fleet_device (id, identifier, site_id, building_id) VALUES (%1$s, %8$L, %2$s, %3$s);'
            WHEN 'rack_site' THEN 'UPDATE fleet_rack SET site_id = %2$s WHERE id = %1$s;'
            WHEN 'rack_place' THEN 'UPDATE fleet_rack SET site_id = %2$s, building_id = %3$s, aisle_index = %4$s, position_in_aisle = %5$s WHERE id = %1$s;'
            WHEN 'rack_size' THEN 'UPDATE fleet_rack SET row_count = %2$s, column_count = %3$s WHERE id = %1$s;'
            WHEN 'rack_insert' THEN 'INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle, row_count, column_count) VALUES (%1$s, ''rack-%1$s'', %2$s, %3$s, %4$s, %5$s, %6$s, %7$s);'
            WHEN 'bldg_site' THEN 'UPDATE fleet_building SET site_id = %2$s WHERE id = %1$s;'
            WHEN 'bldg_layout' THEN 'UPDATE fleet_building SET aisle_count = %2$s, racks_per_aisle = %3$s WHERE id = %1$s;'
            WHEN 'bldg_insert' THEN 'INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle) VALUES (%1$s, %8$L, %2$s, %3$s, %4$s);'
            WHEN 'mem_insert' THEN 'INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (%1$s, %2$s);'
            WHEN 'mem_delete' THEN 'DELETE FROM fleet_rack_membership WHERE device_id = %1$s;'
            WHEN 'mem_move' THEN 'UPDATE fleet_rack_membership SET rack_id = %2$s WHERE device_id = %1$s;'
            WHEN 'slot_insert' THEN 'INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (%1$s, %2$s, %3$s, %4$s);'
            WHEN 'slot_update' THEN 'UPDATE fleet_rack_slot SET row_index = %2$s, column_index = %3$s WHERE device_id = %1$s;'
            WHEN 'slot_delete' THEN 'DELETE FROM fleet_rack_slot WHERE device_id = %1$s;'
            WHEN 'dev_delete' THEN 'DELETE FROM fleet_device WHERE id = %1$s;'
            WHEN 'rack_delete' THEN 'DELETE FROM fleet_rack WHERE id = %1$s;'
            WHEN 'bldg_delete' THEN 'DELETE FROM fleet_building WHERE id = %1$s;'
            WHEN 'site_delete' THEN 'DELETE FROM fleet_site WHERE id = %1$s;' END,
            coalesce(c.params[1]::text, 'NULL'), coalesce(c.params[2]::text, 'NULL'), coalesce(c.params[3]::text, 'NULL'),
            coalesce(c.params[4]::text, 'NULL'), coalesce(c.params[5]::text, 'NULL'), coalesce(c.params[6]::text, 'NULL'),
            coalesce(c.params[7]::text, 'NULL'), c.str);
    END IF;
    RETURN (
    SELECT format('%s%sSELECT * FROM fleet_assign_%s(%s);',
                  CASE WHEN c.role IS NOT NULL THEN format('SET ROLE %I /* %s */; ', c.role, c.label) ELSE '' END,
                  CASE WHEN c.actor IS NOT NULL THEN format('SET fleet_sites.actor = %L; ', c.actor) ELSE '' END,
                  CASE c.op WHEN 'site' THEN 'devices_to_site' WHEN 'rack' THEN 'devices_to_rack'
                            WHEN 'building' THEN 'devices_to_building' ELSE replace(c.op, '_', '_to_') END,
                  array_to_string((ARRAY[
                      CASE WHEN c.op IN ('site', 'rack', 'building') THEN fleet_fuzz.lit(c.ids, 'text[]')
                           ELSE fleet_fuzz.lit(c.nums, 'bigint[]') END,
                      coalesce(c.target::text, 'NULL'),
                      CASE WHEN c.op = 'racks_building' THEN fleet_fuzz.lit(c.ar, 'int[]')
                           ELSE coalesce(c.force::text, 'NULL') END,
                      CASE WHEN c.op = 'racks_building' THEN fleet_fuzz.lit(c.ac, 'int[]')
                           ELSE fleet_fuzz.lit(c.ar, 'int[]') END,
                      fleet_fuzz.lit(c.ac, 'int[]')])[1:c.nargs], ', '))
    );
END $$;

CREATE FUNCTION fleet_fuzz.short(v anyelement) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN length(v::text) > 600 THEN left(v::text, 600) || '...' ELSE v::text END
$$;

-- The rows of a (ctid||row per id 1..n) that are not among the allowed
-- ids and differ in b.
CREATE FUNCTION fleet_fuzz.rewritten(a text[], b text[], allowed int[]) RETURNS int[]
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (
    SELECT array_agg(i ORDER BY i) FROM generate_subscripts(a, 1) i
     WHERE NOT i = ANY (coalesce(allowed, '{}')) AND a[i] IS DISTINCT FROM b[i]
    );
END $$;

-- The membership or slot rows ('device_id|...') of devices not allowed.
CREATE FUNCTION fleet_fuzz.keep_rows(a text[], allowed int[]) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (
    SELECT coalesce(array_agg(x ORDER BY x), '{}') FROM unnest(a) x
     WHERE NOT split_part(x, '|', 1)::int = ANY (coalesce(allowed, '{}'))
    );
END $$;

-------------------------------------------------------------------------------
-- Checking one call
-------------------------------------------------------------------------------

-- Compare what happened with what the model expected. pre and post: the
-- states before and after the call. Returns the failures (empty when the
-- call agrees with the model).
CREATE FUNCTION fleet_fuzz.check_call(e fleet_fuzz.expectation, c fleet_fuzz.call, o fleet_fuzz.outcome, actor text,
                                      pre fleet_fuzz.state, post fleet_fuzz.state,
                                      before fleet_fuzz.fleet)
RETURNS text[]
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    fails text[] := '{}';
    a record;
    n_new int;
    got_cleared text[];
    stale text;
    bad int[];
    tables text[];
    model text[];
    problems text[];
    device_call boolean := c.op IN ('site', 'rack', 'building');
    before_sites bigint[] := before.d_site;
    after_sites bigint[] := (e.after).d_site;
BEGIN
    IF e.states IS NOT NULL THEN
        IF o.state IS NULL THEN
            fails := fails || format('expected ERROR %s, got %s', e.states,
                                     CASE WHEN device_call THEN 'rows ' || fleet_fuzz.short(o.result)
                                          WHEN c.op = 'direct' THEN 'the write applied'
                                          ELSE 'result ' || o.cascade::text END);
        ELSIF NOT o.state = ANY (e.states) THEN
            fails := fails || format('expected ERROR %s, got ERROR %s: %s', e.states, o.state, o.message);
        ELSIF e.msg_regex IS NOT NULL AND o.message !~* e.msg_regex THEN
            fails := fails || format('ERROR %s message does not name %s: %s', o.state, e.msg_regex, o.message);
        END IF;
        IF post IS DISTINCT FROM pre THEN
            fails := fails || format('an error wrote something: state %s became %s', fleet_fuzz.short(pre), fleet_fuzz.short(post));
        END IF;
    ELSIF o.state IS NOT NULL THEN
        fails := fails || format('expected %s, got ERROR %s: %s',
                                 CASE WHEN device_call THEN 'rows ' || fleet_fuzz.short(e.conflicts)
                                      WHEN c.op = 'direct' THEN 'the write to be applied'
                                      ELSE 'result ' || e.cascade::text END, o.state, o.message);
    ELSE
        IF device_call AND o.result IS DISTINCT FROM e.conflicts THEN
            fails := fails || format('expected rows %s, got rows %s',
                                     fleet_fuzz.short(e.conflicts), fleet_fuzz.short(o.result));
        END IF;
        IF NOT device_call AND o.cascade IS DISTINCT FROM e.cascade THEN
            fails := fails || format('expected fleet_cascade %s, got %s', e.cascade, o.cascade);
        END IF;

        IF NOT e.applied THEN
            IF o.last_id IS DISTINCT FROM pre.last_id THEN
                fails := fails || format('fleet_last_activity_id() changed from %s to %s on a call that returned conflicts',
                                         pre.last_id, o.last_id);
            END IF;
            IF post IS DISTINCT FROM pre THEN
                fails := fails || format('a call that returned conflicts wrote something: state %s became %s',
                                         fleet_fuzz.short(pre), fleet_fuzz.short(post));
            END IF;
        ELSE
            -- The new state, as the model says.
            IF post.sites IS DISTINCT FROM pre.sites
               AND (c.kind IS DISTINCT FROM 'site_delete'
                    OR post.sites IS DISTINCT FROM pre.sites[1:cardinality(pre.sites) - 1]) THEN
                fails := fails || 'fleet_site changed'::text;
            END IF;
            tables := fleet_fuzz.render_tables();
            model := fleet_fuzz.render_model(e.after);
            IF tables IS DISTINCT FROM model THEN
                fails := fails || format(E'placement differs from the model:\n      tables have:\n        %s\n      model has:\n        %s',
                                         fleet_fuzz.lines_not_in(tables, model), fleet_fuzz.lines_not_in(model, tables));
            END IF;
            -- No statement touches a row the call had no business with (same
            -- row version): buildings, racks, devices, memberships, slots.
            bad := fleet_fuzz.rewritten(pre.buildings, post.buildings, e.touch_b);
            IF bad IS NOT NULL THEN
                fails := fails || format('buildings %s were rewritten, only %s may be', bad, coalesce(e.touch_b, '{}'));
            END IF;
            bad := fleet_fuzz.rewritten(pre.racks, post.racks, e.touch_r);
            IF bad IS NOT NULL THEN
                fails := fails || format('racks %s were rewritten, only %s may be', bad, coalesce(e.touch_r, '{}'));
            END IF;
            bad := fleet_fuzz.rewritten(pre.devices, post.devices, e.touch_d);
            IF bad IS NOT NULL THEN
                fails := fails || format('devices %s were rewritten, only %s may be', bad, coalesce(e.touch_d, '{}'));
            END IF;
            IF fleet_fuzz.keep_rows(pre.memberships, CASE WHEN e.touch_m THEN e.touch_d END)
               IS DISTINCT FROM fleet_fuzz.keep_rows(post.memberships, CASE WHEN e.touch_m THEN e.touch_d END) THEN
                fails := fails || format('memberships changed that the call may not touch (it may touch those of %s)',
                                         CASE WHEN e.touch_m THEN e.touch_d ELSE '{}' END);
            END IF;
            IF fleet_fuzz.keep_rows(pre.slots, CASE WHEN e.touch_m THEN e.touch_d END)
               IS DISTINCT FROM fleet_fuzz.keep_rows(post.slots, CASE WHEN e.touch_m THEN e.touch_d END) THEN
                fails := fails || format('slots changed that the call may not touch (it may touch those of %s)',
                                         CASE WHEN e.touch_m THEN e.touch_d ELSE '{}' END);
            END IF;
            -- updated_at = now() on every device whose site a function changed (README).
            SELECT string_agg(d.identifier, ', ' ORDER BY d.id) INTO stale
              FROM public.fleet_device d
             WHERE before_sites[d.id] IS DISTINCT FROM after_sites[d.id]
               AND d.updated_at IS DISTINCT FROM now() AND c.op <> 'direct';
            IF stale IS NOT NULL THEN
                fails := fails || format('site changed but updated_at is not now(): %s', stale);
            END IF;
            -- A direct write: no audit row, no activity id.
            IF e.event_type IS NULL THEN
                IF (post.activity, post.seq, post.last_id) IS DISTINCT FROM (pre.activity, pre.seq, pre.last_id) THEN
                    fails := fails || format('a direct write changed fleet_activity or fleet_last_activity_id(): %s %s %s became %s %s %s',
                                             pre.activity, pre.seq, pre.last_id, post.activity, post.seq, post.last_id);
                END IF;
            -- Exactly one new activity row, older rows untouched, and
            -- fleet_last_activity_id() names it.
            ELSIF fleet_fuzz.activity_digest(pre.activity_max) IS DISTINCT FROM pre.activity THEN
                fails := fails || 'existing fleet_activity rows changed'::text;
            END IF;
            SELECT count(*) INTO n_new FROM public.fleet_activity WHERE id > pre.activity_max;
            IF e.event_type IS NULL THEN
                NULL;
            ELSIF n_new <> 1 THEN
                fails := fails || format('expected 1 new fleet_activity row, found %s', n_new);
            ELSE
                SELECT * INTO a FROM public.fleet_activity WHERE id > pre.activity_max;
                IF o.last_id IS DISTINCT FROM a.id OR post.last_id IS DISTINCT FROM a.id THEN
                    fails := fails || format('fleet_last_activity_id() is %s (asked by the caller) and %s, the new audit row is %s',
                                             o.last_id, post.last_id, a.id);
                END IF;
                IF a.event_type IS DISTINCT FROM e.event_type THEN
                    fails := fails || format('audit event_type %L, expected %L', a.event_type, e.event_type);
                END IF;
                IF a.site_id IS DISTINCT FROM e.audit_site THEN
                    fails := fails || format('audit site_id %s, expected %s', a.site_id, e.audit_site);
                END IF;
                IF a.actor IS DISTINCT FROM actor THEN
                    fails := fails || format('audit actor %L, expected %L', a.actor, actor);
                END IF;
                IF a.description IS DISTINCT FROM e.description THEN
                    fails := fails || format('audit description %L, expected %L', a.description, e.description);
                END IF;
                IF (a.metadata - 'force_cleared_device_identifiers') IS DISTINCT FROM e.metadata THEN
                    fails := fails || format('audit metadata %s, expected %s (besides force_cleared_device_identifiers)',
                                             fleet_fuzz.short(a.metadata), fleet_fuzz.short(e.metadata));
                END IF;
                -- The cleared identifiers, in byte order (the order of the
                -- conflicts), first 50.
                IF e.cleared IS NULL THEN
                    IF a.metadata ? 'force_cleared_device_identifiers' THEN
                        fails := fails || 'force_cleared_device_identifiers present but no membership was cleared'::text;
                    END IF;
                ELSE
                    SELECT array_agg(v ORDER BY convert_to(v, 'UTF8')) INTO got_cleared FROM unnest(e.cleared) u(v);
                    IF a.metadata -> 'force_cleared_device_identifiers' IS DISTINCT FROM to_jsonb(got_cleared[1:50]) THEN
                        fails := fails || format('force_cleared_device_identifiers %s, expected %s',
                                                 fleet_fuzz.short(a.metadata -> 'force_cleared_device_identifiers'),
                                                 fleet_fuzz.short(to_jsonb(got_cleared[1:50])));
                    END IF;
                END IF;
                IF a.occurred_at IS NULL OR a.occurred_at < now() OR a.occurred_at > clock_timestamp() THEN
                    fails := fails || format('audit occurred_at %s is not within this transaction', a.occurred_at);
                END IF;
            END IF;
        END IF;
    END IF;

    -- The invariant, after every call that wrote something (a call that
    -- wrote nothing left the very rows of the last check, checked then).
    IF post IS DISTINCT FROM pre THEN
        problems := fleet_fuzz.invariant_problems();
    END IF;
    IF problems IS NOT NULL THEN
        fails := fails || ('placement invariant broken: ' || array_to_string(problems, '; '));
    END IF;
    RETURN fails;
END $$;

-------------------------------------------------------------------------------
-- One round
-------------------------------------------------------------------------------

-- Round round_no of run seed: a fresh fleet and ncalls random calls, the op
-- of each drawn with weights (site, rack, building, racks_site,
-- racks_building, buildings_site). roles: the test roles (parallel to
-- role_labels()) or NULL. With with_trace, every call goes into trace.
-- outcomes: per call, 'op applied', 'op conflicts' or 'op SQLSTATE';
-- reached: the model's tags of the calls made (coverage). Stops at the first
-- call that disagrees with the model (the rest of the round would start from
-- a state the model does not know).
CREATE FUNCTION fleet_fuzz.round(seed bigint, round_no int, ncalls int, roles name[],
                                 with_trace boolean, weights float8[],
                                 OUT calls int, OUT applied int, OUT conflicted int,
                                 OUT errored int, OUT cleared int, OUT sampled int,
                                 OUT states text[], OUT activity_ids bigint[],
                                 OUT failures text[], OUT trace text[],
                                 OUT outcomes text[], OUT reached text[])
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    f fleet_fuzz.fleet;
    c fleet_fuzz.call;
    e fleet_fuzz.expectation;
    o fleet_fuzz.outcome;
    pre fleet_fuzz.state;
    post fleet_fuzz.state;
    fails text[];
    actor text;
    i int;
BEGIN
    calls := 0; applied := 0; conflicted := 0; errored := 0; cleared := 0; sampled := 0;
    states := '{}'; activity_ids := '{}'; failures := '{}'; trace := '{}';
    outcomes := '{}'; reached := '{}';

    -- hashint8 spreads (seed, round) over int4; setseed wants [-1, 1].
    PERFORM setseed(hashint8(seed * 1000003 + round_no)::float8 / 2147483648.0);
    f := fleet_fuzz.gen_fleet();
    IF with_trace THEN
        trace := trace || format(E'round %s fleet:\n%s', round_no, array_to_string(fleet_fuzz.render_model(f), E'\n'));
    END IF;
    pre := fleet_fuzz.capture();

    FOR i IN 1 .. ncalls LOOP
        c := fleet_fuzz.gen_call(f, roles, weights);
        e := fleet_fuzz.expect(f, c);
        actor := coalesce(nullif(c.actor, ''), c.role, current_user);

        o := fleet_fuzz.run_call(c);
        calls := calls + 1;
        post := fleet_fuzz.capture();
        fails := fleet_fuzz.check_call(e, c, o, actor, pre, post, f);
        reached := reached || coalesce(e.tags, '{}');

        IF with_trace THEN
            trace := trace || format('call %s: %s -> %s', i, fleet_fuzz.describe(c),
                                 coalesce('ERROR ' || o.state || ': ' || o.message,
                                          fleet_fuzz.short(o.result), o.cascade::text));
        END IF;
        IF o.state IS NOT NULL THEN
            errored := errored + 1;
            states := states || o.state;
            outcomes := outcomes || (c.op || ' ' || o.state);
        ELSIF e.applied THEN
            applied := applied + 1;
            outcomes := outcomes || (c.op || ' applied');
            IF e.cleared IS NOT NULL THEN
                cleared := cleared + 1;
            END IF;
            IF e.n_devices > 50 THEN
                sampled := sampled + 1;     -- the audit lists only the first 50
            END IF;
            IF e.event_type IS NOT NULL THEN
                activity_ids := activity_ids || post.activity_max;
            END IF;
        ELSE
            conflicted := conflicted + 1;
            outcomes := outcomes || (c.op || ' conflicts');
        END IF;

        IF cardinality(fails) > 0 THEN
            failures := failures || format(E'seed %s round %s call %s: %s\n    %s', seed, round_no, i,
                                           fleet_fuzz.describe(c), array_to_string(fails, E'\n    '));
            RETURN;
        END IF;
        IF e.applied THEN
            f := e.after;
        END IF;
        pre := post;
    END LOOP;
END $$;
