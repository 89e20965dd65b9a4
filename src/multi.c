/*-------------------------------------------------------------------------
 *
 * multi.c
 *	  es_append_aggregates: appends to several aggregates, and checks of
 *	  others, in one call, with the head rows locked in one order.
 *
 * A command that touches several aggregates (a transfer between two
 * accounts) appends to each with its own expected version.  Two such
 * transactions that lock the same head rows in opposite orders deadlock
 * (each waits for the row the other holds; PostgreSQL aborts one with
 * 40P01).  This call takes the rows in one canonical order, the keys
 * sorted by their bytes (bounded_context, then aggregate_type, then
 * aggregate_id, as memcmp compares them, a shorter part first when one
 * is a prefix of the other), whatever order the caller gave them in.  A
 * call then only ever waits for a row that comes after every row it
 * holds, so no cycle of waits can form between such calls: it would need
 * one of them to wait for a row that comes before one it holds.  Rows
 * locked earlier in the same transaction by other calls are outside this
 * order (README, "Several aggregates in one transaction").
 *
 * An entry with events is an append (batch.c, which locks the head row in
 * its step 3); an entry without events is a check: its head row is locked
 * FOR SHARE, which keeps every append to it out until the transaction
 * ends (appends lock FOR NO KEY UPDATE), and its version must meet the
 * entry's expectation.  A check that the aggregate does not exist locks an
 * empty head row at version 0, made for it when there is none (as
 * set_stream_metadata makes one), so that a creator waits for it too.
 *
 * Everything runs in one statement of the caller's transaction: an error
 * in any entry (SE001 above all) leaves nothing of the others.  A retry of
 * a stored call (every append's events stored as its append, found before
 * anything is locked) returns the stored results and makes no check again
 * (stored_call).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/tuplestore.h"

#include "es_store.h"

static const char *const entry_fields[] = {
	"bounded_context", "aggregate_type", "aggregate_id", "stream_name",
	"expected_version", "events", NULL
};

#define APPENDS_MUST_BE "appends must be a JSON array of objects"

/* One entry of the call, in the order given */
typedef struct Entry
{
	EsBatch    *batch;			/* key, expectation; no events for a check */
	EsAppendResult *result;		/* what the append assigned */
	int64		checked_version;	/* a check's version, as locked */
} Entry;

/* Compare two text datums by their bytes, the shorter first on a prefix */
static int
text_bytes_cmp(Datum a, Datum b)
{
	text	   *ta = DatumGetTextPP(a);
	text	   *tb = DatumGetTextPP(b);
	int			la = VARSIZE_ANY_EXHDR(ta);
	int			lb = VARSIZE_ANY_EXHDR(tb);
	int			c = memcmp(VARDATA_ANY(ta), VARDATA_ANY(tb), Min(la, lb));

	return c != 0 ? c : (la > lb) - (la < lb);
}

/*
 * Refuse a call of more entries or events than es_store.max_batch_events
 * (54000), the limit of what one append may write and lock
 */
static void
check_call_size(int64 n)
{
	if (n > es_max_batch_events)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("appends to several aggregates are too large"),
				 errdetail("The call has %lld entries or events; the limit (es_store.max_batch_events) is %d.",
						   (long long) n, es_max_batch_events)));
}

/* The canonical order of keys: the order head rows are locked in */
static int
key_cmp(const EsStreamKey *a, const EsStreamKey *b)
{
	int			c = text_bytes_cmp(a->bounded_context, b->bounded_context);

	if (c == 0)
		c = text_bytes_cmp(a->aggregate_type, b->aggregate_type);
	if (c == 0)
		c = text_bytes_cmp(a->aggregate_id, b->aggregate_id);
	return c;
}

static int
entry_cmp(const void *a, const void *b)
{
	const Entry *ea = *(Entry *const *) a;
	const Entry *eb = *(Entry *const *) b;

	return key_cmp(&ea->batch->key, &eb->batch->key);
}

/*
 * The "expected_version" of an entry into its batch: absent or null any,
 * else an integer, read as the expected_version argument of es_append.
 */
