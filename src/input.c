/*
 * input.c: the arguments of a call, checked before anything is locked.
 *
 * Every rule of the contract's bad-input table raises its own SQLSTATE with
 * the offending value in the message. Positions are reported as the array's
 * own subscripts, which need not start at 1 ('[5:6]={a,b}').
 *
 * Memory is bounded by the number of *distinct* identifiers (at most 10,000
 * are accepted), not by the array's length: the elements are visited one at
 * a time in place and collapsed in a hash table as they come, so an array of
 * millions of duplicates costs time, not memory.
 */
#include "fleet_sites.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/arrayaccess.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

/* An identifier's bytes, pointing into the argument array (not copied). */
typedef struct IdKey
{
	const char *bytes;
	int			length;
} IdKey;

typedef struct IdEntry
{
	IdKey		key;			/* must be first */
	int			first_ordinal;	/* 0-based position of the first occurrence */
	int			occurrences;
	bool		has_slot;		/* the first occurrence's slot */
	int32		row_index;
	int32		column_index;
	bool		any_slot;		/* some occurrence is given a slot */
	char	   *identifier;		/* NUL-terminated copy, made once */
} IdEntry;

static uint32
id_key_hash(const void *key, Size keysize)
{
	const IdKey *k = (const IdKey *) key;

	(void) keysize;
	return hash_bytes((const unsigned char *) k->bytes, k->length);
}

static int
id_key_match(const void *a, const void *b, Size keysize)
{
	const IdKey *x = (const IdKey *) a;
	const IdKey *y = (const IdKey *) b;

	(void) keysize;
	if (x->length != y->length)
		return 1;
	return memcmp(x->bytes, y->bytes, x->length);
}

static int
compare_by_bytes(const void *a, const void *b)
{
	return strcmp((*(IdEntry *const *) a)->identifier, (*(IdEntry *const *) b)->identifier);
}

static int
compare_by_ordinal(const void *a, const void *b)
{
	int			x = (*(IdEntry *const *) a)->first_ordinal;
	int			y = (*(IdEntry *const *) b)->first_ordinal;

	return (x > y) - (x < y);
}

/* A one-dimensional array argument: NULL, empty and dimensions checked. */
static ArrayType *
read_array(FunctionCallInfo fcinfo, int argno, const char *what)
{
	ArrayType  *array;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s array must not be null", what)));
	array = PG_GETARG_ARRAYTYPE_P(argno);
	/* '{}' has zero dimensions: reject more than one, and empty on its own. */
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s array must have one dimension, not %d", what, ARR_NDIM(array))));
	if (ARR_NDIM(array) == 0 || ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s array must not be empty", what)));
	return array;
}

static int
array_length1(ArrayType *array)
{
	if (ARR_NDIM(array) == 0)
		return 0;
	return ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
}

/*
 * An optional integer array parallel to the ids (slots of identifiers, or
 * positions of racks): element i belongs to the i-th id.
 */
static ArrayType *
read_parallel_array(FunctionCallInfo fcinfo, int argno, const char *what, int length,
					const char *ids_name, const char *element_name)
{
	ArrayType  *array;

	if (PG_ARGISNULL(argno))
		return NULL;
	array = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have one dimension, not %d", what, ARR_NDIM(array))));
	if (array_length1(array) != length)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_plural("%s has %d element, but the %s array has %d",
							   "%s has %d elements, but the %s array has %d",
							   array_length1(array),
							   what, array_length1(array), ids_name, length),
				 errdetail("Element i gives the %s of the i-th element of the %s array.",
						   element_name, ids_name)));
	return array;
}

static void
check_identifier(const char *bytes, int length, int subscript)
{
	if (length == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("device identifier at subscript %d is empty", subscript)));
	/* Characters, not bytes: a 256-character name in UTF-8 may be 1 KiB. */
	if (length > FLEET_MAX_IDENTIFIER_CHARS &&
		pg_mbstrlen_with_len(bytes, length) > FLEET_MAX_IDENTIFIER_CHARS)
	{
		/* Quote only a prefix, clipped on a character boundary. */
		int			shown = pg_mbcliplen(bytes, length, 40);

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("device identifier \"%.*s...\" at subscript %d is longer than %d characters",
						shown, bytes, subscript, FLEET_MAX_IDENTIFIER_CHARS)));
	}
}

