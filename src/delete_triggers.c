/*
 * delete_triggers.c: deleting a site or a building in the one lock order.
 *
 * Deleting a site leaves its buildings, racks and devices at no site;
 * deleting a building leaves its racks at their site with no building and no
 * position, and its devices with no building. The foreign keys' ON DELETE
 * SET NULL would do the writes, but a cascade locks rows in table order, and
 * a move out of the site (which locks them ascending) could deadlock with
 * it. These BEFORE DELETE row triggers take the rows' locks level by level,
 * ascending, as every move does (locks.c), and make the writes themselves;
 * the cascades then find nothing to do.
 *
 * The row being deleted is already locked by the DELETE. Its contents are
 * found with a current snapshot at every isolation level (execute.c): under
 * REPEATABLE READ a transaction snapshot would miss a device moved into the
 * site after it was taken, which the cascade would then lock late, out of
 * order. The writes then fail with 40001 on any row the transaction's own
 * snapshot cannot see, as PostgreSQL's cascades do.
 *
 * This runs on the extension owner's authority (as the cascades do) and in
 * C, with the schema found by oid: the 1.0 version was a SECURITY DEFINER
 * PL/pgSQL function that named the schema as text, so that renaming the
 * schema and planting look-alike relations under the old name made every
 * site delete run the planter's code as the owner.
 *
 * One deleted row never deadlocks with a move. A statement deleting several
 * rows locks them in its own plan order and may deadlock (40P01), as any
 * multi-row DML may; it still leaves nothing inconsistently placed.
 */
#include "fleet_sites.h"

#include "commands/trigger.h"

static void
run_by_id(FleetPlanId plan, int64 id)
{
	Datum		values[1];

	values[0] = Int64GetDatum(id);
	fleet_run(plan, values, NULL, 0);
	SPI_freetuptable(SPI_tuptable);
}

/* The deleted row's id, after checking how the trigger was called. */
static int64
deleted_id(FunctionCallInfo fcinfo, FleetRelation rel, const char *name)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	bool		isnull;
	Datum		id;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ||
		RelationGetRelid(trigdata->tg_relation) != fleet_relid(rel))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s must be fired BEFORE DELETE FOR EACH ROW on table %s",
						name, fleet_relation_name(rel))));
	id = heap_getattr(trigdata->tg_trigtuple, 1, RelationGetDescr(trigdata->tg_relation),
					  &isnull);
	if (isnull)
		elog(ERROR, "%s row without an id", fleet_relation_name(rel));
	return DatumGetInt64(id);
}

static Datum
deleted_row(FunctionCallInfo fcinfo)
{
	return PointerGetDatum(((TriggerData *) fcinfo->context)->tg_trigtuple);
}

PG_FUNCTION_INFO_V1(fleet_site_before_delete);

Datum
fleet_site_before_delete(PG_FUNCTION_ARGS)
{
	int64		site_id;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	site_id = deleted_id(fcinfo, FLEET_REL_SITE, "fleet_site_before_delete");

	/* Levels 2, 3, 4, ascending within each; then the writes. */
	run_by_id(FLEET_PLAN_LOCK_SITE_BUILDINGS, site_id);
	run_by_id(FLEET_PLAN_LOCK_SITE_RACKS, site_id);
	run_by_id(FLEET_PLAN_LOCK_SITE_DEVICES, site_id);
	run_by_id(FLEET_PLAN_UNSITE_BUILDINGS, site_id);
	run_by_id(FLEET_PLAN_UNSITE_RACKS, site_id);
	run_by_id(FLEET_PLAN_UNSITE_DEVICES, site_id);
	fleet_guard_recheck();

	SPI_finish();
	return deleted_row(fcinfo);
}

PG_FUNCTION_INFO_V1(fleet_building_before_delete);

Datum
fleet_building_before_delete(PG_FUNCTION_ARGS)
{
	int64		building_id;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	building_id = deleted_id(fcinfo, FLEET_REL_BUILDING, "fleet_building_before_delete");

	/* Levels 3, 4, ascending within each; then the writes. */
	run_by_id(FLEET_PLAN_LOCK_BUILDING_RACKS, building_id);
	run_by_id(FLEET_PLAN_LOCK_BUILDING_DEVICES, building_id);
	run_by_id(FLEET_PLAN_UNBUILD_RACKS, building_id);
	run_by_id(FLEET_PLAN_UNBUILD_DEVICES, building_id);
	fleet_guard_recheck();

	SPI_finish();
	return deleted_row(fcinfo);
}
