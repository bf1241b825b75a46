--
-- 03_privileges: the privilege gate of fleet_assign_devices_to_site.
--
--   UPDATE on fleet_device            the "site manage" right, always needed
--   DELETE on fleet_rack_membership   the "rack manage" right, needed whenever
--                                     force_clear is true, conflict or not
--   SELECT on the tables              all a caller needs beyond these
--   nothing on fleet_activity         yet the audit row is written
--
-- A refused call is ERROR 42501 naming the missing privilege and writes
-- nothing. Ordinary roles cannot write fleet_activity themselves.
-- Roles are created here and dropped at the end; sites 3xx, racks 35x.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

-- SQLSTATE and message of a call, or how many conflict rows it returned.
CREATE FUNCTION pg_temp.try(call text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    detail text;
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s) AS c', call) INTO n;
    RETURN format('ok, %s conflict row(s)', n);
EXCEPTION WHEN OTHERS THEN
    -- The detail names the function, the privilege and the role.
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN format('ERROR %s: %s (%s)', SQLSTATE, SQLERRM, detail);
END
$$;

-- SQLSTATE and message of any statement, or 'ok'.
CREATE FUNCTION pg_temp.try_exec(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'ok';
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

-- Placement of this file's devices.
CREATE TEMP VIEW dev AS
SELECT d.identifier, d.site_id, m.rack_id, s.row_index, s.column_index
  FROM fleet_device d
  LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id
 WHERE d.identifier LIKE 'priv-%';

-- The roles. Any left over from an aborted earlier run go first.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_fleet_site_only, regress_fleet_both, regress_fleet_read_only,
    regress_fleet_rack_only, regress_fleet_nothing, regress_fleet_ops, regress_fleet_member,
    regress_fleet_auditor;
RESET client_min_messages;

CREATE ROLE regress_fleet_site_only;   -- site manage
CREATE ROLE regress_fleet_both;        -- site manage + rack manage
CREATE ROLE regress_fleet_read_only;   -- neither right, SELECT only
CREATE ROLE regress_fleet_rack_only;   -- rack manage without site manage
CREATE ROLE regress_fleet_nothing;     -- no grant at all
CREATE ROLE regress_fleet_ops;         -- a group holding both rights ...
CREATE ROLE regress_fleet_member IN ROLE regress_fleet_ops;  -- ... and a member inheriting them
CREATE ROLE regress_fleet_auditor;     -- may read the audit table

GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    TO regress_fleet_site_only, regress_fleet_both, regress_fleet_read_only,
       regress_fleet_rack_only, regress_fleet_ops;
GRANT UPDATE ON fleet_device TO regress_fleet_site_only, regress_fleet_both, regress_fleet_ops;
GRANT DELETE ON fleet_rack_membership TO regress_fleet_both, regress_fleet_rack_only, regress_fleet_ops;
GRANT SELECT ON fleet_activity TO regress_fleet_auditor;

-- No caller role holds any privilege on fleet_activity.
SELECT r.rolname,
       has_table_privilege(r.rolname, 'fleet_activity', 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
           AS any_right_on_activity
  FROM pg_roles r
 WHERE r.rolname IN ('regress_fleet_site_only', 'regress_fleet_both', 'regress_fleet_read_only',
                     'regress_fleet_rack_only', 'regress_fleet_nothing', 'regress_fleet_member')
 ORDER BY r.rolname COLLATE "C";

INSERT INTO fleet_site (id, name) VALUES (301, 'priv-a'), (302, 'priv-b');
INSERT INTO fleet_rack (id, label, site_id) VALUES (351, 'priv-rack-b', 302);
INSERT INTO fleet_device (identifier, site_id) VALUES
    ('priv-free-1', NULL), ('priv-free-2', NULL), ('priv-free-3', NULL),
    ('priv-racked-1', 302), ('priv-racked-2', 302), ('priv-racked-3', 302);
INSERT INTO fleet_rack_membership (rack_id, device_id)
    SELECT 351, id FROM fleet_device WHERE identifier LIKE 'priv-racked-%';
INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
    SELECT 351, id, 0, row_number() OVER (ORDER BY id)::int - 1
      FROM fleet_device WHERE identifier LIKE 'priv-racked-%';

--------------------------------------------------------------------------------
-- Site right only, no force: allowed. The move is applied and audited even
-- though the role has no privilege on fleet_activity; the actor is the role.
--------------------------------------------------------------------------------
SET ROLE regress_fleet_site_only;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-free-1'], 301);
-- Conflicts come back normally too (no force, so no rack right needed).
SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-racked-1', 'priv-ghost'], 301);
RESET ROLE;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT actor, site_id, description FROM fleet_activity WHERE id > :start_activity ORDER BY id;

--------------------------------------------------------------------------------
-- Site right only, with force: refused with 42501 naming DELETE on
-- fleet_rack_membership, whether or not any conflict exists, and before the
-- conflicts or the target are looked at (unknown ids, missing target).
-- Nothing is written.
--------------------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SET ROLE regress_fleet_site_only;
-- no conflict at all
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-free-2'], 301, true)$$);
-- a clearable conflict
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(
    ARRAY['priv-free-2', 'priv-racked-1'], 301, true)$$);
-- only unknown ids
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-ghost'], 301, true)$$);
-- a missing target site
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-free-2'], 399, true)$$);
-- to Unassigned
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-racked-1'], NULL, true)$$);
RESET ROLE;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;
SELECT * FROM dev WHERE identifier IN ('priv-free-2', 'priv-racked-1') ORDER BY identifier COLLATE "C";

--------------------------------------------------------------------------------
-- Both rights, with force: allowed; the conflicting membership is cleared.
-- Both rights without force: allowed.
--------------------------------------------------------------------------------
SET ROLE regress_fleet_both;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-free-2', 'priv-racked-1'], 301, true);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-free-3'], 302);
RESET ROLE;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT actor, site_id, description FROM fleet_activity WHERE id > :start_activity ORDER BY id;

