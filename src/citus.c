/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Whether es_store's schema holds a Citus table (distributed, reference
 *	  or Citus local).  Its rows then live in shard relations, and the
 *	  relation the C paths open by name is a shell that Citus's planner and
 *	  executor route around: a row inserted into it directly would be lost
 *	  to every query, and a scan of it would find nothing.  On such a store
 *	  es_plain_table refuses every table of the schema, so the paths that
 *	  write and read without statements (direct.c, scan.c,
 *	  checkpoint_direct.c) step aside for the SQL statements, which Citus
 *	  plans (as custom plans: plans.c), and dcb.c refuses.
 *
 * Citus lists its tables in pg_catalog.pg_dist_partition (logicalrelid).
 * es_store does not link against Citus: the catalog is found by name, and
 * where it does not exist no table is a Citus table.  The answer is cached
 * per backend until the next relcache invalidation of any relation (Citus
 * invalidates a table's relcache entry whenever it changes its metadata,
 * metadata_utility.c CitusInvalidateRelcacheByRelid).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_namespace_d.h"
#include "miscadmin.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "es_store.h"

static bool callback_registered = false;

/* The schema last asked about, and its answer */
static Oid	schema_asked = InvalidOid;
static bool schema_citus = false;
static bool schema_events_hashed = false;

/* Counts invalidations: an answer looked up across one is not kept */
static uint64 invalidations = 0;

/* This node's Citus group (-2: not looked up since the last invalidation) */
static int	local_group = -2;

static void
citus_inval(Datum arg, Oid relid)
{
	schema_asked = InvalidOid;
	local_group = -2;
	invalidations++;
}

static void
register_inval(void)
{
	if (!callback_registered)
	{
		es_add_relcache_inval(citus_inval);
		callback_registered = true;
	}
}

/*
 * Look in pg_dist_partition for the relations of schema nsp: whether there
 * is one, and whether es_store.events is hash-distributed.  The answers are
 * kept unless an invalidation arrived while looking.
 */
static void
schema_load(Oid nsp, bool *citus, bool *events_hashed)
{
	Oid			catalog;
	AttrNumber	att;
	AttrNumber	method_att;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	uint64		seen;

	*citus = false;
	*events_hashed = false;
	register_inval();
	seen = invalidations;
	catalog = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	att = OidIsValid(catalog) ? get_attnum(catalog, "logicalrelid") : InvalidAttrNumber;
	method_att = OidIsValid(catalog) ? get_attnum(catalog, "partmethod") : InvalidAttrNumber;
	if (att != InvalidAttrNumber && method_att != InvalidAttrNumber)
	{
		Oid			events = get_relname_relid("events", nsp);

		rel = table_open(catalog, AccessShareLock);
		scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			bool		method_null;
			Datum		relid = heap_getattr(tup, att, RelationGetDescr(rel), &isnull);
			Datum		method = heap_getattr(tup, method_att, RelationGetDescr(rel),
											  &method_null);

			CHECK_FOR_INTERRUPTS();
			if (isnull || get_rel_namespace(DatumGetObjectId(relid)) != nsp)
				continue;
			*citus = true;
			if (DatumGetObjectId(relid) == events && !method_null &&
				DatumGetChar(method) == 'h')
				*events_hashed = true;
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	if (seen == invalidations)
	{
		schema_asked = nsp;
		schema_citus = *citus;
		schema_events_hashed = *events_hashed;
	}
}

/* The cached answers for schema nsp, looked up when not known */
static void
schema_answers(Oid nsp, bool *citus, bool *events_hashed)
{
	if (OidIsValid(schema_asked) && schema_asked == nsp)
	{
		*citus = schema_citus;
		*events_hashed = schema_events_hashed;
		return;
	}
	schema_load(nsp, citus, events_hashed);
}

/*
 * Whether pg_dist_partition lists a relation of schema nsp: then es_store's
 * statements run through Citus's planner, which routes a statement by the
 * values of its parameters and cannot plan a generic plan over them
 * (plans.c asks for custom plans then).
 */
bool
es_citus_schema(Oid nsp)
{
	bool		citus;
	bool		events_hashed;

	schema_answers(nsp, &citus, &events_hashed);
	return citus;
}

/*
 * Whether es_store.events of schema nsp is a hash-distributed Citus table
 * (es_store.citus_distribute(): by aggregate_id), as opposed to a store
 * with only reference or Citus local tables, whose events are one table
 * with its single-node keys (plans.c takes its Citus statements only for
 * the first).
 */
bool
es_citus_events_distributed(Oid nsp)
{
	bool		citus;
	bool		events_hashed;

	schema_answers(nsp, &citus, &events_hashed);
	return events_hashed;
}

/*
 * This node's group id in its Citus cluster (pg_dist_local_group: 0 on the
 * coordinator, a worker's own group on a worker), or -1 without Citus.
 */
int
es_citus_local_group(void)
{
	Oid			catalog;
	AttrNumber	att;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	int			group = -1;
	uint64		seen;

	if (local_group != -2)
		return local_group;
	register_inval();
	seen = invalidations;
	catalog = get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE);
	att = OidIsValid(catalog) ? get_attnum(catalog, "groupid") : InvalidAttrNumber;
	if (att != InvalidAttrNumber)
	{
		rel = table_open(catalog, AccessShareLock);
		scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup))
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, att, RelationGetDescr(rel), &isnull);

			if (!isnull)
				group = DatumGetInt32(d);
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	if (seen == invalidations)
		local_group = group;
	return group;
}
