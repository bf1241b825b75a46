/*
 * privilege.c: the privilege gate.
 *
 * The contract's rights are table privileges of the calling role
 * (current_user): UPDATE on fleet_device is "site manage", DELETE (and for
 * the rack move INSERT) on fleet_rack_membership is "rack manage", and the
 * container moves need UPDATE on the tables they change. They are checked
 * before any lock is taken, so a caller without them neither waits nor
 * blocks anybody.
 */
#include "fleet_sites.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"

static const char *
mode_name(AclMode mode)
{
	switch (mode)
	{
		case ACL_SELECT:
			return "SELECT";
		case ACL_INSERT:
			return "INSERT";
		case ACL_UPDATE:
			return "UPDATE";
		case ACL_DELETE:
			return "DELETE";
		default:
			elog(ERROR, "unexpected privilege mode %u", (unsigned) mode);
	}
	return NULL;				/* keep the compiler quiet */
}

bool
fleet_has_privilege(FleetRelation rel, AclMode mode)
{
	return pg_class_aclcheck(fleet_relid(rel), GetUserId(), mode) == ACLCHECK_OK;
}

void
fleet_require_privilege(FleetRelation rel, AclMode mode, const char *right,
						const char *function_name)
{
	const FleetCatalog *catalog;
	char	   *qualified;
	const char *role;

	if (fleet_has_privilege(rel, mode))
	{
		/*
		 * A table the call reads or writes: its row-level security must not
		 * be a restored state still waiting to be applied (saved_security.c).
		 */
		fleet_require_security_applied(rel, function_name);
		return;
	}

	catalog = fleet_catalog();
	qualified = quote_qualified_identifier(get_namespace_name(catalog->schema_oid),
										   fleet_relation_name(rel));
	role = GetUserNameFromId(GetUserId(), false);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for table %s", fleet_relation_name(rel)),
			 errdetail("%s needs %s privilege on table %s (the \"%s\" right), which role \"%s\" lacks.",
					   function_name, mode_name(mode), fleet_relation_name(rel), right, role),
			 errhint("GRANT %s ON TABLE %s TO %s;", mode_name(mode), qualified,
					 quote_identifier(role))));
}

/*
 * Does row-level security filter what the calling role reads from this
 * table? When it does not, a row the extension's owner can read is one the
 * caller can read too, and the visibility statements can be skipped.
 */
bool
fleet_rls_hides_rows(FleetRelation rel)
{
	return check_enable_rls(fleet_relid(rel), InvalidOid, true) == RLS_ENABLED;
}
