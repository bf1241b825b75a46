/*
 * racks_move.c: fleet_assign_racks_to_site(rack_ids, target) and
 * fleet_assign_racks_to_building(rack_ids, target_building, aisle_indexes,
 * positions_in_aisle).
 *
 * Whole racks move with their members, in one call:
 *   validate -> privilege gate -> every named rack visible? (23503, the
 *   smallest that is not) -> lock the target (site; or the building's site,
 *   then the building) -> lock the racks ascending -> capacity and
 *   positions, under the building's lock -> lock the members of the racks
 *   that change site or building, ascending -> write racks, then devices ->
 *   audit row + NOTIFY.
 * A fixed number of statements, whatever the number of racks and devices.
 *
 * Which members a cascade writes is read once they are locked: a device
 * that left a rack between the rack lock and its own lock (a site move's
 * force clear holds the device, not the rack) is not dragged along. No
 * device can join a rack we hold: every fill locks the rack.
 */
#include "fleet_sites.h"

#include "utils/acl.h"

static void
require_container_privileges(const char *function_name, bool buildings)
{
	fleet_require_privilege(FLEET_REL_RACK, ACL_UPDATE, "rack manage", function_name);
	fleet_require_privilege(FLEET_REL_DEVICE, ACL_UPDATE, "site manage", function_name);
	fleet_require_privilege(FLEET_REL_RACK, ACL_SELECT, "read", function_name);
	fleet_require_privilege(FLEET_REL_DEVICE, ACL_SELECT, "read", function_name);
	fleet_require_privilege(FLEET_REL_MEMBERSHIP, ACL_SELECT, "read", function_name);
	if (buildings)
		fleet_require_privilege(FLEET_REL_BUILDING, ACL_SELECT, "read", function_name);
}

static void
require_buildings_schema(void)
{
	if (!fleet_catalog()->has_buildings)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"fleet_sites\" has no buildings before version 1.1"),
				 errhint("ALTER EXTENSION fleet_sites UPDATE;")));
}

/*
 * Lock the members of these racks and give those still in one of them the
 * write; returns how many devices it changed.
 */
static int
cascade_to_members(const int64 *rack_ids, int rack_count, FleetDeviceWrite write)
{
	FleetLockedDevices *members;
	FleetPlacement *placement;
	bool	   *chosen;
	int			changed = 0;
	int			i;

	if (rack_count == 0)
		return 0;
	members = fleet_lock_members(FLEET_PLAN_RACK_MEMBER_IDS,
								 fleet_int64_array(rack_ids, rack_count));
	placement = fleet_read_placement(members);
	chosen = palloc0(sizeof(bool) * (members->count + 1));
	for (i = 0; i < members->count; i++)
		if (placement[i].racked &&
			fleet_ids_contain(rack_ids, rack_count, placement[i].rack_id))
		{
			chosen[i] = true;
			if (fleet_device_changes(members, i, write))
				changed++;
		}
	fleet_write_devices(members, chosen, write);
	return changed;
}

static int64
audit_racks_move(const char *event_type, const char *target_key, const char *target_kind,
				 FleetRef target, FleetRef site, const int64 *listed_ids, int named,
				 int rack_count, int device_count)
{
	StringInfoData description;
	StringInfoData metadata;

	initStringInfo(&description);
	if (target.is_set)
		appendStringInfo(&description, "Assigned %d rack(s) to %s %lld", named, target_kind,
						 (long long) target.id);
	else
		appendStringInfo(&description, "Assigned %d rack(s) to %s Unassigned", named,
						 target_kind);
	appendStringInfo(&description, " (%d device(s) cascaded)", device_count);

	initStringInfo(&metadata);
	appendStringInfo(&metadata, "{\"%s\": ", target_key);
	fleet_json_ref(&metadata, target);
	fleet_json_id_sample(&metadata, "rack_ids", listed_ids, named);
	appendStringInfo(&metadata, ", \"rack_count\": %d, \"device_count\": %d}",
					 rack_count, device_count);

	return fleet_write_activity(event_type, site, description.data, metadata.data);
}

PG_FUNCTION_INFO_V1(fleet_assign_racks_to_site);

