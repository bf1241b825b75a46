/*
 * guards.c: the placement invariant holds for every write, not only ours.
 *
 * One trigger function guards INSERT (and so COPY) and UPDATE on the
 * placement tables: AFTER ... FOR EACH STATEMENT, with transition tables,
 * so that a bulk load is checked with a few set-based statements rather
 * than row by row. It fails the statement with 23514 naming the first row
 * that breaks a rule, with a hint naming the function that makes that
 * change atomically; deletes are never guarded (they keep the invariant by
 * themselves, see delete_triggers.c).
 *
 * The functions' own writes are not checked (exemption.c): they keep the
 * invariant by construction, and checking 10,000 rows again would cost what
 * they saved.
 *
 * Concurrency. The statement being guarded has already locked the rows it
 * updated (and KEY SHARE-locked what its foreign keys reference). A guard
 * adds only the locks without which a concurrent writer could slip past its
 * check (write skew), and takes them with SKIP LOCKED, never waiting: they
 * may be out of the one lock order (a rack's building after the rack), so
 * waiting could deadlock; a row another transaction holds makes the write
 * fail with 40001, to be retried. What it locks:
 *   - a membership: its rack (capacity, the rack's placement) and its device
 *     (the device's placement), NO KEY UPDATE, as a rack fill does;
 *   - a slot: its rack, FOR SHARE (its size);
 *   - a rack given a building or position: that building, NO KEY UPDATE
 *     (its layout and rack count), as a rack fill does.
 * Everything else a check reads is protected by a lock the statement or the
 * other writer already holds: a device's rack or building changes placement
 * only after the device is locked; a rack's members change only under the
 * rack's lock; a building's site is part of its unique key, so changing it
 * conflicts with the KEY SHARE that referencing writes take. The checks read
 * with a current snapshot on the owner's authority: everything that
 * committed, whatever row-level security lets the writer see.
 */
#include "fleet_sites.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#define MAX_KEY_COLUMNS 7

/* The placement columns of one row, for telling changed rows from others. */
typedef struct RowKey
{
	int64		values[MAX_KEY_COLUMNS];
	bool		nulls[MAX_KEY_COLUMNS];
} RowKey;

/* Which columns of each table matter to the invariant (all bigint or int). */
typedef struct GuardedTable
{
	FleetRelation rel;
	const char *columns[MAX_KEY_COLUMNS];
} GuardedTable;

static const GuardedTable guarded_tables[] = {
	{FLEET_REL_DEVICE, {"id", "site_id", "building_id"}},
	{FLEET_REL_RACK, {"id", "site_id", "building_id", "aisle_index", "position_in_aisle",
	"row_count", "column_count"}},
	{FLEET_REL_BUILDING, {"id", "site_id", "aisle_count", "racks_per_aisle"}},
	{FLEET_REL_MEMBERSHIP, {"rack_id", "device_id"}},
	{FLEET_REL_SLOT, {"rack_id", "device_id", "row_index", "column_index"}},
};

/* The changed rows of one statement, column by column. */
typedef struct ChangedRows
{
	int			count;
	int			ncolumns;
	int64	   *values[MAX_KEY_COLUMNS];
	bool	   *nulls[MAX_KEY_COLUMNS];
} ChangedRows;

static void
read_key(TupleTableSlot *slot, const AttrNumber *attnums, int ncolumns, RowKey *key)
{
	int			i;

	memset(key, 0, sizeof(RowKey));
	for (i = 0; i < ncolumns; i++)
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, attnums[i], &isnull);
		Oid			type = TupleDescAttr(slot->tts_tupleDescriptor, attnums[i] - 1)->atttypid;

		key->nulls[i] = isnull;
		if (!isnull)
			key->values[i] = type == INT8OID ? DatumGetInt64(value) : DatumGetInt32(value);
	}
}

/* Read a transition table through a read pointer of our own. */
static void
scan_rows(Tuplestorestate *store, TupleDesc tupdesc, const AttrNumber *attnums, int ncolumns,
		  void (*fn) (const RowKey *key, void *arg), void *arg)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
	int			pointer = tuplestore_alloc_read_pointer(store, EXEC_FLAG_REWIND);
	RowKey		key;

	tuplestore_select_read_pointer(store, pointer);
	tuplestore_rescan(store);
	while (tuplestore_gettupleslot(store, true, false, slot))
	{
		CHECK_FOR_INTERRUPTS();
		read_key(slot, attnums, ncolumns, &key);
		fn(&key, arg);
	}
	tuplestore_select_read_pointer(store, 0);
	ExecDropSingleTupleTableSlot(slot);
}

