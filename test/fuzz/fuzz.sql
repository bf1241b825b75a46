-- test/fuzz/fuzz.sql: the property-based fuzz of fleet_sites, in PL/pgSQL.
--
-- Loaded by test/tap/fuzz.t into a scratch database that already has
-- CREATE EXTENSION fleet_sites (in schema public). Everything here lives in
-- schema fleet_fuzz.
--
-- One round = one transaction: reset the tables, build a random fleet, then
-- make random calls. Each call is checked against a MODEL of the contract
-- (spec/api.md) that is written here from the contract alone: the model keeps
-- its own copy of the fleet in arrays, predicts the result of every call (the
-- SQLSTATE, or the exact conflict list in order, or the exact new state and
-- audit row), and after every call the database must agree with it.
--
-- All randomness comes from random() after setseed(), in one backend, so a
-- (seed, round) pair replays exactly. Device, rack and site ids are explicit
-- (1..n) in every round, so a replayed round sees the same ids too.
--
-- Layout:
--   fleet            the model's fleet (type)
--   call             one generated call (type), op = 'site' or 'rack'
--   expectation      what the model predicts for one call (type)
--   gen_fleet        random fleet, written to the tables and returned as model
--   gen_caller, gen_ids, gen_force
--                    the parts of a random call both functions share
--   gen_site_call    random arguments for fleet_assign_devices_to_site
--   gen_rack_call    random arguments for fleet_assign_devices_to_rack
--   bad_input_states the contract's bad-input table (both functions)
--   expect_site      the model of fleet_assign_devices_to_site
--   expect_rack      the model of fleet_assign_devices_to_rack
--   run_call         makes the call (as the chosen role), catches the SQLSTATE
--   check_call       compares outcome and tables with the expectation
--   round            one round; returns counts and failure lines

CREATE SCHEMA fleet_fuzz;

-- The model's fleet. Sites are 1..nsites; rack i is r_*[i]; device i is d_*[i]
-- (its id is i). d_rack is NULL for an unracked device; d_row/d_col are NULL
-- when the device has no slot. by_ident maps identifier -> device id.
CREATE TYPE fleet_fuzz.fleet AS (
    nsites   int,
    r_site   bigint[],
    r_rows   int[],
    r_cols   int[],
    d_ident  text[],
    d_site   bigint[],
    d_rack   bigint[],
    d_row    int[],
    d_col    int[],
    by_ident jsonb
);

-- One call. rights is what the calling role holds: 'all' (the superuser
-- running the fuzz), 'none', 'site' (UPDATE on fleet_device), 'rack' (INSERT,
-- DELETE on fleet_rack_membership) or 'both'. two_arg: call without the third
-- argument (its default, false, applies).
CREATE TYPE fleet_fuzz.call AS (
    op      text,
    ids     text[],
    target  bigint,
    force   boolean,
    two_arg boolean,
    role    name,
    rights  text,
    actor   text
);

-- What the model predicts. Either states (the acceptable SQLSTATEs of an
-- error; the contract does not order the bad-input rules among themselves, so
-- when several apply any of them is right) with msg_regex (what the message
-- must name), or a result: conflicts (in order) and, when applied, the fleet
-- after the call, the ids of the named devices, and the audit row.
CREATE TYPE fleet_fuzz.expectation AS (
    states      text[],
    msg_regex   text,
    conflicts   public.fleet_conflict[],
    applied     boolean,
    after       fleet_fuzz.fleet,
    named       int[],
    event_type  text,
    audit_site  bigint,
    description text,
    metadata    jsonb,      -- without force_cleared_device_identifiers
    cleared     text[],     -- identifiers whose membership the force clear deleted
    tags        text[]      -- which rules the call exercises (coverage, see round)
);

CREATE FUNCTION fleet_fuzz.rnd(lo int, hi int) RETURNS int
    LANGUAGE sql VOLATILE
    AS $$ SELECT lo + floor(random() * (hi - lo + 1))::int $$;

CREATE FUNCTION fleet_fuzz.chance(p float8) RETURNS boolean
    LANGUAGE sql VOLATILE
    AS $$ SELECT random() < p $$;

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
    n int := coalesce(cardinality(f.d_ident), 0);
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

-- Empty the tables, build a random fleet in them (placement invariant true),
-- and return the model's copy.
CREATE FUNCTION fleet_fuzz.gen_fleet() RETURNS fleet_fuzz.fleet
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    f fleet_fuzz.fleet;
    nracks int;
    ndev int;
    used int[] := '{}';
    occupied text[] := '{}';
    i int;
    rack int;
    site bigint;
    cell text;
    r int;
    c int;
    try int;
    big boolean;
