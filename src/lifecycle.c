/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *	  SQL entry points that end a stream's life: soft delete (the stream is
 *	  absent until an append reopens it), and the markers that tell feed
 *	  consumers about it.
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
 * Everything runs in the caller's transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
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
			 errdetail("A forgotten stream keeps a tombstone that refuses every append.")));
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

	memset(&expectation, 0, sizeof(expectation));
	expectation.key = *key;
	es_check_expected_version(&expectation, fcinfo, argno);
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
		ereport(ERROR,
				(errcode(ERRCODE_ES_WRONG_EXPECTED_VERSION),
				 errmsg("wrong expected version for stream \"%s\"", key->display),
				 errdetail("Expected version %lld, but the current version is %lld.",
						   (long long) expectation.expected_version,
						   (long long) current)));
}

/*
 * Append a marker for key to the feed: event type type, payload
 * {"version": version}.  Returns its position.
 */
static int64
append_marker(const EsStreamKey *key, const char *type, int64 version)
{
	Datum		values[7];
	int64		position;
	int			rc;

	es_draw_positions(&position, 1);
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

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);

	es_guard_enter(&guard);
	SPI_connect();
	h = lock_head(&key);
	if (h.forgotten)
		es_raise_forgotten(&key);
	check_expected(fcinfo, 3, &key, (h.found && !h.deleted) ? h.version : 0);
	if (h.found && !h.deleted)
	{
		Datum		values[3];
		int			rc;
		bool		isnull;

		values[0] = Int64GetDatum(h.stream_id);
		rc = SPI_execute_plan(es_plan(ES_PLAN_SOFT_DELETE), values, NULL, false, 0);
		if (rc != SPI_OK_UPDATE || SPI_processed != 1)
			elog(ERROR, "es_store could not mark stream \"%s\" deleted", key.display);
		values[0] = key.bounded_context;
		values[1] = key.aggregate_type;
		values[2] = key.aggregate_id;
		(void) es_exec_scalar(ES_PLAN_SNAPSHOT_DELETE, values, NULL, false, &isnull);
		result[0] = Int64GetDatum(h.version);
		result[1] = Int64GetDatum(append_marker(&key, "$deleted", h.version));
		result_nulls[1] = false;
	}
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, result, result_nulls)));
}
