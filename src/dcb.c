/*-------------------------------------------------------------------------
 *
 * dcb.c
 *	  Dynamic Consistency Boundary (0.4.0): queries over event types and
 *	  tags, read in position order through the feed's safe bound, and
 *	  appends that hold only if no event matching a query was appended
 *	  after a position (README, "Dynamic Consistency Boundary").
 *
 * A query is a set of items combined with OR; an item matches an event
 * whose type is one of the item's types (if it has any) and whose tags
 * include all of the item's tags (if it has any); an item with neither, or
 * a query without items, matches every event.
 *
 * The condition of an append holds when no event matching its query has a
 * position above "after" and below the append's own first position.  The
 * append checks it after it has drawn its positions (batch.c), in two
 * steps (src/README.md, "Append conditions", has the whole argument):
 *	1. wait for every transaction in flight that may hold a position below
 *	   its own and may append an event the query matches (registry.c
 *	   es_registry_wait_for_scopes: appenders publish their events' types
 *	   and tags before they draw);
 *	2. look for a matching event in that range with a new snapshot, which
 *	   then shows every transaction that drew a position there as ended.
 * An event appended later draws a higher position: the condition is not
 * about it.  So two appends with the same condition never both succeed
 * (the second in position order waits for the first and then sees its
 * event), and appends whose events no condition matches never wait.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/itup.h"
#include "catalog/pg_am_d.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "es_store.h"

/* One item of a query: types (any of them) and tags (all of them) */
typedef struct EsQueryItem
{
	int			ntypes;
	Datum	   *types;			/* text */
	uint64	   *type_scopes;
	int			ntags;
	Datum	   *tags;			/* text */
	int64	   *tag_hashes;
} EsQueryItem;

struct EsQuery
{
	bool		all;			/* some item matches every event */
	int			nitems;
	EsQueryItem *items;
};

/*
 * The strings of a query item's field as text Datums: a JSON array of
 * non-empty strings (22023), at most es_store.max_query_items (54000).
 */
static Datum *
item_strings(JsonbContainer *item, const char *name, int itemno, int *n)
{
	JsonbValue *v = getKeyJsonValueFromContainer(item, name, strlen(name), NULL);
	JsonbContainer *arr;
	Datum	   *out;

	*n = -1;
	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query item field \"%s\" must be an array of strings", name),
				 errdetail("Item %d of the query has a \"%s\" that is not an array.",
						   itemno + 1, name)));
	arr = v->val.binary.data;
	*n = JsonContainerSize(arr);
	if (*n > es_max_query_items)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("query item has too many %s", name),
				 errdetail("Item %d of the query has %d %s; the limit (es_store.max_query_items) is %d.",
						   itemno + 1, *n, name, es_max_query_items)));
	out = palloc(sizeof(Datum) * Max(*n, 1));
	for (int k = 0; k < *n; k++)
	{
		JsonbValue *s = getIthJsonbValueFromContainer(arr, k);

		CHECK_FOR_INTERRUPTS();
		if (s->type != jbvString || s->val.string.len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("query item field \"%s\" must be an array of non-empty strings", name),
					 errdetail("Element %d of \"%s\" of item %d of the query is not a non-empty string.",
							   k + 1, name, itemno + 1)));
		out[k] = PointerGetDatum(cstring_to_text_with_len(s->val.string.val,
														  s->val.string.len));
	}
	return out;
}

/* Refuse a field of obj other than the names given (NULL-terminated) */
static void
check_keys(JsonbContainer *obj, const char *const *known, const char *what,
		   int itemno)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool		found = false;

		CHECK_FOR_INTERRUPTS();
		if (tok != WJB_KEY)
			continue;
		for (int k = 0; known[k] != NULL; k++)
			found |= strlen(known[k]) == (size_t) v.val.string.len &&
				memcmp(known[k], v.val.string.val, v.val.string.len) == 0;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized %s field \"%.*s\"", what,
							v.val.string.len, v.val.string.val),
					 itemno >= 0 ?
					 errdetail("Item %d of the query has a field es_store does not know.", itemno + 1) :
					 errdetail("A query has the field \"items\" only."),
					 errhint("A query is {\"items\": [{\"types\": [...], \"tags\": [...]}, ...]}.")));
	}
}