--------------------------------------------------------------------------------
-- Rights inherited through a group role count.
--------------------------------------------------------------------------------
SET ROLE regress_fleet_member;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-racked-2'], 301, true);
RESET ROLE;
SELECT * FROM dev WHERE identifier = 'priv-racked-2';
SELECT actor, site_id, description FROM fleet_activity
 WHERE id > :start_activity ORDER BY id DESC LIMIT 1;

--------------------------------------------------------------------------------
-- Neither right (SELECT only), the rack right alone, or no grant at all:
-- refused with 42501 naming UPDATE on fleet_device, with and without force.
-- Nothing is written.
--------------------------------------------------------------------------------
SELECT pg_temp.fingerprint() AS fp \gset
SET ROLE regress_fleet_read_only;
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-free-1'], 302)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-racked-3'], 301, true)$$);
SET ROLE regress_fleet_rack_only;
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-free-1'], 302)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-racked-3'], 301, true)$$);
SET ROLE regress_fleet_nothing;
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-free-1'], 302)$$);
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['priv-racked-3'], NULL, true)$$);
-- Input is validated before the gate: bad input is reported as such.
SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site('{}', 302)$$);
RESET ROLE;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_written;

--------------------------------------------------------------------------------
-- fleet_activity is written only through the move functions: a caller with
-- both rights, and even a role granted SELECT on it, cannot INSERT, UPDATE,
-- DELETE or TRUNCATE its rows.
--------------------------------------------------------------------------------
SELECT count(*) AS rows_before FROM fleet_activity WHERE id > :start_activity \gset
SET ROLE regress_fleet_both;
SELECT pg_temp.try_exec($$INSERT INTO fleet_activity (occurred_at, actor, event_type, description, metadata)
    VALUES (now(), 'forger', 'devices.reassigned_to_site', 'forged', '{}')$$);
SELECT pg_temp.try_exec($$UPDATE fleet_activity SET actor = 'forger'$$);
SELECT pg_temp.try_exec($$DELETE FROM fleet_activity$$);
SELECT pg_temp.try_exec($$TRUNCATE fleet_activity$$);
SET ROLE regress_fleet_auditor;
SELECT count(*) = :rows_before AS auditor_reads_all FROM fleet_activity WHERE id > :start_activity;
SELECT pg_temp.try_exec($$INSERT INTO fleet_activity (occurred_at, actor, event_type, description, metadata)
    VALUES (now(), 'forger', 'devices.reassigned_to_site', 'forged', '{}')$$);
SELECT pg_temp.try_exec($$UPDATE fleet_activity SET actor = 'forger'$$);
SELECT pg_temp.try_exec($$DELETE FROM fleet_activity$$);
SELECT pg_temp.try_exec($$TRUNCATE fleet_activity$$);
RESET ROLE;
SELECT count(*) = :rows_before AS activity_untouched,
       count(*) FILTER (WHERE actor = 'forger' OR description = 'forged') AS forged_rows
  FROM fleet_activity WHERE id > :start_activity;

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier LIKE 'priv-%';
DELETE FROM fleet_rack WHERE id = 351;
DELETE FROM fleet_site WHERE id IN (301, 302);
REVOKE ALL ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot,
    fleet_activity
    FROM regress_fleet_site_only, regress_fleet_both, regress_fleet_read_only,
         regress_fleet_rack_only, regress_fleet_ops, regress_fleet_auditor;
DROP ROLE regress_fleet_site_only, regress_fleet_both, regress_fleet_read_only,
    regress_fleet_rack_only, regress_fleet_nothing, regress_fleet_member, regress_fleet_ops,
    regress_fleet_auditor;
