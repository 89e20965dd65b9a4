/*-------------------------------------------------------------------------
 *
 * cluster.c
 *	  The global feed of an es_store distributed over Citus: a position
 *	  space per Citus group, rows stored on the workers, and safe bounds
 *	  that hold across the nodes.
 *
 * On a distributed store (src/README.md, "Across Citus nodes"):
 *	- Each Citus group g draws positions from its own space, g << 48 + 1
 *	  to (g + 1) << 48 - 1, from its own sequence under its own registry;
 *	  the coordinator is group 0.  A worker refuses to draw until its
 *	  sequence has its space (es_citus_claim_position_spaces, once); its
 *	  sequence otherwise starts at 1 and would repeat the coordinator's.
 *	- A row lands in a shard on some node, in that node's transaction,
 *	  which Citus commits after the coordinator's own (two-phase, when the
 *	  transaction wrote on more than one node: COMMIT PREPARED runs in
 *	  Citus's commit callback, after es_store's has cleared the drawer's
 *	  slot, or later still, by Citus's recovery after a failure).  So the
 *	  shard's node holds its own registry at a coordinator's position, from
 *	  a trigger on the shard (es_events_hold_feed), until its own
 *	  transaction has ended there (registry.c es_registry_hold_coordinator,
 *	  apart from the node's own space).  A row of a worker's own space
 *	  stays on that worker: the trigger refuses it anywhere else.
 *	- The safe bound of space 0, on the coordinator, is the least of its
 *	  own registry's bound and, on every worker, the lowest coordinator's
 *	  position held there, minus one; read in that order.  The safe bound
 *	  of a worker's space is that worker's own (es_citus_node_feed_state).
 *	  A feed read after position p reads p's space (es_store_safe_bound_after).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_sequence.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "es_store.h"

/* Whether es_store's own tables are Citus tables here */
static bool
store_is_citus(void)
{
	return es_citus_schema(es_extension_schema());
}

/*
 * Called by es_position_sequence with the sequence's limits: on a Citus
 * worker of a distributed store, refuse to draw until the sequence draws
 * from the worker's own position space (es_citus_claim_position_spaces).
 * Without it, the worker's sequence starts at 1 and would hand out the
 * coordinator's positions again.
 */
void
es_citus_check_sequence(int64 seqmin, int64 seqmax)
{
	int			group = es_citus_local_group();

	if (group <= 0 || !store_is_citus())
		return;
	if (group <= ES_MAX_SPACE_GROUP && seqmin == es_space_first(group) &&
		seqmax == es_space_last(group))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("es_store cannot draw positions on this Citus worker yet"),
			 errdetail("This node is a worker (Citus group %d) of a distributed es_store, and its es_store.global_position_seq does not draw from the group's position space.",
					   group),
			 errhint("Run SELECT es_store.citus_claim_position_spaces() on the coordinator, or append through the coordinator.")));
}

/* Whether this is the coordinator of a store whose tables are Citus tables */
bool
es_store_distributed(void)
{
	return es_citus_local_group() == 0 && store_is_citus();
}

/* Refuse a feed read on a Citus worker: the feed is read on the coordinator */
static void
refuse_feed_on_worker(void)
{
	int			group = es_citus_local_group();

	if (group > 0 && store_is_citus())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("es_store feed reads run on the Citus coordinator"),
				 errdetail("This node is a worker (Citus group %d) of a distributed es_store; the feed's safe positions are known only on the coordinator, which asks every worker.",
						   group),
				 errhint("Connect to the coordinator.")));
}

/* What every worker is asked for a bound: see es_citus_node_feed_state */
#define NODE_STATE_SQL \
	"SELECT group_id, safe_position, lowest_held FROM es_store.citus_node_feed_state()"

/*
 * The answers of every active worker to NODE_STATE_SQL, over this
 * backend's connections to them (remote.c); an error when one does not
 * answer: its rows' positions are then not known to be safe.
 */
static EsWorkerAnswer *
node_states(int *n)
{
	return es_remote_on_workers(NODE_STATE_SQL, 3, "read the feed's safe position", n);
}

