/*-------------------------------------------------------------------------
 *
 * feed.c
 *	  SQL entry points for the global feed: a page of events after a
 *	  position, in position order, and the position the feed has reached.
 *
 * The feed functions are VOLATILE so that, in READ COMMITTED, each runs its
 * query with a snapshot taken when the query starts, after the bound on
 * readable positions has been computed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"

#include "es_store.h"

/*
 * es_read_feed(after_position, max_count)
 *
 * Events with a global position above after_position (non-NULL, >= 0), in
 * position order, at most max_count (non-NULL, >= 1).  Takes no locks
 * beyond AccessShareLock on the tables.
 */
PG_FUNCTION_INFO_V1(es_read_feed);
Datum
es_read_feed(PG_FUNCTION_ARGS)
{
	Datum		values[2];

	es_check_not_null(fcinfo, 0, "after_position");
	es_check_not_null(fcinfo, 1, "max_count");
	values[0] = Int64GetDatum(es_arg_nonnegative(fcinfo, 0, "after_position", 0));
	values[1] = Int64GetDatum(es_check_max_count(fcinfo, 1));

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	SPI_connect();
	es_exec_into_srf(fcinfo, ES_PLAN_READ_FEED, values, NULL, false);
	SPI_finish();
	return (Datum) 0;
}

/*
 * es_last_position()
 *
 * The highest global position a feed read can return now; 0 when there
 * are no events.
 */
PG_FUNCTION_INFO_V1(es_last_position);
Datum
es_last_position(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(es_query_int8(ES_PLAN_LAST_POSITION, NULL, false, 0));
}
