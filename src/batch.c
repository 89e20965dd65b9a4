/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  The append core: validate a batch, check and advance the head row,
 *	  draw global positions, insert the events, recognise retries.
 *
 * Order of work in es_append_batch, and why:
 *	1. Validate everything that needs no data (sizes, types, metadata), so
 *	   bad input fails before any lock or write.
 *	2. With caller-supplied event ids, look for the ids first: a retry of a
 *	   stored append (the whole append, in its order, with its content,
 *	   find_stored_append) returns the stored result, whatever version it
 *	   expects, without locking or writing anything; any other use of a
 *	   stored id is SE002.
 *	3. Check and advance the head row in one step (direct.c for an existing
 *	   row under READ COMMITTED, else one statement, heads.c).  A loser
 *	   fails here with SE001, before any global position is drawn, and its
 *	   error rolls the (unwritten) attempt back: it leaves no trace.  With
 *	   caller-supplied ids, an append to the stream that committed while
 *	   we waited for its row (maybe the original of this retry) makes us
 *	   look for the ids again, before any position is drawn.
 *	4. Register in the appender registry (so the feed holds back at our
 *	   positions until we end), draw one global position per event from
 *	   es_store.global_position_seq, in batch order, and insert the events
 *	   (direct.c when the ids were generated here).
 *	   With es_store.notify_channel set, ask for a NOTIFY at commit
 *	   (registry.c sends it then, so PREPARE TRANSACTION still works).
 *	5. With caller-supplied ids, before drawing positions, wait for any
 *	   append in flight that inserts one of them (another stream's: it holds
 *	   no lock we wait for) and look again.  The insert still skips ids that
 *	   are already stored (ON CONFLICT DO NOTHING), for what remains: an
 *	   inserter that began after that wait.  If any was skipped, the append is either
 *	   a retry whose original committed while we waited (then the advance is
 *	   taken back and the original result returned) or a real duplicate
 *	   (SE002, and the error discards everything this append wrote).
 *
 * Everything runs in the caller's transaction; nothing here commits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "catalog/pg_type_d.h"
#include "commands/sequence.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

#include "es_store.h"

EsBatch *
es_batch_new(int nevents)
{
	EsBatch    *b = palloc0(sizeof(EsBatch));

	b->nevents = nevents;
	b->event_ids = palloc0(sizeof(Datum) * nevents);
	b->event_id_nulls = palloc(sizeof(bool) * nevents);
	b->event_types = palloc0(sizeof(Datum) * nevents);
	b->event_versions = palloc0(sizeof(Datum) * nevents);
	b->payloads = palloc0(sizeof(Datum) * nevents);
	b->payload_bytes = palloc0(sizeof(Datum) * nevents);
	b->metadata = palloc0(sizeof(Datum) * nevents);
	b->correlation_ids = palloc0(sizeof(Datum) * nevents);
	b->correlation_nulls = palloc(sizeof(bool) * nevents);
	b->causation_ids = palloc0(sizeof(Datum) * nevents);
	b->causation_nulls = palloc(sizeof(bool) * nevents);
	b->trace_ids = palloc0(sizeof(Datum) * nevents);
	b->trace_nulls = palloc(sizeof(bool) * nevents);
	b->tags = palloc0(sizeof(Datum) * nevents);
	for (int i = 0; i < nevents; i++)
	{
		b->event_id_nulls[i] = true;
		b->event_versions[i] = Int32GetDatum(1);
		b->correlation_nulls[i] = true;
		b->causation_nulls[i] = true;
		b->trace_nulls[i] = true;
	}
	return b;
}

static int
event_id_cmp(const void *a, const void *b)
{
	return memcmp(DatumGetUUIDP(*(const Datum *) a),
				  DatumGetUUIDP(*(const Datum *) b), UUID_LEN);
}

static void
check_distinct_ids(EsBatch *b)
{
	Datum	   *sorted;
	int			n = 0;

	sorted = palloc(sizeof(Datum) * b->nevents);
	for (int i = 0; i < b->nevents; i++)
		if (!b->event_id_nulls[i])
			sorted[n++] = b->event_ids[i];
	qsort(sorted, n, sizeof(Datum), event_id_cmp);
	for (int i = 1; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (event_id_cmp(&sorted[i - 1], &sorted[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event id %s appears more than once in the batch for stream \"%s\"",
							es_uuid_out(sorted[i]), b->key.display)));
	}
	pfree(sorted);
}

