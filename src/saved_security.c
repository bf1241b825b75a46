/*
 * saved_security.c: row-level security that survives pg_dump / pg_restore.
 *
 * pg_dump keeps the rows of an extension's tables and the GRANTs users add
 * to them, but not ENABLE/FORCE ROW LEVEL SECURITY nor the policies
 * (docs/restore-security.md). After a plain restore every tenant would see
 * every row. So the extension keeps that state itself, in
 * fleet_saved_security, a configuration table pg_dump does keep:
 *
 *   capture   event triggers save a table's state after CREATE/ALTER/DROP
 *             POLICY, ALTER TABLE and DROP OWNED on it (fleet_security_capture);
 *   apply     when pg_restore loads saved rows written by another
 *             installation, a trigger on the table applies them at once
 *             (fleet_saved_security_loaded); fleet_restore_security() does the
 *             same by hand;
 *   refuse    while a table's restored state is not applied, the move
 *             functions refuse to use it (fleet_require_security_applied):
 *             they rely on row-level security for tenancy.
 *
 * Installation. A saved row carries the installation that wrote it: the
 * cluster's system identifier, the database oid and the pg_extension row's
 * oid (fleet_installation_id()). Every CREATE EXTENSION, the one pg_restore
 * runs included, makes a new pg_extension row; another cluster has another
 * system identifier, so a restore into a fresh cluster that happens to hand
 * out the same oids is still told apart. A row from elsewhere whose state
 * differs from the table's is "pending": restored, not applied. A row from
 * elsewhere that matches the table (after pg_upgrade, which makes a new
 * cluster, or a data-only restore into tables already set up) is adopted as
 * this installation's before the next policy DDL (ddl_command_start), so that
 * the DDL is saved normally.
 *
 * Authority. The event triggers fire on any role's DDL (a superuser's
 * included), and the load trigger fires inside the restoring superuser's
 * pg_restore. Nothing here resolves the extension's relations or functions by
 * name at run time: the schema and relations come from fleet_catalog() by
 * oid, every statement on fleet_saved_security is a kept statement of
 * statements.c (verified to resolve to our relation by oid, run by fleet_run
 * on the owner's authority), and the policy DDL is built from the schema's
 * current name read by oid and checked afterwards against our relation's oid
 * (a name that resolved anywhere else is rolled back). The policy texts
 * themselves come from fleet_saved_security, which only the tables' owner (or
 * a member, or a superuser) may write (fleet_saved_security_guard), and are
 * checked to parse as exactly one CREATE POLICY on our table before they run.
 * The DDL runs with the rights of whoever restores or calls: creating a
 * policy needs the table's ownership anyway.
 *
 * Fail closed. ENABLE/FORCE come first, so that a permissive policy that
 * cannot be created denies rather than exposes; each policy is created in its
 * own subtransaction; a policy naming roles that do not exist is created for
 * those that do and reported INCOMPLETE; a restrictive policy that cannot be
 * created is replaced by a deny-all restrictive policy of the same name and
 * roles. A table with any such item stays pending (the saved row keeps the
 * full state) until fleet_restore_security() completes it.
 */
#include "fleet_sites.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

/*
 * The tables whose row-level security is kept, those that reference others
 * first: the apply locks them in this order, so that during a parallel
 * restore it never holds a table that a COPY it waits for must still check a
 * foreign key against. (fleet_saved_security itself is not kept: its own
 * trigger could not alter it.) A new table of the extension goes here too.
 */
static const FleetRelation kept_tables[] = {
	FLEET_REL_SLOT,
	FLEET_REL_MEMBERSHIP,
	FLEET_REL_DEVICE,
	FLEET_REL_RACK,
	FLEET_REL_BUILDING,
	FLEET_REL_SITE,
	FLEET_REL_ACTIVITY,
};

#define KEPT_COUNT ((int) lengthof(kept_tables))

/* True while the apply runs its own DDL: the event triggers stay out. */
static bool applying = false;

/* One policy, as the catalog holds it or as a saved row describes it. */
typedef struct SecPolicy
{
	char	   *name;
	bool		permissive;
	const char *command;		/* ALL, SELECT, INSERT, UPDATE, DELETE */
	int			role_count;
	char	  **roles;			/* role names, "public" for PUBLIC, sorted */
	char	   *using_expr;		/* NULL when there is none */
	char	   *check_expr;
} SecPolicy;

/* A table's row-level security. */
typedef struct SecState
{
	bool		enabled;
	bool		forced;
	int			count;
	SecPolicy  *policies;		/* sorted by name */
} SecState;

/* A row of fleet_saved_security. */
typedef struct SavedRow
{
	bool		found;
	bool		enabled;
	bool		forced;
	Datum		policies;		/* jsonb, detoasted copy */
	char	   *install_id;
} SavedRow;

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------
 */

static bool
kept_table_exists(FleetRelation rel)
{
	return OidIsValid(fleet_relid(rel));
}

/* Our kept table of that name, or -1. */
static int
kept_table_by_name(const char *name)
{
	int			i;

	for (i = 0; i < KEPT_COUNT; i++)
		if (strcmp(fleet_relation_name(kept_tables[i]), name) == 0)
			return i;
	return -1;
}

/* The schema's current name, read by oid. */
static char *
schema_name(void)
{
	char	   *name = get_namespace_name(fleet_catalog()->schema_oid);

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("the schema of extension \"fleet_sites\" no longer exists")));
	return name;
}

static char *
qualified_name(FleetRelation rel)
{
	return quote_qualified_identifier(schema_name(), fleet_relation_name(rel));
}

/* The saved security is in place: a 1.1 schema. */
static bool
saved_security_installed(void)
{
	return OidIsValid(fleet_relid(FLEET_REL_SAVED_SECURITY));
}

static char *
installation_id(void)
{
	return psprintf(UINT64_FORMAT "-%u-%u", GetSystemIdentifier(), MyDatabaseId,
					fleet_catalog()->extension_oid);
}

static Oid
saved_table_owner(void)
{
	HeapTuple	tuple;
	Oid			owner;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(fleet_relid(FLEET_REL_SAVED_SECURITY)));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for fleet_saved_security");
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* The manual functions write what the guard trigger lets only owners write. */
static void
require_owner_rights(const char *function_name)
{
	Oid			owner = saved_table_owner();

	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", function_name),
				 errdetail("%s writes fleet_saved_security, which only its owner (role \"%s\") or a member of that role may write.",
						   function_name, GetUserNameFromId(owner, false))));
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static int
compare_policies(const void *a, const void *b)
{
	return strcmp(((const SecPolicy *) a)->name, ((const SecPolicy *) b)->name);
}

