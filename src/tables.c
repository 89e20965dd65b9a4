/*-------------------------------------------------------------------------
 *
 * tables.c
 *	  es_store's tables and indexes as the C paths without SQL statements
 *	  (direct.c for appends, scan.c for reads) use them: their OIDs, their
 *	  column positions, and the checks that they still have the shape those
 *	  paths assume.
 *
 * The OIDs and column maps are cached per backend and forgotten on any
 * relcache invalidation of one of the relations.  A column map is computed
 * only while both tables are locked (es_table_map), so no ALTER TABLE can
 * change it while it is in use.  The OIDs may be stale until the caller has
 * locked the tables: es_index_open checks an index OID against its table's
 * index list, under the table's lock, before locking the index.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/transam.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_opfamily_d.h"
#include "catalog/pg_type_d.h"
#include "commands/defrem.h"
#include "nodes/parsenodes.h"
#include "nodes/primnodes.h"
#include "rewrite/rewriteHandler.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "es_store.h"

static const char *const relation_names[ES_NUM_RELS] = {
	[ES_REL_HEADS] = "aggregate_heads",
	[ES_REL_HEADS_PKEY] = "aggregate_heads_pkey",
	[ES_REL_HEADS_KEY] = "aggregate_heads_key",
	[ES_REL_EVENTS] = "events",
	[ES_REL_EVENTS_PKEY] = "events_pkey",
	[ES_REL_EVENTS_STREAM_VERSION] = "events_stream_version_key",
	[ES_REL_HEADS_FILTERED] = "aggregate_heads_filtered",
	[ES_REL_EVENTS_EVENT_ID] = "events_event_id_key",
	[ES_REL_EVENT_TAGS] = "event_tags",
	[ES_REL_EVENT_TAGS_INDEX] = "event_tags_hash_position",
};

static const char *const head_columns[HEAD_NCOLS] = {
	"stream_id", "bounded_context", "aggregate_type", "aggregate_id",
	"version", "updated_at", "created_at", "key_hash", "deleted_at",
	"forgotten_at", "truncate_before", "max_count", "max_age", "metadata",
	"filtered"
};
static const Oid head_types[HEAD_NCOLS] = {
	INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID,
	TIMESTAMPTZOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID,
	INT8OID, INTERVALOID, JSONBOID, BOOLOID
};

static const char *const event_columns[EVENT_NCOLS] = {
	"global_position", "bounded_context", "aggregate_type", "aggregate_id",
	"aggregate_version", "event_id", "event_type", "event_version",
	"payload", "metadata", "correlation_id", "causation_id", "trace_id",
	"created_at", "payload_bytes", "stream_id", "batch_size", "tags"
};
static const Oid event_types[EVENT_NCOLS] = {
	INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, UUIDOID, TEXTOID, INT4OID,
	JSONBOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, BYTEAOID,
	INT8OID, INT4OID, TEXTARRAYOID
};

/* Columns a C path reads without looking at their null flag */
static const bool head_notnull[HEAD_NCOLS] = {
	[HEAD_STREAM_ID] = true, [HEAD_BOUNDED_CONTEXT] = true,
	[HEAD_AGGREGATE_TYPE] = true, [HEAD_AGGREGATE_ID] = true,
	[HEAD_VERSION] = true, [HEAD_FILTERED] = true,
};
static const bool event_notnull[EVENT_NCOLS] = {
	[EVENT_GLOBAL_POSITION] = true, [EVENT_BOUNDED_CONTEXT] = true,
	[EVENT_AGGREGATE_TYPE] = true, [EVENT_AGGREGATE_ID] = true,
	[EVENT_AGGREGATE_VERSION] = true, [EVENT_STREAM_ID] = true,
	[EVENT_BATCH_SIZE] = true,
};

static bool oids_valid = false;
static Oid	namespace_oid;
static Oid	cached_oids[ES_NUM_RELS];

/*
 * The column maps, the two tables they were computed for, and how many
 * invalidations have cleared them (one arriving while they are computed
 * leaves them uncached).
 */
static bool columns_mapped = false;
static uint64 map_invalidations = 0;
static Oid	mapped_heads = InvalidOid;
static Oid	mapped_events = InvalidOid;
static EsTableMap cached_map;

