/*
 * locks.c: the one lock order every function follows.
 *
 *   1. site rows, ascending id
 *   2. building rows, ascending id
 *   3. rack rows, ascending id
 *   4. device rows, ascending id
 *   5. then the writes: memberships (and with them slots), devices, racks,
 *      buildings, activity
 *
 * Parents (sites, buildings, racks) are locked on the extension's authority,
 * devices with the caller's rights (or, for a caller who may not lock them,
 * on the extension's authority for exactly the rows the caller's rights
 * chose).
 *
 * Each function takes only the levels it needs, always top-down, so two
 * calls can wait for each other but never in a cycle: no deadlock, whatever
 * their batches overlap. Site and building deletion follow the same order
 * (delete_triggers.c).
 *
 * Which parents a function locks: every row its writes' foreign-key checks
 * will visit. A device UPDATE that sets site_id or building_id makes
 * PostgreSQL take KEY SHARE on that site or building at the end of the
 * statement; a delete of that parent, already holding the parent and
 * waiting for our rack or devices, would then wait for us while we wait for
 * it. Locking the parent first, at its level, turns that cycle into a queue.
 *
 * Why these strengths. The rule: moving a container conflicts with filling
 * it, and fills of one container do not wait for each other unless it has a
 * capacity to count.
 * - Sites never move. A move into a site locks it KEY SHARE, which blocks
 *   its deletion (and a key change) but not other movers: moves of disjoint
 *   devices into one site run side by side.
 * - Buildings. A move of devices into a building, or into one of its racks,
 *   locks it KEY SHARE, like a site: fills do not wait for each other. A
 *   move of racks into a building locks it NO KEY UPDATE: those fills take
 *   turns, because the building's rack grid has a capacity and positions
 *   counted under the lock. Moving a building to another site changes its
 *   unique key (site_id, name), so it locks FOR UPDATE (as does its
 *   deletion), which conflicts with both kinds of fill.
 * - Racks. A rack is the mutex for its contents and its placement: fills
 *   (devices into it) and moves (it to a site or building) both lock it NO
 *   KEY UPDATE, which conflicts with itself, so a rack's capacity is counted
 *   under the lock and a rack cannot move while it is being filled. Its
 *   building_id is not a key column (the position key is deferrable), so a
 *   move needs no more, and the KEY SHARE of a membership insert's
 *   foreign-key check is never blocked.
 * - Devices. A device row lock is the mutex for the device's placement (its
 *   site, its building, its membership). NO KEY UPDATE conflicts with itself
 *   but not with the KEY SHARE that a foreign-key check from a membership
 *   insert takes on the device row; FOR UPDATE would, and deadlocks against
 *   such inserts.
 * - Rows are locked in ascending id by a locking clause above an ORDER BY,
 *   never by the UPDATE itself, which would lock in plan (often input)
 *   order.
 *
 * A parent is read before it is locked (to know which site to lock for a
 * rack, say) and read again under the lock. If it moved in between, the call
 * fails with 40001 rather than lock out of order, and the caller retries.
 *
 * After the locks, what a call reads includes everything committed before
 * they were granted, at every isolation level: see execute.c. Everything is
 * scoped to the ids the lock returned, never to the raw input: a row that
 * vanished, or that row-level security hides, is simply not among them.
 *
 * A target the caller cannot see (row-level security) is reported exactly
 * as a missing one, 23503, and is never locked: visibility is checked with
 * the caller's rights before the owner's lock.
 */
#include "fleet_sites.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

static void read_device_rows(FleetLockedDevices *locked);

static void
report_missing(const char *what, int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("%s %lld does not exist", what, (long long) id)));
}

static void
report_moved(const char *what, int64 id, const char *parent)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("%s %lld changed %s while the call was locking it", what, (long long) id,
					parent),
			 errhint("Retry the transaction.")));
}

/* 23503 for a target row-level security hides from the caller; nothing locked. */
void
fleet_check_target_visible(FleetRelation rel, int64 id, const char *what)
{
	FleetPlanId plan;
	Datum		values[1];

	if (!fleet_rls_hides_rows(rel))
		return;
	switch (rel)
	{
		case FLEET_REL_SITE:
			plan = FLEET_PLAN_SITE_VISIBLE;
			break;
		case FLEET_REL_BUILDING:
			plan = FLEET_PLAN_BUILDING_VISIBLE;
			break;
		case FLEET_REL_RACK:
			plan = FLEET_PLAN_RACK_VISIBLE;
			break;
		default:
			elog(ERROR, "no visibility statement for relation %d", (int) rel);
			return;
	}
	values[0] = Int64GetDatum(id);
	if (fleet_run(plan, values, NULL, 1) == 0)
		report_missing(what, id);
	SPI_freetuptable(SPI_tuptable);
}

