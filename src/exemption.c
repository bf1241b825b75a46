/*
 * exemption.c: the functions' own writes pass the guards without a check.
 *
 * The move functions and the delete triggers keep the invariant by
 * construction (locks, then a consistent set of writes), so the guards on
 * the placement tables (guards.c) need not check what they write. What must
 * not pass unchecked is anything else, and in particular a write made by a
 * user trigger that one of our statements fires: it runs inside our
 * statement, in the same backend, in the same transaction.
 *
 * So the exemption is tied to one statement at one executor nesting level.
 * The executor and utility hooks count how deeply statements are nested in
 * this backend; fleet_run() marks "level N+1 is ours" for the one statement
 * it runs at level N. A guard fires at the end of the statement that wrote
 * the rows (AFTER ... FOR EACH STATEMENT), at that statement's level: ours
 * at N+1, a user trigger's statement at N+2 or deeper, a user's own
 * statement wherever it is, but never at a level we marked. The mark is
 * backend-local, lives only while our statement runs, and is restored on
 * every exit; no setting or SQL can reach it.
 */
#include "fleet_sites.h"

#include "executor/executor.h"
#include "tcop/utility.h"

static int	nesting = 0;
static int	exempt_level = -1;

static ExecutorRun_hook_type previous_run = NULL;
static ExecutorFinish_hook_type previous_finish = NULL;
static ProcessUtility_hook_type previous_utility = NULL;

static void
count_run(QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once)
{
	nesting++;
	PG_TRY();
	{
		if (previous_run)
			previous_run(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		nesting--;
	}
	PG_END_TRY();
}

static void
count_finish(QueryDesc *queryDesc)
{
	nesting++;
	PG_TRY();
	{
		if (previous_finish)
			previous_finish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		nesting--;
	}
	PG_END_TRY();
}

static void
count_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			  ProcessUtilityContext context, ParamListInfo params,
			  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	nesting++;
	PG_TRY();
	{
		if (previous_utility)
			previous_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv,
							 dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
									queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		nesting--;
	}
	PG_END_TRY();
}

void
fleet_exemption_install(void)
{
	previous_run = ExecutorRun_hook;
	ExecutorRun_hook = count_run;
	previous_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = count_finish;
	previous_utility = ProcessUtility_hook;
	ProcessUtility_hook = count_utility;
}

/* The statement about to run at this level is ours; returns the old mark. */
int
fleet_exempt_enter(void)
{
	int			saved = exempt_level;

	exempt_level = nesting + 1;
	return saved;
}

void
fleet_exempt_leave(int saved)
{
	exempt_level = saved;
}

/* Is the statement whose guard is firing now one of ours? */
bool
fleet_write_is_exempt(void)
{
	return exempt_level >= 0 && nesting == exempt_level;
}

/* How deeply statements are nested in this backend right now. */
int
fleet_current_level(void)
{
	return nesting;
}
