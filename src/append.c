/*-------------------------------------------------------------------------
 *
 * append.c
 *	  SQL entry points that append events: batches from parallel arrays,
 *	  single events, events at an explicit version, and stream names.
 *
 * These only unpack and check arguments; batch.c does the work and takes
 * the locks (one row lock on the aggregate's head row, see heads.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "es_store.h"

/* Unpack a one-dimensional array (22023 for more dimensions). */
static void
unpack_checked_array(ArrayType *arr, const char *name, Oid elemtype,
					 int16 elemlen, bool elembyval, char elemalign,
					 Datum **elems, bool **nulls, int *n)
{
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(arr, elemtype, elemlen, elembyval, elemalign,
					  elems, nulls, n);
}

/*
 * Unpack an optional one-dimensional array argument.  Returns the element
 * count, or -1 when the argument is NULL.
 */
static int
unpack_array(FunctionCallInfo fcinfo, int argno, const char *name, Oid elemtype,
			 int16 elemlen, bool elembyval, char elemalign,
			 Datum **elems, bool **nulls)
{
	int			n;

	if (PG_ARGISNULL(argno))
		return -1;
	unpack_checked_array(PG_GETARG_ARRAYTYPE_P(argno), name, elemtype, elemlen,
						 elembyval, elemalign, elems, nulls, &n);
	return n;
}

static void
check_length(int n, int expected, const char *name)
{
	if (n >= 0 && n != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has %d elements, but event_types has %d", name, n,
						expected),
				 errdetail("The per-event arrays must all have one element per event.")));
}

static void
check_no_null_elements(const bool *nulls, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s cannot be null", what),
					 errdetail("Element %d of the batch is null.", i + 1)));
}

/*
 * The tags argument at argno, when the function has it (0.4.0), as the
 * tags of every event of batch b.
 */
static void
tags_arg(FunctionCallInfo fcinfo, int argno, EsBatch *b)
{
	static const EsJsonPlace place = {
		"tags", "The tags argument", "the tags argument", "the tags argument"
	};
	Datum		tags;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return;
	tags = es_tags_checked(PG_GETARG_ARRAYTYPE_P(argno), &place, b->key.display);
	if (tags == (Datum) 0)
		return;
	for (int i = 0; i < b->nevents; i++)
		b->tags[i] = tags;
	b->has_tags = true;
}

/*
 * Read the per-event arguments of the batch functions, which start at
 * argno with this layout: event_types text[], payloads jsonb[] (bytea[]
 * with bytes), metadata jsonb[], event_ids uuid[], event_versions int[],
 * correlation_id text, causation_id text, trace_id text, and since 0.4.0
 * tags text[] (every event's).
 */
static EsBatch *
batch_from_arrays(FunctionCallInfo fcinfo, EsStreamKey key, int expected_argno,
				  int argno, bool bytes)
{
	EsBatch    *b;
	ArrayType  *type_array;
	Datum	   *types,
			   *payloads,
			   *meta = NULL,
			   *ids = NULL,
			   *versions = NULL;
	bool	   *type_nulls,
			   *payload_nulls,
			   *meta_nulls = NULL,
			   *id_nulls = NULL,
			   *version_nulls = NULL;
	int			n,
				npayloads,
				nmeta,
				nids,
				nversions;

	es_check_not_null(fcinfo, argno, "event_types");
	es_check_not_null(fcinfo, argno + 1, "payloads");
	/* before any array is unpacked: a huge one costs memory in proportion */
	type_array = PG_GETARG_ARRAYTYPE_P(argno);
	es_check_batch_size(ArrayGetNItems(ARR_NDIM(type_array), ARR_DIMS(type_array)),
						key.display);
	unpack_checked_array(type_array, "event_types", TEXTOID, -1, false,
						 TYPALIGN_INT, &types, &type_nulls, &n);
	npayloads = unpack_array(fcinfo, argno + 1, "payloads",
							 bytes ? BYTEAOID : JSONBOID, -1, false,
							 TYPALIGN_INT, &payloads, &payload_nulls);
	nmeta = unpack_array(fcinfo, argno + 2, "metadata", JSONBOID, -1, false,
						 TYPALIGN_INT, &meta, &meta_nulls);
	nids = unpack_array(fcinfo, argno + 3, "event_ids", UUIDOID, 16, false,
						TYPALIGN_CHAR, &ids, &id_nulls);
	nversions = unpack_array(fcinfo, argno + 4, "event_versions", INT4OID, 4,
							 true, TYPALIGN_INT, &versions, &version_nulls);
	check_length(npayloads, n, "payloads");
	check_length(nmeta, n, "metadata");
	check_length(nids, n, "event_ids");
	check_length(nversions, n, "event_versions");
	check_no_null_elements(type_nulls, n, "event type");
	check_no_null_elements(payload_nulls, n, "payload");

	b = es_batch_new(n);
	b->key = key;
	es_check_expected_version(b, fcinfo, expected_argno);
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		b->event_types[i] = types[i];
		if (bytes)
			b->payload_bytes[i] = payloads[i];
		else
			b->payloads[i] = payloads[i];
		if (meta && !meta_nulls[i])
			b->metadata[i] = meta[i];
		if (ids && !id_nulls[i])
		{
			b->event_ids[i] = ids[i];
			b->event_id_nulls[i] = false;
		}
		if (versions && !version_nulls[i])
			b->event_versions[i] = versions[i];
		if (!PG_ARGISNULL(argno + 5))
		{
			b->correlation_ids[i] = PG_GETARG_DATUM(argno + 5);
			b->correlation_nulls[i] = false;
		}
		if (!PG_ARGISNULL(argno + 6))
		{
			b->causation_ids[i] = PG_GETARG_DATUM(argno + 6);
			b->causation_nulls[i] = false;
		}
		if (!PG_ARGISNULL(argno + 7))
		{
			b->trace_ids[i] = PG_GETARG_DATUM(argno + 7);
			b->trace_nulls[i] = false;
		}
	}
	tags_arg(fcinfo, argno + 8, b);
	return b;
}

