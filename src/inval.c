/*-------------------------------------------------------------------------
 *
 * inval.c
 *	  One relcache invalidation callback for all of es_store's caches.
 *
 * PostgreSQL gives a backend room for ten relcache callbacks in all
 * (inval.c MAX_RELCACHE_CALLBACKS), shared by every loaded library: Citus
 * alone takes several, and past the tenth the backend dies with "out of
 * relcache_callback_list slots".  So es_store registers one callback,
 * which calls each of its caches' invalidation functions in turn.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/inval.h"

#include "es_store.h"

#define ES_MAX_RELCACHE_INVALS 8

static RelcacheCallbackFunction invals[ES_MAX_RELCACHE_INVALS];
static int	ninvals = 0;

static void
dispatch(Datum arg, Oid relid)
{
	for (int i = 0; i < ninvals; i++)
		invals[i] (arg, relid);
}

/*
 * Call fn (with (Datum) 0 and the relation's OID, or InvalidOid for all)
 * at every relcache invalidation from now on.
 */
void
es_add_relcache_inval(RelcacheCallbackFunction fn)
{
	if (ninvals == ES_MAX_RELCACHE_INVALS)
		elog(ERROR, "es_store: no room for another relcache invalidation function");
	if (ninvals == 0)
		CacheRegisterRelcacheCallback(dispatch, (Datum) 0);
	invals[ninvals++] = fn;
}