BEGIN
    DELETE FROM public.fleet_rack_slot;
    DELETE FROM public.fleet_rack_membership;
    DELETE FROM public.fleet_device;
    DELETE FROM public.fleet_rack;
    DELETE FROM public.fleet_site;
    DELETE FROM public.fleet_activity;
    PERFORM pg_catalog.setval(pg_catalog.pg_get_serial_sequence('public.fleet_activity', 'id'), 1, false);

    f.nsites := fleet_fuzz.rnd(0, 4);
    f.r_site := '{}'; f.r_rows := '{}'; f.r_cols := '{}';
    f.d_ident := '{}'; f.d_site := '{}'; f.d_rack := '{}'; f.d_row := '{}'; f.d_col := '{}';
    f.by_ident := '{}';

    FOR i IN 1 .. f.nsites LOOP
        INSERT INTO public.fleet_site (id, name) VALUES (i, 'site-' || i);
    END LOOP;

    -- One fleet in twelve is big (more than 50 devices, racks up to 12 x 12),
    -- so that the audit's 50-identifier samples are reached.
    big := fleet_fuzz.chance(1.0 / 12);
    nracks := fleet_fuzz.rnd(0, 5);
    FOR i IN 1 .. nracks LOOP
        IF f.nsites = 0 OR fleet_fuzz.chance(0.3) THEN
            site := NULL;
        ELSE
            site := fleet_fuzz.rnd(1, f.nsites);
        END IF;
        f.r_site[i] := site;
        f.r_rows[i] := fleet_fuzz.rnd(1, CASE WHEN big THEN 12 ELSE 3 END);
        f.r_cols[i] := fleet_fuzz.rnd(1, CASE WHEN big THEN 12 ELSE 3 END);
        used[i] := 0;
        INSERT INTO public.fleet_rack (id, label, site_id, row_count, column_count)
        VALUES (i, 'rack-' || i, site, f.r_rows[i], f.r_cols[i]);
    END LOOP;

    ndev := CASE WHEN big THEN fleet_fuzz.rnd(51, 120) ELSE fleet_fuzz.rnd(0, 20) END;
    FOR i IN 1 .. ndev LOOP
        f.d_ident[i] := fleet_fuzz.gen_ident(i);
        f.d_rack[i] := NULL; f.d_row[i] := NULL; f.d_col[i] := NULL;
        rack := NULL;
        IF nracks > 0 AND fleet_fuzz.chance(0.55) THEN
            rack := fleet_fuzz.rnd(1, nracks);
            IF used[rack] >= f.r_rows[rack] * f.r_cols[rack] THEN
                rack := NULL;
            END IF;
        END IF;
        IF rack IS NOT NULL THEN
            f.d_site[i] := f.r_site[rack];
        ELSIF f.nsites > 0 AND fleet_fuzz.chance(0.75) THEN
            f.d_site[i] := fleet_fuzz.rnd(1, f.nsites);
        ELSE
            f.d_site[i] := NULL;
        END IF;
        -- An updated_at before the round, so that a write of now() shows.
        INSERT INTO public.fleet_device (id, identifier, site_id, updated_at)
        VALUES (i, f.d_ident[i], f.d_site[i], timestamptz '2000-01-01 00:00+00' + i * interval '1 minute');
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

-- Who calls, and the actor recorded. roles are the four test roles (none,
-- site, rack, both), or NULL to call only as the superuser.
CREATE FUNCTION fleet_fuzz.gen_caller(roles name[], OUT role name, OUT rights text, OUT actor text)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p float8;
    i int;
BEGIN
    p := random();
    IF roles IS NULL OR p < 0.85 THEN
        role := NULL; rights := 'all';
    ELSE
        i := fleet_fuzz.rnd(1, 4);
        role := roles[i];
        rights := (ARRAY['none', 'site', 'rack', 'both'])[i];
    END IF;

    -- The recorded actor: unset, empty, or a name (ASCII or not).
    p := random();
    IF p < 0.65 THEN actor := NULL;
    ELSIF p < 0.75 THEN actor := '';
    ELSIF p < 0.9 THEN actor := 'ops-' || fleet_fuzz.rnd(1, 9);
    ELSE actor := 'опер"атор\' || fleet_fuzz.rnd(1, 9);
    END IF;
END $$;

-- The identifiers of a call: mostly devices of the fleet, some unknown, some
-- duplicated, now and then every bad-input rule, and lower bounds other than 1.
CREATE FUNCTION fleet_fuzz.gen_ids(f fleet_fuzz.fleet) RETURNS text[]
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    ids text[];
    ndev int := coalesce(cardinality(f.d_ident), 0);
    elems text[] := '{}';
    k int;
    i int;
    lb int;
    x text;
    p float8;
    shifted text[];
    unknown_p float8;
BEGIN
    p := random();
    IF p < 0.015 THEN
        ids := NULL;
    ELSIF p < 0.03 THEN
        ids := '{}';
    ELSIF p < 0.045 THEN
        -- two dimensions
        ids := ARRAY[ARRAY[fleet_fuzz.gen_unknown(f), CASE WHEN ndev > 0 THEN f.d_ident[1] ELSE 'a' END],
                     ARRAY[CASE WHEN fleet_fuzz.chance(0.3) THEN NULL ELSE 'b' END, 'c']];
    ELSIF p < 0.048 THEN
        -- more than 10,000 distinct: 54000
        SELECT array_agg('bulk-' || g ORDER BY g) INTO ids FROM generate_series(1, 10001) g;
    ELSIF p < 0.051 THEN
        -- exactly 10,000 distinct (some of them real devices, one duplicated)
        SELECT array_agg('bulk-' || g ORDER BY g) INTO ids FROM generate_series(1, 10000 - least(ndev, 5)) g;
        FOR i IN 1 .. least(ndev, 5) LOOP
            ids := ids || f.d_ident[fleet_fuzz.rnd(1, ndev)] || ('bulk-' || fleet_fuzz.rnd(1, 9000));
        END LOOP;
    ELSE
        p := random();
        k := CASE WHEN ndev > 50 AND p < 0.3 THEN fleet_fuzz.rnd(40, 2 * ndev)
                  WHEN p < 0.85 THEN fleet_fuzz.rnd(1, 6)
                  ELSE fleet_fuzz.rnd(7, 30) END;
        -- A quarter of the calls name unknown identifiers too.
        unknown_p := CASE WHEN fleet_fuzz.chance(0.25) OR ndev = 0 THEN 0.3 ELSE 0 END;
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
            lb := fleet_fuzz.rnd(-5, 10);
            shifted := '{}';
            FOR i IN 1 .. k LOOP
                shifted[lb + i - 1] := elems[i];
            END LOOP;
            ids := shifted;
        END IF;
    END IF;
    RETURN ids;
END $$;

-- force_clear, and whether to leave it to its default.
CREATE FUNCTION fleet_fuzz.gen_force(OUT force boolean, OUT two_arg boolean)
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    p float8 := random();
BEGIN
    IF p < 0.45 THEN
        force := true; two_arg := false;
    ELSIF p < 0.98 THEN
        force := false; two_arg := fleet_fuzz.chance(0.3);
    ELSE
        force := NULL; two_arg := false;                        -- 22004
    END IF;
