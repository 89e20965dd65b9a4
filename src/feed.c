/*-------------------------------------------------------------------------
 *
 * feed.c
 *	  SQL entry points for the global feed: a page of events after a
 *	  position, in position order, and the position the feed has reached.
 *
 * Every read first computes the safe bound B (registry.c: no event at or
 * below B can still appear), then takes a new snapshot with
 * GetLatestSnapshot and reads (after, B] with it, in every isolation level:
 * with scan.c's index scans for an unfiltered page, with the SQL statement
 * for a filtered one or where the scans do not apply.
 * The snapshot is taken after B, so every transaction that drew a position
 * <= B has ended and is visible to it: nothing at or below B is skipped.
 * Locks: AccessShareLock on the tables and the indexes read,
 * RowExclusiveLock on the position sequence (taken by reading its last
 * value) until the transaction ends, and the no-wait probes of registry.c.
 *
 * A standby cannot see the primary's appenders in flight, so the feed
 * refuses to run during recovery.  Serializable conflict detection does
 * not track reads made with a snapshot newer than the transaction's, so
 * read_feed refuses to run in a SERIALIZABLE transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "funcapi.h"
#include "utils/tuplestore.h"
#include "utils/array.h"
#include "utils/snapmgr.h"

#include "es_store.h"

/*
 * The feed functions refuse during recovery: a standby cannot see the
 * primary's appenders in flight, and the registry is never attached there
 * (registry.c).  what: "read the global feed", "list in-flight appends".
 */
void
es_check_not_in_recovery(const char *what)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s during recovery", what),
				 errdetail("The feed's safe position depends on appends in flight on the primary, which a standby cannot see."),
				 errhint("Call this function on the primary.")));
}

/* A text[] filter argument: NULL (no filter) or a one-dimensional array. */
static Datum
filter_arg(FunctionCallInfo fcinfo, int argno, const char *name, char *null)
{
	ArrayType  *arr;

	*null = 'n';
	if (PG_ARGISNULL(argno))
		return (Datum) 0;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name)));
	*null = ' ';
	return PointerGetDatum(arr);
}

/*
 * The bound a feed read (or a query read, dcb.c) after position "after"
 * reads up to: the safe position of the feed's position space "after" is
 * in (cluster.c) now, or the up_to_position argument at argno when the
 * function has it and it is not NULL, which must not be above the safe
 * position (22023): any value es_last_position returned earlier.
 */
int64
es_feed_bound(FunctionCallInfo fcinfo, int argno, int64 after)
{
	int64		bound = es_store_safe_bound_after(after);

	if (PG_NARGS() > argno && !PG_ARGISNULL(argno))
	{
		int64		up_to = es_arg_nonnegative(fcinfo, argno, "up_to_position", 0);

		if (up_to > bound)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("up_to_position %lld is beyond the feed's safe position %lld",
							(long long) up_to, (long long) bound),
					 errhint("Pass a value es_store.last_position() returned.")));
		bound = up_to;
	}
	return bound;
}

/*
 * es_read_feed(after_position, max_count, bounded_contexts, aggregate_types,
 *				event_types, segment, segment_count, up_to_position)
 *
 * Events with a global position above after_position (non-NULL, >= 0) and
 * at or below the feed's safe position, in position order, at most
 * max_count (non-NULL, >= 1).  The filters keep events whose bounded
 * context, aggregate type or event type is in the given array (NULL: no
 * filter).  segment k of segment_count n (0 <= k < n) keeps the aggregates
 * whose key hash is k modulo n.  up_to_position (NULL: the safe position
 * now) caps the read; it must not be above the safe position now (22023),
 * which holds for any value es_last_position returned earlier.
 *
 * Also serves the 0.1.0 SQL signature read_feed(bigint, integer):
 * PG_NARGS() tells which one called.
 */