/*
 * Forget what an invalidation may have made stale.  The checks do not
 * depend on oids_valid: the column maps must be forgotten on a change of
 * their tables also while the OIDs are being looked up again.
 */
static void
tables_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == mapped_heads || relid == mapped_events)
	{
		columns_mapped = false;
		map_invalidations++;
	}
	for (int i = 0; i < ES_NUM_RELS; i++)
	{
		if (relid == InvalidOid || relid == cached_oids[i])
			oids_valid = false;
	}
}

/*
 * The OIDs of es_store's tables and indexes, from the cache or the
 * catalogs; false when one is missing or a table is not one of the
 * extension's own objects.  Copied out at once: an invalidation
 * may arrive (and clear the cache) in any later catalog access or lock
 * acquisition.
 */
bool
es_table_oids(Oid *oids)
{
	static bool callback_registered = false;

	if (!oids_valid)
	{
		Oid			nsp = es_extension_schema();

		namespace_oid = nsp;
		for (int i = 0; i < ES_NUM_RELS; i++)
		{
			cached_oids[i] = get_relname_relid(relation_names[i], nsp);
			/*
			 * schemas before 0.3.0 have no aggregate_heads_filtered, and
			 * those before 0.4.0 no event_tags; and the event id index only
			 * serves a wait (direct.c), which goes without when it is not
			 * there
			 */
			if ((i == ES_REL_HEADS_FILTERED || i == ES_REL_EVENTS_EVENT_ID ||
				 i == ES_REL_EVENT_TAGS || i == ES_REL_EVENT_TAGS_INDEX) &&
				!OidIsValid(cached_oids[i]))
				continue;
			/* an index is the extension's through its table */
			if (!OidIsValid(cached_oids[i]) ||
				(get_rel_relkind(cached_oids[i]) == RELKIND_RELATION &&
				 !es_extension_member(cached_oids[i])))
				return false;
		}
		/* the arbiter of the head statements' ON CONFLICT ON CONSTRAINT */
		if (!OidIsValid(get_index_constraint(cached_oids[ES_REL_HEADS_KEY])))
			return false;
		if (!callback_registered)
		{
			es_add_relcache_inval(tables_inval);
			callback_registered = true;
		}
		oids_valid = true;
	}
	memcpy(oids, cached_oids, sizeof(cached_oids));
	return true;
}

/*
 * Open and lock the table which (ES_REL_HEADS or ES_REL_EVENTS) from its
 * OID as es_table_oids returned it, or return NULL when that relation is
 * gone or is no longer that table: the invalidations that taking the lock
 * processed may show it dropped, renamed or moved to another schema since
 * the OID was cached.  The caller then runs the SQL statements, which
 * resolve the name again and report what they find.
 */
Relation
es_table_open(Oid relid, EsRelation which, LOCKMODE lockmode)
{
	Relation	rel = try_relation_open(relid, lockmode);

	Assert(which == ES_REL_HEADS || which == ES_REL_EVENTS ||
		   which == ES_REL_EVENT_TAGS);
	if (rel == NULL)
		return NULL;
	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		RelationGetNamespace(rel) != namespace_oid ||
		strcmp(RelationGetRelationName(rel), relation_names[which]) != 0)
	{
		relation_close(rel, NoLock);
		return NULL;
	}
	return rel;
}

/*
 * Map the named columns to attribute offsets.  False when one is missing,
 * has another type (or a typmod, or is generated: an ALTER TABLE the C
 * paths do not follow), or (all_columns) the table has a live column not in
 * the list, whose default only an INSERT statement would fill in.
 */
static bool
map_columns(Relation rel, const char *const *names, const Oid *types,
			const bool *notnull, int n, AttrNumber *att, bool all_columns)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			live = 0;

	for (int i = 0; i < n; i++)
		att[i] = InvalidAttrNumber;
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, a);

		if (attr->attisdropped)
			continue;
		live++;
		for (int i = 0; i < n; i++)
		{
			if (strcmp(NameStr(attr->attname), names[i]) == 0)
			{
				if (attr->atttypid != types[i] || attr->atttypmod != -1 ||
					attr->attgenerated != '\0' ||
					(notnull[i] && !attr->attnotnull))
					return false;
				att[i] = a + 1;
				break;
			}
		}
	}
	for (int i = 0; i < n; i++)
	{
		if (att[i] == InvalidAttrNumber)
			return false;
		att[i]--;
	}
	return !all_columns || live == n;
}

