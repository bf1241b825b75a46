/*
 * fleet_sites.h: what the move functions share.
 *
 * One idea per file:
 *   catalog.c       where the extension lives (schema, owner, relations) and
 *                   the kept SPI plans, never re-analyzed behind our back
 *   statements.c    every SQL statement, with its authority and snapshot
 *   execute.c       running one statement: authority, snapshot, errors
 *   input.c         validation of the arguments, before anything is locked
 *   privilege.c     the privilege gate, checked before any lock
 *   locks.c         the one lock order every function follows
 *   placement.c     where the locked devices are, and the writes
 *   conflicts.c     conflict rows: collecting, sorting, returning
 *   audit.c         the fleet_activity row, its NOTIFY, the settings
 *   site_move.c     fleet_assign_devices_to_site
 *   building_move.c fleet_assign_devices_to_building
 *   rack_move.c     fleet_assign_devices_to_rack
 *   cascade.c       what the container moves share: writes, result, audit
 *   racks_move.c    fleet_assign_racks_to_site, fleet_assign_racks_to_building
 *   buildings_move.c  fleet_assign_buildings_to_site
 *   delete_triggers.c  site and building deletion in the lock order
 *   guards.c        the invariant for every direct write (triggers)
 *   exemption.c     the functions' own writes pass the guards
 *   saved_security.c  row-level security kept through pg_dump / pg_restore
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
/* The library our C functions name (MODULE_PATHNAME in the scripts). */
#define FLEET_LIBRARY					"$libdir/fleet_sites"
/* How many identifiers an audit row lists. */
#define FLEET_AUDIT_IDENTIFIER_SAMPLE	50

/* An optional bigint: a site or building id, or NULL. */
typedef struct FleetRef
{
	bool		is_set;
	int64		id;
} FleetRef;

static inline FleetRef
fleet_ref(bool is_set, int64 id)
{
	FleetRef	ref;

	ref.is_set = is_set;
	ref.id = is_set ? id : 0;
	return ref;
}

/* IS NOT DISTINCT FROM */
static inline bool
fleet_ref_eq(FleetRef a, FleetRef b)
{
	return a.is_set == b.is_set && (!a.is_set || a.id == b.id);
}

/* ------------------------------------------------------------------------
 * catalog.c, statements.c, execute.c
 * ------------------------------------------------------------------------
 */

typedef enum FleetRelation
{
	FLEET_REL_SITE,
	FLEET_REL_BUILDING,			/* absent from a 1.0 schema */
	FLEET_REL_RACK,
	FLEET_REL_DEVICE,
	FLEET_REL_MEMBERSHIP,
	FLEET_REL_SLOT,
	FLEET_REL_ACTIVITY,
	FLEET_REL_SAVED_SECURITY,	/* saved_security.c; absent from a 1.0 schema */
	FLEET_REL_COUNT
} FleetRelation;