static void
remember_old(const RowKey *key, void *arg)
{
	bool		found;

	hash_search((HTAB *) arg, key, HASH_ENTER, &found);
}

typedef struct CollectState
{
	HTAB	   *old_rows;		/* NULL for an INSERT */
	ChangedRows *changed;
	int			capacity;
} CollectState;

static void
collect_changed(const RowKey *key, void *arg)
{
	CollectState *state = (CollectState *) arg;
	ChangedRows *changed = state->changed;
	bool		found = false;
	int			i;

	if (state->old_rows != NULL)
		hash_search(state->old_rows, key, HASH_FIND, &found);
	if (found)
		return;					/* its placement columns did not change */
	if (changed->count == state->capacity)
	{
		state->capacity *= 2;
		for (i = 0; i < changed->ncolumns; i++)
		{
			changed->values[i] = repalloc(changed->values[i], sizeof(int64) * state->capacity);
			changed->nulls[i] = repalloc(changed->nulls[i], sizeof(bool) * state->capacity);
		}
	}
	for (i = 0; i < changed->ncolumns; i++)
	{
		changed->values[i][changed->count] = key->values[i];
		changed->nulls[i][changed->count] = key->nulls[i];
	}
	changed->count++;
}

/*
 * The rows the statement inserted, or the rows it updated whose placement
 * columns changed (a new row version with the same values as an old one
 * changed nothing that matters: a rename, a touch of updated_at).
 */
static ChangedRows *
changed_rows(TriggerData *trigdata, const GuardedTable *table)
{
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	Oid			relid = RelationGetRelid(trigdata->tg_relation);
	AttrNumber	attnums[MAX_KEY_COLUMNS];
	int			ncolumns = 0;
	ChangedRows *changed = palloc0(sizeof(ChangedRows));
	CollectState state;
	int			i;

	while (ncolumns < MAX_KEY_COLUMNS && table->columns[ncolumns] != NULL)
	{
		attnums[ncolumns] = get_attnum(relid, table->columns[ncolumns]);
		if (attnums[ncolumns] == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of \"%s\" is missing", table->columns[ncolumns],
				 fleet_relation_name(table->rel));
		ncolumns++;
	}
	changed->ncolumns = ncolumns;
	state.capacity = 64;
	for (i = 0; i < ncolumns; i++)
	{
		changed->values[i] = palloc(sizeof(int64) * state.capacity);
		changed->nulls[i] = palloc(sizeof(bool) * state.capacity);
	}
	state.changed = changed;
	state.old_rows = NULL;

	if (trigdata->tg_newtable == NULL)
		return changed;
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && trigdata->tg_oldtable != NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(RowKey);
		ctl.entrysize = sizeof(RowKey);
		ctl.hcxt = CurrentMemoryContext;
		state.old_rows = hash_create("fleet_sites old rows", 256, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		scan_rows(trigdata->tg_oldtable, tupdesc, attnums, ncolumns, remember_old,
				  state.old_rows);
	}
	scan_rows(trigdata->tg_newtable, tupdesc, attnums, ncolumns, collect_changed, &state);
	return changed;
}

/* The non-NULL values of one column, ascending and distinct. */
static Datum
distinct_ids(const ChangedRows *rows, int column, int *count)
{
	int64	   *ids = palloc(sizeof(int64) * (rows->count + 1));
	int			n = 0;
	int			i;
	int			distinct = 0;

	for (i = 0; i < rows->count; i++)
		if (!rows->nulls[column][i])
			ids[n++] = rows->values[column][i];
	qsort(ids, n, sizeof(int64), fleet_compare_int64);
	for (i = 0; i < n; i++)
		if (distinct == 0 || ids[distinct - 1] != ids[i])
			ids[distinct++] = ids[i];
	if (count != NULL)
		*count = distinct;
	return fleet_int64_array(ids, distinct);
}

/*
 * Lock these rows without waiting (see the top of the file); one that
 * another transaction holds (or that is gone) fails the write with 40001.
 */