/*
 * Read the arguments of the single-event functions, which start at argno
 * with this layout: event_type text, payload jsonb (bytea with bytes),
 * metadata jsonb, event_id uuid, event_version int, correlation_id,
 * causation_id, trace_id text, and since 0.4.0 tags text[].
 */
static EsBatch *
batch_of_one(FunctionCallInfo fcinfo, EsStreamKey key, int argno, bool bytes)
{
	EsBatch    *b = es_batch_new(1);

	es_check_not_null(fcinfo, argno, "event_type");
	es_check_not_null(fcinfo, argno + 1, "payload");
	b->key = key;
	b->event_types[0] = PG_GETARG_DATUM(argno);
	if (bytes)
		b->payload_bytes[0] = PG_GETARG_DATUM(argno + 1);
	else
		b->payloads[0] = PG_GETARG_DATUM(argno + 1);
	if (!PG_ARGISNULL(argno + 2))
		b->metadata[0] = PG_GETARG_DATUM(argno + 2);
	if (!PG_ARGISNULL(argno + 3))
	{
		b->event_ids[0] = PG_GETARG_DATUM(argno + 3);
		b->event_id_nulls[0] = false;
	}
	if (!PG_ARGISNULL(argno + 4))
		b->event_versions[0] = PG_GETARG_DATUM(argno + 4);
	if (!PG_ARGISNULL(argno + 5))
	{
		b->correlation_ids[0] = PG_GETARG_DATUM(argno + 5);
		b->correlation_nulls[0] = false;
	}
	if (!PG_ARGISNULL(argno + 6))
	{
		b->causation_ids[0] = PG_GETARG_DATUM(argno + 6);
		b->causation_nulls[0] = false;
	}
	if (!PG_ARGISNULL(argno + 7))
	{
		b->trace_ids[0] = PG_GETARG_DATUM(argno + 7);
		b->trace_nulls[0] = false;
	}
	tags_arg(fcinfo, argno + 8, b);
	return b;
}

static void
result_values(const EsAppendResult *r, int i, Datum *values, bool *nulls)
{
	values[0] = r->event_ids[i];
	values[1] = Int64GetDatum(r->versions[i]);
	values[2] = Int64GetDatum(r->positions[i]);
	nulls[0] = nulls[1] = nulls[2] = false;
}

/* Append a one-event batch and return its es_store.append_result row. */
static Datum
append_returning_row(FunctionCallInfo fcinfo, EsBatch *b)
{
	TupleDesc	desc;
	EsAppendResult *r;
	Datum		values[3];
	bool		nulls[3];

	desc = es_row_desc(fcinfo);
	es_batch_validate(b);
	r = es_append_batch(b);
	result_values(r, 0, values, nulls);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * es_append(bounded_context, aggregate_type, aggregate_id, expected_version,
 *			 event_types, payloads, metadata, event_ids, event_versions,
 *			 correlation_id, causation_id, trace_id)
 *
 * Append a batch to one aggregate.  Key parts, event_types and payloads
 * must be non-NULL; expected_version NULL means any version; the other
 * arrays may be NULL (defaults) or have NULL elements (default for that
 * event).  The correlation, causation and trace ids apply to every event of
 * the batch.  Locks the aggregate's head row until the caller's transaction
 * ends.  Returns one row per event, in batch order.
 */
PG_FUNCTION_INFO_V1(es_append);
Datum
es_append(PG_FUNCTION_ARGS)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);

	return es_append_srf(fcinfo, batch_from_arrays(fcinfo, key, 3, 4, false));
}

