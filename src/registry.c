/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The registry of in-flight appenders, and the global feed's safe bound.
 *
 * Global positions come from a sequence, so they are handed out before
 * commit, and transactions commit in any order.  A reader that trusted
 * "position > checkpoint" would skip an event that commits after a higher
 * one was read.  The feed therefore reads only up to a safe bound B: every
 * position <= B belongs to a transaction that has already ended, and whose
 * commit or abort is visible to any snapshot taken after B is computed.
 *
 * Where appenders register.  Shared memory holds one slot per PGPROC
 * (indexed by pgprocno), plus one slot per possible prepared transaction.
 * A backend slot holds the database and "low": a lower bound of every
 * position the backend's current transaction has drawn or may still draw,
 * or 0 when the transaction has drawn none.  Before an append draws its
 * first position, es_registry_before_draw publishes low = (the sequence's
 * last value) + 1; the next value the sequence hands out is above that.
 * After drawing, es_registry_after_draw raises low to the first position
 * actually drawn, so the slot holds back nothing drawn by others meanwhile.
 *
 * When they stop counting.  The transaction callback clears the slot at
 * XACT_EVENT_COMMIT or XACT_EVENT_ABORT.  Both are called after
 * ProcArrayEndTransaction (src/backend/access/transam/xact.c,
 * CommitTransaction and AbortTransaction), that is, only once the
 * transaction's end is visible to new snapshots.  A backend that dies
 * without running them takes the postmaster through a crash restart, which
 * rebuilds shared memory.
 *
 * Prepared transactions.  At XACT_EVENT_PRE_PREPARE the appender takes a
 * transaction-level lock whose tag encodes its database and low position,
 * and copies its low into a prepared slot.  PREPARE TRANSACTION hands the
 * lock to the prepared transaction (AtPrepare_Locks); the lock is kept
 * across a crash restart (the two-phase state file records it); and
 * COMMIT/ROLLBACK PREPARED releases it only after removing the transaction
 * from the proc array (FinishPreparedTransaction in
 * src/backend/access/transam/twophase.c).  So "the lock is free" implies
 * "the prepared transaction's end is visible".  A reader keeps a prepared
 * slot while a no-wait attempt to take that lock fails, and frees it
 * otherwise.  After a crash restart the shared memory is new; the first
 * backend that attaches rebuilds the prepared slots from the lock table.
 *
 * The bound.  es_feed_safe_bound reads H, the sequence's last value, then
 * scans the slots of its database: B = min(H, min(low) - 1).  Why it is
 * safe: take a position p <= B drawn by transaction T.  T published a low
 * <= p before drawing p.  p <= B <= H, so p was drawn before H was read
 * (the sequence hands out increasing values under its buffer lock, which
 * orders T's slot write before the reader's read of H).  Had T's slot
 * still been set during the scan, B < low <= p.  So T had already cleared
 * it, after its end became visible; the snapshot the feed then takes sees
 * T's events or knows they were rolled back.  Positions burnt by
 * rollbacks, failed appends or a crash cannot hold B back: their
 * transactions have no slot.  Transactions that appended nothing (reports,
 * idle sessions, advisory-lock holders, other databases) have no slot in
 * this database either.
 *
 * Why B is computed before the reading snapshot, in every isolation level:
 * feed.c computes B, then takes a new snapshot with GetLatestSnapshot and
 * reads (after, B] with it.  In READ COMMITTED that is the usual
 * statement snapshot.  In REPEATABLE READ the transaction snapshot may be
 * older than B (events committed after it would be invisible, and a
 * checkpoint saved past them would skip them), so the feed reads with the
 * newer snapshot there too; events are immutable, so seeing newer ones is
 * harmless.  SERIALIZABLE conflict detection cannot track such a read, so
 * feed.c refuses to read in a SERIALIZABLE transaction.
 *
 * B never decreases.  The raw bound can: an appender that read the
 * sequence, then was preempted while others drew and committed, publishes
 * a low below a bound already returned.  That low is only over-cautious
 * (the appender will draw above the sequence's value at that time), and a
 * bound once safe stays safe (every position at or below it was drawn
 * before it was computed, by a transaction that had ended visibly).  So
 * the registry keeps the highest bound returned per database and sequence,
 * and returns max(raw bound, that).
 *
 * Durability: before returning B, es_feed_safe_bound flushes WAL up to the
 * sequence page's LSN, so that positions at or below B are never handed out
 * again after a crash (a consumer that checkpoints outside the database
 * could otherwise skip reused positions).
 *
 * The registry is created on first use with ShmemInitStruct from the spare
 * shared memory PostgreSQL reserves, so shared_preload_libraries is not
 * needed; when es_store is preloaded, the space is reserved at startup.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/fmgrprotos.h"

#include "es_store.h"

/* locktag_field4 of the advisory-type lock a prepared appender holds */
#define ES_LOCKTAG_CLASS	0x4553

typedef struct EsAppenderSlot
{
	pg_atomic_uint64 low;		/* 0: no position drawn or pending */
	Oid			dbid;			/* written before low is set */
} EsAppenderSlot;

typedef struct EsPreparedSlot
{
	bool		in_use;
	Oid			dbid;
	uint64		low;
} EsPreparedSlot;

/*
 * The highest bound returned so far, per database and position sequence
 * (a recreated extension has a new sequence and starts over).
 */
#define ES_HIGH_WATER_ENTRIES	128

typedef struct EsHighWater
{
	Oid			dbid;			/* InvalidOid: free */
	Oid			seq;
	uint64		bound;
} EsHighWater;

typedef struct EsRegistry
{
	slock_t		mutex;			/* protects prepared[], high_water[] and
								 * recovered */
	bool		recovered;		/* prepared slots rebuilt after startup */
	EsHighWater high_water[ES_HIGH_WATER_ENTRIES];
	int			nslots;
	int			nprepared;
	EsAppenderSlot slots[FLEXIBLE_ARRAY_MEMBER];
	/* followed by EsPreparedSlot prepared[nprepared] */
} EsRegistry;

static EsRegistry *registry = NULL;

/* This backend's transaction, as the registry knows it. */
static bool xact_registered = false;
static uint64 xact_low = 0;		/* first position drawn, once known */
static int	xact_prepared_slot = -1;

static int
registry_nslots(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

static Size
registry_size(void)
{
	Size		size = offsetof(EsRegistry, slots);

	size = add_size(size, mul_size(registry_nslots(), sizeof(EsAppenderSlot)));
	size = MAXALIGN(size);
	return add_size(size, mul_size(max_prepared_xacts, sizeof(EsPreparedSlot)));
}

static EsPreparedSlot *
prepared_slots(EsRegistry *r)
{
	Size		offset = offsetof(EsRegistry, slots) +
		r->nslots * sizeof(EsAppenderSlot);

	return (EsPreparedSlot *) ((char *) r + MAXALIGN(offset));
}

static void
registry_init(EsRegistry *r)
{
	EsPreparedSlot *prepared;

	SpinLockInit(&r->mutex);
	r->recovered = false;
	memset(r->high_water, 0, sizeof(r->high_water));
	r->nslots = registry_nslots();
	r->nprepared = max_prepared_xacts;
	for (int i = 0; i < r->nslots; i++)
	{
		pg_atomic_init_u64(&r->slots[i].low, 0);
		r->slots[i].dbid = InvalidOid;
	}
	prepared = prepared_slots(r);
	for (int i = 0; i < r->nprepared; i++)
		prepared[i].in_use = false;
}

/* shmem_request_hook part, when es_store is in shared_preload_libraries */
void
es_registry_shmem_request(void)
{
	RequestAddinShmemSpace(registry_size());
}

/* shmem_startup_hook part, when es_store is in shared_preload_libraries */
void
es_registry_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	registry = ShmemInitStruct("es_store appender registry", registry_size(),
							   &found);
	if (!found)
		registry_init(registry);
	LWLockRelease(AddinShmemInitLock);
}

static void
prepared_tag(LOCKTAG *tag, Oid dbid, uint64 low)
{
	SET_LOCKTAG_ADVISORY(*tag, dbid, (uint32) (low >> 32), (uint32) low,
						 ES_LOCKTAG_CLASS);
}

/* Add a prepared slot; the caller holds r->mutex. */
static int
prepared_slot_add(EsRegistry *r, Oid dbid, uint64 low)
{
	EsPreparedSlot *prepared = prepared_slots(r);

	for (int i = 0; i < r->nprepared; i++)
	{
		if (prepared[i].in_use)
			continue;
		prepared[i].in_use = true;
		prepared[i].dbid = dbid;
		prepared[i].low = low;
		return i;
	}
	return -1;
}

/*
 * After a restart, rebuild the prepared slots from the locks that
 * recovered prepared transactions hold.  Called once, under
 * AddinShmemInitLock, before any backend registers.
 */
static void
recover_prepared(EsRegistry *r)
{
	LockData   *locks;

	if (r->nprepared == 0)
		return;
	locks = GetLockStatusData();
	for (int i = 0; i < locks->nelements; i++)
	{
		LockInstanceData *inst = &locks->locks[i];
		LOCKTAG    *tag = &inst->locktag;

		if (tag->locktag_type != LOCKTAG_ADVISORY ||
			tag->locktag_lockmethodid != USER_LOCKMETHOD ||
			tag->locktag_field4 != ES_LOCKTAG_CLASS ||
			(inst->holdMask & LOCKBIT_ON(ExclusiveLock)) == 0)
			continue;
		SpinLockAcquire(&r->mutex);
		(void) prepared_slot_add(r, tag->locktag_field1,
								 ((uint64) tag->locktag_field2 << 32) |
								 tag->locktag_field3);
		SpinLockRelease(&r->mutex);
	}
	pfree(locks->locks);
	pfree(locks);
}

/* Error context for a failed first-time allocation. */
static void
registry_alloc_context(void *arg)
{
	errcontext("attaching to the es_store appender registry in shared memory "
			   "(after installing a new es_store library, restart the server; "
			   "adding es_store to shared_preload_libraries reserves the memory at startup)");
}

static EsRegistry *
registry_attach(void)
{
	ErrorContextCallback ctx;

	if (registry != NULL && registry->recovered)
		return registry;

	ctx.callback = registry_alloc_context;
	ctx.arg = NULL;
	ctx.previous = error_context_stack;
	error_context_stack = &ctx;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	if (registry == NULL)
	{
		bool		found;

		registry = ShmemInitStruct("es_store appender registry",
								   registry_size(), &found);
		if (!found)
			registry_init(registry);
	}
	if (!registry->recovered)
	{
		recover_prepared(registry);
		registry->recovered = true;
	}
	LWLockRelease(AddinShmemInitLock);

	error_context_stack = ctx.previous;
	return registry;
}

/* The last value es_store.global_position_seq handed out, 0 if none. */
static uint64
sequence_last_value(Oid seq)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(seq);
	fcinfo->args[0].isnull = false;
	result = pg_sequence_last_value(fcinfo);
	if (fcinfo->isnull)
		return 0;
	return (uint64) DatumGetInt64(result);
}

