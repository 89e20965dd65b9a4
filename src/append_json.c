/*-------------------------------------------------------------------------
 *
 * append_json.c
 *	  es_append_events: a batch given as one JSON array of event objects.
 *
 * For drivers and libraries that build a list of event records: each
 * object names its aggregate (bounded_context, aggregate_type, aggregate_id,
 * or stream_name) and carries its event fields.  All objects must name the
 * same aggregate.  The work and the locks are batch.c's, as for es_append.
 * The readers of keys and event fields are shared with append_aggregates
 * (multi.c), whose messages name the object through an EsJsonPlace.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "catalog/pg_type_d.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

#include "es_store.h"

/* An event object's fields: its aggregate's key, then the event's own */
static const char *const known_fields[] = {
	"bounded_context", "aggregate_type", "aggregate_id", "stream_name",
	"event_type", "payload", "payload_bytes", "metadata", "event_id",
	"event_version",
	"correlation_id", "causation_id", "trace_id", "tags", NULL
};
#define EVENT_OWN_FIELDS (known_fields + 4)

#define EVENTS_MUST_BE "events must be a JSON array of event objects"

/*
 * Where object i of kind is, for messages: "event 3 of the batch" (entry
 * -1), "event 2 of entry 1", or for an entry of append_aggregates
 * (kind "entry"), "entry 1".
 */
EsJsonPlace
es_json_place(const char *kind, int i, int entry)
{
	EsJsonPlace p;

	p.kind = kind;
	if (strcmp(kind, "entry") == 0)
	{
		p.name = psprintf("Entry %d", i + 1);
		p.noun = psprintf("entry %d", i + 1);
		p.where = p.noun;
	}
	else if (entry < 0)
	{
		p.name = psprintf("%c%s %d of the batch", pg_toupper((unsigned char) kind[0]),
						  kind + 1, i + 1);
		p.noun = psprintf("%s %d", kind, i + 1);
		p.where = psprintf("%s %d of the batch", kind, i + 1);
	}
	else
	{
		p.name = psprintf("%c%s %d of entry %d", pg_toupper((unsigned char) kind[0]),
						  kind + 1, i + 1, entry + 1);
		p.noun = psprintf("%s %d of entry %d", kind, i + 1, entry + 1);
		p.where = p.noun;
	}
	return p;
}

static JsonbValue *
field(JsonbContainer *obj, const char *name)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, name, strlen(name), NULL);

	return (v == NULL || v->type == jbvNull) ? NULL : v;
}

/* Refuse a field of obj not in known (NULL-terminated): 22023 */
void
es_json_check_fields(JsonbContainer *obj, const char *const *known,
					 const EsJsonPlace *place)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		skip_nested = true;

	while ((tok = JsonbIteratorNext(&it, &v, skip_nested)) != WJB_DONE)
	{
		bool		found = false;

		CHECK_FOR_INTERRUPTS();
		if (tok != WJB_KEY)
			continue;
		for (int k = 0; known[k] != NULL; k++)
			if (strlen(known[k]) == (size_t) v.val.string.len &&
				memcmp(known[k], v.val.string.val, v.val.string.len) == 0)
				found = true;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized %s field \"%.*s\"", place->kind,
							v.val.string.len, v.val.string.val),
					 errdetail("%s has a field es_store does not know.", place->name)));
	}
}

/* A string field as text, or (Datum) 0 when absent or null. */
Datum
es_json_text_field(JsonbContainer *obj, const char *name,
				   const EsJsonPlace *place)
{
	JsonbValue *v = field(obj, name);

	if (v == NULL)
		return (Datum) 0;
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s field \"%s\" must be a string", place->kind, name),
				 errdetail("%s has a non-string \"%s\".", place->name, name)));
	return PointerGetDatum(cstring_to_text_with_len(v->val.string.val,
													v->val.string.len));
}

static Datum
required_text_field(JsonbContainer *obj, const char *name,
					const EsJsonPlace *place)
{
	Datum		d = es_json_text_field(obj, name, place);

	if (d == (Datum) 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s field \"%s\" cannot be null", place->kind, name),
				 errdetail("%s has no \"%s\".", place->name, name)));
	return d;
}