/* ------------------------------------------------------------------------
 * The live state, from the catalog
 * ------------------------------------------------------------------------
 */

static const char *
command_name(char polcmd)
{
	switch (polcmd)
	{
		case '*':
			return "ALL";
		case 'r':
			return "SELECT";
		case 'a':
			return "INSERT";
		case 'w':
			return "UPDATE";
		case 'd':
			return "DELETE";
	}
	elog(ERROR, "unexpected policy command '%c'", polcmd);
	return NULL;				/* keep the compiler quiet */
}

/* A raw policy read under the scan, deparsed after it. */
typedef struct RawPolicy
{
	SecPolicy	policy;
	text	   *qual;
	text	   *with_check;
} RawPolicy;

static text *
copy_node_tree(HeapTuple tuple, int attnum, TupleDesc tupdesc)
{
	bool		isnull;
	Datum		value = heap_getattr(tuple, attnum, tupdesc, &isnull);

	return isnull ? NULL : DatumGetTextPCopy(value);
}

/*
 * Read a table's row-level security from pg_class and pg_policy. The
 * expressions are deparsed under an empty search_path, so every object
 * outside pg_catalog is schema-qualified in them.
 */
static void
read_live(Oid relid, SecState *state)
{
	HeapTuple	tuple;
	Relation	policy_rel;
	ScanKeyData key;
	SysScanDesc scan;
	RawPolicy  *raw = NULL;
	int			capacity = 0;
	int			count = 0;
	int			nestlevel;
	int			i;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	state->enabled = ((Form_pg_class) GETSTRUCT(tuple))->relrowsecurity;
	state->forced = ((Form_pg_class) GETSTRUCT(tuple))->relforcerowsecurity;
	ReleaseSysCache(tuple);

	policy_rel = table_open(PolicyRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_policy_polrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(policy_rel, PolicyPolrelidPolnameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_policy form = (Form_pg_policy) GETSTRUCT(tuple);
		RawPolicy  *item;
		bool		isnull;
		Datum		roles_datum;
		Datum	   *role_oids;
		int			role_count;
		int			r;

		CHECK_FOR_INTERRUPTS();
		if (count == capacity)
		{
			capacity = capacity == 0 ? 8 : capacity * 2;
			raw = raw == NULL ? palloc(capacity * sizeof(RawPolicy))
				: repalloc(raw, capacity * sizeof(RawPolicy));
		}
		item = &raw[count++];
		item->policy.name = pstrdup(NameStr(form->polname));
		item->policy.permissive = form->polpermissive;
		item->policy.command = command_name(form->polcmd);

		roles_datum = heap_getattr(tuple, Anum_pg_policy_polroles,
								   RelationGetDescr(policy_rel), &isnull);
		if (isnull)
			elog(ERROR, "policy \"%s\" has no roles", item->policy.name);
		deconstruct_array(DatumGetArrayTypeP(roles_datum), OIDOID, sizeof(Oid), true,
						  TYPALIGN_INT, &role_oids, NULL, &role_count);
		item->policy.role_count = role_count;
		item->policy.roles = palloc(Max(role_count, 1) * sizeof(char *));
		for (r = 0; r < role_count; r++)
		{
			Oid			role = DatumGetObjectId(role_oids[r]);

			item->policy.roles[r] = role == ACL_ID_PUBLIC ? pstrdup("public")
				: GetUserNameFromId(role, false);
		}
		qsort(item->policy.roles, role_count, sizeof(char *), compare_strings);

		item->qual = copy_node_tree(tuple, Anum_pg_policy_polqual, RelationGetDescr(policy_rel));
		item->with_check = copy_node_tree(tuple, Anum_pg_policy_polwithcheck,
										  RelationGetDescr(policy_rel));
	}
	systable_endscan(scan);
	table_close(policy_rel, AccessShareLock);

	state->count = count;
	state->policies = palloc(Max(count, 1) * sizeof(SecPolicy));

	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	for (i = 0; i < count; i++)
	{
		SecPolicy  *policy = &state->policies[i];

		*policy = raw[i].policy;
		policy->using_expr = raw[i].qual == NULL ? NULL
			: TextDatumGetCString(DirectFunctionCall2(pg_get_expr, PointerGetDatum(raw[i].qual),
													  ObjectIdGetDatum(relid)));
		policy->check_expr = raw[i].with_check == NULL ? NULL
			: TextDatumGetCString(DirectFunctionCall2(pg_get_expr,
													  PointerGetDatum(raw[i].with_check),
													  ObjectIdGetDatum(relid)));
	}
	AtEOXact_GUC(true, nestlevel);

	qsort(state->policies, count, sizeof(SecPolicy), compare_policies);
}

static bool
is_default(const SecState *state)
{
	return !state->enabled && !state->forced && state->count == 0;
}

static const SecPolicy *
find_policy(const SecState *state, const char *name)
{
	int			i;

	for (i = 0; i < state->count; i++)
		if (strcmp(state->policies[i].name, name) == 0)
			return &state->policies[i];
	return NULL;
}

static bool
same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
same_policy(const SecPolicy *a, const SecPolicy *b)
{
	int			i;

	if (strcmp(a->name, b->name) != 0 || a->permissive != b->permissive ||
		strcmp(a->command, b->command) != 0 || a->role_count != b->role_count ||
		!same_text(a->using_expr, b->using_expr) || !same_text(a->check_expr, b->check_expr))
		return false;
	for (i = 0; i < a->role_count; i++)
		if (strcmp(a->roles[i], b->roles[i]) != 0)
			return false;
	return true;
}

/* ------------------------------------------------------------------------
 * The saved form: JSON
 * ------------------------------------------------------------------------
 */

static void
append_json_text(StringInfo buf, const char *value)
{
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

/* The policies as the jsonb array fleet_saved_security.policies holds. */
static Datum
policies_jsonb(const SecState *state)
{
	StringInfoData buf;
	int			i;
	int			r;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < state->count; i++)
	{
		const SecPolicy *policy = &state->policies[i];

		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, "{\"name\": ");
		append_json_text(&buf, policy->name);
		appendStringInfo(&buf, ", \"permissive\": %s, \"command\": ",
						 policy->permissive ? "true" : "false");
		append_json_text(&buf, policy->command);
		appendStringInfoString(&buf, ", \"roles\": [");
		for (r = 0; r < policy->role_count; r++)
		{
			if (r > 0)
				appendStringInfoString(&buf, ", ");
			append_json_text(&buf, policy->roles[r]);
		}
		appendStringInfoString(&buf, "], \"using\": ");
		append_json_text(&buf, policy->using_expr);
		appendStringInfoString(&buf, ", \"check\": ");
		append_json_text(&buf, policy->check_expr);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/* The table's state is exactly the saved row's (fleet_security_status's "ok"). */
static bool
same_as_saved(const SecState *live, Datum live_policies, const SavedRow *saved)
{
	return live->enabled == saved->enabled && live->forced == saved->forced &&
		DatumGetBool(DirectFunctionCall2(jsonb_eq, live_policies, saved->policies));
}

static void
malformed(const char *name, int index, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("malformed saved policy %d of table %s: %s", index + 1, name, what)));
}

