/*-------------------------------------------------------------------------
 *
 * append_json.c
 *	  es_append_events: a batch given as one JSON array of event objects.
 *
 * For drivers and libraries that build a list of event records: each
 * object names its aggregate (bounded_context, aggregate_type, aggregate_id,
 * or stream_name) and carries its event fields.  All objects must name the
 * same aggregate.  The work and the locks are batch.c's, as for es_append.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation_d.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

#include "es_store.h"

static const char *const known_fields[] = {
	"bounded_context", "aggregate_type", "aggregate_id", "stream_name",
	"event_type", "payload", "payload_bytes", "metadata", "event_id",
	"event_version",
	"correlation_id", "causation_id", "trace_id", NULL
};

static JsonbValue *
field(JsonbContainer *obj, const char *name)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, name, strlen(name), NULL);

	return (v == NULL || v->type == jbvNull) ? NULL : v;
}

static void
check_known_fields(JsonbContainer *obj, int i)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		skip_nested = true;

	while ((tok = JsonbIteratorNext(&it, &v, skip_nested)) != WJB_DONE)
	{
		bool		known = false;

		CHECK_FOR_INTERRUPTS();
		if (tok != WJB_KEY)
			continue;
		for (int k = 0; known_fields[k] != NULL; k++)
			if (strlen(known_fields[k]) == (size_t) v.val.string.len &&
				memcmp(known_fields[k], v.val.string.val, v.val.string.len) == 0)
				known = true;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized event field \"%.*s\"",
							v.val.string.len, v.val.string.val),
					 errdetail("Event %d of the batch has a field es_store does not know.", i + 1)));
	}
}

/* A string field as text, or (Datum) 0 when absent or null. */
static Datum
text_field(JsonbContainer *obj, const char *name, int i)
{
	JsonbValue *v = field(obj, name);

	if (v == NULL)
		return (Datum) 0;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event field \"%s\" must be a string", name),
				 errdetail("Event %d of the batch has a non-string \"%s\".", i + 1, name)));
	return PointerGetDatum(cstring_to_text_with_len(v->val.string.val,
													v->val.string.len));
}

static Datum
required_text_field(JsonbContainer *obj, const char *name, int i)
{
	Datum		d = text_field(obj, name, i);

	if (d == (Datum) 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event field \"%s\" cannot be null", name),
				 errdetail("Event %d of the batch has no \"%s\".", i + 1, name)));
	return d;
}

/* Any JSON value of a field as a jsonb Datum, or (Datum) 0. */
static Datum
jsonb_field(JsonbContainer *obj, const char *name)
{
	JsonbValue *v = field(obj, name);

	return v == NULL ? (Datum) 0 : JsonbPGetDatum(JsonbValueToJsonb(v));
}

static EsStreamKey
key_of(JsonbContainer *obj, int i)
{
	Datum		name = text_field(obj, "stream_name", i);

	if (name == (Datum) 0)
		return es_key_make(required_text_field(obj, "bounded_context", i),
						   required_text_field(obj, "aggregate_type", i),
						   required_text_field(obj, "aggregate_id", i));
	if (field(obj, "bounded_context") || field(obj, "aggregate_type") ||
		field(obj, "aggregate_id"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event %d names both a stream_name and an aggregate key", i + 1),
				 errhint("Give either \"stream_name\" or \"bounded_context\", \"aggregate_type\" and \"aggregate_id\".")));
	return es_key_for_stream_name(DatumGetTextPP(name));
}

static bool
same_key(const EsStreamKey *a, const EsStreamKey *b)
{
	return DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, a->bounded_context, b->bounded_context)) &&
		DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, a->aggregate_type, b->aggregate_type)) &&
		DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, a->aggregate_id, b->aggregate_id));
}

/*
 * The value of an "event_version" field: an integer from 1 to INT_MAX
 * (22023 otherwise; 1.5 is not rounded, 1e10 is not truncated).
 */
static int32
event_version_field(JsonbValue *v, int i)
{
	bool		error = true;
	int32		version = 0;

	if (v->type == jbvNumeric)
	{
		Datum		n = NumericGetDatum(v->val.numeric);

		/* numeric_int4 would round: only an integral value converts */
		if (DatumGetBool(DirectFunctionCall2(numeric_eq, n,
											 DirectFunctionCall2(numeric_trunc, n,
																 Int32GetDatum(0)))))
			version = numeric_int4_opt_error(v->val.numeric, &error);
	}
	if (error || version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event field \"event_version\" must be an integer from 1 to %d",
						PG_INT32_MAX),
				 errdetail("Event %d of the batch has an \"event_version\" that is not.", i + 1)));
	return version;
}

/* Names the event whose payload_bytes PostgreSQL's base64 decoder refuses */
static void
base64_error_context(void *arg)
{
	errcontext("event field \"payload_bytes\" of event %d of the batch (base64)",
			   *(int *) arg + 1);
}

/*
 * The bytes of a "payload_bytes" field: a base64 string (RFC 4648, the
 * standard alphabet, as PostgreSQL's decode(.., 'base64') reads it, which
 * also skips whitespace), decoded; 22023 when it is not base64.
 */
