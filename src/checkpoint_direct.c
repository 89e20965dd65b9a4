/*-------------------------------------------------------------------------
 *
 * checkpoint_direct.c
 *	  The checkpoint hot paths without SQL statements: reading a checkpoint
 *	  and saving one that exists, through its primary key index and the
 *	  table access method's single-row routines.
 *
 * Why: a consumer saves its checkpoint once per page.  Through SPI, the
 * save's INSERT .. ON CONFLICT DO UPDATE starts and shuts down an executor
 * (its arbiter index, expressions and projections), which costs more than
 * the read of a page of 100 events that comes before it (README,
 * Performance).  The read model's own update is the user's; this one is
 * ours to make cheap.
 *
 * What it does, and why it means the same as the statements it replaces
 * (plans.c ES_PLAN_GET_CHECKPOINT, ES_PLAN_SAVE_CHECKPOINT,
 * ES_PLAN_SAVE_CHECKPOINT_FROM and ES_PLAN_SAVE_CHECKPOINT_FROM_ZERO):
 *	- A read finds the row through checkpoints_pkey with the snapshot SPI's
 *	  statement would have (GetTransactionSnapshot after a command counter
 *	  increment: a new one per call in READ COMMITTED, the transaction's
 *	  otherwise).
 *	- A save, in READ COMMITTED only, finds the row with a fresh snapshot
 *	  and locks its latest version (table_tuple_lock with
 *	  TUPLE_LOCK_FLAG_FIND_LAST_VERSION, the same lock mode as the
 *	  statements' UPDATE, LockTupleNoKeyExclusive), waiting for a
 *	  concurrent saver, as the statements' EvalPlanQual recheck does
 *	  (src/backend/executor/README).  It then applies the statements'
 *	  conditions to that version: the owner (none, or one whose privileges
 *	  the caller has), then the position (not lower; with an expected
 *	  position, exactly that one).  A save that fails a condition leaves the
 *	  row locked until the transaction ends, as the statements do.  The
 *	  update writes position, updated_at = now() and owner = COALESCE(owner,
 *	  caller), with simple_table_tuple_update, and index entries only when
 *	  the update is not HOT.
 *
 * checkpoint_direct_applies is the one place that decides whether this
 * path runs.  It does not, and the caller runs the statements, when: the
 * transaction is REPEATABLE READ or SERIALIZABLE (for a save: their 40001
 * rules stay with the executor), read-only, or in recovery (for a save);
 * es_store.checkpoints or checkpoints_pkey is missing, not the extension's
 * own, or not as 0.2.1 created it (exactly the columns name, position,
 * updated_at and owner with their types; a plain heap table; no row-level
 * security, rules or triggers; no constraint but its primary key, NOT NULL
 * and the CHECK on position, which a save need not evaluate because the
 * position was checked non-negative already); or the privileges the
 * statements would need are missing.  A save of a checkpoint that does not
 * exist (or was deleted meanwhile) also runs the statement, which inserts
 * it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_type_d.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "es_store.h"

/* The columns of es_store.checkpoints, in this order */
enum
{
	CP_NAME, CP_POSITION, CP_UPDATED_AT, CP_OWNER, CP_NCOLS
};
static const char *const cp_columns[CP_NCOLS] = {
	"name", "position", "updated_at", "owner"
};
static const Oid cp_types[CP_NCOLS] = {
	TEXTOID, INT8OID, TIMESTAMPTZOID, NAMEOID
};

typedef struct CpDirect
{
	Relation	table;
	Relation	index;
} CpDirect;

/*
 * The OIDs of es_store.checkpoints and checkpoints_pkey, once found to be
 * the extension's own (a catalog scan), cached per backend and forgotten
 * on any relcache invalidation of either; the relations are still checked
 * by name and schema after they are locked.
 */
static bool cp_oids_valid = false;
static Oid	cp_relid = InvalidOid;
static Oid	cp_indexid = InvalidOid;

static void
cp_oids_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cp_relid || relid == cp_indexid)
		cp_oids_valid = false;
}

static bool
cp_oids(Oid nsp, Oid *relid, Oid *indexid)
{
	static bool callback_registered = false;

	if (!cp_oids_valid)
	{
		if (!callback_registered)
		{
			es_add_relcache_inval(cp_oids_inval);
			callback_registered = true;
		}
		/* an invalidation arriving while we look leaves it invalid */
		cp_oids_valid = true;
		cp_relid = get_relname_relid("checkpoints", nsp);
		cp_indexid = get_relname_relid("checkpoints_pkey", nsp);
		if (!OidIsValid(cp_relid) || !OidIsValid(cp_indexid) ||
			!es_extension_member(cp_relid))
		{
			cp_oids_valid = false;
			return false;
		}
	}
	*relid = cp_relid;
	*indexid = cp_indexid;
	return true;
}

