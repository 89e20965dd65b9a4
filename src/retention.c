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
 *	  was committed already leaves out, so no reader that could see them
 *	  loses them (one with an older snapshot still sees them: MVCC).
 *	- It draws no position and registers as no appender, so the feed's
 *	  safe bound never waits for it; a consumer whose checkpoint lies among
 *	  the removed events reads on after them.
 *	- It locks each head row as an append does (FOR NO KEY UPDATE) and
 *	  skips those locked by others: streams being appended to, deleted,
 *	  forgotten or purged by another session wait for the next call.  The
 *	  lock keeps a concurrent change of retention from revealing an event
 *	  it removes.  Appends to a purged stream wait for the purge's
 *	  transaction, whose work is bounded by max_events.
 *	- Per stream it removes the hidden events at the start of the stream,
 *	  in version order, up to the first one kept: an event that max_age
 *	  hides behind a younger one stays hidden, and is removed once the
 *	  younger one ages out too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
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
	es_guard_enter(&guard);
	SPI_connect();
	rc = SPI_execute_plan(es_plan(ES_PLAN_SET_METADATA), values, nulls, false, 0);
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "es_store metadata update failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		es_raise_forgotten(&key);
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
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	Datum		values[3];
	EsGuard		guard;

	values[0] = key.bounded_context;
	values[1] = key.aggregate_type;
	values[2] = key.aggregate_id;
	es_result_init(fcinfo);
	es_guard_enter(&guard);
	SPI_connect();
	es_exec_into_srf(fcinfo, ES_PLAN_GET_METADATA, values, NULL, true);
	SPI_finish();
	es_guard_leave(&guard);
	return (Datum) 0;
}

/* A filtered head row the purge locked */
typedef struct PurgeHead
{
	int64		stream_id;
	bool		clearable;		/* only truncate_before or a delete hides */
	EsCutoff	cutoff;
} PurgeHead;

/* The first filtered head from stream id from on, locked; false when none */
static bool
next_head(int64 from, PurgeHead *ph)
{
	Datum		values[1];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	bool		count_null;
	bool		age_null;
	Datum		d;
	int64		version;
	int			rc;

	values[0] = Int64GetDatum(from);
	rc = SPI_execute_plan(es_plan(ES_PLAN_PURGE_NEXT_HEAD), values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store purge scan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
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
	return true;
}

/*
 * Remove at most budget hidden events at the start of the stream of ph.
 * Returns how many; *ended is set when the stream has no hidden event at
 * its start any more.
 */
static int64
purge_stream(const PurgeHead *ph, int64 budget, bool *ended)
{
	Datum		values[2];
	int64		last = 0;
	int64		n = 0;
	uint64		rows;
	int			rc;

	values[0] = Int64GetDatum(ph->stream_id);
	values[1] = Int64GetDatum(Min(budget, PURGE_SCAN_ROWS));
	rc = SPI_execute_plan(es_plan(ES_PLAN_PURGE_SCAN), values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store purge scan failed: %s", SPI_result_code_string(rc));
	rows = SPI_processed;
	*ended = rows < (uint64) Min(budget, PURGE_SCAN_ROWS);
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
		last = version;
		n++;
	}
	if (n == 0)
		return 0;
	values[1] = Int64GetDatum(last);
	return (int64) es_delete_events(ES_PLAN_PURGE_EVENTS, values);
}

/*
 * es_purge(max_events, markers_before)
 *	 -> (events_removed bigint, markers_removed bigint, done boolean)
 *
 * Remove at most max_events (>= 1, NULL: 10000) events that retention or a
 * delete hides, and, when markers_before is given, feed markers ("$deleted",
 * "$forgotten") created before it, within the same budget.  done is false
 * when the budget ran out before the work did: call again.  Streams that
 * other transactions hold locked are skipped.  Runs in the caller's
 * transaction; es_store_admin only.
 */
PG_FUNCTION_INFO_V1(es_purge);
Datum
es_purge(PG_FUNCTION_ARGS)
{
	int64		budget = 10000;
	int64		removed = 0;
	int64		markers = 0;
	int64		from = PG_INT64_MIN;	/* stream ids are key hashes */
	bool		more_heads = true;
	bool		done = true;
	TupleDesc	desc;
	Datum		result[3];
	bool		result_nulls[3] = {false, false, false};
	PurgeHead	ph;
	EsGuard		guard;

	if (!PG_ARGISNULL(0))
	{
		budget = PG_GETARG_INT32(0);
		if (budget < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_events must be at least 1"),
					 errdetail("max_events was %lld.", (long long) budget)));
	}
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);

	es_guard_enter(&guard);
	SPI_connect();
	while (removed < budget && more_heads && next_head(from, &ph))
	{
		bool		ended = false;

		CHECK_FOR_INTERRUPTS();
		more_heads = ph.stream_id < PG_INT64_MAX;
		from = ph.stream_id + (more_heads ? 1 : 0);
		while (!ended && removed < budget)
		{
			CHECK_FOR_INTERRUPTS();
			removed += purge_stream(&ph, budget - removed, &ended);
		}
		if (!ended)
			done = false;
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
	if (removed >= budget)
		done = false;
	if (!PG_ARGISNULL(1) && removed < budget)
	{
		Datum		values[2];

		values[0] = PG_GETARG_DATUM(1);
		values[1] = Int64GetDatum(budget - removed);
		markers = (int64) es_delete_events(ES_PLAN_PURGE_MARKERS, values);
		if (markers >= budget - removed)
			done = false;
	}
	else if (!PG_ARGISNULL(1))
		done = false;
	SPI_finish();
	es_guard_leave(&guard);
	result[0] = Int64GetDatum(removed);
	result[1] = Int64GetDatum(markers);
	result[2] = BoolGetDatum(done);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, result, result_nulls)));
}