/*
 * Register the current transaction as an appender of this database before
 * it draws positions from seq.  Once per transaction.
 */
void
es_registry_before_draw(Oid seq)
{
	EsRegistry *r;
	EsAppenderSlot *slot;

	uint64		last;

	if (xact_registered)
		return;
	r = registry_attach();
	slot = &r->slots[MyProc->pgprocno];
	slot->dbid = MyDatabaseId;
	last = sequence_last_value(seq);
	if (es_debug_registration_lock != 0)
		(void) DirectFunctionCall1(pg_advisory_xact_lock_shared_int8,
								   Int64GetDatum(es_debug_registration_lock));
	pg_write_barrier();
	pg_atomic_write_u64(&slot->low, last + 1);
	pg_memory_barrier();
	xact_registered = true;
	xact_low = 0;
}

/* The transaction has drawn its first position: tighten its low. */
void
es_registry_after_draw(int64 first_position)
{
	Assert(xact_registered);
	if (xact_low != 0)
		return;
	xact_low = (uint64) first_position;
	pg_atomic_write_u64(&registry->slots[MyProc->pgprocno].low, xact_low);
}

/*
 * Whether the prepared transaction behind a prepared slot has ended: true
 * when a no-wait attempt takes its lock.
 */
static bool
prepared_slot_ended(const EsPreparedSlot *slot)
{
	LOCKTAG		tag;
	LockAcquireResult res;

	prepared_tag(&tag, slot->dbid, slot->low);
	res = LockAcquire(&tag, ExclusiveLock, false, true);
	if (res == LOCKACQUIRE_NOT_AVAIL)
		return false;
	LockRelease(&tag, ExclusiveLock, false);
	return res == LOCKACQUIRE_OK;
}