static Datum
base64_field(Datum text, int i)
{
	ErrorContextCallback context;
	Datum		bytes;

	context.callback = base64_error_context;
	context.arg = &i;
	context.previous = error_context_stack;
	error_context_stack = &context;
	bytes = DirectFunctionCall2(binary_decode, text,
								PointerGetDatum(cstring_to_text("base64")));
	error_context_stack = context.previous;
	return bytes;
}

static void
read_event(EsBatch *b, int i, JsonbContainer *obj)
{
	Datum		d;
	JsonbValue *v;

	check_known_fields(obj, i);
	b->event_types[i] = required_text_field(obj, "event_type", i);
	/* a JSON null payload is a payload, as 'null'::jsonb is in es_append */
	v = getKeyJsonValueFromContainer(obj, "payload", strlen("payload"), NULL);
	b->payloads[i] = v == NULL ? (Datum) 0 : JsonbPGetDatum(JsonbValueToJsonb(v));
	if ((d = text_field(obj, "payload_bytes", i)) != (Datum) 0)
	{
		if (b->payloads[i] != (Datum) 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event %d has both a \"payload\" and a \"payload_bytes\"", i + 1),
					 errdetail("An event's payload is either JSON or bytes.")));
		b->payload_bytes[i] = base64_field(d, i);
	}
	else if (b->payloads[i] == (Datum) 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event field \"payload\" cannot be null"),
				 errdetail("Event %d of the batch has neither a \"payload\" nor a \"payload_bytes\".", i + 1)));
	b->metadata[i] = jsonb_field(obj, "metadata");

	if ((d = text_field(obj, "event_id", i)) != (Datum) 0)
	{
		b->event_ids[i] = DirectFunctionCall1(uuid_in,
											  CStringGetDatum(TextDatumGetCString(d)));
		b->event_id_nulls[i] = false;
	}
	if ((v = field(obj, "event_version")) != NULL)
		b->event_versions[i] = Int32GetDatum(event_version_field(v, i));
	if ((d = text_field(obj, "correlation_id", i)) != (Datum) 0)
	{
		b->correlation_ids[i] = d;
		b->correlation_nulls[i] = false;
	}
	if ((d = text_field(obj, "causation_id", i)) != (Datum) 0)
	{
		b->causation_ids[i] = d;
		b->causation_nulls[i] = false;
	}
	if ((d = text_field(obj, "trace_id", i)) != (Datum) 0)
	{
		b->trace_ids[i] = d;
		b->trace_nulls[i] = false;
	}
}

/* Element i of the events array, which must be an object (22023). */
static JsonbContainer *
event_object(Jsonb *events, int i)
{
	JsonbValue *elem = getIthJsonbValueFromContainer(&events->root, i);

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("events must be a JSON array of event objects"),
				 errdetail("Element %d of the array is not an object.", i + 1)));
	return elem->val.binary.data;
}

/*
 * es_append_events(expected_version bigint, events jsonb)
 *
 * Append a batch given as a JSON array of objects.  Each object has
 * event_type and payload (any JSON) or payload_bytes (a base64 string, for
 * a bytea payload), optionally metadata, event_id, event_version,
 * correlation_id, causation_id, trace_id, and names its aggregate by
 * bounded_context/aggregate_type/aggregate_id or by stream_name.  All
 * objects must name the same aggregate (22023 otherwise).  expected_version
 * as for es_append.  Locks and result as es_append.
 */
PG_FUNCTION_INFO_V1(es_append_events);
Datum
es_append_events(PG_FUNCTION_ARGS)
{
	Jsonb	   *events;
	EsBatch    *b;
	JsonbContainer *first;
	EsStreamKey key;
	int			n;

	es_check_not_null(fcinfo, 1, "events");
	events = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_ARRAY(events) || JB_ROOT_IS_SCALAR(events))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("events must be a JSON array of event objects")));
	n = JB_ROOT_COUNT(events);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot append an empty batch"),
				 errdetail("A batch must contain at least one event.")));
	/* the first event names the aggregate; check the size before unpacking */
	first = event_object(events, 0);
	key = key_of(first, 0);
	es_check_batch_size(n, key.display);

	b = es_batch_new(n);
	b->key = key;
	es_check_expected_version(b, fcinfo, 0);
	for (int i = 0; i < n; i++)
	{
		JsonbContainer *obj = i == 0 ? first : event_object(events, i);

		CHECK_FOR_INTERRUPTS();
		if (i > 0)
		{
			key = key_of(obj, i);
			if (!same_key(&b->key, &key))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("cannot append to more than one aggregate in one batch"),
						 errdetail("Event 1 is for stream \"%s\", but event %d is for stream \"%s\".",
								   b->key.display, i + 1, key.display),
						 errhint("Append each aggregate's events in a separate call; the calls can share one transaction.")));
		}
		read_event(b, i, obj);
	}

	return es_append_srf(fcinfo, b);
}