END $$;

-- Random arguments for fleet_assign_devices_to_site.
CREATE FUNCTION fleet_fuzz.gen_site_call(f fleet_fuzz.fleet, roles name[]) RETURNS fleet_fuzz.call
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    c fleet_fuzz.call;
    ndev int := coalesce(cardinality(f.d_ident), 0);
    p float8;
BEGIN
    c.op := 'site';
    SELECT g.role, g.rights, g.actor INTO c.role, c.rights, c.actor FROM fleet_fuzz.gen_caller(roles) g;
    c.ids := fleet_fuzz.gen_ids(f);

    -- The target.
    p := random();
    IF p < 0.58 AND f.nsites > 0 THEN
        c.target := fleet_fuzz.rnd(1, f.nsites);
    ELSIF p < 0.78 THEN
        c.target := NULL;
    ELSIF p < 0.92 AND ndev > 0 THEN
        -- the site of some device (often: the site of a rack it is in)
        c.target := f.d_site[fleet_fuzz.rnd(1, ndev)];
    ELSIF p < 0.97 THEN
        c.target := CASE WHEN fleet_fuzz.chance(0.8) THEN f.nsites + fleet_fuzz.rnd(1, 3)
                         ELSE 9223372036854775807 END;          -- missing: 23503
    ELSE
        c.target := (ARRAY[0, -1, -9223372036854775808])[fleet_fuzz.rnd(1, 3)];  -- 22023
    END IF;

    SELECT g.force, g.two_arg INTO c.force, c.two_arg FROM fleet_fuzz.gen_force() g;
    RETURN c;
END $$;

-- Random arguments for fleet_assign_devices_to_rack. The fleet's racks are
-- small (1 to 9 slots, up to 144 in a big fleet), so that a batch of a few
-- devices often overfills one (23514), and about a third have no site.
CREATE FUNCTION fleet_fuzz.gen_rack_call(f fleet_fuzz.fleet, roles name[]) RETURNS fleet_fuzz.call
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    c fleet_fuzz.call;
    ndev int := coalesce(cardinality(f.d_ident), 0);
    nracks int := coalesce(cardinality(f.r_rows), 0);
    p float8;
BEGIN
    c.op := 'rack';
    SELECT g.role, g.rights, g.actor INTO c.role, c.rights, c.actor FROM fleet_fuzz.gen_caller(roles) g;
    c.ids := fleet_fuzz.gen_ids(f);

    -- The target rack.
    p := random();
    IF p < 0.6 AND nracks > 0 THEN
        c.target := fleet_fuzz.rnd(1, nracks);
    ELSIF p < 0.78 THEN
        c.target := NULL;                                       -- out of every rack
    ELSIF p < 0.9 AND ndev > 0 THEN
        -- the rack of some device (NULL if it has none): members named again
        c.target := f.d_rack[fleet_fuzz.rnd(1, ndev)];
    ELSIF p < 0.97 THEN
        c.target := CASE WHEN fleet_fuzz.chance(0.8) THEN nracks + fleet_fuzz.rnd(1, 3)
                         ELSE 9223372036854775807 END;          -- missing: 23503
    ELSE
        c.target := (ARRAY[0, -1, -9223372036854775808])[fleet_fuzz.rnd(1, 3)];  -- 22023
    END IF;

    SELECT g.force, g.two_arg INTO c.force, c.two_arg FROM fleet_fuzz.gen_force() g;
    RETURN c;
END $$;

-- The bad-input table of the contract, shared by both functions: every rule
-- that applies gives an acceptable SQLSTATE (the contract does not order them).
CREATE FUNCTION fleet_fuzz.bad_input_states(c fleet_fuzz.call) RETURNS text[]
    LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    states text[] := '{}';
BEGIN
    IF c.ids IS NULL THEN
        states := states || '22004'::text;
    ELSE
        IF array_ndims(c.ids) > 1 THEN
            states := states || '2202E'::text;
        END IF;
        IF cardinality(c.ids) = 0 THEN
            states := states || '22023'::text;
        END IF;
        IF EXISTS (SELECT 1 FROM unnest(c.ids) u(v) WHERE v IS NULL) THEN
            states := states || '22004'::text;
        END IF;
        IF EXISTS (SELECT 1 FROM unnest(c.ids) u(v) WHERE v = '' OR char_length(v) > 256) THEN
            states := states || '22023'::text;
        END IF;
        IF (SELECT count(DISTINCT v) FROM unnest(c.ids) u(v)) > 10000 THEN
            states := states || '54000'::text;
        END IF;
    END IF;
    IF c.target <= 0 THEN
        states := states || '22023'::text;
    END IF;
    IF c.force IS NULL AND NOT c.two_arg THEN
        states := states || '22004'::text;
    END IF;
    RETURN states;
END $$;

-------------------------------------------------------------------------------
-- The model of fleet_assign_devices_to_site (spec/api.md), step by step
-------------------------------------------------------------------------------