/*
 * Free the prepared slots whose transactions have ended, and return the
 * lowest low of the live ones in database dbid (PG_UINT64_MAX if none).
 */
static uint64
sweep_prepared(EsRegistry *r, Oid dbid)
{
	EsPreparedSlot *prepared = prepared_slots(r);
	uint64		min_low = PG_UINT64_MAX;

	for (int i = 0; i < r->nprepared; i++)
	{
		EsPreparedSlot copy;

		SpinLockAcquire(&r->mutex);
		copy = prepared[i];
		SpinLockRelease(&r->mutex);
		if (!copy.in_use)
			continue;
		if (prepared_slot_ended(&copy))
		{
			SpinLockAcquire(&r->mutex);
			if (prepared[i].in_use && prepared[i].dbid == copy.dbid &&
				prepared[i].low == copy.low)
				prepared[i].in_use = false;
			SpinLockRelease(&r->mutex);
		}
		else if (copy.dbid == dbid && copy.low < min_low)
			min_low = copy.low;
	}
	return min_low;
}

/*
 * Raise the high-water mark of this database's sequence to bound, and
 * return the mark.  With more databases than entries, a database without
 * an entry gets its raw bound (safe, but not guaranteed monotonic).
 */
static uint64
high_water_apply(EsRegistry *r, Oid seq, uint64 bound)
{
	EsHighWater *entry = NULL;

	SpinLockAcquire(&r->mutex);
	for (int i = 0; i < ES_HIGH_WATER_ENTRIES; i++)
	{
		if (r->high_water[i].dbid == MyDatabaseId)
		{
			entry = &r->high_water[i];
			break;
		}
		if (entry == NULL && r->high_water[i].dbid == InvalidOid)
			entry = &r->high_water[i];
	}
	if (entry != NULL)
	{
		if (entry->dbid != MyDatabaseId || entry->seq != seq)
		{
			/* new entry, or the extension was recreated: start over */
			entry->dbid = MyDatabaseId;
			entry->seq = seq;
			entry->bound = bound;
		}
		else if (entry->bound > bound)
			bound = entry->bound;
		else
			entry->bound = bound;
	}
	SpinLockRelease(&r->mutex);
	return bound;
}