static void
lock_without_waiting(FleetPlanId plan, Datum ids, int count, const char *what)
{
	Datum		values[1];
	uint64		locked;

	if (count == 0)
		return;
	values[0] = ids;
	locked = fleet_run(plan, values, NULL, 0);
	SPI_freetuptable(SPI_tuptable);
	if (locked < (uint64) count)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not check the placement of this write: a %s it depends on is being changed by another transaction",
						what),
				 errhint("Retry the transaction.")));
}

typedef enum WriteKind
{
	WRITE_DEVICE,
	WRITE_MEMBERSHIP
} WriteKind;

/*
 * How a refusal names a device: by its identifier when the writer may see
 * the device, else by the id the writer gave. A membership or slot can name
 * a device that row-level security (or a missing SELECT privilege) hides
 * from the writer, and an error must not reveal what a SELECT would not.
 * Only on the way to an error: it runs a statement, replacing SPI_tuptable.
 */
static char *
device_as_writer_sees_it(int64 device_id, const char *identifier)
{
	Oid			relid = fleet_relid(FLEET_REL_DEVICE);
	Oid			user = GetUserId();
	Datum		values[1];
	bool		may_select;

	may_select = pg_class_aclcheck(relid, user, ACL_SELECT) == ACLCHECK_OK ||
		(pg_attribute_aclcheck(relid, get_attnum(relid, "id"), user, ACL_SELECT) == ACLCHECK_OK &&
		 pg_attribute_aclcheck(relid, get_attnum(relid, "identifier"), user,
							   ACL_SELECT) == ACLCHECK_OK);
	values[0] = Int64GetDatum(device_id);
	if (may_select && fleet_run(FLEET_PLAN_GUARD_DEVICE_SEEN, values, NULL, 1) > 0)
		return psprintf("\"%s\"", identifier);
	return psprintf("with id %lld", (long long) device_id);
}

/* Rules 1, 2, 4 for these devices (a device write, or a membership write). */
static void
check_devices(Datum device_ids, WriteKind kind)
{
	Datum		values[1];
	bool		isnull;
	int64		device_id;
	char	   *device;
	int			rule;
	bool		rack_null;
	int64		rack_id;
	int64		building_id;

	values[0] = device_ids;
	if (fleet_run(FLEET_PLAN_GUARD_DEVICES, values, NULL, 1) == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		return;
	}
	device_id = fleet_get_int64(0, 1, &isnull);
	rack_id = fleet_get_int64(0, 4, &rack_null);
	rule = fleet_get_int32(0, 5, &isnull);
	building_id = fleet_get_int64(0, 6, &isnull);
	device = device_as_writer_sees_it(device_id,
									  SPI_getvalue(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 2));

	if (kind == WRITE_MEMBERSHIP && rule != 4)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg(rule == 1 ? "device %s cannot be in rack %lld: the rack is at another site"
						: "device %s cannot be in rack %lld: the rack is in another building",
						device, (long long) rack_id),
				 errdetail("A device in a rack has its rack's site and building."),
				 errhint("fleet_assign_devices_to_rack() puts devices into a rack and gives them its site and building in one step.")));
	if (rule == 1)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("device %s is in a rack at another site", device),
				 errdetail("A device in a rack has its rack's site."),
				 errhint("fleet_assign_devices_to_site() moves devices to a site (with force_clear => true, out of their racks), and fleet_assign_devices_to_rack() moves them with a rack's site, atomically.")));
	if (rule == 2)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("device %s is in a rack in another building", device),
				 errdetail("A device in a rack has its rack's building."),
				 errhint("fleet_assign_devices_to_building() moves devices to a building (with force_clear => true, out of their racks), and fleet_assign_devices_to_rack() moves them with a rack's building, atomically.")));
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("device %s is in building %lld, which is at another site",
					device, (long long) building_id),
			 errdetail("A device in a building has the building's site."),
			 errhint("fleet_assign_devices_to_building() sets a device's building and site together; fleet_assign_devices_to_site() clears a building it leaves behind.")));
}

