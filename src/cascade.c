/*
 * cascade.c: what the whole-rack and whole-building moves share.
 *
 * A container move writes the containers (racks, buildings) and then the
 * devices in them, each as one set-based statement on ids the call holds
 * locked, with the caller's rights. If the caller's rights cannot write a
 * row the move must change (row-level security, or a trigger of theirs
 * skipping it), the call fails rather than leave the row behind.
 */
#include "fleet_sites.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"

static Datum
int32_array_with_nulls(const bool *present, const int32 *values, int count)
{
	Datum	   *datums = palloc(sizeof(Datum) * (count + 1));
	bool	   *nulls = palloc(sizeof(bool) * (count + 1));
	int			dims[1] = {count};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < count; i++)
	{
		datums[i] = Int32GetDatum(present != NULL && present[i] ? values[i] : 0);
		nulls[i] = present == NULL || !present[i];
	}
	return PointerGetDatum(construct_md_array(datums, nulls, 1, dims, lbs, INT4OID,
											  sizeof(int32), true, TYPALIGN_INT));
}

/*
 * Write racks: for each of the count ids, the site (when set_site), the
 * building and the position (when set_building; a position only where
 * has_position[i]).
 */
void
fleet_write_racks(const int64 *ids, int count, bool set_site, FleetRef site,
				  bool set_building, FleetRef building, const bool *has_position,
				  const int32 *aisle_index, const int32 *position_in_aisle)
{
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	uint64		updated;

	if (count == 0)
		return;
	values[0] = fleet_int64_array(ids, count);
	values[1] = BoolGetDatum(set_site);
	values[2] = Int64GetDatum(site.id);
	nulls[2] = site.is_set ? ' ' : 'n';
	values[3] = BoolGetDatum(set_building);
	values[4] = Int64GetDatum(building.id);
	nulls[4] = building.is_set ? ' ' : 'n';
	values[5] = int32_array_with_nulls(has_position, aisle_index, count);
	values[6] = int32_array_with_nulls(has_position, position_in_aisle, count);

	updated = fleet_run(FLEET_PLAN_SET_RACKS, values, nulls, 0);
	if (updated < (uint64) count)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to update every rack the move must change"),
				 errdetail("Row-level security on table fleet_rack hides some of them from role \"%s\", or a trigger skipped their update.",
						   GetUserNameFromId(GetUserId(), false))));
}

void
fleet_write_buildings_site(const int64 *ids, int count, FleetRef site)
{
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	if (count == 0)
		return;
	values[0] = fleet_int64_array(ids, count);
	values[1] = Int64GetDatum(site.id);
	nulls[1] = site.is_set ? ' ' : 'n';
	if (fleet_run(FLEET_PLAN_SET_BUILDINGS_SITE, values, nulls, 0) < (uint64) count)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to update every building the move must change"),
				 errdetail("Row-level security on table fleet_building hides some of them from role \"%s\", or a trigger skipped their update.",
						   GetUserNameFromId(GetUserId(), false))));
}

/* The function's one row of fleet_cascade. */
Datum
fleet_cascade_result(FunctionCallInfo fcinfo, int buildings, int racks, int devices)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "fleet_cascade result type expected");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int32GetDatum(buildings);
	values[1] = Int32GetDatum(racks);
	values[2] = Int32GetDatum(devices);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/* Append ", \"key\": [ids...]" with at most the audit sample of ids. */
void
fleet_json_id_sample(StringInfo buf, const char *key, const int64 *ids, int count)
{
	int			i;

	appendStringInfo(buf, ", \"%s\": [", key);
	for (i = 0; i < count && i < FLEET_AUDIT_IDENTIFIER_SAMPLE; i++)
		appendStringInfo(buf, i > 0 ? ", %lld" : "%lld", (long long) ids[i]);
	appendStringInfoChar(buf, ']');
}

/* Is id one of the ascending ids? */
bool
fleet_ids_contain(const int64 *ids, int count, int64 id)
{
	int			low = 0;
	int			high = count - 1;

	while (low <= high)
	{
		int			mid = low + (high - low) / 2;

		if (ids[mid] == id)
			return true;
		if (ids[mid] < id)
			low = mid + 1;
		else
			high = mid - 1;
	}
	return false;
}
