/*-------------------------------------------------------------------------
 *
 * direct.c
 *	  The append hot path without SQL statements: the head row advance and
 *	  the event inserts done through the executor's single-row routines
 *	  (the ones logical replication applies changes with).
 *
 * Why: an append is two small statements, and running each through SPI
 * costs an executor start-up and shutdown (plan validation, node and
 * projection set-up) that is larger than the row work itself.  Measured
 * with callgrind and test/bench (README "Performance"), this path takes
 * about 40% of the instructions off a single-event append.
 *
 * What it does, and why it means the same as the SQL it replaces
 * (plans.c ES_PLAN_HEAD_ADVANCE / ES_PLAN_HEAD_UPSERT / ES_PLAN_HEAD_CREATE
 * and ES_PLAN_INSERT_ONE / ES_PLAN_INSERT_MANY):
 *	- The head row is found through the key index with a fresh snapshot
 *	  taken after a command counter increment, as a READ COMMITTED UPDATE
 *	  would see it.  It is then locked with table_tuple_lock(...,
 *	  TUPLE_LOCK_FLAG_FIND_LAST_VERSION), which waits for a concurrent
 *	  updater and follows the update chain to the latest committed version,
 *	  exactly what UPDATE's EvalPlanQual recheck does
 *	  (src/backend/executor/README "EvalPlanQual").  The expected version is
 *	  compared with that locked version, so the check and the advance are
 *	  still atomic on the row, and a loser holds the row lock until its
 *	  error ends the transaction, like the UPDATE.
 *	- A new aggregate's head row (expected version 0, or "any" when the key
 *	  index has no visible row) is inserted the way INSERT .. ON CONFLICT
 *	  inserts it, by speculative insertion (create_head): a second creator
 *	  waits for the first in the key index and then sees the conflict.  On a
 *	  conflict the statement runs instead and decides.
 *	- Events are written with ExecSimpleRelationInsert (a batch with
 *	  table_multi_insert and the same steps: es_direct_insert_events), and
 *	  the head row with the steps of ExecSimpleRelationUpdate (update_head),
 *	  which check constraints and maintain every index (unique checks
 *	  included), after ExecCheckRTPerms has checked the privileges the
 *	  statements would need (without them, the statements run and report
 *	  it).
 *	- Two things differ from the statements, in cost only: the head row's
 *	  page is pruned when it runs out of room rather than on every visit
 *	  (fetch_head), and index locks are kept to the end of the transaction,
 *	  as a statement's planner keeps them.
 *
 * When it does not apply, the caller uses the SQL statements: under
 * REPEATABLE READ and SERIALIZABLE (their 40001 and predicate-lock rules
 * stay with the executor), in a read-only transaction or on a standby (the
 * executor's error is the one users know), when either table has row-level
 * security or triggers on the written operation, is not a plain heap table
 * (partitioned, a partition, inherited from, with generated columns; a
 * head table of another access method), or has columns this file does
 * not know or of another type (a later schema or a user's ALTER TABLE; a
 * head row is created directly only when the head table has exactly the
 * columns of 0.2.0, whose defaults this file sets), when a head row to
 * create turns out to exist, and for the insert of caller-supplied event
 * ids (ON CONFLICT DO NOTHING, see batch.c step 5).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_type_d.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "es_store.h"

struct EsDirect
{
	EState	   *estate;
	Relation	heads;
	Relation	events;
	Relation	key_index;		/* aggregate_heads_key, opened for the scan */
	ResultRelInfo *heads_rri;
	ResultRelInfo *events_rri;
	Relation	tags;			/* event_tags, when a batch with tags can
								 * write its rows here (0.4.0) */
	ResultRelInfo *tags_rri;
	AttrNumber	head_att[HEAD_NCOLS];	/* 0-based attribute offsets */
	AttrNumber	event_att[EVENT_NCOLS];
	bool		events_direct;	/* inserts may take this path */
	bool		heads_direct;	/* ... and so may a new head row */
	bool		lifecycle;		/* heads have the 0.3.0 lifecycle columns */
	Oid			stream_id_sequence; /* heads.stream_id's, when heads_direct */
	Oid			pkey_oid;		/* aggregate_heads_pkey (stream_id) */
	TupleTableSlot *locked;		/* the head row es_direct_head_finish checks */
};

static ResultRelInfo *
result_rel(Relation rel, Index rti, bool open_indexes)
{
	ResultRelInfo *rri = makeNode(ResultRelInfo);

	InitResultRelInfo(rri, rel, rti, NULL, 0);
	if (open_indexes)
		ExecOpenIndices(rri, false);
	return rri;
}

/*
 * Close what ExecOpenIndices opened, keeping the locks until the end of the
 * transaction, as a statement's planner does: a later append of the same
 * transaction then finds them already held, and none is released one by one.
 */
static void
close_indexes(ResultRelInfo *rri)
{
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		if (rri->ri_IndexRelationDescs[i] != NULL)
			index_close(rri->ri_IndexRelationDescs[i], NoLock);
	}
	rri->ri_NumIndices = 0;
}

static void advance_locked(EsDirect *d, const EsBatch *b,
						   TupleTableSlot *oldslot, EsHead *head);