/*
 * Read the identifiers and, when slot arrays are given (rows_argno >= 0 and
 * not both NULL), the slot of each. The slot rules that need no row: both
 * arrays or neither, their lengths, whole pairs, no negative index, no slot
 * without a target rack, no slot for a duplicated identifier, no two devices
 * given one slot. Whether a slot lies inside the rack is checked under the
 * rack's lock (rack_move.c).
 */
static FleetIdList *
read_ids(FunctionCallInfo fcinfo, int argno, int rows_argno, int columns_argno,
		 bool has_target)
{
	ArrayType  *array = read_array(fcinfo, argno, "device identifier");
	int			nelements = array_length1(array);
	int			lower_bound = ARR_LBOUND(array)[0];
	ArrayType  *rows = NULL;
	ArrayType  *columns = NULL;
	array_iter	id_iter;
	array_iter	row_iter;
	array_iter	column_iter;
	bool		slots_given = false;
	HASHCTL		ctl;
	HTAB	   *table;
	HASH_SEQ_STATUS scan;
	IdEntry    *entry;
	IdEntry   **entries;
	int			distinct = 0;
	int			i;
	FleetIdList *ids;
	Datum	   *sorted_datums;

	memset(&row_iter, 0, sizeof(row_iter));
	memset(&column_iter, 0, sizeof(column_iter));
	if (rows_argno >= 0)
	{
		rows = read_parallel_array(fcinfo, rows_argno, "row_indexes", nelements,
								   "device identifier", "slot");
		columns = read_parallel_array(fcinfo, columns_argno, "column_indexes", nelements,
									  "device identifier", "slot");
		if ((rows == NULL) != (columns == NULL))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s is given but %s is null",
							rows != NULL ? "row_indexes" : "column_indexes",
							rows != NULL ? "column_indexes" : "row_indexes"),
					 errhint("Give both slot arrays, or neither.")));
		slots_given = rows != NULL;
		if (slots_given)
		{
			Assert(ARR_ELEMTYPE(rows) == INT4OID && ARR_ELEMTYPE(columns) == INT4OID);
			array_iter_setup(&row_iter, (AnyArrayType *) rows);
			array_iter_setup(&column_iter, (AnyArrayType *) columns);
		}
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(IdKey);
	ctl.entrysize = sizeof(IdEntry);
	ctl.hash = id_key_hash;
	ctl.match = id_key_match;
	ctl.hcxt = CurrentMemoryContext;
	table = hash_create("fleet_sites identifiers", 256, &ctl,
						HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);

	array_iter_setup(&id_iter, (AnyArrayType *) array);
	for (i = 0; i < nelements; i++)
	{
		int			subscript = lower_bound + i;
		bool		isnull;
		Datum		element;
		text	   *value;
		IdKey		key;
		bool		found;
		bool		row_null = true;
		bool		column_null = true;
		int32		row_index = 0;
		int32		column_index = 0;

		CHECK_FOR_INTERRUPTS();
		element = array_iter_next(&id_iter, &isnull, i, -1, false, TYPALIGN_INT);
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("device identifier at subscript %d is null", subscript)));
		value = DatumGetTextPP(element);
		key.bytes = VARDATA_ANY(value);
		key.length = VARSIZE_ANY_EXHDR(value);
		check_identifier(key.bytes, key.length, subscript);

		if (slots_given)
		{
			Datum		r = array_iter_next(&row_iter, &row_null, i, 4, true, TYPALIGN_INT);
			Datum		c = array_iter_next(&column_iter, &column_null, i, 4, true, TYPALIGN_INT);

			if (row_null != column_null)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the slot of device identifier \"%.*s\" is half null",
								pg_mbcliplen(key.bytes, key.length, 64), key.bytes),
						 errhint("Give both indexes of a slot, or neither.")));
			if (!row_null)
			{
				row_index = DatumGetInt32(r);
				column_index = DatumGetInt32(c);
				if (!has_target)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("a slot is given for device identifier \"%.*s\" but target_rack is null",
									pg_mbcliplen(key.bytes, key.length, 64), key.bytes)));
				if (row_index < 0 || column_index < 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("the slot (%d, %d) of device identifier \"%.*s\" has a negative index",
									row_index, column_index,
									pg_mbcliplen(key.bytes, key.length, 64), key.bytes)));
			}
		}

		entry = (IdEntry *) hash_search(table, &key, HASH_ENTER, &found);
		if (!found)
		{
			if (++distinct > FLEET_MAX_DISTINCT_IDS)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("too many device identifiers: more than %d distinct in one call",
								FLEET_MAX_DISTINCT_IDS),
						 errhint("Move at most %d devices per call; the README's section on large moves says how to split a move safely.",
								 FLEET_MAX_DISTINCT_IDS)));
			entry->first_ordinal = i;
			entry->occurrences = 0;
			entry->has_slot = !row_null;
			entry->row_index = row_index;
			entry->column_index = column_index;
			entry->any_slot = false;
			entry->identifier = pnstrdup(key.bytes, key.length);
			/* Keep the key valid after the loop: point it at the copy. */
			entry->key.bytes = entry->identifier;
		}
		entry->any_slot |= !row_null;
		entry->occurrences++;
	}

	/* Gather the survivors. */
	entries = palloc(sizeof(IdEntry *) * (distinct + 1));
	i = 0;
	hash_seq_init(&scan, table);
	while ((entry = (IdEntry *) hash_seq_search(&scan)) != NULL)
		entries[i++] = entry;

	if (slots_given)
	{
		for (i = 0; i < distinct; i++)
			if (entries[i]->occurrences > 1 && entries[i]->any_slot)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("device identifier \"%s\" appears %d times and is given a slot",
								entries[i]->identifier, entries[i]->occurrences),
						 errhint("Name a device once when you give it a slot.")));
	}

	ids = palloc0(sizeof(FleetIdList));
	ids->count = distinct;
	ids->sorted = palloc(sizeof(char *) * (distinct + 1));
	ids->in_input_order = palloc(sizeof(char *) * (distinct + 1));
	sorted_datums = palloc(sizeof(Datum) * (distinct + 1));

	qsort(entries, distinct, sizeof(IdEntry *), compare_by_bytes);
	ids->slots_given = slots_given;
	if (slots_given)
	{
		ids->has_slot = palloc(sizeof(bool) * (distinct + 1));
		ids->row_index = palloc(sizeof(int32) * (distinct + 1));
		ids->column_index = palloc(sizeof(int32) * (distinct + 1));
	}
	for (i = 0; i < distinct; i++)
	{
		ids->sorted[i] = entries[i]->identifier;
		sorted_datums[i] = CStringGetTextDatum(entries[i]->identifier);
		if (slots_given)
		{
			ids->has_slot[i] = entries[i]->has_slot;
			ids->row_index[i] = entries[i]->row_index;
			ids->column_index[i] = entries[i]->column_index;
		}
	}
	ids->sorted_array = PointerGetDatum(construct_array(sorted_datums, distinct, TEXTOID,
														-1, false, TYPALIGN_INT));

	/* Two devices of the batch given one slot: compare in slot order. */
	if (slots_given)
	{
		int64	   *slot_keys = palloc(sizeof(int64) * (distinct + 1));
		int			n = 0;

		for (i = 0; i < distinct; i++)
			if (ids->has_slot[i])
				slot_keys[n++] = ((int64) ids->row_index[i] << 32) | (uint32) ids->column_index[i];
		qsort(slot_keys, n, sizeof(int64), fleet_compare_int64);
		for (i = 1; i < n; i++)
			if (slot_keys[i] == slot_keys[i - 1])
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("two devices of the batch are given slot (%d, %d)",
								(int32) (slot_keys[i] >> 32), (int32) (slot_keys[i] & 0xFFFFFFFF))));
		pfree(slot_keys);
	}

	qsort(entries, distinct, sizeof(IdEntry *), compare_by_ordinal);
	for (i = 0; i < distinct; i++)
		ids->in_input_order[i] = entries[i]->identifier;

	pfree(entries);
	pfree(sorted_datums);
	hash_destroy(table);
	return ids;
}

