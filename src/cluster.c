/*-------------------------------------------------------------------------
 *
 * cluster.c
 *	  The global feed of an es_store distributed over Citus: positions drawn
 *	  on the coordinator, rows stored on the workers, and a safe bound that
 *	  holds across both.
 *
 * On a distributed store (src/README.md, "Across Citus nodes"):
 *	- Positions are drawn only on the coordinator (group 0), from its
 *	  sequence, registered in its registry: a worker's sequence is its own
 *	  and would hand out the coordinator's values again, so a worker
 *	  refuses to draw or to compute the feed's bound
 *	  (es_refuse_on_citus_worker, called by es_position_sequence).
 *	- Each row lands in a shard on some node, in that node's transaction,
 *	  which Citus commits after the coordinator's own (two-phase, when the
 *	  transaction wrote on more than one node: COMMIT PREPARED runs in
 *	  Citus's commit callback, after es_store's has cleared the drawer's
 *	  slot, or later still, by Citus's recovery after a failure).  So the
 *	  shard's node holds its own registry at the row's position, from a
 *	  trigger on the shard (es_events_hold_feed, registry.c
 *	  es_registry_hold), until its own transaction has ended there.
 *	- The safe bound on the coordinator is the least of its own registry's
 *	  bound and, on every worker, the lowest position held there, minus
 *	  one; read in that order (es_store_safe_bound).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "es_store.h"

/* Whether es_store's own tables are Citus tables here */
static bool
store_is_citus(void)
{
	return es_citus_schema(es_extension_schema());
}

/*
 * Refuse, on a Citus worker of a distributed store, what needs the store's
 * position sequence: drawing positions and computing the feed's bound.
 */
void
es_refuse_on_citus_worker(void)
{
	int			group = es_citus_local_group();

	if (group > 0 && store_is_citus())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("es_store appends and feed reads run on the Citus coordinator"),
				 errdetail("This node is a worker (Citus group %d) of a distributed es_store; global positions are drawn, and the feed's safe position is known, only on the coordinator.",
						   group),
				 errhint("Connect to the coordinator.")));
}

/*
 * The lowest position held on the workers (es_registry_hold), or
 * PG_INT64_MAX when none is.  Asks every active worker, each on a new
 * connection (Citus's run_command_on_workers), and errors when one does not
 * answer: its rows' positions are then not known to be safe.
 */
static int64
workers_lowest_held(void)
{
	int64		lowest = PG_INT64_MAX;
	const char *sql =
		"SELECT w.success, w.nodename, w.nodeport, w.result "
		"FROM pg_catalog.run_command_on_workers("
		"'SELECT pg_catalog.min(lowest_position) FROM es_store.in_flight_appends()') w";
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute(sql, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store could not ask the Citus workers: %s",
			 SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		ok = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *result = SPI_getvalue(tup, desc, 4);

		CHECK_FOR_INTERRUPTS();
		if (isnull || !ok)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("cannot read the feed's safe position: Citus worker %s:%s did not answer",
							SPI_getvalue(tup, desc, 2), SPI_getvalue(tup, desc, 3)),
					 errdetail("%s", result != NULL ? result : "no result"),
					 errhint("Every worker must be reachable from the coordinator for the feed to know which of its events are committed.")));
		if (result != NULL && result[0] != '\0')
		{
			int64		held = pg_strtoint64(result);

			if (held < lowest)
				lowest = held;
		}
	}
	SPI_finish();
	return lowest;
}

/*
 * The highest global position a feed read may return now (registry.c
 * es_feed_safe_bound), across the workers too on a distributed store.
 */
int64
es_store_safe_bound(void)
{
	int64		bound = es_feed_safe_bound(es_position_sequence());

	if (es_citus_local_group() == 0 && store_is_citus())
	{
		/* after the coordinator's registry: see the file header */
		int64		held = workers_lowest_held();

		if (held != PG_INT64_MAX && held - 1 < bound)
			bound = held - 1;
	}
	return bound;
}

/*
 * es_events_hold_feed() -> trigger
 *
 * BEFORE INSERT FOR EACH ROW on es_store.events of a distributed store
 * (the README's distribution recipe creates it; Citus runs it on each
 * shard): hold this node's registry at the row's position until this
 * node's transaction has ended.
 */
PG_FUNCTION_INFO_V1(es_events_hold_feed);
Datum
es_events_hold_feed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	int			att;
	bool		isnull;
	Datum		position;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es_store.events_hold_feed() must be a BEFORE INSERT FOR EACH ROW trigger")));
	rel = trigdata->tg_relation;
	if (RelationGetNamespace(rel) != es_extension_schema())
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es_store.events_hold_feed() runs only on es_store's own events"),
				 errdetail("Relation \"%s\" is not in schema es_store.",
						   RelationGetRelationName(rel))));
	att = SPI_fnumber(RelationGetDescr(rel), "global_position");
	if (att <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es_store.events_hold_feed() runs only on es_store's own events"),
				 errdetail("Relation \"%s\" has no column global_position.",
						   RelationGetRelationName(rel))));
	position = heap_getattr(trigdata->tg_trigtuple, att,
							RelationGetDescr(rel), &isnull);
	if (!isnull && DatumGetInt64(position) > 0)
		es_registry_hold(DatumGetInt64(position));
	return PointerGetDatum(trigdata->tg_trigtuple);
}
