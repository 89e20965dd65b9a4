/*-------------------------------------------------------------------------
 *
 * heads.c
 *	  The aggregate head row: check the expected version and advance it in
 *	  one statement.
 *
 * Locking: every append first runs exactly one statement on its
 * aggregate's row in es_store.aggregate_heads (INSERT .. ON CONFLICT, or
 * UPDATE).  That statement takes the row lock, evaluates the expected
 * version against the latest committed row (READ COMMITTED re-checks an
 * updated row through EvalPlanQual, see
 * src/backend/executor/README "EvalPlanQual"), and writes the new version,
 * all at once.  Two appends to one aggregate therefore queue on that row,
 * and the second sees the first's version; appends to different aggregates
 * touch different rows and never wait on each other.  A new aggregate's
 * row is created by INSERT .. ON CONFLICT, whose unique-index check makes a
 * concurrent creator wait and then take the conflict path.
 *
 * Under REPEATABLE READ or SERIALIZABLE, PostgreSQL raises 40001 instead of
 * re-checking a row that changed after the transaction's snapshot; the
 * retried transaction then gets SE001 if its expected version is stale.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/snapmgr.h"

#include "es_store.h"

static void
key_values(const EsStreamKey *key, Datum *values)
{
	values[0] = key->bounded_context;
	values[1] = key->aggregate_type;
	values[2] = key->aggregate_id;
}

/*
 * Lock the batch's head row, check the expected version and advance the
 * version by the batch size, or (AT_VERSION) raise it to the chosen version.
 * When the check fails nothing is written (the row stays locked until the
 * transaction ends, which the caller's error ends at once).
 */
EsHead
es_head_advance(const EsBatch *batch)
{
	EsHead		head = {false, 0, 0, false};
	Datum		values[5];
	EsPlanId	plan;
	int			rc;
	bool		isnull;

	key_values(&batch->key, values);
	values[3] = Int64GetDatum(batch->nevents);
	switch (batch->expect)
	{
		case ES_EXPECT_ANY:
			plan = ES_PLAN_HEAD_UPSERT;
			break;
		case ES_EXPECT_NO_STREAM:
			plan = ES_PLAN_HEAD_CREATE;
			break;
		case ES_EXPECT_EXISTS:
		case ES_EXPECT_EXACT:
			plan = ES_PLAN_HEAD_ADVANCE;
			values[4] = Int64GetDatum(batch->expect == ES_EXPECT_EXISTS ?
									  -1 : batch->expected_version);
			break;
		case ES_EXPECT_AT_VERSION:
			plan = ES_PLAN_HEAD_AT_VERSION;
			values[3] = Int64GetDatum(batch->expected_version);
			break;
		default:
			elog(ERROR, "unexpected expect kind %d", (int) batch->expect);
	}

	rc = SPI_execute_plan(es_plan(plan), values, NULL, false, 1);
	if (rc != SPI_OK_INSERT_RETURNING && rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "es_store head statement failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return head;

	head.matched = true;
	head.stream_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1,
												 &isnull));
	if (batch->expect == ES_EXPECT_AT_VERSION)
		head.old_version = batch->expected_version - 1;
	else
		head.old_version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc,
													   2, &isnull));
	return head;
}

/*
 * The version an expectation meets: the aggregate's current version, 0
 * when it has no head row or is deleted or forgotten (0.3.0); *forgotten
 * (when not NULL) tells whether it was forgotten with a tombstone.  Inside
 * a VOLATILE caller this runs with a fresh snapshot in READ COMMITTED, so
 * after es_head_advance waited on the row it sees the winner's version;
 * under REPEATABLE READ it sees the transaction's snapshot.  latest: read
 * the latest committed version instead, in every isolation level.
 */
int64
es_head_state(const EsStreamKey *key, bool latest, bool *forgotten)
{
	Datum		values[3];
	bool		isnull;
	int64		version = 0;
	int			rc;

	key_values(key, values);
	if (forgotten)
		*forgotten = false;
	if (latest)
		PushActiveSnapshot(GetLatestSnapshot());
	rc = SPI_execute_plan(es_plan(ES_PLAN_HEAD_VERSION), values, NULL, latest, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store head lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
		if (forgotten)
			*forgotten = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 2,
													&isnull));
	}
	if (latest)
		PopActiveSnapshot();
	return version;
}

/*
 * Take back an advance of nevents made earlier in this transaction (used
 * when the append turns out to be a retry of an already stored one).
 */
void
es_head_undo_advance(const EsStreamKey *key, int64 stream_id, int nevents)
{
	Datum		values[3];
	int			rc;

	values[0] = Int64GetDatum(stream_id);
	values[1] = Int64GetDatum(nevents);
	values[2] = key->aggregate_id;	/* on Citus: the shard (plans.c) */
	rc = SPI_execute_plan(es_plan(ES_PLAN_HEAD_UNDO), values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not restore the version of stream %lld",
			 (long long) stream_id);
}

/*
 * Lock the head row of key as an append's advance locks it (FOR NO KEY
 * UPDATE: waiting for an append in flight, and under READ COMMITTED then
 * locking its latest version), until the transaction ends.  Returns false
 * when the key has no head row.
 */
bool
es_head_lock(const EsStreamKey *key)
{
	Datum		values[3];
	int			rc;

	key_values(key, values);
	rc = SPI_execute_plan(es_plan(ES_PLAN_HEAD_LOCK_NO_KEY), values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store head lock failed: %s", SPI_result_code_string(rc));
	return SPI_processed == 1;
}
