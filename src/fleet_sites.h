/*
 * fleet_sites.h: what the move functions share.
 *
 * One idea per file:
 *   catalog.c    where the extension lives (schema, owner, relations) and the
 *                SPI plans prepared once per backend against it
 *   input.c      validation of the (ids, target, force_clear) arguments
 *   privilege.c  the privilege gate, checked before any lock
 *   authority.c  running a statement on the extension owner's authority
 *   locks.c      the one lock order every move follows
 *   placement.c  the writes: memberships and device sites
 *   conflicts.c  conflict rows: collecting, sorting, returning
 *   audit.c      the fleet_activity row and its NOTIFY
 *   site_move.c  fleet_assign_devices_to_site
 *   rack_move.c  fleet_assign_devices_to_rack
 */
#ifndef FLEET_SITES_H
#define FLEET_SITES_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "storage/itemptr.h"

/* Limits from the contract's bad-input table. */
#define FLEET_MAX_DISTINCT_IDS			10000
#define FLEET_MAX_IDENTIFIER_CHARS		256
/* How many identifiers an audit row lists. */
#define FLEET_AUDIT_IDENTIFIER_SAMPLE	50

/* ------------------------------------------------------------------------
 * catalog.c
 * ------------------------------------------------------------------------
 */

/* Every SPI statement the functions run, prepared once and kept. */
typedef enum FleetPlanId
{
	FLEET_PLAN_LOCK_SITE,			/* target site FOR KEY SHARE (owner) */
	FLEET_PLAN_READ_RACK,		/* target rack, unlocked (owner) */
	FLEET_PLAN_LOCK_RACK,			/* target rack FOR NO KEY UPDATE (owner) */
	FLEET_PLAN_LOCK_DEVICES,		/* devices by identifier, id order (caller) */
	FLEET_PLAN_VISIBLE_DEVICES,		/* ids the caller can see (caller) */
	FLEET_PLAN_LOCK_DEVICES_BY_ID,	/* those ids, id order (owner) */
	FLEET_PLAN_SITE_CONFLICTS,		/* racked elsewhere, among locked ids */
	FLEET_PLAN_RACK_PLACEMENT,		/* memberships of locked ids and target */
	FLEET_PLAN_CLEAR_MEMBERSHIPS,	/* delete memberships of given ids */
	FLEET_PLAN_REMAINING_MEMBERSHIPS,	/* memberships a delete missed (owner) */
	FLEET_PLAN_SET_DEVICE_SITE,		/* site_id := target for given ids */
	FLEET_PLAN_JOIN_RACK,			/* insert memberships into the target */
	FLEET_PLAN_INSERT_ACTIVITY,		/* the audit row (owner) */
	FLEET_PLAN_COUNT
} FleetPlanId;

typedef struct FleetCatalog
{
	Oid			extension_oid;
	Oid			schema_oid;
	Oid			owner_oid;			/* the extension's owner: its authority */
	Oid			site_relid;
	Oid			rack_relid;
	Oid			device_relid;
	Oid			membership_relid;
	Oid			activity_relid;
	SPIPlanPtr	plans[FLEET_PLAN_COUNT];
} FleetCatalog;

extern void fleet_catalog_register_invalidation(void);
extern const FleetCatalog *fleet_catalog(void);
extern SPIPlanPtr fleet_plan(FleetPlanId id);

/* ------------------------------------------------------------------------
 * input.c
 * ------------------------------------------------------------------------
 */

/* The distinct identifiers of one call, with their first-occurrence order. */
typedef struct FleetIdList
{
	int			count;				/* distinct identifiers */
	char	  **in_input_order;		/* first occurrences, as given */
	char	  **sorted;				/* the same strings, byte order */
	Datum		sorted_array;		/* text[] of sorted, for SPI parameters */
} FleetIdList;

extern FleetIdList *fleet_read_ids(FunctionCallInfo fcinfo, int argno);
extern void fleet_check_target(FunctionCallInfo fcinfo, int argno, const char *what);
extern bool fleet_read_force_clear(FunctionCallInfo fcinfo, int argno);
extern int	fleet_id_position(const FleetIdList *ids, const char *identifier);

