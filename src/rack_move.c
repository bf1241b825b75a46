/*
 * rack_move.c: fleet_assign_devices_to_rack(ids, target_rack, force_clear,
 * row_indexes, column_indexes).
 *
 * Devices join the target rack (leaving any other rack; the old slot goes
 * with the old membership) and take the rack's site and building. A device
 * already in the target keeps its membership, and its slot unless it is
 * given a new one. A NULL target takes the devices out of whatever rack they
 * are in and leaves their sites and buildings alone.
 *
 *   validate -> privilege gate -> target visible? -> [no UPDATE right: would
 *   a site change? 42501 before waiting] -> lock the rack's site, its
 *   building, the rack -> lock devices (ascending id) -> conflicts ->
 *   capacity and slots, under the rack lock -> leave other racks -> set
 *   sites and buildings -> join -> slots -> audit row + NOTIFY.
 *
 * All or nothing, a fixed number of statements, through the same lock and
 * placement code as the other moves. The 1.0 form of the function (three
 * arguments) is served by the same code: PG_NARGS() says which it is.
 */
#include "fleet_sites.h"

#include "miscadmin.h"
#include "utils/acl.h"

static const char *const function_name = "fleet_assign_devices_to_rack";

/* Who is in the target rack now (read under the rack lock). */
typedef struct RackMembers
{
	int			count;
	int64	   *device_ids;
	bool	   *has_slot;
	int32	   *row_index;
	int32	   *column_index;
} RackMembers;

static RackMembers *
read_rack_members(int64 rack_id)
{
	RackMembers *members = palloc(sizeof(RackMembers));
	Datum		values[1];
	uint64		n;
	uint64		i;

	values[0] = Int64GetDatum(rack_id);
	n = fleet_run(FLEET_PLAN_RACK_MEMBERS, values, NULL, 0);
	members->count = (int) n;
	members->device_ids = palloc(sizeof(int64) * (n + 1));
	members->has_slot = palloc(sizeof(bool) * (n + 1));
	members->row_index = palloc(sizeof(int32) * (n + 1));
	members->column_index = palloc(sizeof(int32) * (n + 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		members->device_ids[i] = fleet_get_int64(i, 1, &isnull);
		members->row_index[i] = fleet_get_int32(i, 2, &isnull);
		members->has_slot[i] = !isnull;
		members->column_index[i] = fleet_get_int32(i, 3, &isnull);
	}
	SPI_freetuptable(SPI_tuptable);
	return members;
}

/*
 * The slot checks that need the locked rack: each given slot inside it
 * (22023), and none held by a device that keeps its slot (23505): a member
 * not in the batch, or one in the batch that is given no slot.
 */
static void
check_slots(const FleetIdList *ids, const FleetLockedDevices *locked,
			const FleetLockedRack *rack, const RackMembers *members, const bool *given_slot)
{
	int			i;
	int			j;

	for (i = 0; i < ids->count; i++)
	{
		if (!ids->has_slot[i])
			continue;
		if (ids->row_index[i] >= rack->row_count || ids->column_index[i] >= rack->column_count)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("slot (%d, %d) of device \"%s\" is outside rack %lld",
							ids->row_index[i], ids->column_index[i], ids->sorted[i],
							(long long) rack->rack_id),
					 errdetail("Its row indexes run from 0 to %d, its column indexes from 0 to %d.",
							   rack->row_count - 1, rack->column_count - 1)));
	}

	for (j = 0; j < members->count; j++)
	{
		int			position;

		if (!members->has_slot[j])
			continue;
		position = fleet_locked_position(locked, members->device_ids[j]);
		if (position >= 0 && given_slot[position])
			continue;			/* it moves out of this slot */
		for (i = 0; i < ids->count; i++)
			if (ids->has_slot[i] &&
				ids->row_index[i] == members->row_index[j] &&
				ids->column_index[i] == members->column_index[j])
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("slot (%d, %d) of rack %lld is taken",
								ids->row_index[i], ids->column_index[i],
								(long long) rack->rack_id),
						 errdetail("Device \"%s\" is given a slot that a device which keeps its slot holds.",
								   ids->sorted[i])));
	}
}