PG_FUNCTION_INFO_V1(es_read_feed);
Datum
es_read_feed(PG_FUNCTION_ARGS)
{
	Datum		values[8];
	char		nulls[8] = "        ";
	EsFeedFilter filter = {{NULL, NULL, NULL}, 0, 1};
	EsGuard		guard;
	bool		filtered = false;
	int64		after;
	int64		bound;

	es_check_not_null(fcinfo, 0, "after_position");
	es_check_not_null(fcinfo, 1, "max_count");
	after = es_arg_nonnegative(fcinfo, 0, "after_position", 0);
	values[7] = Int64GetDatum(es_check_max_count(fcinfo, 1));

	if (PG_NARGS() >= 8)
	{
		int64		segment = PG_ARGISNULL(5) ? 0 : PG_GETARG_INT32(5);
		int64		segments = PG_ARGISNULL(6) ? 1 : PG_GETARG_INT32(6);

		values[2] = filter_arg(fcinfo, 2, "bounded_contexts", &nulls[2]);
		values[3] = filter_arg(fcinfo, 3, "aggregate_types", &nulls[3]);
		values[4] = filter_arg(fcinfo, 4, "event_types", &nulls[4]);
		if (segments < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("segment_count must be at least 1"),
					 errdetail("segment_count was %lld.", (long long) segments)));
		if (segment < 0 || segment >= segments)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("segment %lld is out of range for %lld segments",
							(long long) segment, (long long) segments),
					 errhint("Segments are numbered from 0 to segment_count - 1.")));
		values[5] = Int64GetDatum(segment);
		values[6] = Int64GetDatum(segments);
		filtered = nulls[2] == ' ' || nulls[3] == ' ' || nulls[4] == ' ' ||
			segments > 1;
		for (int f = 0; f < 3; f++)
		{
			if (nulls[2 + f] == ' ')
				filter.values[f] = DatumGetArrayTypeP(values[2 + f]);
		}
		filter.segment = segment;
		filter.segments = segments;
	}

	es_check_not_in_recovery("read the global feed");
	if (IsolationIsSerializable())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot read the global feed in a SERIALIZABLE transaction"),
				 errdetail("The feed reads with a snapshot taken after its safe position, and serializable conflict detection does not track such reads."),
				 errhint("Read the feed in a READ COMMITTED or REPEATABLE READ transaction.")));
	if (IsolationUsesXactSnapshot() && es_store_distributed())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot read the feed of a distributed store in a REPEATABLE READ transaction"),
				 errdetail("Citus reads every statement of such a transaction on a worker with the snapshot of its first one there, which may predate the feed's safe position."),
				 errhint("Read the feed in a READ COMMITTED transaction.")));
	es_guard_enter(&guard);
	bound = es_feed_bound(fcinfo, 7, after);

	es_result_init(fcinfo);
	if (bound <= after)
	{
		es_guard_leave(&guard);
		return (Datum) 0;
	}

	values[0] = Int64GetDatum(after);
	values[1] = Int64GetDatum(bound);
	PushActiveSnapshot(GetLatestSnapshot());
	if (!es_scan_read_feed(fcinfo, after, bound, DatumGetInt64(values[7]),
						   filtered ? &filter : NULL) &&
		!es_citus_read_feed(fcinfo, after, bound, DatumGetInt64(values[7]),
							filtered ? &filter : NULL))
	{
		int			nest = es_citus_feed_settings_push();

		SPI_connect();
		if (filtered)
			es_exec_into_srf(fcinfo, ES_PLAN_READ_FEED_FILTERED, values, nulls,
							 true);
		else
		{
			values[2] = values[7];
			es_exec_into_srf(fcinfo, ES_PLAN_READ_FEED, values, NULL, true);
		}
		SPI_finish();
		es_citus_feed_settings_pop(nest);
	}
	PopActiveSnapshot();
	es_guard_leave(&guard);
	return (Datum) 0;
}

/*
 * es_last_position()
 *
 * The feed's safe position: the highest position a feed read may return
 * now (0 when none).  It never decreases, and it may name a position no
 * event holds (burnt by a rollback).
 */
PG_FUNCTION_INFO_V1(es_last_position);
Datum
es_last_position(PG_FUNCTION_ARGS)
{
	int64		bound;
	EsGuard		guard;

	es_check_not_in_recovery("read the global feed");
	es_guard_enter(&guard);
	bound = es_store_safe_bound();
	es_guard_leave(&guard);
	PG_RETURN_INT64(bound);
}

/*
 * es_in_flight_appends() -> SETOF (pid integer, lowest_position bigint,
 *								   prepared boolean)
 *
 * The transactions of this database that have appended and not yet ended:
 * what holds the feed back.  pid is the backend's (join pg_stat_activity),
 * NULL for a prepared transaction (see pg_prepared_xacts).  The feed's safe
 * position is below the lowest lowest_position.  Takes no locks beyond the
 * no-wait probes of prepared transactions.
 */
PG_FUNCTION_INFO_V1(es_in_flight_appends);
Datum
es_in_flight_appends(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			max;
	int		   *pids;
	int64	   *lows;
	int			n;

	es_check_not_in_recovery("list in-flight appends");
	InitMaterializedSRF(fcinfo, 0);
	max = es_registry_capacity();
	pids = palloc(sizeof(int) * max);
	lows = palloc(sizeof(int64) * max);
	n = es_registry_in_flight(pids, lows, max);
	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(pids[i]);
		nulls[0] = pids[i] == 0;
		values[1] = Int64GetDatum(lows[i]);
		values[2] = BoolGetDatum(pids[i] == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