CREATE FUNCTION fleet_fuzz.expect_site(f fleet_fuzz.fleet, c fleet_fuzz.call)
RETURNS fleet_fuzz.expectation
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e fleet_fuzz.expectation;
    states text[] := '{}';
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
BEGIN
    e.applied := false;
    e.after := f;
    e.conflicts := '{}';

    -- Bad input: every rule that applies gives an acceptable SQLSTATE.
    states := fleet_fuzz.bad_input_states(c);
    IF cardinality(states) > 0 THEN
        e.states := states;
        RETURN e;
    END IF;

    -- The privilege gate: UPDATE on fleet_device always; DELETE on
    -- fleet_rack_membership with force_clear, conflict or not.
    IF c.rights NOT IN ('all', 'site', 'both') THEN
        e.states := ARRAY['42501'];
        e.msg_regex := CASE WHEN coalesce(c.force, false) AND c.rights = 'none'
                            THEN 'UPDATE.*fleet_device|DELETE.*fleet_rack_membership'
                            ELSE 'UPDATE.*fleet_device' END;
        RETURN e;
    END IF;
    IF coalesce(c.force, false) AND c.rights NOT IN ('all', 'rack', 'both') THEN
        e.states := ARRAY['42501'];
        e.msg_regex := 'DELETE.*fleet_rack_membership';
        RETURN e;
    END IF;

    -- The target site missing: 23503, the message names the id.
    IF c.target IS NOT NULL AND c.target > f.nsites THEN
        e.states := ARRAY['23503'];
        e.msg_regex := '(^|[^0-9])' || c.target || '([^0-9]|$)';
        RETURN e;
    END IF;

    -- Distinct identifiers, first occurrence wins, in input order.
    SELECT coalesce(array_agg(v ORDER BY first_at), '{}') INTO distinct_ids
      FROM (SELECT v, min(o) AS first_at FROM unnest(c.ids) WITH ORDINALITY u(v, o) GROUP BY v) s;

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
                || ROW(x, 'DEVICE_IN_RACK_AT_OTHER_SITE', f.r_site[rack], rack, NULL)::public.fleet_conflict;
            clear := clear || id;
        END IF;
    END LOOP;

    -- Sorted by identifier in byte order (whatever the database collation).
    SELECT coalesce(array_agg(cf ORDER BY convert_to(cf.device_identifier, 'UTF8')), '{}')
      INTO conflicts FROM unnest(conflicts) cf;

    IF cardinality(conflicts) > 0 AND NOT coalesce(c.force, false) THEN
        e.conflicts := conflicts;
        RETURN e;
    END IF;
    IF has_residual THEN
        -- force, but something is not clearable: only those, nothing written
        SELECT coalesce(array_agg(cf ORDER BY convert_to(cf.device_identifier, 'UTF8')), '{}')
          INTO e.conflicts FROM unnest(conflicts) cf
         WHERE cf.reason <> 'DEVICE_IN_RACK_AT_OTHER_SITE';
        RETURN e;
    END IF;

    -- Apply: clear exactly the conflicting memberships (the slot goes with
    -- them), then every named device goes to the target.
    FOREACH id IN ARRAY clear LOOP
        e.after.d_rack[id] := NULL;
        e.after.d_row[id] := NULL;
        e.after.d_col[id] := NULL;
    END LOOP;
    FOREACH id IN ARRAY found LOOP
        e.after.d_site[id] := c.target;
    END LOOP;
    e.applied := true;
    e.named := found;

    n := cardinality(found);
    k := cardinality(clear);
    e.event_type := 'devices.reassigned_to_site';
    e.audit_site := c.target;
    e.description := 'Reassigned ' || n || ' device(s) to site ' || coalesce(c.target::text, 'Unassigned');
    e.metadata := jsonb_build_object('target_site_id', c.target,
                                     'device_count', n,
                                     'device_identifiers', to_jsonb(distinct_ids[1:50]));
    IF k > 0 THEN
        e.description := e.description || ' (' || k || ' rack membership(s) force-cleared)';
        e.metadata := e.metadata || jsonb_build_object('force_cleared_rack_membership_count', k);
        SELECT array_agg(f.d_ident[i]) INTO e.cleared FROM unnest(clear) i;
    END IF;
    RETURN e;
END $$;