static void
read_expected(EsBatch *b, JsonbContainer *obj, const EsJsonPlace *place)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, "expected_version",
												 strlen("expected_version"), NULL);
	int64		expected;

	if (v == NULL || v->type == jbvNull)
	{
		es_set_expected_version(b, true, 0);
		return;
	}
	if (v->type != jbvNumeric ||
		!DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(v->val.numeric),
										  DirectFunctionCall2(numeric_trunc,
															  NumericGetDatum(v->val.numeric),
															  Int32GetDatum(0)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entry field \"expected_version\" must be an integer or null"),
				 errdetail("%s has an \"expected_version\" that is not.", place->name)));
	/* below -1 or past bigint: what es_set_expected_version says of -2 */
	if (DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(v->val.numeric),
										 NumericGetDatum(int64_to_numeric(-1)))) ||
		DatumGetBool(DirectFunctionCall2(numeric_gt, NumericGetDatum(v->val.numeric),
										 NumericGetDatum(int64_to_numeric(PG_INT64_MAX)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid expected version %s for stream \"%s\"",
						DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(v->val.numeric))),
						b->key.display),
				 errhint("Use NULL for any version, 0 for a new stream, -1 for an existing stream, or the exact current version.")));
	expected = DatumGetInt64(DirectFunctionCall1(numeric_int8,
												 NumericGetDatum(v->val.numeric)));
	es_set_expected_version(b, false, expected);
}

/* Entry i of the call, read and validated */
static Entry *
read_entry(JsonbContainer *obj, int i)
{
	EsJsonPlace place = es_json_place("entry", i, -1);
	Entry	   *e = palloc0(sizeof(Entry));
	EsStreamKey key;
	JsonbValue *events;
	int			n = 0;

	es_json_check_fields(obj, entry_fields, &place);
	key = es_json_key(obj, &place);
	events = getKeyJsonValueFromContainer(obj, "events", strlen("events"), NULL);
	if (events != NULL && events->type != jbvNull)
	{
		if (events->type != jbvBinary || !JsonContainerIsArray(events->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("entry field \"events\" must be a JSON array of event objects"),
					 errdetail("%s has an \"events\" that is not.", place.name)));
		n = JsonContainerSize(events->val.binary.data);
	}
	es_check_batch_size(n, key.display);
	e->batch = es_batch_new(n);
	e->batch->key = key;
	read_expected(e->batch, obj, &place);
	for (int k = 0; k < n; k++)
	{
		EsJsonPlace event_place = es_json_place("event", k, i);

		CHECK_FOR_INTERRUPTS();
		es_json_read_event(e->batch, k,
						   es_json_object_at(events->val.binary.data, k,
											 "entry field \"events\" must be a JSON array of event objects"),
						   false, &event_place);
	}
	if (n > 0)
		es_batch_validate(e->batch);
	else if (e->batch->expect == ES_EXPECT_ANY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entry for stream \"%s\" has neither events nor an expected version",
						key.display),
				 errdetail("%s checks nothing and appends nothing.", place.name),
				 errhint("Give the events to append, or the version the aggregate must be at (0: no stream, -1: any events).")));
	return e;
}

/*
 * Check that the aggregate of entry e meets its expectation, and keep its
 * head row locked FOR SHARE until the transaction ends.
 */
static void
check_entry(Entry *e)
{
	EsBatch    *b = e->batch;
	Datum		values[3] = {b->key.bounded_context, b->key.aggregate_type,
	b->key.aggregate_id};
	EsGuard		guard;
	int64		live = 0;
	bool		found = false;
	bool		matches;

	es_guard_enter(&guard);
	SPI_connect();
	for (int attempt = 0; attempt < 2 && !found; attempt++)
	{
		int			rc = SPI_execute_plan(es_plan(ES_PLAN_HEAD_SHARE), values,
										  NULL, false, 0);
		bool		isnull;

		if (rc != SPI_OK_SELECT)
			elog(ERROR, "es_store head check failed: %s", SPI_result_code_string(rc));
		if (SPI_processed == 1)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			int64		version = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			bool		deleted = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));

			if (DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)))
				es_raise_forgotten(&b->key);
			live = deleted ? 0 : version;
			found = true;
		}
		else if (attempt == 0 && b->expect == ES_EXPECT_NO_STREAM)
		{
			/*
			 * Nothing to lock: make an empty head row to lock, or wait for
			 * the creator that got there first and look again
			 */
			rc = SPI_execute_plan(es_plan(ES_PLAN_HEAD_PLACEHOLDER), values,
								  NULL, false, 0);
			if (rc != SPI_OK_INSERT)
				elog(ERROR, "es_store head placeholder failed: %s",
					 SPI_result_code_string(rc));
		}
		else
			break;
	}
	switch (b->expect)
	{
		case ES_EXPECT_NO_STREAM:
			matches = live == 0;
			break;
		case ES_EXPECT_EXISTS:
			matches = live > 0;
			break;
		default:
			matches = live == b->expected_version;
			break;
	}
	if (!matches)
		es_batch_raise_wrong_version(b);
	e->checked_version = live;
	SPI_finish();
	es_guard_leave(&guard);
}

