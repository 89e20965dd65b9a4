/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Whether one of es_store's tables is a Citus table (distributed,
 *	  reference or Citus local).  Its rows then live in shard relations,
 *	  and the relation the C paths open by name is a shell that Citus's
 *	  planner and executor route around: a row inserted into it directly
 *	  would be lost to every query, and a scan of it would find nothing.
 *	  es_plain_table refuses such a table, so the paths that write and read
 *	  without statements (direct.c, scan.c, checkpoint_direct.c, dcb.c)
 *	  step aside for the SQL statements, which Citus plans.
 *
 * Citus lists its tables in pg_catalog.pg_dist_partition (logicalrelid).
 * es_store does not link against Citus: the catalog is found by name, and
 * where it does not exist no table is a Citus table.  An answer is cached
 * per backend until the next relcache invalidation of any relation (Citus
 * invalidates a table's relcache entry whenever it changes its metadata,
 * metadata_utility.c CitusInvalidateRelcacheByRelid).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_namespace_d.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "es_store.h"

/* es_store's tables are few: the answers for the latest ones looked up */
#define CITUS_CACHE_SIZE 16

typedef struct CitusAnswer
{
	Oid			relid;
	bool		citus;
} CitusAnswer;

static CitusAnswer answers[CITUS_CACHE_SIZE];
static int	nanswers = 0;
static bool callback_registered = false;

/* Whether some table of a schema is a Citus table (es_citus_schema) */
static Oid	schema_asked = InvalidOid;
static bool schema_citus = false;

/* Counts invalidations: an answer looked up across one is not kept */
static uint64 invalidations = 0;

static void
citus_inval(Datum arg, Oid relid)
{
	nanswers = 0;
	schema_asked = InvalidOid;
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

/* Whether pg_dist_partition lists relid (a heap scan: the catalog is small) */
static bool
listed_by_citus(Oid relid)
{
	Oid			catalog = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	AttrNumber	att;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	bool		listed;

	if (!OidIsValid(catalog))
		return false;
	att = get_attnum(catalog, "logicalrelid");
	if (att == InvalidAttrNumber)
		return false;
	rel = table_open(catalog, AccessShareLock);
	ScanKeyInit(&key, att, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	listed = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return listed;
}

bool
es_citus_table(Oid relid)
{
	bool		citus;
	uint64		seen;

	for (int i = 0; i < nanswers; i++)
		if (answers[i].relid == relid)
			return answers[i].citus;
	register_inval();
	seen = invalidations;
	citus = listed_by_citus(relid);
	if (seen != invalidations)
		return citus;
	if (nanswers == CITUS_CACHE_SIZE)
		nanswers = 0;
	answers[nanswers].relid = relid;
	answers[nanswers].citus = citus;
	nanswers++;
	return citus;
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
	Oid			catalog;
	AttrNumber	att;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		citus = false;
	uint64		seen;

	if (OidIsValid(schema_asked) && schema_asked == nsp)
		return schema_citus;
	register_inval();
	seen = invalidations;
	catalog = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	att = OidIsValid(catalog) ? get_attnum(catalog, "logicalrelid") : InvalidAttrNumber;
	if (att != InvalidAttrNumber)
	{
		rel = table_open(catalog, AccessShareLock);
		scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
		while (!citus && HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			Datum		relid = heap_getattr(tup, att, RelationGetDescr(rel), &isnull);

			CHECK_FOR_INTERRUPTS();
			citus = !isnull && get_rel_namespace(DatumGetObjectId(relid)) == nsp;
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	if (seen == invalidations)
	{
		schema_asked = nsp;
		schema_citus = citus;
	}
	return citus;
}
