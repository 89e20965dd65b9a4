/*-------------------------------------------------------------------------
 *
 * distribute.c
 *	  es_store.citus_distribute(): make an empty es_store on a Citus
 *	  coordinator a distributed one, in the caller's transaction.
 *
 * What it runs is the README's list (Scaling), one statement at a time:
 *
 *	- the unique keys of the per-aggregate tables take aggregate_id, the
 *	  distribution column, as Citus wants of every unique constraint of a
 *	  distributed table (event ids are then unique per aggregate);
 *	- the trigger es_store.events_hold_feed() on the events, which Citus
 *	  runs on every shard (cluster.c: the worker a row lands on holds its
 *	  registry at the row's position until its part of the transaction
 *	  ends);
 *	- aggregate_heads distributed by aggregate_id, and events, snapshots
 *	  and markers colocated with it: every row of an aggregate is on its
 *	  head's shard;
 *	- every function that works on one aggregate (its aggregate_id or
 *	  stream_name argument, which is the aggregate id: stream_key)
 *	  delegated to the node of that shard, also inside a transaction block
 *	  (force_delegation): it runs there, in the caller's transaction, and
 *	  draws its positions from that node's position space.
 *
 * Checkpoints, consumer groups and tags stay tables of the coordinator,
 * where the feed is read.  The workers' position spaces are claimed by a
 * second call, es_store.citus_claim_position_spaces(), after this
 * transaction has committed: a worker takes its claim over a connection
 * of its own, and sees the distributed tables only once they are
 * committed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "es_store.h"

/*
 * The per-aggregate tables, each colocated with the first, and what each
 * needs before Citus distributes it: its unique keys with aggregate_id,
 * and on the events the hold trigger
 */
typedef struct EsDistributed
{
	const char *table;
	const char *prepare[2];
} EsDistributed;

static const EsDistributed distributed_tables[] = {
	{"es_store.aggregate_heads", {
			"ALTER TABLE es_store.aggregate_heads DROP CONSTRAINT aggregate_heads_pkey, "
			"ADD CONSTRAINT aggregate_heads_pkey PRIMARY KEY (stream_id, aggregate_id)"}},
	{"es_store.events", {
			"ALTER TABLE es_store.events DROP CONSTRAINT events_pkey, "
			"ADD CONSTRAINT events_pkey PRIMARY KEY (global_position, aggregate_id), "
			"DROP CONSTRAINT events_event_id_key, "
			"ADD CONSTRAINT events_event_id_key UNIQUE (event_id, aggregate_id), "
			"DROP CONSTRAINT events_stream_version_key, "
			"ADD CONSTRAINT events_stream_version_key "
			"UNIQUE (stream_id, aggregate_version, aggregate_id)",
			"CREATE TRIGGER events_hold_feed BEFORE INSERT ON es_store.events "
	"FOR EACH ROW EXECUTE FUNCTION es_store.events_hold_feed()"}},
	{"es_store.snapshots", {NULL}},
	{"es_store.markers", {
			"ALTER TABLE es_store.markers DROP CONSTRAINT markers_pkey, "
	"ADD CONSTRAINT markers_pkey PRIMARY KEY (global_position, aggregate_id)"}},
};

/* The functions of one aggregate, and the argument that names it */
typedef struct EsDelegated
{
	const char *signature;
	const char *argument;
} EsDelegated;

#define APPEND_ARGS "text,text,text,bigint,text[],jsonb[],jsonb[],uuid[],integer[],text,text,text,text[]"
#define APPEND_ONE_ARGS "text,text,text,bigint,text,jsonb,jsonb,uuid,integer,text,text,text,text[]"
#define APPEND_BYTES_ARGS "text,text,text,bigint,text[],bytea[],jsonb[],uuid[],integer[],text,text,text,text[]"
#define APPEND_ONE_BYTES_ARGS "text,text,text,bigint,text,bytea,jsonb,uuid,integer,text,text,text,text[]"
#define STREAM_ARGS "text,bigint,text[],jsonb[],jsonb[],uuid[],integer[],text,text,text,text[]"
#define STREAM_BYTES_ARGS "text,bigint,text[],bytea[],jsonb[],uuid[],integer[],text,text,text,text[]"