static char *
json_string(JsonbContainer *object, const char *key, bool null_ok, const char *table,
			int index)
{
	JsonbValue *value = getKeyJsonValueFromContainer(object, key, strlen(key), NULL);

	if (value == NULL || value->type == jbvNull)
	{
		if (!null_ok)
			malformed(table, index, psprintf("\"%s\" is missing", key));
		return NULL;
	}
	if (value->type != jbvString)
		malformed(table, index, psprintf("\"%s\" is not a string", key));
	return pnstrdup(value->val.string.val, value->val.string.len);
}

/* Element index of a saved policies array, checked, as a SecPolicy. */
static void
saved_policy(Datum policies, int index, const char *table, SecPolicy *policy)
{
	Jsonb	   *array = DatumGetJsonbP(policies);
	JsonbValue *element = getIthJsonbValueFromContainer(&array->root, index);
	JsonbContainer *object;
	JsonbValue *value;
	char	   *command;
	static const char *const commands[] = {"ALL", "SELECT", "INSERT", "UPDATE", "DELETE"};
	int			i;

	if (element == NULL || element->type != jbvBinary ||
		!JsonContainerIsObject(element->val.binary.data))
		malformed(table, index, "not an object");
	object = element->val.binary.data;

	policy->name = json_string(object, "name", false, table, index);
	if (policy->name[0] == '\0' || strlen(policy->name) >= NAMEDATALEN)
		malformed(table, index, "bad \"name\"");

	value = getKeyJsonValueFromContainer(object, "permissive", strlen("permissive"), NULL);
	if (value == NULL || value->type != jbvBool)
		malformed(table, index, "\"permissive\" is not a boolean");
	policy->permissive = value->val.boolean;

	command = json_string(object, "command", false, table, index);
	policy->command = NULL;
	for (i = 0; i < (int) lengthof(commands); i++)
		if (strcmp(command, commands[i]) == 0)
			policy->command = commands[i];
	if (policy->command == NULL)
		malformed(table, index, "bad \"command\"");

	value = getKeyJsonValueFromContainer(object, "roles", strlen("roles"), NULL);
	if (value == NULL || value->type != jbvBinary ||
		!JsonContainerIsArray(value->val.binary.data) ||
		JsonContainerSize(value->val.binary.data) == 0)
		malformed(table, index, "\"roles\" is not a non-empty array");
	policy->role_count = JsonContainerSize(value->val.binary.data);
	policy->roles = palloc(policy->role_count * sizeof(char *));
	for (i = 0; i < policy->role_count; i++)
	{
		JsonbValue *role = getIthJsonbValueFromContainer(value->val.binary.data, i);

		if (role == NULL || role->type != jbvString || role->val.string.len == 0 ||
			role->val.string.len >= NAMEDATALEN)
			malformed(table, index, "a role is not a name");
		policy->roles[i] = pnstrdup(role->val.string.val, role->val.string.len);
	}
	qsort(policy->roles, policy->role_count, sizeof(char *), compare_strings);

	policy->using_expr = json_string(object, "using", true, table, index);
	policy->check_expr = json_string(object, "check", true, table, index);
}

static int
saved_policy_count(Datum policies)
{
	Jsonb	   *array = DatumGetJsonbP(policies);

	return JB_ROOT_IS_ARRAY(array) && !JB_ROOT_IS_SCALAR(array) ? JB_ROOT_COUNT(array) : 0;
}

/* ------------------------------------------------------------------------
 * fleet_saved_security, through the kept statements
 * ------------------------------------------------------------------------
 */

static void
read_saved(const char *table, SavedRow *row)
{
	Datum		values[1];
	bool		isnull;

	values[0] = CStringGetTextDatum(table);
	row->found = fleet_run(FLEET_PLAN_SEC_READ_SAVED, values, NULL, 1) > 0;
	if (row->found)
	{
		HeapTuple	tuple = SPI_tuptable->vals[0];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;

		row->enabled = DatumGetBool(SPI_getbinval(tuple, tupdesc, 1, &isnull));
		row->forced = DatumGetBool(SPI_getbinval(tuple, tupdesc, 2, &isnull));
		row->policies = PointerGetDatum(PG_DETOAST_DATUM_COPY(SPI_getbinval(tuple, tupdesc, 3,
																			&isnull)));
		row->install_id = SPI_getvalue(tuple, tupdesc, 4);
	}
	SPI_freetuptable(SPI_tuptable);
}

static void
write_saved(const char *table, const SecState *state, Datum policies, const char *install_id,
			const char *saved_by)
{
	Datum		values[6];

	values[0] = CStringGetTextDatum(table);
	values[1] = BoolGetDatum(state->enabled);
	values[2] = BoolGetDatum(state->forced);
	values[3] = policies;
	values[4] = CStringGetTextDatum(install_id);
	values[5] = CStringGetTextDatum(saved_by);
	fleet_run(FLEET_PLAN_SEC_SAVE, values, NULL, 0);
}

static bool
clear_saved(const char *table)
{
	Datum		values[1];

	values[0] = CStringGetTextDatum(table);
	return fleet_run(FLEET_PLAN_SEC_CLEAR, values, NULL, 0) > 0;
}

/* The saved rows written elsewhere, one per kept table (NULL: none). */
typedef struct ForeignRows
{
	SavedRow	rows[KEPT_COUNT];
} ForeignRows;

