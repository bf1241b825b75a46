/*
 * buildings_move.c: fleet_assign_buildings_to_site(building_ids, target).
 *
 * Whole buildings move to a site with everything in them: each building
 * whose site changes takes the target; every rack standing in it takes the
 * same site (keeping its building and position); every device in those
 * racks, and every device whose building is one of them, takes it too.
 *
 *   validate -> privilege gate -> every named building visible? -> lock the
 *   target site -> lock the buildings ascending (FOR UPDATE: site_id is part
 *   of their unique key (site_id, name)) -> names clash at the target? ->
 *   lock their racks ascending -> lock their devices ascending -> write
 *   buildings, racks, devices -> audit row + NOTIFY.
 *
 * Nothing can join a building we hold: every fill locks the building (KEY
 * SHARE or NO KEY UPDATE), which conflicts with FOR UPDATE. Something may
 * leave it meanwhile (a rack moved by a call that locks the rack, a device
 * by one that locks the device): what the cascade writes is read under the
 * locks of the racks and devices themselves.
 */
#include "fleet_sites.h"

#include "catalog/pg_type.h"
#include "utils/acl.h"
#include "utils/builtins.h"

static const char *const function_name = "fleet_assign_buildings_to_site";

static int
compare_cstrings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Two moving buildings of one name, or a building at the target with the
 * name of a moving one: the unique key (site_id, name) would be broken.
 */
static void
check_names(FleetRef target, char **names, int count)
{
	char	  **sorted = palloc(sizeof(char *) * (count + 1));
	Datum	   *datums = palloc(sizeof(Datum) * (count + 1));
	Datum		values[2];
	int			i;

	if (!target.is_set || count == 0)
		return;
	memcpy(sorted, names, sizeof(char *) * count);
	qsort(sorted, count, sizeof(char *), compare_cstrings);
	for (i = 1; i < count; i++)
		if (strcmp(sorted[i], sorted[i - 1]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("two buildings named \"%s\" would stand at site %lld",
							sorted[i], (long long) target.id),
					 errdetail("Both are in the batch; building names are unique per site.")));

	for (i = 0; i < count; i++)
		datums[i] = CStringGetTextDatum(names[i]);
	values[0] = Int64GetDatum(target.id);
	values[1] = PointerGetDatum(construct_array(datums, count, TEXTOID, -1, false,
												TYPALIGN_INT));
	if (fleet_run(FLEET_PLAN_NAME_CLASH, values, NULL, 1) > 0)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("site %lld already has a building named \"%s\"",
						(long long) target.id, name),
				 errdetail("Building names are unique per site.")));
	}
	SPI_freetuptable(SPI_tuptable);
}

static int64
audit_buildings_move(const FleetIdSet *named, FleetRef target, int building_count,
					 int rack_count, int device_count)
{
	StringInfoData description;
	StringInfoData metadata;

	initStringInfo(&description);
	if (target.is_set)
		appendStringInfo(&description, "Assigned %d building(s) to site %lld",
						 named->count, (long long) target.id);
	else
		appendStringInfo(&description, "Assigned %d building(s) to site Unassigned",
						 named->count);
	appendStringInfo(&description, " (%d rack(s), %d device(s) cascaded)",
					 rack_count, device_count);

	initStringInfo(&metadata);
	appendStringInfoString(&metadata, "{\"target_site_id\": ");
	fleet_json_ref(&metadata, target);
	fleet_json_id_sample(&metadata, "building_ids", named->sorted, named->count);
	appendStringInfo(&metadata,
					 ", \"building_count\": %d, \"rack_count\": %d, \"device_count\": %d}",
					 building_count, rack_count, device_count);

	return fleet_write_activity("buildings.assigned_to_site", target, description.data,
								metadata.data);
}

PG_FUNCTION_INFO_V1(fleet_assign_buildings_to_site);

