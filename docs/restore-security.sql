-- fleet_sites: row-level security that survives pg_dump / pg_restore.
--
-- Proposed for the extension's upgrade script (docs/restore-security.md says
-- why and how). Paste it at the END of sql/fleet_sites--1.0--1.1.sql (or of the
-- next upgrade script): the event triggers must be created after every
-- ALTER TABLE the script runs. It adds no row to a dumped table, so the same
-- statements serve CREATE EXTENSION, ALTER EXTENSION UPDATE and the
-- CREATE EXTENSION that pg_restore runs.
--
-- Nothing here runs on the extension's authority: every function is SECURITY
-- INVOKER, and every write needs rights the caller must already have (the
-- ownership of the extension's tables that CREATE POLICY needs anyway).

-------------------------------------------------------------------------------
-- Row-level security that survives pg_dump
-------------------------------------------------------------------------------

-- This installation of the extension. Deliberately NOT registered with
-- pg_extension_config_dump: pg_restore runs CREATE EXTENSION, which makes a
-- new row, so saved rows that come from a dump carry another install_id.
CREATE TABLE @extschema@.fleet_installation (
    install_id   uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    installed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE UNIQUE INDEX fleet_installation_one_row ON @extschema@.fleet_installation ((true));
INSERT INTO @extschema@.fleet_installation DEFAULT VALUES;
COMMENT ON TABLE @extschema@.fleet_installation IS
    'One row naming this installation of fleet_sites. Not dumped: every CREATE EXTENSION (including the one pg_restore runs) makes a new install_id, which is how saved security restored from a dump is told apart from security saved here.';
REVOKE ALL ON TABLE @extschema@.fleet_installation FROM PUBLIC;

-- The saved state: one row per extension table whose row-level security is not
-- the default (off, not forced, no policy). Registered with
-- pg_extension_config_dump, so pg_dump keeps it although it drops the
-- policies themselves.
CREATE TABLE @extschema@.fleet_saved_security (
    table_name  name PRIMARY KEY,
    rls_enabled boolean NOT NULL,
    rls_forced  boolean NOT NULL,
    policies    jsonb NOT NULL DEFAULT '[]'::jsonb
                CONSTRAINT fleet_saved_security_policies_array
                CHECK (pg_catalog.jsonb_typeof(policies) = 'array'),
    install_id  uuid NOT NULL,
    saved_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    saved_by    name NOT NULL DEFAULT CURRENT_USER
);
COMMENT ON TABLE @extschema@.fleet_saved_security IS
    'Row-level security of the extension''s tables as last saved (automatically on CREATE/ALTER/DROP POLICY and ALTER TABLE, or by fleet_save_security()). pg_dump keeps these rows but not the policies; fleet_restore_security() applies them again, and does so by itself when pg_restore loads them.';
COMMENT ON COLUMN @extschema@.fleet_saved_security.table_name IS 'A table of the extension, in the extension''s schema.';
COMMENT ON COLUMN @extschema@.fleet_saved_security.policies IS
    'Array of {name, permissive, command, roles, using, check}, by name; roles are role names (public for PUBLIC); using and check are pg_get_expr() under an empty search_path, so every user object is schema-qualified.';
COMMENT ON COLUMN @extschema@.fleet_saved_security.install_id IS
    'The fleet_installation that saved the row; another value means the row came from a dump and may not be applied yet.';
REVOKE ALL ON TABLE @extschema@.fleet_saved_security FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fleet_saved_security', '');

-- The live state of one table, in the saved rows' shape.
CREATE FUNCTION @extschema@.fleet_security_definition(rel regclass) RETURNS jsonb
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = ''
    AS $fn$
SELECT pg_catalog.jsonb_build_object(
           'rls_enabled', c.relrowsecurity,
           'rls_forced', c.relforcerowsecurity,
           'policies', coalesce((
               SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                          'name', p.polname,
                          'permissive', p.polpermissive,
                          'command', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
                                         WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                          'roles', (SELECT pg_catalog.jsonb_agg(rn ORDER BY rn)
                                      FROM (SELECT CASE WHEN r.role = 0 THEN 'public'
                                                        ELSE (SELECT a.rolname::text FROM pg_catalog.pg_roles a
                                                               WHERE a.oid = r.role) END AS rn
                                              FROM pg_catalog.unnest(p.polroles) AS r(role)) AS roles),
                          'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                          'check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))
                        ORDER BY p.polname)
                 FROM pg_catalog.pg_policy p
                WHERE p.polrelid = c.oid), '[]'::jsonb))
  FROM pg_catalog.pg_class c
 WHERE c.oid = rel