/* Lock a site row (level 1); false if it does not exist. */
static bool
try_lock_site(int64 site_id)
{
	Datum		values[1];
	bool		found;

	values[0] = Int64GetDatum(site_id);
	found = fleet_run(FLEET_PLAN_LOCK_SITE, values, NULL, 1) > 0;
	SPI_freetuptable(SPI_tuptable);
	return found;
}

void
fleet_lock_site(int64 site_id)
{
	if (!try_lock_site(site_id))
		report_missing("site", site_id);
}

/* Read a building (site, layout) through one of the building statements. */
static bool
read_building(FleetPlanId plan, int64 building_id, FleetLockedBuilding *building)
{
	Datum		values[1];
	bool		found;

	values[0] = Int64GetDatum(building_id);
	found = fleet_run(plan, values, NULL, 1) > 0;
	if (found)
	{
		bool		isnull;

		building->building_id = building_id;
		building->site = fleet_get_ref(0, 1);
		building->aisle_count = fleet_get_int32(0, 2, &isnull);
		building->has_layout = !isnull;
		building->racks_per_aisle = fleet_get_int32(0, 3, &isnull);
	}
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/*
 * Lock a building (level 2) after its site (level 1), through the given
 * locking statement; false if it is missing. Its site is read first,
 * unlocked, to know which site to lock, and again under the building lock.
 */
static bool
try_lock_building(FleetPlanId lock_plan, int64 building_id, FleetLockedBuilding *building)
{
	FleetLockedBuilding seen;
	bool		seen_locked = true;

	if (!read_building(FLEET_PLAN_READ_BUILDING, building_id, &seen))
		return false;
	if (seen.site.is_set)
		seen_locked = try_lock_site(seen.site.id);
	if (!read_building(lock_plan, building_id, building))
		return false;

	/*
	 * Now at no site (its site was just deleted): nothing to lock. Now at a
	 * site we did not lock: retry.
	 */
	if (building->site.is_set && (!seen_locked || !fleet_ref_eq(building->site, seen.site)))
		report_moved("building", building_id, "site");
	return true;
}

/* For a move of devices into it: KEY SHARE. */
void
fleet_lock_building(int64 building_id, FleetLockedBuilding *building)
{
	if (!try_lock_building(FLEET_PLAN_SHARE_BUILDING, building_id, building))
		report_missing("building", building_id);
}

/* For a move of racks into it: NO KEY UPDATE, fills take turns. */
void
fleet_lock_building_for_racks(int64 building_id, FleetLockedBuilding *building)
{
	if (!try_lock_building(FLEET_PLAN_FILL_BUILDING, building_id, building))
		report_missing("building", building_id);
}

/* Read the target rack through one of the two rack statements. */
static void
read_rack(FleetPlanId plan, int64 rack_id, FleetLockedRack *rack)
{
	Datum		values[1];
	bool		isnull;

	values[0] = Int64GetDatum(rack_id);
	if (fleet_run(plan, values, NULL, 1) == 0)
		report_missing("rack", rack_id);
	rack->rack_id = rack_id;
	rack->site = fleet_get_ref(0, 1);
	rack->building = fleet_get_ref(0, 2);
	rack->row_count = fleet_get_int32(0, 3, &isnull);
	rack->column_count = fleet_get_int32(0, 4, &isnull);
	SPI_freetuptable(SPI_tuptable);
}

/* The target rack as it is now, unlocked (to decide things before waiting). */
void
fleet_peek_rack(int64 rack_id, FleetLockedRack *rack)
{
	read_rack(FLEET_PLAN_READ_RACK, rack_id, rack);
}

/*
 * Lock the target rack: its site (level 1), its building (level 2), then the
 * rack (level 3), re-checking under the rack lock that neither changed.
 */
void
fleet_lock_rack(int64 rack_id, FleetLockedRack *rack)
{
	FleetLockedRack seen;
	bool		site_locked = true;
	bool		building_locked = true;
	FleetLockedBuilding building;

	read_rack(FLEET_PLAN_READ_RACK, rack_id, &seen);
	if (seen.site.is_set)
		site_locked = try_lock_site(seen.site.id);
	if (seen.building.is_set)
		building_locked = read_building(FLEET_PLAN_SHARE_BUILDING, seen.building.id,
										&building);

	read_rack(FLEET_PLAN_LOCK_RACK, rack_id, rack);

	/* A parent that went NULL (deleted) needs no lock; a new one does. */
	if (rack->site.is_set && (!site_locked || !fleet_ref_eq(rack->site, seen.site)))
		report_moved("rack", rack_id, "site");
	if (rack->building.is_set &&
		(!building_locked || !fleet_ref_eq(rack->building, seen.building)))
		report_moved("rack", rack_id, "building");
}

/*
 * 23503 naming the smallest of the named ids the caller cannot see (row-level
 * security) or that does not exist; checked before any lock.
 */
void
fleet_check_ids_visible(FleetPlanId plan, const FleetIdSet *set, const char *what)
{
	Datum		values[1];
	uint64		n;
	uint64		row;
	bool	   *seen = palloc0(sizeof(bool) * (set->count + 1));
	int			i;

	values[0] = set->sorted_array;
	n = fleet_run(plan, values, NULL, 0);
	for (row = 0; row < n; row++)
	{
		bool		isnull;
		int			position = fleet_id_set_position(set, fleet_get_int64(row, 1, &isnull));

		if (position >= 0)
			seen[position] = true;
	}
	SPI_freetuptable(SPI_tuptable);
	for (i = 0; i < set->count; i++)
		if (!seen[i])
			report_missing(what, set->sorted[i]);
	pfree(seen);
}

/*
 * Lock racks (level 3), ascending: the named ones (key is their bigint[],
 * named the set, so that one deleted since it was seen is 23503), or the ones
 * standing in some locked buildings (named NULL).
 */
FleetLockedRacks *
fleet_lock_racks(FleetPlanId plan, Datum key, const FleetIdSet *named)
{
	Datum		values[1];
	uint64		n;
	uint64		i;
	FleetLockedRacks *racks = palloc(sizeof(FleetLockedRacks));

	values[0] = key;
	n = fleet_run(plan, values, NULL, 0);
	racks->count = (int) n;
	racks->ids = palloc(sizeof(int64) * (n + 1));
	racks->sites = palloc(sizeof(FleetRef) * (n + 1));
	racks->buildings = palloc(sizeof(FleetRef) * (n + 1));
	racks->has_position = palloc(sizeof(bool) * (n + 1));
	racks->aisle_index = palloc(sizeof(int32) * (n + 1));
	racks->position_in_aisle = palloc(sizeof(int32) * (n + 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		racks->ids[i] = fleet_get_int64(i, 1, &isnull);
		racks->sites[i] = fleet_get_ref(i, 2);
		racks->buildings[i] = fleet_get_ref(i, 3);
		racks->aisle_index[i] = fleet_get_int32(i, 4, &isnull);
		racks->has_position[i] = !isnull;
		racks->position_in_aisle[i] = fleet_get_int32(i, 5, &isnull);
	}
	SPI_freetuptable(SPI_tuptable);

	if (named != NULL && racks->count < named->count)
	{
		int			j = 0;

		/* The first named id that the lock did not return is gone. */
		for (i = 0; i < (uint64) named->count; i++)
		{
			if (j < racks->count && racks->ids[j] == named->sorted[i])
				j++;
			else
				report_missing("rack", named->sorted[i]);
		}
	}
	return racks;
}

/*
 * The devices of a cascade (level 4): found by the candidates statement
 * under the containers' locks, then locked ascending. Which of them still
 * belong to the containers once locked is for the caller to read
 * (fleet_read_placement): one may have left meanwhile.
 */
FleetLockedDevices *
fleet_lock_members(FleetPlanId candidates, Datum key)
{
	Datum		values[1];
	uint64		n;
	uint64		i;
	int64	   *ids;
	FleetLockedDevices *locked = palloc(sizeof(FleetLockedDevices));

	values[0] = key;
	n = fleet_run(candidates, values, NULL, 0);
	ids = palloc(sizeof(int64) * (n + 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		ids[i] = fleet_get_int64(i, 1, &isnull);
	}
	SPI_freetuptable(SPI_tuptable);

	values[0] = fleet_int64_array(ids, (int) n);
	fleet_run(FLEET_PLAN_LOCK_MEMBERS_BY_ID, values, NULL, 0);
	read_device_rows(locked);
	return locked;
}

/* Store the rows of a device statement (id, identifier?, site, building, ctid?). */
static void
read_device_rows(FleetLockedDevices *locked)
{
	uint64		n = SPI_processed;
	uint64		i;

	locked->count = (int) n;
	locked->ids = palloc(sizeof(int64) * (n + 1));
	locked->identifiers = palloc(sizeof(char *) * (n + 1));
	locked->sites = palloc(sizeof(FleetRef) * (n + 1));
	locked->buildings = palloc(sizeof(FleetRef) * (n + 1));
	locked->tids = palloc(sizeof(ItemPointerData) * (n + 1));

	for (i = 0; i < n; i++)
	{
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		locked->ids[i] = fleet_get_int64(i, 1, &isnull);
		locked->identifiers[i] =
			TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											  2, &isnull));
		locked->sites[i] = fleet_get_ref(i, 3);
		locked->buildings[i] = fleet_get_ref(i, 4);
		ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i],
																	SPI_tuptable->tupdesc,
																	5, &isnull)),
						&locked->tids[i]);
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * The named devices a caller can see, read without locking: for a caller who
 * may not lock device rows (a rack-only caller of the rack move), whose
 * rights must still choose the rows, and whose missing UPDATE right can be
 * reported before waiting on anybody's lock.
 */
