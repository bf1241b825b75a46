/*
 * conflicts.c: the per-device conflicts a move reports.
 *
 * Conflicts are collected in C, sorted by device identifier in byte order
 * (strcmp, whatever the database collation), and returned in materialize
 * mode as rows of fleet_conflict.
 */
#include "fleet_sites.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

static const char *const reason_labels[] = {
	[FLEET_DEVICE_NOT_FOUND] = "DEVICE_NOT_FOUND",
	[FLEET_DEVICE_IN_RACK_AT_OTHER_SITE] = "DEVICE_IN_RACK_AT_OTHER_SITE",
	[FLEET_DEVICE_LOSES_SITE] = "DEVICE_LOSES_SITE",
	[FLEET_DEVICE_IN_RACK_AT_OTHER_BUILDING] = "DEVICE_IN_RACK_AT_OTHER_BUILDING",
};

FleetConflictList *
fleet_conflicts_new(void)
{
	FleetConflictList *list = palloc(sizeof(FleetConflictList));

	list->count = 0;
	list->capacity = 16;
	list->items = palloc(sizeof(FleetConflict) * list->capacity);
	return list;
}

FleetConflict *
fleet_conflicts_add(FleetConflictList *list, const char *identifier, FleetConflictReason reason)
{
	FleetConflict *conflict;

	if (list->count == list->capacity)
	{
		list->capacity *= 2;
		list->items = repalloc(list->items, sizeof(FleetConflict) * list->capacity);
	}
	conflict = &list->items[list->count++];
	memset(conflict, 0, sizeof(FleetConflict));
	conflict->device_identifier = (char *) identifier;
	conflict->reason = reason;
	return conflict;
}

/*
 * A conflict caused by the rack a locked device is in. A rack the caller
 * cannot see is reported without its id, site or building: the conflict
 * still says the device is blocked, and reveals nothing else.
 */
void
fleet_conflicts_add_rack(FleetConflictList *list, const FleetLockedDevices *locked,
						 int position, const FleetPlacement *placement,
						 FleetConflictReason reason)
{
	FleetConflict *conflict = fleet_conflicts_add(list, locked->identifiers[position], reason);

	conflict->device_id = locked->ids[position];
	if (placement->rack_visible)
	{
		conflict->has_rack = true;
		conflict->rack_id = placement->rack_id;
		conflict->site = placement->rack_site;
		conflict->building = placement->rack_building;
	}
}

/* DEVICE_NOT_FOUND for every requested identifier that the lock did not return. */
void
fleet_conflicts_add_not_found(FleetConflictList *list, const FleetIdList *ids,
							  const FleetLockedDevices *locked)
{
	bool	   *found;
	int			i;

	if (locked->count == ids->count)
		return;

	found = palloc0(sizeof(bool) * ids->count);
	for (i = 0; i < locked->count; i++)
	{
		int			position = fleet_id_position(ids, locked->identifiers[i]);

		if (position >= 0)
			found[position] = true;
	}
	for (i = 0; i < ids->count; i++)
		if (!found[i])
			fleet_conflicts_add(list, ids->sorted[i], FLEET_DEVICE_NOT_FOUND);
	pfree(found);
}

static int
compare_conflicts(const void *a, const void *b)
{
	return strcmp(((const FleetConflict *) a)->device_identifier,
				  ((const FleetConflict *) b)->device_identifier);
}

void
fleet_conflicts_sort(FleetConflictList *list)
{
	qsort(list->items, list->count, sizeof(FleetConflict), compare_conflicts);
}

bool
fleet_conflicts_all_of(const FleetConflictList *list, FleetConflictReason reason)
{
	int			i;

	for (i = 0; i < list->count; i++)
		if (list->items[i].reason != reason)
			return false;
	return true;
}

/*
 * Return the conflicts as the function's result set; with only_residual,
 * leave out those of the clearable reason. The result type has four columns
 * on a 1.0 schema and five on 1.1; the rows follow it.
 */
void
fleet_conflicts_return(FunctionCallInfo fcinfo, const FleetConflictList *list,
					   bool only_residual, FleetConflictReason clearable)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			reason_type;
	int			i;

	SetSingleFuncCall(fcinfo, 0);
	reason_type = TupleDescAttr(rsinfo->setDesc, 1)->atttypid;
	Assert(rsinfo->setDesc->natts == 4 || rsinfo->setDesc->natts == 5);

	for (i = 0; i < list->count; i++)
	{
		const FleetConflict *conflict = &list->items[i];
		Datum		values[5];
		bool		nulls[5] = {false, false, true, true, true};

		CHECK_FOR_INTERRUPTS();
		if (only_residual && conflict->reason == clearable)
			continue;

		values[0] = CStringGetTextDatum(conflict->device_identifier);
		values[1] = DirectFunctionCall2(enum_in,
										CStringGetDatum(reason_labels[conflict->reason]),
										ObjectIdGetDatum(reason_type));
		if (conflict->has_rack)
		{
			values[2] = Int64GetDatum(conflict->site.id);
			nulls[2] = !conflict->site.is_set;
			values[3] = Int64GetDatum(conflict->rack_id);
			nulls[3] = false;
			values[4] = Int64GetDatum(conflict->building.id);
			nulls[4] = !conflict->building.is_set;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* The result of an applied call: no rows. */
void
fleet_return_nothing(FunctionCallInfo fcinfo)
{
	SetSingleFuncCall(fcinfo, 0);
}