/* Whether rel has a trigger an INSERT statement would fire */
static bool
has_insert_triggers(Relation rel)
{
	TriggerDesc *trig = rel->trigdesc;

	return trig != NULL &&
		(trig->trig_insert_before_row || trig->trig_insert_after_row ||
		 trig->trig_insert_instead_row || trig->trig_insert_before_statement ||
		 trig->trig_insert_after_statement);
}

/*
 * Whether event_tags is as installed, for direct inserts: a plain heap
 * table of (tag_hash bigint, global_position bigint), no other column, no
 * insert trigger.
 */
static bool
tags_table_usable(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	return es_plain_table(rel) && rel->rd_rel->relam == HEAP_TABLE_AM_OID &&
		desc->natts == 2 &&
		!TupleDescAttr(desc, 0)->attisdropped &&
		!TupleDescAttr(desc, 1)->attisdropped &&
		TupleDescAttr(desc, 0)->atttypid == INT8OID &&
		TupleDescAttr(desc, 1)->atttypid == INT8OID &&
		!has_insert_triggers(rel);
}

/*
 * The snapshot the head step finds the head row with: the caller looks
 * for its event ids with it, so that an append committed after that look
 * shows as a changed head row (es_direct_head_advance).
 */
Snapshot
es_direct_snapshot(const EsDirect *d)
{
	return d->estate->es_snapshot;
}

/* Whether es_direct_head_advance handles this expectation */
static bool
head_step_applies(const EsBatch *b)
{
	return b->expect == ES_EXPECT_ANY || b->expect == ES_EXPECT_EXISTS ||
		b->expect == ES_EXPECT_EXACT || b->expect == ES_EXPECT_NO_STREAM;
}

/* Whether the head step may create the head row (expect ANY or NO_STREAM) */
static bool
head_step_creates(const EsBatch *b)
{
	return b->expect == ES_EXPECT_ANY || b->expect == ES_EXPECT_NO_STREAM;
}

/*
 * Set up the direct path for one append, or return NULL when it does not
 * apply (see the file header), also when neither the head step nor the
 * insert could take it.  Must be paired with es_direct_end.
 */
EsDirect *
es_direct_begin(const EsBatch *b)
{
	EsDirect   *d;
	RangeTblEntry *heads_rte;
	RangeTblEntry *events_rte;
	RangeTblEntry *tags_rte = NULL;
	List	   *rtes;
	Oid			oids[ES_NUM_RELS];
	EsTableMap	map;
	AclMode		heads_perms;

	if ((b->ids_supplied && !head_step_applies(b)) ||
		IsolationUsesXactSnapshot() || XactReadOnly || !es_table_oids(oids))
		return NULL;

	d = palloc0(sizeof(EsDirect));
	/* a concurrent DROP EXTENSION may have removed them: let SQL report it */
	d->heads = es_table_open(oids[ES_REL_HEADS], ES_REL_HEADS, RowExclusiveLock);
	d->events = es_table_open(oids[ES_REL_EVENTS], ES_REL_EVENTS,
							  RowExclusiveLock);
	if (d->heads == NULL || d->events == NULL)
	{
		es_direct_end(d);
		return NULL;
	}
	es_table_map(d->heads, d->events, &map);
	memcpy(d->event_att, map.event_att, sizeof(map.event_att));
	memcpy(d->head_att, map.head_att, sizeof(map.head_att));
	d->events_direct = es_plain_table(d->events) && map.events_mappable &&
		!has_insert_triggers(d->events);
	if (!es_plain_table(d->heads) ||
		d->heads->rd_rel->relam != HEAP_TABLE_AM_OID ||
		d->heads->trigdesc != NULL || !map.heads_mappable)
	{
		es_direct_end(d);
		return NULL;
	}

	/* The key index: (bounded_context, aggregate_type, aggregate_id) text */
	d->key_index = es_index_open(d->heads, oids[ES_REL_HEADS_KEY],
								 RowExclusiveLock);
	if (d->key_index == NULL ||
		!es_index_usable(d->key_index, d->heads,
						 &d->head_att[HEAD_BOUNDED_CONTEXT], 3, TEXTOID))
	{
		es_direct_end(d);
		return NULL;
	}

	d->heads_direct = map.heads_insertable && head_step_creates(b);
	d->lifecycle = map.heads_lifecycle;
	d->stream_id_sequence = map.stream_id_sequence;
	d->pkey_oid = oids[ES_REL_HEADS_PKEY];

	/*
	 * At least the privileges the statements this path stands in for would
	 * need: the head step's UPDATE .. RETURNING (expect EXISTS or EXACT),
	 * INSERT .. ON CONFLICT DO NOTHING (NO_STREAM) or DO UPDATE (ANY), and
	 * the events' INSERT.  When one is missing, the statements run instead
	 * and report it.
	 */
	heads_perms = ACL_SELECT;
	if (b->expect != ES_EXPECT_NO_STREAM)
		heads_perms |= ACL_UPDATE;
	if (head_step_creates(b))
		heads_perms |= ACL_INSERT;
	heads_rte = es_table_rte(d->heads, RowExclusiveLock, heads_perms);
	heads_rte->selectedCols = es_column_set(d->head_att, HEAD_NCOLS_READ);
	if (heads_perms & ACL_UPDATE)
		heads_rte->updatedCols = es_column_set(&d->head_att[HEAD_VERSION], 2);
	if (heads_perms & ACL_INSERT)
	{
		heads_rte->insertedCols =
			es_column_set(&d->head_att[HEAD_BOUNDED_CONTEXT], 4);
		if (map.heads_insertable)
			heads_rte->insertedCols =
				bms_add_member(heads_rte->insertedCols,
							   d->head_att[HEAD_KEY_HASH] + 1 -
							   FirstLowInvalidHeapAttributeNumber);
	}
	events_rte = es_table_rte(d->events, RowExclusiveLock, ACL_INSERT);
	if (d->events_direct)
		events_rte->insertedCols = es_column_set(d->event_att, EVENT_NCOLS);
	rtes = list_make2(heads_rte, events_rte);

	/*
	 * event_tags, for a batch with tags: a plain table of exactly its two
	 * bigint columns and no insert trigger, else tags.c writes its rows
	 * with a statement.
	 */
	if (b->has_tags && OidIsValid(oids[ES_REL_EVENT_TAGS]))
	{
		d->tags = es_table_open(oids[ES_REL_EVENT_TAGS], ES_REL_EVENT_TAGS,
								RowExclusiveLock);
		if (d->tags != NULL && tags_table_usable(d->tags))
		{
			tags_rte = es_table_rte(d->tags, RowExclusiveLock, ACL_INSERT);
			tags_rte->insertedCols = es_column_set((AttrNumber[]) {0, 1}, 2);
			rtes = lappend(rtes, tags_rte);
		}
	}
	if (!ExecCheckRTPerms(rtes, false))
	{
		es_direct_end(d);
		return NULL;
	}

	/*
	 * See what a new statement would see (our earlier writes included), and
	 * write with that snapshot active, as a statement would.
	 */
	CommandCounterIncrement();
	d->estate = CreateExecutorState();
	d->estate->es_snapshot = RegisterSnapshot(GetLatestSnapshot());
	d->estate->es_output_cid = GetCurrentCommandId(true);
	ExecInitRangeTable(d->estate, rtes);
	/*
	 * The head row's update is HOT as a rule: heads' indexes are opened only
	 * for one that is not (update_head).
	 */
	d->heads_rri = result_rel(d->heads, 1, false);
	d->events_rri = result_rel(d->events, 2, true);
	if (tags_rte != NULL)
		d->tags_rri = result_rel(d->tags, 3, true);
	return d;
}