Datum
fleet_assign_buildings_to_site(PG_FUNCTION_ARGS)
{
	FleetIdSet *named;
	FleetRef	target;
	Datum		values[1];
	uint64		n;
	uint64		row;
	int64	   *moving;
	char	  **moving_names;
	int			moving_count = 0;
	FleetLockedRacks *racks;
	int64	   *moving_racks;
	int64	   *all_racks;
	int			rack_changes = 0;
	FleetLockedDevices *devices;
	FleetPlacement *placement;
	bool	   *chosen;
	int			device_changes = 0;
	FleetDeviceWrite write;
	int			i;
	int64		activity_id;
	Datum		result;

	named = fleet_read_id_array(fcinfo, 0, "building", -1, -1, false);
	target = fleet_read_target(fcinfo, 1, "site");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!fleet_catalog()->has_buildings)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"fleet_sites\" has no buildings before version 1.1"),
				 errhint("ALTER EXTENSION fleet_sites UPDATE;")));

	fleet_require_privilege(FLEET_REL_BUILDING, ACL_UPDATE, "building manage", function_name);
	fleet_require_privilege(FLEET_REL_RACK, ACL_UPDATE, "rack manage", function_name);
	fleet_require_privilege(FLEET_REL_DEVICE, ACL_UPDATE, "site manage", function_name);
	fleet_require_privilege(FLEET_REL_BUILDING, ACL_SELECT, "read", function_name);
	fleet_require_privilege(FLEET_REL_RACK, ACL_SELECT, "read", function_name);
	fleet_require_privilege(FLEET_REL_DEVICE, ACL_SELECT, "read", function_name);
	fleet_require_privilege(FLEET_REL_MEMBERSHIP, ACL_SELECT, "read", function_name);
	fleet_check_ids_visible(FLEET_PLAN_BUILDINGS_VISIBLE, named, "building");

	/* Level 1: the target site; moves of buildings into it take turns. */
	if (target.is_set)
	{
		fleet_check_target_visible(FLEET_REL_SITE, target.id, "site");
		fleet_lock_site_for_buildings(target.id);
	}

	/* Level 2: the buildings, ascending; those not at the target move. */
	values[0] = named->sorted_array;
	n = fleet_run(FLEET_PLAN_LOCK_BUILDINGS, values, NULL, 0);
	moving = palloc(sizeof(int64) * (n + 1));
	moving_names = palloc(sizeof(char *) * (n + 1));
	{
		int			j = 0;

		for (row = 0; row < n; row++)
		{
			bool		isnull;
			int64		id = fleet_get_int64(row, 1, &isnull);

			/* Named ids come back ascending; the first one missing is gone. */
			if (j < named->count && named->sorted[j] < id)
				ereport(ERROR,
						(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
						 errmsg("building %lld does not exist", (long long) named->sorted[j])));
			j++;
			if (fleet_ref_eq(fleet_get_ref(row, 2), target))
				continue;
			moving[moving_count] = id;
			moving_names[moving_count] = SPI_getvalue(SPI_tuptable->vals[row],
													  SPI_tuptable->tupdesc, 3);
			moving_count++;
		}
		if (j < named->count)
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("building %lld does not exist", (long long) named->sorted[j])));
	}
	SPI_freetuptable(SPI_tuptable);
	check_names(target, moving_names, moving_count);

	/* Level 3: the racks standing in the moving buildings. */
	racks = fleet_lock_racks(FLEET_PLAN_LOCK_BUILDINGS_RACKS,
							 fleet_int64_array(moving, moving_count), NULL);
	moving_racks = palloc(sizeof(int64) * (racks->count + 1));
	all_racks = palloc(sizeof(int64) * (racks->count + 1));
	for (i = 0; i < racks->count; i++)
	{
		all_racks[i] = racks->ids[i];
		if (!fleet_ref_eq(racks->sites[i], target))
			moving_racks[rack_changes++] = racks->ids[i];
	}

	/* Level 4: their devices; those still in a moving building or its racks. */
	devices = fleet_lock_members(FLEET_PLAN_BUILDING_DEVICE_IDS,
								 fleet_int64_array(moving, moving_count));
	placement = fleet_read_placement(devices);
	write.set_site = true;
	write.site = target;
	write.set_building = false;
	write.building = fleet_ref(false, 0);
	chosen = palloc0(sizeof(bool) * (devices->count + 1));
	for (i = 0; i < devices->count; i++)
	{
		if ((devices->buildings[i].is_set &&
			 fleet_ids_contain(moving, moving_count, devices->buildings[i].id)) ||
			(placement[i].racked &&
			 fleet_ids_contain(all_racks, racks->count, placement[i].rack_id)))
		{
			chosen[i] = true;
			if (fleet_device_changes(devices, i, write))
				device_changes++;
		}
	}

	/* The writes, top down. */
	fleet_write_buildings_site(moving, moving_count, target);
	fleet_write_racks(moving_racks, rack_changes, true, target, false, fleet_ref(false, 0),
					  NULL, NULL, NULL);
	fleet_write_devices(devices, chosen, write);

	activity_id = audit_buildings_move(named, target, moving_count, rack_changes,
									   device_changes);
	SPI_finish();
	/* After SPI_finish: the tuple must outlive SPI's memory. */
	result = fleet_cascade_result(fcinfo, moving_count, rack_changes, device_changes);
	fleet_remember_activity(activity_id);
	return result;
}