/* Any JSON value of a field as a jsonb Datum, or (Datum) 0. */
static Datum
jsonb_field(JsonbContainer *obj, const char *name)
{
	JsonbValue *v = field(obj, name);

	return v == NULL ? (Datum) 0 : JsonbPGetDatum(JsonbValueToJsonb(v));
}

/* The aggregate an object names: its key's three fields, or stream_name */
EsStreamKey
es_json_key(JsonbContainer *obj, const EsJsonPlace *place)
{
	Datum		name = es_json_text_field(obj, "stream_name", place);

	if (name == (Datum) 0)
		return es_key_make(required_text_field(obj, "bounded_context", place),
						   required_text_field(obj, "aggregate_type", place),
						   required_text_field(obj, "aggregate_id", place));
	if (field(obj, "bounded_context") || field(obj, "aggregate_type") ||
		field(obj, "aggregate_id"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s names both a stream_name and an aggregate key", place->noun),
				 errhint("Give either \"stream_name\" or \"bounded_context\", \"aggregate_type\" and \"aggregate_id\".")));
	return es_key_for_stream_name(DatumGetTextPP(name));
}

/*
 * Refuse event i of a JSON batch (object obj, at place) when it names
 * another aggregate than the batch's (22023): a batch appends to one.
 */
void
es_json_check_same_key(const EsBatch *b, JsonbContainer *obj, int i,
					   const EsJsonPlace *place)
{
	EsStreamKey key = es_json_key(obj, place);

	if (!es_text_equal(key.bounded_context, b->key.bounded_context) ||
		!es_text_equal(key.aggregate_type, b->key.aggregate_type) ||
		!es_text_equal(key.aggregate_id, b->key.aggregate_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot append to more than one aggregate in one batch"),
				 errdetail("Event 1 is for stream \"%s\", but event %d is for stream \"%s\".",
						   b->key.display, i + 1, key.display),
				 errhint("Append each aggregate's events in a separate call; the calls can share one transaction.")));
}

/*
 * The value of an "event_version" field: an integer from 1 to INT_MAX
 * (22023 otherwise; 1.5 is not rounded, 1e10 is not truncated).
 */
static int32
event_version_field(JsonbValue *v, const EsJsonPlace *place)
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
				 errdetail("%s has an \"event_version\" that is not.", place->name)));
	return version;
}

/*
 * The "tags" field of an event: a JSON array of strings (22023 otherwise),
 * as a text[] checked as the tags argument is (tags.c); (Datum) 0 when
 * absent, null or empty.
 */
static Datum
tags_field(JsonbContainer *obj, const EsJsonPlace *place, const char *display)
{
	JsonbValue *v = field(obj, "tags");
	JsonbContainer *arr;
	int			n;
	Datum	   *elems;

	if (v == NULL)
		return (Datum) 0;
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event field \"tags\" must be an array of strings"),
				 errdetail("%s has \"tags\" that are not an array.", place->name)));
	arr = v->val.binary.data;
	n = JsonContainerSize(arr);
	if (n == 0)
		return (Datum) 0;
	/* before the tags are copied: a huge array costs memory in proportion */
	es_check_tag_count(n, place, display);
	elems = palloc(sizeof(Datum) * n);
	for (int k = 0; k < n; k++)
	{
		JsonbValue *t = getIthJsonbValueFromContainer(arr, k);

		CHECK_FOR_INTERRUPTS();
		if (t->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event field \"tags\" must be an array of strings"),
					 errdetail("Tag %d of %s is not a string.", k + 1, place->where)));
		elems[k] = PointerGetDatum(cstring_to_text_with_len(t->val.string.val,
															t->val.string.len));
	}
	return es_tags_checked(construct_array(elems, n, TEXTOID, -1, false,
										   TYPALIGN_INT), place, display);
}

/* Names the event whose payload_bytes PostgreSQL's base64 decoder refuses */
static void
base64_error_context(void *arg)
{
	errcontext("event field \"payload_bytes\" of %s (base64)",
			   ((const EsJsonPlace *) arg)->where);
}

/*
 * The bytes of a "payload_bytes" field: a base64 string (RFC 4648, the
 * standard alphabet, as PostgreSQL's decode(.., 'base64') reads it, which
 * also skips whitespace), decoded; 22023 when it is not base64.
 */
