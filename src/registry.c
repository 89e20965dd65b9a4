/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The registry of in-flight appenders, the global feed's safe bound, and
 *	  what an appending transaction does when it ends.
 *
 * The feed reads only up to a safe bound B: every position <= B belongs to
 * a transaction that has ended, visibly to any snapshot taken after B was
 * computed.  src/README.md ("The safe bound") has the whole argument; the
 * invariants this file keeps are:
 *
 *	- Shared memory holds one slot per PGPROC (by pgprocno) and one per
 *	  possible prepared transaction.  A backend slot is 0 (no registration),
 *	  REGISTERING | floor (registration under way), or "low": a lower bound
 *	  of every position the transaction has drawn or may still draw
 *	  (PROVISIONAL | L + 1 until its first draw replaces it by that
 *	  position).  Since 0.4.0 a slot also holds its transaction's xid and
 *	  a filter of the types and tags it appends (the scopes), for
 *	  conditional appends (dcb.c, es_registry_wait_for_scopes).
 *	- An appender publishes REGISTERING, reads the sequence's last value L,
 *	  then replaces REGISTERING | floor with PROVISIONAL | L + 1 by
 *	  compare-and-swap, all
 *	  before it draws a position.  A floor above L (a reader raised it, or a
 *	  reader of another database left it on a reused slot) is first reset
 *	  to L, and L is read again from the sequence.  A reader that
 *	  finds a slot REGISTERING raises its floor to the sequence value H the
 *	  reader read (a conditional append's wait: to its own first position,
 *	  drawn before), by compare-and-swap, and then does not count the slot:
 *	  that appender draws only above H, and will publish a low above H.  So
 *	  B never decreases, without any per-database memory, and no reader
 *	  ever waits for an appender.
 *	- A slot is cleared at XACT_EVENT_COMMIT and XACT_EVENT_ABORT, which
 *	  run after the transaction has left the proc array, and at the abort
 *	  of the subtransaction it was registered in, which runs after that
 *	  subtransaction is marked aborted in clog and removed from the proc
 *	  array (xact.c AbortSubTransaction, RecordTransactionAbort).
 *	- A prepared transaction keeps its low in a prepared slot, through a
 *	  lock that PREPARE TRANSACTION hands over to it, that survives a crash
 *	  restart, and that COMMIT/ROLLBACK PREPARED releases only after it has
 *	  left the proc array.  After a restart the prepared slots are rebuilt
 *	  from the lock table by the first backend that attaches outside
 *	  recovery: a standby holds no such locks, and RecoverPreparedTransactions
 *	  takes them at promotion before recovery is marked done (xlog.c
 *	  StartupXLOG).  Nothing in the registry is attached, decided or cached
 *	  while recovery is in progress.
 *
 * The registry is created on first use with ShmemInitStruct from the spare
 * shared memory PostgreSQL reserves, so shared_preload_libraries is not
 * needed; when es_store is preloaded, the space is reserved at startup.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"

#include "es_store.h"

/*
 * locktag_field4 of the advisory-type lock a prepared appender holds: for
 * its low, and for the position it holds on a Citus worker for the
 * coordinator (es_registry_hold_coordinator)
 */
#define ES_LOCKTAG_CLASS	0x4553
#define ES_LOCKTAG_HELD		0x4548

/*
 * A backend slot's value while its registration is under way: this bit,
 * with the highest sequence value a reader saw meanwhile (the floor) in the
 * bits below it.  Positions are positive bigints, so they never set it.
 */
#define ES_REGISTERING		(UINT64CONST(1) << 63)
#define ES_FLOOR_MASK		(ES_REGISTERING - 1)

/*
 * A published low that is not yet the transaction's first position: the
 * sequence value it registered after, plus one, until its first draw
 * replaces it (es_registry_after_draw).  The feed reads it as the lower
 * bound it is; a conditional append waits for it to become exact
 * (es_registry_wait_for_scopes), since it may lie below a position the
 * transaction will draw above the waiter's.  Positions stay below 2^62.
 */
#define ES_PROVISIONAL		(UINT64CONST(1) << 62)
#define ES_LOW_MASK			(ES_PROVISIONAL - 1)

/*
 * The scopes of what a registered transaction appends (0.4.0): a Bloom
 * filter of ES_SCOPE_BITS bits over the hashes of its events' types and
 * tags (tags.c), two bits per hash.  A conditional append (dcb.c) waits for
 * a transaction below its position only when the filter may hold what its
 * condition matches; a filter never misses a scope that was published, and
 * a full one (thousands of scopes) holds everything.
 */
