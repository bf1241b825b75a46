/*
 * placement.c: the writes of a move (level 4 of the lock order).
 *
 * Each runs with the caller's rights, on device ids the caller has already
 * locked (locks.c), as one set-based statement whatever the batch size.
 */
#include "fleet_sites.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"

static bool
already_at(const FleetLockedDevices *locked, int i, bool has_site, int64 site_id)
{
	if (!has_site)
		return !locked->has_site[i];
	return locked->has_site[i] && locked->site_ids[i] == site_id;
}

/*
 * Delete the memberships (and so, by cascade, the slots) of these devices,
 * each of which was seen in a rack. The delete runs with the caller's rights.
 * If it deleted fewer rows than that, either a concurrent rack deletion took
 * some first (harmless) or row-level security hid them from the caller; in
 * the second case the move must not go on, or the device would keep a rack
 * at another site.
 */
int
fleet_clear_memberships(const int64 *device_ids, int count)
{
	Datum		values[1];
	int			rc;
	int			deleted;

	if (count == 0)
		return 0;
	values[0] = fleet_int64_array(device_ids, count);
	rc = SPI_execute_plan(fleet_plan(FLEET_PLAN_CLEAR_MEMBERSHIPS), values, NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "fleet_sites: clearing memberships failed: %s", SPI_result_code_string(rc));
	deleted = (int) SPI_processed;
	if (deleted == count)
		return deleted;

	rc = fleet_execute_as_owner(FLEET_PLAN_REMAINING_MEMBERSHIPS, values, NULL, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "fleet_sites: rereading memberships failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
	{
		bool		isnull;
		int64		device_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc, 1, &isnull));
		int64		rack_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 2, &isnull));

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot clear the membership of device id " INT64_FORMAT " in rack " INT64_FORMAT,
						device_id, rack_id),
				 errdetail("Row-level security on fleet_rack_membership hides that row from role \"%s\".",
						   GetUserNameFromId(GetUserId(), false))));
	}
	SPI_freetuptable(SPI_tuptable);
	return deleted;
}

/* How many locked devices a move to site_id (or to none) would change. */
int
fleet_count_site_changes(const FleetLockedDevices *locked, bool has_site, int64 site_id)
{
	int			n = 0;
	int			i;

	for (i = 0; i < locked->count; i++)
		if (!already_at(locked, i, has_site, site_id))
			n++;
	return n;
}

/* site_id := the given site (or NULL) on the locked devices not already there. */
int
fleet_set_device_sites(const FleetLockedDevices *locked, bool has_site, int64 site_id)
{
	Datum	   *moving = palloc(sizeof(Datum) * (locked->count + 1));
	int			n = 0;
	int			i;
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	int			rc;

	for (i = 0; i < locked->count; i++)
		if (!already_at(locked, i, has_site, site_id))
			moving[n++] = PointerGetDatum(&locked->tids[i]);
	if (n == 0)
		return 0;

	/* By tuple id (locks.c): the rows are ours, locked, and not yet updated. */
	values[0] = PointerGetDatum(construct_array(moving, n, TIDOID, sizeof(ItemPointerData),
												false, TYPALIGN_SHORT));
	values[1] = Int64GetDatum(site_id);
	if (!has_site)
		nulls[1] = 'n';
	rc = SPI_execute_plan(fleet_plan(FLEET_PLAN_SET_DEVICE_SITE), values, nulls, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "fleet_sites: updating device sites failed: %s", SPI_result_code_string(rc));
	/* Every row is locked by us: anything else means the lock protocol broke. */
	if (SPI_processed != (uint64) n)
		elog(ERROR, "fleet_sites: updated " UINT64_FORMAT " of %d locked devices",
			 SPI_processed, n);
	return n;
}

/* Insert memberships of these devices (in no rack now) into the rack. */
void
fleet_join_rack(int64 rack_id, const int64 *device_ids, int count)
{
	Datum		values[2];
	int			rc;

	if (count == 0)
		return;
	values[0] = Int64GetDatum(rack_id);
	values[1] = fleet_int64_array(device_ids, count);
	rc = SPI_execute_plan(fleet_plan(FLEET_PLAN_JOIN_RACK), values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "fleet_sites: joining rack failed: %s", SPI_result_code_string(rc));
}