/* Every SPI statement the functions run (statements.c has the text). */
typedef enum FleetPlanId
{
	FLEET_PLAN_SITE_VISIBLE,
	FLEET_PLAN_BUILDING_VISIBLE,
	FLEET_PLAN_RACK_VISIBLE,
	FLEET_PLAN_LOCK_SITE,
	FLEET_PLAN_LOCK_SITE_FOR_BUILDINGS,
	FLEET_PLAN_READ_BUILDING,
	FLEET_PLAN_SHARE_BUILDING,
	FLEET_PLAN_FILL_BUILDING,
	FLEET_PLAN_BUILDINGS_VISIBLE,
	FLEET_PLAN_LOCK_BUILDINGS,
	FLEET_PLAN_NAME_CLASH,
	FLEET_PLAN_READ_RACK,
	FLEET_PLAN_LOCK_RACK,
	FLEET_PLAN_RACK_IDS_VISIBLE,
	FLEET_PLAN_LOCK_RACKS,
	FLEET_PLAN_LOCK_BUILDINGS_RACKS,
	FLEET_PLAN_BUILDING_POSITIONS,
	FLEET_PLAN_RACKS_VISIBLE,
	FLEET_PLAN_LOCK_DEVICES,
	FLEET_PLAN_VISIBLE_DEVICES,
	FLEET_PLAN_RACK_MEMBER_IDS,
	FLEET_PLAN_BUILDING_DEVICE_IDS,
	FLEET_PLAN_LOCK_MEMBERS_BY_ID,
	FLEET_PLAN_LOCK_DEVICES_BY_ID,
	FLEET_PLAN_PLACEMENT,
	FLEET_PLAN_RACK_MEMBERS,
	FLEET_PLAN_CLEAR_MEMBERSHIPS,
	FLEET_PLAN_REMAINING_MEMBERSHIP,
	FLEET_PLAN_SET_DEVICES,
	FLEET_PLAN_SET_DEVICES_BY_ID,
	FLEET_PLAN_DEVICE_UNWRITTEN,
	FLEET_PLAN_SET_RACKS,
	FLEET_PLAN_SET_BUILDINGS_SITE,
	FLEET_PLAN_JOIN_RACK,
	FLEET_PLAN_CLEAR_SLOTS,
	FLEET_PLAN_SET_SLOTS,
	FLEET_PLAN_SLOT_MEMBERS_SEEN,
	FLEET_PLAN_LOCK_SITE_BUILDINGS,
	FLEET_PLAN_LOCK_SITE_RACKS,
	FLEET_PLAN_LOCK_SITE_DEVICES,
	FLEET_PLAN_UNSITE_BUILDINGS,
	FLEET_PLAN_UNSITE_RACKS,
	FLEET_PLAN_UNSITE_DEVICES,
	FLEET_PLAN_LOCK_BUILDING_RACKS,
	FLEET_PLAN_LOCK_BUILDING_DEVICES,
	FLEET_PLAN_UNBUILD_RACKS,
	FLEET_PLAN_UNBUILD_DEVICES,
	FLEET_PLAN_GUARD_LOCK_RACKS,
	FLEET_PLAN_GUARD_SHARE_RACKS,
	FLEET_PLAN_GUARD_LOCK_DEVICES,
	FLEET_PLAN_GUARD_LOCK_BUILDINGS,
	FLEET_PLAN_GUARD_RACK_EXISTS,
	FLEET_PLAN_GUARD_SHARE_SITE,
	FLEET_PLAN_GUARD_SITE_EXISTS,
	FLEET_PLAN_GUARD_SHARE_BUILDING,
	FLEET_PLAN_GUARD_BUILDING_EXISTS,
	FLEET_PLAN_GUARD_DEVICES,
	FLEET_PLAN_GUARD_RACKS,
	FLEET_PLAN_GUARD_RACK_FULL,
	FLEET_PLAN_GUARD_SLOTS,
	FLEET_PLAN_GUARD_BUILDINGS,
	FLEET_PLAN_GUARD_DEVICE_SEEN,
	FLEET_PLAN_INSERT_ACTIVITY,
	/* saved row-level security (saved_security.c) */
	FLEET_PLAN_SEC_READ_SAVED,
	FLEET_PLAN_SEC_FOREIGN,
	FLEET_PLAN_SEC_SAVE,
	FLEET_PLAN_SEC_CLEAR,
	FLEET_PLAN_SEC_DDL_COMMANDS,
	FLEET_PLAN_SEC_DROPPED_POLICIES,
	FLEET_PLAN_COUNT
} FleetPlanId;

typedef enum FleetAuthority
{
	FLEET_CALLER,				/* the calling role's rights, RLS applies */
	FLEET_OWNER					/* the extension owner's (execute.c) */
} FleetAuthority;

typedef enum FleetSnapshotRule
{
	FLEET_SNAPSHOT_STATEMENT,	/* SPI's default for the isolation level */
	FLEET_SNAPSHOT_LATEST		/* after the locks: see execute.c */
} FleetSnapshotRule;

