/*-------------------------------------------------------------------------
 *
 * remote.c
 *	  Connections from a Citus coordinator to its workers, kept for the
 *	  backend's life, over which the feed asks each worker what it holds
 *	  (cluster.c) and reads its page of the shards it holds (citus_feed.c).
 *
 * Citus's run_command_on_workers opens a new connection to every worker on
 * each call, which costs a feed read tens of milliseconds.  Here each
 * backend keeps one libpq connection per worker, opened as Citus opens its
 * own: to the host and port pg_dist_node lists for an active primary
 * worker, in this database, as the current user (inside es_store's entry
 * points that is the extension's owner: guard.c), with the
 * parameters of citus.node_conninfo and the user's pg_dist_authinfo entry
 * (the node's own before the wildcard's).  The node list and the entries
 * are read again after any relcache invalidation (Citus invalidates
 * pg_dist_node's and pg_dist_authinfo's on every change of them); a
 * connection to a node no longer listed is closed then, and every one at
 * backend exit.
 *
 * A query goes to every worker asked at once (PQsendQueryParams), then each
 * answer is awaited on the connection's socket and the backend's latch, so
 * a cancel or a terminate interrupts the wait, and copied out of libpq's
 * result before anything can throw.  A connection left with a query in
 * flight by such an error, or broken (a worker restarted), is closed and
 * opened again on the next call; a broken one that had been reused is
 * tried once more at once.  Only the fixed statements of cluster.c and
 * citus_feed.c are sent, never text a caller gave (a feed read's filters
 * go as parameters).  The hint of the error a worker that does
 * not answer raises is about the feed, which is what needs every worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/table.h"
#include "catalog/pg_namespace_d.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "libpq-fe.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "es_store.h"

/* A worker as pg_dist_node lists it, and this backend's connection to it */
typedef struct EsWorker
{
	int32		nodeid;
	int32		groupid;
	char	   *host;			/* in TopMemoryContext */
	int32		port;
	bool		active;			/* pg_dist_node.isactive */
	Oid			userid;			/* whom conn is logged in as */
	PGconn	   *conn;			/* NULL: not connected */
	bool		busy;			/* a query was sent and not fully read */
} EsWorker;

static EsWorker *workers = NULL;
static int	nworkers = 0;
static bool workers_known = false;
static uint64 invalidations = 0;
static bool callback_registered = false;

static void
remote_inval(Datum arg, Oid relid)
{
	workers_known = false;
	invalidations++;
}

static void
close_worker(EsWorker *w)
{
	if (w->conn != NULL)
		PQfinish(w->conn);
	w->conn = NULL;
	w->busy = false;
}

/* At backend exit, say goodbye to the workers rather than drop the sockets */
static void
remote_exit(int code, Datum arg)
{
	for (int i = 0; i < nworkers; i++)
		close_worker(&workers[i]);
}

/*
 * Read the primary workers from pg_dist_node, with a snapshot taken now
 * (not the caller's, which may predate a node's addition that the
 * invalidation just announced); keep the connections to those still
 * listed, close the others.  What can fail (the scan, a cancel) comes
 * before any connection changes hands, so an error leaks none.
 */
static void
load_workers(void)
{
	uint64		seen = invalidations;
	MemoryContext caller = CurrentMemoryContext;
	EsWorker   *rows = NULL;
	EsWorker   *fresh = NULL;
	int			nrows = 0;
	SPIPlanPtr	plan;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare("SELECT nodeid, nodename, nodeport, groupid, isactive "
					   "FROM pg_catalog.pg_dist_node "
					   "WHERE groupid OPERATOR(pg_catalog.<>) 0 "
					   "AND noderole OPERATOR(pg_catalog.=) 'primary' ORDER BY nodeid",
					   0, NULL);
	if (plan == NULL ||
		SPI_execute_snapshot(plan, NULL, NULL, GetLatestSnapshot(),
							 InvalidSnapshot, true, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "es_store could not read pg_dist_node");
	nrows = (int) SPI_processed;
	rows = MemoryContextAllocZero(caller, sizeof(EsWorker) * Max(nrows, 1));
	for (int i = 0; i < nrows; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		rows[i].nodeid = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		rows[i].host = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 2));
		rows[i].port = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		rows[i].groupid = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		rows[i].active = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
	}
	SPI_finish();

	/* from here on, no interrupt is taken and no connection is left out */
	if (nrows > 0)
		fresh = MemoryContextAllocZero(TopMemoryContext, sizeof(EsWorker) * nrows);
	for (int i = 0; i < nrows; i++)
	{
		EsWorker   *w = &fresh[i];

		*w = rows[i];
		w->host = MemoryContextStrdup(TopMemoryContext, rows[i].host);
		for (int j = 0; j < nworkers; j++)
		{
			if (workers[j].conn != NULL && workers[j].nodeid == w->nodeid &&
				workers[j].port == w->port && strcmp(workers[j].host, w->host) == 0)
			{
				w->conn = workers[j].conn;
				w->userid = workers[j].userid;
				w->busy = workers[j].busy;
				workers[j].conn = NULL;
			}
		}
	}
	for (int j = 0; j < nworkers; j++)
	{
		close_worker(&workers[j]);
		pfree(workers[j].host);
	}
	if (workers != NULL)
		pfree(workers);
	workers = fresh;
	nworkers = nrows;
	workers_known = seen == invalidations;
}

