/*
 * statements.c: every SQL statement the functions run, in one table.
 *
 * Each names its relations through the extension's schema (every %s is the
 * quoted schema name, see catalog.c) and built-ins through pg_catalog; the
 * functions also run with search_path = pg_catalog, pg_temp. Each row says
 * on whose authority the statement runs and with which snapshot (see
 * execute.c for both), and what SPI must report.
 *
 * A 1.0 database that has not yet been updated has no buildings: a statement
 * that touches building columns has a 1.0 form (sql_10) reading NULL for
 * them, or is used only where buildings exist (needs_buildings).
 *
 * Statements are written without subqueries in expressions (catalog.c
 * checks every relation a statement uses, and relies on that).
 */
#include "fleet_sites.h"

#include "catalog/pg_type.h"

#define OWNER	FLEET_OWNER
#define CALLER	FLEET_CALLER
#define STMT	FLEET_SNAPSHOT_STATEMENT
#define LATEST	FLEET_SNAPSHOT_LATEST

static const FleetPlanSpec plan_specs[FLEET_PLAN_COUNT] = {
	/* ---- targets: visible to the caller? (before any lock) ---- */
	[FLEET_PLAN_SITE_VISIBLE] = {
		"site visible",
		"SELECT 1 FROM %s.fleet_site WHERE id = $1",
		NULL, false, CALLER, STMT, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_BUILDING_VISIBLE] = {
		"building visible",
		"SELECT 1 FROM %s.fleet_building WHERE id = $1",
		NULL, true, CALLER, STMT, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_RACK_VISIBLE] = {
		"rack visible",
		"SELECT 1 FROM %s.fleet_rack WHERE id = $1",
		NULL, false, CALLER, STMT, SPI_OK_SELECT, 1, {INT8OID}
	},

	/* ---- level 1: sites ---- */
	[FLEET_PLAN_LOCK_SITE] = {
		/* KEY SHARE blocks the site's deletion but not other movers. */
		"lock site",
		"SELECT 1 FROM %s.fleet_site WHERE id = $1 FOR KEY SHARE",
		NULL, false, OWNER, STMT, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_LOCK_SITE_FOR_BUILDINGS] = {
		/*
		 * NO KEY UPDATE: moves of buildings into one site take turns, so that
		 * each checks the names the others committed (two of them writing the
		 * unique key (site_id, name) at once could wait on each other's new
		 * index entries). Fills of the site (KEY SHARE) are not blocked.
		 */
		"lock site",
		"SELECT 1 FROM %s.fleet_site WHERE id = $1 FOR NO KEY UPDATE",
		NULL, true, OWNER, STMT, SPI_OK_SELECT, 1, {INT8OID}
	},

	/* ---- level 2: buildings ---- */
	[FLEET_PLAN_READ_BUILDING] = {
		"read building",
		"SELECT site_id, aisle_count::pg_catalog.int4, racks_per_aisle::pg_catalog.int4 FROM %s.fleet_building WHERE id = $1",
		NULL, true, OWNER, STMT, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_SHARE_BUILDING] = {
		/* KEY SHARE: device fills of one building do not wait for each other. */
		"lock building",
		"SELECT site_id, aisle_count::pg_catalog.int4, racks_per_aisle::pg_catalog.int4 FROM %s.fleet_building"
		" WHERE id = $1 FOR KEY SHARE",
		NULL, true, OWNER, STMT, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_FILL_BUILDING] = {
		/* NO KEY UPDATE: rack fills take turns (capacity, positions). */
		"lock building",
		"SELECT site_id, aisle_count::pg_catalog.int4, racks_per_aisle::pg_catalog.int4 FROM %s.fleet_building"
		" WHERE id = $1 FOR NO KEY UPDATE",
		NULL, true, OWNER, STMT, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_BUILDINGS_VISIBLE] = {
		"buildings visible",
		"SELECT id FROM %s.fleet_building WHERE id = ANY ($1)",
		NULL, true, CALLER, STMT, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_LOCK_BUILDINGS] = {
		/*
		 * FOR UPDATE: moving a building changes its unique key (site_id,
		 * name).
		 */
		"lock buildings",
		"SELECT id, site_id, name FROM %s.fleet_building WHERE id = ANY ($1)"
		" ORDER BY id FOR UPDATE",
		NULL, true, OWNER, STMT, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_NAME_CLASH] = {
		"read building names",
		"SELECT name FROM %s.fleet_building WHERE site_id = $1 AND name = ANY ($2)"
		" ORDER BY name LIMIT 1",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 2, {INT8OID, TEXTARRAYOID}
	},

	/* ---- level 3: racks ---- */
	[FLEET_PLAN_READ_RACK] = {
		"read rack",
		"SELECT site_id, building_id, row_count::pg_catalog.int4, column_count::pg_catalog.int4 FROM %s.fleet_rack WHERE id = $1",
		"SELECT site_id, NULL::pg_catalog.int8, row_count::pg_catalog.int4, column_count::pg_catalog.int4"
		" FROM %s.fleet_rack WHERE id = $1",
		false, OWNER, STMT, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_LOCK_RACK] = {
		/* NO KEY UPDATE conflicts with itself: concurrent fills take turns. */
		"lock rack",
		"SELECT site_id, building_id, row_count::pg_catalog.int4, column_count::pg_catalog.int4 FROM %s.fleet_rack"
		" WHERE id = $1 FOR NO KEY UPDATE",
		"SELECT site_id, NULL::pg_catalog.int8, row_count::pg_catalog.int4, column_count::pg_catalog.int4 FROM %s.fleet_rack"
		" WHERE id = $1 FOR NO KEY UPDATE",
		false, OWNER, STMT, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_RACK_IDS_VISIBLE] = {
		/* Before any lock: which of the named racks the caller can see. */
		"racks visible",
		"SELECT id FROM %s.fleet_rack WHERE id = ANY ($1)",
		NULL, false, CALLER, STMT, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_LOCK_RACKS] = {
		"lock racks",
		"SELECT id, site_id, building_id, aisle_index::pg_catalog.int4, position_in_aisle::pg_catalog.int4 FROM %s.fleet_rack"
		" WHERE id = ANY ($1) ORDER BY id FOR NO KEY UPDATE",
		NULL, true, OWNER, STMT, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_LOCK_BUILDINGS_RACKS] = {
		/* The racks standing in these (locked) buildings. */
		"lock the buildings' racks",
		"SELECT id, site_id, building_id, aisle_index::pg_catalog.int4, position_in_aisle::pg_catalog.int4 FROM %s.fleet_rack"
		" WHERE building_id = ANY ($1) ORDER BY id FOR NO KEY UPDATE",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_BUILDING_POSITIONS] = {
		/* The racks in a (locked) building now, and their positions. */
		"read building racks",
		"SELECT id, aisle_index::pg_catalog.int4, position_in_aisle::pg_catalog.int4 FROM %s.fleet_rack WHERE building_id = $1",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_RACKS_VISIBLE] = {
		/* Which of these racks row-level security lets the caller see. */
		"racks visible",
		"SELECT id FROM %s.fleet_rack WHERE id = ANY ($1)",
		NULL, false, CALLER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},

	/* ---- level 4: devices ---- */
	[FLEET_PLAN_LOCK_DEVICES] = {
		/*
		 * LockRows sits above the sort: rows are locked in ascending id
		 * order.
		 */
		"lock devices",
		"SELECT id, identifier, site_id, building_id, ctid FROM %s.fleet_device"
		" WHERE identifier = ANY ($1) ORDER BY id FOR NO KEY UPDATE",
		"SELECT id, identifier, site_id, NULL::pg_catalog.int8, ctid FROM %s.fleet_device"
		" WHERE identifier = ANY ($1) ORDER BY id FOR NO KEY UPDATE",
		false, CALLER, STMT, SPI_OK_SELECT, 1, {TEXTARRAYOID}
	},
	[FLEET_PLAN_VISIBLE_DEVICES] = {
		/* For a caller who may not lock: which devices, and where they are. */
		"read devices",
		"SELECT id, site_id, building_id FROM %s.fleet_device WHERE identifier = ANY ($1)",
		"SELECT id, site_id, NULL::pg_catalog.int8 FROM %s.fleet_device"
		" WHERE identifier = ANY ($1)",
		false, CALLER, STMT, SPI_OK_SELECT, 1, {TEXTARRAYOID}
	},
	[FLEET_PLAN_RACK_MEMBER_IDS] = {
		/* Members of these (locked) racks: the devices a cascade will lock. */
		"read rack members",
		"SELECT device_id FROM %s.fleet_rack_membership WHERE rack_id = ANY ($1)",
		NULL, false, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_BUILDING_DEVICE_IDS] = {
		/* Devices in these (locked) buildings, or in their racks. */
		"read building devices",
		"SELECT id FROM %s.fleet_device WHERE building_id = ANY ($1)"
		" UNION SELECT m.device_id FROM %s.fleet_rack_membership m"
		" JOIN %s.fleet_rack r ON r.id = m.rack_id WHERE r.building_id = ANY ($1)",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_LOCK_MEMBERS_BY_ID] = {
		/*
		 * A cascade's devices, found under the container's lock with a
		 * current snapshot: locked with one too, so that under REPEATABLE
		 * READ a member the transaction cannot see is locked (and its write
		 * fails with 40001) rather than skipped.
		 */
		"lock devices",
		"SELECT id, identifier, site_id, building_id, ctid FROM %s.fleet_device"
		" WHERE id = ANY ($1) ORDER BY id FOR NO KEY UPDATE",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_LOCK_DEVICES_BY_ID] = {
		"lock devices",
		"SELECT id, identifier, site_id, building_id, ctid FROM %s.fleet_device"
		" WHERE id = ANY ($1) ORDER BY id FOR NO KEY UPDATE",
		"SELECT id, identifier, site_id, NULL::pg_catalog.int8, ctid FROM %s.fleet_device"
		" WHERE id = ANY ($1) ORDER BY id FOR NO KEY UPDATE",
		false, OWNER, STMT, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},

	/* ---- placement of the locked devices (read under their locks) ---- */
	[FLEET_PLAN_PLACEMENT] = {
		/*
		 * For each locked device that is racked or in a building: its rack,
		 * that rack's site and building, and its own building's site. $2
		 * holds each device's building_id as locked, in the order of $1.
		 */
		"read placement",
		"SELECT d.id, m.rack_id, r.site_id, r.building_id, b.site_id"
		" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS d (id, building_id)"
		" LEFT JOIN %s.fleet_rack_membership m ON m.device_id = d.id"
		" LEFT JOIN %s.fleet_rack r ON r.id = m.rack_id"
		" LEFT JOIN %s.fleet_building b ON b.id = d.building_id"
		" WHERE m.device_id IS NOT NULL OR d.building_id IS NOT NULL",
		"SELECT m.device_id, m.rack_id, r.site_id, NULL::pg_catalog.int8, NULL::pg_catalog.int8"
		" FROM %s.fleet_rack_membership m JOIN %s.fleet_rack r ON r.id = m.rack_id"
		" WHERE m.device_id = ANY ($1)",
		false, OWNER, LATEST, SPI_OK_SELECT, 2, {INT8ARRAYOID, INT8ARRAYOID}
	},
	[FLEET_PLAN_RACK_MEMBERS] = {
		/* Who is in the target rack now, and in which slot. */
		"read rack members",
		"SELECT m.device_id, s.row_index::pg_catalog.int4, s.column_index::pg_catalog.int4"
		" FROM %s.fleet_rack_membership m LEFT JOIN %s.fleet_rack_slot s"
		" ON s.rack_id = m.rack_id AND s.device_id = m.device_id"
		" WHERE m.rack_id = $1",
		NULL, false, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8OID}
	},

	/* ---- writes (after every lock) ---- */
	[FLEET_PLAN_CLEAR_MEMBERSHIPS] = {
		"clear memberships",
		"DELETE FROM %s.fleet_rack_membership WHERE device_id = ANY ($1)",
		NULL, false, CALLER, LATEST, SPI_OK_DELETE, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_REMAINING_MEMBERSHIP] = {
		/*
		 * A membership the caller's delete did not reach (row-level
		 * security).
		 */
		"read remaining memberships",
		"SELECT device_id FROM %s.fleet_rack_membership"
		" WHERE device_id = ANY ($1) ORDER BY device_id LIMIT 1",
		NULL, false, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_SET_DEVICES] = {
		/*
		 * By the tuple ids the lock returned: a TID scan, no second index
		 * lookup. Each tuple id comes with its device id ($6), so that a
		 * tuple id gone stale (a user trigger fired by our own writes updated
		 * the row, or the owner rewrote the table) matches nothing rather
		 * than another device. The site is set to $2 when $5, the building to
		 * $3 when $4; otherwise each is kept.
		 */
		"update devices",
		"UPDATE %s.fleet_device d SET"
		" site_id = CASE WHEN $5 THEN $2 ELSE d.site_id END,"
		" building_id = CASE WHEN $4 THEN $3 ELSE d.building_id END,"
		" updated_at = pg_catalog.now()"
		" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($6)) AS v (tid, id)"
		" WHERE d.ctid = v.tid AND d.id = v.id",
		"UPDATE %s.fleet_device d SET site_id = $2, updated_at = pg_catalog.now()"
		" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($6)) AS v (tid, id)"
		" WHERE d.ctid = v.tid AND d.id = v.id",
		false, CALLER, LATEST, SPI_OK_UPDATE, 6,
		{TIDARRAYOID, INT8OID, INT8OID, BOOLOID, BOOLOID, INT8ARRAYOID}
	},
	[FLEET_PLAN_SET_DEVICES_BY_ID] = {
		/*
		 * The same by id, for rows whose version changed since the lock (a
		 * user trigger fired by our own writes updated them); rows already
		 * set are left alone.
		 */
		"update devices",
		"UPDATE %s.fleet_device SET"
		" site_id = CASE WHEN $5 THEN $2 ELSE site_id END,"
		" building_id = CASE WHEN $4 THEN $3 ELSE building_id END,"
		" updated_at = pg_catalog.now() WHERE id = ANY ($1)"
		" AND (($5 AND site_id IS DISTINCT FROM $2) OR ($4 AND building_id IS DISTINCT FROM $3))",
		"UPDATE %s.fleet_device SET site_id = $2, updated_at = pg_catalog.now()"
		" WHERE id = ANY ($1) AND site_id IS DISTINCT FROM $2",
		false, CALLER, LATEST, SPI_OK_UPDATE, 5,
		{INT8ARRAYOID, INT8OID, INT8OID, BOOLOID, BOOLOID}
	},
	[FLEET_PLAN_DEVICE_UNWRITTEN] = {
		/* After the writes: a device still not where it should be. */
		"check devices",
		"SELECT id FROM %s.fleet_device WHERE id = ANY ($1)"
		" AND (($5 AND site_id IS DISTINCT FROM $2) OR ($4 AND building_id IS DISTINCT FROM $3))"
		" LIMIT 1",
		"SELECT id FROM %s.fleet_device WHERE id = ANY ($1) AND site_id IS DISTINCT FROM $2"
		" LIMIT 1",
		false, OWNER, LATEST, SPI_OK_SELECT, 5,
		{INT8ARRAYOID, INT8OID, INT8OID, BOOLOID, BOOLOID}
	},
	[FLEET_PLAN_SET_RACKS] = {
		/*
		 * The site set to $3 when $2; the building to $5 and the positions to
		 * the arrays' when $4; otherwise kept. The position key is
		 * deferrable: racks of one batch may swap positions in this one
		 * statement.
		 */
		"update racks",
		"UPDATE %s.fleet_rack r SET"
		" site_id = CASE WHEN $2 THEN $3 ELSE r.site_id END,"
		" building_id = CASE WHEN $4 THEN $5 ELSE r.building_id END,"
		" aisle_index = CASE WHEN $4 THEN v.aisle_index ELSE r.aisle_index END,"
		" position_in_aisle = CASE WHEN $4 THEN v.position_in_aisle ELSE r.position_in_aisle END"
		" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($6), pg_catalog.unnest($7))"
		" AS v (id, aisle_index, position_in_aisle)"
		" WHERE r.id = v.id",
		NULL, true, CALLER, LATEST, SPI_OK_UPDATE, 7,
		{INT8ARRAYOID, BOOLOID, INT8OID, BOOLOID, INT8OID, INT4ARRAYOID, INT4ARRAYOID}
	},
	[FLEET_PLAN_SET_BUILDINGS_SITE] = {
		"update buildings",
		"UPDATE %s.fleet_building SET site_id = $2 WHERE id = ANY ($1)",
		NULL, true, CALLER, LATEST, SPI_OK_UPDATE, 2, {INT8ARRAYOID, INT8OID}
	},
	[FLEET_PLAN_JOIN_RACK] = {
		"insert memberships",
		"INSERT INTO %s.fleet_rack_membership (rack_id, device_id)"
		" SELECT $1, device_id FROM pg_catalog.unnest($2) AS device_id",
		NULL, false, CALLER, LATEST, SPI_OK_INSERT, 2, {INT8OID, INT8ARRAYOID}
	},
	[FLEET_PLAN_CLEAR_SLOTS] = {
		"clear slots",
		"DELETE FROM %s.fleet_rack_slot WHERE rack_id = $1 AND device_id = ANY ($2)",
		NULL, false, CALLER, LATEST, SPI_OK_DELETE, 2, {INT8OID, INT8ARRAYOID}
	},
	[FLEET_PLAN_SET_SLOTS] = {
		"insert slots",
		"INSERT INTO %s.fleet_rack_slot (rack_id, device_id, row_index, column_index)"
		" SELECT $1, s.device_id, s.row_index, s.column_index"
		" FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4))"
		" AS s (device_id, row_index, column_index)",
		NULL, false, CALLER, LATEST, SPI_OK_INSERT, 4,
		{INT8OID, INT8ARRAYOID, INT4ARRAYOID, INT4ARRAYOID}
	},
	[FLEET_PLAN_SLOT_MEMBERS_SEEN] = {
		/*
		 * Under REPEATABLE READ and SERIALIZABLE: how many of the memberships
		 * a slot insert references the transaction snapshot sees. The slot's
		 * foreign-key check reads with that snapshot, so a membership that
		 * committed after it would fail that check (23503) rather than the
		 * serialization failure it is. The owner's authority: row-level
		 * security plays no part in a foreign-key check either.
		 */
		"read memberships",
		"SELECT pg_catalog.count(*) FROM %s.fleet_rack_membership"
		" WHERE rack_id = $1 AND device_id = ANY ($2)",
		NULL, true, OWNER, STMT, SPI_OK_SELECT, 2, {INT8OID, INT8ARRAYOID}
	},

	/*
	 * ---- deleting a site or a building (delete_triggers.c) ----
	 *
	 * The deleted row is locked by the DELETE itself; then its contents,
	 * level by level, ascending, and only then the writes. The writes are the
	 * foreign keys' ON DELETE SET NULL done in the lock order; the cascades
	 * then find nothing left to do. On the owner's authority, as the cascades
	 * themselves run.
	 */
	[FLEET_PLAN_LOCK_SITE_BUILDINGS] = {
		/* FOR UPDATE: a building's site_id is part of its unique key. */
		"lock the site's buildings",
		"SELECT 1 FROM %s.fleet_building WHERE site_id = $1 ORDER BY id FOR UPDATE",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_LOCK_SITE_RACKS] = {
		"lock the site's racks",
		"SELECT 1 FROM %s.fleet_rack WHERE site_id = $1 ORDER BY id FOR NO KEY UPDATE",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_LOCK_SITE_DEVICES] = {
		"lock the site's devices",
		"SELECT 1 FROM %s.fleet_device WHERE site_id = $1 ORDER BY id FOR NO KEY UPDATE",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_UNSITE_BUILDINGS] = {
		"release the site's buildings",
		"UPDATE %s.fleet_building SET site_id = NULL WHERE site_id = $1",
		NULL, true, OWNER, LATEST, SPI_OK_UPDATE, 1, {INT8OID}
	},
	[FLEET_PLAN_UNSITE_RACKS] = {
		"release the site's racks",
		"UPDATE %s.fleet_rack SET site_id = NULL WHERE site_id = $1",
		NULL, true, OWNER, LATEST, SPI_OK_UPDATE, 1, {INT8OID}
	},
	[FLEET_PLAN_UNSITE_DEVICES] = {
		"release the site's devices",
		"UPDATE %s.fleet_device SET site_id = NULL WHERE site_id = $1",
		NULL, true, OWNER, LATEST, SPI_OK_UPDATE, 1, {INT8OID}
	},
	[FLEET_PLAN_LOCK_BUILDING_RACKS] = {
		"lock the building's racks",
		"SELECT 1 FROM %s.fleet_rack WHERE building_id = $1 ORDER BY id FOR NO KEY UPDATE",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_LOCK_BUILDING_DEVICES] = {
		"lock the building's devices",
		"SELECT 1 FROM %s.fleet_device WHERE building_id = $1 ORDER BY id FOR NO KEY UPDATE",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_UNBUILD_RACKS] = {
		/* Out of the building: no building, no position; site kept. */
		"release the building's racks",
		"UPDATE %s.fleet_rack SET building_id = NULL, aisle_index = NULL,"
		" position_in_aisle = NULL WHERE building_id = $1",
		NULL, true, OWNER, LATEST, SPI_OK_UPDATE, 1, {INT8OID}
	},
	[FLEET_PLAN_UNBUILD_DEVICES] = {
		"release the building's devices",
		"UPDATE %s.fleet_device SET building_id = NULL WHERE building_id = $1",
		NULL, true, OWNER, LATEST, SPI_OK_UPDATE, 1, {INT8OID}
	},

	/*
	 * ---- the guards of direct writes (guards.c) ----
	 *
	 * The locks a guard takes itself never wait (SKIP LOCKED): the row the
	 * statement wrote is already locked, so a parent locked now would be out
	 * of order; a row another transaction holds makes the write fail with
	 * 40001 instead of waiting. The checks read everything that committed
	 * (current snapshot) on the owner's authority: the invariant is about all
	 * rows, whatever row-level security lets the writer see.
	 */
	[FLEET_PLAN_GUARD_LOCK_RACKS] = {
		"lock racks",
		"SELECT id FROM %s.fleet_rack WHERE id = ANY ($1) ORDER BY id"
		" FOR NO KEY UPDATE SKIP LOCKED",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_GUARD_SHARE_RACKS] = {
		"lock racks",
		"SELECT id FROM %s.fleet_rack WHERE id = ANY ($1) ORDER BY id FOR SHARE SKIP LOCKED",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_GUARD_LOCK_DEVICES] = {
		"lock devices",
		"SELECT id FROM %s.fleet_device WHERE id = ANY ($1) ORDER BY id"
		" FOR NO KEY UPDATE SKIP LOCKED",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_GUARD_LOCK_BUILDINGS] = {
		"lock buildings",
		"SELECT id FROM %s.fleet_building WHERE id = ANY ($1) ORDER BY id"
		" FOR NO KEY UPDATE SKIP LOCKED",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_GUARD_RACK_EXISTS] = {
		"read rack",
		"SELECT 1 FROM %s.fleet_rack WHERE id = $1",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_GUARD_SHARE_SITE] = {
		/* The site a row is about to reference, before its FK check. */
		"lock site",
		"SELECT 1 FROM %s.fleet_site WHERE id = $1 FOR KEY SHARE SKIP LOCKED",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_GUARD_SITE_EXISTS] = {
		"read site",
		"SELECT 1 FROM %s.fleet_site WHERE id = $1",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_GUARD_SHARE_BUILDING] = {
		/* The building a row is about to reference, before its FK check. */
		"lock building",
		"SELECT 1 FROM %s.fleet_building WHERE id = $1 FOR KEY SHARE SKIP LOCKED",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_GUARD_BUILDING_EXISTS] = {
		"read building",
		"SELECT 1 FROM %s.fleet_building WHERE id = $1",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8OID}
	},
	[FLEET_PLAN_GUARD_DEVICES] = {
		/* Rules 1, 2 and 4 for these devices: the first one broken. */
		"check devices",
		"SELECT d.id, d.identifier, d.site_id, m.rack_id,"
		" CASE WHEN m.rack_id IS NOT NULL AND r.site_id IS DISTINCT FROM d.site_id THEN 1"
		" WHEN m.rack_id IS NOT NULL AND r.building_id IS DISTINCT FROM d.building_id THEN 2"
		" ELSE 4 END AS rule, d.building_id"
		" FROM %s.fleet_device d"
		" LEFT JOIN %s.fleet_rack_membership m ON m.device_id = d.id"
		" LEFT JOIN %s.fleet_rack r ON r.id = m.rack_id"
		" LEFT JOIN %s.fleet_building b ON b.id = d.building_id"
		" WHERE d.id = ANY ($1)"
		" AND ((m.rack_id IS NOT NULL AND (r.site_id IS DISTINCT FROM d.site_id"
		" OR r.building_id IS DISTINCT FROM d.building_id))"
		" OR (d.building_id IS NOT NULL AND b.site_id IS DISTINCT FROM d.site_id))"
		" ORDER BY d.id LIMIT 1",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_GUARD_RACKS] = {
		/*
		 * Rules 1, 2, 3 and 5 for these racks: the first one broken, as (rack
		 * id, rule code, a number, another number).
		 */
		"check racks",
		"SELECT * FROM ("
		" SELECT r.id, 'building site' AS code, b.id AS n1, NULL::pg_catalog.int8 AS n2"
		" FROM %s.fleet_rack r JOIN %s.fleet_building b ON b.id = r.building_id"
		" WHERE r.id = ANY ($1) AND r.site_id IS DISTINCT FROM b.site_id"
		" UNION ALL"
		" SELECT r.id, 'member site', d.id, NULL"
		" FROM %s.fleet_rack r JOIN %s.fleet_rack_membership m ON m.rack_id = r.id"
		" JOIN %s.fleet_device d ON d.id = m.device_id"
		" WHERE r.id = ANY ($1) AND (d.site_id IS DISTINCT FROM r.site_id"
		" OR d.building_id IS DISTINCT FROM r.building_id)"
		" UNION ALL"
		" SELECT r.id, 'no layout', r.building_id, NULL"
		" FROM %s.fleet_rack r LEFT JOIN %s.fleet_building b ON b.id = r.building_id"
		" WHERE r.id = ANY ($1) AND r.aisle_index IS NOT NULL AND b.aisle_count IS NULL"
		" UNION ALL"
		" SELECT r.id, 'outside layout', r.building_id, NULL"
		" FROM %s.fleet_rack r JOIN %s.fleet_building b ON b.id = r.building_id"
		" WHERE r.id = ANY ($1) AND (r.aisle_index >= b.aisle_count"
		" OR r.position_in_aisle >= b.racks_per_aisle)"
		" UNION ALL"
		" SELECT r.id, 'full', r.row_count * r.column_count, pg_catalog.count(*)"
		" FROM %s.fleet_rack r JOIN %s.fleet_rack_membership m ON m.rack_id = r.id"
		" WHERE r.id = ANY ($1)"
		" GROUP BY r.id, r.row_count, r.column_count"
		" HAVING pg_catalog.count(*) > r.row_count * r.column_count"
		" UNION ALL"
		" SELECT r.id, 'slot outside', s.device_id, NULL"
		" FROM %s.fleet_rack r JOIN %s.fleet_rack_slot s ON s.rack_id = r.id"
		" WHERE r.id = ANY ($1) AND (s.row_index >= r.row_count OR s.column_index >= r.column_count)"
		" UNION ALL"
		" SELECT b.id, 'building full', b.aisle_count * b.racks_per_aisle, pg_catalog.count(*)"
		" FROM %s.fleet_building b JOIN %s.fleet_rack r ON r.building_id = b.id"
		" WHERE b.id = ANY ($2) AND b.aisle_count IS NOT NULL"
		" GROUP BY b.id, b.aisle_count, b.racks_per_aisle"
		" HAVING pg_catalog.count(*) > b.aisle_count * b.racks_per_aisle"
		") AS broken ORDER BY 1, 2 LIMIT 1",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 2, {INT8ARRAYOID, INT8ARRAYOID}
	},
	[FLEET_PLAN_GUARD_RACK_FULL] = {
		/* Rule 5, capacity only: the first of these racks over it. */
		"check rack capacity",
		"SELECT r.id, (r.row_count * r.column_count)::pg_catalog.int8 FROM %s.fleet_rack r"
		" JOIN %s.fleet_rack_membership m ON m.rack_id = r.id WHERE r.id = ANY ($1)"
		" GROUP BY r.id, r.row_count, r.column_count"
		" HAVING pg_catalog.count(*) > r.row_count * r.column_count ORDER BY r.id LIMIT 1",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_GUARD_SLOTS] = {
		/* Rule 5 for these slots: inside their rack. */
		"check slots",
		"SELECT s.rack_id, d.identifier, s.row_index::pg_catalog.int4, s.column_index::pg_catalog.int4,"
		" s.device_id"
		" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS v (rack_id, device_id)"
		" JOIN %s.fleet_rack_slot s ON s.rack_id = v.rack_id AND s.device_id = v.device_id"
		" JOIN %s.fleet_rack r ON r.id = s.rack_id"
		" JOIN %s.fleet_device d ON d.id = s.device_id"
		" WHERE s.row_index >= r.row_count OR s.column_index >= r.column_count"
		" ORDER BY 1, 2 LIMIT 1",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 2, {INT8ARRAYOID, INT8ARRAYOID}
	},
	[FLEET_PLAN_GUARD_BUILDINGS] = {
		/* Rules 3, 4 and 5 for these buildings: the first one broken. */
		"check buildings",
		"SELECT * FROM ("
		" SELECT b.id, 'rack site' AS code, r.id AS n1, NULL::pg_catalog.int8 AS n2"
		" FROM %s.fleet_building b JOIN %s.fleet_rack r ON r.building_id = b.id"
		" WHERE b.id = ANY ($1) AND r.site_id IS DISTINCT FROM b.site_id"
		" UNION ALL"
		" SELECT b.id, 'device site', d.id, NULL"
		" FROM %s.fleet_building b JOIN %s.fleet_device d ON d.building_id = b.id"
		" WHERE b.id = ANY ($1) AND d.site_id IS DISTINCT FROM b.site_id"
		" UNION ALL"
		" SELECT b.id, 'no layout', r.id, NULL"
		" FROM %s.fleet_building b JOIN %s.fleet_rack r ON r.building_id = b.id"
		" WHERE b.id = ANY ($1) AND b.aisle_count IS NULL AND r.aisle_index IS NOT NULL"
		" UNION ALL"
		" SELECT b.id, 'outside layout', r.id, NULL"
		" FROM %s.fleet_building b JOIN %s.fleet_rack r ON r.building_id = b.id"
		" WHERE b.id = ANY ($1) AND (r.aisle_index >= b.aisle_count"
		" OR r.position_in_aisle >= b.racks_per_aisle)"
		" UNION ALL"
		" SELECT b.id, 'building full', b.aisle_count * b.racks_per_aisle, pg_catalog.count(*)"
		" FROM %s.fleet_building b JOIN %s.fleet_rack r ON r.building_id = b.id"
		" WHERE b.id = ANY ($1) AND b.aisle_count IS NOT NULL"
		" GROUP BY b.id, b.aisle_count, b.racks_per_aisle"
		" HAVING pg_catalog.count(*) > b.aisle_count * b.racks_per_aisle"
		") AS broken ORDER BY 1, 2 LIMIT 1",
		NULL, true, OWNER, LATEST, SPI_OK_SELECT, 1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_GUARD_DEVICE_SEEN] = {
		/*
		 * For naming a device in a refusal: its identifier if the writer may
		 * see it (the caller's authority, so row-level security applies).
		 */
		"read device",
		"SELECT identifier FROM %s.fleet_device WHERE id = $1",
		NULL, true, CALLER, STMT, SPI_OK_SELECT, 1, {INT8OID}
	},

	[FLEET_PLAN_INSERT_ACTIVITY] = {
		"insert activity",
		"INSERT INTO %s.fleet_activity"
		" (occurred_at, actor, event_type, site_id, description, metadata)"
		" VALUES (pg_catalog.now(), $1, $2, $3, $4, $5::pg_catalog.jsonb) RETURNING id",
		NULL, false, OWNER, LATEST, SPI_OK_INSERT_RETURNING, 5,
		{TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID}
	},

	/*
	 * ---- saved row-level security (saved_security.c) ----
	 *
	 * fleet_saved_security is read and written on the owner's authority by
	 * the automatic paths (the event triggers, the load trigger, the move
	 * functions' check); the manual functions first check that the caller
	 * could write it. The event trigger's command lists come from
	 * pg_catalog's functions and touch no relation.
	 */
	[FLEET_PLAN_SEC_READ_SAVED] = {
		"read saved security",
		"SELECT rls_enabled, rls_forced, policies, install_id FROM %s.fleet_saved_security"
		" WHERE table_name = $1::pg_catalog.name",
		NULL, true, OWNER, STMT, SPI_OK_SELECT, 1, {TEXTOID}
	},
	[FLEET_PLAN_SEC_FOREIGN] = {
		/* Saved rows another installation wrote: restored, maybe not applied. */
		"read restored security",
		"SELECT table_name::pg_catalog.text, rls_enabled, rls_forced, policies"
		" FROM %s.fleet_saved_security WHERE install_id <> $1 ORDER BY table_name",
		NULL, true, OWNER, STMT, SPI_OK_SELECT, 1, {TEXTOID}
	},
	[FLEET_PLAN_SEC_SAVE] = {
		"save security",
		"INSERT INTO %s.fleet_saved_security AS s"
		" (table_name, rls_enabled, rls_forced, policies, install_id, saved_at, saved_by)"
		" VALUES ($1::pg_catalog.name, $2, $3, $4, $5, pg_catalog.now(), $6::pg_catalog.name)"
		" ON CONFLICT (table_name) DO UPDATE SET rls_enabled = excluded.rls_enabled,"
		" rls_forced = excluded.rls_forced, policies = excluded.policies,"
		" install_id = excluded.install_id, saved_at = excluded.saved_at,"
		" saved_by = excluded.saved_by",
		NULL, true, OWNER, STMT, SPI_OK_INSERT, 6,
		{TEXTOID, BOOLOID, BOOLOID, JSONBOID, TEXTOID, TEXTOID}
	},
	[FLEET_PLAN_SEC_CLEAR] = {
		"clear saved security",
		"DELETE FROM %s.fleet_saved_security WHERE table_name = $1::pg_catalog.name",
		NULL, true, OWNER, STMT, SPI_OK_DELETE, 1, {TEXTOID}
	},
	[FLEET_PLAN_SEC_DDL_COMMANDS] = {
		/*
		 * In a ddl_command_end event trigger: what the command created or
		 * altered.
		 */
		"read ddl commands",
		"SELECT classid, objid FROM pg_catalog.pg_event_trigger_ddl_commands()"
		" WHERE NOT in_extension",
		NULL, true, CALLER, STMT, SPI_OK_SELECT, 0, {InvalidOid}
	},
	[FLEET_PLAN_SEC_DROPPED_POLICIES] = {
		/*
		 * In a sql_drop event trigger: the dropped policies' schema and table
		 * names.
		 */
		"read dropped policies",
		"SELECT address_names[1], address_names[2]"
		" FROM pg_catalog.pg_event_trigger_dropped_objects() WHERE object_type = 'policy'",
		NULL, true, CALLER, STMT, SPI_OK_SELECT, 0, {InvalidOid}
	},
};

const FleetPlanSpec *
fleet_plan_spec(FleetPlanId id)
{
	Assert(id >= 0 && id < FLEET_PLAN_COUNT);
	return &plan_specs[id];
}