FleetIdList *
fleet_read_ids(FunctionCallInfo fcinfo, int argno)
{
	return read_ids(fcinfo, argno, -1, -1, false);
}

FleetIdList *
fleet_read_ids_with_slots(FunctionCallInfo fcinfo, int ids_argno, int rows_argno,
						  int columns_argno, bool has_target)
{
	if (PG_NARGS() <= columns_argno)
		return read_ids(fcinfo, ids_argno, -1, -1, has_target);
	return read_ids(fcinfo, ids_argno, rows_argno, columns_argno, has_target);
}

/* A target site, building or rack: NULL is allowed (none), <= 0 is not. */
FleetRef
fleet_read_target(FunctionCallInfo fcinfo, int argno, const char *what)
{
	int64		target;

	if (PG_ARGISNULL(argno))
		return fleet_ref(false, 0);
	target = PG_GETARG_INT64(argno);
	if (target <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s id must be positive, got %lld", what, (long long) target),
				 errhint("Pass NULL for no %s.", what)));
	return fleet_ref(true, target);
}

bool
fleet_read_force_clear(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("force_clear must not be null")));
	return PG_GETARG_BOOL(argno);
}

/* Index of identifier in ids->sorted, or -1. */
int
fleet_id_position(const FleetIdList *ids, const char *identifier)
{
	int			low = 0;
	int			high = ids->count - 1;

	while (low <= high)
	{
		int			mid = low + (high - low) / 2;
		int			cmp = strcmp(ids->sorted[mid], identifier);

		if (cmp == 0)
			return mid;
		if (cmp < 0)
			low = mid + 1;
		else
			high = mid - 1;
	}
	return -1;
}