/*
 * The current user's pg_dist_authinfo entry for a node (its own before the
 * wildcard node 0's), as a conninfo string, or NULL.  Read from the catalog
 * directly: only the superuser may select from it, and Citus reads it the
 * same way for any user's connections.
 */
static char *
authinfo_for(int32 nodeid, const char *user)
{
	Oid			catalog = get_relname_relid("pg_dist_authinfo", PG_CATALOG_NAMESPACE);
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	AttrNumber	att_node;
	AttrNumber	att_role;
	AttrNumber	att_info;
	char	   *wildcard = NULL;
	char	   *own = NULL;

	if (!OidIsValid(catalog))
		return NULL;
	att_node = get_attnum(catalog, "nodeid");
	att_role = get_attnum(catalog, "rolename");
	att_info = get_attnum(catalog, "authinfo");
	if (att_node == InvalidAttrNumber || att_role == InvalidAttrNumber ||
		att_info == InvalidAttrNumber)
		return NULL;
	rel = table_open(catalog, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		n1;
		bool		n2;
		bool		n3;
		Datum		node = heap_getattr(tup, att_node, desc, &n1);
		Datum		role = heap_getattr(tup, att_role, desc, &n2);
		Datum		info = heap_getattr(tup, att_info, desc, &n3);

		CHECK_FOR_INTERRUPTS();
		if (n1 || n2 || n3 || strcmp(NameStr(*DatumGetName(role)), user) != 0)
			continue;
		if (DatumGetInt32(node) == nodeid)
			own = TextDatumGetCString(info);
		else if (DatumGetInt32(node) == 0)
			wildcard = TextDatumGetCString(info);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return own != NULL ? own : wildcard;
}

/* Append the options of a conninfo string to keywords/values */
static void
add_conninfo(const char *conninfo, const char **keywords, const char **values,
			 int *n, int max, const char *what)
{
	PQconninfoOption *opts;
	char	   *err = NULL;

	if (conninfo == NULL || conninfo[0] == '\0')
		return;
	opts = PQconninfoParse(conninfo, &err);
	if (opts == NULL)
	{
		char	   *msg = err != NULL ? pstrdup(err) : "out of memory";

		if (err != NULL)
			PQfreemem(err);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("es_store cannot use %s to connect to the Citus workers", what),
				 errdetail("%s", msg)));
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		if (o->val == NULL || o->val[0] == '\0' || *n >= max - 1)
			continue;
		keywords[*n] = pstrdup(o->keyword);
		values[*n] = pstrdup(o->val);
		(*n)++;
	}
	PQconninfoFree(opts);
}

