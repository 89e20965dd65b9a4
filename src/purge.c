/*-------------------------------------------------------------------------
 *
 * purge.c
 *	  The purge: the SQL entry point that removes, in bounded batches, the
 *	  events that retention or a delete hides (retention.c, lifecycle.c),
 *	  and old feed markers.
 *
 * The purge, and why it never stalls or rewinds the feed:
 *	- It removes only events that every read started after the retention
 *	  was committed already leaves out (for max_age: every read started
 *	  after the purge started, since max_age counts from the reading
 *	  transaction's start), and one with an older snapshot still sees
 *	  them (MVCC).
 *	- It draws no position and registers as no appender, so the feed's
 *	  safe bound never waits for it; a consumer whose checkpoint lies among
 *	  the removed events reads on after them.
 *	- It reads the filtered heads without a lock and locks a head row as
 *	  an append does (FOR NO KEY UPDATE) only when its stream starts with
 *	  a hidden event (or its flag can go), skipping rows others hold:
 *	  streams being appended to, deleted, forgotten or purged by another
 *	  session wait for the next call.  The lock keeps a concurrent change
 *	  of retention from revealing an event it removes; the cutoff is read
 *	  again once the row is locked.  Appends to a purged stream wait for
 *	  the purge's transaction, whose work max_events bounds: the events it
 *	  removes, and the heads it looks at.
 *	- Per stream it removes the hidden events at the start of the stream,
 *	  in version order, up to the first one kept: an event that max_age
 *	  hides behind a younger one stays hidden, and is removed once the
 *	  younger one ages out too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "es_store.h"

/* Rows the purge reads per stream at a time */
#define PURGE_SCAN_ROWS 1000

/* A filtered head row as the purge reads it */
typedef struct PurgeHead
{
	int64		stream_id;
	bool		clearable;		/* only a delete, or a truncate_before at most
								 * the next version, hides */
	EsCutoff	cutoff;
} PurgeHead;

/* Heads the purge reads at a time */
#define PURGE_HEAD_BATCH 100

/* The head of row (ES_PLAN_PURGE_HEADS' columns), with its cutoff now */
static void
head_from_row(HeapTuple tup, TupleDesc desc, PurgeHead *ph)
{
	Datum		values[CUT_NCOLS];
	bool		nulls[CUT_NCOLS];
	bool		isnull;

	memset(ph, 0, sizeof(PurgeHead));
	ph->stream_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	for (int i = 0; i < CUT_NCOLS; i++)
		values[i] = SPI_getbinval(tup, desc, i + 2, &nulls[i]);
	es_cutoff_make(values, nulls, &ph->cutoff);
	/* a truncate_before above the next version hides events to come */
	ph->clearable = nulls[CUT_MAX_COUNT] && nulls[CUT_MAX_AGE] &&
		(nulls[CUT_TRUNCATE_BEFORE] ||
		 DatumGetInt64(values[CUT_TRUNCATE_BEFORE]) <=
		 DatumGetInt64(values[CUT_VERSION]) + 1);
}

/*
 * Up to n filtered heads with stream ids from from to to, into heads,
 * read without locks.  Returns how many.
 */
static int
read_heads(int64 from, int64 to, int n, PurgeHead *heads)
{
	Datum		values[3];
	int			rc;
	int			got;

	values[0] = Int64GetDatum(from);
	values[1] = Int64GetDatum(n);
	values[2] = Int64GetDatum(to);
	rc = SPI_execute_plan(es_plan(ES_PLAN_PURGE_HEADS), values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store purge scan failed: %s", SPI_result_code_string(rc));
	got = (int) SPI_processed;
	for (int i = 0; i < got; i++)
		head_from_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &heads[i]);
	SPI_freetuptable(SPI_tuptable);
	return got;
}

/*
 * Lock the head of stream_id as an append does and read it again (its
 * latest version) into *ph; false when another transaction holds it, or
 * it is filtered no more.
 */
