/*-------------------------------------------------------------------------
 *
 * checkpoint.c
 *	  SQL entry points for named projection checkpoints.
 *
 * A checkpoint is saved in the caller's transaction, so it commits or
 * rolls back together with the read model the caller updated.  Saving
 * locks the checkpoint's row (INSERT .. ON CONFLICT DO UPDATE) until the
 * transaction ends, so two consumers saving one checkpoint queue, and the
 * second compares against the first's committed position.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "es_store.h"

/*
 * es_get_checkpoint(name)
 *
 * The position saved under name (non-NULL), or 0 when none was saved.
 */
PG_FUNCTION_INFO_V1(es_get_checkpoint);
Datum
es_get_checkpoint(PG_FUNCTION_ARGS)
{
	Datum		values[1];

	es_check_not_null(fcinfo, 0, "checkpoint name");
	values[0] = PG_GETARG_DATUM(0);
	PG_RETURN_INT64(es_query_int8(ES_PLAN_GET_CHECKPOINT, values, true, 0));
}

/*
 * es_save_checkpoint(name, position)
 *
 * Save position (>= 0) under name (both non-NULL) in the caller's
 * transaction.  Saving the same position again is allowed; a lower one
 * fails with SE004 and changes nothing.
 */
PG_FUNCTION_INFO_V1(es_save_checkpoint);
Datum
es_save_checkpoint(PG_FUNCTION_ARGS)
{
	Datum		values[2];
	int64		position;
	int			rc;

	es_check_not_null(fcinfo, 0, "checkpoint name");
	es_check_not_null(fcinfo, 1, "position");
	position = es_arg_nonnegative(fcinfo, 1, "position", 0);
	values[0] = PG_GETARG_DATUM(0);
	values[1] = Int64GetDatum(position);

	SPI_connect();
	rc = SPI_execute_plan(es_plan(ES_PLAN_SAVE_CHECKPOINT), values, NULL,
						  false, 1);
	if (rc != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "es_store checkpoint save failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		bool		isnull;
		Datum		current = es_exec_scalar(ES_PLAN_GET_CHECKPOINT, values,
											 NULL, false, &isnull);

		ereport(ERROR,
				(errcode(ERRCODE_ES_CHECKPOINT_BACKWARDS),
				 errmsg("checkpoint \"%s\" cannot move backwards",
						TextDatumGetCString(values[0])),
				 errdetail("The saved position is %lld; the new position %lld is lower.",
						   (long long) DatumGetInt64(current),
						   (long long) position)));
	}
	SPI_finish();
	PG_RETURN_VOID();
}
