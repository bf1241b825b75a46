/*
 * rack_move.c: fleet_assign_devices_to_rack(ids, target_rack, force_clear).
 *
 * Devices join the target rack (leaving any other rack; the old slot goes
 * with the old membership) and take the rack's site. A device already in the
 * target keeps its membership and slot. A NULL target takes the devices out
 * of whatever rack they are in and leaves their sites alone.
 *
 *   validate -> privilege gate -> lock the rack's site, then the rack
 *   -> lock devices (ascending id) -> conflicts -> capacity, under the rack
 *   lock -> leave other racks -> set sites -> join -> audit row + NOTIFY.
 *
 * All or nothing, a fixed number of statements (at most ten), as in
 * site_move.c, and through the same lock code (locks.c).
 */
#include "fleet_sites.h"

#include "miscadmin.h"
#include "utils/acl.h"

static const char *const function_name = "fleet_assign_devices_to_rack";

/* Where the locked devices are now, and who else is in the target rack. */
typedef struct RackPlacement
{
	bool	   *in_target;			/* per locked device */
	int64	   *in_other_rack;		/* ids of locked devices racked elsewhere */
	int			in_other_rack_count;
	int			other_members;		/* target members that are not moving */
} RackPlacement;

static void
read_rack_placement(const FleetLockedDevices *locked, bool has_rack, int64 rack_id,
					RackPlacement *placement)
{
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	int			rc;
	uint64		i;
	TupleDesc	tupdesc;

	placement->in_target = palloc0(sizeof(bool) * (locked->count + 1));
	placement->in_other_rack = palloc(sizeof(int64) * (locked->count + 1));
	placement->in_other_rack_count = 0;
	placement->other_members = 0;

	values[0] = fleet_int64_array(locked->ids, locked->count);
	values[1] = Int64GetDatum(rack_id);
	nulls[1] = has_rack ? ' ' : 'n';
	/* On the extension's authority, for the reason given in site_move.c. */
	rc = fleet_execute_as_owner(FLEET_PLAN_RACK_PLACEMENT, values, nulls, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "fleet_sites: reading memberships failed: %s", SPI_result_code_string(rc));

	tupdesc = SPI_tuptable->tupdesc;
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		device_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], tupdesc, 1, &isnull));
		int64		member_of = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], tupdesc, 2, &isnull));
		int			position = fleet_locked_position(locked, device_id);

		if (position < 0)
			placement->other_members++;
		else if (has_rack && member_of == rack_id)
			placement->in_target[position] = true;
		else
			placement->in_other_rack[placement->in_other_rack_count++] = device_id;
	}
	SPI_freetuptable(SPI_tuptable);
}

static int64
audit_rack_move(const FleetIdList *ids, int device_count, const FleetLockedRack *rack,
				int site_changes)
{
	StringInfoData description;
	StringInfoData metadata;

	initStringInfo(&description);
	initStringInfo(&metadata);
	if (rack != NULL)
	{
		appendStringInfo(&description, "Assigned %d device(s) to rack " INT64_FORMAT,
						 device_count, rack->rack_id);
		appendStringInfo(&metadata, "{\"rack_id\": " INT64_FORMAT, rack->rack_id);
	}
	else
	{
		appendStringInfo(&description, "Removed %d device(s) from their racks", device_count);
		appendStringInfoString(&metadata, "{\"rack_id\": null");
	}
	fleet_append_device_sample(&metadata, ids, device_count);
	if (site_changes > 0)
	{
		appendStringInfo(&description, " (%d device site(s) changed)", site_changes);
		appendStringInfo(&metadata, ", \"site_changed_device_count\": %d", site_changes);
	}
	appendStringInfoChar(&metadata, '}');

	return fleet_write_activity(rack != NULL ? "devices.assigned_to_rack" : "devices.removed_from_rack",
						 rack != NULL && rack->has_site, rack != NULL ? rack->site_id : 0,
						 description.data, metadata.data);
}

PG_FUNCTION_INFO_V1(fleet_assign_devices_to_rack);