/* Rules 1, 2, 3 and 5 for these racks (and the buildings they stand in). */
static void
check_racks(Datum rack_ids, Datum building_ids)
{
	Datum		values[2];
	int64		id;
	char	   *code;
	int64		n1;
	int64		n2;
	bool		n1_null;
	bool		isnull;

	values[0] = rack_ids;
	values[1] = building_ids;
	if (fleet_run(FLEET_PLAN_GUARD_RACKS, values, NULL, 1) == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		return;
	}
	id = fleet_get_int64(0, 1, &isnull);
	code = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	n1 = fleet_get_int64(0, 3, &n1_null);
	n2 = fleet_get_int64(0, 4, &isnull);

	if (strcmp(code, "building site") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("rack %lld stands in building %lld, which is at another site",
						(long long) id, (long long) n1),
				 errdetail("A rack in a building has the building's site."),
				 errhint("fleet_assign_racks_to_building() moves racks into a building and onto its site, and fleet_assign_buildings_to_site() moves a building with its racks, atomically.")));
	if (strcmp(code, "member site") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("rack %lld holds devices at another site or in another building",
						(long long) id),
				 errdetail("The devices in a rack have its site and building."),
				 errhint("fleet_assign_racks_to_site() and fleet_assign_racks_to_building() move a rack with its devices atomically.")));
	if (strcmp(code, "no layout") == 0 && n1_null)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("rack %lld has a position but stands in no building", (long long) id),
				 errdetail("A rack has a position only in a building with aisles."),
				 errhint("fleet_assign_racks_to_building() takes racks out of a building (target NULL) and clears their positions, atomically.")));
	if (strcmp(code, "no layout") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("rack %lld has a position, but building %lld has no layout",
						(long long) id, (long long) n1),
				 errdetail("A rack has a position only in a building with aisles."),
				 errhint("fleet_assign_racks_to_building() places racks at positions of a building's layout.")));
	if (strcmp(code, "outside layout") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("the position of rack %lld is outside the layout of building %lld",
						(long long) id, (long long) n1),
				 errhint("fleet_assign_racks_to_building() places racks at positions of a building's layout.")));
	if (strcmp(code, "full") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg_plural("rack %lld would hold more devices than its %lld slot",
							   "rack %lld would hold more devices than its %lld slots",
							   (unsigned long) n1, (long long) id, (long long) n1),
				 errhint("Take devices out of the rack first: fleet_assign_devices_to_rack(ids, NULL).")));
	if (strcmp(code, "slot outside") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("rack %lld would have a device in a slot outside its rows and columns",
						(long long) id),
				 errhint("fleet_assign_devices_to_rack() with row_indexes and column_indexes moves devices between slots.")));
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg_plural("building %lld would hold more racks than its %lld position",
						   "building %lld would hold more racks than its %lld positions",
						   (unsigned long) n1, (long long) id, (long long) n1),
			 errdetail("It would hold %lld.", (long long) n2),
			 errhint("fleet_assign_racks_to_building() moves racks in and out of buildings.")));
}

/* Rules 3, 4 and 5 for these buildings. */
static void
check_buildings(Datum building_ids)
{
	Datum		values[1];
	int64		id;
	char	   *code;
	int64		n1;
	bool		isnull;

	values[0] = building_ids;
	if (fleet_run(FLEET_PLAN_GUARD_BUILDINGS, values, NULL, 1) == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		return;
	}
	id = fleet_get_int64(0, 1, &isnull);
	code = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	n1 = fleet_get_int64(0, 3, &isnull);

	if (strcmp(code, "rack site") == 0 || strcmp(code, "device site") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("building %lld holds %s at another site", (long long) id,
						code[0] == 'r' ? "racks" : "devices"),
				 errdetail("The racks and devices in a building have its site."),
				 errhint("fleet_assign_buildings_to_site() moves a building with its racks and devices atomically.")));
	if (strcmp(code, "building full") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg_plural("building %lld holds more racks than its %lld position",
							   "building %lld holds more racks than its %lld positions",
							   (unsigned long) n1, (long long) id, (long long) n1),
				 errhint("fleet_assign_racks_to_building() moves racks out of a building first.")));
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("the layout of building %lld does not fit rack %lld", (long long) id,
					(long long) n1),
			 errdetail("A rack's position lies inside its building's layout, and only a building with a layout has positions."),
			 errhint("fleet_assign_racks_to_building() moves racks to other positions or out of the building first.")));
}

static const GuardedTable *
guarded_table(Oid relid)
{
	const FleetCatalog *catalog = fleet_catalog();
	int			i;

	for (i = 0; i < (int) lengthof(guarded_tables); i++)
		if (catalog->relids[guarded_tables[i].rel] == relid)
			return &guarded_tables[i];
	return NULL;
}

/*
 * Is this trigger function one of ours? Only a superuser can create a C
 * function, so one whose library is ours is ours.
 */