/*
 * Release what es_direct_begin took, also a partly set up one (locks stay
 * until transaction end).
 */
void
es_direct_end(EsDirect *d)
{
	if (d == NULL)
		return;
	if (d->estate != NULL)
	{
		ExecResetTupleTable(d->estate->es_tupleTable, false);
		close_indexes(d->heads_rri);
		close_indexes(d->events_rri);
		if (d->tags_rri != NULL)
			close_indexes(d->tags_rri);
		UnregisterSnapshot(d->estate->es_snapshot);
		FreeExecutorState(d->estate);
	}
	if (d->key_index != NULL)
		index_close(d->key_index, NoLock);
	if (d->tags != NULL)
		table_close(d->tags, NoLock);
	if (d->events != NULL)
		table_close(d->events, NoLock);
	if (d->heads != NULL)
		table_close(d->heads, NoLock);
	pfree(d);
}

/*
 * The version the expectation is checked against: 0 for a deleted or
 * forgotten stream (absent), and whether the stream is forgotten (no
 * expectation holds then: the statements raise SE003).
 */
static int64
expected_against(EsDirect *d, TupleTableSlot *slot, bool *forgotten,
				 bool *deleted)
{
	bool		isnull;
	int64		version = DatumGetInt64(slot_getattr(slot, d->head_att[HEAD_VERSION] + 1,
													 &isnull));

	*forgotten = *deleted = false;
	if (!d->lifecycle)
		return version;
	(void) slot_getattr(slot, d->head_att[HEAD_FORGOTTEN_AT] + 1, &isnull);
	*forgotten = !isnull;
	(void) slot_getattr(slot, d->head_att[HEAD_DELETED_AT] + 1, &isnull);
	*deleted = !isnull;
	return (*forgotten || *deleted) ? 0 : version;
}

/* The expected-version check of ES_PLAN_HEAD_ADVANCE (ANY: none) */
static bool
version_matches(const EsBatch *b, int64 version)
{
	switch (b->expect)
	{
		case ES_EXPECT_ANY:
			return true;
		case ES_EXPECT_EXISTS:
			return version > 0;
		case ES_EXPECT_EXACT:
			return version == b->expected_version;
		default:
			return false;
	}
}

