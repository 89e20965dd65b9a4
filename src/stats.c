/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  SQL entry points for statistics: of one aggregate (exact, read with
 *	  the caller's snapshot), and of the whole store (cheap enough to call
 *	  every few seconds: row counts are the planner's estimates, sizes and
 *	  positions exact).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "es_store.h"

/*
 * es_aggregate_stats(bounded_context, aggregate_type, aggregate_id)
 *	 -> SETOF es_store.aggregate_stats
 *
 * One row when the aggregate has a head row (deleted and forgotten ones
 * too, at version 0 with no events, as reads see them), none otherwise.
 * The event count and first version count the visible events: the cost
 * grows with the aggregate's events.
 */
PG_FUNCTION_INFO_V1(es_aggregate_stats);
Datum
es_aggregate_stats(PG_FUNCTION_ARGS)
{
	return es_key_srf(fcinfo, ES_PLAN_AGGREGATE_STATS);
}

/*
 * es_store_stats() -> es_store.store_stats
 *
 * events and aggregates (estimates: the density of the tables' last VACUUM
 * or ANALYZE times their pages now; NULL before the first), the feed's
 * safe position (NULL during recovery, where the feed refuses), the last
 * position drawn (an upper bound of the positions stored; NULL before the
 * first append), and the bytes of the events and heads tables (with their
 * TOAST) and of their indexes, and of all es_store's tables together.
 */
PG_FUNCTION_INFO_V1(es_store_stats);
Datum
es_store_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[9];
	int64		n[9] = {0};
	bool		nulls[9];
	EsGuard		guard;
	int			rc;

	desc = es_row_desc(fcinfo);

	es_guard_enter(&guard);
	SPI_connect();
	rc = SPI_execute_plan(es_plan(ES_PLAN_STORE_STATS), NULL, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "es_store store stats failed: %s", SPI_result_code_string(rc));
	/*
	 * the query's columns (the safe position a placeholder), taken out of
	 * SPI's memory (an int8 is a pointer where it is not passed by value)
	 */
	for (int i = 0; i < 9; i++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, i + 1, &nulls[i]);

		n[i] = nulls[i] ? 0 : DatumGetInt64(d);
	}
	SPI_finish();
	for (int i = 0; i < 9; i++)
		values[i] = Int64GetDatum(n[i]);
	nulls[2] = RecoveryInProgress();
	if (!nulls[2])
		values[2] = Int64GetDatum(es_store_safe_bound());
	es_guard_leave(&guard);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
