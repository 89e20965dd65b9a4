/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *	  SQL entry points for snapshots: one per aggregate, saved, loaded and
 *	  deleted, and an aggregate loaded for rehydration (its snapshot and
 *	  the events after it) in one call.
 *
 * A snapshot is keyed by the aggregate's key and covers one of its
 * versions.  Rules, and why they hold under concurrency:
 *	- A save is refused (SE006) for a version the aggregate does not have
 *	  (above its current version), checked against the head row locked
 *	  FOR KEY SHARE: appends (FOR NO KEY UPDATE) go on meanwhile, and only
 *	  grow the version; what removes an aggregate locks its head row FOR
 *	  UPDATE and so waits for the save's transaction to end, and the save
 *	  for it, so no snapshot outlives the aggregate it belongs to.
 *	- An older snapshot never replaces a newer one: the upsert
 *	  (ES_PLAN_SNAPSHOT_SAVE) updates the stored row only when it covers a
 *	  version at or below the new one, and INSERT .. ON CONFLICT DO UPDATE
 *	  evaluates that against the latest committed row, after waiting for a
 *	  concurrent saver of the same aggregate.  Whatever the commit order,
 *	  the snapshot of the highest version is the one left; a save that
 *	  loses returns saved = false and the version stored.  At equal
 *	  versions the later save replaces the earlier (a retry, or a new
 *	  snapshot schema version of the same state).
 *	- A load reads with the caller's snapshot; load_aggregate reads the
 *	  snapshot row and the events after it with the same one, so the two
 *	  are consistent.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "es_store.h"

/*
 * es_save_snapshot(bounded_context, aggregate_type, aggregate_id,
 *					aggregate_version, payload, metadata, snapshot_version)
 *	 -> (saved boolean, stored_version bigint)
 *
 * Save the aggregate's snapshot at aggregate_version (1 to the aggregate's
 * current version), unless one of a higher version is stored.  payload is
 * jsonb, or bytea for es_save_snapshot_bytes; metadata a JSON object
 * (NULL: {}); snapshot_version the snapshot's schema version (>= 1, NULL:
 * 1).  Returns whether it was saved and the version stored after the call.
 */
static Datum
save_snapshot(FunctionCallInfo fcinfo, bool bytes)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	int64		version;
	int32		snapshot_version = 1;
	Datum		payload;
	Datum		metadata;
	Jsonb	   *meta;
	Size		size;
	Datum		values[8];
	char		nulls[8] = "        ";
	bool		isnull;
	int64		current;
	bool		saved;
	int64		stored;
	TupleDesc	desc;
	Datum		result[2];
	bool		result_nulls[2] = {false, false};
	EsGuard		guard;

	es_check_not_null(fcinfo, 3, "aggregate_version");
	es_check_not_null(fcinfo, 4, "payload");
	version = PG_GETARG_INT64(3);
	if (version < 1 || version > ES_MAX_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid snapshot version %lld for stream \"%s\"",
						(long long) version, key.display),
				 errdetail("A snapshot covers an aggregate version from 1 to %lld.",
						   (long long) ES_MAX_VERSION)));
	if (!PG_ARGISNULL(6))
		snapshot_version = PG_GETARG_INT32(6);
	if (snapshot_version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid snapshot schema version %d for stream \"%s\"",
						snapshot_version, key.display),
				 errdetail("A snapshot's schema version (snapshot_version) must be at least 1.")));
	payload = PG_GETARG_DATUM(4);
	metadata = PG_ARGISNULL(5) ? es_empty_object() : PG_GETARG_DATUM(5);
	meta = DatumGetJsonbP(metadata);
	if (!JB_ROOT_IS_OBJECT(meta) || JB_ROOT_IS_SCALAR(meta))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("snapshot metadata must be a JSON object for stream \"%s\"",
						key.display)));
	size = toast_raw_datum_size(payload) + toast_raw_datum_size(metadata);
	if (size > (Size) es_max_snapshot_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("snapshot is too large for stream \"%s\"", key.display),
				 errdetail("The snapshot takes %zu bytes of payload and metadata; the limit (es_store.max_snapshot_bytes) is %d.",
						   size, es_max_snapshot_bytes)));

	desc = es_row_desc(fcinfo);

	es_guard_enter(&guard);
	SPI_connect();
	values[0] = key.bounded_context;
	values[1] = key.aggregate_type;
	values[2] = key.aggregate_id;
	current = DatumGetInt64(es_exec_scalar(ES_PLAN_SNAPSHOT_HEAD, values, NULL,
										   false, &isnull));
	if (isnull)
		current = 0;
	if (current < 0)
		es_raise_forgotten(&key);
	if (version > current)
		ereport(ERROR,
				(errcode(ERRCODE_ES_SNAPSHOT_AHEAD),
				 errmsg("snapshot of stream \"%s\" is ahead of the stream", key.display),
				 errdetail("The snapshot covers version %lld, but the current version is %lld.",
						   (long long) version, (long long) current),
				 errhint("Save a snapshot of a version the aggregate has reached.")));

	values[3] = Int64GetDatum(version);
	values[4] = Int32GetDatum(snapshot_version);
	values[5] = bytes ? (Datum) 0 : payload;
	nulls[5] = bytes ? 'n' : ' ';
	values[6] = bytes ? payload : (Datum) 0;
	nulls[6] = bytes ? ' ' : 'n';
	values[7] = metadata;
	stored = DatumGetInt64(es_exec_scalar(ES_PLAN_SNAPSHOT_SAVE, values, nulls,
										  false, &isnull));
	saved = !isnull;
	if (!saved)
	{
		/* a newer snapshot is stored (and locked by the upsert) */
		stored = DatumGetInt64(es_exec_scalar(ES_PLAN_SNAPSHOT_STORED, values,
											  NULL, false, &isnull));
		Assert(!isnull);
	}
	SPI_finish();
	es_guard_leave(&guard);

	result[0] = BoolGetDatum(saved);
	result[1] = Int64GetDatum(stored);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, result, result_nulls)));
}