static void
read_foreign(const char *mine, ForeignRows *foreign)
{
	Datum		values[1];
	uint64		count;
	uint64		i;

	memset(foreign, 0, sizeof(*foreign));
	values[0] = CStringGetTextDatum(mine);
	count = fleet_run(FLEET_PLAN_SEC_FOREIGN, values, NULL, 0);
	for (i = 0; i < count; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		char	   *name = SPI_getvalue(tuple, tupdesc, 1);
		int			k = kept_table_by_name(name);
		bool		isnull;
		SavedRow   *row;

		/* A row for a table we do not keep is left alone, and so never applied. */
		if (k < 0 || !kept_table_exists(kept_tables[k]))
			continue;
		row = &foreign->rows[k];
		row->found = true;
		row->enabled = DatumGetBool(SPI_getbinval(tuple, tupdesc, 2, &isnull));
		row->forced = DatumGetBool(SPI_getbinval(tuple, tupdesc, 3, &isnull));
		row->policies = PointerGetDatum(PG_DETOAST_DATUM_COPY(SPI_getbinval(tuple, tupdesc, 4,
																			&isnull)));
	}
	SPI_freetuptable(SPI_tuptable);
}

/* ------------------------------------------------------------------------
 * Saving
 * ------------------------------------------------------------------------
 */

typedef enum SaveOutcome
{
	SAVE_NOTHING,				/* default state, nothing saved */
	SAVE_CLEARED,				/* default state now, saved row removed */
	SAVE_UNCHANGED,				/* saved row already says so */
	SAVE_SAVED,					/* saved row written */
	SAVE_KEPT_PENDING			/* a restored state not applied yet: kept */
} SaveOutcome;

static const char *const save_outcome_names[] = {
	[SAVE_NOTHING] = "nothing to save",
	[SAVE_CLEARED] = "cleared",
	[SAVE_UNCHANGED] = "unchanged",
	[SAVE_SAVED] = "saved",
	[SAVE_KEPT_PENDING] = "kept: restored state not applied yet",
};

/*
 * Save one table's live state. A saved row from another installation that
 * the table does not match is a restored state not applied yet: it is kept
 * (with a WARNING when warn) unless discard_restored.
 */
static SaveOutcome
save_table(FleetRelation rel, bool discard_restored, bool warn, const char *saved_by)
{
	const char *name = fleet_relation_name(rel);
	char	   *mine = installation_id();
	SecState	live;
	Datum		live_policies;
	SavedRow	saved;
	bool		same;

	read_live(fleet_relid(rel), &live);
	live_policies = policies_jsonb(&live);
	read_saved(name, &saved);
	same = saved.found && same_as_saved(&live, live_policies, &saved);

	if (saved.found && !same && strcmp(saved.install_id, mine) != 0 && !discard_restored)
	{
		if (warn)
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("row-level security of %s is not saved: its saved state comes from a dump and is not applied yet",
							qualified_name(rel)),
					 errhint("Run SELECT * FROM fleet_restore_security() to apply it, or SELECT * FROM fleet_save_security(discard_restored => true) to replace it with what the table has now.")));
		return SAVE_KEPT_PENDING;
	}
	if (is_default(&live))
		return clear_saved(name) ? SAVE_CLEARED : SAVE_NOTHING;
	if (same && strcmp(saved.install_id, mine) == 0)
		return SAVE_UNCHANGED;
	write_saved(name, &live, live_policies, mine, saved_by);
	return SAVE_SAVED;
}

/*
 * Before policy DDL: saved rows from elsewhere that the tables match are
 * this installation's from now on, so that the DDL that follows is saved
 * (it would otherwise look like DDL on a table whose restored state is not
 * applied). A table locked by somebody else is left for next time: this
 * runs before any role's ALTER TABLE and must not make it wait.
 */
static void
adopt_matching(void)
{
	char	   *mine = installation_id();
	char	   *user = GetUserNameFromId(GetUserId(), false);
	ForeignRows foreign;
	int			k;

	read_foreign(mine, &foreign);
	for (k = 0; k < KEPT_COUNT; k++)
	{
		FleetRelation rel = kept_tables[k];
		Oid			relid;
		SecState	live;
		Datum		live_policies;

		if (!foreign.rows[k].found)
			continue;
		relid = fleet_relid(rel);
		if (!ConditionalLockRelationOid(relid, AccessShareLock))
			continue;
		read_live(relid, &live);
		live_policies = policies_jsonb(&live);
		if (same_as_saved(&live, live_policies, &foreign.rows[k]))
			write_saved(fleet_relation_name(rel), &live, live_policies, mine, user);
		UnlockRelationOid(relid, AccessShareLock);
	}
}

/* ------------------------------------------------------------------------
 * What a DDL command touched (event triggers)
 * ------------------------------------------------------------------------
 */

static Oid
policy_relid(Oid policy_oid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			relid = InvalidOid;

	rel = table_open(PolicyRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_policy_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(policy_oid));
	scan = systable_beginscan(rel, PolicyOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		relid = ((Form_pg_policy) GETSTRUCT(tuple))->polrelid;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return relid;
}

static void
mark_relid(bool *touched, Oid relid)
{
	int			k;

	for (k = 0; k < KEPT_COUNT; k++)
		if (OidIsValid(relid) && fleet_relid(kept_tables[k]) == relid)
			touched[k] = true;
}

/* ddl_command_end: the tables the command altered or put a policy on. */
static void
touched_by_command(bool *touched)
{
	uint64		count = fleet_run(FLEET_PLAN_SEC_DDL_COMMANDS, NULL, NULL, 0);
	Oid		   *classids = palloc(Max(count, 1) * sizeof(Oid));
	Oid		   *objids = palloc(Max(count, 1) * sizeof(Oid));
	uint64		i;
	bool		isnull;

	for (i = 0; i < count; i++)
	{
		classids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
		objids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	for (i = 0; i < count; i++)
	{
		if (classids[i] == RelationRelationId)
			mark_relid(touched, objids[i]);
		else if (classids[i] == PolicyRelationId)
			mark_relid(touched, policy_relid(objids[i]));
	}
}

/*
 * sql_drop: the tables that lost a policy. The policy is gone from the
 * catalog; its address names the table as (schema, table), compared with
 * our schema's and tables' current names.
 */
static void
touched_by_drop(bool *touched)
{
	uint64		count = fleet_run(FLEET_PLAN_SEC_DROPPED_POLICIES, NULL, NULL, 0);
	char	   *schema = schema_name();
	uint64		i;
	int			k;

	for (i = 0; i < count; i++)
	{
		char	   *nsp = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *rel = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (nsp == NULL || rel == NULL || strcmp(nsp, schema) != 0)
			continue;
		k = kept_table_by_name(rel);
		if (k >= 0)
			touched[k] = true;
	}
	SPI_freetuptable(SPI_tuptable);
}

PG_FUNCTION_INFO_V1(fleet_security_capture);

/*
 * Event trigger, on ddl_command_start (adopt), ddl_command_end and sql_drop
 * (save the touched tables). Commands of extension scripts are left alone:
 * an update script makes its own state.
 */
Datum
fleet_security_capture(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	bool		touched[KEPT_COUNT];
	int			k;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function fleet_security_capture must be fired as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (creating_extension || applying)
		PG_RETURN_NULL();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!saved_security_installed())
	{
		SPI_finish();
		PG_RETURN_NULL();
	}

	if (strcmp(trigdata->event, "ddl_command_start") == 0)
	{
		adopt_matching();
		SPI_finish();
		PG_RETURN_NULL();
	}

	memset(touched, 0, sizeof(touched));
	if (trigdata->tag == CMDTAG_DROP_OWNED)
	{
		/* It may have taken a role out of any policy: look at every table. */
		for (k = 0; k < KEPT_COUNT; k++)
			touched[k] = true;
	}
	else if (strcmp(trigdata->event, "sql_drop") == 0)
		touched_by_drop(touched);
	else
		touched_by_command(touched);

	for (k = 0; k < KEPT_COUNT; k++)
	{
		if (!touched[k] || !kept_table_exists(kept_tables[k]))
			continue;
		(void) save_table(kept_tables[k], false, true,
						  GetUserNameFromId(GetUserId(), false));
	}

	SPI_finish();
	PG_RETURN_NULL();
}

/* ------------------------------------------------------------------------
 * Applying a restored state
 * ------------------------------------------------------------------------
 */

/* Where the result rows go: fleet_restore_security()'s result, or nowhere. */
typedef struct Reporter
{
	Tuplestorestate *store;
	TupleDesc	desc;
} Reporter;

static void
report(const Reporter *reporter, const char *table, const char *item, const char *result)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (reporter->store == NULL)
		return;
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(table));
	values[1] = CStringGetTextDatum(item);
	values[2] = CStringGetTextDatum(result);
	tuplestore_putvalues(reporter->store, reporter->desc, values, nulls);
}