/*
 * A query from its JSON document, in the shape of the DCB specification:
 * {"items": [{"types": ["A", "B"], "tags": ["t1"]}, ...]}.  No items, or
 * an item with neither types nor tags, matches every event.  An empty
 * "types" matches nothing, and is refused (22023); an empty "tags" is no
 * tag condition.
 */
EsQuery *
es_query_from_jsonb(Jsonb *doc)
{
	static const char *const query_keys[] = {"items", NULL};
	static const char *const item_keys[] = {"types", "tags", NULL};
	EsQuery    *q = palloc0(sizeof(EsQuery));
	JsonbValue *items;
	JsonbContainer *arr;

	if (!JB_ROOT_IS_OBJECT(doc) || JB_ROOT_IS_SCALAR(doc))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a query must be a JSON object"),
				 errhint("A query is {\"items\": [{\"types\": [...], \"tags\": [...]}, ...]}.")));
	check_keys(&doc->root, query_keys, "query", -1);
	items = getKeyJsonValueFromContainer(&doc->root, "items", 5, NULL);
	if (items == NULL || items->type == jbvNull)
	{
		q->all = true;
		return q;
	}
	if (items->type != jbvBinary || !JsonContainerIsArray(items->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query field \"items\" must be an array of objects")));
	arr = items->val.binary.data;
	q->nitems = JsonContainerSize(arr);
	if (q->nitems > es_max_query_items)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("query has too many items"),
				 errdetail("The query has %d items; the limit (es_store.max_query_items) is %d.",
						   q->nitems, es_max_query_items)));
	q->all = q->nitems == 0;
	q->items = palloc0(sizeof(EsQueryItem) * Max(q->nitems, 1));
	for (int i = 0; i < q->nitems; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(arr, i);
		EsQueryItem *it = &q->items[i];

		CHECK_FOR_INTERRUPTS();
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("query field \"items\" must be an array of objects"),
					 errdetail("Item %d of the query is not an object.", i + 1)));
		check_keys(v->val.binary.data, item_keys, "query item", i);
		it->types = item_strings(v->val.binary.data, "types", i, &it->ntypes);
		it->tags = item_strings(v->val.binary.data, "tags", i, &it->ntags);
		if (it->ntypes == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("query item field \"types\" cannot be empty"),
					 errdetail("Item %d of the query has an empty \"types\", which no event matches.", i + 1),
					 errhint("Leave \"types\" out to match events of any type.")));
		if (it->ntypes < 0)
			it->ntypes = 0;
		if (it->ntags < 0)
			it->ntags = 0;
		it->type_scopes = palloc(sizeof(uint64) * Max(it->ntypes, 1));
		for (int k = 0; k < it->ntypes; k++)
			it->type_scopes[k] = es_type_scope(it->types[k]);
		it->tag_hashes = palloc(sizeof(int64) * Max(it->ntags, 1));
		for (int k = 0; k < it->ntags; k++)
			it->tag_hashes[k] = es_tag_hash(it->tags[k]);
		if (it->ntypes == 0 && it->ntags == 0)
			q->all = true;
	}
	return q;
}

/* Whether item it matches an event of type type with tags etags */
static bool
item_matches(const EsQueryItem *it, Datum type, const Datum *etags, int netags)
{
	bool		type_ok = it->ntypes == 0;

	for (int k = 0; !type_ok && k < it->ntypes; k++)
		type_ok = es_text_equal(type, it->types[k]);
	if (!type_ok)
		return false;
	for (int k = 0; k < it->ntags; k++)
	{
		bool		found = false;

		for (int e = 0; !found && e < netags; e++)
			found = es_text_equal(it->tags[k], etags[e]);
		if (!found)
			return false;
	}
	return true;
}

/* Whether the query matches an event of type type with tags ((Datum) 0: none) */
static bool
query_matches(const EsQuery *q, Datum type, Datum tags)
{
	int			netags;
	Datum	   *etags;
	bool		match = q->all;

	if (match)
		return true;
	etags = es_tags_elements(tags, &netags);
	for (int i = 0; !match && i < q->nitems; i++)
		match = item_matches(&q->items[i], type, etags, netags);
	if (etags != NULL)
		pfree(etags);
	return match;
}

