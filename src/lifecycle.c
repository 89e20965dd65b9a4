/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *	  SQL entry points that end a stream's life: soft delete (the stream is
 *	  absent until an append reopens it), forget (its events removed), and
 *	  the markers that tell feed consumers about both.
 *
 * A soft delete, and why it holds under concurrency:
 *	- It locks the aggregate's head row FOR UPDATE: it waits for appends
 *	  (FOR NO KEY UPDATE) and snapshot saves (FOR KEY SHARE) in flight and
 *	  they for it, so the expected version is checked against the latest
 *	  committed version, and no snapshot saved before the delete commits
 *	  survives it.
 *	- It marks the head deleted, sets truncate_before past the last version
 *	  and filtered (visibility.c hides every stored event of the stream from
 *	  reads and the feed that start after it commits), deletes the
 *	  aggregate's snapshot, and appends a marker to the feed: a row of
 *	  stream id 0 with the aggregate's key, event type "$deleted", event
 *	  version 0 and the deleted version in its payload, at a position drawn
 *	  as an append draws one (registry.c holds the feed below it until the
 *	  delete ends).
 *	- An append then finds the stream absent (expected version 0 or any
 *	  reopen it, versions going on after the last one; heads.c, direct.c).
 *
 * A forget locks the head row the same way, then deletes the stream's
 * events, the markers of its key and its snapshot, and leaves a tombstone
 * (forgotten_at set: appends fail with SE003) or no head row at all (the
 * key is new again), and appends a "$forgotten" marker.  The deletes are
 * statements on events that the append-only trigger lets through only
 * while es_delete_events runs them.  The feed never stalls on the hole
 * and never goes back: positions are not drawn again, and a consumer whose
 * checkpoint lies in the hole reads on after it.
 *
 * Everything runs in the caller's transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "utils/snapmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "es_store.h"

/* Raise SE003: the stream was forgotten, and its tombstone takes no append. */
void
es_raise_forgotten(const EsStreamKey *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_ES_STREAM_DELETED),
			 errmsg("stream \"%s\" was forgotten", key->display),
			 errdetail("A forgotten stream keeps a tombstone that takes no append, delete, snapshot or metadata."),
			 errhint("Use another key for new events; forget_aggregate with keep_tombstone => false leaves no tombstone, so that a key can be used again.")));
}

/*
 * Set by es_delete_events for its statement: the append-only trigger lets
 * that one statement pass, and clears it (es_store.c)
 */
bool		es_event_delete_running = false;

/*
 * Run the DELETE statement id (of events) with values, past the
 * append-only trigger.  Returns the rows deleted.  Connected to SPI.
 */
uint64
es_delete_events(EsPlanId id, Datum *values)
{
	volatile int rc = 0;

	Assert(!es_event_delete_running);
	es_event_delete_running = true;
	PG_TRY();
	{
		rc = SPI_execute_plan(es_plan(id), values, NULL, false, 0);
	}
	PG_FINALLY();
	{
		es_event_delete_running = false;
	}
	PG_END_TRY();
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "es_store event delete %d failed: %s", (int) id,
			 SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * Raise 09000: a trigger of someone else's on aggregate_heads skipped the
 * change of the head row of key that a lifecycle function made (only the
 * table's owner can have made such a trigger).
 */
void
es_raise_head_skipped(const EsStreamKey *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
			 errmsg("a trigger on es_store.aggregate_heads skipped the change to stream \"%s\"",
					key->display),
			 errhint("es_store must write its head rows: drop the trigger, or let it return the row.")));
}

/* The head row of key locked FOR UPDATE, with its state */
typedef struct LockedHead
{
	bool		found;
	int64		stream_id;
	int64		version;
	bool		deleted;
	bool		forgotten;
} LockedHead;

static LockedHead
lock_head(const EsStreamKey *key)
{
	LockedHead	h = {false, 0, 0, false, false};
	Datum		values[3];
	int			rc;
	bool		isnull;

	values[0] = key->bounded_context;
	values[1] = key->aggregate_type;
	values[2] = key->aggregate_id;
	rc = SPI_execute_plan(es_plan(ES_PLAN_LOCK_HEAD), values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store head lock failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		h.found = true;
		h.stream_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		h.version = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		h.deleted = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		h.forgotten = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
	}
	return h;
}