/*
 * Whether column att (0-based) of rel defaults to now(), as the statement
 * that creates a head row would fill it (the direct path sets it to now()).
 */
static bool
default_is_now(Relation rel, AttrNumber att)
{
	Node	   *def = build_column_default(rel, att + 1);

	return def != NULL && IsA(def, FuncExpr) &&
		((FuncExpr *) def)->funcid == F_NOW;
}

/*
 * Whether events (mapped: every column known, no other live one) stores
 * its rows so that the first EVENT_NCOLS_ROW attributes of each are laid
 * out as heap_form_tuple would lay out those of es_store.event: no dropped
 * column (every column at its EsEventColumn position), stream_id and
 * batch_size NOT NULL, stream_id 8 bytes wide and double-aligned,
 * batch_size 4 bytes wide and int-aligned, and tags last, so that in a row
 * without tags the two take exactly the last ES_ROW_TAIL bytes of its data
 * (batch_size needs no padding after stream_id, and a NULL takes no
 * space), preceded by nothing but the other columns and the alignment
 * padding in front of stream_id (heap_compute_data_size and
 * heap_fill_tuple in src/backend/access/common/heaptuple.c).
 */
static bool
rows_in_output_order(Relation events, const AttrNumber *att)
{
	TupleDesc	desc = RelationGetDescr(events);
	Form_pg_attribute sid;
	Form_pg_attribute last;

	if (desc->natts != EVENT_NCOLS)
		return false;
	for (int i = 0; i < EVENT_NCOLS; i++)
	{
		if (att[i] != i)
			return false;
	}
	sid = TupleDescAttr(desc, EVENT_STREAM_ID);
	last = TupleDescAttr(desc, EVENT_BATCH_SIZE);
	return sid->attnotnull && sid->attlen == sizeof(int64) &&
		sid->attalign == TYPALIGN_DOUBLE &&
		last->attnotnull && last->attlen == sizeof(int32) &&
		last->attalign == TYPALIGN_INT;
}

/* The column maps of heads and events, which the caller has locked. */
void
es_table_map(Relation heads, Relation events, EsTableMap *map)
{
	if (!columns_mapped || mapped_heads != RelationGetRelid(heads) ||
		mapped_events != RelationGetRelid(events))
	{
		EsTableMap *m = &cached_map;
		uint64		invalidations = map_invalidations;

		mapped_heads = RelationGetRelid(heads);
		mapped_events = RelationGetRelid(events);
		m->events_mappable = map_columns(events, event_columns, event_types,
										 event_notnull, EVENT_NCOLS,
										 m->event_att, true);
		m->events_in_row_order = m->events_mappable &&
			rows_in_output_order(events, m->event_att);
		m->heads_insertable = map_columns(heads, head_columns, head_types,
										  head_notnull, HEAD_NCOLS,
										  m->head_att, true);
		m->stream_id_sequence = InvalidOid;
		if (m->heads_insertable)
		{
			AttrNumber	att = m->head_att[HEAD_STREAM_ID];

			if (TupleDescAttr(RelationGetDescr(heads), att)->attidentity != '\0')
				m->stream_id_sequence =
					getIdentitySequence(RelationGetRelid(heads), att + 1, true);
			m->heads_insertable = OidIsValid(m->stream_id_sequence) &&
				default_is_now(heads, m->head_att[HEAD_CREATED_AT]) &&
				default_is_now(heads, m->head_att[HEAD_UPDATED_AT]);
		}
		m->heads_lifecycle = m->heads_insertable ||
			map_columns(heads, head_columns, head_types, head_notnull,
						HEAD_NCOLS, m->head_att, false);
		m->heads_mappable = m->heads_lifecycle ||
			map_columns(heads, head_columns, head_types, head_notnull,
						HEAD_NCOLS_READ, m->head_att, false);
		columns_mapped = map_invalidations == invalidations;
	}
	*map = cached_map;
}

