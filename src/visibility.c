/*-------------------------------------------------------------------------
 *
 * visibility.c
 *	  Which stored events reads and the feed return, since 0.3.0: none of a
 *	  deleted stream, none below its truncate_before, only the last
 *	  max_count, none older than max_age (README, "Deleting and retention").
 *
 * Only head rows with filtered set can hide anything, and
 * aggregate_heads_filtered indexes exactly those.  So a read that finds no
 * entry there for its stream returns every event, as before 0.3.0, and
 * pays one probe of that index; or, in a store that never deleted or
 * retained a stream, one read of its metapage (index_never_filled).  A
 * feed page loads the filtered heads once (up to FEED_STATE_MAX of them;
 * past that it looks each stream up as it meets it) and checks only the
 * rows of those streams.  Both read the heads with the snapshot they read
 * the events with, so a delete committed before it hides the events, and
 * one still in flight does not.
 *
 * The SQL statements the C reads stand in for apply the same rule
 * (plans.c EVENT_VISIBLE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "es_store.h"

/* Filtered heads a feed page loads before it looks them up one by one */
#define FEED_STATE_MAX 1024

/*
 * The cutoff of a filtered head from its lifecycle columns (values and
 * nulls in EsCutoffColumn order): all hidden when deleted, none below
 * truncate_before nor outside the last max_count versions, none older than
 * max_age counted from the start of this transaction.
 */
void
es_cutoff_make(const Datum *values, const bool *nulls, EsCutoff *c)
{
	int64		version = DatumGetInt64(values[CUT_VERSION]);

	memset(c, 0, sizeof(EsCutoff));
	c->active = true;
	c->hide_all = !nulls[CUT_DELETED_AT];
	if (!nulls[CUT_TRUNCATE_BEFORE])
		c->min_version = DatumGetInt64(values[CUT_TRUNCATE_BEFORE]);
	if (!nulls[CUT_MAX_COUNT] &&
		version - DatumGetInt64(values[CUT_MAX_COUNT]) + 1 > c->min_version)
		c->min_version = version - DatumGetInt64(values[CUT_MAX_COUNT]) + 1;
	if (!nulls[CUT_MAX_AGE])
	{
		c->by_age = true;
		c->min_created = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
																 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
																 values[CUT_MAX_AGE]));
	}
}

/* The cutoff of the head row in slot, whose filtered is set. */
void
es_cutoff_from_head(TupleTableSlot *slot, const AttrNumber *att, EsCutoff *c)
{
	static const EsHeadColumn columns[CUT_NCOLS] = {
		HEAD_DELETED_AT, HEAD_VERSION, HEAD_TRUNCATE_BEFORE, HEAD_MAX_COUNT,
		HEAD_MAX_AGE
	};
	Datum		values[CUT_NCOLS];
	bool		nulls[CUT_NCOLS];

	for (int i = 0; i < CUT_NCOLS; i++)
		values[i] = slot_getattr(slot, att[columns[i]] + 1, &nulls[i]);
	es_cutoff_make(values, nulls, c);
}

/* Whether an event of version and created_at passes cutoff c */
bool
es_cutoff_keeps(const EsCutoff *c, int64 version, TimestampTz created_at)
{
	if (!c->active)
		return true;
	return !c->hide_all && version >= c->min_version &&
		(!c->by_age || created_at >= c->min_created);
}

/*
 * Whether a look at index (aggregate_heads_filtered, a btree) can be
 * skipped because it has never held an entry: its metapage names no root
 * page.  Then no head row is filtered, in any transaction: one that set
 * the flag inserted its entry before it committed, so before a snapshot
 * that sees it was taken, and before this read of the metapage (which
 * every caller makes after taking its snapshot).  A read of one page
 * instead of an index scan, for the stores that never deleted or retained
 * anything.  Not under SERIALIZABLE, which needs the predicate lock an
 * index scan takes, even of an empty index.
 */