typedef void (*SubtransactionBody) (void *arg);

/*
 * Run body in a subtransaction of its own. Returns NULL when it succeeded,
 * else the error, with everything body did rolled back (like a PL/pgSQL
 * block with an EXCEPTION clause). A cancel is not caught.
 */
static ErrorData *
in_subtransaction(SubtransactionBody body, void *arg)
{
	MemoryContext context = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile error = NULL;

	BeginInternalSubTransaction(NULL);
	/* What body allocates must outlive the subtransaction. */
	MemoryContextSwitchTo(context);
	PG_TRY();
	{
		body(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(context);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(context);
		CurrentResourceOwner = owner;
		if (error->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(error);
	}
	PG_END_TRY();
	return error;
}

/* The DDL went to a relation that is not ours (the schema renamed meanwhile). */
static void
elsewhere(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("the schema of extension \"fleet_sites\" was renamed while %s", what),
			 errdetail("The statement's table name did not resolve to the extension's table; it was rolled back."),
			 errhint("Run SELECT * FROM fleet_restore_security() again.")));
}

static void
run_ddl(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != SPI_OK_UTILITY)
		elog(ERROR, "statement \"%s\" failed: %s", sql, SPI_result_code_string(rc));
}

/* The oid of our table's policy of that name, or InvalidOid. */
static Oid
policy_on(Oid relid, const char *name)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			found = InvalidOid;

	rel = table_open(PolicyRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_policy_polrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, PolicyPolrelidPolnameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_policy form = (Form_pg_policy) GETSTRUCT(tuple);

		if (strcmp(NameStr(form->polname), name) == 0)
			found = form->oid;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* One table being applied. */
typedef struct TableWork
{
	FleetRelation rel;
	Oid			relid;
	const char *schema;
	const char *qualified;
	const SavedRow *saved;
} TableWork;

static void
apply_switches(void *arg)
{
	TableWork  *work = (TableWork *) arg;
	HeapTuple	tuple;
	Form_pg_class form;
	bool		ok;

	run_ddl(psprintf("ALTER TABLE %s %s ROW LEVEL SECURITY", work->qualified,
					 work->saved->enabled ? "ENABLE" : "DISABLE"));
	run_ddl(psprintf("ALTER TABLE %s %s ROW LEVEL SECURITY", work->qualified,
					 work->saved->forced ? "FORCE" : "NO FORCE"));

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(work->relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", work->relid);
	form = (Form_pg_class) GETSTRUCT(tuple);
	ok = form->relrowsecurity == work->saved->enabled &&
		form->relforcerowsecurity == work->saved->forced;
	ReleaseSysCache(tuple);
	if (!ok)
		elsewhere("its row-level security was being restored");
}

/* One saved policy being applied. */
typedef struct PolicyWork
{
	TableWork  *table;
	int			index;
	SecPolicy	saved;
	bool		parsed;
	StringInfoData roles;		/* the roles that exist, as a TO list */
	StringInfoData missing;		/* those that do not, by name */
	const char *result;
	bool		complete;
} PolicyWork;

/*
 * The text must be exactly one CREATE POLICY of that name on our table
 * (schema and name as we wrote them), with the clauses the saved policy
 * has: the expressions cannot add a statement or another clause.
 */
static void
check_create_policy(const char *sql, const PolicyWork *work)
{
	List	   *statements = raw_parser(sql, RAW_PARSE_DEFAULT);
	CreatePolicyStmt *stmt;

	if (list_length(statements) != 1 ||
		!IsA(linitial_node(RawStmt, statements)->stmt, CreatePolicyStmt))
		malformed(fleet_relation_name(work->table->rel), work->index,
				  "it does not make one CREATE POLICY statement");
	stmt = (CreatePolicyStmt *) linitial_node(RawStmt, statements)->stmt;
	if (stmt->table->catalogname != NULL || stmt->table->schemaname == NULL ||
		strcmp(stmt->table->schemaname, work->table->schema) != 0 ||
		strcmp(stmt->table->relname, fleet_relation_name(work->table->rel)) != 0 ||
		strcmp(stmt->policy_name, work->saved.name) != 0 ||
		stmt->permissive != work->saved.permissive ||
		pg_strcasecmp(stmt->cmd_name, work->saved.command) != 0 ||
		(stmt->qual != NULL) != (work->saved.using_expr != NULL) ||
		(stmt->with_check != NULL) != (work->saved.check_expr != NULL))
		malformed(fleet_relation_name(work->table->rel), work->index,
				  "its expressions change the CREATE POLICY statement");
}

static void
apply_policy(void *arg)
{
	PolicyWork *work = (PolicyWork *) arg;
	TableWork  *table = work->table;
	SecState	live;
	const SecPolicy *present;
	StringInfoData sql;
	int			i;

	saved_policy(table->saved->policies, work->index, fleet_relation_name(table->rel),
				 &work->saved);
	work->parsed = true;

	read_live(table->relid, &live);
	present = find_policy(&live, work->saved.name);
	if (present != NULL && same_policy(present, &work->saved))
	{
		work->result = "already present";
		return;
	}

	for (i = 0; i < work->saved.role_count; i++)
	{
		const char *role = work->saved.roles[i];

		if (strcmp(role, "public") == 0 || OidIsValid(get_role_oid(role, true)))
		{
			if (work->roles.len > 0)
				appendStringInfoString(&work->roles, ", ");
			appendStringInfoString(&work->roles,
								   strcmp(role, "public") == 0 ? "PUBLIC" : quote_identifier(role));
		}
		else
		{
			if (work->missing.len > 0)
				appendStringInfoString(&work->missing, ", ");
			appendStringInfoString(&work->missing, role);
		}
	}
	if (work->roles.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("none of its roles exists (%s)", work->missing.data)));

	if (present != NULL)
	{
		run_ddl(psprintf("DROP POLICY %s ON %s", quote_identifier(work->saved.name),
						 table->qualified));
		if (OidIsValid(policy_on(table->relid, work->saved.name)))
			elsewhere("a policy was being restored");
	}

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE POLICY %s ON %s AS %s FOR %s TO %s",
					 quote_identifier(work->saved.name), table->qualified,
					 work->saved.permissive ? "PERMISSIVE" : "RESTRICTIVE",
					 work->saved.command, work->roles.data);
	if (work->saved.using_expr != NULL)
		appendStringInfo(&sql, " USING (%s)", work->saved.using_expr);
	if (work->saved.check_expr != NULL)
		appendStringInfo(&sql, " WITH CHECK (%s)", work->saved.check_expr);
	check_create_policy(sql.data, work);
	run_ddl(sql.data);
	if (!OidIsValid(policy_on(table->relid, work->saved.name)))
		elsewhere("a policy was being restored");

	if (work->missing.len == 0)
		work->result = present == NULL ? "created" : "replaced";
	else
	{
		/* It stands for the roles that exist; the saved row keeps the rest. */
		work->complete = false;
		work->result = psprintf("INCOMPLETE: created without its missing role(s) %s",
								work->missing.data);
	}
}

