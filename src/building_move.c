/*
 * building_move.c: fleet_assign_devices_to_building(ids, target_building,
 * force_clear).
 *
 * Devices move into a building: each takes building_id = target and the
 * building's site. A NULL target takes them out of their building and
 * leaves their site alone. A device in a rack of the target stays in its
 * rack; one in a rack of another building (or, for a NULL target, in any
 * rack that stands in a building) is DEVICE_IN_RACK_AT_OTHER_BUILDING, which
 * force_clear clears as the site move clears DEVICE_IN_RACK_AT_OTHER_SITE.
 *
 *   validate -> privilege gate -> target visible? -> lock the building's
 *   site, then the building -> lock devices (ascending id) -> placement and
 *   conflicts -> [force: delete the conflicting memberships] -> set
 *   buildings and sites -> audit row + NOTIFY.
 *
 * The same modules as the site move, the same all-or-nothing result.
 */
#include "fleet_sites.h"

#include "utils/acl.h"

static const char *const function_name = "fleet_assign_devices_to_building";

static int64
audit_building_move(const FleetIdList *ids, int device_count, FleetRef target,
					FleetRef site, int site_changes, const FleetConflictList *cleared,
					int cleared_count)
{
	StringInfoData description;
	StringInfoData metadata;

	initStringInfo(&description);
	if (target.is_set)
		appendStringInfo(&description, "Reassigned %d device(s) to building %lld",
						 device_count, (long long) target.id);
	else
		appendStringInfo(&description, "Reassigned %d device(s) to building Unassigned",
						 device_count);

	initStringInfo(&metadata);
	appendStringInfoString(&metadata, "{\"target_building_id\": ");
	fleet_json_ref(&metadata, target);
	fleet_append_device_sample(&metadata, ids, device_count);
	if (site_changes > 0)
		appendStringInfo(&metadata, ", \"site_changed_device_count\": %d", site_changes);
	fleet_append_force_cleared(&description, &metadata, cleared, cleared_count);
	appendStringInfoChar(&metadata, '}');

	return fleet_write_activity("devices.reassigned_to_building", site,
								description.data, metadata.data);
}

PG_FUNCTION_INFO_V1(fleet_assign_devices_to_building);

Datum
fleet_assign_devices_to_building(PG_FUNCTION_ARGS)
{
	FleetIdList *ids;
	FleetRef	target;
	bool		force_clear;
	FleetLockedBuilding building;
	FleetLockedDevices *locked;
	FleetPlacement *placement;
	FleetConflictList *conflicts;
	FleetDeviceWrite write;
	int			cleared_count = 0;
	int			site_changes = 0;
	int			i;
	int64		activity_id;

	ids = fleet_read_ids(fcinfo, 0);
	target = fleet_read_target(fcinfo, 1, "building");
	force_clear = fleet_read_force_clear(fcinfo, 2);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!fleet_catalog()->has_buildings)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"fleet_sites\" has no buildings before version 1.1"),
				 errhint("ALTER EXTENSION fleet_sites UPDATE;")));

	fleet_require_privilege(FLEET_REL_DEVICE, ACL_UPDATE, "site manage", function_name);
	if (force_clear)
		fleet_require_privilege(FLEET_REL_MEMBERSHIP, ACL_DELETE, "rack manage",
								function_name);
	fleet_require_privilege(FLEET_REL_DEVICE, ACL_SELECT, "read", function_name);
	fleet_require_privilege(FLEET_REL_MEMBERSHIP, ACL_SELECT, "read", function_name);
	fleet_require_privilege(FLEET_REL_RACK, ACL_SELECT, "read", function_name);
	fleet_require_privilege(FLEET_REL_BUILDING, ACL_SELECT, "read", function_name);

	/* Locks: the building's site, the building, the devices ascending. */
	building.site = fleet_ref(false, 0);
	if (target.is_set)
	{
		fleet_check_target_visible(FLEET_REL_BUILDING, target.id, "building");
		fleet_lock_building(target.id, &building);
	}
	locked = fleet_lock_devices(ids, NULL);

	placement = fleet_read_placement(locked);
	conflicts = fleet_conflicts_new();
	fleet_conflicts_add_not_found(conflicts, ids, locked);
	for (i = 0; i < locked->count; i++)
		if (placement[i].racked && !fleet_ref_eq(placement[i].rack_building, target))
			fleet_conflicts_add_rack(conflicts, locked, i, &placement[i],
									 FLEET_DEVICE_IN_RACK_AT_OTHER_BUILDING);
	fleet_conflicts_sort(conflicts);

	if (conflicts->count > 0)
	{
		if (!force_clear ||
			!fleet_conflicts_all_of(conflicts, FLEET_DEVICE_IN_RACK_AT_OTHER_BUILDING))
		{
			fleet_conflicts_return(fcinfo, conflicts, force_clear,
								   FLEET_DEVICE_IN_RACK_AT_OTHER_BUILDING);
			SPI_finish();
			return (Datum) 0;
		}
		{
			int64	   *cleared = palloc(sizeof(int64) * conflicts->count);

			for (i = 0; i < conflicts->count; i++)
				cleared[i] = conflicts->items[i].device_id;
			cleared_count = fleet_clear_memberships(locked, cleared, conflicts->count);
		}
	}

	/* Into the building and onto its site; or out of any building, site kept. */
	write.set_building = true;
	write.building = target;
	write.set_site = target.is_set;
	write.site = building.site;
	if (target.is_set)
		for (i = 0; i < locked->count; i++)
			if (!fleet_ref_eq(locked->sites[i], building.site))
				site_changes++;
	fleet_write_devices(locked, NULL, write);

	activity_id = audit_building_move(ids, locked->count, target, building.site,
									  site_changes, conflicts, cleared_count);
	fleet_return_nothing(fcinfo);
	SPI_finish();
	fleet_remember_activity(activity_id);
	return (Datum) 0;
}