-------------------------------------------------------------------------------
-- The model of fleet_assign_devices_to_rack (spec/api.md, and the README's
-- choices for the audit row's site_id and description)
-------------------------------------------------------------------------------

CREATE FUNCTION fleet_fuzz.expect_rack(f fleet_fuzz.fleet, c fleet_fuzz.call)
RETURNS fleet_fuzz.expectation
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e fleet_fuzz.expectation;
    states text[];
    nracks int := coalesce(cardinality(f.r_rows), 0);
    distinct_ids text[];
    found int[] := '{}';
    conflicts public.fleet_conflict[] := '{}';
    has_residual boolean := false;
    loses int := 0;
    rack_site bigint;
    x text;
    id int;
    n int;
    members int;
    changed int;
    already int;
BEGIN
    e.applied := false;
    e.after := f;
    e.conflicts := '{}';
    e.tags := '{}';

    -- Bad input, as for the site move.
    states := fleet_fuzz.bad_input_states(c);
    IF cardinality(states) > 0 THEN
        e.states := states;
        RETURN e;
    END IF;

    -- The privilege gate, before anything is looked up: INSERT and DELETE on
    -- fleet_rack_membership, always (also for a NULL target).
    IF c.rights NOT IN ('all', 'rack', 'both') THEN
        e.states := ARRAY['42501'];
        e.msg_regex := '(INSERT|DELETE).*fleet_rack_membership';
        RETURN e;
    END IF;

    -- The target rack missing: 23503, the message names the id.
    IF c.target IS NOT NULL AND c.target > nracks THEN
        e.states := ARRAY['23503'];
        e.msg_regex := '(^|[^0-9])' || c.target || '([^0-9]|$)';
        e.tags := ARRAY['rack 23503'];
        RETURN e;
    END IF;
    IF c.target IS NOT NULL THEN
        rack_site := f.r_site[c.target];
    END IF;

    -- Distinct identifiers, first occurrence wins, in input order.
    SELECT coalesce(array_agg(v ORDER BY first_at), '{}') INTO distinct_ids
      FROM (SELECT v, min(o) AS first_at FROM unnest(c.ids) WITH ORDINALITY u(v, o) GROUP BY v) s;

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
            conflicts := conflicts || ROW(x, 'DEVICE_LOSES_SITE', NULL, c.target, NULL)::public.fleet_conflict;
            loses := loses + 1;
        END IF;
    END LOOP;

    SELECT coalesce(array_agg(cf ORDER BY convert_to(cf.device_identifier, 'UTF8')), '{}')
      INTO conflicts FROM unnest(conflicts) cf;

    -- Without force every conflict is returned; with force, DEVICE_LOSES_SITE
    -- is the clearable kind, and anything else is residual: only those are
    -- returned. Either way nothing is written, and conflicts come before the
    -- capacity check (README).
    IF cardinality(conflicts) > 0 AND NOT coalesce(c.force, false) THEN
        e.conflicts := conflicts;
        IF loses > 0 THEN
            e.tags := e.tags || 'DEVICE_LOSES_SITE returned'::text;
        END IF;
        RETURN e;
    END IF;
    IF has_residual THEN
        SELECT coalesce(array_agg(cf ORDER BY convert_to(cf.device_identifier, 'UTF8')), '{}')
          INTO e.conflicts FROM unnest(conflicts) cf
         WHERE cf.reason <> 'DEVICE_LOSES_SITE';
        IF loses > 0 THEN
            e.tags := e.tags || 'residual under force, DEVICE_LOSES_SITE left out'::text;
        END IF;
        RETURN e;
    END IF;

    n := cardinality(found);
    e.named := found;

    IF c.target IS NULL THEN
        -- Out of whatever rack (the slot goes with the membership); sites stay.
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
                                         'device_identifiers', to_jsonb(distinct_ids[1:50]));
        e.tags := e.tags || 'rack removal applied'::text;
        RETURN e;
    END IF;

    -- Capacity: the members that stay plus the distinct named devices.
    SELECT count(*) INTO members FROM generate_subscripts(f.d_rack, 1) i
     WHERE f.d_rack[i] = c.target AND NOT i = ANY (found);
    members := members + n;
    SELECT count(*) INTO already FROM unnest(found) i WHERE f.d_rack[i] = c.target;
    SELECT count(*) INTO changed FROM unnest(found) i WHERE f.d_site[i] IS DISTINCT FROM rack_site;

    states := '{}';
    IF members > f.r_rows[c.target] * f.r_cols[c.target] THEN
        states := states || '23514'::text;
    END IF;
    -- UPDATE on fleet_device only when some device's site changes. It can be
    -- known only after the locks; the contract does not order it against the
    -- capacity check, so when both apply either error is right.
    IF changed > 0 AND c.rights = 'rack' THEN
        states := states || '42501'::text;
        IF cardinality(states) = 1 THEN
            e.msg_regex := 'UPDATE.*fleet_device';
        END IF;
    END IF;
    IF cardinality(states) > 0 THEN
        e.states := states;
        e.tags := e.tags || ('rack ' || array_to_string(states, '/'));
        RETURN e;
    END IF;

    -- Apply: every named device is in the target (a member keeps membership
    -- and slot; anyone else leaves the old rack and slot and joins with no
    -- slot) and has the target's site.
    FOREACH id IN ARRAY found LOOP
        IF f.d_rack[id] IS DISTINCT FROM c.target THEN
            e.after.d_rack[id] := c.target;
            e.after.d_row[id] := NULL;
            e.after.d_col[id] := NULL;
        END IF;
        e.after.d_site[id] := rack_site;
    END LOOP;
    e.applied := true;
    e.event_type := 'devices.assigned_to_rack';
    e.audit_site := rack_site;
    e.description := 'Assigned ' || n || ' device(s) to rack ' || c.target;
    e.metadata := jsonb_build_object('rack_id', c.target,
                                     'device_count', n,
                                     'device_identifiers', to_jsonb(distinct_ids[1:50]));
    IF changed > 0 THEN
        e.description := e.description || ' (' || changed || ' device site(s) changed)';
        e.metadata := e.metadata || jsonb_build_object('site_changed_device_count', changed);
    END IF;

    e.tags := e.tags || 'rack join applied'::text;
    IF changed > 0 THEN
        e.tags := e.tags || 'rack join changed sites'::text;
    END IF;
    IF loses > 0 THEN
        e.tags := e.tags || 'forced DEVICE_LOSES_SITE applied'::text;
    END IF;
    IF already > 0 THEN
        e.tags := e.tags || 'rack join naming members again'::text;
    END IF;
    IF members = f.r_rows[c.target] * f.r_cols[c.target] THEN
        e.tags := e.tags || 'rack filled exactly'::text;
    END IF;
    IF c.rights = 'rack' THEN
        e.tags := e.tags || 'rack-only caller applied'::text;
    END IF;
    RETURN e;
END $$;

-------------------------------------------------------------------------------
-- Making the call
-------------------------------------------------------------------------------