/* '{}'::jsonb, built once per backend (the default metadata) */
Datum
es_empty_object(void)
{
	static Datum empty = (Datum) 0;

	if (empty == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		empty = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
		MemoryContextSwitchTo(old);
	}
	return empty;
}

/*
 * What event i counts against es_store.max_event_bytes: its event type,
 * payload (jsonb or bytea), metadata, correlation, causation and trace
 * ids, and tags, uncompressed.
 */
static Size
event_bytes(const EsBatch *b, int i)
{
	Size		bytes = toast_raw_datum_size(b->event_types[i]) +
		toast_raw_datum_size(b->payloads[i] != (Datum) 0 ? b->payloads[i] :
							 b->payload_bytes[i]) +
		toast_raw_datum_size(b->metadata[i]);

	if (!b->correlation_nulls[i])
		bytes += toast_raw_datum_size(b->correlation_ids[i]);
	if (!b->causation_nulls[i])
		bytes += toast_raw_datum_size(b->causation_ids[i]);
	if (!b->trace_nulls[i])
		bytes += toast_raw_datum_size(b->trace_ids[i]);
	if (b->tags[i] != (Datum) 0)
		bytes += toast_raw_datum_size(b->tags[i]);
	return bytes;
}

/*
 * Raise 54000 when a batch of nevents is over es_store.max_batch_events.
 * Called before the batch's arrays are unpacked, and again on the batch.
 */
void
es_check_batch_size(int64 nevents, const char *display)
{
	if (nevents > es_max_batch_events)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("batch for stream \"%s\" is too large", display),
				 errdetail("The batch has %lld events; the limit (es_store.max_batch_events) is %d.",
						   (long long) nevents, es_max_batch_events)));
}

/*
 * Check a batch before touching any data, fill in defaults (metadata '{}',
 * generated event ids) and note whether the caller supplied ids.
 */
void
es_batch_validate(EsBatch *b)
{
	if (b->nevents < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot append an empty batch to stream \"%s\"",
						b->key.display),
				 errdetail("A batch must contain at least one event.")));
	es_check_batch_size(b->nevents, b->key.display);

	b->ids_supplied = false;
	b->has_bytes = false;
	for (int i = 0; i < b->nevents; i++)
	{
		Jsonb	   *meta;
		Size		bytes;

		CHECK_FOR_INTERRUPTS();

		/* the entry points set exactly one payload, and refuse NULL */
		Assert((b->payloads[i] == (Datum) 0) != (b->payload_bytes[i] == (Datum) 0));
		if (b->payload_bytes[i] != (Datum) 0)
			b->has_bytes = true;

		if (VARSIZE_ANY_EXHDR(DatumGetPointer(b->event_types[i])) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event type cannot be empty in append to stream \"%s\"",
							b->key.display),
					 errdetail("Event %d of the batch has an empty event type.", i + 1)));
		if (DatumGetInt32(b->event_versions[i]) < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid event version %d in append to stream \"%s\"",
							DatumGetInt32(b->event_versions[i]), b->key.display),
					 errdetail("An event version (the payload's schema version) must be at least 1.")));

		if (b->metadata[i] == (Datum) 0)
			b->metadata[i] = es_empty_object();
		meta = DatumGetJsonbP(b->metadata[i]);
		b->metadata[i] = JsonbPGetDatum(meta);
		if (!JB_ROOT_IS_OBJECT(meta) || JB_ROOT_IS_SCALAR(meta))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event metadata must be a JSON object in append to stream \"%s\"",
							b->key.display),
					 errdetail("Event %d of the batch has metadata that is not an object.", i + 1)));

		bytes = event_bytes(b, i);
		if (bytes > (Size) es_max_event_bytes)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("event is too large for stream \"%s\"", b->key.display),
					 errdetail("Event %d of the batch takes %zu bytes of event type, payload, metadata, ids and tags; the limit (es_store.max_event_bytes) is %d.",
							   i + 1, bytes, es_max_event_bytes)));

		if (!b->event_id_nulls[i])
			b->ids_supplied = true;
	}

	if (b->ids_supplied)
		check_distinct_ids(b);
	if (b->has_tags)
		es_batch_hash_tags(b);
	for (int i = 0; i < b->nevents; i++)
	{
		if (b->event_id_nulls[i])
		{
			b->event_ids[i] = es_random_uuid();
			b->event_id_nulls[i] = false;
		}
	}
}