$fn$;
COMMENT ON FUNCTION @extschema@.fleet_security_definition(regclass) IS
    'Row-level security of a table as {rls_enabled, rls_forced, policies}, in the form fleet_saved_security keeps; expressions are deparsed under an empty search_path.';
REVOKE ALL ON FUNCTION @extschema@.fleet_security_definition(regclass) FROM PUBLIC;

-- Saved rows may be written only by a role that could create the policies
-- itself: fleet_restore_security() turns them into DDL, and a role granted
-- INSERT here must not be able to plant policy text that an owner or a
-- superuser later runs (on restore, before any GRANT of this table is back).
CREATE FUNCTION @extschema@.fleet_saved_security_guard() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $fn$
DECLARE
    owner oid;
BEGIN
    SELECT c.relowner INTO owner FROM pg_catalog.pg_class c
     WHERE c.oid = TG_RELID;
    IF NOT pg_catalog.pg_has_role(CURRENT_USER, owner, 'USAGE') THEN
        RAISE EXCEPTION 'permission denied to write saved row-level security'
            USING ERRCODE = '42501',
                  DETAIL = pg_catalog.format('Only the owner of the fleet_sites tables (%s) or a member of it may write %s.',
                                             pg_catalog.pg_get_userbyid(owner), TG_TABLE_NAME),
                  HINT = 'Use fleet_save_security(), which saves what the catalog holds.';
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION @extschema@.fleet_saved_security_guard() IS
    'Trigger: only the owner of the extension''s tables (or a member, or a superuser) may write fleet_saved_security, because its rows become CREATE POLICY statements.';
REVOKE ALL ON FUNCTION @extschema@.fleet_saved_security_guard() FROM PUBLIC;
CREATE TRIGGER fleet_saved_security_guard
    BEFORE INSERT OR UPDATE ON @extschema@.fleet_saved_security
    FOR EACH ROW EXECUTE FUNCTION @extschema@.fleet_saved_security_guard();

-- Save: live state -> fleet_saved_security, for every extension table (or the
-- ones named). A table whose saved row came from a dump and is not applied yet
-- is kept as it is, loudly, unless discard_restored.
CREATE FUNCTION @extschema@.fleet_save_security(
    discard_restored boolean DEFAULT false,
    tables           name[] DEFAULT NULL
) RETURNS TABLE (table_name name, action text)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    AS $fn$
DECLARE
    me       uuid;
    t        record;
    live     jsonb;
    nothing  constant jsonb := '{"rls_enabled": false, "rls_forced": false, "policies": []}';
BEGIN
    SELECT i.install_id INTO STRICT me FROM @extschema@.fleet_installation i;
    FOR t IN
        SELECT c.oid, c.relname, c.relnamespace, s.install_id AS saved_in,
               pg_catalog.jsonb_build_object('rls_enabled', s.rls_enabled, 'rls_forced', s.rls_forced,
                                             'policies', s.policies) AS saved
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_class c ON c.oid = d.objid
          LEFT JOIN @extschema@.fleet_saved_security s ON s.table_name = c.relname
         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'fleet_sites')
           AND d.deptype = 'e' AND c.relkind = 'r'
           AND (tables IS NULL OR c.relname = ANY (tables))
         ORDER BY c.relname
    LOOP
        table_name := t.relname;
        live := @extschema@.fleet_security_definition(t.oid);
        IF t.saved_in IS DISTINCT FROM me AND t.saved_in IS NOT NULL
           AND live IS DISTINCT FROM t.saved AND NOT discard_restored THEN
            RAISE WARNING 'row-level security of %.% is not saved: its saved state comes from a dump and is not applied yet',
                    t.relnamespace::pg_catalog.regnamespace, t.relname
                USING ERRCODE = '01000',
                      HINT = 'Run SELECT * FROM fleet_restore_security() to apply it, or SELECT * FROM fleet_save_security(discard_restored => true) to replace it with what the table has now.';
            action := 'kept: restored state not applied yet';
        ELSIF live = nothing THEN
            DELETE FROM @extschema@.fleet_saved_security s WHERE s.table_name = t.relname;
            action := CASE WHEN FOUND THEN 'cleared' ELSE 'nothing to save' END;
        ELSIF t.saved_in = me AND live = t.saved THEN
            action := 'unchanged';
        ELSE
            INSERT INTO @extschema@.fleet_saved_security AS s
                   (table_name, rls_enabled, rls_forced, policies, install_id)
            VALUES (t.relname, (live ->> 'rls_enabled')::boolean, (live ->> 'rls_forced')::boolean,
                    live -> 'policies', me)
            ON CONFLICT ON CONSTRAINT fleet_saved_security_pkey DO UPDATE
               SET rls_enabled = excluded.rls_enabled, rls_forced = excluded.rls_forced,
                   policies = excluded.policies, install_id = excluded.install_id,
                   saved_at = pg_catalog.now(), saved_by = CURRENT_USER;
            action := 'saved';
        END IF;
        RETURN NEXT;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION @extschema@.fleet_save_security(boolean, name[]) IS
    'Save the row-level security (ENABLE/FORCE and policies) of the extension''s tables, or of the ones named, into fleet_saved_security, where pg_dump keeps it. Runs by itself after policy DDL; a table whose saved state came from a dump and is not applied yet is kept, with a WARNING, unless discard_restored.';
