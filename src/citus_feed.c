/*-------------------------------------------------------------------------
 *
 * citus_feed.c
 *	  A feed page of a distributed store read with one statement per
 *	  worker, instead of Citus's one task per shard.
 *
 * Citus runs a feed page's statement on es_store.events as one task per
 * shard (an index range with a LIMIT on each), one after the other over a
 * worker's connection: 32 shards cost a page about 14 ms on two workers.
 * Here the coordinator asks each worker once, over the connection it
 * keeps to it for the feed's bounds (remote.c), for the page of the
 * shards that worker holds (es_citus_node_feed_page: the filtered feed
 * statement on each pair of colocated shards of events and heads, the
 * first max_count of them in position order, a plan the worker keeps for
 * the connection), and merges the answers.
 *
 * Which worker reads which shard is the coordinator's metadata, read with
 * a snapshot taken after the page's bound, as Citus's own statement would
 * read it: a shard moved (citus_move_shard_placement) is read where the
 * coordinator sends its writes.  Every event within the bound committed
 * before the bound was known, so before the statement's snapshot on the
 * worker; a row written to a shard's new placement was written after the
 * move committed on the coordinator (the coordinator routes writes by its
 * metadata, and commits a move before its workers do), and so is read
 * there.  The old placement is dropped only later, by Citus's deferred
 * cleanup, which waits for the readers of the shard.  The workers'
 * metadata is not used: during a move's two-phase commit two workers may
 * disagree on which of them holds a shard.
 *
 * The workers read outside the caller's transaction.  Which is what a
 * feed read needs (every committed event up to the bound; the caller's own
 * appends are above it), except when the transaction has already worked
 * through Citus: its uncommitted writes on a worker (a delete or forget of
 * an aggregate, say) must be seen by its own reads, as on one node.  Such
 * a transaction has a Citus distributed transaction id, which Citus
 * gives a transaction block at its first statement on the workers; then,
 * as when a shard of the events is on the coordinator (a coordinator with
 * shouldhaveshards) or its heads' shard is not on the same node, the
 * caller runs Citus's statement instead, over the transaction's own
 * connections (es_citus_read_feed returns false).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "es_store.h"

/* What the coordinator sends each worker: its shards and the page's terms */
#define NODE_PAGE_SQL \
	"SELECT * FROM es_store.citus_node_feed_page(" \
	"CAST($1 AS pg_catalog.int8[]), CAST($2 AS pg_catalog.int8), " \
	"CAST($3 AS pg_catalog.int8), CAST($4 AS pg_catalog.text[]), " \
	"CAST($5 AS pg_catalog.text[]), CAST($6 AS pg_catalog.text[]), " \
	"CAST($7 AS pg_catalog.int8), CAST($8 AS pg_catalog.int8), " \
	"CAST($9 AS pg_catalog.int8))"
#define NODE_PAGE_PARAMS 9

/* The largest page read with one statement per worker */
#define ES_CITUS_PAGE_ROWS 10000

/* The shards one worker group reads, as pairs (events, heads) */
typedef struct GroupShards
{
	int32		group;
	StringInfoData pairs;		/* "{e1,h1,e2,h2,...}" once closed */
	int			npairs;
} GroupShards;

/* One row of a worker's page, received */
typedef struct PageRow
{
	int64		position;
	Datum	   *values;
	bool	   *nulls;
} PageRow;

/*
 * The groups and their shards, from the coordinator's metadata; NULL when
 * a shard of the events is on the coordinator or has no heads' shard on
 * the same node.  Connected to SPI; the result in into.
 */