/*
 * The head row the key index scan finds, stored in slot (a heap buffer
 * slot), as index_getnext_slot would find it, with one difference: the page
 * is pruned only when it has no room left for the row's next version.
 *
 * Why: every append leaves a dead version of its head row behind, and
 * heapam prunes a page on every visit while it is more than 90% full, which
 * a page of head rows always is after its first update.  A prune costs in
 * proportion to the rows on the page, so pruning on every visit made it the
 * largest single cost of an append (callgrind: about an eighth of its
 * instructions).  Pruning when the space runs out removes as many dead
 * versions at once as the page's free space held, and the update that
 * follows still finds room for a HOT update.  Skipping a prune is always
 * correct: it only reclaims space.
 */
static bool
fetch_head(EsDirect *d, IndexScanDesc scan, TupleTableSlot *slot)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	HeapTuple	tuple = &bslot->base.tupdata;
	ItemPointer tid;

	Assert(TTS_IS_BUFFERTUPLE(slot));
	while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
	{
		ItemPointerData htid = *tid;
		Buffer		buf = ReadBuffer(d->heads, ItemPointerGetBlockNumber(&htid));
		bool		all_dead = false;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		found = heap_hot_search_buffer(&htid, d->heads, buf, scan->xs_snapshot,
									   tuple, &all_dead, true);
		if (found &&
			PageGetHeapFreeSpace(BufferGetPage(buf)) < MAXALIGN(tuple->t_len))
		{
			/* no room for the next version: prune, and look again */
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
			heap_page_prune_opt(d->heads, buf);
			LockBuffer(buf, BUFFER_LOCK_SHARE);
			htid = *tid;
			found = heap_hot_search_buffer(&htid, d->heads, buf,
										   scan->xs_snapshot, tuple,
										   &all_dead, true);
		}
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		if (found)
		{
			pgstat_count_heap_fetch(scan->indexRelation);
			ExecStorePinnedBufferHeapTuple(tuple, slot, buf);
			return true;
		}
		ReleaseBuffer(buf);
		/* as index_fetch_heap: let the index mark an entry nobody can see */
		if (!scan->xactStartedInRecovery)
			scan->kill_prior_tuple = all_dead;
	}
	return false;
}

/*
 * ExecSimpleRelationUpdate for a table es_direct_begin checked (no
 * triggers, no generated columns, not a partition), except that heads'
 * indexes are opened only when the update is not HOT and needs new entries.
 */
static void
update_head(EsDirect *d, TupleTableSlot *oldslot, TupleTableSlot *newslot)
{
	ResultRelInfo *rri = d->heads_rri;
	EState	   *estate = d->estate;
	bool		update_indexes;

	CheckCmdReplicaIdentity(d->heads, CMD_UPDATE);
	if (d->heads->rd_att->constr != NULL)
		ExecConstraints(rri, newslot, estate);
	simple_table_tuple_update(d->heads, &oldslot->tts_tid, newslot,
							  estate->es_snapshot, &update_indexes);
	if (update_indexes)
	{
		if (rri->ri_IndexRelationDescs == NULL)
			ExecOpenIndices(rri, false);
		list_free(ExecInsertIndexTuples(rri, newslot, estate, true, false,
										NULL, NIL));
	}
}

/*
 * Whether a head row with stream id id exists or is being inserted, seen
 * through pkey (aggregate_heads_pkey) with a dirty snapshot, which shows
 * committed rows and those of transactions in progress alike.
 */
static bool
stream_id_taken(Relation heads, Relation pkey, int64 id)
{
	SnapshotData dirty;
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot = table_slot_create(heads, NULL);
	bool		taken;

	InitDirtySnapshot(dirty);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	scan = index_beginscan(heads, pkey, &dirty, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	taken = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return taken;
}

/*
 * The stream id of a new aggregate whose key hashes to key_hash: the hash
 * itself, so that reads find its events without its head row (scan.c
 * es_scan_read_aggregate), unless another head row has it; then the next
 * value of the identity sequence that no head row has.  Without pkey
 * (aggregate_heads_pkey), the sequence's next value.
 */
static int64
new_stream_id(EsDirect *d, Relation pkey, int64 key_hash)
{
	int64		id = key_hash;

	/*
	 * stream id 0 holds the feed's markers (lifecycle.c), and
	 * ES_STREAM_NO_AGGREGATE the events of no aggregate (dcb.c)
	 */
	if (pkey == NULL || id == 0 || id == ES_STREAM_NO_AGGREGATE)
		return nextval_internal(d->stream_id_sequence, false);
	while (stream_id_taken(d->heads, pkey, id))
	{
		CHECK_FOR_INTERRUPTS();
		id = nextval_internal(d->stream_id_sequence, false);
	}
	return id;
}

/* aggregate_heads_pkey among rri's open indexes, if it is the one assumed */
static Relation
heads_pkey(EsDirect *d, ResultRelInfo *rri)
{
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];

		if (RelationGetRelid(index) == d->pkey_oid)
			return es_index_usable(index, d->heads,
								   &d->head_att[HEAD_STREAM_ID], 1, INT8OID) ?
				index : NULL;
	}
	return NULL;
}