static bool
is_our_function(Oid function)
{
	HeapTuple	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(function));
	bool		ours = false;

	if (HeapTupleIsValid(proc))
	{
		bool		isnull;
		Datum		library = SysCacheGetAttr(PROCOID, proc, Anum_pg_proc_probin, &isnull);

		ours = ((Form_pg_proc) GETSTRUCT(proc))->prolang == ClanguageId && !isnull &&
			strcmp(TextDatumGetCString(library), FLEET_LIBRARY) == 0;
		ReleaseSysCache(proc);
	}
	return ours;
}

/*
 * Has any placement table a BEFORE ROW trigger that is not ours? A role
 * with the TRIGGER privilege on one (GRANT ALL gives it) can add a trigger
 * that rewrites NEW in the functions' own writes (a device's site_id, say)
 * or suppresses one of their deletes (a membership a force-clear removes).
 * The functions' statements are then not consistent by construction, and
 * their writes are checked when the call ends (see below).
 */
static bool
user_row_triggers_present(void)
{
	int			t;

	for (t = 0; t < (int) lengthof(guarded_tables); t++)
	{
		Relation	rel = table_open(fleet_relid(guarded_tables[t].rel), AccessShareLock);
		const TriggerDesc *triggers = rel->trigdesc;
		bool		found = false;
		int			i;

		for (i = 0; triggers != NULL && i < triggers->numtriggers && !found; i++)
		{
			const Trigger *trigger = &triggers->triggers[i];

			found = TRIGGER_FOR_ROW(trigger->tgtype) && TRIGGER_FOR_BEFORE(trigger->tgtype) &&
				trigger->tgenabled != TRIGGER_DISABLED && !is_our_function(trigger->tgfoid);
		}
		table_close(rel, AccessShareLock);
		if (found)
			return true;
	}
	return false;
}

/*
 * The functions' own writes, kept for a check when the call ends, while a
 * user row trigger is present. Checking each statement as it ends would
 * refuse the call's consistent result: a move writes devices, then their
 * racks, and is consistent only after both. Kept per executor nesting level
 * (a move run by a user trigger inside another move has its own), in
 * transaction memory; a transaction's end drops them.
 */
typedef struct PendingWrites
{
	int			level;			/* the nesting level of the call's statements */
	ChangedRows *rows[lengthof(guarded_tables)];
	int			capacity[lengthof(guarded_tables)];
	struct PendingWrites *outer;
} PendingWrites;

static PendingWrites *pending = NULL;
static bool pending_callback_registered = false;

static void
drop_pending(XactEvent event, void *arg)
{
	(void) arg;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		pending = NULL;			/* its memory goes with the transaction's */
}

static void
keep_for_recheck(int t, const ChangedRows *rows)
{
	MemoryContext old_context = MemoryContextSwitchTo(TopTransactionContext);
	int			level = fleet_current_level();
	PendingWrites *set;
	ChangedRows *kept;
	int			i;

	if (!pending_callback_registered)
	{
		RegisterXactCallback(drop_pending, NULL);
		pending_callback_registered = true;
	}
	for (set = pending; set != NULL && set->level != level; set = set->outer)
		;
	if (set == NULL)
	{
		set = palloc0(sizeof(PendingWrites));
		set->level = level;
		set->outer = pending;
		pending = set;
	}
	if (set->rows[t] == NULL)
	{
		set->rows[t] = palloc0(sizeof(ChangedRows));
		set->rows[t]->ncolumns = rows->ncolumns;
	}
	kept = set->rows[t];
	if (kept->count + rows->count > set->capacity[t])
	{
		int			capacity = Max(64, 2 * (kept->count + rows->count));

		for (i = 0; i < kept->ncolumns; i++)
		{
			kept->values[i] = kept->values[i] == NULL ? palloc(sizeof(int64) * capacity)
				: repalloc(kept->values[i], sizeof(int64) * capacity);
			kept->nulls[i] = kept->nulls[i] == NULL ? palloc(sizeof(bool) * capacity)
				: repalloc(kept->nulls[i], sizeof(bool) * capacity);
		}
		set->capacity[t] = capacity;
	}
	for (i = 0; i < kept->ncolumns; i++)
	{
		memcpy(kept->values[i] + kept->count, rows->values[i], sizeof(int64) * rows->count);
		memcpy(kept->nulls[i] + kept->count, rows->nulls[i], sizeof(bool) * rows->count);
	}
	kept->count += rows->count;
	MemoryContextSwitchTo(old_context);
}

