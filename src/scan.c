/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  The read hot paths without SQL statements: one aggregate's events by
 *	  version, and an unfiltered page of the global feed, read with index
 *	  scans straight into the caller's result set.
 *
 * Why: a read through SPI runs the executor on a join (start-up of five
 * plan nodes, a sort of the aggregate's events, a memoized nested loop for
 * the feed) and then copies each row into the result set.  Measured with
 * callgrind and test/bench (README "Performance"), that made a read of 10
 * events cost about 20% more than the same plain SELECT.  Here each row is
 * read from the index and copied once.
 *
 * What it does, and why it returns the same rows as the SQL it replaces
 * (plans.c ES_PLAN_READ_AGGREGATE and ES_PLAN_READ_FEED):
 *	- It reads with the active snapshot, as SPI's read-only execution of
 *	  those statements does: the caller's for an aggregate, the feed's
 *	  fresh snapshot (feed.c) for a page.
 *	- An aggregate: its head row through aggregate_heads_key, then its
 *	  events through events_stream_version_key (stream_id, version) between
 *	  the two versions, in version order, at most max_count of them.
 *	- A feed page: events through events_pkey in position order above
 *	  after and at or below the bound, at most max_count, each with its
 *	  head row's key found through aggregate_heads_pkey.  The keys of the
 *	  last streams seen are kept for the page (as the plan's Memoize node
 *	  does); an event whose head row is not visible is skipped, as the
 *	  join skips it.
 *	- Rows carry what the statements return: the head row's key columns and
 *	  the event row's columns, not detoasted (the statements' tuplestore
 *	  receiver does not detoast either).
 *	- It takes AccessShareLock on the tables and indexes it reads, kept
 *	  until the end of the transaction, and applies only when the SELECT
 *	  privileges the statements would need are there.
 *
 * When it does not apply, the caller uses the SQL statements: when either
 * table has row-level security, is not a plain table, or has columns or
 * indexes other than those this file knows (a later schema or a user's
 * ALTER TABLE), and when the result type is not es_store.event as
 * installed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type_d.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "es_store.h"

/* Columns of es_store.event, the rows the reads return */
enum
{
	OUT_GLOBAL_POSITION, OUT_BOUNDED_CONTEXT, OUT_AGGREGATE_TYPE,
	OUT_AGGREGATE_ID, OUT_AGGREGATE_VERSION, OUT_EVENT_ID, OUT_EVENT_TYPE,
	OUT_EVENT_VERSION, OUT_PAYLOAD, OUT_METADATA, OUT_CORRELATION_ID,
	OUT_CAUSATION_ID, OUT_TRACE_ID, OUT_CREATED_AT, OUT_NCOLS
};
static const Oid out_types[OUT_NCOLS] = {
	INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, UUIDOID, TEXTOID, INT4OID,
	JSONBOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID
};

/* The event columns each output column after the key comes from */
static const EsEventColumn out_event_columns[OUT_NCOLS] = {
	[OUT_GLOBAL_POSITION] = EVENT_GLOBAL_POSITION,
	[OUT_AGGREGATE_VERSION] = EVENT_AGGREGATE_VERSION,
	[OUT_EVENT_ID] = EVENT_EVENT_ID,
	[OUT_EVENT_TYPE] = EVENT_EVENT_TYPE,
	[OUT_EVENT_VERSION] = EVENT_EVENT_VERSION,
	[OUT_PAYLOAD] = EVENT_PAYLOAD,
	[OUT_METADATA] = EVENT_METADATA,
	[OUT_CORRELATION_ID] = EVENT_CORRELATION_ID,
	[OUT_CAUSATION_ID] = EVENT_CAUSATION_ID,
	[OUT_TRACE_ID] = EVENT_TRACE_ID,
	[OUT_CREATED_AT] = EVENT_CREATED_AT,
};

/* How many stream keys a feed page keeps (a power of 2) */
#define KEY_CACHE_SIZE 64

