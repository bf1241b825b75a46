/*
 * input.c: the arguments of a move, checked before anything is locked.
 *
 * Every rule of the contract's bad-input table raises its own SQLSTATE with
 * the offending value in the message. Positions are reported as the array's
 * own subscripts, which need not start at 1 ('[5:6]={a,b}').
 */
#include "fleet_sites.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

typedef struct IdEntry
{
	char	   *identifier;
	int			position;			/* index in input order */
} IdEntry;

static int
compare_id_entries(const void *a, const void *b)
{
	const IdEntry *x = (const IdEntry *) a;
	const IdEntry *y = (const IdEntry *) b;
	int			cmp = strcmp(x->identifier, y->identifier);

	if (cmp != 0)
		return cmp;
	return (x->position > y->position) - (x->position < y->position);
}

static int
compare_positions(const void *a, const void *b)
{
	const IdEntry *x = (const IdEntry *) a;
	const IdEntry *y = (const IdEntry *) b;

	return (x->position > y->position) - (x->position < y->position);
}

FleetIdList *
fleet_read_ids(FunctionCallInfo fcinfo, int argno)
{
	ArrayType  *array;
	Datum	   *elements;
	bool	   *nulls;
	int			nelements;
	int			lower_bound;
	IdEntry    *entries;
	int			distinct;
	int			i;
	FleetIdList *ids;
	Datum	   *sorted_datums;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("device identifier array must not be null")));

	array = PG_GETARG_ARRAYTYPE_P(argno);

	/* '{}' has zero dimensions: reject more than one, and empty on its own. */
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("device identifier array must have one dimension, not %d",
						ARR_NDIM(array))));
	if (ARR_NDIM(array) == 0 || ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("device identifier array must not be empty")));

	lower_bound = ARR_LBOUND(array)[0];
	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT,
					  &elements, &nulls, &nelements);

	entries = palloc(sizeof(IdEntry) * nelements);
	for (i = 0; i < nelements; i++)
	{
		text	   *value;
		int			bytes;

		CHECK_FOR_INTERRUPTS();
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("device identifier at subscript %d is null", lower_bound + i)));

		value = DatumGetTextPP(elements[i]);
		bytes = VARSIZE_ANY_EXHDR(value);
		if (bytes == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("device identifier at subscript %d is empty", lower_bound + i)));
		/* Characters, not bytes: a 256-character name in UTF-8 may be 1 KiB. */
		if (bytes > FLEET_MAX_IDENTIFIER_CHARS &&
			pg_mbstrlen_with_len(VARDATA_ANY(value), bytes) > FLEET_MAX_IDENTIFIER_CHARS)
		{
			/* Quote only a prefix, clipped on a character boundary. */
			int			shown = pg_mbcliplen(VARDATA_ANY(value), bytes, 40);

			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("device identifier \"%.*s...\" at subscript %d is longer than %d characters",
							shown, VARDATA_ANY(value), lower_bound + i,
							FLEET_MAX_IDENTIFIER_CHARS)));
		}

		entries[i].identifier = text_to_cstring(value);
		entries[i].position = i;
	}

	/*
	 * Collapse duplicates, first occurrence wins: sort by (bytes, position),
	 * keep the first of each run, then put the survivors back in input order.
	 */
	qsort(entries, nelements, sizeof(IdEntry), compare_id_entries);
	distinct = 0;
	for (i = 0; i < nelements; i++)
		if (distinct == 0 || strcmp(entries[distinct - 1].identifier, entries[i].identifier) != 0)
			entries[distinct++] = entries[i];

	if (distinct > FLEET_MAX_DISTINCT_IDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many device identifiers: %d distinct, at most %d per call",
						distinct, FLEET_MAX_DISTINCT_IDS),
				 errhint("Split the move into several calls in one transaction.")));

	ids = palloc(sizeof(FleetIdList));
	ids->count = distinct;
	ids->sorted = palloc(sizeof(char *) * distinct);
	ids->in_input_order = palloc(sizeof(char *) * distinct);
	sorted_datums = palloc(sizeof(Datum) * distinct);
	for (i = 0; i < distinct; i++)
	{
		ids->sorted[i] = entries[i].identifier;
		sorted_datums[i] = CStringGetTextDatum(entries[i].identifier);
	}
	ids->sorted_array = PointerGetDatum(construct_array(sorted_datums, distinct, TEXTOID,
														-1, false, TYPALIGN_INT));

	qsort(entries, distinct, sizeof(IdEntry), compare_positions);
	for (i = 0; i < distinct; i++)
		ids->in_input_order[i] = entries[i].identifier;

	pfree(entries);
	pfree(sorted_datums);
	return ids;
}

/* A target site or rack: NULL is allowed (Unassigned / no rack), <= 0 is not. */
void
fleet_check_target(FunctionCallInfo fcinfo, int argno, const char *what)
{
	int64		target;

	if (PG_ARGISNULL(argno))
		return;
	target = PG_GETARG_INT64(argno);
	if (target <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s id must be positive, got " INT64_FORMAT, what, target),
				 errhint("Pass NULL for no %s.", what)));
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