/* ------------------------------------------------------------------------
 * privilege.c
 * ------------------------------------------------------------------------
 */

extern void fleet_require_privilege(Oid relid, AclMode mode, const char *right,
									const char *function_name);

/* ------------------------------------------------------------------------
 * authority.c
 * ------------------------------------------------------------------------
 */

extern int	fleet_execute_as_owner(FleetPlanId plan, Datum *values,
								   const char *nulls, long tcount);

/* ------------------------------------------------------------------------
 * locks.c
 * ------------------------------------------------------------------------
 */

/* The device rows one call holds locked, ascending by id. */
typedef struct FleetLockedDevices
{
	int			count;
	int64	   *ids;
	char	  **identifiers;
	bool	   *has_site;
	int64	   *site_ids;
	ItemPointerData *tids;			/* where each locked row version is */
} FleetLockedDevices;

/* The target rack, as locked: its site and its capacity. */
typedef struct FleetLockedRack
{
	int64		rack_id;
	bool		has_site;
	int64		site_id;
	int			slot_count;			/* row_count * column_count */
} FleetLockedRack;

extern bool fleet_try_lock_site(int64 site_id);
extern void fleet_lock_site(int64 site_id);
extern void fleet_lock_rack(int64 rack_id, FleetLockedRack *rack);
extern FleetLockedDevices *fleet_lock_devices(const FleetIdList *ids, bool on_owner_authority);
extern int	fleet_locked_position(const FleetLockedDevices *locked, int64 device_id);
extern Datum fleet_int64_array(const int64 *values, int count);

/* ------------------------------------------------------------------------
 * placement.c
 * ------------------------------------------------------------------------
 */

extern int	fleet_clear_memberships(const int64 *device_ids, int count);
extern int	fleet_count_site_changes(const FleetLockedDevices *locked, bool has_site,
									 int64 site_id);
extern int	fleet_set_device_sites(const FleetLockedDevices *locked, bool has_site,
								   int64 site_id);
extern void fleet_join_rack(int64 rack_id, const int64 *device_ids, int count);

/* ------------------------------------------------------------------------
 * conflicts.c
 * ------------------------------------------------------------------------
 */

typedef enum FleetConflictReason
{
	FLEET_DEVICE_NOT_FOUND,
	FLEET_DEVICE_IN_RACK_AT_OTHER_SITE,
	FLEET_DEVICE_LOSES_SITE
} FleetConflictReason;

typedef struct FleetConflict
{
	char	   *device_identifier;
	FleetConflictReason reason;
	int64		device_id;			/* 0 for DEVICE_NOT_FOUND */
	bool		has_site;
	int64		conflicting_site_id;
	bool		has_rack;
	int64		rack_id;
} FleetConflict;

typedef struct FleetConflictList
{
	int			count;
	int			capacity;
	FleetConflict *items;
} FleetConflictList;

extern FleetConflictList *fleet_conflicts_new(void);
extern FleetConflict *fleet_conflicts_add(FleetConflictList *list, const char *identifier,
										  FleetConflictReason reason);
extern void fleet_conflicts_add_not_found(FleetConflictList *list, const FleetIdList *ids,
										  const FleetLockedDevices *locked);
extern void fleet_conflicts_sort(FleetConflictList *list);
extern bool fleet_conflicts_all_of(const FleetConflictList *list, FleetConflictReason reason);
extern void fleet_conflicts_return(FunctionCallInfo fcinfo, const FleetConflictList *list,
								   bool only_residual, FleetConflictReason clearable);

/* ------------------------------------------------------------------------
 * audit.c
 * ------------------------------------------------------------------------
 */

extern void fleet_define_settings(void);
extern void fleet_json_identifier_array(StringInfo buf, char *const *identifiers, int count);
extern void fleet_append_device_sample(StringInfo metadata, const FleetIdList *ids,
									   int device_count);
extern int64 fleet_write_activity(const char *event_type, bool has_site, int64 site_id,
								  const char *description, const char *metadata_json);
extern void fleet_remember_activity(int64 activity_id);

#endif							/* FLEET_SITES_H */