Datum
fleet_assign_devices_to_rack(PG_FUNCTION_ARGS)
{
	FleetIdList *ids;
	bool		has_rack;
	bool		force_clear;
	const FleetCatalog *catalog;
	bool		caller_may_update_devices;
	FleetLockedRack rack;
	FleetLockedDevices *locked;
	FleetConflictList *conflicts;
	RackPlacement placement;
	int			site_changes;
	int64	   *joining;
	int			joining_count = 0;
	int			i;
	int64		activity_id;

	/* Input, before anything else. */
	ids = fleet_read_ids(fcinfo, 0);
	fleet_check_target(fcinfo, 1, "rack");
	has_rack = !PG_ARGISNULL(1);
	force_clear = fleet_read_force_clear(fcinfo, 2);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "fleet_sites: SPI_connect failed");
	catalog = fleet_catalog();

	/*
	 * The privilege gate, before any lock. UPDATE on fleet_device is needed
	 * only if some device's site changes, which is known only under the
	 * locks; it is checked there, before any write.
	 */
	fleet_require_privilege(catalog->membership_relid, ACL_INSERT, "rack manage", function_name);
	fleet_require_privilege(catalog->membership_relid, ACL_DELETE, "rack manage", function_name);
	fleet_require_privilege(catalog->device_relid, ACL_SELECT, "read", function_name);
	fleet_require_privilege(catalog->membership_relid, ACL_SELECT, "read", function_name);
	fleet_require_privilege(catalog->rack_relid, ACL_SELECT, "read", function_name);
	caller_may_update_devices =
		pg_class_aclcheck(catalog->device_relid, GetUserId(), ACL_UPDATE) == ACLCHECK_OK;

	/* Locks, in the one order (locks.c): site, rack, devices ascending. */
	if (has_rack)
		fleet_lock_rack(PG_GETARG_INT64(1), &rack);
	locked = fleet_lock_devices(ids, !caller_may_update_devices);

	/* Conflicts, among the locked rows. */
	conflicts = fleet_conflicts_new();
	fleet_conflicts_add_not_found(conflicts, ids, locked);
	if (has_rack && !rack.has_site)
	{
		for (i = 0; i < locked->count; i++)
		{
			FleetConflict *conflict;

			if (!locked->has_site[i])
				continue;
			conflict = fleet_conflicts_add(conflicts, locked->identifiers[i],
										   FLEET_DEVICE_LOSES_SITE);
			conflict->device_id = locked->ids[i];
			conflict->has_rack = true;
			conflict->rack_id = rack.rack_id;
		}
	}
	fleet_conflicts_sort(conflicts);

	/*
	 * DEVICE_LOSES_SITE is the clearable kind here: forced, the device joins
	 * and becomes Unassigned. Anything else is residual and writes nothing.
	 */
	if (conflicts->count > 0 &&
		(!force_clear || !fleet_conflicts_all_of(conflicts, FLEET_DEVICE_LOSES_SITE)))
	{
		fleet_conflicts_return(fcinfo, conflicts, force_clear, FLEET_DEVICE_LOSES_SITE);
		SPI_finish();
		return (Datum) 0;
	}

	if (!has_rack)
	{
		/* Out of every rack; sites stay as they are. */
		read_rack_placement(locked, false, 0, &placement);
		fleet_clear_memberships(placement.in_other_rack, placement.in_other_rack_count);
		activity_id = audit_rack_move(ids, locked->count, NULL, 0);
		fleet_conflicts_return(fcinfo, conflicts, false, FLEET_DEVICE_LOSES_SITE);
		SPI_finish();
		fleet_remember_activity(activity_id);
		return (Datum) 0;
	}

	/* Capacity, read under the rack lock: concurrent fills take turns. */
	read_rack_placement(locked, true, rack.rack_id, &placement);
	if (placement.other_members + locked->count > rack.slot_count)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("rack " INT64_FORMAT " has %d slots; the move would give it %d members",
						rack.rack_id, rack.slot_count, placement.other_members + locked->count),
				 errdetail("%d device(s) in the rack stay, and the move names %d.",
						   placement.other_members, locked->count)));

	site_changes = fleet_count_site_changes(locked, rack.has_site, rack.site_id);
	if (site_changes > 0)
		fleet_require_privilege(catalog->device_relid, ACL_UPDATE, "site manage", function_name);

	/* Writes: leave other racks, take the rack's site, join. */
	fleet_clear_memberships(placement.in_other_rack, placement.in_other_rack_count);
	fleet_set_device_sites(locked, rack.has_site, rack.site_id);
	joining = palloc(sizeof(int64) * (locked->count + 1));
	for (i = 0; i < locked->count; i++)
		if (!placement.in_target[i])
			joining[joining_count++] = locked->ids[i];
	fleet_join_rack(rack.rack_id, joining, joining_count);

	activity_id = audit_rack_move(ids, locked->count, &rack, site_changes);
	fleet_conflicts_return(fcinfo, fleet_conflicts_new(), false, FLEET_DEVICE_LOSES_SITE);
	SPI_finish();
	fleet_remember_activity(activity_id);
	return (Datum) 0;
}