/*
 * Create the head row of a new aggregate at version nevents, as
 * ES_PLAN_HEAD_CREATE's INSERT .. ON CONFLICT ON CONSTRAINT
 * aggregate_heads_key DO NOTHING does it (speculative insertion, see
 * nodeModifyTable.c ExecInsert): look for a conflicting key in the key
 * index, waiting for an inserter in progress; insert the row
 * speculatively and its index entries; then confirm the row, or take it
 * back and look again when another inserter got there in between.  The
 * stream id is the key hash when no head row has it (new_stream_id; the
 * statement takes the identity sequence's next value).  Returns false when
 * the key exists: the caller then runs the statement, which decides what
 * that means.
 */
static bool
create_head(EsDirect *d, const EsBatch *b, EsHead *head)
{
	EState	   *estate = d->estate;
	ResultRelInfo *rri = d->heads_rri;
	TupleTableSlot *slot = table_slot_create(d->heads, &estate->es_tupleTable);
	List	   *arbiters = list_make1_oid(RelationGetRelid(d->key_index));
	Relation	pkey;
	const AttrNumber *att = d->head_att;
	Datum	   *v = slot->tts_values;
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	int64		key_hash;
	int64		stream_id;
	bool		created = false;

	Assert(d->heads_direct && rri->ri_IndexRelationDescs == NULL);
	ExecOpenIndices(rri, true);
	key_hash = es_key_hash(DatumGetTextPP(b->key.bounded_context),
						   DatumGetTextPP(b->key.aggregate_type),
						   DatumGetTextPP(b->key.aggregate_id));
	pkey = heads_pkey(d, rri);
	stream_id = new_stream_id(d, pkey, key_hash);

	/*
	 * Two creators of one key choose the same id: the primary key is then an
	 * arbiter too, so that the second sees a conflict (and runs the
	 * statement) instead of a unique violation.
	 */
	if (pkey != NULL)
		arbiters = lappend_oid(arbiters, RelationGetRelid(pkey));

	ExecClearTuple(slot);
	memset(slot->tts_isnull, true,
		   sizeof(bool) * slot->tts_tupleDescriptor->natts);	/* dropped */
	v[att[HEAD_STREAM_ID]] = Int64GetDatum(stream_id);
	v[att[HEAD_BOUNDED_CONTEXT]] = b->key.bounded_context;
	v[att[HEAD_AGGREGATE_TYPE]] = b->key.aggregate_type;
	v[att[HEAD_AGGREGATE_ID]] = b->key.aggregate_id;
	v[att[HEAD_VERSION]] = Int64GetDatum(b->nevents);
	v[att[HEAD_UPDATED_AT]] = now;
	v[att[HEAD_CREATED_AT]] = now;
	v[att[HEAD_KEY_HASH]] = Int64GetDatum(key_hash);
	v[att[HEAD_FILTERED]] = BoolGetDatum(false);
	for (int c = 0; c < HEAD_NCOLS; c++)
		slot->tts_isnull[att[c]] = c >= HEAD_FIRST_LIFECYCLE && c != HEAD_FILTERED;
	ExecStoreVirtualTuple(slot);
	slot->tts_tableOid = RelationGetRelid(d->heads);	/* for constraints */

	PushActiveSnapshot(estate->es_snapshot);
	if (d->heads->rd_att->constr != NULL)
		ExecConstraints(rri, slot, estate);
	for (;;)
	{
		ItemPointerData conflict_tid;
		TransactionId xid;
		uint32		token;
		bool		spec_conflict = false;

		CHECK_FOR_INTERRUPTS();
		if (!ExecCheckIndexConstraints(rri, slot, estate, &conflict_tid,
									   arbiters))
			break;
		xid = GetCurrentTransactionId();
		token = SpeculativeInsertionLockAcquire(xid);
		table_tuple_insert_speculative(d->heads, slot, estate->es_output_cid,
									   0, NULL, token);
		list_free(ExecInsertIndexTuples(rri, slot, estate, false, true,
										&spec_conflict, arbiters));
		table_tuple_complete_speculative(d->heads, slot, token, !spec_conflict);
		SpeculativeInsertionLockRelease(xid);
		ResetPerTupleExprContext(estate);
		if (!spec_conflict)
		{
			created = true;
			break;
		}
	}
	PopActiveSnapshot();
	ExecClearTuple(slot);
	if (!created)
		return false;
	head->matched = true;
	head->stream_id = stream_id;
	head->old_version = 0;
	return true;
}

/*
 * Check and advance the head row of an existing aggregate (expect ANY,
 * EXISTS or EXACT), or create the head row of a new one (NO_STREAM, or ANY
 * when there is none).  Returns false when the caller must use the SQL
 * statement instead (the row does not exist and this path cannot create
 * it, was deleted meanwhile, or exists when it was to be created);
 * otherwise fills *head, matched or not, or leaves the row locked and
 * unchecked with head->changed set (the caller then looks for its event ids
 * again, and finishes with es_direct_head_finish unless it found them).
 */