/*
 * Draw n global positions, in order, into positions, registered as an
 * appender first (registry.c: the feed holds back at them until this
 * transaction ends) with the scopes of the events they are for (their
 * types and tags: a conditional append waits for an appender in flight
 * below its own position only when those may match its condition, dcb.c),
 * and with es_store.notify_channel set ask for a NOTIFY at commit.  What
 * an append and a feed marker (lifecycle.c) both do before they insert
 * their rows.
 */
void
es_draw_positions(int64 *positions, int n, const uint64 *scopes, int nscopes)
{
	Oid			seq = es_position_sequence();

	es_registry_before_draw(seq);
	es_registry_publish(scopes, nscopes);
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		positions[i] = nextval_internal(seq, false);
		/* the exact low at once: conditions wait for a provisional one */
		if (i == 0)
			es_registry_after_draw(positions[0]);
	}
	if (es_notify_channel[0] != '\0')
		es_registry_notify_at_commit(es_notify_channel);
}

/* Raise 54000: the stream cannot take more events. */
void
es_raise_version_limit(const EsStreamKey *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("stream \"%s\" cannot grow past version %lld",
					key->display, (long long) ES_MAX_VERSION)));
}

/* Why a stored event id makes this append no retry of the stored one */
typedef enum EsNotRetry
{
	NOT_RETRY_OTHER_STREAM,		/* stored in another stream */
	NOT_RETRY_CONTENT,			/* with other content */
	NOT_RETRY_PART,				/* not all, or not in order, of one append */
} EsNotRetry;

static void
raise_duplicate(const EsBatch *b, Datum event_id, EsNotRetry why)
{
	ereport(ERROR,
			(errcode(ERRCODE_ES_DUPLICATE_EVENT),
			 errmsg("duplicate event id %s in append to stream \"%s\"",
					es_uuid_out(event_id), b->key.display),
			 why == NOT_RETRY_OTHER_STREAM ?
			 errdetail("The event id is already stored in another stream.") :
			 why == NOT_RETRY_CONTENT ?
			 errdetail("The event id is already stored in this stream with another event type, event version, payload, metadata, correlation, causation or trace id, or other tags.") :
			 errdetail("The event ids are not exactly the events of one earlier append, in its order."),
			 errhint("A retry must repeat all the events of the first attempt, in the same order, with the same content; new events need new event ids.")));
}

/* Whether an optional text column of a stored row holds value (or both NULL) */
static bool
optional_text_same(HeapTuple tup, TupleDesc desc, int col, Datum value,
				   bool value_null)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull == value_null && (isnull || es_text_equal(d, value));
}

/*
 * Whether the stored event in row tup of ES_PLAN_FIND_EVENT_IDS has the
 * content of event i of the batch: type, event version, payload (jsonb or
 * bytes), metadata, correlation, causation and trace ids, and tags.  The key and the
 * version are checked by the caller; created_at is not content.
 */