PG_FUNCTION_INFO_V1(es_save_snapshot);
Datum
es_save_snapshot(PG_FUNCTION_ARGS)
{
	return save_snapshot(fcinfo, false);
}

/* es_save_snapshot with a bytea payload (es_store.save_snapshot_bytes) */
PG_FUNCTION_INFO_V1(es_save_snapshot_bytes);
Datum
es_save_snapshot_bytes(PG_FUNCTION_ARGS)
{
	return save_snapshot(fcinfo, true);
}

/* The snapshot_version argument at argno: NULL (any), or >= 1 (22023) */
static void
snapshot_version_arg(FunctionCallInfo fcinfo, int argno, Datum *value,
					 char *null)
{
	*null = 'n';
	*value = (Datum) 0;
	if (PG_ARGISNULL(argno))
		return;
	if (PG_GETARG_INT32(argno) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid snapshot schema version %d", PG_GETARG_INT32(argno)),
				 errdetail("A snapshot's schema version (snapshot_version) must be at least 1.")));
	*value = PG_GETARG_DATUM(argno);
	*null = ' ';
}

/*
 * es_load_snapshot(bounded_context, aggregate_type, aggregate_id,
 *					snapshot_version) -> SETOF es_store.snapshot
 *
 * The aggregate's snapshot (none, or one row), only of the given schema
 * version when one is given.
 */
PG_FUNCTION_INFO_V1(es_load_snapshot);
Datum
es_load_snapshot(PG_FUNCTION_ARGS)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	Datum		values[4];
	char		nulls[4] = "    ";
	EsGuard		guard;

	snapshot_version_arg(fcinfo, 3, &values[3], &nulls[3]);
	es_result_init(fcinfo);
	values[0] = key.bounded_context;
	values[1] = key.aggregate_type;
	values[2] = key.aggregate_id;
	es_guard_enter(&guard);
	SPI_connect();
	es_exec_into_srf(fcinfo, ES_PLAN_SNAPSHOT_LOAD, values, nulls, true);
	SPI_finish();
	es_guard_leave(&guard);
	return (Datum) 0;
}

/*
 * es_delete_snapshot(bounded_context, aggregate_type, aggregate_id)
 *
 * Delete the aggregate's snapshot; whether there was one.
 */
PG_FUNCTION_INFO_V1(es_delete_snapshot);
Datum
es_delete_snapshot(PG_FUNCTION_ARGS)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	Datum		values[3];
	bool		isnull;
	EsGuard		guard;

	values[0] = key.bounded_context;
	values[1] = key.aggregate_type;
	values[2] = key.aggregate_id;
	es_guard_enter(&guard);
	SPI_connect();
	(void) es_exec_scalar(ES_PLAN_SNAPSHOT_DELETE, values, NULL, false, &isnull);
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_BOOL(!isnull);
}

