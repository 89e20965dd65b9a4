/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  SQL entry points for a stream's retention and metadata, and the purge
 *	  that removes the events retention hides.
 *
 * Retention hides events from reads and the feed (visibility.c): those
 * below truncate_before, all but the last max_count, those older than
 * max_age.  Setting it sets the head's filtered flag, which only the purge
 * clears, once nothing the head could hide is stored.
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

#include "access/xact.h"
#include "common/pg_prng.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "es_store.h"

/*
 * Longest max_age: now() minus it must stay a valid timestamp for every
 * read, whenever it runs.
 */
#define MAX_AGE_YEARS 1000

/* Rows the purge reads per stream at a time */
#define PURGE_SCAN_ROWS 1000

/* The function's result row (es_store.stream_metadata) from an SPI row */
static Datum
form_metadata(FunctionCallInfo fcinfo, HeapTuple tup, TupleDesc spi_desc)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4];

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	heap_deform_tuple(tup, spi_desc, values, nulls);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * max_age as an exact duration: a day of 24 hours, a month of 30 days (as
 * PostgreSQL compares intervals).  now() minus it is then the same instant
 * in every session, whatever its TimeZone and its daylight saving time.
 */
static Interval *
exact_duration(const Interval *age)
{
	Interval   *d = palloc0(sizeof(Interval));

	d->time = age->time + age->day * USECS_PER_DAY +
		(int64) age->month * DAYS_PER_MONTH * USECS_PER_DAY;
	return d;
}

/* A positive bigint argument, or NULL (22023 otherwise) */
static void
check_positive(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (!PG_ARGISNULL(argno) && PG_GETARG_INT64(argno) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least 1", what),
				 errdetail("%s was %lld.", what,
						   (long long) PG_GETARG_INT64(argno))));
}

/*
 * es_set_stream_metadata(bounded_context, aggregate_type, aggregate_id,
 *						  truncate_before, max_count, max_age, metadata)
 *	 -> es_store.stream_metadata
 *
 * Replace the stream's retention and metadata with these (NULL: none),
 * except that truncate_before never moves back (a lower value, or NULL,
 * keeps the stored one).  A stream that does not exist gets a head row at
 * version 0, which reads, existence and appends treat as absent, so that
 * retention can be set before the first append.  SE003 for a forgotten
 * stream.  Returns the stream's metadata after the call.  Locks the head
 * row as an append does.
 */
PG_FUNCTION_INFO_V1(es_set_stream_metadata);
Datum
es_set_stream_metadata(PG_FUNCTION_ARGS)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	EsGuard		guard;
	Datum		result;
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext spi;
	int			rc;

	check_positive(fcinfo, 3, "truncate_before");
	if (!PG_ARGISNULL(3) && PG_GETARG_INT64(3) > ES_MAX_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("truncate_before must be at most %lld",
						(long long) ES_MAX_VERSION)));
	check_positive(fcinfo, 4, "max_count");
	if (!PG_ARGISNULL(5))
	{
		Interval	zero;
		Interval	longest;

		memset(&zero, 0, sizeof(zero));
		memset(&longest, 0, sizeof(longest));
		longest.month = MAX_AGE_YEARS * MONTHS_PER_YEAR;
		if (DatumGetBool(DirectFunctionCall2(interval_le, PG_GETARG_DATUM(5),
											 IntervalPGetDatum(&zero))) ||
			DatumGetBool(DirectFunctionCall2(interval_gt, PG_GETARG_DATUM(5),
											 IntervalPGetDatum(&longest))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_age must be positive and at most %d years",
							MAX_AGE_YEARS),
					 errdetail("max_age was %s.",
							   DatumGetCString(DirectFunctionCall1(interval_out,
																   PG_GETARG_DATUM(5))))));
	}
	if (!PG_ARGISNULL(6) &&
		!JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(6)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream metadata must be a JSON object")));

	values[0] = key.bounded_context;
	values[1] = key.aggregate_type;
	values[2] = key.aggregate_id;
	for (int i = 3; i < 7; i++)
	{
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		if (PG_ARGISNULL(i))
			nulls[i] = 'n';
	}
	if (!PG_ARGISNULL(5))
		values[5] = IntervalPGetDatum(exact_duration(PG_GETARG_INTERVAL_P(5)));
	es_guard_enter(&guard);
	SPI_connect();
	rc = SPI_execute_plan(es_plan(ES_PLAN_SET_METADATA), values, nulls, false, 0);
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "es_store metadata update failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
	{
		bool		forgotten;

		(void) es_head_state(&key, false, &forgotten);
		if (forgotten)
			es_raise_forgotten(&key);
		es_raise_head_skipped(&key);
	}
	spi = MemoryContextSwitchTo(outer);
	result = form_metadata(fcinfo, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	MemoryContextSwitchTo(spi);
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_DATUM(result);
}

/*
 * es_get_stream_metadata(bounded_context, aggregate_type, aggregate_id)
 *	 -> SETOF es_store.stream_metadata
 *
 * The stream's retention and metadata: no row when it has no head row, or
 * is forgotten.  A deleted stream keeps them.
 */
PG_FUNCTION_INFO_V1(es_get_stream_metadata);
Datum
es_get_stream_metadata(PG_FUNCTION_ARGS)
{
	return es_key_srf(fcinfo, ES_PLAN_GET_METADATA);
}

/* A filtered head row as the purge reads it */
typedef struct PurgeHead
{
	int64		stream_id;
	bool		clearable;		/* only truncate_before or a delete hides */
	EsCutoff	cutoff;
} PurgeHead;

/* Heads the purge reads at a time */
#define PURGE_HEAD_BATCH 100

/* The head of row (ES_PLAN_PURGE_HEADS' columns), with its cutoff now */
static void
head_from_row(HeapTuple tup, TupleDesc desc, PurgeHead *ph)
{
	bool		isnull;
	bool		count_null;
	bool		age_null;
	Datum		d;
	int64		version;

	memset(ph, 0, sizeof(PurgeHead));
	ph->stream_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	version = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	ph->cutoff.active = true;
	ph->cutoff.hide_all = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	d = SPI_getbinval(tup, desc, 4, &isnull);
	if (!isnull)
		ph->cutoff.min_version = DatumGetInt64(d);
	d = SPI_getbinval(tup, desc, 5, &count_null);
	if (!count_null && version - DatumGetInt64(d) + 1 > ph->cutoff.min_version)
		ph->cutoff.min_version = version - DatumGetInt64(d) + 1;
	d = SPI_getbinval(tup, desc, 6, &age_null);
	if (!age_null)
	{
		ph->cutoff.by_age = true;
		ph->cutoff.min_created =
			DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
													d));
	}
	ph->clearable = count_null && age_null;
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
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);
	heads = palloc(sizeof(PurgeHead) * PURGE_HEAD_BATCH);

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
