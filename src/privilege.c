/*
 * privilege.c: the privilege gate.
 *
 * The contract's rights are table privileges of the calling role
 * (current_user): UPDATE on fleet_device is "site manage", DELETE (and for the
 * rack move INSERT) on fleet_rack_membership is "rack manage". They are
 * checked before any lock is taken, so a caller without them neither waits
 * nor blocks anybody.
 */
#include "fleet_sites.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"

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
			elog(ERROR, "fleet_sites: unexpected privilege mode %u", (unsigned) mode);
	}
	return NULL;				/* keep the compiler quiet */
}

void
fleet_require_privilege(Oid relid, AclMode mode, const char *right,
						const char *function_name)
{
	if (pg_class_aclcheck(relid, GetUserId(), mode) == ACLCHECK_OK)
		return;

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied: %s requires %s privilege on table %s",
					function_name, mode_name(mode), get_rel_name(relid)),
			 errdetail("Role \"%s\" lacks the %s right.",
					   GetUserNameFromId(GetUserId(), false), right),
			 errhint("GRANT %s ON %s TO the role.", mode_name(mode), get_rel_name(relid))));
}
