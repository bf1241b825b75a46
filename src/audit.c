/*
 * audit.c: the fleet_activity row of an applied move, and its NOTIFY.
 *
 * The row is written in the mover's own transaction (upstream wrote it after
 * commit and could lose it), on the extension owner's authority: callers need
 * no privilege on fleet_activity, and ordinary roles cannot write it. The
 * NOTIFY is transactional too: delivered on commit, gone on rollback.
 */
#include "fleet_sites.h"

#include "commands/async.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"

static char *actor_setting = NULL;
static bool notify_setting = true;

/*
 * The id of the audit row of this session's last applied move, like
 * lastval(): set only when a call returns success, kept across transactions
 * (a rolled-back call's id may still be reported).
 */
static bool last_activity_valid = false;
static int64 last_activity_id = 0;

void
fleet_define_settings(void)
{
	DefineCustomStringVariable("fleet_sites.actor",
							   "Actor recorded in fleet_activity rows written by this session.",
							   "When empty, the role that calls the move function is recorded.",
							   &actor_setting,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);
	DefineCustomBoolVariable("fleet_sites.notify",
							 "Send NOTIFY fleet_activity for each applied move.",
							 "Off: the audit row is still written, but no notification is sent, so "
							 "the transaction can be prepared with PREPARE TRANSACTION and its commit "
							 "does not serialize on the notification queue.",
							 &notify_setting,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("fleet_sites");
}

static const char *
current_actor(void)
{
	if (actor_setting != NULL && actor_setting[0] != '\0')
		return actor_setting;
	return GetUserNameFromId(GetUserId(), false);
}

/* Append a JSON array of at most FLEET_AUDIT_IDENTIFIER_SAMPLE identifiers. */
void
fleet_json_identifier_array(StringInfo buf, char *const *identifiers, int count)
{
	int			i;

	appendStringInfoChar(buf, '[');
	for (i = 0; i < count && i < FLEET_AUDIT_IDENTIFIER_SAMPLE; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		escape_json(buf, identifiers[i]);
	}
	appendStringInfoChar(buf, ']');
}

/* The keys every move's metadata has: device_count and the identifier sample. */
void
fleet_append_device_sample(StringInfo metadata, const FleetIdList *ids, int device_count)
{
	appendStringInfo(metadata, ", \"device_count\": %d, \"device_identifiers\": ", device_count);
	fleet_json_identifier_array(metadata, ids->in_input_order, ids->count);
}

/* A site or building id as JSON, or null. */
void
fleet_json_ref(StringInfo buf, FleetRef ref)
{
	if (ref.is_set)
		appendStringInfo(buf, "%lld", (long long) ref.id);
	else
		appendStringInfoString(buf, "null");
}

/*
 * The force-clear suffix and keys that the site and building moves share:
 * " (<k> rack membership(s) force-cleared)" and the two metadata keys,
 * only when the force clear deleted memberships.
 */
void
fleet_append_force_cleared(StringInfo description, StringInfo metadata,
						   const FleetConflictList *cleared, int cleared_count)
{
	char	  **names;
	int			i;

	if (cleared_count <= 0)
		return;
	names = palloc(sizeof(char *) * (cleared->count + 1));
	for (i = 0; i < cleared->count; i++)
		names[i] = cleared->items[i].device_identifier;
	appendStringInfo(description, " (%d rack membership(s) force-cleared)", cleared_count);
	appendStringInfo(metadata, ", \"force_cleared_rack_membership_count\": %d", cleared_count);
	appendStringInfoString(metadata, ", \"force_cleared_device_identifiers\": ");
	fleet_json_identifier_array(metadata, names, cleared->count);
}

int64
fleet_write_activity(const char *event_type, FleetRef site,
					 const char *description, const char *metadata_json)
{
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		activity_id;

	/* The call's writes are done: any a user trigger rewrote are checked. */
	fleet_guard_recheck();

	/* The actor is read before the switch: it is the caller, not the owner. */
	values[0] = CStringGetTextDatum(current_actor());
	values[1] = CStringGetTextDatum(event_type);
	values[2] = Int64GetDatum(site.id);
	nulls[2] = site.is_set ? ' ' : 'n';
	values[3] = CStringGetTextDatum(description);
	values[4] = CStringGetTextDatum(metadata_json);

	if (fleet_run(FLEET_PLAN_INSERT_ACTIVITY, values, nulls, 1) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
				 errmsg("the audit row of the move was not written"),
				 errdetail("A trigger on table fleet_activity suppressed the insert; a move is not applied without its audit row.")));
	activity_id = fleet_get_int64(0, 1, &isnull);
	SPI_freetuptable(SPI_tuptable);

	if (notify_setting)
		Async_Notify("fleet_activity", psprintf("%lld", (long long) activity_id));
	return activity_id;
}

/* A move function's last step: its call succeeded and wrote this audit row. */
void
fleet_remember_activity(int64 activity_id)
{
	last_activity_id = activity_id;
	last_activity_valid = true;
}

PG_FUNCTION_INFO_V1(fleet_last_activity_id);

Datum
fleet_last_activity_id(PG_FUNCTION_ARGS)
{
	if (!last_activity_valid)
		PG_RETURN_NULL();
	PG_RETURN_INT64(last_activity_id);
}