/*
 * The version an expectation meets: 0 for an absent, deleted or forgotten
 * stream, and for a head row at version 0 (set_stream_metadata before any
 * append)
 */
static int64
live_version(const LockedHead *h)
{
	return (h->found && !h->deleted && !h->forgotten) ? h->version : 0;
}

/* The expected version argument at argno, checked (22023 below -1) */
static void
parse_expected(FunctionCallInfo fcinfo, int argno, const EsStreamKey *key,
			   EsBatch *expectation)
{
	memset(expectation, 0, sizeof(EsBatch));
	expectation->key = *key;
	es_check_expected_version(expectation, fcinfo, argno);
}

/*
 * Check the expected version (the argument at argno, read as an append
 * reads it: es_check_expected_version) against current, the version an
 * expectation meets (0 for an absent or deleted stream): SE001 otherwise,
 * as an append reports it.
 */
static void
check_expected(FunctionCallInfo fcinfo, int argno, const EsStreamKey *key,
			   int64 current)
{
	EsBatch		expectation;
	bool		matches;

	parse_expected(fcinfo, argno, key, &expectation);
	switch (expectation.expect)
	{
		case ES_EXPECT_ANY:
			return;
		case ES_EXPECT_EXISTS:
			matches = current > 0;
			break;
		default:
			matches = current == expectation.expected_version;
			break;
	}
	if (!matches)
		es_raise_wrong_version(key, expectation.expect,
							   expectation.expected_version, current);
}

/*
 * Delete the snapshot of the key in values, as the latest snapshot of the
 * database sees it: a save commits no change to the head row, so under
 * REPEATABLE READ the transaction's own snapshot could miss one committed
 * after it was taken, and leave it to outlive the stream.  No save of the
 * key is in flight: each holds the head row locked, which the caller
 * holds FOR UPDATE.
 */
static void
delete_snapshot(Datum *values)
{
	int			rc;

	rc = SPI_execute_snapshot(es_plan(ES_PLAN_SNAPSHOT_DELETE), values, NULL,
							  GetLatestSnapshot(), InvalidSnapshot, false,
							  false, 0);
	if (rc != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "es_store snapshot delete failed: %s", SPI_result_code_string(rc));
}

/*
 * Append a marker for key to the feed: event type type, payload
 * {"version": version}.  Returns its position.
 */
int64
es_append_marker(const EsStreamKey *key, const char *type, int64 version)
{
	Datum		values[7];
	int64		position;
	uint64		scope;
	int			rc;

	scope = es_type_scope(PointerGetDatum(cstring_to_text(type)));
	es_draw_positions(&position, 1, &scope, 1);
	values[0] = Int64GetDatum(position);
	values[1] = key->bounded_context;
	values[2] = key->aggregate_type;
	values[3] = key->aggregate_id;
	values[4] = es_random_uuid();
	values[5] = CStringGetTextDatum(type);
	values[6] = DirectFunctionCall1(jsonb_in,
									CStringGetDatum(psprintf("{\"version\": %lld}",
															 (long long) version)));
	rc = SPI_execute_plan(es_plan(ES_PLAN_INSERT_MARKER), values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "es_store marker insert failed: %s", SPI_result_code_string(rc));
	return position;
}

/*
 * es_delete_aggregate(bounded_context, aggregate_type, aggregate_id,
 *					   expected_version)
 *	 -> (deleted_version bigint, global_position bigint)
 *
 * Soft-delete the aggregate: afterwards reads, existence and the feed
 * treat it as absent, and an append with expected version 0 or any reopens
 * it, its versions going on after deleted_version.  expected_version as
 * for an append, checked against the aggregate as an append sees it (an
 * absent or deleted aggregate is at 0).  Deleting an absent or deleted
 * aggregate changes nothing and returns (0, NULL); otherwise returns the
 * last version and the position of the feed's "$deleted" marker.  A
 * forgotten aggregate is SE003.
 */