/*
 * What every space's bound is made of, read in the order the argument
 * needs (see the file header): the coordinator's own registry's bound, then,
 * on the coordinator of a distributed store, every worker's answer (*n of
 * them, else none).  Refuses on a worker.
 */
static EsWorkerAnswer *
read_bounds(int64 *own, int *n)
{
	refuse_feed_on_worker();
	*own = es_feed_safe_bound(es_position_sequence());
	*n = 0;
	if (!es_store_distributed())
		return NULL;
	return node_states(n);
}

static int64
answer_int64(EsWorkerAnswer *a, int field, int64 otherwise)
{
	return a->values[field] != NULL ? pg_strtoint64(a->values[field]) : otherwise;
}

/*
 * The bound of group's position space, given the coordinator's own bound
 * (group 0) and the workers' answers, read in that order: see the file
 * header.  A worker group none of whose nodes answered: 55000.
 */
static int64
space_bound(int group, int64 own, EsWorkerAnswer *answers, int n)
{
	int64		bound;
	bool		found = false;

	if (group == 0)
	{
		bound = own;
		for (int i = 0; i < n; i++)
		{
			int64		held = answer_int64(&answers[i], 2, PG_INT64_MAX);

			if (held != PG_INT64_MAX && held - 1 < bound)
				bound = held - 1;
		}
		return bound;
	}
	/* a space whose worker has not claimed it holds no event */
	bound = es_space_first(group) - 1;
	for (int i = 0; i < n; i++)
	{
		if (answers[i].group != group)
			continue;
		found = true;
		bound = Max(bound, answer_int64(&answers[i], 1, bound));
	}
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot read the feed of Citus group %d: it has no active primary worker",
						group),
				 errdetail("Positions from %lld to %lld are drawn by group %d's worker, which alone knows which of them are committed.",
						   (long long) es_space_first(group),
						   (long long) es_space_last(group), group),
				 errhint("Activate the group's worker, or read the other groups' feeds.")));
	return Min(bound, es_space_last(group));
}

/*
 * The highest position of the position space that "after" lies in (a
 * Citus group's: es_space_of) that a feed read may return now (registry.c
 * es_feed_safe_bound), across the workers too on a distributed store.  On
 * a single node every position is in space 0.
 */
int64
es_store_safe_bound_after(int64 after)
{
	int64		own;
	int			n;
	EsWorkerAnswer *answers = read_bounds(&own, &n);

	/* on a single node every position is in space 0 */
	if (answers == NULL)
		return own;
	return space_bound(es_space_of(after), own, answers, n);
}

/* The safe position of space 0: last_position(), store_stats() */
int64
es_store_safe_bound(void)
{
	return es_store_safe_bound_after(0);
}

/*
 * es_position_spaces() -> SETOF (group_id integer, first_position bigint,
 *								   safe_position bigint)
 *
 * Every position space the feed has (one per Citus group, only group 0 on
 * a single node), with the position its reads start after (first - 1) and
 * its safe position now, all from one round of the workers.
 */
PG_FUNCTION_INFO_V1(es_position_spaces);
Datum
es_position_spaces(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EsGuard		guard;
	int64		own;
	EsWorkerAnswer *answers;
	int			n;
	int		   *groups;
	int			ngroups = 0;

	es_check_not_in_recovery("read the global feed");
	InitMaterializedSRF(fcinfo, 0);
	es_guard_enter(&guard);
	answers = read_bounds(&own, &n);
	groups = palloc(sizeof(int) * (n + 1));
	groups[ngroups++] = 0;
	for (int i = 0; i < n; i++)
	{
		bool		seen = false;

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < ngroups; j++)
			seen |= groups[j] == answers[i].group;
		if (!seen && answers[i].values[1] != NULL)
			groups[ngroups++] = answers[i].group;
	}
	for (int j = 0; j < ngroups; j++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(groups[j]);
		values[1] = Int64GetDatum(es_space_first(groups[j]));
		values[2] = Int64GetDatum(space_bound(groups[j], own, answers, n));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	es_guard_leave(&guard);
	return (Datum) 0;
}