REVOKE ALL ON FUNCTION @extschema@.fleet_save_security(boolean, name[]) FROM PUBLIC;

-- Apply: saved rows from a dump -> the catalog. Each item in its own
-- subtransaction; what cannot be applied is reported (a WARNING and a row) and
-- stays pending, failing closed: ENABLE/FORCE first, whatever the policies do,
-- and a restrictive policy that cannot be created is replaced by a deny-all one.
CREATE FUNCTION @extschema@.fleet_restore_security()
RETURNS TABLE (table_name name, item text, result text)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    AS $fn$
DECLARE
    me        uuid;
    t         record;
    p         jsonb;
    live      jsonb;
    livepol   jsonb;
    failures  integer := 0;
    tfail     boolean;
    qrel      text;
    roles_ok  text;
    missing   text;
    cmd       text;
BEGIN
    -- Tell fleet_security_capture() (the event trigger) that the policy DDL
    -- below is ours: it must not save half-applied states.
    PERFORM pg_catalog.pg_advisory_xact_lock(1718379379, 1920234355);
    SELECT i.install_id INTO STRICT me FROM @extschema@.fleet_installation i;

    -- Pending tables, those that reference other extension tables first (so
    -- that, during a parallel pg_restore, we never hold a table that a COPY
    -- we wait for still has to check a foreign key against).
    FOR t IN
        WITH RECURSIVE members AS (
            SELECT c.oid, c.relname, c.relnamespace
              FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class c ON c.oid = d.objid
             WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
               AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
               AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'fleet_sites')
               AND d.deptype = 'e' AND c.relkind = 'r'
        ), walk (relid, depth) AS (
            SELECT oid, 0 FROM members
            UNION
            SELECT con.conrelid, w.depth + 1
              FROM walk w JOIN pg_catalog.pg_constraint con
                ON con.confrelid = w.relid AND con.contype = 'f' AND con.conrelid <> con.confrelid
             WHERE con.conrelid IN (SELECT oid FROM members) AND w.depth < 32
        )
        SELECT m.oid, m.relname, m.relnamespace, s.rls_enabled, s.rls_forced, s.policies,
               (SELECT max(w.depth) FROM walk w WHERE w.relid = m.oid) AS depth
          FROM members m
          JOIN @extschema@.fleet_saved_security s ON s.table_name = m.relname
         WHERE s.install_id <> me
           AND @extschema@.fleet_security_definition(m.oid)
               IS DISTINCT FROM pg_catalog.jsonb_build_object('rls_enabled', s.rls_enabled,
                                    'rls_forced', s.rls_forced, 'policies', s.policies)
         ORDER BY depth DESC, m.relname
    LOOP
        table_name := t.relname;
        tfail := false;
        qrel := pg_catalog.format('%s.%I', t.relnamespace::pg_catalog.regnamespace, t.relname);
        EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', qrel);

        -- The switches first: with row-level security on, a missing permissive
        -- policy denies rather than exposes.
        item := 'row level security';
        EXECUTE pg_catalog.format('ALTER TABLE %s %s ROW LEVEL SECURITY', qrel,
                                  CASE WHEN t.rls_enabled THEN 'ENABLE' ELSE 'DISABLE' END);
        EXECUTE pg_catalog.format('ALTER TABLE %s %s ROW LEVEL SECURITY', qrel,
                                  CASE WHEN t.rls_forced THEN 'FORCE' ELSE 'NO FORCE' END);
        result := pg_catalog.concat_ws(', ', CASE WHEN t.rls_enabled THEN 'enabled' ELSE 'disabled' END,
                                       CASE WHEN t.rls_forced THEN 'forced' END);
        RETURN NEXT;

        FOR p IN SELECT x FROM pg_catalog.jsonb_array_elements(t.policies) AS x LOOP
            item := 'policy ' || coalesce(p ->> 'name', '?');
            roles_ok := NULL;
            BEGIN
                IF pg_catalog.jsonb_typeof(p -> 'name') IS DISTINCT FROM 'string'
                   OR pg_catalog.jsonb_typeof(p -> 'permissive') IS DISTINCT FROM 'boolean'
                   OR pg_catalog.jsonb_typeof(p -> 'roles') IS DISTINCT FROM 'array'
                   OR (p ->> 'command') IS NULL
                   OR (p ->> 'command') NOT IN ('ALL', 'SELECT', 'INSERT', 'UPDATE', 'DELETE') THEN
                    RAISE EXCEPTION 'malformed saved policy: %', p USING ERRCODE = '22023';
                END IF;
                cmd := p ->> 'command';
                SELECT x INTO livepol
                  FROM pg_catalog.jsonb_array_elements(
                           @extschema@.fleet_security_definition(t.oid) -> 'policies') AS x
                 WHERE x ->> 'name' = p ->> 'name';
                IF livepol = p THEN
                    result := 'already present';
                    RETURN NEXT;
                    CONTINUE;
                END IF;
                SELECT pg_catalog.string_agg(CASE WHEN r = 'public' THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r) END,
                                             ', ' ORDER BY r)
                         FILTER (WHERE r = 'public' OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles a WHERE a.rolname = r)),
                       pg_catalog.string_agg(r, ', ' ORDER BY r)
                         FILTER (WHERE r <> 'public' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles a WHERE a.rolname = r))
                  INTO roles_ok, missing
                  FROM pg_catalog.jsonb_array_elements_text(p -> 'roles') AS r;
                IF roles_ok IS NULL THEN
                    RAISE EXCEPTION 'none of its roles exists (%)', missing USING ERRCODE = '42704';
                END IF;
                IF livepol IS NOT NULL THEN
                    EXECUTE pg_catalog.format('DROP POLICY %I ON %s', p ->> 'name', qrel);
                END IF;
                EXECUTE pg_catalog.format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s',
                            p ->> 'name', qrel,
                            CASE WHEN (p -> 'permissive')::boolean THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                            cmd, roles_ok,
                            CASE WHEN p ->> 'using' IS NOT NULL THEN ' USING (' || (p ->> 'using') || ')' END,
                            CASE WHEN p ->> 'check' IS NOT NULL THEN ' WITH CHECK (' || (p ->> 'check') || ')' END);
                IF missing IS NULL THEN
                    result := CASE WHEN livepol IS NULL THEN 'created' ELSE 'replaced' END;
                ELSE
                    -- It stands for the roles that exist; the saved row keeps
                    -- the others for the next run.
                    tfail := true;
                    result := 'INCOMPLETE: created without its missing role(s) ' || missing;
                    RAISE WARNING 'fleet_sites: %: % not fully restored: %', qrel, item, result
                        USING ERRCODE = '01000',
                              HINT = 'Create the roles (pg_dumpall --globals-only), then run SELECT * FROM fleet_restore_security() again.';
                END IF;
                RETURN NEXT;
            EXCEPTION WHEN OTHERS THEN
                -- Everything of this item was rolled back.
                tfail := true;
                result := 'FAILED: ' || SQLERRM;
                IF (p -> 'permissive') = 'false'::jsonb AND roles_ok IS NOT NULL THEN
                    -- A restrictive policy that is missing would let its roles
                    -- see more: stand a deny-all one in its place.
                    BEGIN
                        EXECUTE pg_catalog.format('DROP POLICY IF EXISTS %I ON %s', p ->> 'name', qrel);
                        EXECUTE pg_catalog.format('CREATE POLICY %I ON %s AS RESTRICTIVE FOR %s TO %s%s%s',
                            p ->> 'name', qrel, cmd, roles_ok,
                            CASE WHEN cmd <> 'INSERT' THEN ' USING (false)' END,
                            CASE WHEN cmd IN ('ALL', 'INSERT', 'UPDATE') THEN ' WITH CHECK (false)' END);
                        result := result || '; a deny-all restrictive policy of that name stands in';
                    EXCEPTION WHEN OTHERS THEN
                        result := result || '; no deny-all stand-in either: ' || SQLERRM;
                    END;
                END IF;
                RAISE WARNING 'fleet_sites: %: % not restored: %', qrel, item, result
                    USING ERRCODE = '01000',
                          HINT = 'Create what is missing, then run SELECT * FROM fleet_restore_security() again.';
                RETURN NEXT;
            END;
        END LOOP;

        IF tfail THEN
            failures := failures + 1;
        ELSE
            -- Applied whole: saved here from now on.
            PERFORM 1 FROM @extschema@.fleet_save_security(true, ARRAY[t.relname]);
        END IF;
    END LOOP;

    IF failures > 0 THEN
        RAISE WARNING 'fleet_sites: row-level security of % table(s) is not fully restored', failures
            USING ERRCODE = '01000',
                  HINT = 'SELECT * FROM fleet_security_status WHERE state <> ''ok'' lists them.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.fleet_restore_security() IS
    'Apply the row-level security saved in fleet_saved_security that came from a dump: ENABLE/FORCE first, then each policy. Returns one row per item; what cannot be applied (a missing role, a missing function) is reported with a WARNING and stays pending, failing closed. Run again once the missing objects exist. pg_restore runs it by itself when it loads fleet_saved_security.';
