/*-------------------------------------------------------------------------
 *
 * checkpoint.c
 *	  SQL entry points for named projection checkpoints.
 *
 * A checkpoint is saved in the caller's transaction, so it commits or
 * rolls back together with the read model the caller updated.  Saving
 * locks the checkpoint's row (INSERT .. ON CONFLICT DO UPDATE, or UPDATE)
 * until the transaction ends, so two consumers saving one checkpoint
 * queue, and the second compares against the first's committed position.
 *
 * Ownership: a checkpoint belongs to the role that first saved it, by
 * name (so that it survives a dump restored into a cluster whose role OIDs
 * differ).  Only roles with the privileges of the owner (members of it,
 * and superusers) may read or save it; an administrator (EXECUTE on
 * es_store.reset_checkpoint) may move it anywhere, delete it, or give it
 * to another role.  Checkpoints saved before 0.2.1 have no owner until the
 * next save claims them.  "The caller" is the current user when the
 * function is called: these functions are SECURITY INVOKER, so that it is
 * the owner of a SECURITY DEFINER function or of an index expression that
 * calls them, not the session's role (which would let one role's code act
 * on the checkpoints of whoever runs it); they then become the extension's
 * owner for the work, as a SECURITY DEFINER function does (guard.c).  The
 * owner check of a save is part of its statement, against the owner the
 * caller was checked for, so a concurrent change of owner cannot slip in
 * between.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "es_store.h"

/* The checkpoint name argument: non-NULL, not empty, not too long. */
static Datum
checkpoint_name_arg(FunctionCallInfo fcinfo, int argno)
{
	text	   *name;
	Size		len;

	es_check_not_null(fcinfo, argno, "checkpoint name");
	name = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(name);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("checkpoint name cannot be empty")));
	if (len > ES_MAX_CHECKPOINT_NAME_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("checkpoint name is too long"),
				 errdetail("The name takes %zu bytes; the limit is %d bytes.",
						   len, ES_MAX_CHECKPOINT_NAME_BYTES)));
	return PointerGetDatum(name);
}

/*
 * Read a checkpoint's row, with the statement's usual snapshot, or with the
 * latest one.  Connected to SPI.
 */
static EsCheckpoint
read_checkpoint(Datum name, bool latest)
{
	EsCheckpoint cp;
	int			rc;
	bool		isnull;

	memset(&cp, 0, sizeof(cp));

	if (!latest && es_direct_read_checkpoint(name, &cp))
		return cp;
	if (latest)
		PushActiveSnapshot(GetLatestSnapshot());
	rc = SPI_execute_plan(es_plan(ES_PLAN_GET_CHECKPOINT), &name, NULL,
						  latest, 1);
	if (latest)
		PopActiveSnapshot();
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store checkpoint read failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return cp;
	cp.found = true;
	cp.position = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1,
											  &isnull));
	{
		Datum		owner = SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 2, &isnull);

		cp.has_owner = !isnull;
		if (!isnull)
			namestrcpy(&cp.owner, NameStr(*DatumGetName(owner)));
	}
	return cp;
}

/* The calling role (see the file header) and its name. */
static Oid
caller_role(NameData *name)
{
	Oid			role = GetUserId();

	namestrcpy(name, GetUserNameFromId(role, false));
	return role;
}

/*
 * Whether role may read and save checkpoint cp: it has none yet, has no
 * owner, or its owner is role or a role whose privileges role has.
 */
static bool
may_use(Oid role, const NameData *role_name, const EsCheckpoint *cp)
{
	if (!cp->found || !cp->has_owner ||
		strcmp(NameStr(cp->owner), NameStr(*role_name)) == 0)
		return true;
	if (superuser_arg(role))
		return true;
	return has_privs_of_role(role, get_role_oid(NameStr(cp->owner), true));
}

static void
raise_not_owner(Datum name, const EsCheckpoint *cp)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for checkpoint \"%s\"",
					TextDatumGetCString(name)),
			 errdetail("The checkpoint belongs to role \"%s\".",
					   NameStr(cp->owner)),
			 errhint("Save and read a checkpoint as its owner or a member of it; an administrator can give it to another role with es_store.reset_checkpoint.")));
}

/*
 * es_checkpoint_check_save: raise the error of a save of position under
 * name by role (named role_name) that finds the checkpoint cp (found), in
 * the order the statements' failures are reported (es_save_checkpoint): a
 * checkpoint the role may not use (42501), an expected position (>= 0;
 * < 0: none) that is not the saved one (SE005), a position lower than the
 * saved one (SE004).  Returns when the save may go ahead.
 */