static void
cp_end(CpDirect *d)
{
	if (d->index != NULL)
		index_close(d->index, NoLock);
	if (d->table != NULL)
		table_close(d->table, NoLock);
}

/* Whether the table is es_store.checkpoints as 0.2.1 created it */
static bool
cp_table_known(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
		rel->rd_rel->relrowsecurity || rel->rd_rel->relhasrules ||
		rel->rd_rel->relhassubclass || rel->rd_rel->relispartition ||
		rel->trigdesc != NULL || desc->natts != CP_NCOLS ||
		es_citus_schema(RelationGetNamespace(rel)))
		return false;
	for (int i = 0; i < CP_NCOLS; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (attr->attisdropped || attr->atttypid != cp_types[i] ||
			attr->atttypmod != -1 || attr->attgenerated != '\0' ||
			strcmp(NameStr(attr->attname), cp_columns[i]) != 0)
			return false;
	}
	return constr == NULL ||
		(!constr->has_generated_stored &&
		 (constr->num_check == 0 ||
		  (constr->num_check == 1 &&
		   strcmp(constr->check[0].ccname, "checkpoints_position_check") == 0)));
}

/*
 * Open and lock es_store.checkpoints and checkpoints_pkey (lockmode) and
 * decide whether this path applies (see the file header); false, with
 * nothing held open, when it does not.  perms: the privileges the
 * statement would need on the table.
 */
static bool
checkpoint_direct_applies(CpDirect *d, LOCKMODE lockmode, AclMode perms,
						  bool save)
{
	Oid			nsp = es_extension_schema();
	Oid			relid;
	Oid			indexid;
	RangeTblEntry *rte;
	AttrNumber	name_att = CP_NAME;

	memset(d, 0, sizeof(CpDirect));
	if (save && (IsolationUsesXactSnapshot() || XactReadOnly ||
				 RecoveryInProgress()))
		return false;
	if (!cp_oids(nsp, &relid, &indexid))
		return false;
	d->table = try_relation_open(relid, lockmode);
	if (d->table == NULL || RelationGetNamespace(d->table) != nsp ||
		strcmp(RelationGetRelationName(d->table), "checkpoints") != 0 ||
		!cp_table_known(d->table))
	{
		cp_end(d);
		return false;
	}
	d->index = es_index_open(d->table, indexid, lockmode);
	if (d->index == NULL ||
		!es_index_usable(d->index, d->table, &name_att, 1, TEXTOID))
	{
		cp_end(d);
		return false;
	}
	rte = es_table_rte(d->table, lockmode, perms);
	rte->selectedCols = es_column_set((AttrNumber[]) {CP_NAME, CP_POSITION,
										CP_OWNER}, 3);
	if (perms & ACL_UPDATE)
		rte->updatedCols = es_column_set((AttrNumber[]) {CP_POSITION,
										   CP_UPDATED_AT, CP_OWNER}, 3);
	if (!ExecCheckRTPerms(list_make1(rte), false))
	{
		cp_end(d);
		return false;
	}
	return true;
}

/* The checkpoint row in slot, into *cp */
static void
cp_from_slot(TupleTableSlot *slot, EsCheckpoint *cp)
{
	bool		isnull;
	Datum		owner;

	cp->found = true;
	cp->position = DatumGetInt64(slot_getattr(slot, CP_POSITION + 1, &isnull));
	owner = slot_getattr(slot, CP_OWNER + 1, &isnull);
	cp->has_owner = !isnull;
	if (!isnull)
		namestrcpy(&cp->owner, NameStr(*DatumGetName(owner)));
}

/*
 * Find the row of checkpoint name with snapshot, into slot; false when
 * there is none.
 */
static bool
cp_find(CpDirect *d, Datum name, Snapshot snapshot, TupleTableSlot *slot)
{
	ScanKeyData key;
	IndexScanDesc scan;
	bool		found;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_TEXTEQ, name);
	key.sk_collation = d->index->rd_indcollation[0];
	scan = index_beginscan(d->table, d->index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found;
}

/*
 * es_direct_read_checkpoint: what ES_PLAN_GET_CHECKPOINT returns for name,
 * into *cp.  False, with *cp untouched, when this path does not apply.
 * Runs as the extension's owner, inside the guard.
 */
