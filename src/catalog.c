/*
 * catalog.c: where the extension lives, and the statements kept against it.
 *
 * The schema comes from pg_extension, never from search_path, and every
 * statement names its relations as <extension schema>.fleet_*, so an object
 * with the same name earlier on a caller's path is never used.
 *
 * A kept plan is text until it is analyzed, and PostgreSQL's plan cache
 * re-analyzes that text whenever it thinks the plan is stale: after any
 * invalidation of a relation it uses, after any schema is created, renamed
 * or dropped, after the search path's effective contents change (a first
 * temporary table), and after a change of role when row-level security is
 * involved. Each re-analysis resolves the schema *name* again. If our schema
 * had been renamed and another created under its old name, a statement run
 * on the owner's authority would then read or lock the other schema's
 * relations: a privilege escalation. So no kept plan is ever re-analyzed by
 * the plan cache here. Before a plan runs (fleet_plan):
 *
 *   1. the relations it uses are locked in the modes it will use them, which
 *      processes every pending invalidation now rather than in the middle of
 *      GetCachedPlan (where a lock already held is not re-checked);
 *   2. if the plan cache would re-analyze it for any of the reasons above,
 *      it is retired and prepared again from text built with the schema's
 *      current name, read by oid;
 *   3. a freshly prepared plan is checked to use only our relations, by oid,
 *      so a name that resolved anywhere else is an error, never a query.
 *
 * ri_triggers.c keeps its plans the same way (it rebuilds any plan for which
 * SPI_plan_is_valid() is false); steps 1 and 3 close the window between its
 * check and the plan cache's own revalidation.
 *
 * The catalog facts (oids, the schema version) are cached for the backend
 * and looked up again after an invalidation of one of our relations (DROP
 * EXTENSION, ALTER EXTENSION UPDATE, ALTER TABLE all send one).
 */
#include "fleet_sites.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"

static FleetCatalog cached;
static bool cached_valid = false;
static uint32 cached_schema_hash = 0;

/*
 * Plans replaced while the backend runs are freed at the end of the
 * transaction. A replacement can happen while an outer call is still
 * executing the old plan (a move called from a trigger fired by another
 * move), so they must not be freed on the spot.
 */
static List *retired_plans = NIL;

static void
invalidate_on_relcache(Datum arg, Oid relid)
{
	int			i;

	(void) arg;
	if (!cached_valid)
		return;
	if (relid == InvalidOid)
	{
		cached_valid = false;
		return;
	}
	for (i = 0; i < FLEET_REL_COUNT; i++)
		if (relid == cached.relids[i])
		{
			cached_valid = false;
			return;
		}
}

/* Our schema renamed or dropped: its name in the statements is stale. */
static void
invalidate_on_namespace(Datum arg, int cacheid, uint32 hashvalue)
{
	(void) arg;
	(void) cacheid;
	if (cached_valid && (hashvalue == 0 || hashvalue == cached_schema_hash))
		cached_valid = false;
}

static void
free_retired_plans(XactEvent event, void *arg)
{
	ListCell   *cell;

	(void) arg;
	if (retired_plans == NIL ||
		(event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		 event != XACT_EVENT_PREPARE &&
		 event != XACT_EVENT_PARALLEL_COMMIT &&
		 event != XACT_EVENT_PARALLEL_ABORT))
		return;
	foreach(cell, retired_plans)
		SPI_freeplan((SPIPlanPtr) lfirst(cell));
	list_free(retired_plans);
	retired_plans = NIL;
}

void
fleet_catalog_register_invalidation(void)
{
	RegisterXactCallback(free_retired_plans, NULL);
	CacheRegisterRelcacheCallback(invalidate_on_relcache, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, invalidate_on_namespace, (Datum) 0);
}

static void
retire_plan(SPIPlanPtr plan)
{
	MemoryContext old_context = MemoryContextSwitchTo(TopMemoryContext);

	retired_plans = lappend(retired_plans, plan);
	MemoryContextSwitchTo(old_context);
}

/* The relation names, in FleetRelation order. */
static const char *const relation_names[FLEET_REL_COUNT] = {
	[FLEET_REL_SITE] = "fleet_site",
	[FLEET_REL_BUILDING] = "fleet_building",
	[FLEET_REL_RACK] = "fleet_rack",
	[FLEET_REL_DEVICE] = "fleet_device",
	[FLEET_REL_MEMBERSHIP] = "fleet_rack_membership",
	[FLEET_REL_SLOT] = "fleet_rack_slot",
	[FLEET_REL_ACTIVITY] = "fleet_activity",
	[FLEET_REL_SAVED_SECURITY] = "fleet_saved_security",
};

const char *
fleet_relation_name(FleetRelation rel)
{
	return relation_names[rel];
}