/* LSN of the sequence's page: its last WAL record, logging values ahead. */
static XLogRecPtr
sequence_page_lsn(Oid seq)
{
	Relation	rel = relation_open(seq, AccessShareLock);
	Buffer		buf = ReadBuffer(rel, 0);
	XLogRecPtr	lsn;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	lsn = PageGetLSN(BufferGetPage(buf));
	UnlockReleaseBuffer(buf);
	relation_close(rel, NoLock);
	return lsn;
}

/*
 * The highest global position a feed read in this database may return
 * now: every position at or below it belongs to a transaction whose end
 * is visible to snapshots taken from now on.  See the file header.
 */
int64
es_feed_safe_bound(Oid seq)
{
	EsRegistry *r = registry_attach();
	uint64		bound;
	uint64		low;

	bound = sequence_last_value(seq);
	pg_memory_barrier();
	for (int i = 0; i < r->nslots; i++)
	{
		low = pg_atomic_read_u64(&r->slots[i].low);
		if (low == 0)
			continue;
		pg_read_barrier();
		if (r->slots[i].dbid == MyDatabaseId && low - 1 < bound)
			bound = low - 1;
	}
	/* order the slot reads before the prepared-slot reads */
	pg_memory_barrier();
	low = sweep_prepared(r, MyDatabaseId);
	if (low != PG_UINT64_MAX && low - 1 < bound)
		bound = low - 1;
	bound = high_water_apply(r, seq, bound);
	XLogFlush(sequence_page_lsn(seq));
	return (int64) bound;
}