typedef struct FleetPlanSpec
{
	const char *name;			/* for internal error messages */
	const char *sql;			/* every %s is the quoted schema */
	const char *sql_10;			/* the same for a 1.0 schema, or NULL */
	bool		needs_buildings;	/* no 1.0 form: used only with buildings */
	FleetAuthority authority;
	FleetSnapshotRule snapshot;
	int			expected_rc;	/* SPI_OK_* */
	int			nargs;
	Oid			argtypes[7];
} FleetPlanSpec;

typedef struct FleetCatalog
{
	Oid			extension_oid;
	Oid			schema_oid;
	Oid			owner_oid;		/* the extension's owner: its authority */
	Oid			relids[FLEET_REL_COUNT];
	bool		has_buildings;	/* the 1.1 schema */
	SPIPlanPtr	plans[FLEET_PLAN_COUNT];
} FleetCatalog;

extern void fleet_catalog_register_invalidation(void);
extern const FleetCatalog *fleet_catalog(void);
extern const char *fleet_relation_name(FleetRelation rel);
extern SPIPlanPtr fleet_plan(FleetPlanId id);
extern const FleetPlanSpec *fleet_plan_spec(FleetPlanId id);

#define fleet_relid(rel) (fleet_catalog()->relids[(rel)])

typedef struct FleetAuthoritySave
{
	Oid			user;
	int			sec_context;
} FleetAuthoritySave;

extern void fleet_become_owner(FleetAuthoritySave *save);
extern void fleet_restore_authority(const FleetAuthoritySave *save);

/* Run a kept statement; returns SPI_processed (SPI_tuptable has the rows). */
extern uint64 fleet_run(FleetPlanId id, Datum *values, const char *nulls, long tcount);

/* Reading SPI results. */
extern int64 fleet_get_int64(uint64 row, int column, bool *isnull);
extern FleetRef fleet_get_ref(uint64 row, int column);
extern int32 fleet_get_int32(uint64 row, int column, bool *isnull);

/* guards.c */
extern void fleet_guard_recheck(void);

/* exemption.c */
extern void fleet_exemption_install(void);
extern int	fleet_exempt_enter(void);
extern void fleet_exempt_leave(int saved);
extern bool fleet_write_is_exempt(void);
extern int	fleet_current_level(void);

/* ------------------------------------------------------------------------
 * input.c
 * ------------------------------------------------------------------------
 */

/* The distinct identifiers of one call, with their first-occurrence order. */
typedef struct FleetIdList
{
	int			count;			/* distinct identifiers */
	char	  **in_input_order; /* first occurrences, as given */
	char	  **sorted;			/* the same strings, byte order */
	Datum		sorted_array;	/* text[] of sorted, for SPI parameters */
	/* Slots, when given (fleet_read_slots): per identifier in sorted order. */
	bool		slots_given;
	bool	   *has_slot;
	int32	   *row_index;
	int32	   *column_index;
} FleetIdList;

/* The distinct rack or building ids of one call. */
typedef struct FleetIdSet
{
	int			count;			/* distinct ids */
	int64	   *sorted;			/* ascending */
	int64	   *in_input_order; /* first occurrences, as given */
	Datum		sorted_array;	/* bigint[] of sorted */
	/* Positions (racks into a building), per id in sorted order. */
	bool		positions_given;
	bool	   *has_position;
	int32	   *aisle_index;
	int32	   *position_in_aisle;
} FleetIdSet;

extern FleetIdList *fleet_read_ids(FunctionCallInfo fcinfo, int argno);
extern FleetIdSet *fleet_read_id_array(FunctionCallInfo fcinfo, int argno, const char *what,
									   int aisles_argno, int positions_argno,
									   bool has_target);
extern int	fleet_id_set_position(const FleetIdSet *set, int64 id);
extern FleetIdList *fleet_read_ids_with_slots(FunctionCallInfo fcinfo, int ids_argno,
											  int rows_argno, int columns_argno,
											  bool has_target);
