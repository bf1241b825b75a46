/*
 * site_move.c: fleet_assign_devices_to_site(ids, target, force_clear).
 *
 * The whole move is one call in the caller's transaction:
 *   validate -> privilege gate -> lock site -> lock devices (ascending id)
 *   -> conflicts among the locked rows -> [force: delete exactly the
 *   conflicting memberships] -> set sites -> audit row + NOTIFY.
 * It either applies the whole batch and returns no rows, or writes nothing
 * and returns the conflicts. The number of statements is fixed (at most six),
 * whatever the number of ids.
 */
#include "fleet_sites.h"

#include "utils/acl.h"

static const char *const function_name = "fleet_assign_devices_to_site";

/* Conflicts of locked devices racked at a site other than the target. */
static void
add_rack_conflicts(FleetConflictList *conflicts, const FleetLockedDevices *locked,
				   bool has_target, int64 target)
{
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	int			rc;
	uint64		i;
	TupleDesc	tupdesc;

	values[0] = fleet_int64_array(locked->ids, locked->count);
	values[1] = Int64GetDatum(target);
	if (!has_target)
		nulls[1] = 'n';

	/*
	 * Memberships and racks are read on the extension's authority: the
	 * devices were chosen (and locked) with the caller's rights, but their
	 * placement is a fact the move must see whole. A membership or rack that
	 * row-level security hid from the caller would otherwise look like "not
	 * racked", and the move would leave the device in a rack at another site.
	 */
	rc = fleet_execute_as_owner(FLEET_PLAN_SITE_CONFLICTS, values, nulls, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "fleet_sites: reading rack conflicts failed: %s", SPI_result_code_string(rc));

	tupdesc = SPI_tuptable->tupdesc;
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		bool		isnull;
		int64		device_id = DatumGetInt64(SPI_getbinval(row, tupdesc, 1, &isnull));
		int			position = fleet_locked_position(locked, device_id);
		Datum		site;
		FleetConflict *conflict;

		if (position < 0)
			elog(ERROR, "fleet_sites: conflict for unlocked device " INT64_FORMAT, device_id);
		conflict = fleet_conflicts_add(conflicts, locked->identifiers[position],
									   FLEET_DEVICE_IN_RACK_AT_OTHER_SITE);
		conflict->device_id = device_id;
		conflict->has_rack = true;
		conflict->rack_id = DatumGetInt64(SPI_getbinval(row, tupdesc, 2, &isnull));
		site = SPI_getbinval(row, tupdesc, 3, &isnull);
		conflict->has_site = !isnull;
		conflict->conflicting_site_id = isnull ? 0 : DatumGetInt64(site);
	}
	SPI_freetuptable(SPI_tuptable);
}

/* Delete the memberships (and so the slots) of exactly the conflicting devices. */
static int
clear_conflicting_memberships(const FleetConflictList *conflicts)
{
	int64	   *device_ids = palloc(sizeof(int64) * conflicts->count);
	int			i;

	for (i = 0; i < conflicts->count; i++)
		device_ids[i] = conflicts->items[i].device_id;
	return fleet_clear_memberships(device_ids, conflicts->count);
}