Datum
fleet_assign_racks_to_site(PG_FUNCTION_ARGS)
{
	static const char *const function_name = "fleet_assign_racks_to_site";
	FleetIdSet *named;
	FleetRef	target;
	FleetLockedRacks *racks;
	int64	   *moving;
	int			moving_count = 0;
	int			device_count;
	FleetDeviceWrite write;
	int			i;
	int64		activity_id;
	Datum		result;

	named = fleet_read_id_array(fcinfo, 0, "rack", -1, -1, false);
	target = fleet_read_target(fcinfo, 1, "site");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	require_buildings_schema();
	require_container_privileges(function_name, false);
	fleet_check_ids_visible(FLEET_PLAN_RACK_IDS_VISIBLE, named, "rack");

	/* Locks: the target site, the racks ascending, then their members. */
	if (target.is_set)
	{
		fleet_check_target_visible(FLEET_REL_SITE, target.id, "site");
		fleet_lock_site(target.id);
	}
	racks = fleet_lock_racks(FLEET_PLAN_LOCK_RACKS, named->sorted_array, named);

	/* A rack already at the target is left exactly as it is. */
	moving = palloc(sizeof(int64) * (racks->count + 1));
	for (i = 0; i < racks->count; i++)
		if (!fleet_ref_eq(racks->sites[i], target))
			moving[moving_count++] = racks->ids[i];

	/* Members follow to the site and leave the building with their rack. */
	write.set_site = true;
	write.site = target;
	write.set_building = true;
	write.building = fleet_ref(false, 0);
	device_count = cascade_to_members(moving, moving_count, write);
	fleet_write_racks(moving, moving_count, true, target, true, fleet_ref(false, 0),
					  NULL, NULL, NULL);

	activity_id = audit_racks_move("racks.assigned_to_site", "target_site_id", "site",
								   target, target, named->sorted, named->count,
								   moving_count, device_count);
	SPI_finish();
	/* After SPI_finish: the tuple must outlive SPI's memory. */
	result = fleet_cascade_result(fcinfo, 0, moving_count, device_count);
	fleet_remember_activity(activity_id);
	return result;
}

/*
 * The position checks that need the locked building and racks: a layout to
 * place into (22023), every position inside it (22023), none held by a rack
 * that keeps its position (23505): one not in the batch, or one in the batch
 * that stays in the building and is given none.
 */
static void
check_positions(const FleetIdSet *named, const FleetLockedBuilding *building,
				const FleetLockedRacks *racks, int other_count,
				const int32 *other_aisle, const int32 *other_position)
{
	int			i;
	int			j;

	for (i = 0; i < named->count; i++)
	{
		if (!named->has_position[i])
			continue;
		if (!building->has_layout)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("building %lld has no layout, so rack %lld cannot be given a position",
							(long long) building->building_id, (long long) named->sorted[i])));
		if (named->aisle_index[i] >= building->aisle_count ||
			named->position_in_aisle[i] >= building->racks_per_aisle)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("position (%d, %d) of rack %lld is outside building %lld",
							named->aisle_index[i], named->position_in_aisle[i],
							(long long) named->sorted[i], (long long) building->building_id),
					 errdetail("Its aisle indexes run from 0 to %d, its positions from 0 to %d.",
							   building->aisle_count - 1, building->racks_per_aisle - 1)));
	}

	/* Holders: racks outside the batch, and batch racks keeping their place. */
	for (i = 0; i < named->count; i++)
	{
		if (!named->has_position[i])
			continue;
		for (j = 0; j < other_count; j++)
			if (other_aisle[j] == named->aisle_index[i] &&
				other_position[j] == named->position_in_aisle[i])
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("position (%d, %d) of building %lld is taken",
								named->aisle_index[i], named->position_in_aisle[i],
								(long long) building->building_id),
						 errdetail("Rack %lld is given a position that a rack which keeps its position holds.",
								   (long long) named->sorted[i])));
		for (j = 0; j < racks->count; j++)
		{
			int			p = fleet_id_set_position(named, racks->ids[j]);

			if (p >= 0 && !named->has_position[p] && racks->has_position[j] &&
				fleet_ref_eq(racks->buildings[j], fleet_ref(true, building->building_id)) &&
				racks->aisle_index[j] == named->aisle_index[i] &&
				racks->position_in_aisle[j] == named->position_in_aisle[i])
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("position (%d, %d) of building %lld is taken",
								named->aisle_index[i], named->position_in_aisle[i],
								(long long) building->building_id),
						 errdetail("Rack %lld keeps it, and rack %lld is given it.",
								   (long long) racks->ids[j], (long long) named->sorted[i])));
		}
	}
}

PG_FUNCTION_INFO_V1(fleet_assign_racks_to_building);

