/*
 * locks.c: the one lock order every move follows.
 *
 *   1. site rows, ascending id     FOR KEY SHARE      (extension's authority)
 *   2. rack rows, ascending id     FOR NO KEY UPDATE  (extension's authority)
 *   3. device rows, ascending id   FOR NO KEY UPDATE  (caller's rights)
 *   4. then the writes: memberships (and with them slots), devices, activity
 *
 * Each function takes only the levels it needs, always top-down, so two
 * calls can wait for each other but never in a cycle: no deadlock, whatever
 * their batches overlap.
 *
 * Why these strengths:
 * - A site row is locked only so that it cannot be deleted (or its key
 *   changed) mid-move. KEY SHARE does that and does not conflict with itself,
 *   so moves of disjoint devices into one site run side by side.
 * - A device row lock is the mutex for the device's placement (its site and
 *   its membership). NO KEY UPDATE conflicts with itself but not with the
 *   KEY SHARE that a foreign-key check from a membership insert takes on the
 *   device row; FOR UPDATE would, and deadlocks against such inserts.
 * - Rows are locked in ascending id by a locking clause above an ORDER BY,
 *   never by the UPDATE itself, which would lock in plan (often input) order.
 *
 * Everything after the lock reads with a new snapshot (the functions are
 * VOLATILE, so under READ COMMITTED each SPI statement takes one) and is
 * scoped to the ids the lock returned, never to the raw input: a row that
 * vanished or that row-level security hides is simply not among them.
 */
#include "fleet_sites.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

/* Lock a site row (level 1); false if it does not exist. */
bool
fleet_try_lock_site(int64 site_id)
{
	Datum		values[1];
	int			rc;
	bool		found;

	values[0] = Int64GetDatum(site_id);
	rc = fleet_execute_as_owner(FLEET_PLAN_LOCK_SITE, values, NULL, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "fleet_sites: locking site failed: %s", SPI_result_code_string(rc));
	found = SPI_processed > 0;
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/* Lock the target site of a site move; a missing target is an error. */
void
fleet_lock_site(int64 site_id)
{
	if (!fleet_try_lock_site(site_id))
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("site " INT64_FORMAT " does not exist", site_id)));
}

/* Read the target rack through one of the two rack plans (unlocked or locking). */
static void
read_rack(FleetPlanId plan, int64 rack_id, FleetLockedRack *rack)
{
	Datum		values[1];
	int			rc;
	bool		isnull;
	Datum		site;

	values[0] = Int64GetDatum(rack_id);
	rc = fleet_execute_as_owner(plan, values, NULL, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "fleet_sites: reading rack failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("rack " INT64_FORMAT " does not exist", rack_id)));

	rack->rack_id = rack_id;
	site = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	rack->has_site = !isnull;
	rack->site_id = isnull ? 0 : DatumGetInt64(site);
	rack->slot_count = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2, &isnull));
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Lock the target rack: its site first (level 1), then the rack (level 2).
 * The rack's site is read unlocked to know which site to lock, and read
 * again under the rack lock; if it moved to another site in between, the
 * call fails with 40001 rather than lock a site after a rack, and the caller
 * retries.
 */
void
fleet_lock_rack(int64 rack_id, FleetLockedRack *rack)
{
	FleetLockedRack seen;

	read_rack(FLEET_PLAN_READ_RACK, rack_id, &seen);

	/* A site deleted since the read counts as a changed site below. */
	if (seen.has_site && !fleet_try_lock_site(seen.site_id))
		seen.site_id = -1;

	read_rack(FLEET_PLAN_LOCK_RACK, rack_id, rack);

	/*
	 * A rack that has no site now needs no site lock (its site may just have
	 * been deleted, which set it NULL). Only a rack now at a site we did not
	 * lock is a failure.
	 */
	if (rack->has_site && (!seen.has_site || rack->site_id != seen.site_id))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("rack " INT64_FORMAT " changed site while the move was locking it",
						rack_id),
				 errhint("Retry the transaction.")));
}

/*
 * Lock the named devices (level 3), ascending by id, and return them.
 *
 * Normally the lock runs with the caller's rights, so row-level security
 * decides which rows exist. A caller of the rack move may hold the rack right
 * without UPDATE on fleet_device, which a locking clause requires; then the
 * caller's rights pick the rows (a plain SELECT) and the lock of exactly
 * those ids runs on the extension's authority.
 */
FleetLockedDevices *
fleet_lock_devices(const FleetIdList *ids, bool on_owner_authority)
{
	Datum		values[1];
	int			rc;
	uint64		i;
	FleetLockedDevices *locked;
	TupleDesc	tupdesc;

	if (!on_owner_authority)
	{
		values[0] = ids->sorted_array;
		rc = SPI_execute_plan(fleet_plan(FLEET_PLAN_LOCK_DEVICES), values, NULL, false, 0);
	}
	else
	{
		int64	   *visible;

		values[0] = ids->sorted_array;
		rc = SPI_execute_plan(fleet_plan(FLEET_PLAN_VISIBLE_DEVICES), values, NULL, false, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "fleet_sites: reading devices failed: %s", SPI_result_code_string(rc));
		visible = palloc(sizeof(int64) * (SPI_processed + 1));
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			visible[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
		}
		values[0] = fleet_int64_array(visible, (int) SPI_processed);
		SPI_freetuptable(SPI_tuptable);
		rc = fleet_execute_as_owner(FLEET_PLAN_LOCK_DEVICES_BY_ID, values, NULL, 0);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "fleet_sites: locking devices failed: %s", SPI_result_code_string(rc));

	tupdesc = SPI_tuptable->tupdesc;
	locked = palloc(sizeof(FleetLockedDevices));
	locked->count = (int) SPI_processed;
	locked->ids = palloc(sizeof(int64) * (SPI_processed + 1));
	locked->identifiers = palloc(sizeof(char *) * (SPI_processed + 1));
	locked->has_site = palloc(sizeof(bool) * (SPI_processed + 1));
	locked->site_ids = palloc(sizeof(int64) * (SPI_processed + 1));
	locked->tids = palloc(sizeof(ItemPointerData) * (SPI_processed + 1));

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		bool		isnull;
		Datum		site;

		CHECK_FOR_INTERRUPTS();
		locked->ids[i] = DatumGetInt64(SPI_getbinval(row, tupdesc, 1, &isnull));
		locked->identifiers[i] = TextDatumGetCString(SPI_getbinval(row, tupdesc, 2, &isnull));
		site = SPI_getbinval(row, tupdesc, 3, &isnull);
		locked->has_site[i] = !isnull;
		locked->site_ids[i] = isnull ? 0 : DatumGetInt64(site);
		ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(row, tupdesc, 4, &isnull)),
						&locked->tids[i]);
	}
	SPI_freetuptable(SPI_tuptable);
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