bool
es_direct_head_advance(EsDirect *d, const EsBatch *b, EsHead *head)
{
	EState	   *estate = d->estate;
	ScanKeyData keys[3];
	IndexScanDesc scan;
	TupleTableSlot *oldslot;
	TM_FailureData tmfd;
	TM_Result	res;
	bool		found;
	bool		forgotten;
	bool		deleted;

	head->changed = false;
	if (!head_step_applies(b))
		return false;
	if (b->expect == ES_EXPECT_NO_STREAM)
		return d->heads_direct && create_head(d, b, head);

	es_key_scan_keys(keys, d->key_index, &b->key);
	oldslot = table_slot_create(d->heads, &estate->es_tupleTable);
	scan = index_beginscan(d->heads, d->key_index, estate->es_snapshot, 3, 0);
	index_rescan(scan, keys, 3, NULL, 0);
	found = fetch_head(d, scan, oldslot);
	index_endscan(scan);
	if (!found)
		return d->heads_direct && create_head(d, b, head);

	/*
	 * As the UPDATE: a version that fails the check in the snapshot fails
	 * without a lock; one that passes is locked in its latest version and
	 * checked again there (EvalPlanQual).  A deleted stream is checked as
	 * absent (version 0) and reopened; a forgotten one fails any check.
	 */
	if (!version_matches(b, expected_against(d, oldslot, &forgotten, &deleted)) ||
		forgotten)
	{
		head->matched = false;
		ExecClearTuple(oldslot);
		return true;
	}
	res = table_tuple_lock(d->heads, &oldslot->tts_tid, estate->es_snapshot,
						   oldslot, GetCurrentCommandId(false),
						   LockTupleNoKeyExclusive, LockWaitBlock,
						   TUPLE_LOCK_FLAG_FIND_LAST_VERSION, &tmfd);
	if (res == TM_Deleted)
		return false;
	if (res != TM_Ok)
		elog(ERROR, "es_store could not lock the head row of stream \"%s\": status %d",
			 b->key.display, (int) res);

	/*
	 * The row changed after the snapshot the caller looked for its event ids
	 * with (es_direct_snapshot): an append to this stream committed since,
	 * maybe of these very events.  Hold the lock and let the caller look
	 * again before anything is written (batch.c step 3).
	 */
	if (b->ids_supplied && tmfd.traversed)
	{
		head->changed = true;
		d->locked = oldslot;
		return true;
	}
	advance_locked(d, b, oldslot, head);
	return true;
}

/*
 * Finish the head step that es_direct_head_advance left with head->changed
 * set: check the expectation against the locked row, and advance it.
 */
void
es_direct_head_finish(EsDirect *d, const EsBatch *b, EsHead *head)
{
	TupleTableSlot *oldslot = d->locked;

	Assert(oldslot != NULL && head->changed);
	d->locked = NULL;
	head->changed = false;
	advance_locked(d, b, oldslot, head);
}

/*
 * Check the expectation against the head row locked in oldslot (its latest
 * version), and advance it when it holds.
 */
static void
advance_locked(EsDirect *d, const EsBatch *b, TupleTableSlot *oldslot,
			   EsHead *head)
{
	TupleTableSlot *newslot;
	bool		isnull;
	bool		forgotten;
	bool		deleted;
	int64		current;
	int64		next;

	current = DatumGetInt64(slot_getattr(oldslot, d->head_att[HEAD_VERSION] + 1,
										 &isnull));
	head->stream_id = DatumGetInt64(slot_getattr(oldslot,
												 d->head_att[HEAD_STREAM_ID] + 1,
												 &isnull));
	head->old_version = current;
	head->matched = version_matches(b, expected_against(d, oldslot, &forgotten,
														&deleted)) &&
		!forgotten;
	if (!head->matched)
	{
		ExecClearTuple(oldslot);
		return;
	}
	if (current > ES_MAX_VERSION - b->nevents)
		es_raise_version_limit(&b->key);
	next = current + b->nevents;

	newslot = table_slot_create(d->heads, &d->estate->es_tupleTable);
	slot_getallattrs(oldslot);
	ExecClearTuple(newslot);
	memcpy(newslot->tts_values, oldslot->tts_values,
		   sizeof(Datum) * oldslot->tts_tupleDescriptor->natts);
	memcpy(newslot->tts_isnull, oldslot->tts_isnull,
		   sizeof(bool) * oldslot->tts_tupleDescriptor->natts);
	newslot->tts_values[d->head_att[HEAD_VERSION]] = Int64GetDatum(next);
	newslot->tts_values[d->head_att[HEAD_UPDATED_AT]] =
		TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	/* an append reopens a deleted stream; its versions go on */
	if (deleted)
		newslot->tts_isnull[d->head_att[HEAD_DELETED_AT]] = true;
	ExecStoreVirtualTuple(newslot);
	newslot->tts_tableOid = RelationGetRelid(d->heads);	/* for constraints */

	PushActiveSnapshot(d->estate->es_snapshot);
	update_head(d, oldslot, newslot);
	PopActiveSnapshot();
	ExecClearTuple(oldslot);
	ExecClearTuple(newslot);
}

/* Whether es_direct_insert_events may insert this batch. */
bool
es_direct_can_insert(const EsDirect *d, const EsBatch *b)
{
	return d != NULL && d->events_direct && !b->ids_supplied;
}

/* The rows of a batch handed to table_multi_insert at once */
#define ES_INSERT_CHUNK 100

/*
 * The n rows in slots into rri's table: one table_multi_insert, then each
 * row's index entries, as ExecSimpleRelationInsert makes them; the slots
 * are cleared.
 */