static void check_rows(const GuardedTable *table, ChangedRows *rows);

/*
 * At the end of a move (before its audit row) or of a delete trigger: check
 * the writes of its own statements that were kept above, as if they had
 * been one direct write. SPI must be connected. Nothing kept: nothing run.
 */
void
fleet_guard_recheck(void)
{
	int			level = fleet_current_level() + 1;
	PendingWrites **link;
	PendingWrites *set;
	int			t;

	for (link = &pending; *link != NULL && (*link)->level != level; link = &(*link)->outer)
		;
	if (*link == NULL)
		return;
	set = *link;
	*link = set->outer;
	for (t = 0; t < (int) lengthof(guarded_tables); t++)
		if (set->rows[t] != NULL && set->rows[t]->count > 0)
			check_rows(&guarded_tables[t], set->rows[t]);
}

PG_FUNCTION_INFO_V1(fleet_guard_placement);

Datum
fleet_guard_placement(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const GuardedTable *table;
	ChangedRows *rows;
	bool		exempt;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		  TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)) ||
		trigdata->tg_newtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function fleet_guard_placement must be fired AFTER INSERT or UPDATE FOR EACH STATEMENT with a NEW TABLE")));

	/* Nothing written; or our own statement, consistent by construction. */
	if (tuplestore_tuple_count(trigdata->tg_newtable) == 0)
		return PointerGetDatum(NULL);
	exempt = fleet_write_is_exempt();
	if (exempt && !user_row_triggers_present())
		return PointerGetDatum(NULL);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	table = guarded_table(RelationGetRelid(trigdata->tg_relation));
	if (table == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function fleet_guard_placement guards only the placement tables of fleet_sites")));

	rows = changed_rows(trigdata, table);
	if (rows->count > 0 && exempt)
		keep_for_recheck(table - guarded_tables, rows);
	else if (rows->count > 0)
		check_rows(table, rows);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* The checks of one direct write (or of a call's kept writes). */
static void
check_rows(const GuardedTable *table, ChangedRows *rows)
{
	int			count;

	switch (table->rel)
	{
		case FLEET_REL_DEVICE:
			check_devices(distinct_ids(rows, 0, NULL), WRITE_DEVICE);
			break;
		case FLEET_REL_MEMBERSHIP:
			{
				int			racks;
				Datum		rack_ids = distinct_ids(rows, 0, &racks);
				Datum		device_ids = distinct_ids(rows, 1, &count);
				Datum		values[1];

				/* Racks (level 3), then devices (level 4), ascending. */
				lock_without_waiting(FLEET_PLAN_GUARD_LOCK_RACKS, rack_ids, racks, "rack");
				lock_without_waiting(FLEET_PLAN_GUARD_LOCK_DEVICES, device_ids, count, "device");
				check_devices(device_ids, WRITE_MEMBERSHIP);
				values[0] = rack_ids;
				if (fleet_run(FLEET_PLAN_GUARD_RACK_FULL, values, NULL, 1) > 0)
				{
					bool		isnull;
					int64		rack_id = fleet_get_int64(0, 1, &isnull);
					int64		slots = fleet_get_int64(0, 2, &isnull);

					ereport(ERROR,
							(errcode(ERRCODE_CHECK_VIOLATION),
							 errmsg_plural("rack %lld is full: it holds at most %lld device",
										   "rack %lld is full: it holds at most %lld devices",
										   (unsigned long) slots, (long long) rack_id,
										   (long long) slots),
							 errhint("fleet_assign_devices_to_rack() reports a full rack before writing anything.")));
				}
				SPI_freetuptable(SPI_tuptable);
			}
			break;
		case FLEET_REL_SLOT:
			{
				int			racks;
				Datum		rack_ids = distinct_ids(rows, 0, &racks);
				Datum		values[2];

				lock_without_waiting(FLEET_PLAN_GUARD_SHARE_RACKS, rack_ids, racks, "rack");
				values[0] = fleet_int64_array(rows->values[0], rows->count);
				values[1] = fleet_int64_array(rows->values[1], rows->count);
				if (fleet_run(FLEET_PLAN_GUARD_SLOTS, values, NULL, 1) > 0)
				{
					bool		isnull;
					int64		rack_id = fleet_get_int64(0, 1, &isnull);
					int32		row_index = fleet_get_int32(0, 3, &isnull);
					int32		column_index = fleet_get_int32(0, 4, &isnull);
					char	   *device;

					device = device_as_writer_sees_it(fleet_get_int64(0, 5, &isnull),
													  SPI_getvalue(SPI_tuptable->vals[0],
																   SPI_tuptable->tupdesc, 2));

					ereport(ERROR,
							(errcode(ERRCODE_CHECK_VIOLATION),
							 errmsg("device %s cannot take slot (%d, %d) of rack %lld: it lies outside the rack",
									device, row_index, column_index, (long long) rack_id),
							 errhint("fleet_assign_devices_to_rack() with row_indexes and column_indexes checks slots against the rack before writing anything.")));
				}
				SPI_freetuptable(SPI_tuptable);
			}
			break;
		case FLEET_REL_RACK:
			{
				int			buildings;
				Datum		building_ids = distinct_ids(rows, 2, &buildings);

				lock_without_waiting(FLEET_PLAN_GUARD_LOCK_BUILDINGS, building_ids, buildings,
									 "building");
				check_racks(distinct_ids(rows, 0, NULL), building_ids);
			}
			break;
		case FLEET_REL_BUILDING:
			check_buildings(distinct_ids(rows, 0, NULL));
			break;
		default:
			break;
	}
}

/*
 * Lock one parent a row is about to reference, without waiting; a parent
 * another transaction holds (and that exists) fails the write with 40001.
 */
static void
share_new_parent(TriggerData *trigdata, const char *column, FleetPlanId share,
				 FleetPlanId exists, const char *what)
{
	Relation	rel = trigdata->tg_relation;
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);
	bool		new_null;
	bool		old_null;
	Datum		parent;
	Datum		old_parent;
	Datum		values[1];

	parent = heap_getattr(trigdata->tg_newtuple, attnum, RelationGetDescr(rel), &new_null);
	old_parent = heap_getattr(trigdata->tg_trigtuple, attnum, RelationGetDescr(rel), &old_null);
	if (new_null || (!old_null && DatumGetInt64(parent) == DatumGetInt64(old_parent)))
		return;					/* no new parent: the check takes no new lock */
	values[0] = parent;
	if (fleet_run(share, values, NULL, 1) == 0 && fleet_run(exists, values, NULL, 1) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not check the placement of this write: %s %lld is being changed by another transaction",
						what, (long long) DatumGetInt64(parent)),
				 errhint("Retry the transaction.")));
}

