--
-- 05_rollback: the move runs inside the caller's transaction. Rolling the
-- transaction (or a savepoint) back leaves no trace: no device site changed,
-- no membership or slot deleted, no activity row. A failure late in the
-- call (the device update, or the audit insert, after the force clear has
-- deleted memberships) undoes the whole call.
--
-- Sites 5xx, racks 55x; everything is removed at the end.
--
\pset null '(null)'
SELECT coalesce(max(id), 0) AS start_activity FROM fleet_activity \gset

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

CREATE TEMP VIEW dev AS
SELECT d.identifier, d.site_id, m.rack_id, s.row_index, s.column_index
  FROM fleet_device d
  LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
  LEFT JOIN fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = d.id
 WHERE d.identifier LIKE 'rb-%';

INSERT INTO fleet_site (id, name) VALUES (501, 'rb-a'), (502, 'rb-b');
INSERT INTO fleet_rack (id, label, site_id) VALUES (551, 'rb-rack-b', 502);
INSERT INTO fleet_device (identifier, site_id) VALUES ('rb-free', NULL), ('rb-racked', 502);
INSERT INTO fleet_rack_membership (rack_id, device_id)
    SELECT 551, id FROM fleet_device WHERE identifier = 'rb-racked';
INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
    SELECT 551, id, 3, 4 FROM fleet_device WHERE identifier = 'rb-racked';

SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT pg_temp.fingerprint() AS fp \gset

--------------------------------------------------------------------------------
-- BEGIN; call (with a force clear); ROLLBACK. Inside the transaction the move
-- is visible; after the rollback nothing of it remains.
--------------------------------------------------------------------------------
BEGIN;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['rb-free', 'rb-racked'], 501, true);
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT count(*) AS activity_rows_inside FROM fleet_activity WHERE id > :start_activity;
ROLLBACK;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT count(*) AS activity_rows_after FROM fleet_activity WHERE id > :start_activity;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_left;

--------------------------------------------------------------------------------
-- A call inside a savepoint that is rolled back leaves nothing; a later call
-- in the same transaction commits alone (one activity row, its own).
--------------------------------------------------------------------------------
BEGIN;
SAVEPOINT before_move;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['rb-free', 'rb-racked'], 501, true);
ROLLBACK TO SAVEPOINT before_move;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT count(*) AS activity_rows_after_savepoint FROM fleet_activity WHERE id > :start_activity;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['rb-free'], 502);
COMMIT;
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT site_id, description FROM fleet_activity WHERE id > :start_activity ORDER BY id;

-- Back to the start for the next blocks (rb-free Unassigned again).
SELECT * FROM fleet_assign_devices_to_site(ARRAY['rb-free'], NULL);
DELETE FROM fleet_activity WHERE id > :start_activity;
SELECT pg_temp.fingerprint() AS fp \gset

--------------------------------------------------------------------------------
-- An error later in the caller's transaction takes an earlier successful call
-- down with it.
--------------------------------------------------------------------------------
BEGIN;
SELECT * FROM fleet_assign_devices_to_site(ARRAY['rb-racked'], 501, true);
SELECT * FROM fleet_assign_devices_to_site(ARRAY['rb-free'], 599);
ROLLBACK;
SELECT pg_temp.fingerprint() = :'fp' AS nothing_left;

--------------------------------------------------------------------------------
-- The device update fails after the force clear has deleted the membership
-- (a trigger stands in for any late failure): the call errors and the
-- membership, the slot and every site are as before; no activity row.
--------------------------------------------------------------------------------
-- (SET search_path FROM CURRENT: inside the move the path is pinned to
-- pg_catalog, pg_temp, and the trigger reads an extension table.)
CREATE FUNCTION pg_temp.fail_on_racked() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NEW.identifier = 'rb-racked' THEN
        -- Says whether the force clear had already deleted the membership
        -- when the failure hit, so the test shows there was work to undo.
        RAISE EXCEPTION 'simulated failure updating % (membership still there: %)',
            NEW.identifier,
            EXISTS (SELECT 1 FROM fleet_rack_membership WHERE device_id = NEW.id)
            USING ERRCODE = 'XX999';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER rb_fail_device_update BEFORE UPDATE ON fleet_device
    FOR EACH ROW EXECUTE FUNCTION pg_temp.fail_on_racked();

SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['rb-free', 'rb-racked'], 501, true)$$);
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT pg_temp.fingerprint() = :'fp' AS nothing_left;
DROP TRIGGER rb_fail_device_update ON fleet_device;

--------------------------------------------------------------------------------
-- The audit insert fails (the last write of the call): the move is undone
-- with it. The audit row is part of the move, not a separate write that may
-- be lost.
--------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.fail_always() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'simulated audit failure' USING ERRCODE = 'XX998';
END
$$;
CREATE TRIGGER rb_fail_activity_insert BEFORE INSERT ON fleet_activity
    FOR EACH ROW EXECUTE FUNCTION pg_temp.fail_always();

SELECT pg_temp.try($$SELECT * FROM fleet_assign_devices_to_site(ARRAY['rb-free', 'rb-racked'], 501, true)$$);
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT pg_temp.fingerprint() = :'fp' AS nothing_left;
DROP TRIGGER rb_fail_activity_insert ON fleet_activity;

-- With the triggers gone the same call goes through.
SELECT * FROM fleet_assign_devices_to_site(ARRAY['rb-free', 'rb-racked'], 501, true);
SELECT * FROM dev ORDER BY identifier COLLATE "C";
SELECT description FROM fleet_activity WHERE id > :start_activity ORDER BY id;

-- Clean up.
DELETE FROM fleet_activity WHERE id > :start_activity;
DELETE FROM fleet_device WHERE identifier LIKE 'rb-%';
DELETE FROM fleet_rack WHERE id = 551;
DELETE FROM fleet_site WHERE id IN (501, 502);