void
es_checkpoint_check_save(Datum name, const EsCheckpoint *cp, int64 position,
						 int64 expected, Oid role, const NameData *role_name)
{
	if (!may_use(role, role_name, cp))
		raise_not_owner(name, cp);
	if (expected >= 0 && (cp->found ? cp->position : 0) != expected)
		ereport(ERROR,
				(errcode(ERRCODE_ES_CHECKPOINT_MOVED),
				 errmsg("checkpoint \"%s\" was moved by another consumer",
						TextDatumGetCString(name)),
				 errdetail("Expected the saved position to be %lld, but it is %lld.",
						   (long long) expected,
						   (long long) (cp->found ? cp->position : 0)),
				 errhint("Another consumer processed these events: roll back, read the checkpoint again and go on from there.")));
	if (cp->found && cp->position > position)
		ereport(ERROR,
				(errcode(ERRCODE_ES_CHECKPOINT_BACKWARDS),
				 errmsg("checkpoint \"%s\" cannot move backwards",
						TextDatumGetCString(name)),
				 errdetail("The saved position is %lld; the new position %lld is lower.",
						   (long long) cp->position, (long long) position),
				 errhint("Save the last position processed, never an earlier one; reset_checkpoint moves a checkpoint back on purpose.")));
}

/*
 * Under REPEATABLE READ and SERIALIZABLE a save that found the checkpoint
 * otherwise than expected may have compared against the transaction's
 * snapshot: when the latest committed row differs, that is a serialization
 * failure (40001), as for an UPDATE of a row changed after the snapshot.
 */
static void
check_serializable(Datum name, const EsCheckpoint *seen)
{
	EsCheckpoint latest;

	if (!IsolationUsesXactSnapshot())
		return;
	latest = read_checkpoint(name, true);
	if (latest.found != seen->found || latest.position != seen->position ||
		latest.has_owner != seen->has_owner ||
		(latest.has_owner &&
		 strcmp(NameStr(latest.owner), NameStr(seen->owner)) != 0))
		es_raise_serialization_failure(psprintf("Checkpoint \"%s\" was saved after this transaction's snapshot was taken.",
												TextDatumGetCString(name)));
}

/*
 * es_get_checkpoint(name)
 *
 * The position saved under name (non-NULL), or 0 when none was saved.
 * 42501 when the checkpoint belongs to a role whose privileges the caller
 * does not have.
 */
PG_FUNCTION_INFO_V1(es_get_checkpoint);
Datum
es_get_checkpoint(PG_FUNCTION_ARGS)
{
	Datum		name = checkpoint_name_arg(fcinfo, 0);
	NameData	role_name;
	Oid			role = caller_role(&role_name);
	EsGuard		guard;
	EsCheckpoint cp;

	es_guard_enter(&guard);
	if (!es_direct_read_checkpoint(name, &cp))
	{
		SPI_connect();
		cp = read_checkpoint(name, false);
		SPI_finish();
	}
	if (!may_use(role, &role_name, &cp))
		raise_not_owner(name, &cp);
	es_guard_leave(&guard);
	PG_RETURN_INT64(cp.found ? cp.position : 0);
}

/*
 * es_save_checkpoint(name, position, expected_position)
 *
 * Save position (>= 0) under name (both non-NULL) in the caller's
 * transaction.  Saving the same position again is allowed; a lower one
 * fails with SE004.  With expected_position (NULL: no check), the save is
 * a compare-and-set: the saved position must be expected_position (0
 * meaning none saved yet), else SE005.  A checkpoint of a role whose
 * privileges the caller lacks is 42501.  Every failure changes nothing.
 * Also serves the 0.1.0 signature without expected_position (PG_NARGS()).
 */
