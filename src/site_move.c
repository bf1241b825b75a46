/*
 * site_move.c: fleet_assign_devices_to_site(ids, target, force_clear).
 *
 * The whole move is one call in the caller's transaction:
 *   validate -> privilege gate -> target visible? -> lock site
 *   -> lock devices (ascending id) -> placement and conflicts among the
 *   locked rows -> [force: delete exactly the conflicting memberships]
 *   -> set sites (and clear buildings that stay behind) -> audit + NOTIFY.
 * It either applies the whole batch and returns no rows, or writes nothing
 * and returns the conflicts. The number of statements is fixed, whatever
 * the number of ids.
 *
 * The building rule: a device keeps its building only where that building
 * stands at the target (NULL-aware); a device that stays in its rack keeps
 * its rack's building, which by the invariant is its own. The building rows
 * are read, not locked: a building changes site only by a move that locks
 * the devices in it first, which waits for ours.
 */
#include "fleet_sites.h"

#include "utils/acl.h"

static const char *const function_name = "fleet_assign_devices_to_site";

static int64
audit_site_move(const FleetIdList *ids, int device_count, FleetRef target,
				const FleetConflictList *cleared, int cleared_count, int building_cleared)
{
	StringInfoData description;
	StringInfoData metadata;

	initStringInfo(&description);
	if (target.is_set)
		appendStringInfo(&description, "Reassigned %d device(s) to site %lld",
						 device_count, (long long) target.id);
	else
		appendStringInfo(&description, "Reassigned %d device(s) to site Unassigned",
						 device_count);

	initStringInfo(&metadata);
	appendStringInfoString(&metadata, "{\"target_site_id\": ");
	fleet_json_ref(&metadata, target);
	fleet_append_device_sample(&metadata, ids, device_count);
	fleet_append_force_cleared(&description, &metadata, cleared, cleared_count);
	if (building_cleared > 0)
		appendStringInfo(&metadata, ", \"building_cleared_device_count\": %d",
						 building_cleared);
	appendStringInfoChar(&metadata, '}');

	return fleet_write_activity("devices.reassigned_to_site", target,
								description.data, metadata.data);
}

PG_FUNCTION_INFO_V1(fleet_assign_devices_to_site);

Datum
fleet_assign_devices_to_site(PG_FUNCTION_ARGS)
{
	FleetIdList *ids;
	FleetRef	target;
	bool		force_clear;
	FleetLockedDevices *locked;
	FleetPlacement *placement;
	FleetConflictList *conflicts;
	bool	   *stays_racked;
	bool	   *loses_building;
	int			cleared_count = 0;
	int			building_cleared = 0;
	int			i;
	FleetDeviceWrite keep;
	FleetDeviceWrite clear;
	int64		activity_id;

	/* 1. Input, before anything else. */
	ids = fleet_read_ids(fcinfo, 0);
	target = fleet_read_target(fcinfo, 1, "site");
	force_clear = fleet_read_force_clear(fcinfo, 2);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* 2. The privilege gate, before any lock. */
	fleet_require_privilege(FLEET_REL_DEVICE, ACL_UPDATE, "site manage", function_name);
	if (force_clear)
		fleet_require_privilege(FLEET_REL_MEMBERSHIP, ACL_DELETE, "rack manage",
								function_name);
	fleet_require_privilege(FLEET_REL_DEVICE, ACL_SELECT, "read", function_name);
	fleet_require_privilege(FLEET_REL_MEMBERSHIP, ACL_SELECT, "read", function_name);
	fleet_require_privilege(FLEET_REL_RACK, ACL_SELECT, "read", function_name);

	/* 3. Locks, in the one order (locks.c): site, then devices ascending. */
	if (target.is_set)
	{
		fleet_check_target_visible(FLEET_REL_SITE, target.id, "site");
		fleet_lock_site(target.id);
	}
	locked = fleet_lock_devices(ids, NULL);

	/* 4. Placement and conflicts, read under those locks. */
	placement = fleet_read_placement(locked);
	conflicts = fleet_conflicts_new();
	fleet_conflicts_add_not_found(conflicts, ids, locked);
	stays_racked = palloc0(sizeof(bool) * (locked->count + 1));
	for (i = 0; i < locked->count; i++)
	{
		if (!placement[i].racked)
			continue;
		if (fleet_ref_eq(placement[i].rack_site, target))
			stays_racked[i] = true;
		else
			fleet_conflicts_add_rack(conflicts, locked, i, &placement[i],
									 FLEET_DEVICE_IN_RACK_AT_OTHER_SITE);
	}
	fleet_conflicts_sort(conflicts);

	if (conflicts->count > 0)
	{
		/*
		 * 5/6. Without force, every conflict is returned. With force, any
		 * residual conflict aborts before a single membership is deleted and
		 * only the residual ones are returned.
		 */
		if (!force_clear ||
			!fleet_conflicts_all_of(conflicts, FLEET_DEVICE_IN_RACK_AT_OTHER_SITE))
		{
			fleet_conflicts_return(fcinfo, conflicts, force_clear,
								   FLEET_DEVICE_IN_RACK_AT_OTHER_SITE);
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

	/*
	 * 7. Apply: the site for all; the building kept where it stands at the
	 * target or the device stays in its rack, cleared otherwise.
	 */
	loses_building = palloc0(sizeof(bool) * (locked->count + 1));
	for (i = 0; i < locked->count; i++)
		if (locked->buildings[i].is_set && !stays_racked[i] &&
			!fleet_ref_eq(placement[i].building_site, target))
		{
			loses_building[i] = true;
			building_cleared++;
		}
	keep.set_site = true;
	keep.site = target;
	keep.set_building = false;
	keep.building = fleet_ref(false, 0);
	clear = keep;
	clear.set_building = true;
	if (building_cleared > 0)
	{
		bool	   *keeps = palloc(sizeof(bool) * (locked->count + 1));

		for (i = 0; i < locked->count; i++)
			keeps[i] = !loses_building[i];
		fleet_write_devices(locked, loses_building, clear);
		fleet_write_devices(locked, keeps, keep);
	}
	else
		fleet_write_devices(locked, NULL, keep);

	activity_id = audit_site_move(ids, locked->count, target, conflicts, cleared_count,
								  building_cleared);

	fleet_return_nothing(fcinfo);
	SPI_finish();
	fleet_remember_activity(activity_id);
	return (Datum) 0;
}