PG_FUNCTION_INFO_V1(es_delete_aggregate);
Datum
es_delete_aggregate(PG_FUNCTION_ARGS)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	TupleDesc	desc;
	LockedHead	h;
	Datum		result[2] = {Int64GetDatum(0), (Datum) 0};
	bool		result_nulls[2] = {false, true};
	EsGuard		guard;

	desc = es_row_desc(fcinfo);

	es_guard_enter(&guard);
	SPI_connect();
	h = lock_head(&key);
	if (h.forgotten)
		es_raise_forgotten(&key);
	check_expected(fcinfo, 3, &key, live_version(&h));
	if (live_version(&h) > 0)
	{
		Datum		values[3];
		int			rc;

		values[0] = Int64GetDatum(h.stream_id);
		values[1] = key.aggregate_id;	/* on Citus: the shard (plans.c) */
		rc = SPI_execute_plan(es_plan(ES_PLAN_SOFT_DELETE), values, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "es_store soft delete failed: %s", SPI_result_code_string(rc));
		if (SPI_processed != 1)
			es_raise_head_skipped(&key);
		values[0] = key.bounded_context;
		values[1] = key.aggregate_type;
		values[2] = key.aggregate_id;
		delete_snapshot(values);
		result[0] = Int64GetDatum(h.version);
		result[1] = Int64GetDatum(es_append_marker(&key, "$deleted", h.version));
		result_nulls[1] = false;
	}
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, result, result_nulls)));
}

/*
 * es_forget_aggregate(bounded_context, aggregate_type, aggregate_id,
 *					   expected_version, keep_tombstone)
 *	 -> (forgotten_version bigint, events_removed bigint,
 *		 global_position bigint)
 *
 * Remove the aggregate's events, its snapshot, its metadata and the feed
 * markers of its key, and append a "$forgotten" marker.  keep_tombstone
 * (NULL: true) leaves the head row as a tombstone that refuses appends
 * (SE003); false removes it, so the key can be used again, as new.
 * expected_version as for delete_aggregate (a deleted aggregate is at 0).
 * An absent or already forgotten aggregate is not an error: it returns (0,
 * 0, NULL), whatever the expected version (a retry finds the work done),
 * and with keep_tombstone false removes a tombstone left earlier.
 */
PG_FUNCTION_INFO_V1(es_forget_aggregate);
Datum
es_forget_aggregate(PG_FUNCTION_ARGS)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	bool		keep_tombstone = PG_ARGISNULL(4) || PG_GETARG_BOOL(4);
	TupleDesc	desc;
	LockedHead	h;
	bool		had_events;
	Datum		result[3] = {Int64GetDatum(0), Int64GetDatum(0), (Datum) 0};
	bool		result_nulls[3] = {false, false, true};
	EsGuard		guard;
	Datum		values[3];
	int			rc;

	desc = es_row_desc(fcinfo);

	es_guard_enter(&guard);
	SPI_connect();
	h = lock_head(&key);
	/* a head row at version 0 (set_stream_metadata) never had events */
	had_events = h.found && !h.forgotten && h.version > 0;
	if (had_events)
	{
		check_expected(fcinfo, 3, &key, live_version(&h));
		values[0] = Int64GetDatum(h.stream_id);
		values[1] = key.aggregate_id;	/* on Citus: the shard (plans.c) */
		result[1] = Int64GetDatum((int64) es_delete_events(ES_PLAN_FORGET_EVENTS,
														   values));
		values[0] = key.bounded_context;
		values[1] = key.aggregate_type;
		values[2] = key.aggregate_id;
		(void) es_delete_events(ES_PLAN_FORGET_MARKERS, values);
		delete_snapshot(values);
		result[0] = Int64GetDatum(h.version);
	}
	else
	{
		EsBatch		expectation;

		parse_expected(fcinfo, 3, &key, &expectation);
	}
	if (h.found && (!h.forgotten || !keep_tombstone))
	{
		values[0] = Int64GetDatum(h.stream_id);
		values[1] = key.aggregate_id;	/* on Citus: the shard (plans.c) */
		rc = SPI_execute_plan(es_plan(keep_tombstone ? ES_PLAN_TOMBSTONE :
									  ES_PLAN_DELETE_HEAD),
							  values, NULL, false, 0);
		if (rc != SPI_OK_UPDATE && rc != SPI_OK_DELETE)
			elog(ERROR, "es_store forget failed: %s", SPI_result_code_string(rc));
		if (SPI_processed != 1)
			es_raise_head_skipped(&key);
	}
	if (had_events)
	{
		result[2] = Int64GetDatum(es_append_marker(&key, "$forgotten", h.version));
		result_nulls[2] = false;
	}
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, result, result_nulls)));
}