/* ------------------------------------------------------------------------
 * Arrays of rack or building ids (the container moves)
 * ------------------------------------------------------------------------
 */

typedef struct BigintEntry
{
	int64		id;				/* key */
	int			first_ordinal;
	int			occurrences;
	bool		has_position;
	int32		aisle_index;
	int32		position_in_aisle;
} BigintEntry;

static int
compare_entry_ids(const void *a, const void *b)
{
	int64		x = (*(BigintEntry *const *) a)->id;
	int64		y = (*(BigintEntry *const *) b)->id;

	return (x > y) - (x < y);
}

static int
compare_entry_ordinals(const void *a, const void *b)
{
	int			x = (*(BigintEntry *const *) a)->first_ordinal;
	int			y = (*(BigintEntry *const *) b)->first_ordinal;

	return (x > y) - (x < y);
}

/*
 * Read a bigint[] of rack or building ids (what: "rack" or "building"), and
 * when positions_argno >= 0 the optional pair of position arrays parallel to
 * it (aisle_indexes, positions_in_aisle). The rules of the bad-input table,
 * and those position rules that need no row.
 */
FleetIdSet *
fleet_read_id_array(FunctionCallInfo fcinfo, int argno, const char *what,
					int aisles_argno, int positions_argno, bool has_target)
{
	char	   *array_name = psprintf("%s id", what);
	ArrayType  *array = read_array(fcinfo, argno, array_name);
	int			nelements = array_length1(array);
	int			lower_bound = ARR_LBOUND(array)[0];
	ArrayType  *aisles = NULL;
	ArrayType  *positions = NULL;
	array_iter	id_iter;
	array_iter	aisle_iter;
	array_iter	position_iter;
	HASHCTL		ctl;
	HTAB	   *table;
	HASH_SEQ_STATUS scan;
	BigintEntry *entry;
	BigintEntry **entries;
	FleetIdSet *set;
	int			distinct = 0;
	int			i;

	memset(&aisle_iter, 0, sizeof(aisle_iter));
	memset(&position_iter, 0, sizeof(position_iter));
	if (aisles_argno >= 0 && PG_NARGS() > positions_argno)
	{
		aisles = read_parallel_array(fcinfo, aisles_argno, "aisle_indexes", nelements,
									 array_name, "position");
		positions = read_parallel_array(fcinfo, positions_argno, "positions_in_aisle",
										nelements, array_name, "position");
		if ((aisles == NULL) != (positions == NULL))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s is given but %s is null",
							aisles != NULL ? "aisle_indexes" : "positions_in_aisle",
							aisles != NULL ? "positions_in_aisle" : "aisle_indexes"),
					 errhint("Give both position arrays, or neither.")));
		if (aisles != NULL)
		{
			array_iter_setup(&aisle_iter, (AnyArrayType *) aisles);
			array_iter_setup(&position_iter, (AnyArrayType *) positions);
		}
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(BigintEntry);
	ctl.hcxt = CurrentMemoryContext;
	table = hash_create("fleet_sites ids", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	array_iter_setup(&id_iter, (AnyArrayType *) array);
	for (i = 0; i < nelements; i++)
	{
		int			subscript = lower_bound + i;
		bool		isnull;
		int64		id;
		bool		found;
		bool		aisle_null = true;
		bool		position_null = true;
		int32		aisle_index = 0;
		int32		position_in_aisle = 0;

		CHECK_FOR_INTERRUPTS();
		id = DatumGetInt64(array_iter_next(&id_iter, &isnull, i, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s at subscript %d is null", array_name, subscript)));
		if (id <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s at subscript %d must be positive, got %lld",
							array_name, subscript, (long long) id)));
		if (aisles != NULL)
		{
			Datum		a = array_iter_next(&aisle_iter, &aisle_null, i, 4, true, TYPALIGN_INT);
			Datum		p = array_iter_next(&position_iter, &position_null, i, 4, true,
											TYPALIGN_INT);

			if (aisle_null != position_null)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the position of rack %lld is half null", (long long) id),
						 errhint("Give both indexes of a position, or neither.")));
			if (!aisle_null)
			{
				aisle_index = DatumGetInt32(a);
				position_in_aisle = DatumGetInt32(p);
				if (!has_target)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("a position is given for rack %lld but target_building is null",
									(long long) id)));
				if (aisle_index < 0 || position_in_aisle < 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("the position (%d, %d) of rack %lld has a negative index",
									aisle_index, position_in_aisle, (long long) id)));
			}
		}

		entry = (BigintEntry *) hash_search(table, &id, HASH_ENTER, &found);
		if (!found)
		{
			if (++distinct > FLEET_MAX_DISTINCT_IDS)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("too many %s ids: more than %d distinct in one call",
								what, FLEET_MAX_DISTINCT_IDS)));
			entry->first_ordinal = i;
			entry->occurrences = 0;
			entry->has_position = !aisle_null;
			entry->aisle_index = aisle_index;
			entry->position_in_aisle = position_in_aisle;
		}
		entry->occurrences++;
		if (aisles != NULL && entry->occurrences > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rack %lld appears more than once, and positions are given",
							(long long) id),
					 errhint("Name each rack once when you give positions.")));
	}

	entries = palloc(sizeof(BigintEntry *) * (distinct + 1));
	i = 0;
	hash_seq_init(&scan, table);
	while ((entry = (BigintEntry *) hash_seq_search(&scan)) != NULL)
		entries[i++] = entry;

	set = palloc0(sizeof(FleetIdSet));
	set->count = distinct;
	set->sorted = palloc(sizeof(int64) * (distinct + 1));
	set->in_input_order = palloc(sizeof(int64) * (distinct + 1));
	set->positions_given = aisles != NULL;
	set->has_position = palloc0(sizeof(bool) * (distinct + 1));
	set->aisle_index = palloc0(sizeof(int32) * (distinct + 1));
	set->position_in_aisle = palloc0(sizeof(int32) * (distinct + 1));

	qsort(entries, distinct, sizeof(BigintEntry *), compare_entry_ids);
	for (i = 0; i < distinct; i++)
	{
		set->sorted[i] = entries[i]->id;
		set->has_position[i] = entries[i]->has_position;
		set->aisle_index[i] = entries[i]->aisle_index;
		set->position_in_aisle[i] = entries[i]->position_in_aisle;
	}
	if (set->positions_given)
	{
		int64	   *keys = palloc(sizeof(int64) * (distinct + 1));
		int			n = 0;

		for (i = 0; i < distinct; i++)
			if (set->has_position[i])
				keys[n++] = ((int64) set->aisle_index[i] << 32) |
					(uint32) set->position_in_aisle[i];
		qsort(keys, n, sizeof(int64), fleet_compare_int64);
		for (i = 1; i < n; i++)
			if (keys[i] == keys[i - 1])
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("two racks of the batch are given position (%d, %d)",
								(int32) (keys[i] >> 32), (int32) (keys[i] & 0xFFFFFFFF))));
		pfree(keys);
	}
	set->sorted_array = fleet_int64_array(set->sorted, distinct);

	qsort(entries, distinct, sizeof(BigintEntry *), compare_entry_ordinals);
	for (i = 0; i < distinct; i++)
		set->in_input_order[i] = entries[i]->id;

	pfree(entries);
	hash_destroy(table);
	return set;
}

/* Index of id in set->sorted, or -1. */
int
fleet_id_set_position(const FleetIdSet *set, int64 id)
{
	int			low = 0;
	int			high = set->count - 1;

	while (low <= high)
	{
		int			mid = low + (high - low) / 2;

		if (set->sorted[mid] == id)
			return mid;
		if (set->sorted[mid] < id)
			low = mid + 1;
		else
			high = mid - 1;
	}
	return -1;
}