static bool
lock_head(int64 stream_id, PurgeHead *ph)
{
	Datum		values[1];
	int			rc;
	bool		found;

	values[0] = Int64GetDatum(stream_id);
	rc = SPI_execute_plan(es_plan(ES_PLAN_PURGE_LOCK_HEAD), values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store purge lock failed: %s", SPI_result_code_string(rc));
	found = SPI_processed == 1;
	if (found)
		head_from_row(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, ph);
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/*
 * The hidden events at the start of the stream of ph, at most limit of
 * them: returns how many, and sets *last to the version of the last and
 * *ended when a kept event, or the stream's end, follows them.
 */
static int64
hidden_prefix(const PurgeHead *ph, int64 limit, int64 *last, bool *ended)
{
	Datum		values[2];
	int64		n = 0;
	uint64		rows;
	int			rc;

	values[0] = Int64GetDatum(ph->stream_id);
	values[1] = Int64GetDatum(limit);
	rc = SPI_execute_plan(es_plan(ES_PLAN_PURGE_SCAN), values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store purge scan failed: %s", SPI_result_code_string(rc));
	rows = SPI_processed;
	*ended = rows < (uint64) limit;
	for (uint64 i = 0; i < rows; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		int64		version;
		TimestampTz created;

		CHECK_FOR_INTERRUPTS();
		version = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		created = DatumGetTimestampTz(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2,
													&isnull));
		if (es_cutoff_keeps(&ph->cutoff, version, created))
		{
			*ended = true;
			break;
		}
		*last = version;
		n++;
	}
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/* How a purge call goes */
typedef struct Purge
{
	int64		budget;			/* events to remove, and heads to look at */
	int64		removed;
	int64		visited;
	bool		done;			/* nothing was left undone */
} Purge;

#define PURGE_SPENT(pu) ((pu)->removed >= (pu)->budget || (pu)->visited >= (pu)->budget)

/*
 * Purge the stream of the unlocked head row *unlocked: when its start shows
 * a hidden event (or its flag can go), lock it, read it again, remove its
 * hidden events from the start in chunks, and clear its flag when nothing
 * it could hide is left.
 */
static void
purge_head(Purge *pu, const PurgeHead *unlocked)
{
	PurgeHead	ph;
	int64		last = 0;
	bool		ended = false;

	pu->visited++;
	if (hidden_prefix(unlocked, 1, &last, &ended) == 0 && !unlocked->clearable)
		return;					/* nothing to remove */
	if (!lock_head(unlocked->stream_id, &ph))
	{
		pu->done = false;		/* another transaction holds it */
		return;
	}
	ended = false;
	while (!ended && pu->removed < pu->budget)
	{
		int64		n;

		CHECK_FOR_INTERRUPTS();
		n = hidden_prefix(&ph, Min(pu->budget - pu->removed, PURGE_SCAN_ROWS),
						  &last, &ended);
		if (n > 0)
		{
			Datum		values[2];

			values[0] = Int64GetDatum(ph.stream_id);
			values[1] = Int64GetDatum(last);
			pu->removed += (int64) es_delete_events(ES_PLAN_PURGE_EVENTS, values);
		}
	}
	if (!ended)
		pu->done = false;
	else if (ph.clearable)
	{
		Datum		values[1];
		int			rc;

		values[0] = Int64GetDatum(ph.stream_id);
		rc = SPI_execute_plan(es_plan(ES_PLAN_PURGE_CLEAR), values, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "es_store purge could not clear stream %lld",
				 (long long) ph.stream_id);
	}
}

/*
 * es_purge(max_events, markers_before)
 *	 -> (events_removed bigint, markers_removed bigint, done boolean)
 *
 * Remove at most max_events (>= 1, NULL: 10000) events that retention or a
 * delete hides, and, when markers_before is given, feed markers ("$deleted",
 * "$forgotten") created before it, within the same budget; and look at
 * most at max_events streams, so that a call's work is bounded whatever
 * the store holds.  The streams are taken in stream id order from
 * a random one on, around to it, so that calls that run out of budget
 * still reach every stream in time.  done is true when this call looked at
 * every stream, removed all it could, and skipped none that another
 * transaction held.  Runs in the caller's transaction; es_store_admin only.
 */
PG_FUNCTION_INFO_V1(es_purge);
Datum
es_purge(PG_FUNCTION_ARGS)
{
	Purge		pu = {10000, 0, 0, true};
	int64		markers = 0;
	int64		start = (int64) pg_prng_uint64(&pg_global_prng_state);
	int64		from = start;
	int64		to = PG_INT64_MAX;
	bool		wrapped = false;
	TupleDesc	desc;
	Datum		result[3];
	bool		result_nulls[3] = {false, false, false};
	PurgeHead  *heads;
	EsGuard		guard;

	if (!PG_ARGISNULL(0))
	{
		pu.budget = PG_GETARG_INT32(0);
		if (pu.budget < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_events must be at least 1"),
					 errdetail("max_events was %lld.", (long long) pu.budget)));
	}
	desc = es_row_desc(fcinfo);
	heads = palloc(sizeof(PurgeHead) * PURGE_HEAD_BATCH);
	if (es_citus_schema(es_extension_schema()))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("es_store.purge() does not run on a store distributed over Citus yet"),
				 errdetail("The purge deletes from this node with statements Citus runs on the nodes that hold the rows, where es_store's append-only trigger refuses another session's delete."),
				 errhint("Hidden events stay hidden from every read; forget_aggregate removes one aggregate's events.")));

	es_guard_enter(&guard);
	SPI_connect();
	for (;;)
	{
		int			n;
		int			i;

		CHECK_FOR_INTERRUPTS();
		n = read_heads(from, to, PURGE_HEAD_BATCH, heads);
		for (i = 0; i < n && !PURGE_SPENT(&pu); i++)
			purge_head(&pu, &heads[i]);
		if (i < n)
		{
			pu.done = false;	/* out of budget before these heads */
			break;
		}
		if (n == PURGE_HEAD_BATCH && heads[n - 1].stream_id < to)
		{
			if (PURGE_SPENT(&pu))
			{
				pu.done = false;
				break;
			}
			from = heads[n - 1].stream_id + 1;
			continue;
		}
		/* this range is done: on to the ids below the start, once */
		if (wrapped || start == PG_INT64_MIN)
			break;
		if (PURGE_SPENT(&pu))
		{
			pu.done = false;
			break;
		}
		wrapped = true;
		from = PG_INT64_MIN;
		to = start - 1;
	}
	if (!PG_ARGISNULL(1))
	{
		Datum		values[2];

		values[0] = PG_GETARG_DATUM(1);
		values[1] = Int64GetDatum(pu.budget - pu.removed);
		if (pu.removed < pu.budget)
			markers = (int64) es_delete_events(ES_PLAN_PURGE_MARKERS, values);
		if (markers >= pu.budget - pu.removed)
			pu.done = false;
	}
	SPI_finish();
	es_guard_leave(&guard);
	result[0] = Int64GetDatum(pu.removed);
	result[1] = Int64GetDatum(markers);
	result[2] = BoolGetDatum(pu.done);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, result, result_nulls)));
}
