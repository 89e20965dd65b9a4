/*-------------------------------------------------------------------------
 *
 * results.c
 *	  The result set of a read: a tuplestore, as InitMaterializedSRF makes
 *	  it, whose rows go to memory the session keeps from one read to the
 *	  next.
 *
 * Why: a feed page of 1000 events is a few hundred kilobytes of rows.  In
 * the query's own memory, those are allocated from the C library at each
 * read and given back when the query ends, and the C library hands the
 * pages to the kernel and faults them in again at the next read (its heap
 * trimming).  Keeping one block for the session's reads avoids that.
 *
 * How, and why it is safe:
 *	- One memory context per session, its first block (which a reset keeps)
 *	  RESULT_BLOCK_SIZE bytes.  A read uses it when no other read's result
 *	  lives in it, else the query's memory as InitMaterializedSRF would.
 *	- It is in use from the read that fills it until the memory of the
 *	  query that called the read is reset or deleted, which a callback on
 *	  that memory (ecxt_per_query_memory, the executor's es_query_cxt)
 *	  observes: the executor ends the function scan, and with it the
 *	  tuplestore (tuplestore_end), before it deletes that memory
 *	  (ExecEndPlan, then FreeExecutorState, in execMain.c), and an error
 *	  deletes that memory with the portal's.  The callback then resets the
 *	  context, which frees what a failed query left there, keeping the
 *	  first block.
 *	- Nothing else is allocated there: only the tuplestore and its rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "es_store.h"

/* The block a reset keeps: a page of 1000 rows of a few hundred bytes */
#define RESULT_BLOCK_SIZE (1024 * 1024)

static MemoryContext result_cxt = NULL;
static bool result_cxt_in_use = false;

/* The query whose result was in result_cxt has ended: free it. */
static void
result_cxt_release(void *arg)
{
	Assert(result_cxt_in_use);
	MemoryContextReset(result_cxt);
	result_cxt_in_use = false;
}

/*
 * es_result_init: what InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC)
 * does, with the tuplestore's rows in the session's result memory when it
 * is free.
 */
void
es_result_init(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext per_query;
	MemoryContext old;
	MemoryContext store_cxt;
	bool		random_access;
	Tuplestorestate *store;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize) ||
		rsinfo->expectedDesc == NULL)
	{
		/* let it report what is wrong */
		InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
		return;
	}
	per_query = rsinfo->econtext->ecxt_per_query_memory;
	store_cxt = per_query;
	if (!result_cxt_in_use)
	{
		MemoryContextCallback *cb;

		if (result_cxt == NULL)
			result_cxt = AllocSetContextCreate(TopMemoryContext,
											   "es_store read results",
											   RESULT_BLOCK_SIZE,
											   RESULT_BLOCK_SIZE,
											   ALLOCSET_DEFAULT_MAXSIZE);
		cb = MemoryContextAlloc(per_query, sizeof(MemoryContextCallback));
		cb->func = result_cxt_release;
		cb->arg = NULL;
		MemoryContextRegisterResetCallback(per_query, cb);
		result_cxt_in_use = true;
		store_cxt = result_cxt;
	}

	random_access = (rsinfo->allowedModes & SFRM_Materialize_Random) != 0;
	old = MemoryContextSwitchTo(store_cxt);
	store = tuplestore_begin_heap(random_access, false, work_mem);
	MemoryContextSwitchTo(per_query);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = CreateTupleDescCopy(rsinfo->expectedDesc);
	MemoryContextSwitchTo(old);
}

/*
 * The tuple descriptor of this call's row result (a composite type or OUT
 * parameters), blessed so that heap_form_tuple's datums carry it.
 */
TupleDesc
es_row_desc(FunctionCallInfo fcinfo)
{
	TupleDesc	desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	return BlessTupleDesc(desc);
}