/*
 * Whether rel is a plain table: no row-level security, no rules, not
 * partitioned, not a partition, not inherited from, no generated columns,
 * not of a schema with Citus tables (whose rows are in shards: citus.c).
 */
bool
es_plain_table(Relation rel)
{
	return rel->rd_rel->relkind == RELKIND_RELATION &&
		!rel->rd_rel->relrowsecurity && !rel->rd_rel->relhasrules &&
		!rel->rd_rel->relhassubclass &&
		!rel->rd_rel->relispartition &&
		!(rel->rd_att->constr && rel->rd_att->constr->has_generated_stored) &&
		!es_citus_schema(RelationGetNamespace(rel));
}

/*
 * Scan keys for key in aggregate_heads_key (key_index): equality on its
 * three text columns, with the index's collations.
 */
void
es_key_scan_keys(ScanKey keys, Relation key_index, const EsStreamKey *key)
{
	Datum		values[3] = {key->bounded_context, key->aggregate_type,
	key->aggregate_id};

	for (int i = 0; i < 3; i++)
	{
		ScanKeyInit(&keys[i], i + 1, BTEqualStrategyNumber, F_TEXTEQ,
					values[i]);
		keys[i].sk_collation = key_index->rd_indcollation[i];
	}
}

/*
 * Open index (a cached OID, perhaps stale) with lockmode, if it is still
 * one of table's indexes (table is locked), else return NULL without
 * locking anything.
 */
Relation
es_index_open(Relation table, Oid index, LOCKMODE lockmode)
{
	List	   *indexes = RelationGetIndexList(table);
	bool		known = list_member_oid(indexes, index);

	list_free(indexes);
	return known ? index_open(index, lockmode) : NULL;
}

/*
 * Whether index, on table, is a valid, unique, immediate btree on exactly
 * the columns att (0-based offsets), each of type type (int8, text or uuid) with
 * the default operator family, ascending order and the column's collation:
 * the index a C path scans or relies on, and one the planner would use
 * with the transaction's snapshots (plancat.c's indcheckxmin rule).
 */
bool
es_index_usable(Relation index, Relation table, const AttrNumber *att, int n,
				Oid type)
{
	Form_pg_index form = index->rd_index;
	Oid			family = type == TEXTOID ? TEXT_BTREE_FAM_OID :
		type == INT8OID ? INTEGER_BTREE_FAM_OID :
		get_opclass_family(GetDefaultOpClass(type, BTREE_AM_OID));

	Assert(type == TEXTOID || type == INT8OID || type == UUIDOID);
	if (index->rd_rel->relam != BTREE_AM_OID || !form->indisunique ||
		!form->indimmediate || !form->indisvalid ||
		IndexRelationGetNumberOfKeyAttributes(index) != n ||
		RelationGetIndexExpressions(index) != NIL ||
		RelationGetIndexPredicate(index) != NIL)
		return false;
	if (form->indcheckxmin &&
		!TransactionIdPrecedes(HeapTupleHeaderGetXmin(index->rd_indextuple->t_data),
							   TransactionXmin))
		return false;
	for (int i = 0; i < n; i++)
	{
		if (form->indkey.values[i] != att[i] + 1 ||
			index->rd_opcintype[i] != type ||
			index->rd_opfamily[i] != family ||
			index->rd_indoption[i] != 0 ||
			index->rd_indcollation[i] !=
			TupleDescAttr(RelationGetDescr(table), att[i])->attcollation)
			return false;
	}
	return true;
}

/* A column set (0-based offsets) as RangeTblEntry keeps them */
Bitmapset *
es_column_set(const AttrNumber *att, int n)
{
	Bitmapset  *set = NULL;

	for (int i = 0; i < n; i++)
		set = bms_add_member(set, att[i] + 1 - FirstLowInvalidHeapAttributeNumber);
	return set;
}

/*
 * A range table entry for rel, locked with lockmode, for which the current
 * user needs perms: what ExecCheckRTPerms checks and an EState's range
 * table holds.
 */
RangeTblEntry *
es_table_rte(Relation rel, LOCKMODE lockmode, AclMode perms)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = lockmode;
	rte->requiredPerms = perms;
	rte->checkAsUser = InvalidOid;
	return rte;
}