typedef struct CachedKey
{
	int64		stream_id;
	bool		valid;
	bool		found;			/* the head row is visible */
	Datum		key[3];			/* bounded_context, aggregate_type, aggregate_id */
} CachedKey;

typedef struct EsScan
{
	Relation	heads;
	Relation	events;
	Relation	head_index;		/* the head lookup's index */
	Relation	event_index;	/* the event scan's index */
	EsTableMap	map;
	Snapshot	snapshot;
	TupleTableSlot *head_slot;
	TupleTableSlot *event_slot;
	MemoryContext cxt;			/* the scan's own allocations */
} EsScan;

/* Whether the result set's rows are es_store.event as installed */
static bool
result_type_known(TupleDesc desc)
{
	if (desc->natts != OUT_NCOLS)
		return false;
	for (int i = 0; i < OUT_NCOLS; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (attr->attisdropped || attr->atttypid != out_types[i])
			return false;
	}
	return true;
}

static void
scan_end(EsScan *s)
{
	if (s->head_slot != NULL)
		ExecDropSingleTupleTableSlot(s->head_slot);
	if (s->event_slot != NULL)
		ExecDropSingleTupleTableSlot(s->event_slot);
	if (s->head_index != NULL)
		index_close(s->head_index, NoLock);
	if (s->event_index != NULL)
		index_close(s->event_index, NoLock);
	if (s->events != NULL)
		table_close(s->events, NoLock);
	if (s->heads != NULL)
		table_close(s->heads, NoLock);
	if (s->cxt != NULL)
		MemoryContextDelete(s->cxt);
}

/*
 * Open the tables and the two indexes (head_rel to find head rows,
 * event_rel to scan events) and check that this path applies; false (with
 * everything released) when it does not.
 */
static bool
scan_begin(EsScan *s, ReturnSetInfo *rsinfo, EsRelation head_rel,
		   EsRelation event_rel)
{
	Oid			oids[ES_NUM_RELS];
	RangeTblEntry *heads_rte;
	RangeTblEntry *events_rte;
	const AttrNumber *head_key;
	int			head_key_len;
	Oid			head_key_type;
	const AttrNumber *event_key;
	int			event_key_len;

	memset(s, 0, sizeof(EsScan));
	if (!result_type_known(rsinfo->setDesc) || !es_table_oids(oids))
		return false;
	/* a concurrent DROP EXTENSION may have removed them: let SQL report it */
	s->heads = es_table_open(oids[ES_REL_HEADS], ES_REL_HEADS, AccessShareLock);
	s->events = es_table_open(oids[ES_REL_EVENTS], ES_REL_EVENTS,
							  AccessShareLock);
	if (s->heads == NULL || s->events == NULL ||
		!es_plain_table(s->heads) || !es_plain_table(s->events))
	{
		scan_end(s);
		return false;
	}
	es_table_map(s->heads, s->events, &s->map);
	if (!s->map.heads_mappable || !s->map.events_mappable)
	{
		scan_end(s);
		return false;
	}

	if (head_rel == ES_REL_HEADS_KEY)
	{
		head_key = &s->map.head_att[HEAD_BOUNDED_CONTEXT];
		head_key_len = 3;
		head_key_type = TEXTOID;
	}
	else
	{
		Assert(head_rel == ES_REL_HEADS_PKEY);
		head_key = &s->map.head_att[HEAD_STREAM_ID];
		head_key_len = 1;
		head_key_type = INT8OID;
	}
	if (event_rel == ES_REL_EVENTS_STREAM_VERSION)
	{
		event_key = &s->map.event_att[EVENT_STREAM_ID];
		event_key_len = 2;
	}
	else
	{
		Assert(event_rel == ES_REL_EVENTS_PKEY);
		event_key = &s->map.event_att[EVENT_GLOBAL_POSITION];
		event_key_len = 1;
	}
	s->head_index = es_index_open(s->heads, oids[head_rel], AccessShareLock);
	s->event_index = es_index_open(s->events, oids[event_rel], AccessShareLock);
	if (s->head_index == NULL || s->event_index == NULL ||
		!es_index_usable(s->head_index, s->heads, head_key, head_key_len,
						 head_key_type) ||
		!es_index_usable(s->event_index, s->events, event_key, event_key_len,
						 INT8OID))
	{
		scan_end(s);
		return false;
	}

	/*
	 * The privileges the SELECT would need; without them, the statement
	 * runs and reports it (as direct.c does).
	 */
	heads_rte = es_table_rte(s->heads, AccessShareLock, ACL_SELECT);
	heads_rte->selectedCols = es_column_set(s->map.head_att, HEAD_AGGREGATE_ID + 1);
	events_rte = es_table_rte(s->events, AccessShareLock, ACL_SELECT);
	events_rte->selectedCols = es_column_set(s->map.event_att, EVENT_NCOLS);
	if (!ExecCheckRTPerms(list_make2(heads_rte, events_rte), false))
	{
		scan_end(s);
		return false;
	}

	s->snapshot = GetActiveSnapshot();
	s->head_slot = table_slot_create(s->heads, NULL);
	s->event_slot = table_slot_create(s->events, NULL);
	s->cxt = AllocSetContextCreate(CurrentMemoryContext, "es_store read",
								   ALLOCSET_SMALL_SIZES);
	return true;
}

