/*
 * execute.c: running one kept statement, on the right authority, with the
 * right snapshot, and reporting its errors as the caller's.
 *
 * Authority. A few statements are not the caller's business: locking the
 * parent rows (site, building, rack) of a move, reading the placement of the
 * devices the caller locked, and writing the audit row. Row locks need
 * UPDATE privilege and the audit table is closed to ordinary roles, so these
 * run as the extension's owner, the way PostgreSQL's foreign-key checks run
 * as the table owner (ri_triggers.c). SECURITY_LOCAL_USERID_CHANGE keeps SET
 * ROLE and friends from escaping the switch; the user is switched back on
 * every exit, and an error restores it through (sub)transaction abort. Which
 * device rows are touched is never decided on the owner's authority.
 *
 * Snapshot. Under READ COMMITTED every statement runs with a new snapshot
 * (SPI takes one per statement when read_only is false), so what a call
 * reads after a row lock includes everything committed before the lock was
 * granted. Under REPEATABLE READ and SERIALIZABLE every statement would see
 * the transaction's snapshot instead, which may predate a transaction that
 * only *locked* a row we then lock (no serialization error is raised for a
 * lock), for example one that put one of our devices into a rack without
 * changing the device row. So the statements marked FLEET_SNAPSHOT_LATEST,
 * all of which run after the call's locks are granted, use a current
 * snapshot there, with the transaction snapshot as crosscheck: an UPDATE or
 * DELETE that meets a row version the transaction cannot see fails with
 * 40001. This is what PostgreSQL's own foreign-key actions do at those
 * levels (ri_PerformCheck). Reads then act on everything committed before
 * the locks; writes never touch what the caller's snapshot does not know
 * about without a serialization failure.
 *
 * Guards. Every statement run here is marked as the functions' own for the
 * duration (exemption.c), so the guards on the placement tables let its
 * writes through unchecked; writes of user triggers it fires are not.
 *
 * Errors. An error inside one of our statements would carry the
 * statement's text as a CONTEXT line ("SQL statement ..."), which tells the
 * user nothing they can act on. That one line is removed; everything else
 * (message, SQLSTATE, the caller's own context, lines from user triggers)
 * is reported as it was.
 */
#include "fleet_sites.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

/* Authority switch, for statements and for C code that reads catalogs. */
void
fleet_become_owner(FleetAuthoritySave *save)
{
	GetUserIdAndSecContext(&save->user, &save->sec_context);
	SetUserIdAndSecContext(fleet_catalog()->owner_oid,
						   save->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_NOFORCE_RLS);
}

void
fleet_restore_authority(const FleetAuthoritySave *save)
{
	SetUserIdAndSecContext(save->user, save->sec_context);
}

/* Remove the line 'SQL statement "<sql>"' from an error's context. */
static void
drop_statement_context(ErrorData *edata, const char *sql)
{
	char	   *line;
	char	   *start;
	char	   *end;

	if (edata->context == NULL || sql == NULL)
		return;
	line = psprintf("SQL statement \"%s\"", sql);
	start = strstr(edata->context, line);
	if (start != NULL)
	{
		end = start + strlen(line);
		if (*end == '\n')
			end++;
		else if (start > edata->context && start[-1] == '\n')
			start--;
		memmove(start, end, strlen(end) + 1);
		if (edata->context[0] == '\0')
			edata->context = NULL;
	}
	pfree(line);
}

static const char *
plan_text(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);

	if (sources == NIL)
		return NULL;
	return ((CachedPlanSource *) linitial(sources))->query_string;
}

uint64
fleet_run(FleetPlanId id, Datum *values, const char *nulls, long tcount)
{
	const FleetPlanSpec *spec = fleet_plan_spec(id);
	MemoryContext caller_context = CurrentMemoryContext;
	FleetAuthoritySave save;
	SPIPlanPtr volatile plan = NULL;
	volatile bool switched = false;
	int			rc = 0;
	int			saved_exemption = fleet_exempt_enter();

	PG_TRY();
	{
		if (spec->authority == FLEET_OWNER)
		{
			fleet_become_owner(&save);
			switched = true;
		}

		/* Under the authority it runs with: the RLS test depends on it. */
		plan = fleet_plan(id);

		if (spec->snapshot == FLEET_SNAPSHOT_LATEST && IsolationUsesXactSnapshot())
			rc = SPI_execute_snapshot(plan, values, nulls,
									  GetLatestSnapshot(), GetTransactionSnapshot(),
									  false, true, tcount);
		else
			rc = SPI_execute_plan(plan, values, nulls, false, tcount);

		if (switched)
		{
			fleet_restore_authority(&save);
			switched = false;
		}
		fleet_exempt_leave(saved_exemption);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		fleet_exempt_leave(saved_exemption);
		if (switched)
			fleet_restore_authority(&save);
		MemoryContextSwitchTo(caller_context);
		edata = CopyErrorData();
		FlushErrorState();
		if (plan != NULL)
			drop_statement_context(edata, plan_text(plan));
		ThrowErrorData(edata);
	}
	PG_END_TRY();

	if (rc != spec->expected_rc)
		elog(ERROR, "statement %s failed: %s", spec->name, SPI_result_code_string(rc));
	return SPI_processed;
}

/* ------------------------------------------------------------------------
 * Reading the rows of the last statement
 * ------------------------------------------------------------------------
 */

int64
fleet_get_int64(uint64 row, int column, bool *isnull)
{
	Datum		value = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
									  column, isnull);

	return *isnull ? 0 : DatumGetInt64(value);
}

FleetRef
fleet_get_ref(uint64 row, int column)
{
	bool		isnull;
	int64		value = fleet_get_int64(row, column, &isnull);

	return fleet_ref(!isnull, value);
}

int32
fleet_get_int32(uint64 row, int column, bool *isnull)
{
	Datum		value = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
									  column, isnull);

	return *isnull ? 0 : DatumGetInt32(value);
}