static bool
same_content(const EsBatch *b, int i, HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d;

	d = SPI_getbinval(tup, desc, 6, &isnull);
	if (isnull || !es_text_equal(d, b->event_types[i]))
		return false;
	d = SPI_getbinval(tup, desc, 7, &isnull);
	if (isnull || DatumGetInt32(d) != DatumGetInt32(b->event_versions[i]))
		return false;
	d = SPI_getbinval(tup, desc, 8, &isnull);
	if (isnull != (b->payloads[i] == (Datum) 0) ||
		(!isnull && !DatumGetBool(DirectFunctionCall2(jsonb_eq, d, b->payloads[i]))))
		return false;
	d = SPI_getbinval(tup, desc, 9, &isnull);
	if (isnull != (b->payload_bytes[i] == (Datum) 0) ||
		(!isnull && !DatumGetBool(DirectFunctionCall2(byteaeq, d, b->payload_bytes[i]))))
		return false;
	d = SPI_getbinval(tup, desc, 10, &isnull);
	if (isnull || !DatumGetBool(DirectFunctionCall2(jsonb_eq, d, b->metadata[i])))
		return false;
	if (!optional_text_same(tup, desc, 11, b->correlation_ids[i], b->correlation_nulls[i]) ||
		!optional_text_same(tup, desc, 12, b->causation_ids[i], b->causation_nulls[i]) ||
		!optional_text_same(tup, desc, 13, b->trace_ids[i], b->trace_nulls[i]))
		return false;
	d = SPI_getbinval(tup, desc, 14, &isnull);
	return es_tags_equal(isnull ? (Datum) 0 : d, b->tags[i]);
}

/*
 * Look for the batch's event ids among the stored events, with snapshot
 * snap (InvalidSnapshot: a new one, as a statement takes).  Returns false
 * when none is stored.  When the stored events are this very append
 * retried (all its ids, in its order, in this stream, at consecutive
 * versions, with its content, and the whole of the append that stored
 * them, batch_size), fills r with the stored result and returns true,
 * whatever the batch expected: a command that reloaded its aggregate
 * before retrying still gets the first attempt's result.  Otherwise raises
 * SE002.
 *
 * own: when the batch was just (partly) inserted, r->positions holds the
 * positions this call drew; rows at those positions are this call's own
 * and are not duplicates.
 */
static bool
find_stored_append(const EsBatch *b, EsAppendResult *r, bool own,
				   Snapshot snap)
{
	Datum		values[4];
	ArrayType  *ids;
	int			rc;
	int			stored = 0;
	bool		retry = true;
	EsNotRetry	why = NOT_RETRY_PART;
	int64	   *versions;
	int64	   *positions;
	int32	   *batch_sizes;
	bool	   *found;

	values[0] = b->key.bounded_context;
	values[1] = b->key.aggregate_type;
	values[2] = b->key.aggregate_id;
	ids = construct_array(b->event_ids, b->nevents, UUIDOID, UUID_LEN, false,
						  TYPALIGN_CHAR);
	values[3] = PointerGetDatum(ids);
	if (snap != InvalidSnapshot)
		rc = SPI_execute_snapshot(es_plan(ES_PLAN_FIND_EVENT_IDS), values, NULL,
								  snap, InvalidSnapshot, false, false, 0);
	else
		rc = SPI_execute_plan(es_plan(ES_PLAN_FIND_EVENT_IDS), values, NULL,
							  false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store event id lookup failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;

	versions = palloc(sizeof(int64) * b->nevents);
	positions = palloc(sizeof(int64) * b->nevents);
	batch_sizes = palloc(sizeof(int32) * b->nevents);
	found = palloc0(sizeof(bool) * b->nevents);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tup = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		id = SPI_getbinval(tup, desc, 1, &isnull);
		int64		version = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		int64		position = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		bool		same_stream = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		int32		batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < b->nevents; i++)
		{
			if (event_id_cmp(&id, &b->event_ids[i]) != 0)
				continue;
			if (own && r->positions[i] == position)
				break;			/* this call's own row */
			found[i] = true;
			versions[i] = version;
			positions[i] = position;
			batch_sizes[i] = batch_size;
			stored++;
			if (retry && !same_stream)
			{
				retry = false;
				why = NOT_RETRY_OTHER_STREAM;
			}
			else if (retry && !same_content(b, i, tup, desc))
			{
				retry = false;
				why = NOT_RETRY_CONTENT;
			}
			break;
		}
	}
	if (stored == 0)
		return false;

	/*
	 * All of one append, in its order: consecutive versions from the first,
	 * which began an append of this many events, the others of the same
	 * append (or all stored before 0.3.0, whose appends are not known)
	 */
	if (stored != b->nevents ||
		(batch_sizes[0] != b->nevents && batch_sizes[0] != ES_BATCH_UNKNOWN))
		retry = false;
	for (int i = 1; retry && i < b->nevents; i++)
	{
		if (versions[i] != versions[0] + i ||
			batch_sizes[i] != (batch_sizes[0] == ES_BATCH_UNKNOWN ? ES_BATCH_UNKNOWN : 0))
			retry = false;
	}
	if (!retry)
	{
		for (int i = 0; i < b->nevents; i++)
			if (found[i])
				raise_duplicate(b, b->event_ids[i], why);
	}

	for (int i = 0; i < b->nevents; i++)
	{
		r->versions[i] = versions[i];
		r->positions[i] = positions[i];
	}
	return true;
}