/*
 * es_citus_node_feed_state() -> (group_id integer, safe_position bigint,
 *								  lowest_held bigint)
 *
 * What the coordinator asks each worker for the feed's bounds: its Citus
 * group, the safe position of its own position space (NULL before the
 * space is claimed), and the lowest of the coordinator's positions held
 * here (es_registry_hold_coordinator; NULL when none).  Read in that
 * order.
 */
PG_FUNCTION_INFO_V1(es_citus_node_feed_state);
Datum
es_citus_node_feed_state(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3] = {false, true, true};
	int			group = es_citus_local_group();
	int64		held;

	es_check_not_in_recovery("read the global feed");
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int32GetDatum(group);
	if (group > 0 && es_citus_space_claimed(group))
	{
		int64		bound = es_feed_safe_bound(es_position_sequence());

		values[1] = Int64GetDatum(Max(bound, es_space_first(group) - 1));
		nulls[1] = false;
	}
	held = es_registry_lowest_held();
	if (held != PG_INT64_MAX)
	{
		values[2] = Int64GetDatum(held);
		nulls[2] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc),
													  values, nulls)));
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
	{
		int64		p = DatumGetInt64(position);
		int			here = Max(es_citus_local_group(), 0);
		int			drawn = es_space_of(p);

		if (drawn == here)
			es_registry_hold(p);
		else if (drawn == 0)
			es_registry_hold_coordinator(p);
		else
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("an event whose position was drawn on Citus group %d cannot be stored on group %d",
							drawn, here),
					 errdetail("Only the coordinator's positions and this node's own may be stored here: the feed of group %d's positions knows only what group %d holds.",
							   drawn, drawn),
					 errhint("Append to this aggregate through the coordinator, or on the node that holds its shard.")));
	}
	return PointerGetDatum(trigdata->tg_trigtuple);
}

/* Whether this node's position sequence draws from group's space */
bool
es_citus_space_claimed(int group)
{
	Oid			seq = get_relname_relid("global_position_seq", es_extension_schema());
	HeapTuple	tup;
	bool		claimed = false;

	if (!OidIsValid(seq) || group < 0 || group > ES_MAX_SPACE_GROUP)
		return false;
	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seq));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_sequence form = (Form_pg_sequence) GETSTRUCT(tup);

		claimed = form->seqmin == es_space_first(group) &&
			form->seqmax == es_space_last(group);
		ReleaseSysCache(tup);
	}
	return claimed;
}

/* The int8 the query returns in its one row (otherwise when NULL) */
static int64
select_int8(const char *sql, int64 otherwise)
{
	int64		value = otherwise;
	bool		isnull;
	Datum		d;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "es_store could not read its position sequence");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		value = DatumGetInt64(d);
	SPI_finish();
	return value;
}

/* Run an ALTER SEQUENCE of es_store's position sequence */
static void
alter_position_sequence(const char *options)
{
	char	   *sql = psprintf("ALTER SEQUENCE es_store.global_position_seq %s", options);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "es_store could not alter its position sequence");
	SPI_finish();
}

/*
 * es_citus_claim_local_position_space() -> integer
 *
 * On a Citus worker of a distributed store: make es_store's position
 * sequence draw from this group's space, once, before it has drawn
 * anything (a worker refuses draws until then).  Returns the group.
 * Called by es_citus_claim_position_spaces over the coordinator's
 * connection.
 */