/*
 * A restrictive policy that could not be created would let its roles see
 * more without it: a deny-all restrictive policy of its name and roles takes
 * its place until it can be.
 */
static void
apply_stand_in(void *arg)
{
	PolicyWork *work = (PolicyWork *) arg;
	TableWork  *table = work->table;
	const char *command = work->saved.command;
	bool		has_using = strcmp(command, "INSERT") != 0;
	bool		has_check = strcmp(command, "ALL") == 0 || strcmp(command, "INSERT") == 0 ||
		strcmp(command, "UPDATE") == 0;

	if (OidIsValid(policy_on(table->relid, work->saved.name)))
		run_ddl(psprintf("DROP POLICY %s ON %s", quote_identifier(work->saved.name),
						 table->qualified));
	run_ddl(psprintf("CREATE POLICY %s ON %s AS RESTRICTIVE FOR %s TO %s%s%s",
					 quote_identifier(work->saved.name), table->qualified, command,
					 work->roles.data, has_using ? " USING (false)" : "",
					 has_check ? " WITH CHECK (false)" : ""));
	if (!OidIsValid(policy_on(table->relid, work->saved.name)))
		elsewhere("a policy was being restored");
}

static void
warn_item(const TableWork *table, const char *item, const char *how, const char *result,
		  const char *hint)
{
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("fleet_sites: %s: %s %s: %s", table->qualified, item, how, result),
			 errhint("%s", hint)));
}

/* Apply one saved policy; false when it is not fully restored. */
static bool
restore_policy(const Reporter *reporter, TableWork *table, int index)
{
	PolicyWork	work;
	ErrorData  *error;
	const char *item;

	memset(&work, 0, sizeof(work));
	work.table = table;
	work.index = index;
	work.complete = true;
	initStringInfo(&work.roles);
	initStringInfo(&work.missing);

	error = in_subtransaction(apply_policy, &work);
	item = work.parsed ? psprintf("policy %s", work.saved.name)
		: psprintf("policy #%d", index + 1);
	if (error == NULL)
	{
		if (!work.complete)
			warn_item(table, item, "not fully restored", work.result,
					  "Create the roles (pg_dumpall --globals-only), then run SELECT * FROM fleet_restore_security() again.");
		report(reporter, fleet_relation_name(table->rel), item, work.result);
		return work.complete;
	}

	work.result = psprintf("FAILED: %s", error->message);
	if (work.parsed && !work.saved.permissive && work.roles.len > 0)
	{
		ErrorData  *again = in_subtransaction(apply_stand_in, &work);

		work.result = again == NULL
			? psprintf("%s; a deny-all restrictive policy of that name stands in", work.result)
			: psprintf("%s; no deny-all stand-in either: %s", work.result, again->message);
	}
	warn_item(table, item, "not restored", work.result,
			  "Create what is missing, then run SELECT * FROM fleet_restore_security() again.");
	report(reporter, fleet_relation_name(table->rel), item, work.result);
	return false;
}

/*
 * Apply every saved row written by another installation whose table does not
 * match it. Returns how many tables are not fully restored.
 */
static int
apply_restored(const Reporter *reporter)
{
	char	   *mine = installation_id();
	char	   *user = GetUserNameFromId(GetUserId(), false);
	char	   *schema = schema_name();
	ForeignRows foreign;
	int			failures = 0;
	int			k;

	read_foreign(mine, &foreign);
	for (k = 0; k < KEPT_COUNT; k++)
	{
		FleetRelation rel = kept_tables[k];
		TableWork	table;
		SecState	live;
		Datum		live_policies;
		ErrorData  *error;
		bool		whole = true;
		int			count;
		int			i;

		CHECK_FOR_INTERRUPTS();
		if (!foreign.rows[k].found)
			continue;

		table.rel = rel;
		table.relid = fleet_relid(rel);
		table.schema = schema;
		table.qualified = quote_qualified_identifier(schema, fleet_relation_name(rel));
		table.saved = &foreign.rows[k];
		LockRelationOid(table.relid, AccessExclusiveLock);

		read_live(table.relid, &live);
		live_policies = policies_jsonb(&live);
		if (same_as_saved(&live, live_policies, table.saved))
		{
			/* Already so (policies made by hand, pg_upgrade): ours now. */
			write_saved(fleet_relation_name(rel), &live, live_policies, mine, user);
			continue;
		}

		/* The switches first: with RLS on, a missing permissive policy denies. */
		error = in_subtransaction(apply_switches, &table);
		if (error != NULL)
		{
			const char *result = psprintf("FAILED: %s", error->message);

			warn_item(&table, "row level security", "not restored", result,
					  "Run SELECT * FROM fleet_restore_security() as the owner of the fleet_sites tables.");
			report(reporter, fleet_relation_name(rel), "row level security", result);
			failures++;
			continue;
		}
		report(reporter, fleet_relation_name(rel), "row level security",
			   psprintf("%s%s", table.saved->enabled ? "enabled" : "disabled",
						table.saved->forced ? ", forced" : ""));

		count = saved_policy_count(table.saved->policies);
		for (i = 0; i < count; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (!restore_policy(reporter, &table, i))
				whole = false;
		}

		if (whole)
		{
			/* Applied whole, with any policy made since: saved here from now on. */
			read_live(table.relid, &live);
			write_saved(fleet_relation_name(rel), &live, policies_jsonb(&live), mine, user);
		}
		else
			failures++;
	}
	return failures;
}