/* A bigint column of the old or new row of an UPDATE; false if NULL. */
static bool
row_int64(TriggerData *trigdata, bool new_row, const char *column, int64 *value)
{
	Relation	rel = trigdata->tg_relation;
	bool		isnull;
	Datum		datum;

	datum = heap_getattr(new_row ? trigdata->tg_newtuple : trigdata->tg_trigtuple,
						 get_attnum(RelationGetRelid(rel), column), RelationGetDescr(rel),
						 &isnull);
	if (!isnull)
		*value = DatumGetInt64(datum);
	return !isnull;
}

static bool
row_int32_equal(TriggerData *trigdata, const char *column)
{
	Relation	rel = trigdata->tg_relation;
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);
	bool		old_null;
	bool		new_null;
	Datum		old_value = heap_getattr(trigdata->tg_trigtuple, attnum, RelationGetDescr(rel),
										 &old_null);
	Datum		new_value = heap_getattr(trigdata->tg_newtuple, attnum, RelationGetDescr(rel),
										 &new_null);

	return old_null == new_null && (old_null || DatumGetInt32(old_value) == DatumGetInt32(new_value));
}

/*
 * A rack changing building or position, a slot changing rack or place: the
 * containers it leaves and enters (buildings, racks), NO KEY UPDATE without
 * waiting, before it writes its new entry in the unique index of places
 * (building_id, aisle_index, position_in_aisle), or (rack_id, row_index,
 * column_index). Two one-row UPDATEs swapping the places of two racks (or
 * slots) would otherwise each wait in that index for the other's old entry:
 * a deadlock. The guard takes such a lock at the end of the statement
 * anyway; taken here, the second writer fails with 40001 before it waits.
 */
