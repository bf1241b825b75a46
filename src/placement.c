/*
 * placement.c: where the locked devices are, and the writes of a move
 * (level 5 of the lock order).
 *
 * The placement of the locked devices (their memberships, their racks'
 * sites and buildings, their buildings' sites) is read on the extension's
 * authority: the devices were chosen (and locked) with the caller's rights,
 * but their placement is a fact the move must see whole. A membership or
 * rack that row-level security hid from the caller would otherwise look like
 * "not racked", and the move would leave the device in a rack at another
 * site. What the caller may *learn* about a hidden rack is another matter:
 * conflicts report it without its id, site or building (conflicts.c).
 *
 * The writes run with the caller's rights, on device ids the caller has
 * locked (locks.c), each as one set-based statement whatever the batch size.
 */
#include "fleet_sites.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* A bigint[] with NULLs, for the buildings parallel to the locked ids. */
static Datum
ref_array(const FleetRef *refs, int count)
{
	Datum	   *datums = palloc(sizeof(Datum) * (count + 1));
	bool	   *nulls = palloc(sizeof(bool) * (count + 1));
	int			dims[1] = {count};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < count; i++)
	{
		datums[i] = Int64GetDatum(refs[i].id);
		nulls[i] = !refs[i].is_set;
	}
	return PointerGetDatum(construct_md_array(datums, nulls, 1, dims, lbs, INT8OID,
											  sizeof(int64), FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
}

/* Mark the racks the caller's rights do not let them see. */
static void
mark_hidden_racks(const FleetLockedDevices *locked, FleetPlacement *placement)
{
	int64	   *racks = palloc(sizeof(int64) * (locked->count + 1));
	int			n = 0;
	int			i;
	uint64		row;
	uint64		visible;
	Datum		values[1];

	for (i = 0; i < locked->count; i++)
		if (placement[i].racked)
		{
			racks[n++] = placement[i].rack_id;
			placement[i].rack_visible = false;
		}
	if (n == 0)
		return;
	values[0] = fleet_int64_array(racks, n);
	visible = fleet_run(FLEET_PLAN_RACKS_VISIBLE, values, NULL, 0);
	for (row = 0; row < visible; row++)
	{
		bool		isnull;
		int64		rack_id = fleet_get_int64(row, 1, &isnull);

		for (i = 0; i < locked->count; i++)
			if (placement[i].racked && placement[i].rack_id == rack_id)
				placement[i].rack_visible = true;
	}
	SPI_freetuptable(SPI_tuptable);
}

FleetPlacement *
fleet_read_placement(const FleetLockedDevices *locked)
{
	FleetPlacement *placement = palloc0(sizeof(FleetPlacement) * (locked->count + 1));
	Datum		values[2];
	uint64		n;
	uint64		row;
	int			i;

	for (i = 0; i < locked->count; i++)
	{
		placement[i].rack_visible = true;
		/* In a building that (by the invariant) shares its site. */
		placement[i].building_site = locked->sites[i];
	}
	if (locked->count == 0)
		return placement;

	values[0] = fleet_int64_array(locked->ids, locked->count);
	values[1] = ref_array(locked->buildings, locked->count);
	n = fleet_run(FLEET_PLAN_PLACEMENT, values, NULL, 0);
	for (row = 0; row < n; row++)
	{
		bool		isnull;
		int64		device_id = fleet_get_int64(row, 1, &isnull);
		int			position = fleet_locked_position(locked, device_id);
		FleetPlacement *p;

		CHECK_FOR_INTERRUPTS();
		if (position < 0)
			elog(ERROR, "placement read for device %lld, which is not locked",
				 (long long) device_id);
		p = &placement[position];
		p->rack_id = fleet_get_int64(row, 2, &isnull);
		p->racked = !isnull;
		p->rack_site = fleet_get_ref(row, 3);
		p->rack_building = fleet_get_ref(row, 4);
		if (locked->buildings[position].is_set)
			p->building_site = fleet_get_ref(row, 5);
	}
	SPI_freetuptable(SPI_tuptable);

	if (fleet_rls_hides_rows(FLEET_REL_RACK))
		mark_hidden_racks(locked, placement);
	return placement;
}

/*
 * Delete the memberships (and so, by cascade, the slots) of these locked
 * devices, each of which was seen in a rack. The delete runs with the
 * caller's rights. If it deleted fewer rows than that, either a concurrent
 * rack deletion took some first (harmless) or row-level security hid them
 * from the caller; in the second case the move must not go on, or the device
 * would keep a rack at another site.
 */
int
fleet_clear_memberships(const FleetLockedDevices *locked, const int64 *device_ids, int count)
{
	Datum		values[1];
	int			deleted;

	if (count == 0)
		return 0;
	values[0] = fleet_int64_array(device_ids, count);
	deleted = (int) fleet_run(FLEET_PLAN_CLEAR_MEMBERSHIPS, values, NULL, 0);
	if (deleted == count)
		return deleted;

	if (fleet_run(FLEET_PLAN_REMAINING_MEMBERSHIP, values, NULL, 1) > 0)
	{
		bool		isnull;
		int64		device_id = fleet_get_int64(0, 1, &isnull);
		int			position = fleet_locked_position(locked, device_id);

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to clear the rack membership of device \"%s\"",
						position >= 0 ? locked->identifiers[position] : "?"),
				 errdetail("Row-level security on table fleet_rack_membership hides that row from role \"%s\", or a trigger skipped its delete.",
						   GetUserNameFromId(GetUserId(), false))));
	}
	SPI_freetuptable(SPI_tuptable);
	return deleted;
}