bool
es_direct_read_checkpoint(Datum name, EsCheckpoint *cp)
{
	CpDirect	d;
	TupleTableSlot *slot;
	Snapshot	snapshot;

	if (!checkpoint_direct_applies(&d, AccessShareLock, ACL_SELECT, false))
		return false;
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	slot = table_slot_create(d.table, NULL);
	memset(cp, 0, sizeof(EsCheckpoint));
	if (cp_find(&d, name, snapshot, slot))
		cp_from_slot(slot, cp);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	cp_end(&d);
	return true;
}

/*
 * es_direct_save_checkpoint: save position under name, as the statements
 * would for a caller role (named role_name): expected < 0 for a plain
 * save, else a compare-and-set from expected.  Returns false, having
 * written nothing, when this path does not apply or the checkpoint does
 * not exist; then the caller runs the statements.  Otherwise the save is
 * done, or it raised the statements' error (42501, SE004 or SE005).
 * Runs as the extension's owner, inside the guard.
 */
bool
es_direct_save_checkpoint(Datum name, int64 position, int64 expected,
						  Oid role, const NameData *role_name)
{
	CpDirect	d;
	TupleTableSlot *oldslot;
	TupleTableSlot *newslot;
	Snapshot	snapshot;
	TM_FailureData tmfd;
	TM_Result	res;
	EsCheckpoint cp;
	bool		update_indexes;

	if (!checkpoint_direct_applies(&d, RowExclusiveLock,
								   ACL_SELECT | ACL_INSERT | ACL_UPDATE, true))
		return false;
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	oldslot = table_slot_create(d.table, NULL);
	if (!cp_find(&d, name, snapshot, oldslot))
	{
		ExecDropSingleTupleTableSlot(oldslot);
		UnregisterSnapshot(snapshot);
		cp_end(&d);
		return false;
	}
	res = table_tuple_lock(d.table, &oldslot->tts_tid, snapshot, oldslot,
						   GetCurrentCommandId(false), LockTupleNoKeyExclusive,
						   LockWaitBlock, TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
						   &tmfd);
	if (res == TM_Deleted)
	{
		ExecDropSingleTupleTableSlot(oldslot);
		UnregisterSnapshot(snapshot);
		cp_end(&d);
		return false;
	}
	if (res != TM_Ok)
		elog(ERROR, "es_store could not lock checkpoint \"%s\": status %d",
			 TextDatumGetCString(name), (int) res);

	memset(&cp, 0, sizeof(cp));
	cp_from_slot(oldslot, &cp);
	es_checkpoint_check_save(name, &cp, position, expected, role, role_name);

	newslot = table_slot_create(d.table, NULL);
	slot_getallattrs(oldslot);
	ExecClearTuple(newslot);
	memcpy(newslot->tts_values, oldslot->tts_values, sizeof(Datum) * CP_NCOLS);
	memcpy(newslot->tts_isnull, oldslot->tts_isnull, sizeof(bool) * CP_NCOLS);
	newslot->tts_values[CP_POSITION] = Int64GetDatum(position);
	newslot->tts_values[CP_UPDATED_AT] =
		TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	if (!cp.has_owner)
	{
		newslot->tts_values[CP_OWNER] = NameGetDatum((Name) role_name);
		newslot->tts_isnull[CP_OWNER] = false;
	}
	ExecStoreVirtualTuple(newslot);

	CheckCmdReplicaIdentity(d.table, CMD_UPDATE);
	simple_table_tuple_update(d.table, &oldslot->tts_tid, newslot, snapshot,
							  &update_indexes);
	if (update_indexes)
	{
		EState	   *estate = CreateExecutorState();
		ResultRelInfo *rri = makeNode(ResultRelInfo);
		RangeTblEntry *rte = es_table_rte(d.table, RowExclusiveLock,
										  ACL_UPDATE);

		/* the index AM's "unchanged by update" hint reads updatedCols */
		rte->updatedCols = es_column_set((AttrNumber[]) {CP_POSITION,
										   CP_UPDATED_AT, CP_OWNER}, 3);
		ExecInitRangeTable(estate, list_make1(rte));
		InitResultRelInfo(rri, d.table, 1, NULL, 0);
		ExecOpenIndices(rri, false);
		list_free(ExecInsertIndexTuples(rri, newslot, estate, true, false,
										NULL, NIL));
		/* the index locks stay until the transaction ends */
		for (int i = 0; i < rri->ri_NumIndices; i++)
			index_close(rri->ri_IndexRelationDescs[i], NoLock);
		FreeExecutorState(estate);
	}
	ExecDropSingleTupleTableSlot(newslot);
	ExecDropSingleTupleTableSlot(oldslot);
	UnregisterSnapshot(snapshot);
	cp_end(&d);
	return true;
}