/* Apply with the event triggers kept out of our own DDL. */
static int
apply_restored_guarded(const Reporter *reporter)
{
	int			failures = 0;
	bool		was_applying = applying;

	applying = true;
	PG_TRY();
	{
		failures = apply_restored(reporter);
	}
	PG_FINALLY();
	{
		applying = was_applying;
	}
	PG_END_TRY();
	return failures;
}

static void
warn_failures(int failures)
{
	if (failures > 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("fleet_sites: row-level security of %d table(s) is not fully restored", failures),
				 errhint("SELECT * FROM fleet_security_status WHERE state <> 'ok' lists them; the move functions refuse to read them until they are.")));
}

/* ------------------------------------------------------------------------
 * The triggers on fleet_saved_security
 * ------------------------------------------------------------------------
 */

static TriggerData *
saved_table_trigger(FunctionCallInfo fcinfo, const char *name, bool before)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		(before ? !TRIGGER_FIRED_BEFORE(trigdata->tg_event)
		 : !TRIGGER_FIRED_AFTER(trigdata->tg_event)) ||
		RelationGetRelid(trigdata->tg_relation) != fleet_relid(FLEET_REL_SAVED_SECURITY))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function %s must be fired %s ... FOR EACH STATEMENT on table fleet_saved_security",
						name, before ? "BEFORE" : "AFTER")));
	return trigdata;
}

PG_FUNCTION_INFO_V1(fleet_saved_security_guard);

/*
 * BEFORE INSERT, UPDATE, DELETE or TRUNCATE: the saved rows become CREATE
 * POLICY statements run by whoever restores a dump, so only a role that
 * could create the policies itself may write them, whatever was granted on
 * the table. Every write also tells each backend that its cached answer to
 * "is a restored state pending?" is stale.
 */
Datum
fleet_saved_security_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = saved_table_trigger(fcinfo, "fleet_saved_security_guard", true);
	Oid			owner = trigdata->tg_relation->rd_rel->relowner;

	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to write saved row-level security"),
				 errdetail("Only the owner of the fleet_sites tables (role \"%s\") or a member of it may write fleet_saved_security: its rows become CREATE POLICY statements when a dump is restored.",
						   GetUserNameFromId(owner, false)),
				 errhint("fleet_save_security() saves what the catalog holds.")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

/* Did the statement load a row that another installation saved? */
static bool
loaded_from_elsewhere(TriggerData *trigdata)
{
	Tuplestorestate *store = trigdata->tg_newtable;
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	TupleTableSlot *slot;
	AttrNumber	attnum = InvalidAttrNumber;
	char	   *mine;
	bool		found = false;
	int			pointer;
	int			i;

	if (store == NULL || tuplestore_tuple_count(store) == 0)
		return false;
	for (i = 0; i < tupdesc->natts; i++)
		if (!TupleDescAttr(tupdesc, i)->attisdropped &&
			strcmp(NameStr(TupleDescAttr(tupdesc, i)->attname), "install_id") == 0)
			attnum = i + 1;
	if (attnum == InvalidAttrNumber)
		elog(ERROR, "fleet_saved_security has no column install_id");

	mine = installation_id();
	slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
	pointer = tuplestore_alloc_read_pointer(store, EXEC_FLAG_REWIND);
	tuplestore_select_read_pointer(store, pointer);
	tuplestore_rescan(store);
	while (!found && tuplestore_gettupleslot(store, true, false, slot))
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, attnum, &isnull);

		if (isnull || strcmp(TextDatumGetCString(value), mine) != 0)
			found = true;
	}
	tuplestore_select_read_pointer(store, 0);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

static void
apply_from_trigger(void *arg)
{
	int		   *failures = (int *) arg;
	Reporter	nowhere = {NULL, NULL};

	*failures = apply_restored_guarded(&nowhere);
}

PG_FUNCTION_INFO_V1(fleet_saved_security_loaded);

/*
 * AFTER INSERT FOR EACH STATEMENT (ENABLE ALWAYS): rows saved by another
 * installation were loaded, by pg_restore as a rule: apply them now, during
 * the data section, when the roles, schemas and functions the policies name
 * exist. It never fails the load (the saved rows must stay): an error is a
 * WARNING, and the state stays pending.
 */
Datum
fleet_saved_security_loaded(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = saved_table_trigger(fcinfo, "fleet_saved_security_loaded", false);
	ErrorData  *error;
	int			failures = 0;

	if (!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function fleet_saved_security_loaded must be fired AFTER INSERT")));
	if (applying || !loaded_from_elsewhere(trigdata))
		return PointerGetDatum(NULL);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	error = in_subtransaction(apply_from_trigger, &failures);
	if (error != NULL)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("fleet_sites: could not apply the restored row-level security: %s",
						error->message),
				 errhint("Run SELECT * FROM fleet_restore_security() as the owner of the fleet_sites tables.")));
	else
		warn_failures(failures);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* ------------------------------------------------------------------------
 * The SQL functions
 * ------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(fleet_installation_id);

/* This installation, as saved rows name it. */
Datum
fleet_installation_id(PG_FUNCTION_ARGS)
{
	(void) fcinfo;
	PG_RETURN_TEXT_P(cstring_to_text(installation_id()));
}

PG_FUNCTION_INFO_V1(fleet_security_definition);

