/*
 * catalog.c: where the extension lives, and the plans prepared against it.
 *
 * The schema comes from pg_extension, never from search_path: every statement
 * names its relations as <extension schema>.fleet_*, so an object with the
 * same name earlier on the caller's path is never used.
 *
 * Both the catalog facts and the SPI plans are cached for the life of the
 * backend. A relcache invalidation of any of our tables (DROP EXTENSION
 * sends one), or any change to a schema, marks the cache stale; the next call looks the extension up
 * again and prepares fresh plans, so a dropped and re-created extension is
 * served by plans against its new tables.
 */
#include "fleet_sites.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

static FleetCatalog cached;
static bool cached_valid = false;

/*
 * Plans replaced by a refresh, freed at the end of the transaction. A refresh
 * can happen while an outer call is still executing one of the old plans (a
 * move called from a trigger fired by another move, after an invalidation),
 * so they must not be freed on the spot.
 */
static List *retired_plans = NIL;

/* One statement: its SQL (with %s for the quoted schema) and parameter types. */
typedef struct FleetPlanSpec
{
	const char *sql;
	int			nargs;
	Oid			argtypes[6];
} FleetPlanSpec;

/*
 * The statements, each schema-qualified with the extension's schema (the two
 * or three %s are all the same schema). The functions run with
 * search_path = pg_catalog, pg_temp, so operators and casts here resolve to
 * the built-ins.
 */
static const FleetPlanSpec plan_specs[FLEET_PLAN_COUNT] = {
	[FLEET_PLAN_LOCK_SITE] = {
		/* KEY SHARE blocks the site's deletion but not other movers. */
		"SELECT 1 FROM %s.fleet_site WHERE id = $1 FOR KEY SHARE",
		1, {INT8OID}
	},
	[FLEET_PLAN_READ_RACK] = {
		"SELECT site_id, row_count * column_count FROM %s.fleet_rack WHERE id = $1",
		1, {INT8OID}
	},
	[FLEET_PLAN_LOCK_RACK] = {
		/* NO KEY UPDATE conflicts with itself: concurrent fills take turns. */
		"SELECT site_id, row_count * column_count FROM %s.fleet_rack"
		" WHERE id = $1 FOR NO KEY UPDATE",
		1, {INT8OID}
	},
	[FLEET_PLAN_LOCK_DEVICES] = {
		/* LockRows sits above the sort: rows are locked in ascending id order. */
		"SELECT id, identifier, site_id, ctid FROM %s.fleet_device"
		" WHERE identifier = ANY ($1) ORDER BY id FOR NO KEY UPDATE",
		1, {TEXTARRAYOID}
	},
	[FLEET_PLAN_VISIBLE_DEVICES] = {
		"SELECT id FROM %s.fleet_device WHERE identifier = ANY ($1)",
		1, {TEXTARRAYOID}
	},
	[FLEET_PLAN_LOCK_DEVICES_BY_ID] = {
		"SELECT id, identifier, site_id, ctid FROM %s.fleet_device"
		" WHERE id = ANY ($1) ORDER BY id FOR NO KEY UPDATE",
		1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_SITE_CONFLICTS] = {
		"SELECT m.device_id, r.id, r.site_id"
		" FROM %s.fleet_rack_membership m JOIN %s.fleet_rack r ON r.id = m.rack_id"
		" WHERE m.device_id = ANY ($1) AND r.site_id IS DISTINCT FROM $2",
		2, {INT8ARRAYOID, INT8OID}
	},
	[FLEET_PLAN_RACK_PLACEMENT] = {
		/* Where the moving devices are, and who is already in the target. */
		"SELECT device_id, rack_id FROM %s.fleet_rack_membership"
		" WHERE device_id = ANY ($1) OR rack_id = $2",
		2, {INT8ARRAYOID, INT8OID}
	},
	[FLEET_PLAN_CLEAR_MEMBERSHIPS] = {
		"DELETE FROM %s.fleet_rack_membership WHERE device_id = ANY ($1)",
		1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_REMAINING_MEMBERSHIPS] = {
		"SELECT device_id, rack_id FROM %s.fleet_rack_membership"
		" WHERE device_id = ANY ($1) ORDER BY device_id LIMIT 1",
		1, {INT8ARRAYOID}
	},
	[FLEET_PLAN_SET_DEVICE_SITE] = {
		/*
		 * By the tuple ids the lock returned: a TID scan, no second index
		 * lookup. The rows are locked by us, so they cannot have moved.
		 */
		"UPDATE %s.fleet_device SET site_id = $2, updated_at = pg_catalog.now()"
		" WHERE ctid = ANY ($1)",
		2, {TIDARRAYOID, INT8OID}
	},
	[FLEET_PLAN_JOIN_RACK] = {
		"INSERT INTO %s.fleet_rack_membership (rack_id, device_id)"
		" SELECT $1, device_id FROM pg_catalog.unnest($2) AS device_id",
		2, {INT8OID, INT8ARRAYOID}
	},
	[FLEET_PLAN_INSERT_ACTIVITY] = {
		"INSERT INTO %s.fleet_activity"
		" (occurred_at, actor, event_type, site_id, description, metadata)"
		" VALUES (pg_catalog.now(), $1, $2, $3, $4, $5::pg_catalog.jsonb) RETURNING id",
		5, {TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID}
	},
};