/*
 * Whether the call (its entries in sorted) is a retry of one that is
 * stored: every entry with events names events stored as its append (their
 * stored results are taken, and the checks are not made again: the call
 * they belonged to held them).  False when no entry's events are stored;
 * SE002 when only some are (a retry must repeat the whole call).  Looks
 * without locking, so the ordinary path, which locks in key order, still
 * decides for a call whose original is in flight.
 */
static bool
stored_call(Entry **sorted, int n)
{
	int			appends = 0;
	int			stored = 0;
	Entry    *first_new = NULL;

	for (int i = 0; i < n; i++)
	{
		EsBatch    *b = sorted[i]->batch;

		CHECK_FOR_INTERRUPTS();
		if (b->nevents == 0)
			continue;
		appends++;
		if (b->ids_supplied && (sorted[i]->result = es_batch_find_stored(b)) != NULL)
			stored++;
		else if (first_new == NULL)
			first_new = sorted[i];
	}
	if (stored > 0 && stored < appends)
		ereport(ERROR,
				(errcode(ERRCODE_ES_DUPLICATE_EVENT),
				 errmsg("append_aggregates repeats some of a stored call's appends, but not the one to stream \"%s\"",
						first_new->batch->key.display),
				 errdetail("Stored already: %d of the call's %d appends.", stored, appends),
				 errhint("A retry must repeat the whole call, every append with its event ids; new appends belong in a call of their own.")));
	return stored > 0;
}

/* The result rows of entry e into the result set */
static void
put_entry(ReturnSetInfo *rsinfo, const Entry *e)
{
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	const EsBatch *b = e->batch;

	values[0] = b->key.bounded_context;
	values[1] = b->key.aggregate_type;
	values[2] = b->key.aggregate_id;
	if (b->nevents == 0)
	{
		/* a check of a retried call was not made again: no version */
		nulls[3] = nulls[5] = true;
		nulls[4] = e->checked_version < 0;
		values[4] = Int64GetDatum(e->checked_version);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		return;
	}
	for (int i = 0; i < e->result->nevents; i++)
	{
		CHECK_FOR_INTERRUPTS();
		values[3] = e->result->event_ids[i];
		values[4] = Int64GetDatum(e->result->versions[i]);
		values[5] = Int64GetDatum(e->result->positions[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * es_append_aggregates(appends jsonb)
 *
 * appends: a JSON array of entries, each naming an aggregate
 * (bounded_context, aggregate_type, aggregate_id, or stream_name) once,
 * with an "expected_version" (integer or null, as es_append's) and
 * "events", an array of event objects as es_append_events takes them but
 * without the key.  An entry without events checks the expectation and
 * holds it to the end of the transaction.  Returns, in the entries' order,
 * each event's key, id, version and position, and for a check one row
 * with the checked version and no id or position.
 */
PG_FUNCTION_INFO_V1(es_append_aggregates);
Datum
es_append_aggregates(PG_FUNCTION_ARGS)
{
	Jsonb	   *appends;
	Entry	  **entries;
	Entry	  **sorted;
	ReturnSetInfo *rsinfo;
	int			n;
	int64		total = 0;

	es_check_not_null(fcinfo, 0, "appends");
	appends = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_ARRAY(appends) || JB_ROOT_IS_SCALAR(appends))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(APPENDS_MUST_BE)));
	n = JB_ROOT_COUNT(appends);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot append to an empty list of aggregates"),
				 errdetail("appends must contain at least one entry.")));
	check_call_size(n);

	entries = palloc(sizeof(Entry *) * n);
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		entries[i] = read_entry(es_json_object_at(&appends->root, i, APPENDS_MUST_BE), i);
		total += entries[i]->batch->nevents;
		check_call_size(total);
	}

	sorted = palloc(sizeof(Entry *) * n);
	memcpy(sorted, entries, sizeof(Entry *) * n);
	qsort(sorted, n, sizeof(Entry *), entry_cmp);
	for (int i = 1; i < n; i++)
	{
		if (key_cmp(&sorted[i - 1]->batch->key, &sorted[i]->batch->key) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("stream \"%s\" is named by more than one entry",
							sorted[i]->batch->key.display),
					 errhint("Give each aggregate one entry, with all its events.")));
	}

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	if (stored_call(sorted, n))
	{
		for (int i = 0; i < n; i++)
			if (sorted[i]->batch->nevents == 0)
				sorted[i]->checked_version = -1;
	}
	else
	{
		for (int i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (sorted[i]->batch->nevents > 0)
				sorted[i]->result = es_append_batch(sorted[i]->batch);
			else
				check_entry(sorted[i]);
		}
	}
	for (int i = 0; i < n; i++)
		put_entry(rsinfo, entries[i]);
	return (Datum) 0;
}