static bool
index_never_filled(Relation index)
{
	Buffer		buf;
	bool		empty;

	if (IsolationIsSerializable())
		return false;
	buf = ReadBuffer(index, BTREE_METAPAGE);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	empty = BTPageGetMeta(BufferGetPage(buf))->btm_root == P_NONE;
	UnlockReleaseBuffer(buf);
	return empty;
}

/*
 * The filtered head row of stream stream_id visible in snapshot, into
 * *slot (of heads, made on first use: a read whose stream has none makes
 * none), through index (aggregate_heads_filtered); false when the stream
 * has none.
 */
bool
es_filtered_head(Relation heads, Relation index, Snapshot snapshot,
				 int64 stream_id, TupleTableSlot **slot, const AttrNumber *att)
{
	ScanKeyData key;
	IndexScanDesc scan;
	bool		found = false;

	if (index_never_filled(index))
		return false;
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(stream_id));
	scan = index_beginscan(heads, index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_tid(scan, ForwardScanDirection) != NULL)
	{
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (*slot == NULL)
			*slot = table_slot_create(heads, NULL);
		if (index_fetch_heap(scan, *slot) &&
			DatumGetBool(slot_getattr(*slot, att[HEAD_FILTERED] + 1, &isnull)))
		{
			found = true;
			break;
		}
	}
	index_endscan(scan);
	return found;
}

/* A stream's entry in a feed page's table */
typedef struct FeedStream
{
	int64		stream_id;		/* hash key */
	bool		filtered;
	EsCutoff	cutoff;
} FeedStream;

/*
 * Set up the feed page's view of the filtered heads: load them all when
 * there are at most FEED_STATE_MAX, else start looking them up as the page
 * meets their streams.  cxt holds the table; slot is a slot of heads.
 */
void
es_feed_state_begin(EsFeedState *st, Relation heads, Relation index,
					Snapshot snapshot, TupleTableSlot *slot,
					const AttrNumber *att, MemoryContext cxt)
{
	HASHCTL		ctl;
	IndexScanDesc scan;
	int			n = 0;

	memset(st, 0, sizeof(EsFeedState));
	st->heads = heads;
	st->index = index;
	st->snapshot = snapshot;
	st->slot = slot;
	st->att = att;
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(FeedStream);
	ctl.hcxt = cxt;
	st->streams = hash_create("es_store feed filtered streams", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (index_never_filled(index))
		return;
	scan = index_beginscan(heads, index, snapshot, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		int64		id;
		FeedStream *fs;

		CHECK_FOR_INTERRUPTS();
		if (!DatumGetBool(slot_getattr(slot, att[HEAD_FILTERED] + 1, &isnull)))
			continue;
		if (++n > FEED_STATE_MAX)
		{
			st->lookup = true;
			break;
		}
		id = DatumGetInt64(slot_getattr(slot, att[HEAD_STREAM_ID] + 1, &isnull));
		fs = hash_search(st->streams, &id, HASH_ENTER, NULL);
		fs->filtered = true;
		es_cutoff_from_head(slot, att, &fs->cutoff);
	}
	index_endscan(scan);
	ExecClearTuple(slot);
	st->any = n > 0;
}

/*
 * The cutoff of stream stream_id for this page: NULL when nothing of it is
 * hidden.
 */
const EsCutoff *
es_feed_state_cutoff(EsFeedState *st, int64 stream_id)
{
	FeedStream *fs;
	bool		found;

	if (!st->any)
		return NULL;
	if (!st->lookup)
	{
		fs = hash_search(st->streams, &stream_id, HASH_FIND, NULL);
		return fs != NULL ? &fs->cutoff : NULL;
	}
	fs = hash_search(st->streams, &stream_id, HASH_ENTER, &found);
	if (!found)
	{
		fs->filtered = es_filtered_head(st->heads, st->index, st->snapshot,
										stream_id, &st->slot, st->att);
		if (fs->filtered)
			es_cutoff_from_head(st->slot, st->att, &fs->cutoff);
		ExecClearTuple(st->slot);
	}
	return fs->filtered ? &fs->cutoff : NULL;
}