PG_FUNCTION_INFO_V1(es_save_checkpoint);
Datum
es_save_checkpoint(PG_FUNCTION_ARGS)
{
	Datum		values[5];
	Datum		name = checkpoint_name_arg(fcinfo, 0);
	int64		position;
	int64		expected = 0;
	bool		cas = PG_NARGS() >= 3 && !PG_ARGISNULL(2);
	NameData	role_name;
	Oid			role = caller_role(&role_name);
	NameData	allowed;
	EsPlanId	plan = ES_PLAN_SAVE_CHECKPOINT;
	EsCheckpoint cp;
	EsGuard		guard;

	es_check_not_null(fcinfo, 1, "position");
	position = es_arg_nonnegative(fcinfo, 1, "position", 0);
	if (cas)
	{
		expected = es_arg_nonnegative(fcinfo, 2, "expected_position", 0);
		plan = expected == 0 ?
			ES_PLAN_SAVE_CHECKPOINT_FROM_ZERO : ES_PLAN_SAVE_CHECKPOINT_FROM;
	}

	es_guard_enter(&guard);
	if (es_direct_save_checkpoint(name, position, cas ? expected : -1, role,
								  &role_name))
	{
		es_guard_leave(&guard);
		PG_RETURN_VOID();
	}
	SPI_connect();

	/*
	 * First as if the caller owned it (the usual case); when another owner
	 * the caller may act for is found, again against that owner (at most
	 * three attempts: only an administrator's reset changes an owner).
	 */
	allowed = role_name;
	for (int attempt = 0;; attempt++)
	{
		int			rc;
		int			n = 0;

		values[n++] = name;
		values[n++] = Int64GetDatum(position);
		if (plan == ES_PLAN_SAVE_CHECKPOINT_FROM)
			values[n++] = Int64GetDatum(expected);
		values[n++] = NameGetDatum(&role_name);
		values[n++] = NameGetDatum(&allowed);
		rc = SPI_execute_plan(es_plan(plan), values, NULL, false, 1);
		if (rc != SPI_OK_INSERT_RETURNING && rc != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "es_store checkpoint save failed: %s",
				 SPI_result_code_string(rc));
		if (SPI_processed == 1)
			break;

		/* Not saved: say why, from the checkpoint as it is now. */
		cp = read_checkpoint(name, false);
		if (!may_use(role, &role_name, &cp))
			raise_not_owner(name, &cp);
		check_serializable(name, &cp);
		es_checkpoint_check_save(name, &cp, position, cas ? expected : -1,
								 role, &role_name);

		/*
		 * Its owner is not the one the statement was checked against (or
		 * it was deleted meanwhile): try again against what it is now.
		 */
		if (attempt >= 2)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("checkpoint \"%s\" changed owner while it was saved",
							TextDatumGetCString(name)),
					 errhint("Retry the transaction.")));
		allowed = cp.found && cp.has_owner ? cp.owner : role_name;
	}
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_VOID();
}

/*
 * es_reset_checkpoint(name, global_position, owner) -> bigint
 *
 * For administrators (EXECUTE is granted to es_store_admin only): set the
 * checkpoint to global_position (>= 0), backwards too, or delete it when
 * global_position is NULL; with owner (a role name), give it to that role.
 * Returns the position it had before (NULL when there was none).  Locks
 * the checkpoint's row until the transaction ends.
 */
PG_FUNCTION_INFO_V1(es_reset_checkpoint);
Datum
es_reset_checkpoint(PG_FUNCTION_ARGS)
{
	Datum		name = checkpoint_name_arg(fcinfo, 0);
	Datum		values[3];
	char		nulls[3] = "   ";
	bool		isnull;
	Datum		before;
	int			rc;
	EsGuard		guard;

	values[0] = name;
	values[1] = Int64GetDatum(es_arg_nonnegative(fcinfo, 1, "global_position", 0));
	if (PG_ARGISNULL(2))
		nulls[2] = 'n';
	else
	{
		/* the role must exist (42704) */
		(void) get_role_oid(NameStr(*PG_GETARG_NAME(2)), false);
		values[2] = PG_GETARG_DATUM(2);
	}
	if (PG_ARGISNULL(1) && !PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot give a checkpoint to a role while deleting it"),
				 errhint("Pass a global_position to keep the checkpoint.")));

	es_guard_enter(&guard);
	SPI_connect();
	before = es_exec_scalar(ES_PLAN_LOCK_CHECKPOINT, values, NULL, false,
							&isnull);
	if (PG_ARGISNULL(1))
		rc = SPI_execute_plan(es_plan(ES_PLAN_DELETE_CHECKPOINT), values,
							  NULL, false, 0);
	else
		rc = SPI_execute_plan(es_plan(ES_PLAN_RESET_CHECKPOINT), values,
							  nulls, false, 0);
	if (rc != SPI_OK_DELETE && rc != SPI_OK_INSERT)
		elog(ERROR, "es_store checkpoint reset failed: %s",
			 SPI_result_code_string(rc));
	SPI_finish();
	es_guard_leave(&guard);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(before);
}