Datum
fleet_assign_racks_to_building(PG_FUNCTION_ARGS)
{
	static const char *const function_name = "fleet_assign_racks_to_building";
	FleetIdSet *named;
	FleetRef	target;
	FleetLockedBuilding building;
	FleetLockedRacks *racks;
	int64	   *changed_racks;
	bool	   *new_has_position;
	int32	   *new_aisle;
	int32	   *new_position;
	int			changed_count = 0;
	int64	   *relocated;		/* racks whose site or building changes */
	int			relocated_count = 0;
	int			device_count;
	FleetDeviceWrite write;
	int			i;
	int64		activity_id;
	Datum		result;

	target = fleet_read_target(fcinfo, 1, "building");
	named = fleet_read_id_array(fcinfo, 0, "rack", 2, 3, target.is_set);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	require_buildings_schema();
	require_container_privileges(function_name, true);
	fleet_check_ids_visible(FLEET_PLAN_RACK_IDS_VISIBLE, named, "rack");

	/* Locks: the building's site, the building, the racks, their members. */
	memset(&building, 0, sizeof(building));
	if (target.is_set)
	{
		fleet_check_target_visible(FLEET_REL_BUILDING, target.id, "building");
		fleet_lock_building_for_racks(target.id, &building);
	}
	racks = fleet_lock_racks(FLEET_PLAN_LOCK_RACKS, named->sorted_array, named);

	if (target.is_set)
	{
		Datum		values[1];
		uint64		n;
		uint64		row;
		int			others = 0;
		int32	   *other_aisle;
		int32	   *other_position;

		/* The racks in the building now that are not in the batch. */
		values[0] = Int64GetDatum(target.id);
		n = fleet_run(FLEET_PLAN_BUILDING_POSITIONS, values, NULL, 0);
		other_aisle = palloc(sizeof(int32) * (n + 1));
		other_position = palloc(sizeof(int32) * (n + 1));
		for (row = 0; row < n; row++)
		{
			bool		isnull;
			int64		id = fleet_get_int64(row, 1, &isnull);
			int32		aisle = fleet_get_int32(row, 2, &isnull);

			if (fleet_id_set_position(named, id) >= 0)
				continue;
			if (!isnull)
			{
				other_aisle[others] = aisle;
				other_position[others] = fleet_get_int32(row, 3, &isnull);
			}
			else
			{
				other_aisle[others] = -1;
				other_position[others] = -1;
			}
			others++;
		}
		SPI_freetuptable(SPI_tuptable);

		if (building.has_layout &&
			others + named->count > building.aisle_count * building.racks_per_aisle)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg_plural("building %lld is full: it holds at most %d rack",
								   "building %lld is full: it holds at most %d racks",
								   building.aisle_count * building.racks_per_aisle,
								   (long long) target.id,
								   building.aisle_count * building.racks_per_aisle),
					 errdetail_plural("The move would put %d rack into it.",
									  "The move would put %d racks into it.",
									  named->count, named->count)));
		if (named->positions_given)
			check_positions(named, &building, racks, others, other_aisle, other_position);
	}

	/* Each rack's new place; which racks change at all. */
	changed_racks = palloc(sizeof(int64) * (racks->count + 1));
	new_has_position = palloc0(sizeof(bool) * (racks->count + 1));
	new_aisle = palloc0(sizeof(int32) * (racks->count + 1));
	new_position = palloc0(sizeof(int32) * (racks->count + 1));
	relocated = palloc(sizeof(int64) * (racks->count + 1));
	for (i = 0; i < racks->count; i++)
	{
		int			p = fleet_id_set_position(named, racks->ids[i]);
		bool		stays_in_target = fleet_ref_eq(racks->buildings[i], target);
		bool		has_position = false;
		int32		aisle = 0;
		int32		position = 0;
		bool		relocates;

		if (target.is_set && named->has_position[p])
		{
			has_position = true;
			aisle = named->aisle_index[p];
			position = named->position_in_aisle[p];
		}
		else if (target.is_set && stays_in_target && racks->has_position[i])
		{
			has_position = true;
			aisle = racks->aisle_index[i];
			position = racks->position_in_aisle[i];
		}

		relocates = !stays_in_target ||
			(target.is_set && !fleet_ref_eq(racks->sites[i], building.site));
		if (relocates)
			relocated[relocated_count++] = racks->ids[i];
		if (relocates || has_position != racks->has_position[i] ||
			(has_position && (aisle != racks->aisle_index[i] ||
							  position != racks->position_in_aisle[i])))
		{
			changed_racks[changed_count] = racks->ids[i];
			new_has_position[changed_count] = has_position;
			new_aisle[changed_count] = aisle;
			new_position[changed_count] = position;
			changed_count++;
		}
	}

	/*
	 * Members of the racks that change site or building take the rack's new
	 * place: into the building and onto its site, or out of any building with
	 * their site kept.
	 */
	write.set_site = target.is_set;
	write.site = building.site;
	write.set_building = true;
	write.building = target;
	device_count = cascade_to_members(relocated, relocated_count, write);
	fleet_write_racks(changed_racks, changed_count, target.is_set, building.site, true, target,
					  new_has_position, new_aisle, new_position);

	activity_id = audit_racks_move("racks.assigned_to_building", "target_building_id",
								   "building", target, building.site,
								   named->positions_given ? named->in_input_order : named->sorted,
								   named->count, changed_count, device_count);
	SPI_finish();
	/* After SPI_finish: the tuple must outlive SPI's memory. */
	result = fleet_cascade_result(fcinfo, 0, changed_count, device_count);
	fleet_remember_activity(activity_id);
	return result;
}
