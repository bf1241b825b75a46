--
-- 06_rls: the device work runs with the caller's rights, so row-level
-- security on fleet_device applies. A device the policy hides is
-- DEVICE_NOT_FOUND (never reported as racked, even though its rack membership
-- is readable), no statement touches it (with force its membership stays,
-- its site stays), and the visible devices move.
--
-- The policy: a tenant sees the devices whose identifier starts with the
-- setting app.tenant. The caller is an ordinary role (the table owner and
-- superusers bypass row-level security). Sites 6xx, racks 65x; row-level
-- security is switched off again and everything removed at the end.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

-- The true placement of this file's devices, read as the superuser (who
-- bypasses the policy).
CREATE TEMP VIEW dev AS
SELECT d.identifier, d.site_id, m.rack_id, s.row_index, s.column_index
  FROM fleet_device d
  LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id
 WHERE d.identifier ~ '^(acme|globex|shared)-';

-- The placement invariant over the whole database (read as the superuser):
-- racked devices whose site differs from their rack's. Must be 0.
CREATE FUNCTION pg_temp.placement_violations() RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*)
      FROM fleet_device d
      JOIN fleet_rack_membership m ON m.device_id = d.id
      JOIN fleet_rack r ON r.id = m.rack_id
     WHERE d.site_id IS DISTINCT FROM r.site_id
$$;

-- Runs a call and hides its outcome (rows or error), for checks that are
-- about the state it leaves rather than what it returns.
CREATE FUNCTION pg_temp.run_quietly(call text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SELECT count(*) FROM (%s) AS c', call);
    RETURN true;
EXCEPTION WHEN OTHERS THEN
    RETURN true;
END
$$;

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_fleet_tenant;
RESET client_min_messages;
CREATE ROLE regress_fleet_tenant;
GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    TO regress_fleet_tenant;
GRANT UPDATE ON fleet_device TO regress_fleet_tenant;
GRANT DELETE ON fleet_rack_membership TO regress_fleet_tenant;

INSERT INTO fleet_site (id, name) VALUES (601, 'rls-a'), (602, 'rls-b');
INSERT INTO fleet_rack (id, label, site_id) VALUES (651, 'rls-rack-b', 602);
INSERT INTO fleet_device (identifier, site_id) VALUES
    ('acme-1', 602), ('acme-2', NULL), ('globex-1', 602), ('globex-2', 602), ('shared-1', NULL);
INSERT INTO fleet_rack_membership (rack_id, device_id)
    SELECT 651, id FROM fleet_device WHERE identifier IN ('acme-1', 'globex-1');
INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
    SELECT 651, id, 0, CASE identifier WHEN 'acme-1' THEN 0 ELSE 1 END
      FROM fleet_device WHERE identifier IN ('acme-1', 'globex-1');

ALTER TABLE fleet_device ENABLE ROW LEVEL SECURITY;
-- Each tenant reads and writes its own devices ...
CREATE POLICY regress_tenant_devices ON fleet_device TO regress_fleet_tenant
    USING (identifier LIKE current_setting('app.tenant') || '-%');
-- ... and may also read (only read) the shared ones.
CREATE POLICY regress_shared_devices_read ON fleet_device FOR SELECT TO regress_fleet_tenant
    USING (identifier LIKE 'shared-%');

SET app.tenant = 'acme';
SET ROLE regress_fleet_tenant;

-- What the tenant sees: its own devices and the shared one, not globex's.
SELECT identifier FROM fleet_device ORDER BY identifier COLLATE "C";
-- Memberships are not behind a policy: globex-1's membership is readable.
SELECT count(*) AS memberships_readable FROM fleet_rack_membership WHERE rack_id = 651;

--------------------------------------------------------------------------------
-- A hidden device is DEVICE_NOT_FOUND, not DEVICE_IN_RACK_AT_OTHER_SITE,
-- although it is in a rack at another site.
--------------------------------------------------------------------------------
SELECT * FROM fleet_assign_devices_to_site(ARRAY['acme-1', 'globex-1'], 601);

--------------------------------------------------------------------------------
-- With force, the hidden device is a residual conflict: nothing is written,
-- its membership and slot stay, and the visible clearable device is not
-- cleared either.
--------------------------------------------------------------------------------
SELECT * FROM fleet_assign_devices_to_site(ARRAY['acme-1', 'acme-2', 'globex-1'], 601, true);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['globex-2'], 601, true);
RESET ROLE;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT count(*) AS activity_rows FROM fleet_activity WHERE id > :start_activity;
SET ROLE regress_fleet_tenant;

--------------------------------------------------------------------------------
-- A device the tenant may read but not update is not the tenant's to move:
-- it is DEVICE_NOT_FOUND as well, and untouched.
--------------------------------------------------------------------------------
SELECT * FROM fleet_assign_devices_to_site(ARRAY['shared-1', 'acme-2'], 601);