/*
 * Report every registered appender of this database: the backend's pid
 * (0 for a prepared transaction) and its low.  Returns the count; fills at
 * most max entries.
 */
int
es_registry_in_flight(int *pids, int64 *lows, int max)
{
	EsRegistry *r = registry_attach();
	EsPreparedSlot *prepared = prepared_slots(r);
	int			n = 0;

	for (int i = 0; i < r->nslots && n < max; i++)
	{
		uint64		low = pg_atomic_read_u64(&r->slots[i].low);

		if (low == 0)
			continue;
		pg_read_barrier();
		if (r->slots[i].dbid != MyDatabaseId)
			continue;
		pids[n] = ProcGlobal->allProcs[i].pid;
		lows[n] = (int64) low;
		n++;
	}
	(void) sweep_prepared(r, InvalidOid);
	SpinLockAcquire(&r->mutex);
	for (int i = 0; i < r->nprepared && n < max; i++)
	{
		if (!prepared[i].in_use || prepared[i].dbid != MyDatabaseId)
			continue;
		pids[n] = 0;
		lows[n] = (int64) prepared[i].low;
		n++;
	}
	SpinLockRelease(&r->mutex);
	return n;
}

int
es_registry_capacity(void)
{
	EsRegistry *r = registry_attach();

	return r->nslots + r->nprepared;
}

/* At PRE_PREPARE: hand the transaction's low over to a prepared slot. */
static void
prepare_handoff(void)
{
	EsRegistry *r = registry;
	LOCKTAG		tag;
	int			slot;

	/* free the slots of prepared transactions that have ended */
	(void) sweep_prepared(r, InvalidOid);

	prepared_tag(&tag, MyDatabaseId, xact_low);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	SpinLockAcquire(&r->mutex);
	slot = prepared_slot_add(r, MyDatabaseId, xact_low);
	SpinLockRelease(&r->mutex);
	if (slot < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("cannot prepare a transaction that appended events"),
				 errdetail("All %d prepared-transaction slots of the es_store registry are in use.",
						   r->nprepared)));
	xact_prepared_slot = slot;
}

static void
clear_backend_slot(void)
{
	pg_atomic_write_u64(&registry->slots[MyProc->pgprocno].low, 0);
	xact_registered = false;
	xact_low = 0;
}

static void
registry_xact_callback(XactEvent event, void *arg)
{
	if (!xact_registered)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (xact_low != 0)
				prepare_handoff();
			break;
		case XACT_EVENT_PREPARE:
			/* the prepared transaction owns the prepared slot now */
			xact_prepared_slot = -1;
			clear_backend_slot();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			/*
			 * PREPARE failed after PRE_PREPARE.  Leave the prepared slot to
			 * the sweep: its lock says whether a prepared transaction owns
			 * it (an error late in PREPARE can abort us after the prepared
			 * transaction already exists).
			 */
			xact_prepared_slot = -1;
			clear_backend_slot();
			break;
		default:
			break;
	}
}

/* Called from _PG_init. */
void
es_registry_init_backend(void)
{
	RegisterXactCallback(registry_xact_callback, NULL);
}