static int64
audit_site_move(const FleetIdList *ids, int device_count, bool has_target, int64 target,
				const FleetConflictList *cleared, int cleared_count)
{
	StringInfoData description;
	StringInfoData metadata;

	initStringInfo(&description);
	if (has_target)
		appendStringInfo(&description, "Reassigned %d device(s) to site " INT64_FORMAT,
						 device_count, target);
	else
		appendStringInfo(&description, "Reassigned %d device(s) to site Unassigned",
						 device_count);

	initStringInfo(&metadata);
	appendStringInfoString(&metadata, "{\"target_site_id\": ");
	if (has_target)
		appendStringInfo(&metadata, INT64_FORMAT, target);
	else
		appendStringInfoString(&metadata, "null");
	fleet_append_device_sample(&metadata, ids, device_count);

	if (cleared_count > 0)
	{
		char	  **names = palloc(sizeof(char *) * cleared->count);
		int			i;

		for (i = 0; i < cleared->count; i++)
			names[i] = cleared->items[i].device_identifier;
		appendStringInfo(&description, " (%d rack membership(s) force-cleared)", cleared_count);
		appendStringInfo(&metadata, ", \"force_cleared_rack_membership_count\": %d", cleared_count);
		appendStringInfoString(&metadata, ", \"force_cleared_device_identifiers\": ");
		fleet_json_identifier_array(&metadata, names, cleared->count);
	}
	appendStringInfoChar(&metadata, '}');

	return fleet_write_activity("devices.reassigned_to_site", has_target, target,
								description.data, metadata.data);
}

PG_FUNCTION_INFO_V1(fleet_assign_devices_to_site);

Datum
fleet_assign_devices_to_site(PG_FUNCTION_ARGS)
{
	FleetIdList *ids;
	bool		has_target;
	int64		target;
	bool		force_clear;
	const FleetCatalog *catalog;
	FleetLockedDevices *locked;
	FleetConflictList *conflicts;
	int			cleared_count = 0;
	int64		activity_id;

	/* 1. Input, before anything else. */
	ids = fleet_read_ids(fcinfo, 0);
	fleet_check_target(fcinfo, 1, "site");
	has_target = !PG_ARGISNULL(1);
	target = has_target ? PG_GETARG_INT64(1) : 0;
	force_clear = fleet_read_force_clear(fcinfo, 2);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "fleet_sites: SPI_connect failed");
	catalog = fleet_catalog();

	/* 2. The privilege gate, before any lock. */
	fleet_require_privilege(catalog->device_relid, ACL_UPDATE, "site manage", function_name);
	if (force_clear)
		fleet_require_privilege(catalog->membership_relid, ACL_DELETE, "rack manage",
								function_name);
	fleet_require_privilege(catalog->device_relid, ACL_SELECT, "read", function_name);
	fleet_require_privilege(catalog->membership_relid, ACL_SELECT, "read", function_name);
	fleet_require_privilege(catalog->rack_relid, ACL_SELECT, "read", function_name);

	/* 3. Locks, in the one order (locks.c): site, then devices ascending. */
	if (has_target)
		fleet_lock_site(target);
	locked = fleet_lock_devices(ids, false);

	/* 4. Conflicts, read under those locks and scoped to the locked ids. */
	conflicts = fleet_conflicts_new();
	fleet_conflicts_add_not_found(conflicts, ids, locked);
	if (locked->count > 0)
		add_rack_conflicts(conflicts, locked, has_target, target);
	fleet_conflicts_sort(conflicts);

	if (conflicts->count > 0)
	{
		bool		only_clearable = fleet_conflicts_all_of(conflicts,
															FLEET_DEVICE_IN_RACK_AT_OTHER_SITE);

		/*
		 * 5/6. Without force, every conflict is returned. With force, any
		 * residual conflict aborts before a single membership is deleted and
		 * only the residual ones are returned.
		 */
		if (!force_clear || !only_clearable)
		{
			fleet_conflicts_return(fcinfo, conflicts, force_clear,
								   FLEET_DEVICE_IN_RACK_AT_OTHER_SITE);
			SPI_finish();
			return (Datum) 0;
		}
		cleared_count = clear_conflicting_memberships(conflicts);
	}

	/* 7. Apply and audit. */
	fleet_set_device_sites(locked, has_target, target);
	activity_id = audit_site_move(ids, locked->count, has_target, target, conflicts,
								  cleared_count);

	fleet_conflicts_return(fcinfo, fleet_conflicts_new(), false, FLEET_DEVICE_NOT_FOUND);
	SPI_finish();
	fleet_remember_activity(activity_id);
	return (Datum) 0;
}