--------------------------------------------------------------------------------
-- The visible devices move (one cleared from its rack by force); every
-- hidden device keeps its site, membership and slot.
--------------------------------------------------------------------------------
SELECT * FROM fleet_assign_devices_to_site(ARRAY['acme-1', 'acme-2'], 601, true);
RESET ROLE;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT actor, site_id, description, metadata->'device_identifiers' AS device_identifiers,
       metadata->'force_cleared_device_identifiers' AS cleared
  FROM fleet_activity WHERE id > :start_activity ORDER BY id;

--------------------------------------------------------------------------------
-- The other tenant sees its own devices, conflicts included, and not acme's.
--------------------------------------------------------------------------------
SET app.tenant = 'globex';
SET ROLE regress_fleet_tenant;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['globex-1', 'globex-2', 'acme-2'], 601);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['globex-2'], NULL);
RESET ROLE;
SELECT * FROM dev ORDER BY identifier COLLATE "C";

SELECT pg_temp.placement_violations();

--------------------------------------------------------------------------------
-- Policies on the rack tables must not let a move break the placement
-- invariant. The tenant sees acme-3, which is in rack 651 at site 602, but a
-- policy hides its membership (then, separately, its rack). The contract
-- does not say whether such a call reports the conflict or fails, so only
-- the state it leaves is checked: without force acme-3 stays at 602 in its
-- rack; with force, whether the call clears the membership or refuses, no
-- device may end up in a rack at another site. Each call runs in a
-- transaction that is rolled back.
--------------------------------------------------------------------------------
SET app.tenant = 'acme';
INSERT INTO fleet_device (identifier, site_id) VALUES ('acme-3', 602);
INSERT INTO fleet_rack_membership (rack_id, device_id)
    SELECT 651, id FROM fleet_device WHERE identifier = 'acme-3';

-- (a) the membership row is hidden from the tenant
ALTER TABLE fleet_rack_membership ENABLE ROW LEVEL SECURITY;
CREATE POLICY regress_hide_memberships ON fleet_rack_membership TO regress_fleet_tenant
    USING (false);
BEGIN;
SET LOCAL ROLE regress_fleet_tenant;
SELECT pg_temp.run_quietly($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['acme-3'], 601)$$);
RESET ROLE;
SELECT * FROM dev WHERE identifier = 'acme-3';
SELECT pg_temp.placement_violations();
ROLLBACK;
BEGIN;
SET LOCAL ROLE regress_fleet_tenant;
SELECT pg_temp.run_quietly($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['acme-3'], 601, true)$$);
RESET ROLE;
SELECT pg_temp.placement_violations();
ROLLBACK;
-- What the tenant is told: without force, the conflict (the placement is
-- read on the extension's authority, so the hidden membership still counts);
-- with force, 42501, since the caller's rights cannot delete that row.
BEGIN;
SET LOCAL ROLE regress_fleet_tenant;
SELECT device_identifier, reason, conflicting_site_id, rack_id
  FROM fleet_assign_devices_to_site(ARRAY['acme-3'], 601);
\set VERBOSITY sqlstate
SELECT * FROM fleet_assign_devices_to_site(ARRAY['acme-3'], 601, true);
\set VERBOSITY default
ROLLBACK;
DROP POLICY regress_hide_memberships ON fleet_rack_membership;
ALTER TABLE fleet_rack_membership DISABLE ROW LEVEL SECURITY;

-- (b) the rack row is hidden from the tenant
ALTER TABLE fleet_rack ENABLE ROW LEVEL SECURITY;
CREATE POLICY regress_hide_racks ON fleet_rack TO regress_fleet_tenant USING (false);
BEGIN;
SET LOCAL ROLE regress_fleet_tenant;
SELECT pg_temp.run_quietly($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['acme-3'], 601)$$);
RESET ROLE;
SELECT * FROM dev WHERE identifier = 'acme-3';
SELECT pg_temp.placement_violations();
ROLLBACK;
BEGIN;
SET LOCAL ROLE regress_fleet_tenant;
SELECT pg_temp.run_quietly($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['acme-3'], 601, true)$$);
RESET ROLE;
SELECT pg_temp.placement_violations();
ROLLBACK;
DROP POLICY regress_hide_racks ON fleet_rack;
ALTER TABLE fleet_rack DISABLE ROW LEVEL SECURITY;

-- Clean up.
RESET app.tenant;
DROP POLICY regress_tenant_devices ON fleet_device;
DROP POLICY regress_shared_devices_read ON fleet_device;
ALTER TABLE fleet_device DISABLE ROW LEVEL SECURITY;
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier ~ '^(acme|globex|shared)-';
DELETE FROM fleet_rack WHERE id = 651;
DELETE FROM fleet_site WHERE id IN (601, 602);
REVOKE ALL ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot
    FROM regress_fleet_tenant;
DROP ROLE regress_fleet_tenant;