-- Call the function as c.role with fleet_sites.actor = c.actor. Returns the
-- SQLSTATE and message of an error, or the rows in the order returned. The
-- subtransaction of the EXCEPTION block undoes the role on error; on success
-- the role is reset here.
CREATE FUNCTION fleet_fuzz.run_call(c fleet_fuzz.call,
                                    OUT state text, OUT message text,
                                    OUT result public.fleet_conflict[])
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    detail text;
BEGIN
    BEGIN
        PERFORM pg_catalog.set_config('fleet_sites.actor', coalesce(c.actor, ''), true);
        IF c.role IS NOT NULL THEN
            EXECUTE format('SET LOCAL ROLE %I', c.role);
        END IF;
        IF c.op = 'site' AND c.two_arg THEN
            SELECT coalesce(array_agg(ROW(r.device_identifier, r.reason, r.conflicting_site_id, r.rack_id, r.conflicting_building_id)
                                      ::public.fleet_conflict ORDER BY r.n), '{}')
              INTO result
              FROM public.fleet_assign_devices_to_site(c.ids, c.target)
                   WITH ORDINALITY AS r(device_identifier, reason, conflicting_site_id, rack_id, conflicting_building_id, n);
        ELSIF c.op = 'site' THEN
            SELECT coalesce(array_agg(ROW(r.device_identifier, r.reason, r.conflicting_site_id, r.rack_id, r.conflicting_building_id)
                                      ::public.fleet_conflict ORDER BY r.n), '{}')
              INTO result
              FROM public.fleet_assign_devices_to_site(c.ids, c.target, c.force)
                   WITH ORDINALITY AS r(device_identifier, reason, conflicting_site_id, rack_id, conflicting_building_id, n);
        ELSIF c.op = 'rack' AND c.two_arg THEN
            SELECT coalesce(array_agg(ROW(r.device_identifier, r.reason, r.conflicting_site_id, r.rack_id, r.conflicting_building_id)
                                      ::public.fleet_conflict ORDER BY r.n), '{}')
              INTO result
              FROM public.fleet_assign_devices_to_rack(c.ids, c.target)
                   WITH ORDINALITY AS r(device_identifier, reason, conflicting_site_id, rack_id, conflicting_building_id, n);
        ELSIF c.op = 'rack' THEN
            SELECT coalesce(array_agg(ROW(r.device_identifier, r.reason, r.conflicting_site_id, r.rack_id, r.conflicting_building_id)
                                      ::public.fleet_conflict ORDER BY r.n), '{}')
              INTO result
              FROM public.fleet_assign_devices_to_rack(c.ids, c.target, c.force)
                   WITH ORDINALITY AS r(device_identifier, reason, conflicting_site_id, rack_id, conflicting_building_id, n);
        ELSE
            RAISE EXCEPTION 'fleet_fuzz: unknown op %', c.op;
        END IF;
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
    END;
END $$;

-------------------------------------------------------------------------------
-- Looking at the tables
-------------------------------------------------------------------------------

-- Every row version of every table (values and ctid, so that even an UPDATE
-- that changes no value shows), and the activity id sequence, one digest
-- each: sites, racks, devices, memberships, slots, activity, sequence.
CREATE FUNCTION fleet_fuzz.snapshot() RETURNS text[]
    LANGUAGE sql STABLE AS $$
SELECT ARRAY[
    (SELECT md5(coalesce(string_agg(t.ctid || t::text, E'\n' ORDER BY t.id), '')) FROM public.fleet_site t),
    (SELECT md5(coalesce(string_agg(t.ctid || t::text, E'\n' ORDER BY t.id), '')) FROM public.fleet_rack t),
    (SELECT md5(coalesce(string_agg(t.ctid || t::text, E'\n' ORDER BY t.id), '')) FROM public.fleet_device t),
    (SELECT md5(coalesce(string_agg(t.ctid || t::text, E'\n' ORDER BY t.device_id), '')) FROM public.fleet_rack_membership t),
    (SELECT md5(coalesce(string_agg(t.ctid || t::text, E'\n' ORDER BY t.rack_id, t.device_id), '')) FROM public.fleet_rack_slot t),
    (SELECT md5(coalesce(string_agg(t.ctid || t::text, E'\n' ORDER BY t.id), '')) FROM public.fleet_activity t),
    coalesce(pg_catalog.pg_sequence_last_value(pg_catalog.pg_get_serial_sequence('public.fleet_activity', 'id')::regclass)::text, 'not called')
]
$$;

CREATE FUNCTION fleet_fuzz.activity_digest(upto bigint) RETURNS text
    LANGUAGE sql STABLE AS $$
SELECT md5(coalesce(string_agg(t.ctid || t::text, E'\n' ORDER BY t.id), ''))
  FROM public.fleet_activity t WHERE t.id <= upto
$$;

-- Placement of every device, as the tables say and as the model says, in the
-- same format: id|identifier|site|rack|row|column.
CREATE FUNCTION fleet_fuzz.render_tables() RETURNS text
    LANGUAGE sql STABLE AS $$
SELECT coalesce(string_agg(format('%s|%s|%s|%s|%s|%s', d.id, d.identifier, d.site_id,
                                  m.rack_id, s.row_index, s.column_index), E'\n' ORDER BY d.id), '')
  FROM public.fleet_device d
  LEFT JOIN public.fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN public.fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id
$$;

CREATE FUNCTION fleet_fuzz.render_model(f fleet_fuzz.fleet) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT coalesce(string_agg(format('%s|%s|%s|%s|%s|%s', i, f.d_ident[i], f.d_site[i],
                                  f.d_rack[i], f.d_row[i], f.d_col[i]), E'\n' ORDER BY i), '')
  FROM generate_subscripts(f.d_ident, 1) i
$$;

-- The placement invariant, checked straight on the tables.
CREATE FUNCTION fleet_fuzz.invariant_violations() RETURNS bigint
    LANGUAGE sql STABLE AS $$
SELECT count(*)
  FROM public.fleet_device d
  JOIN public.fleet_rack_membership m ON m.device_id = d.id
  JOIN public.fleet_rack r ON r.id = m.rack_id
 WHERE d.site_id IS DISTINCT FROM r.site_id
$$;

-- A call, written so that it can be pasted into psql (huge arrays shortened).
CREATE FUNCTION fleet_fuzz.describe(c fleet_fuzz.call) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT format('%s%sSELECT * FROM fleet_assign_devices_to_%s(%s, %s%s);',
              CASE WHEN c.role IS NOT NULL THEN format('SET ROLE %I /* %s */; ', c.role, c.rights) ELSE '' END,
              CASE WHEN c.actor IS NOT NULL THEN format('SET fleet_sites.actor = %L; ', c.actor) ELSE '' END,
              c.op,
              CASE WHEN cardinality(c.ids) > 40
                   THEN format('/* %s elements, first: %s */ NULL', cardinality(c.ids), (c.ids)[1])
                   ELSE coalesce(quote_literal(c.ids::text) || '::text[]', 'NULL') END,
              coalesce(c.target::text, 'NULL'),
              CASE WHEN c.two_arg THEN '' ELSE ', ' || coalesce(c.force::text, 'NULL') END)