static void
lock_old_and_new_container(TriggerData *trigdata, const char *column, const char *place1,
						   const char *place2, FleetPlanId lock, FleetPlanId exists,
						   const char *what)
{
	int64		old_container = 0;
	int64		new_container = 0;
	bool		had_old = row_int64(trigdata, false, column, &old_container);
	bool		has_new = row_int64(trigdata, true, column, &new_container);
	int64		ids[2];
	int			count = 0;
	Datum		values[1];

	if (had_old == has_new && (!had_old || old_container == new_container) &&
		row_int32_equal(trigdata, place1) && row_int32_equal(trigdata, place2))
		return;					/* neither container nor place changes */
	if (has_new)
	{
		values[0] = Int64GetDatum(new_container);
		/* A container that does not exist is the foreign key's 23503. */
		if (fleet_run(exists, values, NULL, 1) > 0)
			ids[count++] = new_container;
	}
	if (had_old && (count == 0 || old_container != new_container))
		ids[count++] = old_container;
	if (count == 0)
		return;
	values[0] = fleet_int64_array(ids, count);
	if (fleet_run(lock, values, NULL, 0) < (uint64) count)
	{
		int64		held = ids[0];
		uint64		i;
		bool		isnull;

		/* Name one that was not locked: in ids, not among the rows. */
		if (count == 2)
			for (i = 0; i < SPI_processed; i++)
				if (fleet_get_int64(i, 1, &isnull) == ids[0])
					held = ids[1];
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not check the placement of this write: %s %lld is being changed by another transaction",
						what, (long long) held),
				 errhint("Retry the transaction.")));
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * The site and building a device or rack row is about to reference, locked
 * before the UPDATE's foreign-key checks do it, and without waiting (and,
 * for a rack or slot changing place, its containers: see above).
 *
 * A direct UPDATE locks its row first; its foreign-key checks then take KEY
 * SHARE on the new site and building at the end of the statement, after the
 * row: out of the lock order. A building is held FOR UPDATE by a move of it
 * or the deletion of it or its site, a site by its deletion; if that holder
 * waits for our row, directly or through a call that waits for our row (a
 * site delete waiting for a device a move has locked, the move waiting for
 * the device we updated), the write closes a deadlock. This BEFORE ROW
 * trigger takes the same KEY SHARE first, site then building, with SKIP
 * LOCKED: a parent held that way fails the write with 40001 at once; one
 * that is free is then held, and the foreign-key check finds it held
 * already.
 */
PG_FUNCTION_INFO_V1(fleet_guard_parent_reference);

Datum
fleet_guard_parent_reference(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ||
		!((relid = RelationGetRelid(trigdata->tg_relation)) == fleet_relid(FLEET_REL_DEVICE) ||
		  relid == fleet_relid(FLEET_REL_RACK) || relid == fleet_relid(FLEET_REL_SLOT)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function fleet_guard_parent_reference must be fired BEFORE UPDATE FOR EACH ROW on fleet_device, fleet_rack or fleet_rack_slot")));
	if (fleet_write_is_exempt())
		return PointerGetDatum(trigdata->tg_newtuple);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (relid == fleet_relid(FLEET_REL_SLOT))
		lock_old_and_new_container(trigdata, "rack_id", "row_index", "column_index",
								   FLEET_PLAN_GUARD_LOCK_RACKS, FLEET_PLAN_GUARD_RACK_EXISTS,
								   "rack");
	else
	{
		share_new_parent(trigdata, "site_id", FLEET_PLAN_GUARD_SHARE_SITE,
						 FLEET_PLAN_GUARD_SITE_EXISTS, "site");
		if (relid == fleet_relid(FLEET_REL_RACK))
			lock_old_and_new_container(trigdata, "building_id", "aisle_index",
									   "position_in_aisle", FLEET_PLAN_GUARD_LOCK_BUILDINGS,
									   FLEET_PLAN_GUARD_BUILDING_EXISTS, "building");
		else
			share_new_parent(trigdata, "building_id", FLEET_PLAN_GUARD_SHARE_BUILDING,
							 FLEET_PLAN_GUARD_BUILDING_EXISTS, "building");
	}
	SPI_finish();
	return PointerGetDatum(trigdata->tg_newtuple);
}

/*
 * For the triggers' WHEN clauses: false while one of the functions' own
 * statements runs (exemption.c), so that their rows are not even handed to a
 * row trigger. It tells a caller nothing it could use.
 */
PG_FUNCTION_INFO_V1(fleet_guard_active);

Datum
fleet_guard_active(PG_FUNCTION_ARGS)
{
	(void) fcinfo;
	PG_RETURN_BOOL(!fleet_write_is_exempt());
}