/*
 * Whether an appender whose published scopes are "scopes" may append an
 * event the query (arg) matches: for some item, one of its types (if any)
 * and all its tags are in the filter.
 */
static bool
query_may_match(const uint64 *scopes, void *arg)
{
	const EsQuery *q = (const EsQuery *) arg;

	if (q->all)
		return true;
	for (int i = 0; i < q->nitems; i++)
	{
		const EsQueryItem *it = &q->items[i];
		bool		ok = it->ntypes == 0;

		for (int k = 0; !ok && k < it->ntypes; k++)
			ok = es_scopes_may_hold(scopes, it->type_scopes[k]);
		for (int k = 0; ok && k < it->ntags; k++)
			ok = es_scopes_may_hold(scopes, (uint64) it->tag_hashes[k]);
		if (ok)
			return true;
	}
	return false;
}

/*
 * A scan of the events a query matches, in position order, in (after,
 * bound], as a snapshot shows them, and for a read as reads show them
 * (visibility.c: none of a deleted or retained stream's hidden events).  When every item
 * has a tag, candidates come from event_tags, one index range per item
 * (the item's first tag), merged by position; otherwise from events in
 * position order.  Each candidate is checked against the whole query.
 */
typedef struct ItemCursor
{
	IndexScanDesc scan;
	int64		current;		/* its next candidate, -1 when done */
} ItemCursor;

typedef struct QueryScan
{
	const EsQuery *q;
	Relation	heads;
	Relation	filtered;
	Relation	events;
	Relation	events_pkey;
	Relation	tags;
	Relation	tags_index;
	EsTableMap	map;
	Snapshot	snapshot;
	TupleTableSlot *event_slot;
	TupleTableSlot *head_slot;
	EsFeedState feed;
	int64		after;
	int64		bound;
	bool		visible_only;	/* as reads show them, or every stored one */
	MemoryContext row_cxt;		/* a candidate's own allocations */
	IndexScanDesc by_position;	/* NULL when the cursors serve */
	IndexScanDesc fetch;		/* one event by position */
	int			ncursors;
	ItemCursor *cursors;
} QueryScan;

static void
raise_altered(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("es_store's tables are not as es_store 0.4.0 installs them"),
			 errdetail("Queries over tags read es_store.events and es_store.event_tags through their indexes."),
			 errhint("ALTER EXTENSION es_store UPDATE; or restore the tables as installed.")));
}

static Relation
open_index(Relation table, Oid oid)
{
	Relation	index = OidIsValid(oid) ? es_index_open(table, oid, AccessShareLock) : NULL;

	if (index == NULL)
		raise_altered();
	return index;
}

/* A Citus store: a query would read the shells, and miss other nodes' appends */
static void
refuse_on_citus(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("queries and append conditions do not run on Citus tables"),
			 errdetail("Tables of es_store are Citus tables; a query over tags would have to see every node's in-flight appends."),
			 errhint("Use aggregate appends with expected versions on a distributed store.")));
}

/*
 * The cursor's next candidate position, read from the index entry alone:
 * an event_tags row is written and deleted with its event, so the event's
 * own visibility, checked when it is fetched, is the row's.
 */
static void
cursor_advance(QueryScan *qs, ItemCursor *c)
{
	bool		isnull;

	if (c->current < 0)
		return;
	if (index_getnext_tid(c->scan, ForwardScanDirection) == NULL)
	{
		c->current = -1;
		return;
	}
	c->current = DatumGetInt64(index_getattr(c->scan->xs_itup, 2,
											 c->scan->xs_itupdesc, &isnull));
}