PG_FUNCTION_INFO_V1(es_citus_claim_local_position_space);
Datum
es_citus_claim_local_position_space(PG_FUNCTION_ARGS)
{
	int			group = es_citus_local_group();
	EsGuard		guard;

	if (group <= 0 || !store_is_citus())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("only a Citus worker of a distributed es_store claims a position space"),
				 errhint("Call es_store.citus_claim_position_spaces() on the coordinator.")));
	if (group > ES_MAX_SPACE_GROUP)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("Citus group %d is beyond the %d groups es_store has position spaces for",
						group, ES_MAX_SPACE_GROUP)));
	es_guard_enter(&guard);
	if (!es_citus_space_claimed(group))
	{
		char	   *sql;
		int64		next;

		/*
		 * Draws were refused until now, unless the space was claimed before
		 * and lost (an ALTER SEQUENCE): then go on above every position of
		 * the space the sequence or the store has seen, never repeat one.
		 */
		sql = psprintf("SELECT pg_catalog.max(p) FROM ("
					   "SELECT CASE WHEN is_called THEN last_value END AS p "
					   "FROM es_store.global_position_seq UNION ALL "
					   "SELECT global_position FROM es_store.events "
					   "WHERE global_position BETWEEN %lld AND %lld) s "
					   "WHERE p BETWEEN %lld AND %lld",
					   (long long) es_space_first(group), (long long) es_space_last(group),
					   (long long) es_space_first(group), (long long) es_space_last(group));
		next = select_int8(sql, es_space_first(group) - 1) + 1;
		alter_position_sequence(psprintf("MINVALUE %lld MAXVALUE %lld START WITH %lld RESTART WITH %lld",
										 (long long) es_space_first(group),
										 (long long) es_space_last(group),
										 (long long) es_space_first(group),
										 (long long) next));
	}
	es_guard_leave(&guard);
	PG_RETURN_INT32(group);
}

/*
 * es_citus_claim_position_spaces() -> integer
 *
 * On the coordinator of a distributed store: give every active worker its
 * own position space (es_citus_claim_local_position_space, over this
 * backend's connections), after limiting the coordinator's own to space 0.
 * Idempotent; run again after adding a worker.  Returns the number of
 * workers, every one of which has its space when this returns.
 */
PG_FUNCTION_INFO_V1(es_citus_claim_position_spaces);
Datum
es_citus_claim_position_spaces(PG_FUNCTION_ARGS)
{
	EsGuard		guard;
	int			n;

	if (es_citus_local_group() != 0 || !store_is_citus())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("es_store.citus_claim_position_spaces() runs on the coordinator of a distributed es_store"),
				 errhint("Distribute es_store first (README, Scaling).")));
	es_guard_enter(&guard);
	if (!es_citus_space_claimed(0))
	{
		int64		last = select_int8("SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
									   "FROM es_store.global_position_seq", 0);

		if (last > es_space_last(0))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the coordinator has drawn positions beyond its position space"),
					 errdetail("Its last position is %lld; space 0 ends at %lld.",
							   (long long) last, (long long) es_space_last(0))));
		alter_position_sequence(psprintf("MINVALUE 1 MAXVALUE %lld",
										 (long long) es_space_last(0)));
	}
	(void) es_remote_on_workers("SELECT es_store.citus_claim_local_position_space()",
								1, "claim the workers' position spaces", &n);
	es_guard_leave(&guard);
	PG_RETURN_INT32(n);
}

/*
 * Before a feed page's statement on a distributed store: one connection
 * per worker for its tasks (citus.max_adaptive_executor_pool_size = 1),
 * and text results (citus.enable_binary_protocol = off: Citus reads a
 * binary text value as if in this session's client_encoding, though the
 * worker sent it in the database's), until es_citus_feed_settings_pop.  A page runs one small task per shard
 * (a LIMIT of an index range), which a worker's one cached connection runs
 * one after the other faster than Citus opens more connections for them,
 * and opens and closes again for every read: at 8 clients, 3.2 times the
 * reads per second on this machine (README, Performance, Citus).  Returns
 * the GUC nest level to pop, or -1 when the store is not distributed.  An
 * error undoes the setting with the (sub)transaction.
 */
int
es_citus_feed_settings_push(void)
{
	int			nest;

	if (es_citus_local_group() < 0 || !store_is_citus())
		return -1;
	nest = NewGUCNestLevel();
	(void) set_config_option("citus.max_adaptive_executor_pool_size", "1",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	/* Citus's binary results garble text under another client_encoding */
	(void) set_config_option("citus.enable_binary_protocol", "off",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return nest;
}

void
es_citus_feed_settings_pop(int nest)
{
	if (nest >= 0)
		AtEOXact_GUC(true, nest);
}
