/*-------------------------------------------------------------------------
 *
 * conflict_log.c
 *	  es_store.log_conflicts: whether the errors a correct application
 *	  expects under concurrency reach the server log.
 *
 * A command handler that loses an optimistic race gets SE001 and retries;
 * a consumer that loses its checkpoint to a competitor gets SE005 and
 * reads again.  Under load these are thousands of ERROR lines (with their
 * STATEMENT) that say nothing is wrong.  With es_store.log_conflicts off,
 * the emit_log_hook (called by EmitErrorReport for every report bound for
 * the server log, src/backend/utils/error/elog.c) drops exactly those two
 * SQLSTATEs from the log when es_store itself raised them (is_es_conflict);
 * the client still gets the error, and every other error, SE002 included
 * (a reused event id is a bug), is logged as before.
 * Only a superuser may turn it off (PGC_SUSET), as for log_min_messages,
 * so that no role can hide its errors from the log.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/elog.h"
#include "utils/guc.h"

#include "es_store.h"

bool		es_log_conflicts = true;

static emit_log_hook_type prev_emit_log_hook = NULL;

/*
 * Whether edata is one of es_store's own conflicts: the SQLSTATE, and the C
 * function that raised it (edata->funcname, from ereport's __func__), so
 * that an error of the same code raised elsewhere (a RAISE ... USING
 * ERRCODE = 'SE001' in a role's own function) is logged as usual.
 */
static bool
is_es_conflict(const ErrorData *edata)
{
	if (edata->elevel != ERROR || edata->funcname == NULL)
		return false;
	if (edata->sqlerrcode == ERRCODE_ES_WRONG_EXPECTED_VERSION)
		return strcmp(edata->funcname, "es_raise_wrong_version") == 0;
	if (edata->sqlerrcode == ERRCODE_ES_CHECKPOINT_MOVED)
		return strcmp(edata->funcname, "es_checkpoint_check_save") == 0;
	if (edata->sqlerrcode == ERRCODE_ES_CONDITION_FAILED)
		return strcmp(edata->funcname, "raise_condition_failed") == 0;
	return false;
}

static void
conflict_log_hook(ErrorData *edata)
{
	if (!es_log_conflicts && is_es_conflict(edata))
		edata->output_to_server = false;
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* Define es_store.log_conflicts and install the hook (from _PG_init). */
void
es_conflict_log_init(void)
{
	DefineCustomBoolVariable("es_store.log_conflicts",
							 "Whether wrong expected versions (SE001), moved checkpoints (SE005) and failed append conditions (SE008) are written to the server log.",
							 "Off keeps these expected conflicts out of the log; the client gets them either way.",
							 &es_log_conflicts,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = conflict_log_hook;
}