static void
query_scan_begin(QueryScan *qs, const EsQuery *q, int64 after, int64 bound,
				 Snapshot snapshot, bool visible_only)
{
	Oid			oids[ES_NUM_RELS];
	ScanKeyData keys[3];
	bool		by_tags = !q->all;

	memset(qs, 0, sizeof(QueryScan));
	qs->q = q;
	qs->after = after;
	qs->bound = bound;
	qs->snapshot = snapshot;
	qs->visible_only = visible_only;
	qs->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "es_store query row",
										ALLOCSET_SMALL_SIZES);
	if (!es_table_oids(oids) || !OidIsValid(oids[ES_REL_EVENT_TAGS]))
		raise_altered();
	qs->heads = es_table_open(oids[ES_REL_HEADS], ES_REL_HEADS, AccessShareLock);
	qs->events = es_table_open(oids[ES_REL_EVENTS], ES_REL_EVENTS, AccessShareLock);
	qs->tags = es_table_open(oids[ES_REL_EVENT_TAGS], ES_REL_EVENT_TAGS,
							 AccessShareLock);
	if (qs->heads == NULL || qs->events == NULL || qs->tags == NULL)
		raise_altered();
	if (es_citus_schema(RelationGetNamespace(qs->events)))
		refuse_on_citus();
	es_table_map(qs->heads, qs->events, &qs->map);
	if (!qs->map.events_mappable || !qs->map.heads_lifecycle)
		raise_altered();
	qs->events_pkey = open_index(qs->events, oids[ES_REL_EVENTS_PKEY]);
	qs->tags_index = open_index(qs->tags, oids[ES_REL_EVENT_TAGS_INDEX]);
	qs->filtered = open_index(qs->heads, oids[ES_REL_HEADS_FILTERED]);
	if (!es_index_usable(qs->events_pkey, qs->events,
						 &qs->map.event_att[EVENT_GLOBAL_POSITION], 1, INT8OID) ||
		qs->tags_index->rd_rel->relam != BTREE_AM_OID ||
		IndexRelationGetNumberOfKeyAttributes(qs->tags_index) != 2 ||
		qs->tags_index->rd_index->indkey.values[0] != 1 ||
		qs->tags_index->rd_index->indkey.values[1] != 2 ||
		TupleDescAttr(RelationGetDescr(qs->tags), 0)->atttypid != INT8OID ||
		TupleDescAttr(RelationGetDescr(qs->tags), 1)->atttypid != INT8OID)
		raise_altered();
	qs->event_slot = table_slot_create(qs->events, NULL);
	qs->head_slot = table_slot_create(qs->heads, NULL);
	es_feed_state_begin(&qs->feed, qs->heads, qs->filtered, snapshot,
						qs->head_slot, qs->map.head_att, CurrentMemoryContext);

	for (int i = 0; by_tags && i < q->nitems; i++)
		by_tags = q->items[i].ntags > 0;
	if (!by_tags)
	{
		ScanKeyInit(&keys[0], 1, BTGreaterStrategyNumber, F_INT8GT,
					Int64GetDatum(after));
		ScanKeyInit(&keys[1], 1, BTLessEqualStrategyNumber, F_INT8LE,
					Int64GetDatum(bound));
		qs->by_position = index_beginscan(qs->events, qs->events_pkey,
										  snapshot, 2, 0);
		index_rescan(qs->by_position, keys, 2, NULL, 0);
		return;
	}
	qs->fetch = index_beginscan(qs->events, qs->events_pkey, snapshot, 1, 0);
	qs->ncursors = q->nitems;
	qs->cursors = palloc0(sizeof(ItemCursor) * q->nitems);
	for (int i = 0; i < q->nitems; i++)
	{
		ItemCursor *c = &qs->cursors[i];

		ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ,
					Int64GetDatum(q->items[i].tag_hashes[0]));
		ScanKeyInit(&keys[1], 2, BTGreaterStrategyNumber, F_INT8GT,
					Int64GetDatum(after));
		ScanKeyInit(&keys[2], 2, BTLessEqualStrategyNumber, F_INT8LE,
					Int64GetDatum(bound));
		c->scan = index_beginscan(qs->tags, qs->tags_index, snapshot, 3, 0);
		c->scan->xs_want_itup = true;
		index_rescan(c->scan, keys, 3, NULL, 0);
		c->current = 0;
		cursor_advance(qs, c);
	}
}

static void
query_scan_end(QueryScan *qs)
{
	for (int i = 0; i < qs->ncursors; i++)
		index_endscan(qs->cursors[i].scan);
	if (qs->fetch != NULL)
		index_endscan(qs->fetch);
	if (qs->by_position != NULL)
		index_endscan(qs->by_position);
	ExecDropSingleTupleTableSlot(qs->event_slot);
	ExecDropSingleTupleTableSlot(qs->head_slot);
	index_close(qs->filtered, NoLock);
	index_close(qs->tags_index, NoLock);
	index_close(qs->events_pkey, NoLock);
	table_close(qs->tags, NoLock);
	table_close(qs->events, NoLock);
	table_close(qs->heads, NoLock);
	MemoryContextDelete(qs->row_cxt);
}