static int64
audit_rack_move(const FleetIdList *ids, int device_count, const FleetLockedRack *rack,
				int site_changes, int slotted)
{
	StringInfoData description;
	StringInfoData metadata;

	initStringInfo(&description);
	initStringInfo(&metadata);
	if (rack != NULL)
	{
		appendStringInfo(&description, "Assigned %d device(s) to rack %lld",
						 device_count, (long long) rack->rack_id);
		appendStringInfo(&metadata, "{\"rack_id\": %lld", (long long) rack->rack_id);
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
	if (ids->slots_given)
		appendStringInfo(&metadata, ", \"slotted_device_count\": %d", slotted);
	appendStringInfoChar(&metadata, '}');

	return fleet_write_activity(rack != NULL ? "devices.assigned_to_rack"
								: "devices.removed_from_rack",
								rack != NULL ? rack->site : fleet_ref(false, 0),
								description.data, metadata.data);
}

static void
require_device_update(void)
{
	fleet_require_privilege(FLEET_REL_DEVICE, ACL_UPDATE, "site manage", function_name);
}

PG_FUNCTION_INFO_V1(fleet_assign_devices_to_rack);

Datum
fleet_assign_devices_to_rack(PG_FUNCTION_ARGS)
{
	FleetIdList *ids;
	FleetRef	target;
	bool		force_clear;
	bool		caller_may_update_devices;
	FleetSeenDevices *seen = NULL;
	FleetLockedRack rack;
	FleetLockedDevices *locked;
	FleetPlacement *placement;
	FleetConflictList *conflicts;
	FleetDeviceWrite write;
	RackMembers *members;
	bool	   *in_target;
	bool	   *given_slot;
	int64	   *leaving;
	int			leaving_count = 0;
	int64	   *joining;
	int			joining_count = 0;
	int64	   *reslotted;
	int			reslotted_count = 0;
	int64	   *slot_devices;
	int32	   *slot_rows;
	int32	   *slot_columns;
	int			slotted = 0;
	int			other_members;
	int			site_changes = 0;
	int			i;
	int64		activity_id;

	/* Input, before anything else. */
	target = fleet_read_target(fcinfo, 1, "rack");
	ids = fleet_read_ids_with_slots(fcinfo, 0, 3, 4, target.is_set);
	force_clear = fleet_read_force_clear(fcinfo, 2);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * The privilege gate, before any lock. UPDATE on fleet_device is needed
	 * only if some device's site or building changes; see below.
	 */
	fleet_require_privilege(FLEET_REL_MEMBERSHIP, ACL_INSERT, "rack manage", function_name);
	fleet_require_privilege(FLEET_REL_MEMBERSHIP, ACL_DELETE, "rack manage", function_name);
	if (ids->slots_given)
	{
		fleet_require_privilege(FLEET_REL_SLOT, ACL_INSERT, "rack manage", function_name);
		fleet_require_privilege(FLEET_REL_SLOT, ACL_DELETE, "rack manage", function_name);
		/* Moving a member's slot deletes it by rack and device: a read. */
		fleet_require_privilege(FLEET_REL_SLOT, ACL_SELECT, "read", function_name);
	}
	fleet_require_privilege(FLEET_REL_DEVICE, ACL_SELECT, "read", function_name);
	fleet_require_privilege(FLEET_REL_MEMBERSHIP, ACL_SELECT, "read", function_name);
	fleet_require_privilege(FLEET_REL_RACK, ACL_SELECT, "read", function_name);
	caller_may_update_devices = fleet_has_privilege(FLEET_REL_DEVICE, ACL_UPDATE);

	if (target.is_set)
		fleet_check_target_visible(FLEET_REL_RACK, target.id, "rack");

	/*
	 * A caller without UPDATE on fleet_device may only move devices whose
	 * site and building do not change. When the committed rows already say
	 * that the call would apply (every device found, no DEVICE_LOSES_SITE it
	 * would stop at) and change one, report it now rather than after waiting
	 * for other movers' locks. The same test is made again under the locks.
	 */
	if (!caller_may_update_devices)
	{
		seen = fleet_read_devices(ids);
		if (target.is_set && seen->count == ids->count)
		{
			FleetLockedRack now;
			bool		would_apply = true;
			bool		would_change = false;

			fleet_peek_rack(target.id, &now);
			for (i = 0; i < seen->count; i++)
			{
				if (!now.site.is_set && seen->sites[i].is_set && !force_clear)
					would_apply = false;
				if (!fleet_ref_eq(seen->sites[i], now.site) ||
					!fleet_ref_eq(seen->buildings[i], now.building))
					would_change = true;
			}
			if (would_apply && would_change)
				require_device_update();
		}
	}

	/* Locks, in the one order (locks.c): site, building, rack, devices. */
	if (target.is_set)
		fleet_lock_rack(target.id, &rack);
	locked = fleet_lock_devices(ids, seen);

	/* Conflicts, among the locked rows. */
	conflicts = fleet_conflicts_new();
	fleet_conflicts_add_not_found(conflicts, ids, locked);
	if (target.is_set && !rack.site.is_set)
	{
		FleetPlacement the_target;

		memset(&the_target, 0, sizeof(the_target));
		the_target.racked = true;
		the_target.rack_id = rack.rack_id;
		the_target.rack_site = rack.site;
		the_target.rack_building = rack.building;
		the_target.rack_visible = true;
		for (i = 0; i < locked->count; i++)
			if (locked->sites[i].is_set)
				fleet_conflicts_add_rack(conflicts, locked, i, &the_target,
										 FLEET_DEVICE_LOSES_SITE);
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

	placement = fleet_read_placement(locked);
	leaving = palloc(sizeof(int64) * (locked->count + 1));

	if (!target.is_set)
	{
		/* Out of every rack; sites and buildings stay as they are. */
		for (i = 0; i < locked->count; i++)
			if (placement[i].racked)
				leaving[leaving_count++] = locked->ids[i];
		fleet_clear_memberships(locked, leaving, leaving_count);
		activity_id = audit_rack_move(ids, locked->count, NULL, 0, 0);
		fleet_return_nothing(fcinfo);
		SPI_finish();
		fleet_remember_activity(activity_id);
		return (Datum) 0;
	}

	/*
	 * Capacity and slots, read under the rack lock: concurrent fills take
	 * turns.
	 */
	in_target = palloc0(sizeof(bool) * (locked->count + 1));
	given_slot = palloc0(sizeof(bool) * (locked->count + 1));
	for (i = 0; i < locked->count; i++)
	{
		if (placement[i].racked && placement[i].rack_id == rack.rack_id)
			in_target[i] = true;
		else if (placement[i].racked)
			leaving[leaving_count++] = locked->ids[i];
		if (ids->slots_given)
		{
			int			position = fleet_id_position(ids, locked->identifiers[i]);

			given_slot[i] = position >= 0 && ids->has_slot[position];
		}
	}
	members = read_rack_members(rack.rack_id);
	other_members = members->count;
	for (i = 0; i < locked->count; i++)
		if (in_target[i])
			other_members--;
	if (other_members + locked->count > rack.row_count * rack.column_count)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg_plural("rack %lld is full: it holds at most %d device",
							   "rack %lld is full: it holds at most %d devices",
							   rack.row_count * rack.column_count,
							   (long long) rack.rack_id, rack.row_count * rack.column_count),
				 errdetail_plural("The move would put %d device into it.",
								  "The move would put %d devices into it.",
								  locked->count, locked->count)));
	if (ids->slots_given)
		check_slots(ids, locked, &rack, members, given_slot);

	/* The devices take the rack's site and building. */
	write.set_site = true;
	write.site = rack.site;
	write.set_building = true;
	write.building = rack.building;
	for (i = 0; i < locked->count; i++)
		if (fleet_device_changes(locked, i, write))
		{
			if (!caller_may_update_devices)
				require_device_update();
			if (!fleet_ref_eq(locked->sites[i], rack.site))
				site_changes++;
		}

	/* Writes: leave other racks, take the rack's placement, join, slots. */
	fleet_clear_memberships(locked, leaving, leaving_count);
	fleet_write_devices(locked, NULL, write);
	joining = palloc(sizeof(int64) * (locked->count + 1));
	reslotted = palloc(sizeof(int64) * (locked->count + 1));
	for (i = 0; i < locked->count; i++)
	{
		if (!in_target[i])
			joining[joining_count++] = locked->ids[i];
		else if (given_slot[i])
			reslotted[reslotted_count++] = locked->ids[i];
	}
	fleet_join_rack(rack.rack_id, joining, joining_count);
	if (ids->slots_given)
	{
		slot_devices = palloc(sizeof(int64) * (locked->count + 1));
		slot_rows = palloc(sizeof(int32) * (locked->count + 1));
		slot_columns = palloc(sizeof(int32) * (locked->count + 1));
		for (i = 0; i < locked->count; i++)
		{
			int			position;

			if (!given_slot[i])
				continue;
			position = fleet_id_position(ids, locked->identifiers[i]);
			slot_devices[slotted] = locked->ids[i];
			slot_rows[slotted] = ids->row_index[position];
			slot_columns[slotted] = ids->column_index[position];
			slotted++;
		}
		/* Old slots go first, so that devices of the batch may swap. */
		fleet_clear_slots(rack.rack_id, reslotted, reslotted_count);
		fleet_set_slots(rack.rack_id, slot_devices, slot_rows, slot_columns, slotted);
	}

	activity_id = audit_rack_move(ids, locked->count, &rack, site_changes, slotted);
	fleet_return_nothing(fcinfo);
	SPI_finish();
	fleet_remember_activity(activity_id);
	return (Datum) 0;
}