FleetSeenDevices *
fleet_read_devices(const FleetIdList *ids)
{
	Datum		values[1];
	uint64		n;
	uint64		i;
	FleetSeenDevices *seen = palloc(sizeof(FleetSeenDevices));

	values[0] = ids->sorted_array;
	n = fleet_run(FLEET_PLAN_VISIBLE_DEVICES, values, NULL, 0);
	seen->count = (int) n;
	seen->ids = palloc(sizeof(int64) * (n + 1));
	seen->sites = palloc(sizeof(FleetRef) * (n + 1));
	seen->buildings = palloc(sizeof(FleetRef) * (n + 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		seen->ids[i] = fleet_get_int64(i, 1, &isnull);
		seen->sites[i] = fleet_get_ref(i, 2);
		seen->buildings[i] = fleet_get_ref(i, 3);
	}
	SPI_freetuptable(SPI_tuptable);
	return seen;
}

/*
 * Lock the named devices (level 4), ascending by id, and return them.
 *
 * Normally the lock runs with the caller's rights, so row-level security
 * decides which rows exist. A caller who may not lock device rows (seen is
 * given) had them chosen with their rights by fleet_read_devices(); the lock
 * of exactly those ids runs on the extension's authority.
 */
FleetLockedDevices *
fleet_lock_devices(const FleetIdList *ids, const FleetSeenDevices *seen)
{
	Datum		values[1];
	FleetLockedDevices *locked = palloc(sizeof(FleetLockedDevices));

	if (seen == NULL)
	{
		values[0] = ids->sorted_array;
		fleet_run(FLEET_PLAN_LOCK_DEVICES, values, NULL, 0);
	}
	else
	{
		values[0] = fleet_int64_array(seen->ids, seen->count);
		fleet_run(FLEET_PLAN_LOCK_DEVICES_BY_ID, values, NULL, 0);
	}
	read_device_rows(locked);
	return locked;
}

/* Index of device id in locked (ascending ids), or -1. */
int
fleet_locked_position(const FleetLockedDevices *locked, int64 device_id)
{
	int			low = 0;
	int			high = locked->count - 1;

	while (low <= high)
	{
		int			mid = low + (high - low) / 2;

		if (locked->ids[mid] == device_id)
			return mid;
		if (locked->ids[mid] < device_id)
			low = mid + 1;
		else
			high = mid - 1;
	}
	return -1;
}

/* qsort comparator for int64. */
int
fleet_compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* A bigint[] of values, for the statements scoped to locked ids. */
Datum
fleet_int64_array(const int64 *values, int count)
{
	Datum	   *datums = palloc(sizeof(Datum) * (count + 1));
	ArrayType  *array;
	int			i;

	for (i = 0; i < count; i++)
		datums[i] = Int64GetDatum(values[i]);
	array = construct_array(datums, count, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
							TYPALIGN_DOUBLE);
	pfree(datums);
	return PointerGetDatum(array);
}
