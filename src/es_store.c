/*-------------------------------------------------------------------------
 *
 * es_store.c
 *	  Module entry: PG_MODULE_MAGIC, GUCs, and the append-only guard.
 *
 * es_store works without shared_preload_libraries: the appender registry
 * (registry.c) is created in spare shared memory on first use.  When it is
 * preloaded, the registry's memory is reserved at startup instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "es_store.h"

PG_MODULE_MAGIC;

int			es_max_batch_events = 10000;
int			es_max_event_bytes = 1024 * 1024;
int			es_max_snapshot_bytes = 16 * 1024 * 1024;
int			es_max_event_tags = 64;
int			es_max_query_items = 64;
char	   *es_notify_channel = "";
int			es_debug_registration_lock = 0;
int			es_debug_reader_lock = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

/*
 * es_store.notify_channel must be a name NOTIFY accepts, so that a bad
 * value fails the SET, not every later commit.
 */
static bool
check_notify_channel(char **newval, void **extra, GucSource source)
{
	if (strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("es_store.notify_channel cannot be longer than %d bytes",
						 NAMEDATALEN - 1);
		return false;
	}
	return true;
}

static void
es_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	es_registry_shmem_request();
}

static void
es_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	es_registry_shmem_startup();
}

void
_PG_init(void)
{
	DefineCustomIntVariable("es_store.max_batch_events",
							"Largest number of events one append may write.",
							"A larger batch fails with SQLSTATE 54000.",
							&es_max_batch_events,
							10000, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("es_store.max_event_bytes",
							"Largest payload plus metadata of one event, in bytes.",
							"A larger event fails with SQLSTATE 54000.",
							&es_max_event_bytes,
							1024 * 1024, 1024, 512 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("es_store.max_snapshot_bytes",
							"Largest payload plus metadata of one snapshot, in bytes.",
							"A larger snapshot fails with SQLSTATE 54000.",
							&es_max_snapshot_bytes,
							16 * 1024 * 1024, 1024, 1024 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("es_store.max_event_tags",
							"Largest number of tags one event may carry.",
							"An event with more fails with SQLSTATE 54000.",
							&es_max_event_tags,
							64, 1, 10000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("es_store.max_query_items",
							"Largest number of items, and of types and tags in each item, of one query.",
							"A larger query (a read or an append condition) fails with SQLSTATE 54000.",
							&es_max_query_items,
							64, 1, 10000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("es_store.notify_channel",
							   "Channel an append notifies when its transaction commits (empty: none).",
							   "A wake-up hint for feed consumers; the feed itself is the delivery.",
							   &es_notify_channel,
							   "",
							   PGC_USERSET, 0,
							   check_notify_channel, NULL, NULL);
	DefineCustomIntVariable("es_store.debug_registration_lock",
							"Developer option: advisory lock key an append waits for while registering.",
							"0 disables it.  Lets isolation tests stop an append between reading "
							"the position sequence and publishing its registration.",
							&es_debug_registration_lock,
							0, 0, INT_MAX,
							PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							NULL, NULL, NULL);
	DefineCustomIntVariable("es_store.debug_reader_lock",
							"Developer option: advisory lock key a feed read waits for before it raises a registering slot's floor.",
							"0 disables it.  Lets tests stop a reader between finding a slot registering and "
							"swapping its floor.",
							&es_debug_reader_lock,
							0, 0, INT_MAX,
							PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							NULL, NULL, NULL);
	es_conflict_log_init();
	MarkGUCPrefixReserved("es_store");

	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = es_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = es_shmem_startup;
	}
	es_registry_init_backend();
}

/*
 * es_forbid_event_changes: statement trigger on es_store.events for UPDATE,
 * DELETE and TRUNCATE.  Raises 42501: the event log is append-only for
 * every role, its owner included.  Only es_store's own DELETE statements,
 * which forget and the purge run (lifecycle.c es_delete_events), pass.
 */
PG_FUNCTION_INFO_V1(es_forbid_event_changes);
Datum
es_forbid_event_changes(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *what;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("es_store.forbid_event_changes() must be called as a trigger")));

	/*
	 * es_store's own deletes (forget and the purge, lifecycle.c): the flag
	 * admits the one statement es_delete_events runs, whose trigger fires
	 * before any of its rows is deleted; a DELETE anything might run while
	 * that statement executes finds it cleared.
	 */
	if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) && es_event_delete_running)
	{
		es_event_delete_running = false;
		return PointerGetDatum(NULL);	/* a statement trigger's "go on" */
	}
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		what = "update";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		what = "delete";
	else
		what = "truncate";
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot %s es_store.events", what),
			 errdetail("The event log is append-only.")));
	PG_RETURN_NULL();
}