/* es_append with bytea payloads (es_store.append_bytes): same rules. */
PG_FUNCTION_INFO_V1(es_append_bytes);
Datum
es_append_bytes(PG_FUNCTION_ARGS)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);

	return es_append_srf(fcinfo, batch_from_arrays(fcinfo, key, 3, 4, true));
}

/*
 * es_append_stream(stream_name, expected_version, event_types, payloads,
 *					metadata, event_ids, event_versions, correlation_id,
 *					causation_id, trace_id)
 *
 * es_append for the stream named by one string, mapped onto the key
 * ('', text before the first "-", the whole name).  Same arguments, NULL
 * rules, locks and result as es_append.
 */
PG_FUNCTION_INFO_V1(es_append_stream);
Datum
es_append_stream(PG_FUNCTION_ARGS)
{
	EsStreamKey key = es_key_from_stream_name(fcinfo, 0);

	return es_append_srf(fcinfo, batch_from_arrays(fcinfo, key, 1, 2, false));
}

/* es_append_stream with bytea payloads (es_store.append_stream_bytes) */
PG_FUNCTION_INFO_V1(es_append_stream_bytes);
Datum
es_append_stream_bytes(PG_FUNCTION_ARGS)
{
	EsStreamKey key = es_key_from_stream_name(fcinfo, 0);

	return es_append_srf(fcinfo, batch_from_arrays(fcinfo, key, 1, 2, true));
}

/*
 * es_append_event(bounded_context, aggregate_type, aggregate_id,
 *				   expected_version, event_type, payload, metadata, event_id,
 *				   event_version, correlation_id, causation_id, trace_id)
 *
 * Append one event.  Key parts, event_type and payload must be non-NULL;
 * expected_version NULL means any; metadata NULL means '{}'; event_id NULL
 * means a generated one; event_version NULL means 1, as in es_append.  Locks the head row like es_append.
 */
static Datum
append_event(FunctionCallInfo fcinfo, bool bytes)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	EsBatch    *b = batch_of_one(fcinfo, key, 4, bytes);

	es_check_expected_version(b, fcinfo, 3);
	return append_returning_row(fcinfo, b);
}

PG_FUNCTION_INFO_V1(es_append_event);
Datum
es_append_event(PG_FUNCTION_ARGS)
{
	return append_event(fcinfo, false);
}

/* es_append_event with a bytea payload (es_store.append_event_bytes) */
PG_FUNCTION_INFO_V1(es_append_event_bytes);
Datum
es_append_event_bytes(PG_FUNCTION_ARGS)
{
	return append_event(fcinfo, true);
}

/*
 * es_append_at_version(bounded_context, aggregate_type, aggregate_id,
 *						aggregate_version, event_type, payload, metadata,
 *						event_id, event_version, correlation_id,
 *						causation_id, trace_id)
 *
 * Append one event at a version the caller chose (1 to ES_MAX_VERSION,
 * non-NULL).  The
 * only check is that the aggregate has no event at that version (SE001
 * otherwise); gaps are allowed, and the head's version becomes the highest
 * version stored.  Locks the head row like es_append.
 */
static Datum
append_at_version(FunctionCallInfo fcinfo, bool bytes)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	EsBatch    *b;

	es_check_not_null(fcinfo, 3, "aggregate_version");
	b = batch_of_one(fcinfo, key, 4, bytes);
	b->expect = ES_EXPECT_AT_VERSION;
	b->expected_version = PG_GETARG_INT64(3);
	if (b->expected_version < 1 || b->expected_version > ES_MAX_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid aggregate version %lld for stream \"%s\"",
						(long long) b->expected_version, key.display),
				 errdetail("Versions go from 1 to %lld.",
						   (long long) ES_MAX_VERSION)));
	return append_returning_row(fcinfo, b);
}

PG_FUNCTION_INFO_V1(es_append_at_version);
Datum
es_append_at_version(PG_FUNCTION_ARGS)
{
	return append_at_version(fcinfo, false);
}

/* es_append_at_version with a bytea payload (append_at_version_bytes) */
PG_FUNCTION_INFO_V1(es_append_at_version_bytes);
Datum
es_append_at_version_bytes(PG_FUNCTION_ARGS)
{
	return append_at_version(fcinfo, true);
}