static void
insert_rows(EState *estate, ResultRelInfo *rri, TupleTableSlot **slots, int n)
{
	MemoryContext old;

	old = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
	table_multi_insert(rri->ri_RelationDesc, slots, n, estate->es_output_cid,
					   0, NULL);
	MemoryContextSwitchTo(old);
	ResetPerTupleExprContext(estate);
	for (int s = 0; s < n; s++)
	{
		CHECK_FOR_INTERRUPTS();
		if (rri->ri_NumIndices > 0)
		{
			old = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
			list_free(ExecInsertIndexTuples(rri, slots[s], estate, false,
											false, NULL, NIL));
			MemoryContextSwitchTo(old);
			ResetPerTupleExprContext(estate);
		}
		ExecClearTuple(slots[s]);
	}
}

/* Fill slot with event i of batch b (a virtual tuple over b's datums). */
static void
store_event(EsDirect *d, TupleTableSlot *slot, const EsBatch *b, int i,
			int64 stream_id, const EsAppendResult *r, Datum now)
{
	const AttrNumber *att = d->event_att;
	int			natts = slot->tts_tupleDescriptor->natts;
	Datum	   *v = slot->tts_values;
	bool	   *n = slot->tts_isnull;

	ExecClearTuple(slot);
	memset(n, true, sizeof(bool) * natts);	/* dropped columns */
	v[att[EVENT_GLOBAL_POSITION]] = Int64GetDatum(r->positions[i]);
	v[att[EVENT_BOUNDED_CONTEXT]] = b->key.bounded_context;
	v[att[EVENT_AGGREGATE_TYPE]] = b->key.aggregate_type;
	v[att[EVENT_AGGREGATE_ID]] = b->key.aggregate_id;
	v[att[EVENT_STREAM_ID]] = Int64GetDatum(stream_id);
	v[att[EVENT_AGGREGATE_VERSION]] = Int64GetDatum(r->versions[i]);
	v[att[EVENT_EVENT_ID]] = b->event_ids[i];
	v[att[EVENT_EVENT_TYPE]] = b->event_types[i];
	v[att[EVENT_EVENT_VERSION]] = b->event_versions[i];
	v[att[EVENT_PAYLOAD]] = b->payloads[i];
	v[att[EVENT_PAYLOAD_BYTES]] = b->payload_bytes[i];
	v[att[EVENT_METADATA]] = b->metadata[i];
	v[att[EVENT_CORRELATION_ID]] = b->correlation_ids[i];
	v[att[EVENT_CAUSATION_ID]] = b->causation_ids[i];
	v[att[EVENT_TRACE_ID]] = b->trace_ids[i];
	v[att[EVENT_CREATED_AT]] = now;
	v[att[EVENT_BATCH_SIZE]] = Int32GetDatum(i == 0 ? b->nevents : 0);
	v[att[EVENT_TAGS]] = b->tags[i];
	for (int c = 0; c < EVENT_NCOLS; c++)
		n[att[c]] = false;
	n[att[EVENT_CORRELATION_ID]] = b->correlation_nulls[i];
	n[att[EVENT_CAUSATION_ID]] = b->causation_nulls[i];
	n[att[EVENT_TRACE_ID]] = b->trace_nulls[i];
	n[att[EVENT_PAYLOAD]] = b->payloads[i] == (Datum) 0;
	n[att[EVENT_PAYLOAD_BYTES]] = b->payload_bytes[i] == (Datum) 0;
	n[att[EVENT_TAGS]] = b->tags[i] == (Datum) 0;
	ExecStoreVirtualTuple(slot);
}

/*
 * Insert the batch's events (generated ids only: es_direct_can_insert).
 * Any unique violation raises the usual 23505 error.
 *
 * One event goes through ExecSimpleRelationInsert.  More go to the table
 * in chunks through table_multi_insert, as COPY FROM writes its rows
 * (copyfrom.c CopyMultiInsertBufferFlush): heapam fills each page with one
 * WAL record instead of one per row, which takes about a tenth off a
 * 100-event batch's WAL and the per-row buffer lookups and locks off its
 * CPU.  Then each row's index entries are made, as ExecSimpleRelationInsert
 * makes them.  What ExecSimpleRelationInsert does besides does not apply
 * here: es_direct_begin took this path only without insert triggers,
 * generated columns and partitions; the constraints are checked per row.
 */
void
es_direct_insert_events(EsDirect *d, const EsBatch *b, int64 stream_id,
						const EsAppendResult *r)
{
	EState	   *estate = d->estate;
	ResultRelInfo *rri = d->events_rri;
	Relation	rel = d->events;
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	int			nslots = Min(b->nevents, ES_INSERT_CHUNK);
	TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * nslots);

	Assert(es_direct_can_insert(d, b));
	for (int s = 0; s < nslots; s++)
		slots[s] = table_slot_create(rel, &estate->es_tupleTable);
	PushActiveSnapshot(estate->es_snapshot);
	if (b->nevents == 1)
	{
		MemoryContext old;

		store_event(d, slots[0], b, 0, stream_id, r, now);
		old = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
		ExecSimpleRelationInsert(rri, estate, slots[0]);
		MemoryContextSwitchTo(old);
		ExecClearTuple(slots[0]);
		ResetPerTupleExprContext(estate);
		PopActiveSnapshot();
		return;
	}

	CheckCmdReplicaIdentity(rel, CMD_INSERT);
	for (int first = 0; first < b->nevents; first += nslots)
	{
		int			n = Min(nslots, b->nevents - first);

		for (int s = 0; s < n; s++)
		{
			CHECK_FOR_INTERRUPTS();
			store_event(d, slots[s], b, first + s, stream_id, r, now);
			if (rel->rd_att->constr != NULL)
				ExecConstraints(rri, slots[s], estate);
		}
		insert_rows(estate, rri, slots, n);
	}
	PopActiveSnapshot();
}