REVOKE ALL ON FUNCTION @extschema@.fleet_restore_security() FROM PUBLIC;

-- When pg_restore (or anything else) loads saved rows from another
-- installation, apply them at once. Never fails the load: the rows must stay.
CREATE FUNCTION @extschema@.fleet_saved_security_loaded() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM loaded l, @extschema@.fleet_installation i
                WHERE l.install_id <> i.install_id) THEN
        BEGIN
            PERFORM 1 FROM @extschema@.fleet_restore_security();
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'fleet_sites: could not apply the restored row-level security: %', SQLERRM
                USING ERRCODE = '01000',
                      HINT = 'Run SELECT * FROM fleet_restore_security() as the owner of the fleet_sites tables.';
        END;
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION @extschema@.fleet_saved_security_loaded() IS
    'Trigger: rows loaded into fleet_saved_security from another installation (a restore) are applied at once by fleet_restore_security(); a failure is a WARNING, never a failed load.';
REVOKE ALL ON FUNCTION @extschema@.fleet_saved_security_loaded() FROM PUBLIC;
CREATE TRIGGER fleet_saved_security_loaded
    AFTER INSERT ON @extschema@.fleet_saved_security
    REFERENCING NEW TABLE AS loaded
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.fleet_saved_security_loaded();
-- Also under session_replication_role = replica (a restore run that way, a
-- logical replica of this table).
ALTER TABLE @extschema@.fleet_saved_security ENABLE ALWAYS TRIGGER fleet_saved_security_loaded;