/*
 * Whether q matches the event in qs->event_slot, and (visible_only) reads
 * show it.  The match detoasts the event's tags into row_cxt, reset here
 * for each candidate.
 */
static bool
event_wanted(QueryScan *qs)
{
	TupleTableSlot *slot = qs->event_slot;
	const AttrNumber *att = qs->map.event_att;
	bool		isnull;
	bool		tags_null;
	bool		match;
	Datum		tags;
	const EsCutoff *cut;
	MemoryContext old;

	tags = slot_getattr(slot, att[EVENT_TAGS] + 1, &tags_null);
	MemoryContextReset(qs->row_cxt);
	old = MemoryContextSwitchTo(qs->row_cxt);
	match = query_matches(qs->q, slot_getattr(slot, att[EVENT_EVENT_TYPE] + 1, &isnull),
						  tags_null ? (Datum) 0 : tags);
	MemoryContextSwitchTo(old);
	if (!match)
		return false;
	if (!qs->visible_only)
		return true;
	cut = es_feed_state_cutoff(&qs->feed,
							   DatumGetInt64(slot_getattr(slot, att[EVENT_STREAM_ID] + 1,
														  &isnull)));
	return cut == NULL ||
		es_cutoff_keeps(cut,
						DatumGetInt64(slot_getattr(slot, att[EVENT_AGGREGATE_VERSION] + 1, &isnull)),
						DatumGetTimestampTz(slot_getattr(slot, att[EVENT_CREATED_AT] + 1, &isnull)));
}

/* The next event the query matches into qs->event_slot; false when none */
static bool
query_scan_next(QueryScan *qs)
{
	if (qs->by_position != NULL)
	{
		while (index_getnext_slot(qs->by_position, ForwardScanDirection,
								  qs->event_slot))
		{
			CHECK_FOR_INTERRUPTS();
			if (event_wanted(qs))
				return true;
		}
		return false;
	}
	for (;;)
	{
		int64		next = -1;
		ScanKeyData key;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < qs->ncursors; i++)
		{
			int64		c = qs->cursors[i].current;

			if (c >= 0 && (next < 0 || c < next))
				next = c;
		}
		if (next < 0)
			return false;
		for (int i = 0; i < qs->ncursors; i++)
		{
			/* an event with two tags of one hash has one row per event */
			while (qs->cursors[i].current == next)
				cursor_advance(qs, &qs->cursors[i]);
		}
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ,
					Int64GetDatum(next));
		index_rescan(qs->fetch, &key, 1, NULL, 0);
		found = index_getnext_slot(qs->fetch, ForwardScanDirection,
								   qs->event_slot);
		if (found && event_wanted(qs))
			return true;
	}
}

/* SE008: the append's condition does not hold */
static void
raise_condition_failed(QueryScan *qs, int64 after)
{
	bool		isnull;
	int64		position = DatumGetInt64(slot_getattr(qs->event_slot,
													  qs->map.event_att[EVENT_GLOBAL_POSITION] + 1,
													  &isnull));
	char	   *type = TextDatumGetCString(slot_getattr(qs->event_slot,
														qs->map.event_att[EVENT_EVENT_TYPE] + 1,
														&isnull));

	ereport(ERROR,
			(errcode(ERRCODE_ES_CONDITION_FAILED),
			 errmsg("append condition failed: an event matching the query was appended after position %lld",
					(long long) after),
			 errdetail("The event at position %lld (type \"%s\") matches the condition's query.",
					   (long long) position, type),
			 errhint("Read the events the query matches again, decide again, and append with the position you read up to.")));
}

/*
 * Check an append's condition: no event the query matches has a position
 * above after and below below (the append's first position, already
 * drawn).  Waits for the appenders in flight that may hold such an event,
 * then looks with a new snapshot; SE008 when one is there.  Events of this
 * transaction count as any other, and so do events reads hide (of a
 * deleted stream, outside retention): a stream's retention can be lifted,
 * and they would show again.
 */
