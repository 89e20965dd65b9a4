/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  What every SECURITY DEFINER entry point does first: check that the
 *	  schema named es_store is the extension's own, and resolve names
 *	  against pg_catalog alone until it returns.
 *
 * The functions run as the extension's owner, and so does anything that
 * runs inside them: a trigger, CHECK constraint, default or index
 * expression someone added to an es_store table.  Such code must not be
 * able to reach objects the caller controls by an unqualified name.
 * SET search_path = pg_catalog, pg_temp on the functions would not be
 * enough: relations and types are still found in pg_temp when pg_catalog
 * has none of that name (namespace.c RelnameGetRelid,
 * TypenameGetTypidExtended), and every session can create pg_temp objects.
 * So es_guard_enter pushes an override search path of pg_catalog without
 * the temporary schema (namespace.c PushOverrideSearchPath, addTemp =
 * false), which also takes precedence over any SET search_path of a
 * function called inside (recomputeNamespacePath does nothing while an
 * override is active).  es_guard_leave pops it; an error pops it through
 * AtEOXact_Namespace / AtEOSubXact_Namespace.
 *
 * The SQL the functions run names es_store.<table>; es_guard_enter checks
 * that the schema of that name is the one pg_extension records for
 * es_store, so that a schema renamed away and replaced by someone else's
 * is refused rather than used.  The check is one syscache probe; the
 * extension's schema and OID are cached and forgotten on any pg_namespace
 * invalidation and on one of es_store.events (which DROP EXTENSION sends).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "es_store.h"

static bool extension_valid = false;
static Oid	extension_oid = InvalidOid;
static Oid	extension_schema = InvalidOid;
static Oid	extension_owner = InvalidOid;
static Oid	extension_events = InvalidOid;	/* es_store.events, a member */

static void
namespace_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	extension_valid = false;
}

/* DROP EXTENSION drops es_store.events: forget the extension's OID too. */
static void
events_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == extension_events)
		extension_valid = false;
}

/* Read es_store's row of pg_extension into the cache. */
static void
load_extension(void)
{
	static bool callback_registered = false;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	if (!callback_registered)
	{
		CacheRegisterSyscacheCallback(NAMESPACEOID, namespace_inval, (Datum) 0);
		es_add_relcache_inval(events_inval);
		callback_registered = true;
	}
	/* an invalidation arriving while we read leaves the cache invalid */
	extension_valid = true;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("es_store"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"es_store\" does not exist")));
	extension_oid = ((Form_pg_extension) GETSTRUCT(tup))->oid;
	extension_schema = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	extension_owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	extension_events = get_relname_relid("events", extension_schema);
}

/*
 * The OID of the extension's schema, after checking that it is the schema
 * named es_store (55000 otherwise).
 */
Oid
es_extension_schema(void)
{
	Oid			named;

	if (!extension_valid)
		load_extension();
	named = get_namespace_oid("es_store", true);
	if (named != extension_schema)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("schema \"es_store\" is not the schema of extension es_store"),
				 errdetail("The extension's objects are in schema \"%s\"; %s.",
						   get_namespace_name(extension_schema),
						   OidIsValid(named) ? "the schema now named \"es_store\" is another one" :
						   "no schema is named \"es_store\""),
				 errhint("Rename the extension's schema back to es_store.")));
	return extension_schema;
}

/* The OID of the es_store extension (cached like its schema). */
Oid
es_extension_oid(void)
{
	if (!extension_valid)
		load_extension();
	return extension_oid;
}

/* Whether relation relid is one of the extension's own objects. */
bool
es_extension_member(Oid relid)
{
	return getExtensionOfObject(RelationRelationId, relid) == es_extension_oid();
}

/*
 * Start an entry point's work: check the schema, become the extension's
 * owner, as a SECURITY DEFINER function would (fmgr_security_definer), and
 * resolve unqualified names against pg_catalog only (no pg_temp, no
 * caller's search_path), until es_guard_leave, which *guard lets restore
 * the caller's identity.  An error restores it through the (sub)
 * transaction's abort, as it does for SECURITY DEFINER.  The entry points
 * are SECURITY INVOKER since 0.3.0: fmgr_security_definer looks the
 * function up again for every statement that calls it, which cost more
 * than the rest of a read of ten events' fixed work (README, Performance);
 * the checkpoint functions must know their caller anyway (checkpoint.c).
 */
void
es_guard_enter(EsGuard *guard)
{
	OverrideSearchPath path;

	GetUserIdAndSecContext(&guard->saved_user, &guard->saved_context);
	(void) es_extension_schema();
	SetUserIdAndSecContext(extension_owner,
						   guard->saved_context | SECURITY_LOCAL_USERID_CHANGE);
	path.schemas = NIL;
	path.addCatalog = true;
	path.addTemp = false;
	path.generation = 0;
	PushOverrideSearchPath(&path);
}

void
es_guard_leave(const EsGuard *guard)
{
	PopOverrideSearchPath();
	SetUserIdAndSecContext(guard->saved_user, guard->saved_context);
}