static GroupShards *
group_shards(MemoryContext into, int *ngroups)
{
	GroupShards *groups;
	int64		last_shard = -1;
	int			n = 0;
	bool		usable = true;

	if (SPI_execute_plan(es_plan(ES_PLAN_CITUS_PLACEMENTS), NULL, NULL, true, 0)
		!= SPI_OK_SELECT)
		elog(ERROR, "es_store could not read the Citus placements");
	MemoryContextSwitchTo(into);
	groups = palloc0(sizeof(GroupShards) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed && usable; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		no_heads;
		int32		group = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		int64		events = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		int64		heads = DatumGetInt64(SPI_getbinval(tup, desc, 3, &no_heads));
		int			g;

		CHECK_FOR_INTERRUPTS();
		/* a shard's other placements (replication) are not read */
		if (events == last_shard)
			continue;
		last_shard = events;
		if (group == 0 || no_heads)
		{
			usable = false;
			break;
		}
		for (g = 0; g < n && groups[g].group != group; g++)
			;
		if (g == n)
		{
			groups[n].group = group;
			initStringInfo(&groups[n].pairs);
			appendStringInfoChar(&groups[n].pairs, '{');
			n++;
		}
		appendStringInfo(&groups[g].pairs, "%s" INT64_FORMAT "," INT64_FORMAT,
						 groups[g].npairs > 0 ? "," : "", events, heads);
		groups[g].npairs++;
	}
	if (!usable)
		return NULL;
	for (int g = 0; g < n; g++)
		appendStringInfoChar(&groups[g].pairs, '}');
	*ngroups = n;
	return groups;
}

/*
 * Whether this transaction has worked through Citus on the workers (has a
 * distributed transaction id).  Connected to SPI.
 */
static bool
in_citus_transaction(void)
{
	bool		isnull;
	Datum		number = es_exec_scalar(ES_PLAN_CITUS_TRANSACTION, NULL, NULL, true, &isnull);

	return !isnull && DatumGetInt64(number) != 0;
}

static char *
int8_param(int64 v)
{
	return psprintf(INT64_FORMAT, v);
}

static char *
array_param(ArrayType *array)
{
	if (array == NULL)
		return NULL;
	return OidOutputFunctionCall(F_ARRAY_OUT, PointerGetDatum(array));
}

static int
compare_rows(const void *a, const void *b)
{
	int64		pa = ((const PageRow *) a)->position;
	int64		pb = ((const PageRow *) b)->position;

	return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/*
 * Read every row of the workers' answers (text, in the columns of desc)
 * into *nrows rows.  Text, not binary: a binary text value is converted
 * from this session's client_encoding on receipt (pq_getmsgtext), which
 * is not the encoding the worker sent it in (the database's: remote.c
 * asks for it), and the input functions convert nothing.  Timestamps
 * come in ISO format (remote.c sets DateStyle), which any DateStyle reads.
 */
static PageRow *
receive_rows(EsWorkerRows *answers, int n, TupleDesc desc, int *nrows)
{
	int			natts = desc->natts;
	FmgrInfo   *in = palloc(sizeof(FmgrInfo) * natts);
	Oid		   *ioparams = palloc(sizeof(Oid) * natts);
	PageRow    *rows;
	int			total = 0;
	int			k = 0;

	for (int f = 0; f < natts; f++)
	{
		Oid			fn;

		getTypeInputInfo(TupleDescAttr(desc, f)->atttypid, &fn, &ioparams[f]);
		fmgr_info(fn, &in[f]);
	}
	for (int i = 0; i < n; i++)
	{
		EsWorkerRows *a = &answers[i];

		bool		same = a->nfields == natts;

		for (int f = 0; same && f < natts; f++)
			same = a->types[f] == TupleDescAttr(desc, f)->atttypid;
		if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("Citus worker %s answered a feed page in other columns than es_store.event's",
							a->name),
					 errdetail("The worker's es_store is not the coordinator's version."),
					 errhint("Update es_store to the same version on every node (ALTER EXTENSION es_store UPDATE).")));
		total += a->nrows;
	}
	rows = palloc(sizeof(PageRow) * Max(total, 1));
	for (int i = 0; i < n; i++)
	{
		EsWorkerRows *a = &answers[i];

		for (int r = 0; r < a->nrows; r++)
		{
			PageRow    *row = &rows[k++];

			CHECK_FOR_INTERRUPTS();
			row->values = palloc(sizeof(Datum) * natts);
			row->nulls = palloc(sizeof(bool) * natts);
			for (int f = 0; f < natts; f++)
			{
				int			v = r * natts + f;

				row->nulls[f] = a->values[v] == NULL;
				row->values[f] = InputFunctionCall(&in[f], a->values[v], ioparams[f],
												   TupleDescAttr(desc, f)->atttypmod);
			}
			if (row->nulls[0])
				elog(ERROR, "Citus worker %s answered a feed page row without a position",
					 a->name);
			row->position = DatumGetInt64(row->values[0]);
		}
	}
	*nrows = total;
	return rows;
}