#define ES_SCOPE_WORDS		4
#define ES_SCOPE_BITS		(ES_SCOPE_WORDS * 64)

typedef struct EsAppenderSlot
{
	pg_atomic_uint64 low;		/* 0, REGISTERING | floor, or low */
	Oid			dbid;			/* written before low or held is set */
	TransactionId xid;			/* its top transaction, likewise */
	pg_atomic_uint64 scopes[ES_SCOPE_WORDS];	/* set before each draw */
	pg_atomic_uint64 held;		/* 0, or a coordinator's position held */
} EsAppenderSlot;

/*
 * A prepared transaction's low, or (held) the lowest of the coordinator's
 * positions it holds on this Citus worker: up to two per transaction.
 */
typedef struct EsPreparedSlot
{
	bool		in_use;
	bool		held;
	Oid			dbid;
	uint64		low;
	uint64		scopes[ES_SCOPE_WORDS]; /* all set after a restart */
} EsPreparedSlot;

typedef struct EsRegistry
{
	slock_t		mutex;			/* protects prepared[] and recovered */
	bool		recovered;		/* prepared slots rebuilt after startup */
	int			nslots;
	int			nprepared;
	EsAppenderSlot slots[FLEXIBLE_ARRAY_MEMBER];
	/* followed by EsPreparedSlot prepared[nprepared] */
} EsRegistry;

static EsRegistry *registry = NULL;

static uint64 sweep_prepared(EsRegistry *r, Oid dbid, uint64 *min_held);

/*
 * This backend's transaction, as the registry knows it: whether it is
 * registered, in which subtransaction the registration was made (it moves
 * to the parent when that commits), the first position it drew, and the
 * channels to notify at commit (in TopTransactionContext).
 */
static bool xact_registered = false;
static SubTransactionId xact_subid = InvalidSubTransactionId;
static uint64 xact_low = 0;
static List *xact_channels = NIL;

/*
 * Whether the registration holds the feed at positions drawn on another
 * node (es_registry_hold) rather than at this transaction's own draws.
 */
static bool xact_holds = false;

/*
 * On a Citus worker, the lowest position drawn on the coordinator that this
 * transaction inserted here (0: none), and the subtransaction that first
 * did (es_registry_hold_coordinator); kept apart from the low, which is in
 * this node's own position space.
 */
static uint64 xact_held = 0;
static SubTransactionId xact_held_subid = InvalidSubTransactionId;