/*
 * After the head step advanced the head row: whether the batch's ids are
 * stored as its append (find_stored_append, with a new snapshot), in which
 * case the advance is taken back (an explicit version advances nothing)
 * and r holds the stored result.
 */
static bool
stored_after_advance(const EsBatch *b, EsAppendResult *r, const EsHead *head)
{
	if (!find_stored_append(b, r, false, InvalidSnapshot))
		return false;
	if (b->expect != ES_EXPECT_AT_VERSION)
		es_head_undo_advance(&b->key, head->stream_id, b->nevents);
	return true;
}

/* An empty result for batch b, in the caller's memory context */
static EsAppendResult *
new_result(const EsBatch *b)
{
	EsAppendResult *r = palloc(sizeof(EsAppendResult));

	r->nevents = b->nevents;
	r->event_ids = b->event_ids;
	r->versions = palloc(sizeof(int64) * b->nevents);
	r->positions = palloc(sizeof(int64) * b->nevents);
	return r;
}

/*
 * Whether batch b (validated, with caller-supplied ids) is stored: its
 * append retried, whose stored result is returned, with nothing locked or
 * written.  SE002 when its ids are stored otherwise (find_stored_append).
 * For append_aggregates' look at a whole call before it locks anything.
 */
EsAppendResult *
es_batch_find_stored(EsBatch *b)
{
	EsAppendResult *r = new_result(b);
	EsGuard		guard;
	bool		stored;

	es_guard_enter(&guard);
	SPI_connect();
	stored = b->ids_supplied && find_stored_append(b, r, false, InvalidSnapshot);
	SPI_finish();
	es_guard_leave(&guard);
	return stored ? r : NULL;
}

/*
 * Raise SE001 for a batch whose expected version did not match, naming the
 * current version.  Under REPEATABLE READ and SERIALIZABLE the check was
 * made against the transaction's snapshot: when the head row has changed
 * since, the version the caller expected may well be the latest one, and
 * the failure is a serialization failure (40001, retry the transaction),
 * as PostgreSQL raises for an UPDATE of a row changed after the snapshot.
 */
void
es_batch_raise_wrong_version(const EsBatch *b)
{
	bool		forgotten;
	int64		current = es_head_state(&b->key, false, &forgotten);

	if (forgotten)
		es_raise_forgotten(&b->key);

	if (IsolationUsesXactSnapshot() &&
		es_head_state(&b->key, true, NULL) != current)
		es_raise_serialization_failure(psprintf("Stream \"%s\" was appended to after this transaction's snapshot was taken.",
												b->key.display));

	es_raise_wrong_version(&b->key, b->expect, b->expected_version, current);
}

/*
 * Raise SE001: the stream of key is at version current, which does not
 * meet the expectation (expect, and expected for EXACT and AT_VERSION).
 * The detail says it in the words of the expectation's mode; the hint says
 * what a command handler does next.
 */
void
es_raise_wrong_version(const EsStreamKey *key, EsExpectKind expect,
					   int64 expected, int64 current)
{
	char	   *detail;

	switch (expect)
	{
		case ES_EXPECT_NO_STREAM:
			detail = psprintf("Expected no stream (expected version 0), but the stream is at version %lld.",
							  (long long) current);
			break;
		case ES_EXPECT_EXISTS:
			detail = pstrdup("Expected the stream to exist (expected version -1), but it has no events.");
			break;
		case ES_EXPECT_AT_VERSION:
			detail = psprintf("Version %lld is already stored; the current version is %lld.",
							  (long long) expected, (long long) current);
			break;
		default:
			detail = psprintf("Expected version %lld, but the current version is %lld.",
							  (long long) expected, (long long) current);
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_ES_WRONG_EXPECTED_VERSION),
			 errmsg("wrong expected version for stream \"%s\"", key->display),
			 errdetail("%s", detail),
			 errhint("Another writer appended first: load the aggregate again, decide again, and append with the version you loaded.")));
}