void
es_condition_check(const EsQuery *q, int64 after, int64 below)
{
	QueryScan	qs;
	Snapshot	snapshot;

	if (below - 1 <= after)
		return;
	es_registry_wait_for_scopes(below, query_may_match, unconstify(EsQuery *, q));
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	query_scan_begin(&qs, q, after, below - 1, snapshot, false);
	if (query_scan_next(&qs))
		raise_condition_failed(&qs, after);
	query_scan_end(&qs);
	UnregisterSnapshot(snapshot);
}

/*
 * What read_query_position() returns: backend-local, like lastval()'s
 * value, kept across transactions until the next read_query.
 */
static bool query_position_known = false;
static int64 query_position = 0;

/*
 * Refusals shared by the two entry points, before any work: a Citus store
 * refuses before a bound is asked of its workers, and even where that
 * bound would leave nothing to read.
 */
static void
check_dcb_allowed(const char *what)
{
	if (es_citus_schema(es_extension_schema()))
		refuse_on_citus();
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s during recovery", what),
				 errdetail("Queries and append conditions depend on appends in flight on the primary, which a standby cannot see."),
				 errhint("Call this function on the primary.")));
	if (IsolationIsSerializable())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot %s in a SERIALIZABLE transaction", what),
				 errdetail("Queries and append conditions read with a snapshot newer than the transaction's, which serializable conflict detection does not track."),
				 errhint("Use a READ COMMITTED or REPEATABLE READ transaction: the condition is checked against the latest committed events in both.")));
}

/*
 * es_read_query(query jsonb, after_position bigint, max_count integer,
 *				 up_to_position bigint) -> SETOF es_store.event
 *
 * The events the query matches with a position above after_position and
 * at or below the feed's safe position (or up_to_position, which must not
 * be above it: 22023), in position order, at most max_count (NULL: all).
 * Reads with a snapshot taken after the bound, as read_feed does.
 */
PG_FUNCTION_INFO_V1(es_read_query);
Datum
es_read_query(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EsQuery    *q;
	int64		after;
	int64		max_count;
	int64		bound;
	int64		n = 0;
	int64		last_position = 0;
	EsGuard		guard;
	QueryScan	qs;
	Snapshot	snapshot;

	/* a read that fails leaves no position: not even the last one's */
	query_position_known = false;
	es_check_not_null(fcinfo, 0, "query");
	q = es_query_from_jsonb(PG_GETARG_JSONB_P(0));
	after = es_arg_nonnegative(fcinfo, 1, "after_position", 0);
	max_count = es_check_max_count(fcinfo, 2);
	check_dcb_allowed("read a query");
	es_result_init(fcinfo);
	if (rsinfo->setDesc->natts != EVENT_NCOLS_OUT)
		elog(ERROR, "es_store.read_query must return es_store.event");

	es_guard_enter(&guard);
	bound = es_feed_bound(fcinfo, 3, after);
	if (bound > after)
	{
		snapshot = RegisterSnapshot(GetLatestSnapshot());
		query_scan_begin(&qs, q, after, bound, snapshot, true);
		while ((max_count < 0 || n < max_count) && query_scan_next(&qs))
		{
			Datum		values[EVENT_NCOLS_OUT];
			bool		nulls[EVENT_NCOLS_OUT];

			slot_getallattrs(qs.event_slot);
			for (int i = 0; i < EVENT_NCOLS_OUT; i++)
			{
				AttrNumber	att = qs.map.event_att[EVENT_OUT_COLUMN(i)];

				values[i] = qs.event_slot->tts_values[att];
				nulls[i] = qs.event_slot->tts_isnull[att];
			}
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			last_position = DatumGetInt64(values[EVENT_GLOBAL_POSITION]);
			n++;
		}
		query_scan_end(&qs);
		UnregisterSnapshot(snapshot);
	}

	/*
	 * The position this read looked up to, for read_query_position(): its
	 * last event's when max_count of them came back (what lies beyond it
	 * was not looked at), else the bound (or after_position, above it).
	 */
	if (max_count > 0 && n == max_count)
		query_position = last_position;
	else
		query_position = Max(after, bound);
	query_position_known = true;
	es_guard_leave(&guard);
	return (Datum) 0;
}

/*
 * es_read_query_position() -> bigint
 *
 * The position the last read_query of this session looked up to: the
 * after_position to pass to an append condition decided on what it
 * returned.  55000 before the first one, as lastval() does, and after one
 * that failed.
 */
