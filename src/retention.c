/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  SQL entry points for a stream's retention and metadata.
 *
 * Retention hides events from reads and the feed (visibility.c): those
 * below truncate_before, all but the last max_count versions, those older
 * than max_age.  Setting it sets the head's filtered flag, which only the
 * purge (purge.c) clears, once nothing the head could hide is stored.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "es_store.h"

/*
 * Longest max_age: now() minus it must stay a valid timestamp for every
 * read, whenever it runs.
 */
#define MAX_AGE_YEARS 1000

/* The function's result row (es_store.stream_metadata) from an SPI row */
static Datum
form_metadata(FunctionCallInfo fcinfo, HeapTuple tup, TupleDesc spi_desc)
{
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4];

	desc = es_row_desc(fcinfo);
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