extern FleetRef fleet_read_target(FunctionCallInfo fcinfo, int argno, const char *what);
extern bool fleet_read_force_clear(FunctionCallInfo fcinfo, int argno);
extern int	fleet_id_position(const FleetIdList *ids, const char *identifier);

/* ------------------------------------------------------------------------
 * privilege.c
 * ------------------------------------------------------------------------
 */

extern void fleet_require_privilege(FleetRelation rel, AclMode mode, const char *right,
									const char *function_name);
extern bool fleet_has_privilege(FleetRelation rel, AclMode mode);
extern bool fleet_rls_hides_rows(FleetRelation rel);

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
	FleetRef   *sites;
	FleetRef   *buildings;
	ItemPointerData *tids;		/* where each locked row version is */
} FleetLockedDevices;

/* A target building, as locked: its site and layout. */
typedef struct FleetLockedBuilding
{
	int64		building_id;
	FleetRef	site;
	bool		has_layout;
	int			aisle_count;
	int			racks_per_aisle;
} FleetLockedBuilding;

/* Racks one call holds locked, ascending by id, as they were locked. */
typedef struct FleetLockedRacks
{
	int			count;
	int64	   *ids;
	FleetRef   *sites;
	FleetRef   *buildings;
	bool	   *has_position;
	int32	   *aisle_index;
	int32	   *position_in_aisle;
} FleetLockedRacks;

/* A target rack, as locked: its placement and its size. */
typedef struct FleetLockedRack
{
	int64		rack_id;
	FleetRef	site;
	FleetRef	building;
	int			row_count;
	int			column_count;
} FleetLockedRack;

/* The devices a caller named, read without locking (rack-only callers). */
typedef struct FleetSeenDevices
{
	int			count;
	int64	   *ids;
	FleetRef   *sites;
	FleetRef   *buildings;
} FleetSeenDevices;

extern void fleet_check_target_visible(FleetRelation rel, int64 id, const char *what);
extern void fleet_lock_site(int64 site_id);
extern void fleet_lock_site_for_buildings(int64 site_id);
extern void fleet_lock_building(int64 building_id, FleetLockedBuilding *building);
extern void fleet_lock_building_for_racks(int64 building_id, FleetLockedBuilding *building);
extern void fleet_check_ids_visible(FleetPlanId plan, const FleetIdSet *set, const char *what);
extern FleetLockedRacks *fleet_lock_racks(FleetPlanId plan, Datum key, const FleetIdSet *named);
extern FleetLockedDevices *fleet_lock_members(FleetPlanId candidates, Datum key);
extern void fleet_peek_rack(int64 rack_id, FleetLockedRack *rack);
extern void fleet_lock_rack(int64 rack_id, FleetLockedRack *rack);
extern FleetSeenDevices *fleet_read_devices(const FleetIdList *ids);
extern FleetLockedDevices *fleet_lock_devices(const FleetIdList *ids,
											  const FleetSeenDevices *seen);
extern int	fleet_locked_position(const FleetLockedDevices *locked, int64 device_id);
extern Datum fleet_int64_array(const int64 *values, int count);
extern int	fleet_compare_int64(const void *a, const void *b);

/* ------------------------------------------------------------------------
 * placement.c
 * ------------------------------------------------------------------------
 */

/* Where one locked device is, read under its lock. */
typedef struct FleetPlacement
{
	bool		racked;
	int64		rack_id;
	FleetRef	rack_site;
	FleetRef	rack_building;
	bool		rack_visible;	/* the caller can see the rack */
	FleetRef	building_site;	/* the site of the device's own building */
} FleetPlacement;

/* Per locked device (same index as FleetLockedDevices). */
extern FleetPlacement *fleet_read_placement(const FleetLockedDevices *locked);

/* One group of locked devices to update: each of site and building set or kept. */
typedef struct FleetDeviceWrite
{
	bool		set_site;
	FleetRef	site;
	bool		set_building;
	FleetRef	building;
} FleetDeviceWrite;