/*
 * On the coordinator of a store whose events are hash-distributed: put
 * the feed page of positions in (after, bound], at most max_count, of the
 * events filter keeps (NULL: all), into this call's result (es_result_init
 * done), one statement per worker.  Returns false, having done nothing,
 * where it does not apply (see the file header): the caller runs Citus's
 * statement.
 */
bool
es_citus_read_feed(FunctionCallInfo fcinfo, int64 after, int64 bound,
				   int64 max_count, const EsFeedFilter *filter)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext page_cxt;
	MemoryContext old;
	GroupShards *groups;
	int			ngroups = 0;
	int32	   *group_ids;
	const char **params;
	EsWorkerRows *answers;
	int			nanswers;
	PageRow    *rows;
	int			nrows;

	if (max_count > ES_CITUS_PAGE_ROWS || !es_store_distributed() ||
		!es_citus_events_distributed(es_extension_schema()))
		return false;
	page_cxt = AllocSetContextCreate(CurrentMemoryContext, "es_store Citus feed page",
									 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(page_cxt);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	groups = in_citus_transaction() ? NULL : group_shards(page_cxt, &ngroups);
	SPI_finish();				/* back in page_cxt */
	if (groups == NULL)
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(page_cxt);
		return false;
	}

	group_ids = palloc(sizeof(int32) * Max(ngroups, 1));
	params = palloc0(sizeof(char *) * NODE_PAGE_PARAMS * Max(ngroups, 1));
	for (int g = 0; g < ngroups; g++)
	{
		const char **p = params + g * NODE_PAGE_PARAMS;

		group_ids[g] = groups[g].group;
		p[0] = groups[g].pairs.data;
		p[1] = int8_param(after);
		p[2] = int8_param(bound);
		for (int f = 0; f < 3; f++)
			p[3 + f] = filter != NULL ? array_param(filter->values[f]) : NULL;
		p[6] = int8_param(filter != NULL ? filter->segment : 0);
		p[7] = int8_param(filter != NULL ? filter->segments : 1);
		p[8] = int8_param(max_count);
	}
	answers = es_remote_query(NODE_PAGE_SQL, group_ids, ngroups, NODE_PAGE_PARAMS,
							  params, "read the feed", &nanswers);
	rows = receive_rows(answers, nanswers, rsinfo->setDesc, &nrows);
	qsort(rows, nrows, sizeof(PageRow), compare_rows);
	for (int r = 0; r < nrows && r < max_count; r++)
	{
		CHECK_FOR_INTERRUPTS();
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 rows[r].values, rows[r].nulls);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(page_cxt);
	return true;
}

/*
 * The worker's kept plan of a page over the shards it was last asked for
 * (a connection from the coordinator asks for the same shards until one
 * moves), in TopMemoryContext
 */
static SPIPlanPtr page_plan = NULL;
static int64 *page_shards = NULL;
static int	page_nshards = 0;

