/*-------------------------------------------------------------------------
 *
 * read.c
 *	  SQL entry points that read one aggregate: its events by version, its
 *	  current version, existence, and event count; and stream-name mapping.
 *
 * All are STABLE: they read with the caller's snapshot (SPI read-only, or
 * scan.c's index scans for the events of one aggregate) and take no locks
 * beyond AccessShareLock on the tables and their indexes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/builtins.h"

#include "es_store.h"

/*
 * Read events of key with version in [from, to] (arguments at argno,
 * argno + 1; NULL = open), at most max_count (argno + 2; NULL = all).
 */
static Datum
read_key(FunctionCallInfo fcinfo, EsStreamKey key, int argno)
{
	Datum		values[6];
	char		nulls[6] = "      ";
	int64		from = es_arg_nonnegative(fcinfo, argno, "from_version", 0);
	int64		to = es_arg_nonnegative(fcinfo, argno + 1, "to_version",
										PG_INT64_MAX);
	int64		max_count = es_check_max_count(fcinfo, argno + 2);
	EsGuard		guard;

	es_result_init(fcinfo);
	es_guard_enter(&guard);
	if (es_scan_read_aggregate(fcinfo, &key, from, to, max_count))
	{
		es_guard_leave(&guard);
		return (Datum) 0;
	}

	values[0] = key.bounded_context;
	values[1] = key.aggregate_type;
	values[2] = key.aggregate_id;
	values[3] = Int64GetDatum(from);
	values[4] = Int64GetDatum(to);
	values[5] = Int64GetDatum(max_count);
	if (max_count < 0)
		nulls[5] = 'n';			/* LIMIT NULL: no limit */
	SPI_connect();
	es_exec_into_srf(fcinfo, ES_PLAN_READ_AGGREGATE, values, nulls, true);
	SPI_finish();
	es_guard_leave(&guard);
	return (Datum) 0;
}

static int64
key_version(EsStreamKey key)
{
	Datum		values[3];

	values[0] = key.bounded_context;
	values[1] = key.aggregate_type;
	values[2] = key.aggregate_id;
	return es_query_int8(ES_PLAN_HEAD_VERSION, values, true, 0);
}

/*
 * es_read_aggregate(bounded_context, aggregate_type, aggregate_id,
 *					 from_version, to_version, max_count)
 *
 * Events of one aggregate ordered by version, versions from from_version to
 * to_version inclusive (NULL = open on that side; to read after version N,
 * pass from_version N + 1), at most max_count of them (NULL = all, else
 * >= 1).  Key parts must be non-NULL.  An unknown aggregate has no events.
 */
PG_FUNCTION_INFO_V1(es_read_aggregate);
Datum
es_read_aggregate(PG_FUNCTION_ARGS)
{
	return read_key(fcinfo, es_key_from_args(fcinfo, 0), 3);
}

/*
 * es_read_stream(stream_name, from_version, to_version, max_count)
 *
 * es_read_aggregate for the stream named by one string.
 */
PG_FUNCTION_INFO_V1(es_read_stream);
Datum
es_read_stream(PG_FUNCTION_ARGS)
{
	return read_key(fcinfo, es_key_from_stream_name(fcinfo, 0), 1);
}

/*
 * es_aggregate_version(bounded_context, aggregate_type, aggregate_id)
 *
 * The aggregate's current version: 0 when it has no events.
 */
PG_FUNCTION_INFO_V1(es_aggregate_version);
Datum
es_aggregate_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(key_version(es_key_from_args(fcinfo, 0)));
}

/*
 * es_stream_version(stream_name)
 *
 * es_aggregate_version for the stream named by one string.
 */
PG_FUNCTION_INFO_V1(es_stream_version);
Datum
es_stream_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(key_version(es_key_from_stream_name(fcinfo, 0)));
}

/*
 * es_aggregate_exists(bounded_context, aggregate_type, aggregate_id)
 *
 * True when the aggregate has at least one event.
 */
PG_FUNCTION_INFO_V1(es_aggregate_exists);
Datum
es_aggregate_exists(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(key_version(es_key_from_args(fcinfo, 0)) > 0);
}

/*
 * es_count_events(bounded_context, aggregate_type, aggregate_id,
 *				   from_version)
 *
 * How many events the aggregate has at version from_version or later
 * (NULL = from the start).
 */
PG_FUNCTION_INFO_V1(es_count_events);
Datum
es_count_events(PG_FUNCTION_ARGS)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	Datum		values[4];

	values[0] = key.bounded_context;
	values[1] = key.aggregate_type;
	values[2] = key.aggregate_id;
	values[3] = Int64GetDatum(es_arg_nonnegative(fcinfo, 3, "from_version", 0));
	PG_RETURN_INT64(es_query_int8(ES_PLAN_COUNT_EVENTS, values, true, 0));
}

/*
 * es_stream_key(stream_name) -> (bounded_context, aggregate_type,
 *								   aggregate_id)
 *
 * The composite key a stream name maps to: ('', the text before the first
 * "-" or the whole name, the whole name).  STRICT; an empty name is 22023.
 */
PG_FUNCTION_INFO_V1(es_stream_key);
Datum
es_stream_key(PG_FUNCTION_ARGS)
{
	EsStreamKey key = es_key_for_stream_name(PG_GETARG_TEXT_PP(0));
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	desc = es_row_desc(fcinfo);
	values[0] = key.bounded_context;
	values[1] = key.aggregate_type;
	values[2] = key.aggregate_id;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * es_read_event(event_id) -> SETOF es_store.event
 *
 * The event with this id (none, or one row), unless it is hidden (a
 * deleted stream, outside its retention; visibility.c).  A feed marker is
 * found by its id too.
 */
PG_FUNCTION_INFO_V1(es_read_event);
Datum
es_read_event(PG_FUNCTION_ARGS)
{
	Datum		values[1];
	EsGuard		guard;

	es_check_not_null(fcinfo, 0, "event_id");
	values[0] = PG_GETARG_DATUM(0);
	es_result_init(fcinfo);
	es_guard_enter(&guard);
	SPI_connect();
	es_exec_into_srf(fcinfo, ES_PLAN_READ_EVENT, values, NULL, true);
	SPI_finish();
	es_guard_leave(&guard);
	return (Datum) 0;
}

/*
 * es_read_aggregate_backward(bounded_context, aggregate_type, aggregate_id,
 *							  before_version, max_count)
 *
 * The aggregate's visible events below before_version (NULL: all), the
 * latest first, at most max_count (NULL: all, else >= 1): the last N
 * events of a stream.
 */
PG_FUNCTION_INFO_V1(es_read_aggregate_backward);
Datum
es_read_aggregate_backward(PG_FUNCTION_ARGS)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	int64		before = es_arg_nonnegative(fcinfo, 3, "before_version", PG_INT64_MAX);
	int64		max_count = es_check_max_count(fcinfo, 4);
	Datum		values[5];
	char		nulls[5] = "     ";
	EsGuard		guard;

	values[0] = key.bounded_context;
	values[1] = key.aggregate_type;
	values[2] = key.aggregate_id;
	values[3] = Int64GetDatum(before);
	values[4] = Int64GetDatum(max_count);
	if (max_count < 0)
		nulls[4] = 'n';			/* LIMIT NULL: no limit */
	es_result_init(fcinfo);
	es_guard_enter(&guard);
	SPI_connect();
	es_exec_into_srf(fcinfo, ES_PLAN_READ_AGGREGATE_BACKWARD, values, nulls, true);
	SPI_finish();
	es_guard_leave(&guard);
	return (Datum) 0;
}