/*
 * The event_tags rows of batch b's events (one per distinct tag hash of
 * each, with its position r assigned), written as the events are, in
 * chunks (insert_rows).  False, with nothing done, when this path does not
 * apply (es_direct_begin did not open event_tags): tags.c writes them
 * then.
 */
bool
es_direct_insert_tags(EsDirect *d, const EsBatch *b, const EsAppendResult *r)
{
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slots[ES_INSERT_CHUNK];
	int			nslots = 0;
	int			k = 0;

	if (d == NULL || d->tags_rri == NULL)
		return false;
	estate = d->estate;
	rri = d->tags_rri;
	CheckCmdReplicaIdentity(d->tags, CMD_INSERT);
	PushActiveSnapshot(estate->es_snapshot);
	for (int i = 0; i < b->nevents; i++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < b->ntag_hashes[i]; j++)
		{
			TupleTableSlot *slot;

			if (k == nslots)
				slots[nslots++] = table_slot_create(d->tags, &estate->es_tupleTable);
			slot = slots[k++];
			ExecClearTuple(slot);
			slot->tts_values[0] = Int64GetDatum(b->tag_hashes[i][j]);
			slot->tts_values[1] = Int64GetDatum(r->positions[i]);
			slot->tts_isnull[0] = slot->tts_isnull[1] = false;
			ExecStoreVirtualTuple(slot);
			if (k == ES_INSERT_CHUNK)
			{
				insert_rows(estate, rri, slots, k);
				k = 0;
			}
		}
	}
	if (k > 0)
		insert_rows(estate, rri, slots, k);
	PopActiveSnapshot();
	return true;
}

/*
 * Wait for every transaction in flight that is inserting one of batch b's
 * caller-supplied event ids (an append of another stream: one of this
 * stream cannot be in flight while we hold its head row), so that a look
 * for the ids after it sees how it ended: found through events_event_id_key
 * with a dirty snapshot, which shows the rows of transactions in progress
 * and names them (xmin), and waited for as INSERT .. ON CONFLICT waits for
 * a conflicting inserter (XactLockTableWait, src/backend/executor/
 * execIndexing.c check_exclusion_or_unique_constraint).  Returns whether it
 * waited; false, waiting for nothing, when the index is not the one
 * assumed (the insert's ON CONFLICT then waits, after the positions are
 * drawn).
 */
bool
es_wait_for_id_inserters(const EsBatch *b)
{
	Oid			oids[ES_NUM_RELS];
	Relation	events;
	Relation	index;
	TupleTableSlot *slot;
	AttrNumber	att;
	bool		waited = false;

	if (!es_table_oids(oids) || !OidIsValid(oids[ES_REL_EVENTS_EVENT_ID]))
		return false;
	events = es_table_open(oids[ES_REL_EVENTS], ES_REL_EVENTS, RowExclusiveLock);
	if (events == NULL)
		return false;
	index = index_open(oids[ES_REL_EVENTS_EVENT_ID], RowExclusiveLock);
	att = get_attnum(RelationGetRelid(events), "event_id") - 1;
	if (att < 0 ||
		TupleDescAttr(RelationGetDescr(events), att)->atttypid != UUIDOID ||
		!es_index_usable(index, events, &att, 1, UUIDOID))
	{
		index_close(index, NoLock);
		table_close(events, NoLock);
		return false;
	}
	slot = table_slot_create(events, NULL);
	for (int i = 0; i < b->nevents; i++)
	{
		if (b->event_id_nulls[i])
			continue;
		for (;;)
		{
			SnapshotData dirty;
			ScanKeyData key;
			IndexScanDesc scan;
			TransactionId xwait = InvalidTransactionId;

			CHECK_FOR_INTERRUPTS();
			InitDirtySnapshot(dirty);
			ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, b->event_ids[i]);
			scan = index_beginscan(events, index, &dirty, 1, 0);
			index_rescan(scan, &key, 1, NULL, 0);
			if (index_getnext_slot(scan, ForwardScanDirection, slot) &&
				TransactionIdIsValid(dirty.xmin) &&
				!TransactionIdIsCurrentTransactionId(dirty.xmin))
				xwait = dirty.xmin;
			index_endscan(scan);
			if (!TransactionIdIsValid(xwait))
				break;
			XactLockTableWait(xwait, events, &slot->tts_tid, XLTW_InsertIndex);
			waited = true;
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);
	table_close(events, NoLock);
	return waited;
}