/* Wait until the socket is ready as libpq asks (or time runs out) */
static bool
wait_socket(PGconn *conn, bool for_write, long timeout_ms)
{
	int			events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
		(for_write ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE);
	int			rc;

	if (timeout_ms >= 0)
		events |= WL_TIMEOUT;
	rc = WaitLatchOrSocket(MyLatch, events, PQsocket(conn), timeout_ms,
						   PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return (rc & WL_TIMEOUT) == 0;
}

/*
 * Open w's connection as the current user; on failure, leave it NULL and
 * return libpq's message.
 */
static char *
open_worker(EsWorker *w)
{
	const char *keywords[64];
	const char *values[64];
	int			n = 0;
	int			i;
	char		port[16];
	const char *user = GetUserNameFromId(GetUserId(), false);
	const char *timeout_guc = GetConfigOption("citus.node_connection_timeout", true, false);
	long		timeout_ms = timeout_guc != NULL ? atol(timeout_guc) : 30000;
	TimestampTz deadline;
	PGconn	   *conn;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	char	   *msg = NULL;

	/* room for the seven below, the authinfo's and the terminator */
	add_conninfo(GetConfigOption("citus.node_conninfo", true, false),
				 keywords, values, &n, lengthof(keywords) / 2, "citus.node_conninfo");
	snprintf(port, sizeof(port), "%d", w->port);
	keywords[n] = "host";
	values[n++] = w->host;
	keywords[n] = "port";
	values[n++] = port;
	keywords[n] = "dbname";
	values[n++] = get_database_name(MyDatabaseId);
	keywords[n] = "user";
	values[n++] = user;
	keywords[n] = "fallback_application_name";
	values[n++] = "es_store";
	/* the page's parameters and text columns in this database's encoding */
	keywords[n] = "client_encoding";
	values[n++] = GetDatabaseEncodingName();
	add_conninfo(authinfo_for(w->nodeid, user), keywords, values, &n,
				 lengthof(keywords), "pg_dist_authinfo");
	/*
	 * Timestamps in ISO format, which any DateStyle reads (citus_feed.c):
	 * added to the options that count, the last given
	 */
	i = -1;
	for (int k = 0; k < n; k++)
	{
		if (strcmp(keywords[k], "options") == 0)
			i = k;
	}
	if (i < 0)
	{
		i = n++;
		keywords[i] = "options";
		values[i] = "";
	}
	values[i] = psprintf("%s -c DateStyle=ISO", values[i]);
	keywords[n] = NULL;
	values[n] = NULL;

	if (timeout_ms <= 0)
		timeout_ms = 30000;
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	conn = PQconnectStartParams(keywords, values, false);
	if (conn == NULL)
		return "out of memory";
	/* from here an error (a cancel in the wait) must not leak conn */
	w->conn = conn;
	w->userid = GetUserId();
	w->busy = true;
	if (PQstatus(conn) == CONNECTION_BAD)
		st = PGRES_POLLING_FAILED;
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED)
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);

		if (left <= 0 || !wait_socket(conn, st == PGRES_POLLING_WRITING, left))
		{
			msg = psprintf("timeout after %ld ms (citus.node_connection_timeout)", timeout_ms);
			break;
		}
		st = PQconnectPoll(conn);
	}
	if (msg == NULL && st != PGRES_POLLING_OK)
		msg = pstrdup(PQerrorMessage(conn));
	if (msg != NULL)
	{
		close_worker(w);
		return msg;
	}
	w->busy = false;
	return NULL;
}

/* Copy every row of res (text) into rows (palloc'd) */
static void
copy_rows(PGresult *res, EsWorkerRows *rows)
{
	int			nrows = PQntuples(res);
	int			nfields = PQnfields(res);
	int			nvalues = nrows * nfields;

	rows->types = palloc(sizeof(Oid) * Max(nfields, 1));
	rows->values = palloc0(sizeof(char *) * Max(nvalues, 1));
	for (int f = 0; f < nfields; f++)
		rows->types[f] = PQftype(res, f);
	for (int r = 0; r < nrows; r++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int f = 0; f < nfields; f++)
		{
			if (!PQgetisnull(res, r, f))
				rows->values[r * nfields + f] = pstrdup(PQgetvalue(res, r, f));
		}
	}
	rows->nrows = nrows;
	rows->nfields = nfields;
}

/*
 * Read the whole answer to the query sent on w's connection into rows
 * (every row's values copied, NULL for a NULL; the first result's, when
 * there are several), or return an error message.  Every libpq result is
 * freed here, also when the copy throws.
 */
static char *
read_rows(EsWorker *w, EsWorkerRows *rows)
{
	PGresult   *res;
	char	   *msg = NULL;

	rows->nrows = 0;
	rows->nfields = 0;
	rows->types = NULL;
	rows->values = NULL;
	for (;;)
	{
		while (PQisBusy(w->conn))
		{
			(void) wait_socket(w->conn, false, -1);
			if (!PQconsumeInput(w->conn))
				return pstrdup(PQerrorMessage(w->conn));
		}
		res = PQgetResult(w->conn);
		if (res == NULL)
			break;
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			if (msg == NULL)
				msg = pstrdup(PQresultErrorMessage(res));
		}
		else if (rows->values == NULL)
		{
			/* what throws here (memory, a cancel) must free res */
			PG_TRY();
			{
				copy_rows(res, rows);
			}
			PG_CATCH();
			{
				PQclear(res);
				PG_RE_THROW();
			}
			PG_END_TRY();
		}
		PQclear(res);
	}
	w->busy = false;
	return msg;
}

/*
 * Run sql on the primary workers of the ngroups groups (all of them when
 * groups is NULL) at once, worker i of groups[i] with the nparams text
 * parameters params[i * nparams ...], results in text; for each of the
 * *n workers asked, its group, "host:port" and every row of its answer.  A worker that is not active, or that holds
 * none of the groups asked for: 08006, never skipped.  A worker that
 * cannot be reached or whose statement fails: 08006, "cannot <action>:
 * ... did not answer", with libpq's message.
 */