static int
registry_nslots(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

/* two per prepared transaction: its low and its held position */
static int
registry_nprepared(void)
{
	return 2 * max_prepared_xacts;
}

static Size
registry_size(void)
{
	Size		size = offsetof(EsRegistry, slots);

	size = add_size(size, mul_size(registry_nslots(), sizeof(EsAppenderSlot)));
	size = MAXALIGN(size);
	return add_size(size, mul_size(registry_nprepared(), sizeof(EsPreparedSlot)));
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
	r->nslots = registry_nslots();
	r->nprepared = registry_nprepared();
	for (int i = 0; i < r->nslots; i++)
	{
		pg_atomic_init_u64(&r->slots[i].low, 0);
		r->slots[i].dbid = InvalidOid;
		r->slots[i].xid = InvalidTransactionId;
		for (int w = 0; w < ES_SCOPE_WORDS; w++)
			pg_atomic_init_u64(&r->slots[i].scopes[w], 0);
		pg_atomic_init_u64(&r->slots[i].held, 0);
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
prepared_tag(LOCKTAG *tag, Oid dbid, uint64 low, bool held)
{
	SET_LOCKTAG_ADVISORY(*tag, dbid, (uint32) (low >> 32), (uint32) low,
						 held ? ES_LOCKTAG_HELD : ES_LOCKTAG_CLASS);
}

/*
 * Add a prepared slot with the scopes of its transaction (NULL: unknown,
 * all of them); the caller holds r->mutex.
 */
static int
prepared_slot_add(EsRegistry *r, Oid dbid, uint64 low, bool held,
				  const uint64 *scopes)
{
	EsPreparedSlot *prepared = prepared_slots(r);

	for (int i = 0; i < r->nprepared; i++)
	{
		if (prepared[i].in_use)
			continue;
		prepared[i].in_use = true;
		prepared[i].held = held;
		prepared[i].dbid = dbid;
		prepared[i].low = low;
		for (int w = 0; w < ES_SCOPE_WORDS; w++)
			prepared[i].scopes[w] = scopes != NULL ? scopes[w] : PG_UINT64_MAX;
		return i;
	}
	return -1;
}

/*
 * After a restart or a promotion, rebuild the prepared slots from the
 * locks that recovered prepared transactions hold.  Called once, outside
 * recovery, under AddinShmemInitLock, before any backend registers.
 */
static void
recover_prepared(EsRegistry *r)
{
	LockData   *locks;

	Assert(!RecoveryInProgress());
	if (r->nprepared == 0)
		return;
	locks = GetLockStatusData();
	for (int i = 0; i < locks->nelements; i++)
	{
		LockInstanceData *inst = &locks->locks[i];
		LOCKTAG    *tag = &inst->locktag;

		if (tag->locktag_type != LOCKTAG_ADVISORY ||
			tag->locktag_lockmethodid != USER_LOCKMETHOD ||
			(tag->locktag_field4 != ES_LOCKTAG_CLASS &&
			 tag->locktag_field4 != ES_LOCKTAG_HELD) ||
			(inst->holdMask & LOCKBIT_ON(ExclusiveLock)) == 0)
			continue;
		SpinLockAcquire(&r->mutex);
		(void) prepared_slot_add(r, tag->locktag_field1,
								 ((uint64) tag->locktag_field2 << 32) |
								 tag->locktag_field3,
								 tag->locktag_field4 == ES_LOCKTAG_HELD, NULL);
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

/*
 * The registry, attached and with its prepared slots rebuilt.  Refuses
 * during recovery: a standby has no appenders, and its lock table holds
 * none of the locks the rebuild reads (callers check first and give the
 * user-facing error).
 */
static EsRegistry *
registry_attach(void)
{
	ErrorContextCallback ctx;

	if (registry != NULL && registry->recovered)
		return registry;
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot use the es_store appender registry during recovery")));

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

/*
 * The last value es_store.global_position_seq handed out (0 if none), and
 * its page's LSN (its latest WAL record, which logs values ahead) when lsn
 * is not NULL.  Read from the page under a share lock: nextval changes the
 * page under an exclusive one, so the read is ordered against every draw,
 * as src/README.md's argument needs, and readers do not queue behind each
 * other as they would for pg_sequence_last_value's exclusive lock (taken
 * three times by a conditional append, on the page every append draws
 * from).
 */
static uint64
sequence_state(Oid seq, XLogRecPtr *lsn)
{
	/* the lock nextval and pg_sequence_last_value take: ALTER SEQUENCE waits */
	Relation	rel = relation_open(seq, RowExclusiveLock);
	Buffer		buf = ReadBuffer(rel, 0);
	Page		page;
	ItemId		item;
	HeapTupleHeader tup;
	Form_pg_sequence_data data;
	uint64		last;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	item = PageGetItemId(page, FirstOffsetNumber);
	if (PageGetMaxOffsetNumber(page) < FirstOffsetNumber || !ItemIdIsNormal(item))
		elog(ERROR, "sequence %u has no tuple", seq);
	tup = (HeapTupleHeader) PageGetItem(page, item);
	data = (Form_pg_sequence_data) ((char *) tup + tup->t_hoff);
	last = data->is_called ? (uint64) data->last_value : 0;
	if (lsn != NULL)
		*lsn = PageGetLSN(page);
	UnlockReleaseBuffer(buf);
	relation_close(rel, NoLock);
	return last;
}

/* Clear the slot's low (and scopes): the registration has ended */
static void
clear_backend_low(void)
{
	EsAppenderSlot *slot = &registry->slots[MyProc->pgprocno];

	/* low first: a reader that saw these scopes sees low change (dcb.c) */
	pg_atomic_write_u64(&slot->low, 0);
	pg_write_barrier();
	for (int w = 0; w < ES_SCOPE_WORDS; w++)
		pg_atomic_write_u64(&slot->scopes[w], 0);
	xact_registered = false;
	xact_holds = false;
	xact_subid = InvalidSubTransactionId;
	xact_low = 0;
	xact_channels = NIL;
}

/* Clear the slot's held position: the hold has ended */
static void
clear_backend_held(void)
{
	pg_atomic_write_u64(&registry->slots[MyProc->pgprocno].held, 0);
	xact_held = 0;
	xact_held_subid = InvalidSubTransactionId;
}

static void
clear_backend_slot(void)
{
	if (xact_registered)
		clear_backend_low();
	if (xact_held != 0)
		clear_backend_held();
}

/*
 * Register the current transaction as an appender of this database before
 * it draws positions from seq.  Once per transaction (again after the
 * subtransaction that registered it aborted).
 */
void
es_registry_before_draw(Oid seq)
{
	EsRegistry *r;
	pg_atomic_uint64 *low;
	uint64		last;
	uint64		expected;

	if (xact_registered)
		return;
	r = registry_attach();
	low = &r->slots[MyProc->pgprocno].low;

	r->slots[MyProc->pgprocno].dbid = MyDatabaseId;
	r->slots[MyProc->pgprocno].xid = GetTopTransactionId();
	pg_write_barrier();
	/* from here an error or abort clears the slot */
	xact_registered = true;
	xact_subid = GetCurrentSubTransactionId();
	xact_low = 0;
	pg_atomic_write_u64(low, ES_REGISTERING);
	pg_memory_barrier();

	last = sequence_state(seq, NULL);
	if (es_debug_registration_lock != 0)
		(void) DirectFunctionCall1(pg_advisory_xact_lock_shared_int8,
								   Int64GetDatum(es_debug_registration_lock));

	/*
	 * Publish max(last, floor) + 1; a failed CAS reloads expected.  A floor
	 * above last was raised by a reader meanwhile, or by a reader of another
	 * database that found this slot registering for an earlier transaction
	 * and swapped after the slot was reused (it compares values, not
	 * owners), from its own sequence; and a reader of this database may
	 * already have trusted that floor and not counted the slot.  So reset
	 * the floor to last, then read the sequence again and take that as
	 * last: it is above every floor a reader of this database left or
	 * trusted before the reset, and our draws come after it.  Repeat while
	 * readers raise the floor again.
	 */
	expected = pg_atomic_read_u64(low);
	for (;;)
	{
		uint64		floor = expected & ES_FLOOR_MASK;

		Assert(expected & ES_REGISTERING);
		if (floor > last)
		{
			if (pg_atomic_compare_exchange_u64(low, &expected,
											   ES_REGISTERING | last))
			{
				last = sequence_state(seq, NULL);
				expected = pg_atomic_read_u64(low);
			}
			continue;
		}
		if (pg_atomic_compare_exchange_u64(low, &expected,
										   (last + 1) | ES_PROVISIONAL))
			break;
	}
}

/*
 * Hold this node's registry at a position this transaction inserts but
 * did not draw: a row of a distributed store arriving in a shard here,
 * its position drawn by the Citus coordinator (cluster.c).  The slot's
 * low is the lowest such position, exact from the start, and stays until
 * the transaction has ended here (committed, aborted, or prepared and then
 * finished: the prepared slot takes it over at PREPARE, as for an
 * appender).  No REGISTERING step: the drawer's own registration still
 * holds the position until after the insert that calls this has
 * returned, and a reader of the cluster's feed reads the drawer's registry
 * before this one (src/README.md, "Across Citus nodes").  In a transaction
 * registered already, the low goes down to the position if it is lower.
 * For positions in
 * this node's own space; on a Citus worker, the coordinator's go to
 * es_registry_hold_coordinator.
 */
void
es_registry_hold(int64 position)
{
	EsRegistry *r;
	EsAppenderSlot *slot;

	Assert(position > 0);
	if (xact_registered)
	{
		pg_atomic_uint64 *low = &registry->slots[MyProc->pgprocno].low;
		uint64		current = xact_low;

		/*
		 * Lower the low to a position below it, which its drawer still holds
		 * (so no reader has passed it): also below a low of this
		 * transaction's own draws, or its provisional one (a part Citus runs
		 * over a loopback connection may insert what another backend drew).
		 */
		if (current == 0)
			current = pg_atomic_read_u64(low) & ES_LOW_MASK;
		if ((uint64) position < current)
		{
			xact_low = (uint64) position;
			pg_atomic_write_u64(low, xact_low);
			pg_memory_barrier();
		}
		return;
	}
	r = registry_attach();
	slot = &r->slots[MyProc->pgprocno];
	slot->dbid = MyDatabaseId;
	slot->xid = GetTopTransactionId();
	pg_write_barrier();
	xact_registered = true;
	xact_holds = true;
	xact_subid = GetCurrentSubTransactionId();
	xact_low = (uint64) position;
	pg_atomic_write_u64(&slot->low, xact_low);
	pg_memory_barrier();
}

/*
 * On a Citus worker: hold this node's registry at a position drawn on the
 * coordinator (its position space, below every one of this node's own),
 * which this transaction inserts here, as es_registry_hold does for the
 * node's own space, in the slot's held field: the worker's own bound is
 * computed from the lows alone, and the coordinator reads the held
 * positions (es_registry_lowest_held) after its own registry.  Ends with
 * the transaction here, or with a prepared transaction's end (a prepared
 * slot of its own), or with the subtransaction that first held aborting.
 */
void
es_registry_hold_coordinator(int64 position)
{
	EsRegistry *r;
	EsAppenderSlot *slot;

	Assert(position > 0);
	if (xact_held != 0)
	{
		if ((uint64) position < xact_held)
		{
			xact_held = (uint64) position;
			pg_atomic_write_u64(&registry->slots[MyProc->pgprocno].held, xact_held);
			pg_memory_barrier();
		}
		return;
	}
	r = registry_attach();
	slot = &r->slots[MyProc->pgprocno];
	if (!xact_registered)
	{
		slot->dbid = MyDatabaseId;
		slot->xid = GetTopTransactionId();
		pg_write_barrier();
	}
	xact_held = (uint64) position;
	xact_held_subid = GetCurrentSubTransactionId();
	pg_atomic_write_u64(&slot->held, xact_held);
	pg_memory_barrier();
}

/*
 * The lowest position of the coordinator held on this node by a
 * transaction of this database still in flight here, prepared ones
 * included, or PG_INT64_MAX.
 */
int64
es_registry_lowest_held(void)
{
	EsRegistry *r = registry_attach();
	uint64		lowest = PG_UINT64_MAX;
	uint64		prepared_held;

	for (int i = 0; i < r->nslots; i++)
	{
		uint64		v = pg_atomic_read_u64(&r->slots[i].held);

		if (v == 0)
			continue;
		pg_read_barrier();
		if (r->slots[i].dbid == MyDatabaseId && v < lowest)
			lowest = v;
	}
	/* order the slot reads before the prepared-slot reads */
	pg_memory_barrier();
	(void) sweep_prepared(r, MyDatabaseId, &prepared_held);
	if (prepared_held < lowest)
		lowest = prepared_held;
	return lowest == PG_UINT64_MAX ? PG_INT64_MAX : (int64) lowest;
}

/* The two bits of a scope hash in a slot's filter */
static inline void
scope_bits(uint64 hash, int *b1, int *b2)
{
	*b1 = (int) (hash % ES_SCOPE_BITS);
	*b2 = (int) ((hash >> 32) % ES_SCOPE_BITS);
}

/*
 * Add the scopes of the events this registered transaction is about to
 * draw positions for to its slot's filter, before it draws them: a
 * conditional append that drew a higher position finds them (each OR is a
 * full barrier, and es_registry_wait_for_scopes reads after its own draw).
 */
void
es_registry_publish(const uint64 *scopes, int n)
{
	EsAppenderSlot *slot;

	uint64		mask[ES_SCOPE_WORDS] = {0};

	Assert(xact_registered);
	slot = &registry->slots[MyProc->pgprocno];
	for (int i = 0; i < n; i++)
	{
		int			b1;
		int			b2;

		scope_bits(scopes[i], &b1, &b2);
		mask[b1 / 64] |= UINT64CONST(1) << (b1 % 64);
		mask[b2 / 64] |= UINT64CONST(1) << (b2 % 64);
	}
	/* each word with one OR, which is a full barrier */
	for (int w = 0; w < ES_SCOPE_WORDS; w++)
		(void) pg_atomic_fetch_or_u64(&slot->scopes[w], mask[w]);
}

/* Whether a filter may hold the scope hash */
bool
es_scopes_may_hold(const uint64 *scopes, uint64 hash)
{
	int			b1;
	int			b2;

	scope_bits(hash, &b1, &b2);
	return (scopes[b1 / 64] & (UINT64CONST(1) << (b1 % 64))) != 0 &&
		(scopes[b2 / 64] & (UINT64CONST(1) << (b2 % 64))) != 0;
}

/* The transaction has drawn its first position: tighten its low. */
void
es_registry_after_draw(int64 first_position)
{
	Assert(xact_registered);
	if (xact_low != 0)
		return;
	xact_low = (uint64) first_position;
	Assert(pg_atomic_read_u64(&registry->slots[MyProc->pgprocno].low) &
		   ES_PROVISIONAL);
	pg_atomic_write_u64(&registry->slots[MyProc->pgprocno].low, xact_low);
}

/*
 * Notify channel when the transaction commits (once per channel), unless
 * the registration it belongs to is undone by a subtransaction abort first.
 * Nothing is sent for a prepared transaction.
 */
void
es_registry_notify_at_commit(const char *channel)
{
	ListCell   *lc;
	MemoryContext old;

	Assert(xact_registered);
	foreach(lc, xact_channels)
	{
		if (strcmp((const char *) lfirst(lc), channel) == 0)
			return;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	xact_channels = lappend(xact_channels, pstrdup(channel));
	MemoryContextSwitchTo(old);
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

	prepared_tag(&tag, slot->dbid, slot->low, slot->held);
	res = LockAcquire(&tag, ExclusiveLock, false, true);
	if (res == LOCKACQUIRE_NOT_AVAIL)
		return false;
	LockRelease(&tag, ExclusiveLock, false);
	return res == LOCKACQUIRE_OK;
}

/*
 * Free the prepared slots whose transactions have ended, and return the
 * lowest low of the live ones in database dbid (PG_UINT64_MAX if none),
 * and in *min_held (when not NULL) the lowest held position likewise.
 */
static uint64
sweep_prepared(EsRegistry *r, Oid dbid, uint64 *min_held)
{
	EsPreparedSlot *prepared = prepared_slots(r);
	uint64		min_low = PG_UINT64_MAX;

	if (min_held != NULL)
		*min_held = PG_UINT64_MAX;

	for (int i = 0; i < r->nprepared; i++)
	{
		EsPreparedSlot copy;

		CHECK_FOR_INTERRUPTS();
		SpinLockAcquire(&r->mutex);
		copy = prepared[i];
		SpinLockRelease(&r->mutex);
		if (!copy.in_use)
			continue;
		if (prepared_slot_ended(&copy))
		{
			SpinLockAcquire(&r->mutex);
			if (prepared[i].in_use && prepared[i].dbid == copy.dbid &&
				prepared[i].low == copy.low && prepared[i].held == copy.held)
				prepared[i].in_use = false;
			SpinLockRelease(&r->mutex);
		}
		else if (copy.dbid != dbid)
			continue;
		else if (copy.held)
		{
			if (min_held != NULL && copy.low < *min_held)
				*min_held = copy.low;
		}
		else if (copy.low < min_low)
			min_low = copy.low;
	}
	return min_low;
}

/*
 * The low of backend slot i for this database's feed, or 0 when it holds
 * nothing back for a reader that read the sequence at h: no registration,
 * another database, or a registration under way, whose floor this raises
 * to h (its appender will draw and publish only above h).
 */
static uint64
slot_low(EsRegistry *r, int i, uint64 h)
{
	pg_atomic_uint64 *low = &r->slots[i].low;
	uint64		v = pg_atomic_read_u64(low);

	while (v != 0)
	{
		pg_read_barrier();
		if (r->slots[i].dbid != MyDatabaseId)
			return 0;
		if (!(v & ES_REGISTERING))
			return v & ES_LOW_MASK;
		if ((v & ES_FLOOR_MASK) >= h)
			return 0;
		if (es_debug_reader_lock != 0)
			(void) DirectFunctionCall1(pg_advisory_xact_lock_shared_int8,
									   Int64GetDatum(es_debug_reader_lock));
		/* a failed CAS reloads v: published, cleared, or a higher floor */
		if (pg_atomic_compare_exchange_u64(low, &v, ES_REGISTERING | h))
			return 0;
	}
	return 0;
}

/*
 * The highest global position a feed read in this database may return
 * now: every position at or below it belongs to a transaction whose end
 * is visible to snapshots taken from now on.  It never decreases.  Must
 * not be called during recovery.  See src/README.md.
 */
int64
es_feed_safe_bound(Oid seq)
{
	EsRegistry *r = registry_attach();
	uint64		h;
	uint64		bound;
	uint64		low;
	XLogRecPtr	lsn;

	h = sequence_state(seq, &lsn);
	bound = h;
	pg_memory_barrier();
	for (int i = 0; i < r->nslots; i++)
	{
		low = slot_low(r, i, h);
		if (low != 0 && low - 1 < bound)
			bound = low - 1;
	}
	/* order the slot reads before the prepared-slot reads */
	pg_memory_barrier();
	low = sweep_prepared(r, MyDatabaseId, NULL);
	if (low != PG_UINT64_MAX && low - 1 < bound)
		bound = low - 1;
	/* the WAL that logged the values up to h, so they are not drawn again */
	XLogFlush(lsn);
	return (int64) bound;
}

/*
 * Wait for every transaction of this database in flight that may hold a
 * position below "below" (the first position the caller drew) and whose
 * scopes may match (matches(scopes, arg)), so that a look for events after
 * this, with a new snapshot, sees how each ended (dcb.c).  Why that is all
 * a conditional append must wait for (src/README.md, "Append conditions"):
 *	- a transaction whose positions are all above "below" holds no event
 *	  the condition is about;
 *	- one that holds a position below "below" drew it before the caller
 *	  drew "below", and published the scopes of its events before it drew
 *	  (es_registry_publish), so a slot read here, after the caller's draw,
 *	  shows them (both sides separate their write from their read with a
 *	  full barrier), unless the transaction has already ended, which a new
 *	  snapshot then shows (a slot is cleared only after the end is visible);
 *	- a slot found REGISTERING will draw only above "below", once its floor
 *	  is raised to it: it reads the sequence again after seeing the floor;
 *	- a slot is read twice around its scopes and xid: a low that changed
 *	  meanwhile is another transaction (or the same one's exact low), read
 *	  again; exact lows are first positions, which never repeat;
 *	- a provisional low (ES_PROVISIONAL) is waited out, not its
 *	  transaction: it becomes exact at its first draw, a moment later, and
 *	  only then says whether the transaction holds a position below ours;
 *	- a prepared transaction is waited for through its lock, with the
 *	  scopes it had when it was prepared (all of them after a restart).
 * Waiting is XactLockTableWait, as a row lock waits: a cycle is found by
 * the deadlock detector (40P01).
 */
void
es_registry_wait_for_scopes(int64 below,
							bool (*matches) (const uint64 *scopes, void *arg),
							void *arg)
{
	EsRegistry *r = registry_attach();
	EsPreparedSlot *prepared = prepared_slots(r);
	uint64		h;
	TransactionId *xids = palloc(sizeof(TransactionId) * r->nslots);
	int			nxids = 0;
	EsPreparedSlot *waits = palloc(sizeof(EsPreparedSlot) * Max(r->nprepared, 1));
	int			nwaits = 0;
	int			kept;

	/*
	 * The floor a registering slot is raised to: our first position, drawn
	 * before this scan; that appender then reads the sequence again after
	 * seeing the floor, and draws above it (es_registry_before_draw).
	 */
	h = (uint64) below;
	pg_memory_barrier();
	for (int i = 0; i < r->nslots; i++)
	{
		EsAppenderSlot *slot = &r->slots[i];

		CHECK_FOR_INTERRUPTS();
		if (i == MyProc->pgprocno)
			continue;
		for (;;)
		{
			uint64		v = pg_atomic_read_u64(&slot->low);
			uint64		scopes[ES_SCOPE_WORDS];
			TransactionId xid;

			if (v == 0)
				break;
			pg_read_barrier();
			if (slot->dbid != MyDatabaseId)
				break;
			if (v & ES_REGISTERING)
			{
				/* the floor makes it draw above h (slot_low) */
				if ((v & ES_FLOOR_MASK) >= h ||
					pg_atomic_compare_exchange_u64(&slot->low, &v,
												   ES_REGISTERING | h))
					break;
				continue;
			}
			if ((v & ES_LOW_MASK) >= (uint64) below)
				break;
			if (v & ES_PROVISIONAL)
			{
				/*
				 * Registered, its first position not drawn or not yet
				 * published: a moment's work (es_draw_positions).  Wait for
				 * the exact low rather than for the transaction: this one
				 * may draw above us, and wait for us (two conditions would
				 * then wait for each other).
				 */
				pg_usleep(10);
				continue;
			}
			xid = slot->xid;
			for (int w = 0; w < ES_SCOPE_WORDS; w++)
				scopes[w] = pg_atomic_read_u64(&slot->scopes[w]);
			pg_read_barrier();
			if (pg_atomic_read_u64(&slot->low) != v)
				continue;
			if (TransactionIdIsValid(xid) && matches(scopes, arg))
				xids[nxids++] = xid;
			break;
		}
	}
	/* order the slot reads before the prepared-slot reads */
	pg_memory_barrier();
	(void) sweep_prepared(r, InvalidOid, NULL);
	SpinLockAcquire(&r->mutex);
	for (int i = 0; i < r->nprepared; i++)
	{
		if (prepared[i].in_use && !prepared[i].held &&
			prepared[i].dbid == MyDatabaseId &&
			prepared[i].low < (uint64) below)
			waits[nwaits++] = prepared[i];
	}
	SpinLockRelease(&r->mutex);
	/* the query is matched outside the spinlock */
	kept = 0;
	for (int i = 0; i < nwaits; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (matches(waits[i].scopes, arg))
			waits[kept++] = waits[i];
	}
	nwaits = kept;

	for (int i = 0; i < nxids; i++)
	{
		CHECK_FOR_INTERRUPTS();
		XactLockTableWait(xids[i], NULL, NULL, XLTW_None);
	}
	for (int i = 0; i < nwaits; i++)
	{
		LOCKTAG		tag;

		CHECK_FOR_INTERRUPTS();
		prepared_tag(&tag, waits[i].dbid, waits[i].low, false);
		(void) LockAcquire(&tag, ShareLock, false, false);
		LockRelease(&tag, ShareLock, false);
	}
	pfree(xids);
	pfree(waits);
}

/*
 * Report every registered appender of this database: the backend's pid
 * (0 for a prepared transaction) and its low (a registration still under
 * way is not reported), or on a Citus worker the coordinator's position it
 * holds when that is lower (a prepared transaction's two are reported
 * apart).  Returns the count; fills at most max entries.
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
		uint64		held = pg_atomic_read_u64(&r->slots[i].held);

		if (low & ES_REGISTERING)
			low = 0;
		low &= ES_LOW_MASK;
		if (held != 0 && (low == 0 || held < low))
			low = held;
		if (low == 0)
			continue;
		pg_read_barrier();
		if (r->slots[i].dbid != MyDatabaseId)
			continue;
		pids[n] = ProcGlobal->allProcs[i].pid;
		lows[n] = (int64) low;
		n++;
	}
	(void) sweep_prepared(r, InvalidOid, NULL);
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

/*
 * At PRE_PREPARE: hand the transaction's low (held: its held position)
 * over to a prepared slot.
 */
static void
prepare_handoff(uint64 low, bool held)
{
	EsRegistry *r = registry;
	LOCKTAG		tag;
	int			slot;
	uint64		scopes[ES_SCOPE_WORDS];

	/* free the slots of prepared transactions that have ended */
	(void) sweep_prepared(r, InvalidOid, NULL);

	for (int w = 0; w < ES_SCOPE_WORDS; w++)
		scopes[w] = pg_atomic_read_u64(&r->slots[MyProc->pgprocno].scopes[w]);
	prepared_tag(&tag, MyDatabaseId, low, held);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	SpinLockAcquire(&r->mutex);
	slot = prepared_slot_add(r, MyDatabaseId, low, held, scopes);
	SpinLockRelease(&r->mutex);
	if (slot < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("cannot prepare a transaction that appended events"),
				 errdetail("All %d prepared-transaction slots of the es_store registry are in use.",
						   r->nprepared)));
}

static void
registry_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (!xact_registered && xact_held == 0)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			/* queued now, sent by PreCommit_Notify later in the commit */
			foreach(lc, xact_channels)
				Async_Notify((const char *) lfirst(lc), "");
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (xact_low != 0)
				prepare_handoff(xact_low, false);
			if (xact_held != 0)
				prepare_handoff(xact_held, true);
			break;
		case XACT_EVENT_PREPARE:
			/* the prepared transaction owns the prepared slot now */
			clear_backend_slot();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:

			/*
			 * On abort after PRE_PREPARE, the prepared slot is left to the
			 * sweep: its lock says whether a prepared transaction owns it
			 * (an error late in PREPARE can abort us after the prepared
			 * transaction already exists).
			 */
			clear_backend_slot();
			break;
		default:
			break;
	}
}

/*
 * A registration made in a subtransaction moves to its parent when the
 * subtransaction commits, and is undone when it aborts: everything the
 * transaction drew since registering was drawn inside it, and its rows can
 * never become visible.  The callback runs after the subtransaction was
 * marked aborted and left the proc array (xact.c AbortSubTransaction).
 */
static void
registry_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (xact_held != 0 && mySubid == xact_held_subid)
	{
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			xact_held_subid = parentSubid;
		else if (event == SUBXACT_EVENT_ABORT_SUB)
			clear_backend_held();
	}
	if (!xact_registered || mySubid != xact_subid)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
		xact_subid = parentSubid;
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		clear_backend_low();
}

/* Called from _PG_init. */
void
es_registry_init_backend(void)
{
	RegisterXactCallback(registry_xact_callback, NULL);
	RegisterSubXactCallback(registry_subxact_callback, NULL);
}