static Datum
base64_field(Datum text, const EsJsonPlace *place)
{
	ErrorContextCallback context;
	Datum		bytes;

	context.callback = base64_error_context;
	context.arg = unconstify(EsJsonPlace *, place);
	context.previous = error_context_stack;
	error_context_stack = &context;
	bytes = DirectFunctionCall2(binary_decode, text,
								PointerGetDatum(cstring_to_text("base64")));
	error_context_stack = context.previous;
	return bytes;
}

/*
 * Event i of batch b from the object obj: its own fields, and (with_key)
 * the fields that name its aggregate, which the caller reads.
 */
void
es_json_read_event(EsBatch *b, int i, JsonbContainer *obj, bool with_key,
				   const EsJsonPlace *place)
{
	Datum		d;
	JsonbValue *v;

	es_json_check_fields(obj, with_key ? known_fields : EVENT_OWN_FIELDS, place);
	b->event_types[i] = required_text_field(obj, "event_type", place);
	/* a JSON null payload is a payload, as 'null'::jsonb is in es_append */
	v = getKeyJsonValueFromContainer(obj, "payload", strlen("payload"), NULL);
	b->payloads[i] = v == NULL ? (Datum) 0 : JsonbPGetDatum(JsonbValueToJsonb(v));
	if ((d = es_json_text_field(obj, "payload_bytes", place)) != (Datum) 0)
	{
		if (b->payloads[i] != (Datum) 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s has both a \"payload\" and a \"payload_bytes\"", place->noun),
					 errdetail("An event's payload is either JSON or bytes.")));
		b->payload_bytes[i] = base64_field(d, place);
	}
	else if (b->payloads[i] == (Datum) 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event field \"payload\" cannot be null"),
				 errdetail("%s has neither a \"payload\" nor a \"payload_bytes\".", place->name)));
	b->metadata[i] = jsonb_field(obj, "metadata");

	if ((d = es_json_text_field(obj, "event_id", place)) != (Datum) 0)
	{
		b->event_ids[i] = DirectFunctionCall1(uuid_in,
											  CStringGetDatum(TextDatumGetCString(d)));
		b->event_id_nulls[i] = false;
	}
	if ((v = field(obj, "event_version")) != NULL)
		b->event_versions[i] = Int32GetDatum(event_version_field(v, place));
	if ((d = es_json_text_field(obj, "correlation_id", place)) != (Datum) 0)
	{
		b->correlation_ids[i] = d;
		b->correlation_nulls[i] = false;
	}
	if ((d = es_json_text_field(obj, "causation_id", place)) != (Datum) 0)
	{
		b->causation_ids[i] = d;
		b->causation_nulls[i] = false;
	}
	if ((d = es_json_text_field(obj, "trace_id", place)) != (Datum) 0)
	{
		b->trace_ids[i] = d;
		b->trace_nulls[i] = false;
	}
	if ((b->tags[i] = tags_field(obj, place, b->key.display)) != (Datum) 0)
		b->has_tags = true;
}

/*
 * Element i of a JSON array of objects; 22023 with message must_be when it
 * is not an object.
 */
JsonbContainer *
es_json_object_at(JsonbContainer *array, int i, const char *must_be)
{
	JsonbValue *elem = getIthJsonbValueFromContainer(array, i);

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", must_be),
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
	EsJsonPlace place;
	int			n;

	es_check_not_null(fcinfo, 1, "events");
	events = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_ARRAY(events) || JB_ROOT_IS_SCALAR(events))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(EVENTS_MUST_BE)));
	n = JB_ROOT_COUNT(events);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot append an empty batch"),
				 errdetail("A batch must contain at least one event.")));
	/* the first event names the aggregate; check the size before unpacking */
	place = es_json_place("event", 0, -1);
	first = es_json_object_at(&events->root, 0, EVENTS_MUST_BE);
	key = es_json_key(first, &place);
	es_check_batch_size(n, key.display);

	b = es_batch_new(n);
	b->key = key;
	es_check_expected_version(b, fcinfo, 0);
	for (int i = 0; i < n; i++)
	{
		JsonbContainer *obj = i == 0 ? first : es_json_object_at(&events->root, i, EVENTS_MUST_BE);

		CHECK_FOR_INTERRUPTS();
		if (i > 0)
		{
			place = es_json_place("event", i, -1);
			es_json_check_same_key(b, obj, i, &place);
		}
		es_json_read_event(b, i, obj, true, &place);
	}

	return es_append_srf(fcinfo, b);
}