/* Would the write change locked device i? */
bool
fleet_device_changes(const FleetLockedDevices *locked, int i, FleetDeviceWrite write)
{
	if (write.set_site && !fleet_ref_eq(locked->sites[i], write.site))
		return true;
	return write.set_building && !fleet_ref_eq(locked->buildings[i], write.building);
}

/*
 * Give the chosen locked devices (all when chosen is NULL) the write's site
 * and building, each where the write says so. Devices already there are
 * skipped; returns how many were written.
 */
int
fleet_write_devices(const FleetLockedDevices *locked, const bool *chosen,
					FleetDeviceWrite write)
{
	Datum	   *tids = palloc(sizeof(Datum) * (locked->count + 1));
	int64	   *ids = palloc(sizeof(int64) * (locked->count + 1));
	int			n = 0;
	int			i;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	uint64		updated;

	for (i = 0; i < locked->count; i++)
		if ((chosen == NULL || chosen[i]) && fleet_device_changes(locked, i, write))
		{
			tids[n] = PointerGetDatum(&locked->tids[i]);
			ids[n] = locked->ids[i];
			n++;
		}
	if (n == 0)
		return 0;

	values[0] = PointerGetDatum(construct_array(tids, n, TIDOID, sizeof(ItemPointerData),
												false, TYPALIGN_SHORT));
	values[1] = Int64GetDatum(write.site.id);
	nulls[1] = write.site.is_set ? ' ' : 'n';
	values[2] = Int64GetDatum(write.building.id);
	nulls[2] = write.building.is_set ? ' ' : 'n';
	values[3] = BoolGetDatum(write.set_building);
	values[4] = BoolGetDatum(write.set_site);
	values[5] = fleet_int64_array(ids, n);

	/* By tuple id: the rows are ours, locked, and normally not yet updated. */
	updated = fleet_run(FLEET_PLAN_SET_DEVICES, values, nulls, 0);
	if (updated == (uint64) n)
		return n;

	/*
	 * A row version moved since the lock: a user trigger fired by one of our
	 * own statements (a force clear's delete, say) updated the device. Set
	 * the rest by id; rows already set are left alone.
	 */
	values[0] = values[5];
	updated += fleet_run(FLEET_PLAN_SET_DEVICES_BY_ID, values, nulls, 0);
	if (updated >= (uint64) n)
		return n;

	/*
	 * Still short: some device is not where it must be, and the caller's
	 * rights could not put it there (row-level security hides it from the
	 * UPDATE, or a trigger of theirs skipped it). Going on would leave it
	 * inconsistently placed.
	 */
	if (fleet_run(FLEET_PLAN_DEVICE_UNWRITTEN, values, nulls, 1) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to update every device the move must change"),
				 errdetail("Row-level security on table fleet_device hides some of them from role \"%s\", or a trigger skipped their update.",
						   GetUserNameFromId(GetUserId(), false))));
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/* Insert memberships of these devices (in no rack now) into the rack. */
void
fleet_join_rack(int64 rack_id, const int64 *device_ids, int count)
{
	Datum		values[2];

	if (count == 0)
		return;
	values[0] = Int64GetDatum(rack_id);
	values[1] = fleet_int64_array(device_ids, count);
	fleet_run(FLEET_PLAN_JOIN_RACK, values, NULL, 0);
}

/* Delete the slots these members of the rack hold now (they move). */
void
fleet_clear_slots(int64 rack_id, const int64 *device_ids, int count)
{
	Datum		values[2];

	if (count == 0)
		return;
	values[0] = Int64GetDatum(rack_id);
	values[1] = fleet_int64_array(device_ids, count);
	fleet_run(FLEET_PLAN_CLEAR_SLOTS, values, NULL, 0);
}

static Datum
int32_array(const int32 *values, int count)
{
	Datum	   *datums = palloc(sizeof(Datum) * (count + 1));
	int			i;

	for (i = 0; i < count; i++)
		datums[i] = Int32GetDatum(values[i]);
	return PointerGetDatum(construct_array(datums, count, INT4OID, sizeof(int32), true,
										   TYPALIGN_INT));
}

/* Put these members of the rack into these slots. */
void
fleet_set_slots(int64 rack_id, const int64 *device_ids, const int32 *rows,
				const int32 *columns, int count)
{
	Datum		values[4];

	if (count == 0)
		return;
	values[0] = Int64GetDatum(rack_id);
	values[1] = fleet_int64_array(device_ids, count);
	values[2] = int32_array(rows, count);
	values[3] = int32_array(columns, count);
	fleet_run(FLEET_PLAN_SET_SLOTS, values, NULL, 0);
}