$$;

CREATE FUNCTION fleet_fuzz.short(v anyelement) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN length(v::text) > 600 THEN left(v::text, 600) || '...' ELSE v::text END
$$;

-------------------------------------------------------------------------------
-- Checking one call
-------------------------------------------------------------------------------

-- Compare what happened with what the model expected. Returns the failures
-- (empty when the call agrees with the model).
CREATE FUNCTION fleet_fuzz.check_call(e fleet_fuzz.expectation, st text, msg text,
                                      got public.fleet_conflict[], actor text,
                                      pre text[], pre_updated text[], pre_activity_max bigint,
                                      before fleet_fuzz.fleet)
RETURNS text[]
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    fails text[] := '{}';
    post text[] := fleet_fuzz.snapshot();
    a record;
    n_new int;
    i int;
    post_updated text[];
    got_cleared text[];
    stale text;
    before_sites bigint[] := before.d_site;
    after_sites bigint[] := (e.after).d_site;
BEGIN
    IF e.states IS NOT NULL THEN
        IF st IS NULL THEN
            fails := fails || format('expected ERROR %s, got rows %s', e.states, fleet_fuzz.short(got));
        ELSIF NOT st = ANY (e.states) THEN
            fails := fails || format('expected ERROR %s, got ERROR %s: %s', e.states, st, msg);
        ELSIF e.msg_regex IS NOT NULL AND msg !~* e.msg_regex THEN
            fails := fails || format('ERROR %s message does not name %s: %s', st, e.msg_regex, msg);
        END IF;
        IF post IS DISTINCT FROM pre THEN
            fails := fails || format('an error wrote something: snapshot %s became %s', pre, post);
        END IF;
    ELSE
        IF st IS NOT NULL THEN
            fails := fails || format('expected rows %s, got ERROR %s: %s', fleet_fuzz.short(e.conflicts), st, msg);
        ELSIF got IS DISTINCT FROM e.conflicts THEN
            fails := fails || format('expected rows %s, got rows %s',
                                     fleet_fuzz.short(e.conflicts), fleet_fuzz.short(got));
        END IF;

        IF NOT e.applied THEN
            IF post IS DISTINCT FROM pre THEN
                fails := fails || format('a call that returned conflicts wrote something: snapshot %s became %s', pre, post);
            END IF;
        ELSIF st IS NULL THEN
            -- The new state, as the model says.
            IF post[1] IS DISTINCT FROM pre[1] THEN
                fails := fails || 'fleet_site changed'::text;
            END IF;
            IF post[2] IS DISTINCT FROM pre[2] THEN
                fails := fails || 'fleet_rack changed'::text;
            END IF;
            IF fleet_fuzz.render_tables() IS DISTINCT FROM fleet_fuzz.render_model(e.after) THEN
                fails := fails || format(E'placement differs from the model:\ntables:\n%s\nmodel:\n%s',
                                         fleet_fuzz.render_tables(), fleet_fuzz.render_model(e.after));
            END IF;
            -- No statement touches a device that was not named (same row
            -- version, same updated_at).
            SELECT array_agg(ctid || ' ' || updated_at ORDER BY id) INTO post_updated FROM public.fleet_device;
            FOR i IN 1 .. coalesce(cardinality(pre_updated), 0) LOOP
                IF NOT i = ANY (e.named) AND post_updated[i] IS DISTINCT FROM pre_updated[i] THEN
                    fails := fails || format('device %s was not named but its row was rewritten', i);
                END IF;
            END LOOP;
            -- updated_at = now() on every device whose site changed (README).
            SELECT string_agg(d.identifier, ', ' ORDER BY d.id) INTO stale
              FROM unnest(e.named) u(dev) JOIN public.fleet_device d ON d.id = u.dev
             WHERE before_sites[u.dev] IS DISTINCT FROM after_sites[u.dev]
               AND d.updated_at IS DISTINCT FROM now();
            IF stale IS NOT NULL THEN
                fails := fails || format('site changed but updated_at is not now(): %s', stale);
            END IF;
            -- Exactly one new activity row, older rows untouched.
            IF fleet_fuzz.activity_digest(pre_activity_max) IS DISTINCT FROM pre[6] THEN
                fails := fails || 'existing fleet_activity rows changed'::text;
            END IF;
            SELECT count(*) INTO n_new FROM public.fleet_activity WHERE id > pre_activity_max;
            IF n_new <> 1 THEN
                fails := fails || format('expected 1 new fleet_activity row, found %s', n_new);
            ELSE
                SELECT * INTO a FROM public.fleet_activity WHERE id > pre_activity_max;
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
                -- The cleared identifiers: the contract names no order, so
                -- compare as a set (at most 50 of them, all distinct).
                IF e.cleared IS NULL THEN
                    IF a.metadata ? 'force_cleared_device_identifiers' THEN
                        fails := fails || 'force_cleared_device_identifiers present but no membership was cleared'::text;
                    END IF;
                ELSE
                    SELECT array_agg(v ORDER BY convert_to(v, 'UTF8')) INTO got_cleared
                      FROM jsonb_array_elements_text(
                               CASE WHEN jsonb_typeof(a.metadata -> 'force_cleared_device_identifiers') = 'array'
                                    THEN a.metadata -> 'force_cleared_device_identifiers' END) j(v);
                    IF cardinality(e.cleared) <= 50 THEN
                        IF got_cleared IS DISTINCT FROM
                           (SELECT array_agg(v ORDER BY convert_to(v, 'UTF8')) FROM unnest(e.cleared) u(v)) THEN
                            fails := fails || format('force_cleared_device_identifiers %s, expected the set %s',
                                                     a.metadata -> 'force_cleared_device_identifiers', e.cleared);
                        END IF;
                    ELSIF coalesce(cardinality(got_cleared), 0) <> 50
                          OR NOT got_cleared <@ e.cleared
                          OR (SELECT count(DISTINCT v) FROM unnest(got_cleared) u(v)) <> 50 THEN
                        fails := fails || format('force_cleared_device_identifiers %s is not 50 of %s',
                                                 a.metadata -> 'force_cleared_device_identifiers', e.cleared);
                    END IF;
                END IF;
                IF a.occurred_at IS NULL OR a.occurred_at < now() OR a.occurred_at > clock_timestamp() THEN
                    fails := fails || format('audit occurred_at %s is not within this transaction', a.occurred_at);
                END IF;
            END IF;
        END IF;
    END IF;

    IF fleet_fuzz.invariant_violations() > 0 THEN
        fails := fails || 'placement invariant broken: a racked device has a site other than its rack''s'::text;
    END IF;
    RETURN fails;