static Oid
extension_relid(Oid schema_oid, FleetRelation rel, bool missing_ok)
{
	Oid			relid = get_relname_relid(relation_names[rel], schema_oid);

	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s\" of extension \"fleet_sites\" is missing",
						relation_names[rel]),
				 errhint("Reinstall the extension with DROP EXTENSION and CREATE EXTENSION.")));
	return relid;
}

/* Read the extension's oid, schema and owner from pg_extension. */
static void
look_up_extension(FleetCatalog *catalog)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("fleet_sites"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"fleet_sites\" is not installed in this database")));
	{
		Form_pg_extension form = (Form_pg_extension) GETSTRUCT(tuple);

		catalog->extension_oid = form->oid;
		catalog->schema_oid = form->extnamespace;
		catalog->owner_oid = form->extowner;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

const FleetCatalog *
fleet_catalog(void)
{
	FleetCatalog fresh;
	int			i;

	if (cached_valid)
		return &cached;

	memset(&fresh, 0, sizeof(fresh));
	look_up_extension(&fresh);
	for (i = 0; i < FLEET_REL_COUNT; i++)
		fresh.relids[i] = extension_relid(fresh.schema_oid, (FleetRelation) i,
										  i == FLEET_REL_BUILDING ||
										  i == FLEET_REL_SAVED_SECURITY);

	/*
	 * A 1.0 database (installed before this library, not yet updated) has no
	 * buildings; the functions then serve the 1.0 contract on it.
	 */
	fresh.has_buildings = OidIsValid(fresh.relids[FLEET_REL_BUILDING]);

	/* Plans made against the old facts are retired; new ones come on use. */
	for (i = 0; i < FLEET_PLAN_COUNT; i++)
		if (cached.plans[i] != NULL)
			retire_plan(cached.plans[i]);

	cached = fresh;
	cached_schema_hash = GetSysCacheHashValue1(NAMESPACEOID,
											   ObjectIdGetDatum(cached.schema_oid));
	cached_valid = true;
	return &cached;
}

/* ------------------------------------------------------------------------
 * Keeping plans honest
 * ------------------------------------------------------------------------
 */

/*
 * Visit every relation a plan uses, with the lock mode the plan cache will
 * take on it: the range tables (with subqueries and CTEs) that come from our
 * own text, and, for locking only, the relations of sublinks, which only
 * row-level security policies add (as security quals on our relations; a
 * policy may read any table).
 */
typedef void (*RelationVisitor) (Oid relid, LOCKMODE mode, bool from_our_text, void *arg);

typedef struct VisitContext
{
	RelationVisitor fn;
	void	   *arg;
	bool		from_our_text;
} VisitContext;

static void visit_query(Query *query, VisitContext *context);

static bool
visit_sublinks(Node *node, VisitContext *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, SubLink))
	{
		VisitContext inner = *context;

		inner.from_our_text = false;
		visit_query(castNode(Query, ((SubLink *) node)->subselect), &inner);
		/* and go on into the sublink's other arguments */
	}
	return expression_tree_walker(node, visit_sublinks, (void *) context);
}

static void
visit_query(Query *query, VisitContext *context)
{
	ListCell   *cell;

	if (query->commandType == CMD_UTILITY)
		return;
	foreach(cell, query->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, cell);

		if (rte->rtekind == RTE_RELATION)
			context->fn(rte->relid, rte->rellockmode, context->from_our_text, context->arg);
		else if (rte->rtekind == RTE_SUBQUERY)
			visit_query(rte->subquery, context);
	}
	foreach(cell, query->cteList)
		visit_query(castNode(Query, lfirst_node(CommonTableExpr, cell)->ctequery), context);
	if (query->hasSubLinks)
		query_tree_walker(query, visit_sublinks, (void *) context,
						  QTW_IGNORE_RC_SUBQUERIES);
}

static void
visit_plan(SPIPlanPtr plan, RelationVisitor fn, void *arg)
{
	ListCell   *source_cell;
	VisitContext context;

	context.fn = fn;
	context.arg = arg;
	foreach(source_cell, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *source = (CachedPlanSource *) lfirst(source_cell);
		ListCell   *query_cell;

		foreach(query_cell, source->query_list)
		{
			context.from_our_text = true;
			visit_query(lfirst_node(Query, query_cell), &context);
		}
	}
}

static void
lock_relation(Oid relid, LOCKMODE mode, bool from_our_text, void *arg)
{
	(void) from_our_text;
	(void) arg;
	LockRelationOid(relid, mode);
}

/*
 * The relations our text names must be ours; a policy's may be anything.
 * arg points at a CheckState; a stranger is counted, not raised, so that the
 * caller can try once more with the schema's new name.
 */
typedef struct CheckState
{
	const FleetCatalog *catalog;
	int			strangers;
} CheckState;