extern int	fleet_clear_memberships(const FleetLockedDevices *locked,
									const int64 *device_ids, int count);
extern bool fleet_device_changes(const FleetLockedDevices *locked, int i,
								 FleetDeviceWrite write);
extern int	fleet_write_devices(const FleetLockedDevices *locked, const bool *chosen,
								FleetDeviceWrite write);
extern void fleet_join_rack(int64 rack_id, const int64 *device_ids, int count);
extern void fleet_clear_slots(int64 rack_id, const int64 *device_ids, int count);
extern void fleet_set_slots(int64 rack_id, const int64 *device_ids, const int32 *rows,
							const int32 *columns, int count);

/* ------------------------------------------------------------------------
 * cascade.c
 * ------------------------------------------------------------------------
 */

extern void fleet_write_racks(const int64 *ids, int count, bool set_site, FleetRef site,
							  bool set_building, FleetRef building, const bool *has_position,
							  const int32 *aisle_index, const int32 *position_in_aisle);
extern void fleet_write_buildings_site(const int64 *ids, int count, FleetRef site);
extern Datum fleet_cascade_result(FunctionCallInfo fcinfo, int buildings, int racks,
								  int devices);
extern void fleet_json_id_sample(StringInfo buf, const char *key, const int64 *ids,
								 int count);
extern bool fleet_ids_contain(const int64 *ids, int count, int64 id);

/* ------------------------------------------------------------------------
 * conflicts.c
 * ------------------------------------------------------------------------
 */

typedef enum FleetConflictReason
{
	FLEET_DEVICE_NOT_FOUND,
	FLEET_DEVICE_IN_RACK_AT_OTHER_SITE,
	FLEET_DEVICE_LOSES_SITE,
	FLEET_DEVICE_IN_RACK_AT_OTHER_BUILDING
} FleetConflictReason;

typedef struct FleetConflict
{
	char	   *device_identifier;
	FleetConflictReason reason;
	int64		device_id;		/* 0 for DEVICE_NOT_FOUND */
	bool		has_rack;		/* rack known and visible to the caller */
	int64		rack_id;
	FleetRef	site;			/* that rack's site */
	FleetRef	building;		/* that rack's building */
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
extern void fleet_conflicts_add_rack(FleetConflictList *list, const FleetLockedDevices *locked,
									 int position, const FleetPlacement *placement,
									 FleetConflictReason reason);
extern void fleet_conflicts_add_not_found(FleetConflictList *list, const FleetIdList *ids,
										  const FleetLockedDevices *locked);
extern void fleet_conflicts_sort(FleetConflictList *list);
extern bool fleet_conflicts_all_of(const FleetConflictList *list, FleetConflictReason reason);
extern void fleet_conflicts_return(FunctionCallInfo fcinfo, const FleetConflictList *list,
								   bool only_residual, FleetConflictReason clearable);
extern void fleet_return_nothing(FunctionCallInfo fcinfo);

/* ------------------------------------------------------------------------
 * audit.c
 * ------------------------------------------------------------------------
 */

extern void fleet_define_settings(void);
extern void fleet_json_identifier_array(StringInfo buf, char *const *identifiers, int count);
extern void fleet_json_ref(StringInfo buf, FleetRef ref);
extern void fleet_append_device_sample(StringInfo metadata, const FleetIdList *ids,
									   int device_count);
extern void fleet_append_force_cleared(StringInfo description, StringInfo metadata,
									   const FleetConflictList *cleared, int cleared_count);
extern int64 fleet_write_activity(const char *event_type, FleetRef site,
								  const char *description, const char *metadata_json);
extern void fleet_remember_activity(int64 activity_id);

/* ------------------------------------------------------------------------
 * saved_security.c
 * ------------------------------------------------------------------------
 */

extern void fleet_require_security_applied(FleetRelation rel, const char *function_name);

#endif							/* FLEET_SITES_H */