END $$;

-------------------------------------------------------------------------------
-- One round
-------------------------------------------------------------------------------

-- Round round_no of run seed: a fresh fleet and ncalls random calls, a share
-- rack_share of them rack moves, the rest site moves. roles: the four test
-- roles (none, site, rack, both) or NULL. With with_trace, every call goes
-- into trace. reached: the model's tags of the calls made (coverage). Stops at the first call that disagrees with the model
-- (the rest of the round would start from a state the model does not know).
CREATE FUNCTION fleet_fuzz.round(seed bigint, round_no int, ncalls int, roles name[],
                                 with_trace boolean DEFAULT false, rack_share float8 DEFAULT 0.4,
                                 OUT calls int, OUT applied int, OUT conflicted int,
                                 OUT errored int, OUT cleared int, OUT sampled int,
                                 OUT states text[], OUT activity_ids bigint[],
                                 OUT failures text[], OUT trace text[],
                                 OUT rack_calls int, OUT reached text[])
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    f fleet_fuzz.fleet;
    c fleet_fuzz.call;
    e fleet_fuzz.expectation;
    o record;
    pre text[];
    pre_updated text[];
    pre_max bigint;
    fails text[];
    actor text;
    i int;
BEGIN
    calls := 0; applied := 0; conflicted := 0; errored := 0; cleared := 0; sampled := 0;
    states := '{}'; activity_ids := '{}'; failures := '{}'; trace := '{}';
    rack_calls := 0; reached := '{}';

    -- hashint8 spreads (seed, round) over int4; setseed wants [-1, 1].
    PERFORM setseed(hashint8(seed * 1000003 + round_no)::float8 / 2147483648.0);
    f := fleet_fuzz.gen_fleet();
    IF with_trace THEN
        trace := trace || format(E'round %s fleet:\n%s', round_no, fleet_fuzz.render_model(f));
    END IF;

    FOR i IN 1 .. ncalls LOOP
        IF random() < rack_share THEN
            c := fleet_fuzz.gen_rack_call(f, roles);
            e := fleet_fuzz.expect_rack(f, c);
            rack_calls := rack_calls + 1;
        ELSE
            c := fleet_fuzz.gen_site_call(f, roles);
            e := fleet_fuzz.expect_site(f, c);
        END IF;
        actor := coalesce(nullif(c.actor, ''), c.role, current_user);

        pre := fleet_fuzz.snapshot();
        SELECT array_agg(ctid || ' ' || updated_at ORDER BY id) INTO pre_updated FROM public.fleet_device;
        SELECT coalesce(max(id), 0) INTO pre_max FROM public.fleet_activity;

        o := fleet_fuzz.run_call(c);
        calls := calls + 1;
        fails := fleet_fuzz.check_call(e, o.state, o.message, o.result, actor, pre, pre_updated, pre_max, f);
        reached := reached || coalesce(e.tags, '{}');

        IF with_trace THEN
            trace := trace || format('call %s: %s -> %s', i, fleet_fuzz.describe(c),
                                 coalesce('ERROR ' || o.state || ': ' || o.message, fleet_fuzz.short(o.result)));
        END IF;
        IF o.state IS NOT NULL THEN
            errored := errored + 1;
            states := states || o.state;
        ELSIF e.applied THEN
            applied := applied + 1;
            IF e.cleared IS NOT NULL THEN
                cleared := cleared + 1;
            END IF;
            IF cardinality(e.named) > 50 THEN
                sampled := sampled + 1;     -- the audit lists only the first 50
            END IF;
            activity_ids := activity_ids || (SELECT max(id) FROM public.fleet_activity);
        ELSE
            conflicted := conflicted + 1;
        END IF;

        IF cardinality(fails) > 0 THEN
            failures := failures || format(E'seed %s round %s call %s: %s\n    %s', seed, round_no, i,
                                           fleet_fuzz.describe(c), array_to_string(fails, E'\n    '));
            RETURN;
        END IF;
        IF e.applied THEN
            f := e.after;
        END IF;
    END LOOP;
END $$;

-- The four roles the fuzz calls as (besides the superuser). Every role may
-- read the tables; none has any privilege on fleet_activity.
CREATE FUNCTION fleet_fuzz.grant_roles(roles name[]) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    r name;
BEGIN
    FOREACH r IN ARRAY roles LOOP
        EXECUTE format('GRANT SELECT ON public.fleet_site, public.fleet_rack, public.fleet_device,'
                       ' public.fleet_rack_membership, public.fleet_rack_slot TO %I', r);
        EXECUTE format('GRANT EXECUTE ON FUNCTION public.fleet_assign_devices_to_site(text[], bigint, boolean) TO %I', r);
        EXECUTE format('GRANT EXECUTE ON FUNCTION public.fleet_assign_devices_to_rack(text[], bigint, boolean, integer[], integer[]) TO %I', r);
    END LOOP;
    EXECUTE format('GRANT UPDATE ON public.fleet_device TO %I, %I', roles[2], roles[4]);
    EXECUTE format('GRANT INSERT, DELETE ON public.fleet_rack_membership TO %I, %I', roles[3], roles[4]);
END $$;