/* A table's row-level security as {rls_enabled, rls_forced, policies}. */
Datum
fleet_security_definition(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	SecState	live;
	Datum		policies;
	StringInfoData buf;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		PG_RETURN_NULL();
	read_live(relid, &live);
	policies = policies_jsonb(&live);
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"rls_enabled\": %s, \"rls_forced\": %s, \"policies\": %s}",
					 live.enabled ? "true" : "false", live.forced ? "true" : "false",
					 DatumGetCString(DirectFunctionCall1(jsonb_out, policies)));
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

PG_FUNCTION_INFO_V1(fleet_save_security);

/*
 * fleet_save_security(discard_restored boolean DEFAULT false, tables name[]
 * DEFAULT NULL): save the named tables (all kept tables when NULL), one row
 * each (table_name, action).
 */
Datum
fleet_save_security(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		chosen[KEPT_COUNT];
	bool		discard;
	int			k;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("discard_restored must not be NULL")));
	discard = PG_GETARG_BOOL(0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!saved_security_installed())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("fleet_saved_security does not exist"),
				 errhint("ALTER EXTENSION fleet_sites UPDATE")));
	require_owner_rights("fleet_save_security");

	memset(chosen, 0, sizeof(chosen));
	if (PG_ARGISNULL(1))
	{
		for (k = 0; k < KEPT_COUNT; k++)
			chosen[k] = true;
	}
	else
	{
		Datum	   *names;
		bool	   *nulls;
		int			count;
		int			i;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), NAMEOID, NAMEDATALEN, false,
						  TYPALIGN_CHAR, &names, &nulls, &count);
		for (i = 0; i < count; i++)
		{
			const char *name;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("tables must not contain NULL")));
			name = NameStr(*DatumGetName(names[i]));
			k = kept_table_by_name(name);
			if (k < 0 || !kept_table_exists(kept_tables[k]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("fleet_sites keeps no row-level security for table \"%s\"", name),
						 errhint("Name tables of the extension: fleet_site, fleet_building, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot, fleet_activity.")));
			chosen[k] = true;
		}
	}

	SetSingleFuncCall(fcinfo, 0);
	for (k = 0; k < KEPT_COUNT; k++)
	{
		FleetRelation rel = kept_tables[k];
		SaveOutcome outcome;
		Datum		values[2];
		bool		nulls[2] = {false, false};

		if (!chosen[k] || !kept_table_exists(rel))
			continue;
		/* No policy DDL on it may commit while we read it. */
		LockRelationOid(fleet_relid(rel), AccessShareLock);
		outcome = save_table(rel, discard, true, GetUserNameFromId(GetUserId(), false));
		values[0] = DirectFunctionCall1(namein, CStringGetDatum(fleet_relation_name(rel)));
		values[1] = CStringGetTextDatum(save_outcome_names[outcome]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(fleet_restore_security);

/*
 * fleet_restore_security(): apply the saved rows that came from a dump, one
 * result row per item (table_name, item, result). Can be run again.
 */
Datum
fleet_restore_security(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Reporter	reporter;
	int			failures;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!saved_security_installed())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("fleet_saved_security does not exist"),
				 errhint("ALTER EXTENSION fleet_sites UPDATE")));
	require_owner_rights("fleet_restore_security");

	SetSingleFuncCall(fcinfo, 0);
	reporter.store = rsinfo->setResult;
	reporter.desc = rsinfo->setDesc;
	failures = apply_restored_guarded(&reporter);
	warn_failures(failures);
	SPI_finish();
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * The move functions' check
 * ------------------------------------------------------------------------
 */

/*
 * Which kept tables have a restored state not applied yet, as a bit per
 * FleetRelation, cached for the backend. The answer depends on the saved
 * rows and on the tables' policies: any write of fleet_saved_security (its
 * guard trigger sends an invalidation for the table, ENABLE ALWAYS), any DDL
 * on our tables and any role change make it stale.
 */
static bool pending_valid = false;
static uint32 pending_mask = 0;
static Oid	pending_depends[FLEET_REL_COUNT];
static bool pending_callbacks = false;

static void
pending_on_relcache(Datum arg, Oid relid)
{
	int			i;

	(void) arg;
	if (!pending_valid)
		return;
	if (relid == InvalidOid)
	{
		pending_valid = false;
		return;
	}
	for (i = 0; i < FLEET_REL_COUNT; i++)
		if (pending_depends[i] == relid)
			pending_valid = false;
}

static void
pending_on_role(Datum arg, int cacheid, uint32 hashvalue)
{
	(void) arg;
	(void) cacheid;
	(void) hashvalue;
	pending_valid = false;
}

static void
compute_pending(void)
{
	ForeignRows foreign;
	uint32		mask = 0;
	int			i;
	int			k;

	if (!pending_callbacks)
	{
		CacheRegisterRelcacheCallback(pending_on_relcache, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, pending_on_role, (Datum) 0);
		pending_callbacks = true;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (i = 0; i < FLEET_REL_COUNT; i++)
		pending_depends[i] = fleet_relid((FleetRelation) i);
	read_foreign(installation_id(), &foreign);
	for (k = 0; k < KEPT_COUNT; k++)
	{
		SecState	live;

		if (!foreign.rows[k].found)
			continue;
		read_live(fleet_relid(kept_tables[k]), &live);
		if (!same_as_saved(&live, policies_jsonb(&live), &foreign.rows[k]))
			mask |= (uint32) 1 << kept_tables[k];
	}
	SPI_finish();

	pending_mask = mask;
	pending_valid = true;
}

/*
 * Called by the privilege gate for every table a move function reads or
 * writes (before any lock): refuse while that table's row-level security is a
 * restored state not applied yet. The move functions rely on row-level
 * security for tenancy; until the saved policies are back, a tenant could
 * move what it must not see (when the load ran with triggers disabled, row
 * level security is simply off). Roles that row-level security never
 * applies to (superusers, BYPASSRLS) are not refused: its state cannot
 * change what they touch.
 */
void
fleet_require_security_applied(FleetRelation rel, const char *function_name)
{
	if (!saved_security_installed())
		return;
	if (superuser() || has_bypassrls_privilege(GetUserId()))
		return;
	if (!pending_valid)
		compute_pending();
	if ((pending_mask & ((uint32) 1 << rel)) == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("row-level security of table %s is not restored", fleet_relation_name(rel)),
			 errdetail("%s uses %s, whose row-level security came back from a dump in fleet_saved_security but is not applied yet, so its policies are not what was saved.",
					   function_name, qualified_name(rel)),
			 errhint("The owner of the fleet_sites tables runs SELECT * FROM fleet_restore_security() (after creating any role or function it reports missing), or SELECT * FROM fleet_save_security(discard_restored => true) to keep the table as it is.")));
}