static bool
version_taken(const EsStreamKey *key, int64 stream_id, int64 version)
{
	Datum		values[3];
	bool		isnull;

	values[0] = Int64GetDatum(stream_id);
	values[1] = Int64GetDatum(version);
	values[2] = key->aggregate_id;	/* on Citus: the shard (plans.c) */
	(void) es_exec_scalar(ES_PLAN_VERSION_TAKEN, values, NULL, false, &isnull);
	return !isnull;
}

static Datum
int8_array(const int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}

static Datum
nullable_array(Datum *values, bool *nulls, int n, Oid type, int16 len,
			   bool byval, char align)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};

	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  type, len, byval, align));
}

/*
 * An array of n varlena values of type, where (Datum) 0 stands for NULL
 * (the payloads of a batch).
 */
static Datum
optional_array(Datum *values, int n, Oid type)
{
	bool	   *nulls = palloc(sizeof(bool) * n);
	Datum		result;

	for (int i = 0; i < n; i++)
		nulls[i] = values[i] == (Datum) 0;
	result = nullable_array(values, nulls, n, type, -1, false, TYPALIGN_INT);
	pfree(nulls);
	return result;
}

/*
 * The batch's tags for ES_PLAN_INSERT_MANY: each event's text[] in its
 * text form (the statement casts it back), NULL for none.
 */
static Datum
tags_as_text(const EsBatch *b)
{
	Datum	   *texts = palloc0(sizeof(Datum) * b->nevents);
	Datum		result;

	if (b->has_tags)
	{
		Oid			out;
		bool		varlena;

		getTypeOutputInfo(TEXTARRAYOID, &out, &varlena);
		for (int i = 0; i < b->nevents; i++)
			if (b->tags[i] != (Datum) 0)
				texts[i] = PointerGetDatum(cstring_to_text(OidOutputFunctionCall(out, b->tags[i])));
	}
	result = optional_array(texts, b->nevents, TEXTOID);
	pfree(texts);
	return result;
}