static void
check_relation(Oid relid, LOCKMODE mode, bool from_our_text, void *arg)
{
	CheckState *state = (CheckState *) arg;
	int			i;

	(void) mode;
	if (!from_our_text)
		return;
	for (i = 0; i < FLEET_REL_COUNT; i++)
		if (OidIsValid(state->catalog->relids[i]) && relid == state->catalog->relids[i])
			return;
	state->strangers++;
}

/*
 * Would the plan cache re-analyze this plan's text before running it? The
 * same tests RevalidateCachedQuery() makes, made here first.
 */
static bool
plan_needs_reanalysis(SPIPlanPtr plan)
{
	ListCell   *cell;

	if (!SPI_plan_is_valid(plan))
		return true;
	foreach(cell, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *source = (CachedPlanSource *) lfirst(cell);

		if (!source->is_valid)
			return true;
		if (source->search_path != NULL &&
			!OverrideSearchPathMatchesCurrent(source->search_path))
			return true;
		if (source->dependsOnRLS &&
			(source->rewriteRoleId != GetUserId() ||
			 source->rewriteRowSecurity != row_security))
			return true;
	}
	return false;
}

/* Prepare a statement from text with the schema's current name. */
static SPIPlanPtr
prepare_from_text(const FleetCatalog *catalog, FleetPlanId id, int *strangers)
{
	const FleetPlanSpec *spec = fleet_plan_spec(id);
	const char *template = spec->sql;
	char	   *schema_name;
	const char *schema;
	char	   *sql;
	SPIPlanPtr	plan;
	CheckState	state;

	if (!catalog->has_buildings)
	{
		if (spec->sql_10 == NULL && spec->needs_buildings)
			elog(ERROR, "statement \"%s\" needs the 1.1 schema", spec->name);
		if (spec->sql_10 != NULL)
			template = spec->sql_10;
	}

	schema_name = get_namespace_name(catalog->schema_oid);
	if (schema_name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("the schema of extension \"fleet_sites\" no longer exists")));
	schema = quote_identifier(schema_name);
	/* Every %s in a statement is the schema; at most sixteen per statement. */
	sql = psprintf(template, schema, schema, schema, schema, schema, schema, schema, schema,
				   schema, schema, schema, schema, schema, schema, schema, schema);

	/*
	 * Generic plans, always. Every statement is keyed by an id array of any
	 * length; a custom plan per call (the plan cache's default for the first
	 * calls, and forever when the generic plan's estimate looks worse) costs
	 * more planning than the single-device move spends executing, and the
	 * generic index-scan plans serve 1 and 10,000 ids alike.
	 */
	plan = SPI_prepare_cursor(sql, spec->nargs, (Oid *) spec->argtypes,
							  CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	pfree(sql);

	state.catalog = catalog;
	state.strangers = 0;
	visit_plan(plan, check_relation, &state);
	*strangers = state.strangers;
	if (state.strangers > 0)
	{
		SPI_freeplan(plan);
		return NULL;
	}
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * Prepare a statement and check that it resolved to our relations. If the
 * schema was renamed (and another one took its old name) between reading the
 * name and parsing, the invalidation has been processed by now: look the
 * name up again and try once more. Twice in a row is a rename race the
 * caller can retry, never a query on somebody else's relations.
 */
static SPIPlanPtr
prepare_plan(const FleetCatalog *catalog, FleetPlanId id)
{
	SPIPlanPtr	plan;
	int			strangers;

	plan = prepare_from_text(catalog, id, &strangers);
	if (plan != NULL)
		return plan;
	cached_valid = false;
	catalog = fleet_catalog();
	plan = prepare_from_text(catalog, id, &strangers);
	if (plan != NULL)
		return plan;
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("the schema of extension \"fleet_sites\" was renamed while the call was preparing a statement"),
			 errdetail("The statement's relation names resolved to relations that are not the extension's."),
			 errhint("Retry the transaction.")));
	return NULL;				/* keep the compiler quiet */
}

/*
 * The kept plan for a statement, safe to run now under the current user:
 * see the top of this file. Call it right before SPI_execute_*: nothing
 * between the two may take a new lock.
 */
SPIPlanPtr
fleet_plan(FleetPlanId id)
{
	const FleetCatalog *catalog = fleet_catalog();
	SPIPlanPtr	plan = catalog->plans[id];

	if (plan != NULL)
	{
		/* May process invalidations, and so mark the catalog stale. */
		visit_plan(plan, lock_relation, NULL);
		catalog = fleet_catalog();
		plan = catalog->plans[id];
		if (plan != NULL && plan_needs_reanalysis(plan))
		{
			retire_plan(plan);
			cached.plans[id] = NULL;
			plan = NULL;
		}
	}
	if (plan == NULL)
	{
		plan = prepare_plan(catalog, id);
		cached.plans[id] = plan;
	}
	return plan;
}