static void
invalidate_on_relcache(Datum arg, Oid relid)
{
	(void) arg;
	if (!cached_valid)
		return;
	if (relid == InvalidOid ||
		relid == cached.site_relid ||
		relid == cached.rack_relid ||
		relid == cached.device_relid ||
		relid == cached.membership_relid ||
		relid == cached.activity_relid)
		cached_valid = false;
}

/* A renamed or dropped schema: the plans name it, so they must go too. */
static void
invalidate_on_namespace(Datum arg, int cacheid, uint32 hashvalue)
{
	(void) arg;
	(void) cacheid;
	(void) hashvalue;
	cached_valid = false;
}

static void
free_retired_plans(XactEvent event, void *arg)
{
	ListCell   *cell;

	(void) arg;
	if (retired_plans == NIL ||
		(event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		 event != XACT_EVENT_PREPARE))
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

static Oid
extension_relid(Oid schema_oid, const char *relname)
{
	Oid			relid = get_relname_relid(relname, schema_oid);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s\" of extension \"fleet_sites\" is missing", relname),
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
	fresh.site_relid = extension_relid(fresh.schema_oid, "fleet_site");
	fresh.rack_relid = extension_relid(fresh.schema_oid, "fleet_rack");
	fresh.device_relid = extension_relid(fresh.schema_oid, "fleet_device");
	fresh.membership_relid = extension_relid(fresh.schema_oid, "fleet_rack_membership");
	fresh.activity_relid = extension_relid(fresh.schema_oid, "fleet_activity");

	/*
	 * Plans made against the old tables are retired (freed at transaction
	 * end, see above); new ones are prepared on use.
	 */
	for (i = 0; i < FLEET_PLAN_COUNT; i++)
		if (cached.plans[i] != NULL)
		{
			MemoryContext old_context = MemoryContextSwitchTo(TopMemoryContext);

			retired_plans = lappend(retired_plans, cached.plans[i]);
			MemoryContextSwitchTo(old_context);
		}

	cached = fresh;
	cached_valid = true;
	return &cached;
}

SPIPlanPtr
fleet_plan(FleetPlanId id)
{
	const FleetCatalog *catalog = fleet_catalog();
	const FleetPlanSpec *spec = &plan_specs[id];
	const char *schema;
	char	   *sql;
	SPIPlanPtr	plan;

	if (catalog->plans[id] != NULL)
		return catalog->plans[id];

	schema = quote_identifier(get_namespace_name(catalog->schema_oid));
	/* Every statement names the schema at most twice; extra args are ignored. */
	sql = psprintf(spec->sql, schema, schema);

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
		elog(ERROR, "fleet_sites: SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "fleet_sites: SPI_keepplan failed");
	pfree(sql);

	cached.plans[id] = plan;
	return plan;
}