/* Insert the batch's events; returns how many rows were inserted. */
static uint64
insert_events(const EsBatch *b, int64 stream_id, const EsAppendResult *r)
{
	Datum		values[16];
	char		nulls[16];
	EsPlanId	plan;
	int			n = b->nevents;
	int			rc;

	memset(nulls, ' ', sizeof(nulls));
	values[1] = Int64GetDatum(stream_id);
	values[11] = b->key.bounded_context;
	values[12] = b->key.aggregate_type;
	values[13] = b->key.aggregate_id;
	if (n == 1)
	{
		plan = b->ids_supplied ? ES_PLAN_INSERT_ONE_IDEMPOTENT : ES_PLAN_INSERT_ONE;
		values[0] = Int64GetDatum(r->positions[0]);
		values[2] = Int64GetDatum(r->versions[0]);
		values[3] = b->event_ids[0];
		values[4] = b->event_types[0];
		values[5] = b->event_versions[0];
		values[6] = b->payloads[0];
		nulls[6] = b->payloads[0] == (Datum) 0 ? 'n' : ' ';
		values[14] = b->payload_bytes[0];
		nulls[14] = b->payload_bytes[0] == (Datum) 0 ? 'n' : ' ';
		values[7] = b->metadata[0];
		values[8] = b->correlation_ids[0];
		nulls[8] = b->correlation_nulls[0] ? 'n' : ' ';
		values[9] = b->causation_ids[0];
		nulls[9] = b->causation_nulls[0] ? 'n' : ' ';
		values[10] = b->trace_ids[0];
		nulls[10] = b->trace_nulls[0] ? 'n' : ' ';
		values[15] = b->tags[0];
		nulls[15] = b->tags[0] == (Datum) 0 ? 'n' : ' ';
	}
	else
	{
		plan = b->ids_supplied ? ES_PLAN_INSERT_MANY_IDEMPOTENT : ES_PLAN_INSERT_MANY;
		values[0] = int8_array(r->positions, n);
		values[2] = int8_array(r->versions, n);
		values[3] = PointerGetDatum(construct_array(b->event_ids, n, UUIDOID,
													UUID_LEN, false, TYPALIGN_CHAR));
		values[4] = PointerGetDatum(construct_array(b->event_types, n, TEXTOID,
													-1, false, TYPALIGN_INT));
		values[5] = PointerGetDatum(construct_array(b->event_versions, n, INT4OID,
													4, true, TYPALIGN_INT));
		values[6] = optional_array(b->payloads, n, JSONBOID);
		values[14] = optional_array(b->payload_bytes, n, BYTEAOID);
		values[7] = PointerGetDatum(construct_array(b->metadata, n, JSONBOID,
													-1, false, TYPALIGN_INT));
		values[8] = nullable_array(b->correlation_ids, b->correlation_nulls, n,
								   TEXTOID, -1, false, TYPALIGN_INT);
		values[9] = nullable_array(b->causation_ids, b->causation_nulls, n,
								   TEXTOID, -1, false, TYPALIGN_INT);
		values[10] = nullable_array(b->trace_ids, b->trace_nulls, n,
									TEXTOID, -1, false, TYPALIGN_INT);
		values[15] = tags_as_text(b);
	}

	rc = SPI_execute_plan(es_plan(plan), values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "es_store event insert failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * Append a validated batch.  Returns what was assigned (or, for a retry,
 * what the original append was assigned), allocated in the caller's memory
 * context.  Connects to SPI itself.
 */
EsAppendResult *
es_append_batch(EsBatch *b)
{
	EsAppendResult *r = new_result(b);
	EsHead		head;
	EsDirect   *direct = NULL;
	uint64		inserted;
	uint64	   *scopes;
	int			nscopes;
	EsGuard		guard;

	es_guard_enter(&guard);
	SPI_connect();

	/* Schemas before 0.4.0 have no tags, and no events of no aggregate */
	if ((b->has_tags || b->no_aggregate) && !es_events_have_tags())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot append tags to stream \"%s\" before es_store is updated",
						b->key.display),
				 errdetail("The installed es_store schema predates 0.4.0, whose events have tags."),
				 errhint("ALTER EXTENSION es_store UPDATE;")));

	/*
	 * Schemas before 0.3.0 have no payload_bytes; of their functions only
	 * es_append_events can be given one
	 */
	if (b->has_bytes && !es_events_have_key())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot append a bytea payload to stream \"%s\" before es_store is updated",
						b->key.display),
				 errdetail("The installed es_store schema predates 0.3.0, whose events have a payload_bytes column."),
				 errhint("ALTER EXTENSION es_store UPDATE;")));

	/*
	 * 2: a retry of a stored append needs no lock and no write (and must
	 * not reopen the stream it was appended to, deleted since).  The look
	 * uses the snapshot the direct head step finds the head row with, so
	 * that an append committed after it shows there as a changed row.
	 */
	direct = es_direct_begin(b);
	if (b->no_aggregate)
	{
		/*
		 * Events of no aggregate (dcb.c): no head row to check or advance;
		 * their stream is ES_STREAM_NO_AGGREGATE, and each one's version its
		 * position.  An event id stored before is SE002 (step 5): such an
		 * append is not recognised as a retry.
		 */
		head.matched = true;
		head.stream_id = ES_STREAM_NO_AGGREGATE;
		head.old_version = 0;
		head.changed = false;
		goto draw;
	}
	if (b->ids_supplied &&
		find_stored_append(b, r, false,
						   direct != NULL ? es_direct_snapshot(direct) : InvalidSnapshot))
		goto done;

	/*
	 * 3: check and advance the head row, directly when direct.c can.  Once
	 * the row is locked no other append to this stream can commit, so a
	 * look for the ids after that finds an original that committed while
	 * we waited: before the row is changed, on the direct path when the
	 * lock had to follow the row's update chain, on the statement path
	 * (which cannot tell) after locking the row with a statement first; and
	 * when there was no row to lock, after the advance that created it,
	 * taking that back (the stream is new, nothing else of it to restore).
	 * Under REPEATABLE READ and SERIALIZABLE a row changed since the
	 * snapshot fails the statement with 40001.
	 */
	if (direct == NULL || !es_direct_head_advance(direct, b, &head))
	{
		bool		recheck = b->ids_supplied && !IsolationUsesXactSnapshot();
		bool		locked = recheck && es_head_lock(&b->key);

		if (locked && find_stored_append(b, r, false, InvalidSnapshot))
			goto done;
		head = es_head_advance(b);
		/* a head row created meanwhile, by the original: a new stream */
		if (recheck && !locked && head.matched &&
			stored_after_advance(b, r, &head))
			goto done;
	}
	else if (head.changed)
	{
		if (find_stored_append(b, r, false, InvalidSnapshot))
			goto done;
		es_direct_head_finish(direct, b, &head);
	}
	if (!head.matched)
	{
		if (b->ids_supplied && find_stored_append(b, r, false, InvalidSnapshot))
			goto done;
		es_batch_raise_wrong_version(b);
	}
	if (b->expect != ES_EXPECT_AT_VERSION &&
		head.old_version > ES_MAX_VERSION - b->nevents)
		es_raise_version_limit(&b->key);
	if (b->expect == ES_EXPECT_AT_VERSION &&
		version_taken(&b->key, head.stream_id, b->expected_version))
	{
		if (b->ids_supplied && find_stored_append(b, r, false, InvalidSnapshot))
			goto done;
		es_batch_raise_wrong_version(b);
	}

	/*
	 * With caller-supplied ids, an append of another stream with one of
	 * them may still be in flight: wait for it to end, and look again, so
	 * that a duplicate is found before any position is drawn (under
	 * REPEATABLE READ and SERIALIZABLE the insert reports a committed one
	 * as a serialization failure instead).  A retry cannot show up here:
	 * its original holds the head row we hold.
	 */
	if (b->ids_supplied && !IsolationUsesXactSnapshot() &&
		es_wait_for_id_inserters(b) && stored_after_advance(b, r, &head))
		goto done;

	/*
	 * 4: register as an appender (registry.c) with the events' scopes,
	 * draw positions in batch order, check the batch's condition (dcb.c),
	 * then insert the events and their tags
	 */
