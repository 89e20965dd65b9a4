/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  The read hot paths without SQL statements: one aggregate's events by
 *	  version, and a page of the global feed (filtered or not), read with
 *	  index scans straight into the caller's result set.
 *
 * Why: a read through SPI runs the executor (plan start-up, a join for an
 * aggregate) and then copies each row into the result set, field by field.
 * Here each row is read from the index and copied once.
 *
 * What it returns, and why it is what the SQL it replaces returns (plans.c
 * ES_PLAN_READ_AGGREGATE, ES_PLAN_READ_FEED and ES_PLAN_READ_FEED_FILTERED):
 *	- It reads with the active snapshot, as SPI's read-only execution of
 *	  those statements does: the caller's for an aggregate, the feed's
 *	  fresh snapshot (feed.c) for a page.
 *	- An aggregate: its events through events_stream_version_key
 *	  (stream_id, version) between the two versions, in version order, at
 *	  most max_count of them, where stream_id is its head row's.  That is
 *	  looked for at the key hash first, and through aggregate_heads_key
 *	  only when no row of the aggregate is there (es_scan_read_aggregate).
 *	- A feed page: events through events_pkey in position order above
 *	  after and at or below the bound, those the filters keep, at most
 *	  max_count.  The filters compare bytes, as text equality does under a
 *	  deterministic collation (the database's default always is), and the
 *	  segment is the key hash's, computed as aggregate_heads.key_hash is
 *	  (es_key_hash).
 *	- Each event row carries its aggregate's key and es_store.event's
 *	  columns in that type's order, followed by stream_id (0.3.0).  When the
 *	  table is laid out that way (tables.c rows_in_output_order), a result
 *	  row is the stored row without its last 8 bytes (stream_id), copied as
 *	  it is (put_row_copy); otherwise it is built from the row's columns.  Either way the
 *	  values are not detoasted (the statements' tuplestore receiver does not
 *	  detoast either).
 *	- It takes AccessShareLock on the tables and indexes it reads, kept
 *	  until the end of the transaction, and applies only when the SELECT
 *	  privileges the statements would need are there.
 *
 * scan_applies is the one place that decides whether this path runs; its
 * comment lists every reason the caller must use the SQL statements.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type_d.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "es_store.h"

/* The types of es_store.event's columns, the rows the reads return */
static const Oid out_types[EVENT_NCOLS_OUT] = {
	INT8OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, UUIDOID, TEXTOID, INT4OID,
	JSONBOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, BYTEAOID,
	TEXTARRAYOID
};

/* Which read a scan serves */
typedef enum EsScanKind
{
	SCAN_AGGREGATE,				/* heads by key, then events by version */
	SCAN_FEED					/* events by position */
} EsScanKind;

typedef struct EsScan
{
	Relation	heads;			/* SCAN_AGGREGATE only */
	Relation	events;
	Relation	head_index;		/* aggregate_heads_key, when a read needs it */
	Oid			head_index_oid; /* ... its OID, SCAN_AGGREGATE only */
	Relation	event_index;	/* the event scan's index */
	Relation	filtered_index; /* aggregate_heads_filtered (0.3.0), or NULL */
	TupleTableSlot *state_slot; /* a heads slot for the filtered heads */
	EsTableMap	map;
	Snapshot	snapshot;
	TupleTableSlot *head_slot;
	TupleTableSlot *event_slot;
	MemoryContext cxt;			/* the scan's own allocations */
	char	   *copy;			/* the copy of a row, put_event */
	uint32		copy_alloc;		/* its allocated size */
	uint32		copy_len;		/* the length of the row in it */
	bool		last_stream_valid;	/* a segment filter has met an event */
	int64		last_stream_id; /* ... the last one's aggregate */
	bool		last_stream_kept;	/* ... and whether it is in the segment */
} EsScan;

/* The filter arrays' columns, in EsFeedFilter.values order */
static const EsEventColumn filter_columns[3] = {
	EVENT_BOUNDED_CONTEXT, EVENT_AGGREGATE_TYPE, EVENT_EVENT_TYPE
};

/*
 * Whether the result set's rows are es_store.event as installed, or
 * es_store.aggregate_row (load_aggregate): es_store.event's columns and
 * snapshot_version (an integer, NULL in the rows of events, which a row
 * copied with es_store.event's columns leaves NULL as a missing column).
 */
static bool
result_type_known(TupleDesc desc)
{
	if (desc->natts == EVENT_NCOLS_OUT + 1)
	{
		Form_pg_attribute last = TupleDescAttr(desc, EVENT_NCOLS_OUT);

		if (last->attisdropped || last->atttypid != INT4OID ||
			(desc->constr != NULL && desc->constr->missing != NULL))
			return false;
	}
	else if (desc->natts != EVENT_NCOLS_OUT)
		return false;
	for (int i = 0; i < EVENT_NCOLS_OUT; i++)
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
	if (s->state_slot != NULL)
		ExecDropSingleTupleTableSlot(s->state_slot);
	if (s->filtered_index != NULL)
		index_close(s->filtered_index, NoLock);
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
 * Open what a read of this kind needs (locked with AccessShareLock) and
 * decide whether this path applies.  It does not, and the caller runs the
 * statement, when:
 *	- the result type is not es_store.event as installed;
 *	- a table or index is missing, is not the extension's own, or was
 *	  dropped or renamed since its OID was cached (tables.c);
 *	- a table has row-level security, rules, inheritance, partitions or
 *	  generated columns (es_plain_table);
 *	- events lacks a column of 0.3.0 (an older schema, whose rows do not
 *	  carry the key, and whose es_store.event has no payload_bytes) or has
 *	  one more, or the head table lacks one it reads;
 *	- an index it scans is not a valid unique btree on exactly the columns
 *	  assumed (es_index_usable; aggregate_heads_key is checked when a read
 *	  needs it, before that read has returned anything);
 *	- the caller lacks the SELECT privileges the statement would need.
 * False, with everything released, when it does not apply.
 */
static bool
scan_applies(EsScan *s, ReturnSetInfo *rsinfo, EsScanKind kind)
{
	Oid			oids[ES_NUM_RELS];
	RangeTblEntry *events_rte;
	List	   *rtes;
	const AttrNumber *att;

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

	att = s->map.event_att;

	/*
	 * The filtered heads (visibility.c), when the schema has them; the
	 * index is then opened as the table's own, or the statement runs.
	 */
	if (OidIsValid(oids[ES_REL_HEADS_FILTERED]) && s->map.heads_lifecycle)
	{
		s->filtered_index = es_index_open(s->heads, oids[ES_REL_HEADS_FILTERED],
										  AccessShareLock);
		if (s->filtered_index == NULL ||
			!s->filtered_index->rd_index->indisvalid ||
			s->filtered_index->rd_index->indcheckxmin ||
			s->filtered_index->rd_rel->relam != BTREE_AM_OID ||
			heap_attisnull(s->filtered_index->rd_indextuple,
						   Anum_pg_index_indpred, NULL) ||
			IndexRelationGetNumberOfKeyAttributes(s->filtered_index) != 1 ||
			s->filtered_index->rd_index->indkey.values[0] !=
			s->map.head_att[HEAD_STREAM_ID] + 1)
		{
			scan_end(s);
			return false;
		}
	}
	else if (s->map.heads_lifecycle)
	{
		/* a 0.3.0 head table without the index: let the statement read */
		scan_end(s);
		return false;
	}

	if (kind == SCAN_AGGREGATE)
	{
		/* aggregate_heads_key is opened if the read needs it */
		s->head_index_oid = oids[ES_REL_HEADS_KEY];
		s->event_index = es_index_open(s->events,
									   oids[ES_REL_EVENTS_STREAM_VERSION],
									   AccessShareLock);
		if (s->event_index == NULL ||
			!es_index_usable(s->event_index, s->events,
							 (AttrNumber[]) {att[EVENT_STREAM_ID],
							 att[EVENT_AGGREGATE_VERSION]}, 2, INT8OID))
		{
			scan_end(s);
			return false;
		}
	}
	else
	{
		/* the feed reads head rows only of filtered streams */
		if (s->filtered_index == NULL)
		{
			table_close(s->heads, NoLock);
			s->heads = NULL;
		}
		s->event_index = es_index_open(s->events, oids[ES_REL_EVENTS_PKEY],
									   AccessShareLock);
		if (s->event_index == NULL ||
			!es_index_usable(s->event_index, s->events,
							 &att[EVENT_GLOBAL_POSITION], 1, INT8OID))
		{
			scan_end(s);
			return false;
		}
	}

	/*
	 * The privileges the SELECT would need; without them, the statement
	 * runs and reports it (as direct.c does).
	 */
	events_rte = es_table_rte(s->events, AccessShareLock, ACL_SELECT);
	events_rte->selectedCols = es_column_set(att, EVENT_NCOLS);
	rtes = list_make1(events_rte);
	if (kind == SCAN_AGGREGATE || s->heads != NULL)
	{
		RangeTblEntry *heads_rte = es_table_rte(s->heads, AccessShareLock,
												ACL_SELECT);

		heads_rte->selectedCols =
			es_column_set(s->map.head_att,
						  s->filtered_index != NULL ? HEAD_NCOLS : HEAD_AGGREGATE_ID + 1);
		rtes = lappend(rtes, heads_rte);
	}
	if (!ExecCheckRTPerms(rtes, false))
	{
		scan_end(s);
		return false;
	}

	s->snapshot = GetActiveSnapshot();
	s->event_slot = table_slot_create(s->events, NULL);
	/* the feed needs it for its filtered heads; an aggregate read makes it if it does */
	if (s->filtered_index != NULL && kind == SCAN_FEED)
		s->state_slot = table_slot_create(s->heads, NULL);
	s->cxt = AllocSetContextCreate(CurrentMemoryContext, "es_store read",
								   ALLOCSET_SMALL_SIZES);
	return true;
}

#ifdef USE_ASSERT_CHECKING
/* Whether the result row mt holds the first columns of the event row */
static bool
copy_matches(EsScan *s, ReturnSetInfo *rsinfo, HeapTuple stored,
			 MinimalTuple mt)
{
	TupleTableSlot *copy = MakeSingleTupleTableSlot(rsinfo->setDesc,
													&TTSOpsMinimalTuple);
	TupleTableSlot *row = MakeSingleTupleTableSlot(RelationGetDescr(s->events),
												   &TTSOpsHeapTuple);
	bool		same = true;

	mt->t_len = s->copy_len - MINIMAL_TUPLE_OFFSET;	/* as the copy's */
	ExecStoreMinimalTuple(mt, copy, false);
	ExecStoreHeapTuple(stored, row, false);
	slot_getallattrs(copy);
	slot_getallattrs(row);
	for (int i = 0; i < EVENT_NCOLS_OUT; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(rsinfo->setDesc, i);
		int			c = EVENT_OUT_COLUMN(i);

		if (copy->tts_isnull[i] != row->tts_isnull[c] ||
			(!copy->tts_isnull[i] &&
			 !datumIsEqual(copy->tts_values[i], row->tts_values[c],
						   attr->attbyval, attr->attlen)))
			same = false;
	}
	ExecDropSingleTupleTableSlot(copy);
	ExecDropSingleTupleTableSlot(row);
	return same;
}
#endif

/*
 * Whether a stored event row ends in its tail (stream_id and batch_size,
 * the last ES_ROW_TAIL bytes of its data), in a table that stores its rows
 * in output order (tables.c rows_in_output_order): a row without tags,
 * stored with every column (tags NULL) or before 0.4.0 added tags.  Such a
 * row has a null bitmap: payload or payload_bytes is NULL in every row.
 */
static inline bool
row_ends_in_tail(HeapTuple row)
{
	int			natts = HeapTupleHeaderGetNatts(row->t_data);

	if (!HeapTupleHasNulls(row) ||
		row->t_len < row->t_data->t_hoff + ES_ROW_TAIL)
		return false;
	return natts == EVENT_TAGS ||
		(natts == EVENT_NCOLS && att_isnull(EVENT_TAGS, row->t_data->t_bits));
}

/*
 * The stored event row as a result row, into the result set, when the
 * table stores its rows in output order (tables.c rows_in_output_order)
 * and the row has no tags: stream_id and batch_size are then the row's
 * last ES_ROW_TAIL bytes (row_ends_in_tail), and what precedes them is a
 * tuple of es_store.event once it says it has that many columns, the last
 * of them (tags) NULL.  Its null bitmap is the row's, with the bit of
 * stream_id, where tags' is in the result, cleared: the first
 * EVENT_NCOLS_ROW bits are the same columns', and the others lie past the
 * end.
 * When payload_bytes is set, the copy ends in the padding (up to 7 zero
 * bytes) that aligned stream_id after it: t_len then counts bytes past the
 * last column, which nothing reads (a tuple's columns are found by walking
 * them from t_hoff).  False, with nothing done, for a row written with
 * another number of columns.
 */
static bool
put_row_copy(EsScan *s, ReturnSetInfo *rsinfo, HeapTuple row)
{
	HeapTupleData out;
	uint32		len;

	Assert(s->map.events_in_row_order);
	if (!row_ends_in_tail(row))
		return false;
	len = row->t_len - ES_ROW_TAIL;
	if (s->copy_alloc < len)
	{
		if (s->copy != NULL)
			pfree(s->copy);
		s->copy_alloc = Max(len, 1024);
		s->copy = MemoryContextAlloc(s->cxt, s->copy_alloc);
	}
	s->copy_len = len;
	memcpy(s->copy, row->t_data, len);
	out.t_len = len;
	out.t_data = (HeapTupleHeader) s->copy;
	out.t_tableOid = InvalidOid;
	ItemPointerSetInvalid(&out.t_self);
	HeapTupleHeaderSetNatts(out.t_data, EVENT_NCOLS_OUT);
	out.t_data->t_bits[EVENT_NCOLS_ROW >> 3] &= ~(1 << (EVENT_NCOLS_ROW & 0x07));
	out.t_data->t_infomask &= ~HEAP_XACT_MASK;
	out.t_data->t_infomask2 &= ~HEAP2_XACT_MASK;
	Assert(copy_matches(s, rsinfo, row,
						(MinimalTuple) ((char *) out.t_data +
										MINIMAL_TUPLE_OFFSET)));
	tuplestore_puttuple(rsinfo->setResult, &out);
	return true;
}

/*
 * The event in s->event_slot as a result row, into the result set: its
 * first EVENT_NCOLS_OUT columns, which are es_store.event's.
 */
static void
put_event(EsScan *s, ReturnSetInfo *rsinfo)
{
	TupleTableSlot *slot = s->event_slot;
	Datum		values[EVENT_NCOLS_OUT + 1];
	bool		nulls[EVENT_NCOLS_OUT + 1];

	if (s->map.events_in_row_order)
	{
		bool		should_free;
		HeapTuple	row = ExecFetchSlotHeapTuple(slot, false, &should_free);
		bool		copied = !should_free && put_row_copy(s, rsinfo, row);

		if (should_free)
			heap_freetuple(row);
		if (copied)
			return;
	}

	slot_getallattrs(slot);
	for (int i = 0; i < EVENT_NCOLS_OUT; i++)
	{
		AttrNumber	att = s->map.event_att[EVENT_OUT_COLUMN(i)];

		values[i] = slot->tts_values[att];
		nulls[i] = slot->tts_isnull[att];
	}
	/* es_store.aggregate_row's snapshot_version */
	values[EVENT_NCOLS_OUT] = (Datum) 0;
	nulls[EVENT_NCOLS_OUT] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Whether the row in slot carries key in its columns bc, at and aid (0-based
 * offsets: an event row's or a head row's key columns).
 */
static bool
slot_has_key(TupleTableSlot *slot, AttrNumber bc, AttrNumber at,
			 AttrNumber aid, const EsStreamKey *key)
{
	bool		isnull;

	return es_text_equal(slot_getattr(slot, bc + 1, &isnull), key->bounded_context) &&
		es_text_equal(slot_getattr(slot, at + 1, &isnull), key->aggregate_type) &&
		es_text_equal(slot_getattr(slot, aid + 1, &isnull), key->aggregate_id);
}

/*
 * The events of stream stream_id with versions from..to, at most max_count
 * (< 0: all), into the result set, in version order; how many.  With key
 * given, the first row's key is compared with it first, and when they
 * differ nothing is returned and *other_key is set: the rows are another
 * aggregate's.
 */
static int64
read_stream_events(EsScan *s, ReturnSetInfo *rsinfo, int64 stream_id,
				   int64 from, int64 to, int64 max_count,
				   const EsStreamKey *key, bool *other_key,
				   const EsCutoff *cut)
{
	const AttrNumber *att = s->map.event_att;
	ScanKeyData keys[3];
	IndexScanDesc scan;
	int64		n = 0;

	if (cut->active)
	{
		if (cut->hide_all)
			return 0;
		from = Max(from, cut->min_version);
	}

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
		if (n == 0 && key != NULL)
		{
			if (!slot_has_key(s->event_slot, att[EVENT_BOUNDED_CONTEXT],
							  att[EVENT_AGGREGATE_TYPE], att[EVENT_AGGREGATE_ID],
							  key))
			{
				*other_key = true;
				break;
			}
		}
		if (cut->by_age)
		{
			bool		isnull;
			TimestampTz created = DatumGetTimestampTz(slot_getattr(s->event_slot,
																   att[EVENT_CREATED_AT] + 1,
																   &isnull));

			if (created < cut->min_created)
				continue;
		}
		put_event(s, rsinfo);
		n++;
	}
	index_endscan(scan);
	return n;
}

/*
 * The stream id of key's head row in the snapshot, through
 * aggregate_heads_key; false when there is none, or when that index is not
 * the one assumed (*usable is then false).
 */
static bool
head_stream_id(EsScan *s, const EsStreamKey *key, int64 *stream_id,
			   bool *usable)
{
	ScanKeyData keys[3];
	IndexScanDesc scan;
	bool		found;

	s->head_index = es_index_open(s->heads, s->head_index_oid, AccessShareLock);
	*usable = s->head_index != NULL &&
		es_index_usable(s->head_index, s->heads,
						&s->map.head_att[HEAD_BOUNDED_CONTEXT], 3, TEXTOID);
	if (!*usable)
		return false;
	s->head_slot = table_slot_create(s->heads, NULL);
	es_key_scan_keys(keys, s->head_index, key);
	scan = index_beginscan(s->heads, s->head_index, s->snapshot, 3, 0);
	index_rescan(scan, keys, 3, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, s->head_slot);
	if (found)
	{
		bool		isnull;

		*stream_id = DatumGetInt64(slot_getattr(s->head_slot,
												s->map.head_att[HEAD_STREAM_ID] + 1,
												&isnull));
	}
	index_endscan(scan);
	return found;
}

/*
 * es_scan_read_aggregate: what ES_PLAN_READ_AGGREGATE returns for key,
 * versions from..to, at most max_count (< 0: all), into the result set
 * (InitMaterializedSRF done).  False, with nothing returned, when this path
 * does not apply and the caller must run the statement.
 *
 * An aggregate's stream id is usually its key hash (direct.c create_head),
 * so its events are looked for there first, without reading its head row:
 * rows there that carry key are its events (src/README.md, "Stream ids").
 * Only when there are none, or they are another aggregate's, does the head
 * row say where they are.
 */
bool
es_scan_read_aggregate(FunctionCallInfo fcinfo, const EsStreamKey *key,
					   int64 from, int64 to, int64 max_count)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EsScan		s;
	int64		hash;
	int64		stream_id;
	bool		other_key = false;
	bool		usable;
	EsCutoff	cut;

	if (!scan_applies(&s, rsinfo, SCAN_AGGREGATE))
		return false;
	hash = es_key_hash(DatumGetTextPP(key->bounded_context),
					   DatumGetTextPP(key->aggregate_type),
					   DatumGetTextPP(key->aggregate_id));
	memset(&cut, 0, sizeof(cut));
	if (s.filtered_index != NULL &&
		es_filtered_head(s.heads, s.filtered_index, s.snapshot, hash,
						 &s.state_slot, s.map.head_att) &&
		slot_has_key(s.state_slot, s.map.head_att[HEAD_BOUNDED_CONTEXT],
					 s.map.head_att[HEAD_AGGREGATE_TYPE],
					 s.map.head_att[HEAD_AGGREGATE_ID], key))
	{
		es_cutoff_from_head(s.state_slot, s.map.head_att, &cut);
		if (cut.hide_all)
		{
			/* a deleted aggregate: nothing to return */
			scan_end(&s);
			return true;
		}
	}
	/* stream id 0 holds markers, never an aggregate's events */
	if (hash == 0 ||
		read_stream_events(&s, rsinfo, hash, from, to, max_count, key,
						   &other_key, &cut) == 0)
	{
		if (head_stream_id(&s, key, &stream_id, &usable) &&
			(stream_id != hash || other_key))
		{
			bool		isnull;

			memset(&cut, 0, sizeof(cut));
			if (s.map.heads_lifecycle &&
				DatumGetBool(slot_getattr(s.head_slot,
										  s.map.head_att[HEAD_FILTERED] + 1,
										  &isnull)))
				es_cutoff_from_head(s.head_slot, s.map.head_att, &cut);
			read_stream_events(&s, rsinfo, stream_id, from, to, max_count,
							   NULL, NULL, &cut);
		}
		if (!usable)
		{
			/* nothing was returned: the statement runs instead */
			scan_end(&s);
			return false;
		}
	}
	scan_end(&s);
	return true;
}

/*
 * A filter's values, deconstructed once for the page: the non-NULL
 * elements of a text[] (a NULL element never equals anything).
 */
typedef struct TextSet
{
	bool		any;			/* no filter */
	int			n;
	text	  **elems;
} TextSet;

static void
text_set_init(TextSet *set, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	set->any = arr == NULL;
	set->n = 0;
	set->elems = NULL;
	if (arr == NULL)
		return;
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	set->elems = palloc(sizeof(text *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (!nulls[i])
			set->elems[set->n++] = DatumGetTextPP(elems[i]);
	}
}

/* Whether the text value is in set */
static bool
text_set_has(const TextSet *set, Datum value)
{
	text	   *t;
	int			len;

	if (set->any)
		return true;
	t = DatumGetTextPP(value);
	len = VARSIZE_ANY_EXHDR(t);
	for (int i = 0; i < set->n; i++)
	{
		if (VARSIZE_ANY_EXHDR(set->elems[i]) == len &&
			memcmp(VARDATA_ANY(set->elems[i]), VARDATA_ANY(t), len) == 0)
			return true;
	}
	return false;
}

/*
 * Whether the event in s->event_slot passes the filters: sets, in
 * filter_columns order, and segment of segments.  Allocations go to the
 * per-row context cxt.
 */
static bool
feed_filter_keeps(EsScan *s, const TextSet *sets, int64 segment,
				  int64 segments, MemoryContext cxt)
{
	TupleTableSlot *slot = s->event_slot;
	const AttrNumber *att = s->map.event_att;
	MemoryContext old = MemoryContextSwitchTo(cxt);
	bool		keep = true;

	slot_getallattrs(slot);
	for (int f = 0; f < 3 && keep; f++)
		keep = text_set_has(&sets[f], slot->tts_values[att[filter_columns[f]]]);
	if (keep && segments > 1 && s->last_stream_valid &&
		DatumGetInt64(slot->tts_values[att[EVENT_STREAM_ID]]) == s->last_stream_id)
		keep = s->last_stream_kept;
	else if (keep && segments > 1)
	{
		int64		hash = es_key_hash(DatumGetTextPP(slot->tts_values[att[EVENT_BOUNDED_CONTEXT]]),
									   DatumGetTextPP(slot->tts_values[att[EVENT_AGGREGATE_TYPE]]),
									   DatumGetTextPP(slot->tts_values[att[EVENT_AGGREGATE_ID]]));

		keep = ((hash % segments) + segments) % segments == segment;
		/* the next event is often of the same aggregate */
		s->last_stream_valid = true;
		s->last_stream_id = DatumGetInt64(slot->tts_values[att[EVENT_STREAM_ID]]);
		s->last_stream_kept = keep;
	}
	MemoryContextSwitchTo(old);
	return keep;
}

/*
 * Whether the event in s->event_slot is outside what cut (its stream's,
 * visibility.c) lets be seen.
 */
static bool
event_hidden(EsScan *s, const EsCutoff *cut)
{
	TupleTableSlot *slot = s->event_slot;
	const AttrNumber *att = s->map.event_att;
	bool		isnull;

	return !es_cutoff_keeps(cut,
							DatumGetInt64(slot_getattr(slot, att[EVENT_AGGREGATE_VERSION] + 1,
													   &isnull)),
							DatumGetTimestampTz(slot_getattr(slot, att[EVENT_CREATED_AT] + 1,
															 &isnull)));
}

/*
 * Whether the event in s->event_slot is one the feed hides: of a filtered
 * stream, and outside what its head row lets be seen.
 */
static bool
feed_hides(EsScan *s, EsFeedState *st)
{
	const EsCutoff *cut;
	bool		isnull;

	if (!st->any)
		return false;
	cut = es_feed_state_cutoff(st, DatumGetInt64(slot_getattr(s->event_slot,
															  s->map.event_att[EVENT_STREAM_ID] + 1,
															  &isnull)));
	return cut != NULL && event_hidden(s, cut);
}

/* How many index entries a feed read takes from the index at a time */
#define FEED_BATCH 256

/*
 * A feed page from the index scan scan (positions above after, in order),
 * for a heap table whose rows are in output order, at most max_count rows
 * at or below bound that the filters (sets NULL: none) keep.  The scan has
 * no key for the bound: each row's position is its first 8 bytes (tables.c
 * rows_in_output_order: global_position is the first column, NOT NULL), so
 * comparing it here costs less than a second key, which the index would
 * evaluate on every entry; the read stops at the first visible row above
 * the bound (positions only grow along the index).  The index
 * entries are taken in batches, and each run of them that points into one
 * heap page is looked up with one pin and one share lock of that page, the
 * visible versions found (heap_hot_search_buffer) while it is locked and
 * copied after it is unlocked, while it is still pinned (no prune can move
 * a tuple on a pinned page: it needs a cleanup lock).  index_getnext_slot
 * locks and unlocks the page for every entry.
 *
 * Taking the entries ahead of the heap visits is safe with an MVCC
 * snapshot, as for a bitmap heap scan: an entry whose tuple was removed
 * meanwhile finds nothing visible at its TID, or a tuple inserted after
 * the snapshot, which is not visible either (src/backend/access/nbtree
 * /README, "dropping pins for MVCC snapshots").  What this gives up is
 * marking index entries of dead tuples (kill_prior_tuple); VACUUM removes
 * them.
 */
static void
feed_read_batched(EsScan *s, ReturnSetInfo *rsinfo, IndexScanDesc scan,
				  int64 bound, int64 max_count, const TextSet *sets,
				  int64 segment, int64 segments, MemoryContext row_cxt,
				  EsFeedState *st)
{
	ItemPointerData tids[FEED_BATCH];
	HeapTupleData found[MaxHeapTuplesPerPage];
	Buffer		buf = InvalidBuffer;
	int64		n = 0;
	bool		more = true;

	while (more && n < max_count)
	{
		int			ntids = 0;
		ItemPointer tid;

		while (ntids < FEED_BATCH &&
			   (tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
			tids[ntids++] = *tid;
		more = ntids == FEED_BATCH;

		for (int i = 0; i < ntids && n < max_count;)
		{
			BlockNumber block = ItemPointerGetBlockNumber(&tids[i]);
			int			nfound = 0;

			CHECK_FOR_INTERRUPTS();
			buf = ReleaseAndReadBuffer(buf, s->events, block);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			for (; i < ntids && nfound < MaxHeapTuplesPerPage &&
				 ItemPointerGetBlockNumber(&tids[i]) == block; i++)
			{
				ItemPointerData htid = tids[i];
				bool		all_dead;

				if (heap_hot_search_buffer(&htid, s->events, buf, s->snapshot,
										   &found[nfound], &all_dead, true))
					nfound++;
			}
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);

			for (int k = 0; k < nfound && n < max_count; k++)
			{
				HeapTuple	row = &found[k];
				int64		position;

				memcpy(&position, (char *) row->t_data + row->t_data->t_hoff,
					   sizeof(int64));
				if (position > bound)
				{
					more = false;
					i = ntids;
					break;
				}
				pgstat_count_heap_fetch(scan->indexRelation);
				if (st->any)
				{
					int64		stream_id;
					const EsCutoff *cut = NULL;
					bool		other_shape = !row_ends_in_tail(row);
					bool		hidden;

					/* stream_id begins the row's tail (put_row_copy) */
					if (!other_shape)
					{
						memcpy(&stream_id, (char *) row->t_data + row->t_len - ES_ROW_TAIL,
							   sizeof(int64));
						cut = es_feed_state_cutoff(st, stream_id);
					}
					if (other_shape || cut != NULL)
					{
						ExecStoreBufferHeapTuple(row, s->event_slot, buf);
						hidden = other_shape ? feed_hides(s, st) : event_hidden(s, cut);
						ExecClearTuple(s->event_slot);
						if (hidden)
							continue;
					}
				}
				if (sets != NULL || !put_row_copy(s, rsinfo, row))
				{
					/* through the slot: the filters, or a row of another shape */
					ExecStoreBufferHeapTuple(row, s->event_slot, buf);
					if (sets != NULL)
					{
						bool		keep = feed_filter_keeps(s, sets, segment,
															 segments, row_cxt);

						MemoryContextReset(row_cxt);
						if (!keep)
						{
							ExecClearTuple(s->event_slot);
							continue;
						}
					}
					put_event(s, rsinfo);
					ExecClearTuple(s->event_slot);
				}
				n++;
			}
		}
	}
	if (BufferIsValid(buf))
		ReleaseBuffer(buf);
}

/*
 * es_scan_read_feed: what ES_PLAN_READ_FEED (filter NULL) or
 * ES_PLAN_READ_FEED_FILTERED returns for positions in (after, bound], at
 * most max_count, read with the active snapshot, into the result set
 * (InitMaterializedSRF done).  False, with nothing returned, when this path
 * does not apply and the caller must run the statement.
 */
bool
es_scan_read_feed(FunctionCallInfo fcinfo, int64 after, int64 bound,
				  int64 max_count, const EsFeedFilter *filter)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EsScan		s;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	MemoryContext row_cxt = NULL;
	TextSet		sets[3];
	int64		n = 0;
	EsFeedState st;

	if (!scan_applies(&s, rsinfo, SCAN_FEED))
		return false;
	if (filter != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(s.cxt);

		for (int f = 0; f < 3; f++)
			text_set_init(&sets[f], filter->values[f]);
		MemoryContextSwitchTo(old);
		row_cxt = AllocSetContextCreate(s.cxt, "es_store feed filter",
										ALLOCSET_SMALL_SIZES);
	}
	memset(&st, 0, sizeof(st));
	if (s.filtered_index != NULL)
		es_feed_state_begin(&st, s.heads, s.filtered_index, s.snapshot,
							s.state_slot, s.map.head_att, s.cxt);
	ScanKeyInit(&keys[0], 1, BTGreaterStrategyNumber, F_INT8GT,
				Int64GetDatum(after));
	ScanKeyInit(&keys[1], 1, BTLessEqualStrategyNumber, F_INT8LE,
				Int64GetDatum(bound));
	if (s.map.events_in_row_order &&
		s.events->rd_rel->relam == HEAP_TABLE_AM_OID)
	{
		/* the bound is checked on each row (feed_read_batched) */
		scan = index_beginscan(s.events, s.event_index, s.snapshot, 1, 0);
		index_rescan(scan, keys, 1, NULL, 0);
		feed_read_batched(&s, rsinfo, scan, bound, max_count,
						  filter != NULL ? sets : NULL,
						  filter != NULL ? filter->segment : 0,
						  filter != NULL ? filter->segments : 1, row_cxt, &st);
		index_endscan(scan);
		scan_end(&s);
		return true;
	}
	scan = index_beginscan(s.events, s.event_index, s.snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (n < max_count &&
		   index_getnext_slot(scan, ForwardScanDirection, s.event_slot))
	{
		CHECK_FOR_INTERRUPTS();
		if (feed_hides(&s, &st))
			continue;
		if (filter != NULL)
		{
			bool		keep = feed_filter_keeps(&s, sets, filter->segment,
												 filter->segments, row_cxt);

			MemoryContextReset(row_cxt);
			if (!keep)
				continue;
		}
		put_event(&s, rsinfo);
		n++;
	}
	index_endscan(scan);
	scan_end(&s);
	return true;
}