PG_FUNCTION_INFO_V1(es_read_query_position);
Datum
es_read_query_position(PG_FUNCTION_ARGS)
{
	if (!query_position_known)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("read_query_position is not yet defined in this session"),
				 errhint("Call es_store.read_query first, in the same session: one that failed leaves no position.")));
	PG_RETURN_INT64(query_position);
}

/* Whether an event object names an aggregate */
static bool
names_aggregate(JsonbContainer *obj)
{
	static const char *const key_fields[] = {
		"bounded_context", "aggregate_type", "aggregate_id", "stream_name"
	};

	for (int k = 0; k < lengthof(key_fields); k++)
	{
		JsonbValue *v = getKeyJsonValueFromContainer(obj, key_fields[k],
													 strlen(key_fields[k]), NULL);

		if (v != NULL && v->type != jbvNull)
			return true;
	}
	return false;
}

/*
 * es_append_if(events jsonb, fail_if_events_match jsonb, after_position
 *				bigint, expected_version bigint) -> SETOF es_store.append_result
 *
 * Append a batch given as a JSON array of event objects (append_events'
 * fields, tags included), only if no event the query fail_if_events_match
 * matches was appended after after_position (NULL: 0, the whole log);
 * SE008 otherwise.  Without a query, no condition.  Objects that name an
 * aggregate (all the same one) append to it with expected_version as in
 * append; objects that name none append events of no aggregate
 * (expected_version must then be NULL).
 */
PG_FUNCTION_INFO_V1(es_append_if);
Datum
es_append_if(PG_FUNCTION_ARGS)
{
	Jsonb	   *events;
	EsBatch    *b;
	EsStreamKey key;
	int			n;
	bool		with_key;

	es_check_not_null(fcinfo, 0, "events");
	events = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_ARRAY(events) || JB_ROOT_IS_SCALAR(events))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("events must be a JSON array of event objects")));
	n = JsonContainerSize(&events->root);
	with_key = n > 0 &&
		names_aggregate(es_json_object_at(&events->root, 0,
										  "events must be a JSON array of event objects"));
	if (with_key)
	{
		EsJsonPlace place = es_json_place("event", 0, -1);

		key = es_json_key(es_json_object_at(&events->root, 0, "events must be a JSON array of event objects"),
						  &place);
	}
	else
	{
		key = es_key_make(PointerGetDatum(cstring_to_text("")),
						  PointerGetDatum(cstring_to_text("")),
						  PointerGetDatum(cstring_to_text("")));
		key.display = "(no aggregate)";
	}
	/* before the batch is made: a huge one costs memory in proportion */
	es_check_batch_size(n, key.display);
	b = es_batch_new(n);
	b->key = key;
	if (with_key)
		es_check_expected_version(b, fcinfo, 3);
	else
	{
		b->no_aggregate = true;
		if (!PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expected_version needs events of an aggregate"),
					 errdetail("The events name no aggregate: they have no version to expect."),
					 errhint("Name the aggregate in each event object, or pass NULL.")));
	}
	for (int i = 0; i < n; i++)
	{
		JsonbContainer *obj = es_json_object_at(&events->root, i,
												"events must be a JSON array of event objects");
		EsJsonPlace place = es_json_place("event", i, -1);

		CHECK_FOR_INTERRUPTS();
		if (names_aggregate(obj) != with_key)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cannot append events of an aggregate and events of none in one batch"),
					 errdetail("Event 1 %s an aggregate, but event %d %s.",
							   with_key ? "names" : "names no", i + 1,
							   with_key ? "names none" : "does")));
		if (with_key && i > 0)
			es_json_check_same_key(b, obj, i, &place);
		es_json_read_event(b, i, obj, true, &place);
	}
	if (!PG_ARGISNULL(1))
	{
		b->condition = es_query_from_jsonb(PG_GETARG_JSONB_P(1));
		b->condition_after = es_arg_nonnegative(fcinfo, 2, "after_position", 0);
	}
	if (b->condition != NULL || b->no_aggregate)
		check_dcb_allowed(b->condition != NULL ? "append with a condition" :
						  "append events of no aggregate");
	return es_append_srf(fcinfo, b);
}