draw:
	for (int i = 0; i < b->nevents; i++)
		r->versions[i] = head.old_version + 1 + i;
	scopes = es_batch_scopes(b, &nscopes);
	es_draw_positions(r->positions, b->nevents, scopes, nscopes);
	if (b->no_aggregate)
		memcpy(r->versions, r->positions, sizeof(int64) * b->nevents);
	if (b->condition != NULL)
		es_condition_check(b->condition, b->condition_after, r->positions[0]);
	if (es_direct_can_insert(direct, b))
	{
		es_direct_insert_events(direct, b, head.stream_id, r);
		inserted = b->nevents;
	}
	else
		inserted = insert_events(b, head.stream_id, r);
	if (inserted == (uint64) b->nevents && b->has_tags &&
		!es_direct_insert_tags(direct, b, r))
		es_tags_store(b, r);

	/* 5: some ids were stored meanwhile */
	if (inserted != (uint64) b->nevents)
	{
		if (inserted == 0 && stored_after_advance(b, r, &head))
			goto done;
		if (!find_stored_append(b, r, true, InvalidSnapshot))
			elog(ERROR, "es_store insert skipped events that are not stored");
		/* find_stored_append raised SE002: a partial insert is no retry */
		elog(ERROR, "es_store retry with a partial insert");
	}

done:
	es_direct_end(direct);
	SPI_finish();
	es_guard_leave(&guard);
	return r;
}

/*
 * Validate and append a batch, and return its rows as this set-returning
 * call's result (SETOF es_store.append_result), in batch order.
 */
Datum
es_append_srf(FunctionCallInfo fcinfo, EsBatch *b)
{
	ReturnSetInfo *rsinfo;
	EsAppendResult *r;

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	es_batch_validate(b);
	r = es_append_batch(b);
	for (int i = 0; i < r->nevents; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		CHECK_FOR_INTERRUPTS();
		values[0] = r->event_ids[i];
		values[1] = Int64GetDatum(r->versions[i]);
		values[2] = Int64GetDatum(r->positions[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
