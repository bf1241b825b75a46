/*
 * authority.c: statements run on the extension owner's authority.
 *
 * A few statements are not the caller's business: locking the target site
 * (or rack) row and writing the audit row. Row locks need UPDATE privilege
 * and the audit table is closed to ordinary roles, so these run as the
 * extension's owner, the way PostgreSQL's foreign-key checks run as the
 * table owner (ri_triggers.c). SECURITY_LOCAL_USERID_CHANGE keeps SET ROLE
 * and friends from escaping the switch; the user is switched back on every
 * exit, and an error restores it through transaction (or subtransaction)
 * abort. Which device rows are touched is never decided here.
 */
#include "fleet_sites.h"

#include "miscadmin.h"

int
fleet_execute_as_owner(FleetPlanId plan, Datum *values, const char *nulls, long tcount)
{
	const FleetCatalog *catalog = fleet_catalog();
	SPIPlanPtr	prepared = fleet_plan(plan);
	Oid			saved_user;
	int			saved_sec_context;
	int			rc;

	GetUserIdAndSecContext(&saved_user, &saved_sec_context);
	SetUserIdAndSecContext(catalog->owner_oid,
						   saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_NOFORCE_RLS);
	rc = SPI_execute_plan(prepared, values, nulls, false, tcount);
	SetUserIdAndSecContext(saved_user, saved_sec_context);
	return rc;
}