/*
 * The event in s->event_slot as a result row with the given key, into the
 * result set.
 */
static void
put_event(EsScan *s, ReturnSetInfo *rsinfo, const Datum *key)
{
	TupleTableSlot *slot = s->event_slot;
	Datum		values[OUT_NCOLS];
	bool		nulls[OUT_NCOLS];

	slot_getallattrs(slot);
	for (int i = 0; i < OUT_NCOLS; i++)
	{
		AttrNumber	att;

		if (i >= OUT_BOUNDED_CONTEXT && i <= OUT_AGGREGATE_ID)
		{
			values[i] = key[i - OUT_BOUNDED_CONTEXT];
			nulls[i] = false;
			continue;
		}
		att = s->map.event_att[out_event_columns[i]];
		values[i] = slot->tts_values[att];
		nulls[i] = slot->tts_isnull[att];
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * The events of the stream stream_id in s->event_index, versions from..to,
 * at most max_count (< 0: all), with key, into the result set.
 */
static void
put_stream_events(EsScan *s, ReturnSetInfo *rsinfo, int64 stream_id,
				  const Datum *key, int64 from, int64 to, int64 max_count)
{
	ScanKeyData keys[3];
	IndexScanDesc scan;
	int64		n = 0;

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(stream_id));
	ScanKeyInit(&keys[1], 2, BTGreaterEqualStrategyNumber, F_INT8GE,
				Int64GetDatum(from));
	ScanKeyInit(&keys[2], 2, BTLessEqualStrategyNumber, F_INT8LE,
				Int64GetDatum(to));
	scan = index_beginscan(s->events, s->event_index, s->snapshot, 3, 0);
	index_rescan(scan, keys, 3, NULL, 0);
	while ((max_count < 0 || n < max_count) &&
		   index_getnext_slot(scan, ForwardScanDirection, s->event_slot))
	{
		CHECK_FOR_INTERRUPTS();
		put_event(s, rsinfo, key);
		n++;
	}
	index_endscan(scan);
}

/*
 * es_scan_read_aggregate: what ES_PLAN_READ_AGGREGATE returns for key,
 * versions from..to, at most max_count (< 0: all), into the result set
 * (InitMaterializedSRF done).  False, with nothing returned, when this path
 * does not apply and the caller must run the statement.
 */
bool
es_scan_read_aggregate(FunctionCallInfo fcinfo, const EsStreamKey *key,
					   int64 from, int64 to, int64 max_count)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EsScan		s;
	ScanKeyData keys[3];
	IndexScanDesc scan;

	if (!scan_begin(&s, rsinfo, ES_REL_HEADS_KEY, ES_REL_EVENTS_STREAM_VERSION))
		return false;
	es_key_scan_keys(keys, s.head_index, key);
	scan = index_beginscan(s.heads, s.head_index, s.snapshot, 3, 0);
	index_rescan(scan, keys, 3, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, s.head_slot))
	{
		const AttrNumber *att = s.map.head_att;
		Datum		head_key[3];

		slot_getallattrs(s.head_slot);
		for (int i = 0; i < 3; i++)
			head_key[i] = s.head_slot->tts_values[att[HEAD_BOUNDED_CONTEXT + i]];
		put_stream_events(&s, rsinfo,
						  DatumGetInt64(s.head_slot->tts_values[att[HEAD_STREAM_ID]]),
						  head_key, from, to, max_count);
	}
	index_endscan(scan);
	scan_end(&s);
	return true;
}