static SPIPlanPtr
plan_for(const int64 *shards, int nshards)
{
	static Oid	argtypes[8] = {INT8OID, INT8OID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, INT8OID, INT8OID, INT8OID};
	SPIPlanPtr	plan;

	if (page_plan != NULL && nshards == page_nshards &&
		memcmp(shards, page_shards, sizeof(int64) * nshards) == 0)
		return page_plan;
	plan = SPI_prepare_cursor(es_shard_feed_sql(shards, nshards / 2), 8, argtypes,
							  CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "es_store could not plan a feed page: %s",
			 SPI_result_code_string(SPI_result));
	if (page_plan != NULL)
	{
		SPI_freeplan(page_plan);
		pfree(page_shards);
		page_plan = NULL;
	}
	page_shards = MemoryContextAlloc(TopMemoryContext, sizeof(int64) * nshards);
	memcpy(page_shards, shards, sizeof(int64) * nshards);
	page_nshards = nshards;
	SPI_keepplan(plan);
	page_plan = plan;
	return plan;
}

/*
 * es_citus_node_feed_page(shards, after, bound, bounded_contexts,
 *						   aggregate_types, event_types, segment,
 *						   segment_count, max_count) -> SETOF es_store.event
 *
 * On a Citus worker, what es_citus_read_feed asks it for: the feed rows
 * of positions in (after, bound] that the filter keeps, at most
 * max_count, of the shards named by pairs of ids (events, heads), in
 * position order.  Internal: no grants; the coordinator calls it as the
 * extension's owner.
 */
PG_FUNCTION_INFO_V1(es_citus_node_feed_page);
Datum
es_citus_node_feed_page(PG_FUNCTION_ARGS)
{
	ArrayType  *shards_array;
	Datum	   *shard_datums;
	bool	   *shard_nulls;
	int			nshards;
	int64	   *shards;
	Datum		values[8];
	char		nulls[8] = "        ";
	EsGuard		guard;
	static const int argnos[6] = {0, 1, 2, 6, 7, 8};
	static const char *const names[6] = {"shards", "after_position", "up_to_position",
	"segment", "segment_count", "max_count"};

	if (es_citus_local_group() <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("es_store.citus_node_feed_page() runs on a Citus worker"),
				 errhint("Read the feed with es_store.read_feed() on the coordinator.")));
	for (int i = 0; i < 6; i++)
		es_check_not_null(fcinfo, argnos[i], names[i]);
	shards_array = PG_GETARG_ARRAYTYPE_P(0);
	deconstruct_array(shards_array, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &shard_datums, &shard_nulls, &nshards);
	if (ARR_NDIM(shards_array) > 1 || nshards == 0 || nshards % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shards must be pairs of shard ids of es_store.events and es_store.aggregate_heads")));
	shards = palloc(sizeof(int64) * nshards);
	for (int i = 0; i < nshards; i++)
	{
		if (shard_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("shards must not contain NULL")));
		shards[i] = DatumGetInt64(shard_datums[i]);
	}
	values[0] = PG_GETARG_DATUM(1);
	values[1] = PG_GETARG_DATUM(2);
	for (int f = 0; f < 3; f++)
	{
		values[2 + f] = PG_ARGISNULL(3 + f) ? (Datum) 0 : PG_GETARG_DATUM(3 + f);
		if (PG_ARGISNULL(3 + f))
			nulls[2 + f] = 'n';
	}
	values[5] = PG_GETARG_DATUM(6);
	values[6] = PG_GETARG_DATUM(7);
	values[7] = PG_GETARG_DATUM(8);
	if (DatumGetInt64(values[6]) < 1 || DatumGetInt64(values[7]) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment_count and max_count must be at least 1")));

	es_result_init(fcinfo);
	es_guard_enter(&guard);
	SPI_connect();
	es_exec_plan_into_srf(fcinfo, plan_for(shards, nshards), values, nulls, true);
	SPI_finish();
	es_guard_leave(&guard);
	return (Datum) 0;
}