/*
 * es_store.aggregate_row's columns: es_store.event's, then
 * snapshot_version; before 0.4.0, without tags (the column before it).
 */
#define ROW_NCOLS				(EVENT_NCOLS_OUT + 1)

/*
 * es_load_aggregate(bounded_context, aggregate_type, aggregate_id,
 *					 snapshot_version) -> SETOF es_store.aggregate_row
 *
 * What rehydrating the aggregate needs, in one result: its snapshot (of
 * the given schema version, when one is given) as the first row, marked by
 * a non-NULL snapshot_version, then the events after the version it covers
 * in version order; without a snapshot, all the events.  The snapshot row
 * has the key, the version it covers, its payload, metadata and time, and
 * NULL in the other columns.  Reads with the caller's snapshot, once for
 * both.
 */
PG_FUNCTION_INFO_V1(es_load_aggregate);
Datum
es_load_aggregate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	Datum		values[6];
	char		nulls[6] = "      ";
	int64		from = 1;
	int			rc;
	int			snapshot_column;
	EsGuard		guard;

	snapshot_version_arg(fcinfo, 3, &values[3], &nulls[3]);
	es_result_init(fcinfo);
	if (rsinfo->setDesc->natts != ROW_NCOLS &&
		rsinfo->setDesc->natts != ROW_NCOLS - 1)
		elog(ERROR, "es_store.load_aggregate must return es_store.aggregate_row");
	snapshot_column = rsinfo->setDesc->natts - 1;
	values[0] = key.bounded_context;
	values[1] = key.aggregate_type;
	values[2] = key.aggregate_id;
	es_guard_enter(&guard);
	SPI_connect();
	rc = SPI_execute_plan(es_plan(ES_PLAN_SNAPSHOT_LOAD), values, nulls, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store snapshot lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	sdesc = SPI_tuptable->tupdesc;
		Datum		row[ROW_NCOLS];
		bool		row_nulls[ROW_NCOLS];
		bool		isnull;

		for (int i = 0; i < ROW_NCOLS; i++)
			row_nulls[i] = true;
		row[EVENT_BOUNDED_CONTEXT] = key.bounded_context;
		row[EVENT_AGGREGATE_TYPE] = key.aggregate_type;
		row[EVENT_AGGREGATE_ID] = key.aggregate_id;
		row_nulls[EVENT_BOUNDED_CONTEXT] = false;
		row_nulls[EVENT_AGGREGATE_TYPE] = false;
		row_nulls[EVENT_AGGREGATE_ID] = false;
		/* the columns of ES_PLAN_SNAPSHOT_LOAD, in its order */
		row[EVENT_AGGREGATE_VERSION] = SPI_getbinval(tup, sdesc, 1, &isnull);
		row_nulls[EVENT_AGGREGATE_VERSION] = isnull;
		row[snapshot_column] = SPI_getbinval(tup, sdesc, 2, &isnull);
		row_nulls[snapshot_column] = isnull;
		row[EVENT_PAYLOAD] = SPI_getbinval(tup, sdesc, 3, &row_nulls[EVENT_PAYLOAD]);
		row[EVENT_PAYLOAD_BYTES] = SPI_getbinval(tup, sdesc, 4,
												 &row_nulls[EVENT_PAYLOAD_BYTES]);
		row[EVENT_METADATA] = SPI_getbinval(tup, sdesc, 5, &row_nulls[EVENT_METADATA]);
		row[EVENT_CREATED_AT] = SPI_getbinval(tup, sdesc, 6, &row_nulls[EVENT_CREATED_AT]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, row_nulls);
		from = DatumGetInt64(row[EVENT_AGGREGATE_VERSION]) + 1;
	}

	if (!es_scan_read_aggregate(fcinfo, &key, from, PG_INT64_MAX, -1))
	{
		values[3] = Int64GetDatum(from);
		values[4] = Int64GetDatum(PG_INT64_MAX);
		nulls[3] = ' ';
		nulls[5] = 'n';			/* LIMIT NULL: all */
		es_exec_into_srf(fcinfo, ES_PLAN_READ_AGGREGATE_ROWS, values, nulls, true);
	}
	SPI_finish();
	es_guard_leave(&guard);
	return (Datum) 0;
}