/*
 * The key of the stream stream_id, from the cache or its head row (NULL
 * when the head row is not visible).
 */
static const Datum *
stream_key(EsScan *s, IndexScanDesc head_scan, CachedKey *cache,
		   int64 stream_id)
{
	CachedKey  *c = &cache[(uint64) stream_id & (KEY_CACHE_SIZE - 1)];
	ScanKeyData skey;

	if (c->valid && c->stream_id == stream_id)
		return c->found ? c->key : NULL;

	if (c->valid && c->found)
	{
		for (int i = 0; i < 3; i++)
			pfree(DatumGetPointer(c->key[i]));
	}
	c->valid = true;
	c->stream_id = stream_id;
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(stream_id));
	index_rescan(head_scan, &skey, 1, NULL, 0);
	c->found = index_getnext_slot(head_scan, ForwardScanDirection, s->head_slot);
	if (c->found)
	{
		const AttrNumber *att = &s->map.head_att[HEAD_BOUNDED_CONTEXT];
		MemoryContext old = MemoryContextSwitchTo(s->cxt);

		slot_getallattrs(s->head_slot);
		for (int i = 0; i < 3; i++)
			c->key[i] = datumCopy(s->head_slot->tts_values[att[i]], false, -1);
		MemoryContextSwitchTo(old);
		ExecClearTuple(s->head_slot);
	}
	return c->found ? c->key : NULL;
}

/*
 * es_scan_read_feed: what ES_PLAN_READ_FEED returns for positions in
 * (after, bound], at most max_count, read with the active snapshot, into
 * the result set (InitMaterializedSRF done).  False, with nothing
 * returned, when this path does not apply and the caller must run the
 * statement.
 */
bool
es_scan_read_feed(FunctionCallInfo fcinfo, int64 after, int64 bound,
				  int64 max_count)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EsScan		s;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	IndexScanDesc head_scan;
	CachedKey  *cache;
	AttrNumber	stream_att;
	int64		n = 0;

	if (!scan_begin(&s, rsinfo, ES_REL_HEADS_PKEY, ES_REL_EVENTS_PKEY))
		return false;
	cache = MemoryContextAllocZero(s.cxt, sizeof(CachedKey) * KEY_CACHE_SIZE);
	stream_att = s.map.event_att[EVENT_STREAM_ID];
	ScanKeyInit(&keys[0], 1, BTGreaterStrategyNumber, F_INT8GT,
				Int64GetDatum(after));
	ScanKeyInit(&keys[1], 1, BTLessEqualStrategyNumber, F_INT8LE,
				Int64GetDatum(bound));
	head_scan = index_beginscan(s.heads, s.head_index, s.snapshot, 1, 0);
	scan = index_beginscan(s.events, s.event_index, s.snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (n < max_count &&
		   index_getnext_slot(scan, ForwardScanDirection, s.event_slot))
	{
		bool		isnull;
		const Datum *key;

		CHECK_FOR_INTERRUPTS();
		key = stream_key(&s, head_scan, cache,
						 DatumGetInt64(slot_getattr(s.event_slot,
													stream_att + 1, &isnull)));
		if (key == NULL)
			continue;
		put_event(&s, rsinfo, key);
		n++;
	}
	index_endscan(scan);
	index_endscan(head_scan);
	scan_end(&s);
	return true;
}