-- Save automatically after policy DDL on the extension's tables.
CREATE FUNCTION @extschema@.fleet_security_capture() RETURNS event_trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $fn$
DECLARE
    ext      oid;
    affected name[];
BEGIN
    -- fleet_restore_security() is running in this transaction.
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid() AND l.granted
                  AND l.classid = 1718379379 AND l.objid = 1920234355 AND l.objsubid = 2) THEN
        RETURN;
    END IF;
    SELECT e.oid INTO ext FROM pg_catalog.pg_extension e WHERE e.extname = 'fleet_sites';
    IF TG_EVENT = 'sql_drop' THEN
        SELECT pg_catalog.array_agg(DISTINCT c.relname) INTO affected
          FROM pg_catalog.pg_event_trigger_dropped_objects() o
          JOIN pg_catalog.pg_class c ON c.relname = o.address_names[2]
                                    AND c.relnamespace = (SELECT e.extnamespace FROM pg_catalog.pg_extension e
                                                           WHERE e.oid = ext)
                                    AND c.relnamespace::pg_catalog.regnamespace::text
                                        = pg_catalog.quote_ident(o.address_names[1])
          JOIN pg_catalog.pg_depend d ON d.objid = c.oid AND d.deptype = 'e'
                                     AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                     AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                                     AND d.refobjid = ext
         WHERE o.object_type = 'policy';
    ELSE
        SELECT pg_catalog.array_agg(DISTINCT c.relname) INTO affected
          FROM pg_catalog.pg_event_trigger_ddl_commands() cmd
          JOIN pg_catalog.pg_class c
            ON c.oid = CASE WHEN cmd.classid = 'pg_catalog.pg_class'::pg_catalog.regclass THEN cmd.objid
                            WHEN cmd.classid = 'pg_catalog.pg_policy'::pg_catalog.regclass
                            THEN (SELECT p.polrelid FROM pg_catalog.pg_policy p WHERE p.oid = cmd.objid) END
          JOIN pg_catalog.pg_depend d ON d.objid = c.oid AND d.deptype = 'e'
                                     AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                     AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                                     AND d.refobjid = ext
         WHERE NOT cmd.in_extension AND c.relkind = 'r';
    END IF;
    IF affected IS NOT NULL THEN
        PERFORM 1 FROM @extschema@.fleet_save_security(false, affected);
    END IF;