static const EsDelegated delegated[] = {
	{"es_store.append(" APPEND_ARGS ")", "aggregate_id"},
	{"es_store.append_event(" APPEND_ONE_ARGS ")", "aggregate_id"},
	{"es_store.append_at_version(" APPEND_ONE_ARGS ")", "aggregate_id"},
	{"es_store.append_stream(" STREAM_ARGS ")", "stream_name"},
	{"es_store.append_bytes(" APPEND_BYTES_ARGS ")", "aggregate_id"},
	{"es_store.append_event_bytes(" APPEND_ONE_BYTES_ARGS ")", "aggregate_id"},
	{"es_store.append_at_version_bytes(" APPEND_ONE_BYTES_ARGS ")", "aggregate_id"},
	{"es_store.append_stream_bytes(" STREAM_BYTES_ARGS ")", "stream_name"},
	{"es_store.read_aggregate(text,text,text,bigint,bigint,integer)", "aggregate_id"},
	{"es_store.read_stream(text,bigint,bigint,integer)", "stream_name"},
	{"es_store.read_aggregate_backward(text,text,text,bigint,integer)", "aggregate_id"},
	{"es_store.aggregate_version(text,text,text)", "aggregate_id"},
	{"es_store.stream_version(text)", "stream_name"},
	{"es_store.aggregate_exists(text,text,text)", "aggregate_id"},
	{"es_store.count_events(text,text,text,bigint)", "aggregate_id"},
	{"es_store.save_snapshot(text,text,text,bigint,jsonb,jsonb,integer)", "aggregate_id"},
	{"es_store.save_snapshot_bytes(text,text,text,bigint,bytea,jsonb,integer)", "aggregate_id"},
	{"es_store.load_snapshot(text,text,text,integer)", "aggregate_id"},
	{"es_store.delete_snapshot(text,text,text)", "aggregate_id"},
	{"es_store.load_aggregate(text,text,text,integer)", "aggregate_id"},
	{"es_store.delete_aggregate(text,text,text,bigint)", "aggregate_id"},
	{"es_store.forget_aggregate(text,text,text,bigint,boolean)", "aggregate_id"},
	{"es_store.set_stream_metadata(text,text,text,bigint,bigint,interval,jsonb)", "aggregate_id"},
	{"es_store.get_stream_metadata(text,text,text)", "aggregate_id"},
};

static void
run(const char *sql, int expected)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc != expected)
		elog(ERROR, "es_store could not distribute: \"%s\" returned %s",
			 sql, SPI_result_code_string(rc));
}

/* Whether the table is a Citus table already */
static bool
is_distributed(const char *table)
{
	run(psprintf("SELECT 1 FROM pg_catalog.pg_dist_partition "
				 "WHERE logicalrelid OPERATOR(pg_catalog.=) '%s'::pg_catalog.regclass",
				 table),
		SPI_OK_SELECT);
	return SPI_processed > 0;
}

static void
refuse_stored_rows(void)
{
	run("SELECT t FROM (SELECT 'es_store.events' t WHERE EXISTS (SELECT FROM es_store.events) "
		"UNION ALL SELECT 'es_store.aggregate_heads' WHERE EXISTS (SELECT FROM es_store.aggregate_heads) "
		"UNION ALL SELECT 'es_store.snapshots' WHERE EXISTS (SELECT FROM es_store.snapshots) "
		"UNION ALL SELECT 'es_store.markers' WHERE EXISTS (SELECT FROM es_store.markers)) s LIMIT 1",
		SPI_OK_SELECT);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("es_store.citus_distribute() distributes an empty store"),
				 errdetail("%s has rows on this node.",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Distribute a new installation and copy the events into it through the append functions.")));
}

/*
 * es_citus_distribute() -> integer
 *
 * On a Citus coordinator whose es_store is empty: distribute it (the
 * header).  Idempotent: a table Citus has already is left as it is, and
 * the functions are delegated again.  Returns the number of functions
 * delegated.
 */
PG_FUNCTION_INFO_V1(es_citus_distribute);
Datum
es_citus_distribute(PG_FUNCTION_ARGS)
{
	EsGuard		guard;
	int			nest;

	if (es_citus_local_group() != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("es_store.citus_distribute() runs on a Citus coordinator"),
				 errdetail(es_citus_local_group() < 0 ?
						   "Citus is not installed in this database." :
						   "This node is a Citus worker."),
				 errhint("CREATE EXTENSION citus, add the workers, and call it on the coordinator.")));
	es_guard_enter(&guard);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the events' append-only triggers stay on their shards */
	nest = NewGUCNestLevel();
	(void) set_config_option("citus.enable_unsafe_triggers", "on",
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	if (!is_distributed("es_store.events"))
		refuse_stored_rows();
	for (int i = 0; i < lengthof(distributed_tables); i++)
	{
		const EsDistributed *t = &distributed_tables[i];

		CHECK_FOR_INTERRUPTS();
		if (is_distributed(t->table))
			continue;
		for (int j = 0; j < lengthof(t->prepare) && t->prepare[j] != NULL; j++)
			run(t->prepare[j], SPI_OK_UTILITY);
		run(i == 0 ?
			psprintf("SELECT pg_catalog.create_distributed_table('%s', 'aggregate_id')",
					 t->table) :
			psprintf("SELECT pg_catalog.create_distributed_table('%s', 'aggregate_id', "
					 "colocate_with => '%s')",
					 t->table, distributed_tables[0].table),
			SPI_OK_SELECT);
	}
	for (int i = 0; i < lengthof(delegated); i++)
	{
		CHECK_FOR_INTERRUPTS();
		run(psprintf("SELECT pg_catalog.create_distributed_function('%s', '%s', "
					 "colocate_with => '%s', force_delegation => true)",
					 delegated[i].signature, delegated[i].argument,
					 distributed_tables[0].table),
			SPI_OK_SELECT);
	}
	AtEOXact_GUC(true, nest);
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_INT32(lengthof(delegated));
}