EsWorkerRows *
es_remote_query(const char *sql, const int32 *groups, int ngroups,
				int nparams, const char *const *params, const char *action, int *n)
{
	bool	   *reused;
	char	  **errors;
	int		   *asked;			/* worker -> index in groups, or -1 */
	EsWorkerRows *rows;
	int			nasked = 0;

	if (!callback_registered)
	{
		es_add_relcache_inval(remote_inval);
		on_proc_exit(remote_exit, (Datum) 0);
		callback_registered = true;
	}
	/* a node added or removed since this transaction last looked */
	AcceptInvalidationMessages();
	if (!workers_known)
		load_workers();
	asked = palloc(sizeof(int) * Max(nworkers, 1));
	for (int i = 0; i < nworkers; i++)
	{
		asked[i] = groups == NULL ? i : -1;
		for (int g = 0; groups != NULL && g < ngroups; g++)
		{
			if (groups[g] == workers[i].groupid)
				asked[i] = g;
		}
		/* a disabled worker may still hold prepared parts the feed waits for */
		if (asked[i] >= 0 && !workers[i].active)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("cannot %s: Citus worker %s:%d is not active",
							action, workers[i].host, workers[i].port),
					 errdetail("A disabled worker may still hold rows of transactions in flight, which es_store cannot ask it about."),
					 errhint("Activate it again (citus_activate_node) or remove it (citus_remove_node).")));
		nasked += asked[i] >= 0;
	}
	for (int g = 0; groups != NULL && g < ngroups; g++)
	{
		bool		found = false;

		for (int i = 0; i < nworkers; i++)
			found |= workers[i].groupid == groups[g];
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("cannot %s: Citus group %d has no primary worker", action, groups[g]),
					 errhint("Every worker must be reachable from the coordinator for the feed to know which of its events are committed.")));
	}
	*n = nasked;
	rows = palloc0(sizeof(EsWorkerRows) * Max(nworkers, 1));
	reused = palloc0(sizeof(bool) * Max(nworkers, 1));
	errors = palloc0(sizeof(char *) * Max(nworkers, 1));

	/* two rounds: the second only for a reused connection found broken */
	for (int round = 0; round < 2; round++)
	{
		bool		retry = false;

		for (int i = 0; i < nworkers; i++)
		{
			EsWorker   *w = &workers[i];

			CHECK_FOR_INTERRUPTS();
			if (asked[i] < 0 || (round == 1 && errors[i] == NULL))
				continue;
			rows[i].group = w->groupid;
			rows[i].name = psprintf("%s:%d", w->host, w->port);
			errors[i] = NULL;
			if (w->conn != NULL &&
				(w->busy || w->userid != GetUserId() ||
				 PQstatus(w->conn) != CONNECTION_OK))
				close_worker(w);
			reused[i] = w->conn != NULL;
			if (w->conn == NULL && (errors[i] = open_worker(w)) != NULL)
				continue;
			w->busy = true;
			if (!PQsendQueryParams(w->conn, sql, nparams, NULL,
								   nparams > 0 ? params + asked[i] * nparams : NULL,
								   NULL, NULL, 0))
				errors[i] = pstrdup(PQerrorMessage(w->conn));
		}
		for (int i = 0; i < nworkers; i++)
		{
			EsWorker   *w = &workers[i];

			CHECK_FOR_INTERRUPTS();
			if (asked[i] < 0)
				continue;
			if (errors[i] == NULL && (round == 0 || w->busy))
				errors[i] = read_rows(w, &rows[i]);
			if (errors[i] != NULL && reused[i] && round == 0 &&
				PQstatus(w->conn) != CONNECTION_OK)
			{
				close_worker(w);
				retry = true;
			}
			else if (errors[i] != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("cannot %s: Citus worker %s did not answer",
								action, rows[i].name),
						 errdetail("%s", errors[i]),
						 errhint("Every worker must be reachable from the coordinator for the feed to know which of its events are committed.")));
			else
				errors[i] = NULL;
		}
		if (!retry)
			break;
	}
	/* the workers asked, in the order of the list */
	for (int i = 0, k = 0; i < nworkers; i++)
	{
		if (asked[i] >= 0)
			rows[k++] = rows[i];
	}
	return rows;
}

/*
 * Run the statement sql on every primary worker at once (no parameters); for each of the *n workers, the first nfields values of
 * its first row (NULL: NULL or no row), its group and "host:port".
 * Errors as es_remote_query's.
 */
EsWorkerAnswer *
es_remote_on_workers(const char *sql, int nfields, const char *action, int *n)
{
	EsWorkerRows *rows = es_remote_query(sql, NULL, 0, 0, NULL, action, n);
	EsWorkerAnswer *answers = palloc0(sizeof(EsWorkerAnswer) * Max(*n, 1));

	for (int i = 0; i < *n; i++)
	{
		answers[i].group = rows[i].group;
		answers[i].name = rows[i].name;
		answers[i].values = palloc0(sizeof(char *) * Max(nfields, 1));
		for (int f = 0; f < nfields && f < rows[i].nfields && rows[i].nrows > 0; f++)
			answers[i].values[f] = rows[i].values[f];
	}
	return answers;
}