END
$fn$;
COMMENT ON FUNCTION @extschema@.fleet_security_capture() IS
    'Event trigger: after CREATE/ALTER/DROP POLICY or ALTER TABLE on a table of the extension, save its row-level security (fleet_save_security). Does nothing for other tables.';
REVOKE ALL ON FUNCTION @extschema@.fleet_security_capture() FROM PUBLIC;

CREATE EVENT TRIGGER fleet_security_capture ON ddl_command_end
    WHEN TAG IN ('CREATE POLICY', 'ALTER POLICY', 'ALTER TABLE')
    EXECUTE FUNCTION @extschema@.fleet_security_capture();
CREATE EVENT TRIGGER fleet_security_capture_drop ON sql_drop
    WHEN TAG IN ('DROP POLICY')
    EXECUTE FUNCTION @extschema@.fleet_security_capture();
COMMENT ON EVENT TRIGGER fleet_security_capture IS
    'Saves the row-level security of the fleet_sites tables after policy DDL on them.';
COMMENT ON EVENT TRIGGER fleet_security_capture_drop IS
    'Saves the row-level security of the fleet_sites tables after DROP POLICY on them.';

-- At a glance: is every table's row-level security what was saved?
CREATE VIEW @extschema@.fleet_security_status WITH (security_invoker = true) AS
SELECT c.relname                        AS table_name,
       c.relrowsecurity                 AS rls_enabled,
       c.relforcerowsecurity            AS rls_forced,
       ARRAY(SELECT p.polname FROM pg_catalog.pg_policy p
              WHERE p.polrelid = c.oid ORDER BY p.polname) AS policies,
       live.def -> 'policies'           AS policy_definitions,
       s.table_name IS NOT NULL         AS saved,
       s.saved_at,
       (s.install_id IS DISTINCT FROM i.install_id AND s.table_name IS NOT NULL
        AND live.def IS DISTINCT FROM saved.def) AS restore_pending,
       CASE WHEN live.def = saved.def THEN 'ok'
            WHEN s.table_name IS NOT NULL AND s.install_id IS DISTINCT FROM i.install_id
            THEN 'RESTORE PENDING: run fleet_restore_security()'
            ELSE 'NOT SAVED: run fleet_save_security()' END AS state
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_class c ON c.oid = d.objid
  LEFT JOIN @extschema@.fleet_saved_security s ON s.table_name = c.relname
  LEFT JOIN @extschema@.fleet_installation i ON true
 CROSS JOIN LATERAL (SELECT @extschema@.fleet_security_definition(c.oid) AS def) AS live
 CROSS JOIN LATERAL (SELECT CASE WHEN s.table_name IS NULL
                                 THEN '{"rls_enabled": false, "rls_forced": false, "policies": []}'::jsonb
                                 ELSE pg_catalog.jsonb_build_object('rls_enabled', s.rls_enabled,
                                          'rls_forced', s.rls_forced, 'policies', s.policies) END AS def) AS saved
 WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
   AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
   AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'fleet_sites')
   AND d.deptype = 'e' AND c.relkind = 'r';
COMMENT ON VIEW @extschema@.fleet_security_status IS
    'One row per table of the extension: whether row-level security is on and forced, its policies (names and definitions), and whether that is what fleet_saved_security holds. state is ok, RESTORE PENDING (a restored state not applied yet: run fleet_restore_security()) or NOT SAVED. After a restore every row should say ok.';
REVOKE ALL ON TABLE @extschema@.fleet_security_status FROM PUBLIC;

-- A 1.0 database being updated may already have policies: save them now. (On a
-- fresh CREATE EXTENSION, including pg_restore's, every table is in the
-- default state and nothing is written, so no row collides with the dump's.)
SELECT count(*) FROM @extschema@.fleet_save_security();
