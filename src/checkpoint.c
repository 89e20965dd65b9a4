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
 * es_save_checkpoint(name, position, expected_position)
 *
 * Save position (>= 0) under name (both non-NULL) in the caller's
 * transaction.  Saving the same position again is allowed; a lower one
 * fails with SE004.  With expected_position (NULL: no check), the save is
 * a compare-and-set: the saved position must be expected_position (0
 * meaning none saved yet), else SE005.  Either failure changes nothing.
 * Also serves the 0.1.0 signature without expected_position (PG_NARGS()).
 */
PG_FUNCTION_INFO_V1(es_save_checkpoint);
Datum
es_save_checkpoint(PG_FUNCTION_ARGS)
{
	Datum		values[3];
	int64		position;
	int64		current;
	bool		cas = PG_NARGS() >= 3 && !PG_ARGISNULL(2);
	EsPlanId	plan = ES_PLAN_SAVE_CHECKPOINT;
	int			rc;

	es_check_not_null(fcinfo, 0, "checkpoint name");
	es_check_not_null(fcinfo, 1, "position");
	position = es_arg_nonnegative(fcinfo, 1, "position", 0);
	values[0] = PG_GETARG_DATUM(0);
	values[1] = Int64GetDatum(position);
	if (cas)
	{
		values[2] = Int64GetDatum(es_arg_nonnegative(fcinfo, 2,
													 "expected_position", 0));
		plan = DatumGetInt64(values[2]) == 0 ?
			ES_PLAN_SAVE_CHECKPOINT_FROM_ZERO : ES_PLAN_SAVE_CHECKPOINT_FROM;
	}

	SPI_connect();
	rc = SPI_execute_plan(es_plan(plan), values, NULL, false, 1);
	if (rc != SPI_OK_INSERT_RETURNING && rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "es_store checkpoint save failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		SPI_finish();
		PG_RETURN_VOID();
	}

	/* Not saved: say why, from the checkpoint as it is now. */
	{
		bool		isnull;
		Datum		d = es_exec_scalar(ES_PLAN_GET_CHECKPOINT, values, NULL,
									   false, &isnull);

		current = isnull ? 0 : DatumGetInt64(d);
	}
	if (cas && current != DatumGetInt64(values[2]))
		ereport(ERROR,
				(errcode(ERRCODE_ES_CHECKPOINT_MOVED),
				 errmsg("checkpoint \"%s\" was moved by another consumer",
						TextDatumGetCString(values[0])),
				 errdetail("Expected the saved position to be %lld, but it is %lld.",
						   (long long) DatumGetInt64(values[2]),
						   (long long) current)));
	ereport(ERROR,
			(errcode(ERRCODE_ES_CHECKPOINT_BACKWARDS),
			 errmsg("checkpoint \"%s\" cannot move backwards",
					TextDatumGetCString(values[0])),
			 errdetail("The saved position is %lld; the new position %lld is lower.",
					   (long long) current, (long long) position)));
	PG_RETURN_VOID();
}
