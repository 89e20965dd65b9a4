/*-------------------------------------------------------------------------
 *
 * groups.c
 *	  Consumer groups: the feed split into segments, each read by one
 *	  consumer at a time under a lease, with a position per segment and
 *	  parked events.
 *
 * A group has segment_count segments (read_feed's segment k of n) and a
 * lease length.  A consumer claims a segment (claim_segment: the first one
 * that is free or whose lease has run out), reads it with read_feed from
 * the segment's position, and saves the position with
 * save_segment_position in the transaction that applies the events, which
 * also renews its lease; renew_lease renews it between pages, and
 * release_segment gives it up.
 *
 * No two consumers hold one segment at once, and only the holder moves
 * its position: every change of a segment's row (claim, save, renew,
 * release, park) locks it first, and a save, renewal or park checks, on
 * the locked latest version, that the caller's consumer still holds it
 * (SE007 otherwise).  So a consumer whose lease ran out and was taken over
 * cannot save: its transaction, read model and all, fails instead.  A
 * claim skips a segment another transaction has locked (a save in flight
 * keeps its segment; two claimers spread over the segments).  Leases are
 * in wall-clock time (clock_timestamp()), so a long transaction does not
 * stretch them; a consumer whose lease has run out may still save while
 * nobody has taken the segment over.
 *
 * A group belongs to the role that created it, as a checkpoint does
 * (checkpoint.c): only that role, roles with its privileges, and
 * superusers may use it.  The functions are SECURITY INVOKER and become
 * the extension's owner for their work (guard.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "es_store.h"

/* Most segments a group may have */
#define ES_MAX_SEGMENTS 1024

/* A group as the caller may use it */
typedef struct EsGroup
{
	Datum		name;
	int32		segment_count;
	Datum		lease;			/* interval */
} EsGroup;

/* A name argument (group or consumer): non-NULL, not empty, not too long */
static Datum
name_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	text	   *t;
	Size		len;

	es_check_not_null(fcinfo, argno, what);
	t = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(t);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot be empty", what)));
	if (len > ES_MAX_CHECKPOINT_NAME_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too long", what),
				 errdetail("It takes %zu bytes; the limit is %d bytes.",
						   len, ES_MAX_CHECKPOINT_NAME_BYTES)));
	return PointerGetDatum(t);
}

/* The caller's role name (the current user: SECURITY INVOKER) */
static void
caller_name(NameData *name)
{
	namestrcpy(name, GetUserNameFromId(GetUserId(), false));
}

/*
 * The group named name, as the caller may use it: 42704 when there is
 * none, 42501 when it belongs to a role whose privileges the caller lacks.
 * Connected to SPI, as the extension's owner; role is the caller.
 */
static EsGroup
get_group(Datum name, Oid role)
{
	EsGroup		g;
	int			rc;
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	char	   *owner;

	rc = SPI_execute_plan(es_plan(ES_PLAN_GROUP_GET), &name, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store group read failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer group \"%s\" does not exist",
						TextDatumGetCString(name)),
				 errhint("Create it with es_store.create_consumer_group.")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	g.name = name;
	g.segment_count = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	g.lease = SPI_datumTransfer(SPI_getbinval(tup, desc, 2, &isnull), false, 16);
	owner = NameStr(*DatumGetName(SPI_getbinval(tup, desc, 3, &isnull)));
	if (strcmp(owner, GetUserNameFromId(role, false)) != 0 &&
		!superuser_arg(role) &&
		!has_privs_of_role(role, get_role_oid(owner, true)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for consumer group \"%s\"",
						TextDatumGetCString(name)),
				 errdetail("The group belongs to role \"%s\".", owner),
				 errhint("Use a consumer group as its owner or a member of it.")));
	return g;
}

/*
 * The group was dropped (or dropped and made again with fewer segments)
 * after get_group read it: as if it had not been there.
 */
static void
raise_group_gone(const EsGroup *g)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("consumer group \"%s\" does not exist",
					TextDatumGetCString(g->name)),
			 errdetail("It was dropped, or made again with other segments, while this call ran.")));
}

/* The segment argument: from 0 to the group's segment_count - 1 (22023) */
static int32
segment_arg(FunctionCallInfo fcinfo, int argno, const EsGroup *g)
{
	int32		segment;

	es_check_not_null(fcinfo, argno, "segment");
	segment = PG_GETARG_INT32(argno);
	if (segment < 0 || segment >= g->segment_count)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment %d is out of range for consumer group \"%s\"",
						segment, TextDatumGetCString(g->name)),
				 errdetail("The group has segments 0 to %d.", g->segment_count - 1)));
	return segment;
}

/*
 * Lock segment of group g until the transaction ends, and say whether
 * consumer holds it; *holder is the consumer that does (NULL datum and
 * *holder_null for none), *position the segment's, both valid while the
 * SPI result is.
 */
static bool
lock_segment(const EsGroup *g, int32 segment, Datum consumer, Datum *holder,
			 bool *holder_null, int64 *position)
{
	Datum		values[2] = {g->name, Int32GetDatum(segment)};
	int			rc;
	bool		isnull;
	HeapTuple	tup;

	rc = SPI_execute_plan(es_plan(ES_PLAN_SEGMENT_LOCK), values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store segment lock failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		raise_group_gone(g);
	tup = SPI_tuptable->vals[0];
	*holder = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, holder_null);
	*position = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
	return !*holder_null && es_text_equal(*holder, consumer);
}

/*
 * Lock segment of group g and check that consumer holds it: SE007 when
 * another consumer or none does.  Returns its position.
 */
static int64
lock_held_segment(const EsGroup *g, int32 segment, Datum consumer)
{
	bool		holder_null;
	Datum		holder;
	int64		position;

	if (!lock_segment(g, segment, consumer, &holder, &holder_null, &position))
		ereport(ERROR,
				(errcode(ERRCODE_ES_SEGMENT_NOT_HELD),
				 errmsg("segment %d of consumer group \"%s\" is not held by consumer \"%s\"",
						segment, TextDatumGetCString(g->name),
						TextDatumGetCString(consumer)),
				 holder_null ?
				 errdetail("No consumer holds it.") :
				 errdetail("Consumer \"%s\" holds it: the lease of \"%s\" ran out and was taken over, or was never granted.",
						   TextDatumGetCString(holder),
						   TextDatumGetCString(consumer)),
				 errhint("Stop processing this segment: roll back, and claim a segment again.")));
	return position;
}

/*
 * The event at position must be stored, and be one of segment's (its
 * key hash is segment modulo the group's segment_count, as read_feed's
 * segment filter computes it): 22023 otherwise, so that only an event the
 * consumer was given can be parked.
 */
static void
check_event_in_segment(const EsGroup *g, int32 segment, int64 position)
{
	Datum		arg = Int64GetDatum(position);
	int			rc;
	int64		hash;
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;

	rc = SPI_execute_plan(es_plan(ES_PLAN_EVENT_KEY), &arg, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store event key read failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no event is stored at global position %lld", (long long) position),
				 errhint("Park the position of an event the segment's read returned.")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	hash = es_key_hash(DatumGetTextPP(SPI_getbinval(tup, desc, 1, &isnull)),
					   DatumGetTextPP(SPI_getbinval(tup, desc, 2, &isnull)),
					   DatumGetTextPP(SPI_getbinval(tup, desc, 3, &isnull)));
	if (((hash % g->segment_count) + g->segment_count) % g->segment_count != segment)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the event at global position %lld is not in segment %d of consumer group \"%s\"",
						(long long) position, segment, TextDatumGetCString(g->name)),
				 errhint("Park an event in the segment whose read returned it.")));
}

/*
 * es_create_consumer_group(name, segment_count, lease)
 *
 * Create the group, owned by the caller, with segments 0 to
 * segment_count - 1 at position 0.  Again with the same settings, nothing
 * (an application may create its group at every start); with others,
 * 22023.
 */
PG_FUNCTION_INFO_V1(es_create_consumer_group);
Datum
es_create_consumer_group(PG_FUNCTION_ARGS)
{
	Datum		name = name_arg(fcinfo, 0, "consumer group name");
	int32		segment_count;
	Datum		lease;
	Datum		values[4];
	NameData	owner;
	Oid			role = GetUserId();
	EsGuard		guard;
	int			rc;
	Interval	max_lease = {.time = USECS_PER_DAY};

	es_check_not_null(fcinfo, 1, "segment_count");
	segment_count = PG_GETARG_INT32(1);
	if (segment_count < 1 || segment_count > ES_MAX_SEGMENTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment_count must be from 1 to %d", ES_MAX_SEGMENTS),
				 errdetail("segment_count was %d.", segment_count)));
	es_check_not_null(fcinfo, 2, "lease");
	lease = PG_GETARG_DATUM(2);
	if (DatumGetBool(DirectFunctionCall2(interval_le, lease,
										 IntervalPGetDatum(&(Interval) {0}))) ||
		DatumGetBool(DirectFunctionCall2(interval_gt, lease,
										 IntervalPGetDatum(&max_lease))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be positive and at most one day"),
				 errdetail("lease was %s.",
						   DatumGetCString(DirectFunctionCall1(interval_out, lease)))));
	caller_name(&owner);

	es_guard_enter(&guard);
	SPI_connect();
	values[0] = name;
	values[1] = Int32GetDatum(segment_count);
	values[2] = lease;
	values[3] = NameGetDatum(&owner);
	rc = SPI_execute_plan(es_plan(ES_PLAN_GROUP_CREATE), values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "es_store group creation failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		/* it exists: the same group again is nothing, another is an error */
		EsGroup		g = get_group(name, role);

		if (g.segment_count != segment_count ||
			!DatumGetBool(DirectFunctionCall2(interval_eq, g.lease, lease)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("consumer group \"%s\" exists with other settings",
							TextDatumGetCString(name)),
					 errdetail("It has %d segments and a lease of %s.", g.segment_count,
							   DatumGetCString(DirectFunctionCall1(interval_out, g.lease))),
					 errhint("Drop it first (es_store.drop_consumer_group), or use another name.")));
	}
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_VOID();
}

/*
 * es_drop_consumer_group(name) -> boolean
 *
 * Drop the group with its segments' positions and its parked events;
 * false when there was none.
 */
PG_FUNCTION_INFO_V1(es_drop_consumer_group);
Datum
es_drop_consumer_group(PG_FUNCTION_ARGS)
{
	Datum		name = name_arg(fcinfo, 0, "consumer group name");
	EsGuard		guard;
	int			rc;
	bool		dropped = false;
	Oid			role = GetUserId();

	es_guard_enter(&guard);
	SPI_connect();
	rc = SPI_execute_plan(es_plan(ES_PLAN_GROUP_GET), &name, NULL, false, 1);
	if (rc == SPI_OK_SELECT && SPI_processed == 1)
	{
		(void) get_group(name, role);
		rc = SPI_execute_plan(es_plan(ES_PLAN_GROUP_DROP), &name, NULL, false, 0);
		if (rc != SPI_OK_DELETE)
			elog(ERROR, "es_store group drop failed: %s", SPI_result_code_string(rc));
		dropped = SPI_processed == 1;
	}
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_BOOL(dropped);
}

/*
 * es_claim_segment(group_name, consumer) -> SETOF (segment, segment_count,
 *												 position, lease_until)
 *
 * Lease to consumer the first segment of the group that no consumer holds
 * or whose lease has run out: one row, or none when every segment is held.
 * A consumer that wants several segments claims again.  Commit the claim
 * before reading: the lease is the claim's row.
 */
PG_FUNCTION_INFO_V1(es_claim_segment);
Datum
es_claim_segment(PG_FUNCTION_ARGS)
{
	Datum		name = name_arg(fcinfo, 0, "consumer group name");
	Datum		consumer = name_arg(fcinfo, 1, "consumer");
	Oid			role = GetUserId();
	ReturnSetInfo *rsinfo;
	EsGuard		guard;
	EsGroup		g;
	Datum		values[3];
	int			rc;

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	es_guard_enter(&guard);
	SPI_connect();
	g = get_group(name, role);
	values[0] = name;
	values[1] = consumer;
	values[2] = g.lease;
	rc = SPI_execute_plan(es_plan(ES_PLAN_SEGMENT_CLAIM), values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "es_store segment claim failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		row[4];
		bool		nulls[4] = {false, false, false, false};
		bool		isnull;

		row[0] = SPI_getbinval(tup, desc, 1, &isnull);
		row[1] = Int32GetDatum(g.segment_count);
		row[2] = SPI_getbinval(tup, desc, 2, &isnull);
		row[3] = SPI_getbinval(tup, desc, 3, &isnull);
		/* copied into the result's memory while SPI's is still there */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row, nulls);
	}
	SPI_finish();
	es_guard_leave(&guard);
	return (Datum) 0;
}

/*
 * es_renew_lease(group_name, consumer, segment) -> timestamptz
 *
 * Renew the lease consumer holds on segment: the new end.  SE007 when it
 * does not hold it.
 */
PG_FUNCTION_INFO_V1(es_renew_lease);
Datum
es_renew_lease(PG_FUNCTION_ARGS)
{
	Datum		name = name_arg(fcinfo, 0, "consumer group name");
	Datum		consumer = name_arg(fcinfo, 1, "consumer");
	Oid			role = GetUserId();
	EsGuard		guard;
	EsGroup		g;
	int32		segment;
	Datum		values[3];
	TimestampTz until;
	bool		isnull;
	int			rc;

	es_guard_enter(&guard);
	SPI_connect();
	g = get_group(name, role);
	segment = segment_arg(fcinfo, 2, &g);
	(void) lock_held_segment(&g, segment, consumer);
	values[0] = name;
	values[1] = Int32GetDatum(segment);
	values[2] = g.lease;
	rc = SPI_execute_plan(es_plan(ES_PLAN_SEGMENT_RENEW), values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
		elog(ERROR, "es_store lease renewal failed: %s", SPI_result_code_string(rc));
	until = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_TIMESTAMPTZ(until);
}

/*
 * es_release_segment(group_name, consumer, segment) -> boolean
 *
 * Give up segment, so that another consumer can claim it at once: true
 * when consumer held it, false (and nothing changed) otherwise.
 */
PG_FUNCTION_INFO_V1(es_release_segment);
Datum
es_release_segment(PG_FUNCTION_ARGS)
{
	Datum		name = name_arg(fcinfo, 0, "consumer group name");
	Datum		consumer = name_arg(fcinfo, 1, "consumer");
	Oid			role = GetUserId();
	EsGuard		guard;
	EsGroup		g;
	int32		segment;
	Datum		holder;
	bool		holder_null;
	int64		position;
	bool		held;
	int			rc;

	es_guard_enter(&guard);
	SPI_connect();
	g = get_group(name, role);
	segment = segment_arg(fcinfo, 2, &g);
	held = lock_segment(&g, segment, consumer, &holder, &holder_null, &position);
	if (held)
	{
		Datum		values[2] = {name, Int32GetDatum(segment)};

		rc = SPI_execute_plan(es_plan(ES_PLAN_SEGMENT_RELEASE), values, NULL,
							  false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "es_store segment release failed: %s",
				 SPI_result_code_string(rc));
	}
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_BOOL(held);
}

/*
 * es_save_segment_position(group_name, consumer, segment, position)
 *
 * Save segment's position (>= 0) in the caller's transaction, as
 * consumer, which must hold the segment (SE007), and renew its lease.  The
 * position never moves back (SE004).
 */
PG_FUNCTION_INFO_V1(es_save_segment_position);
Datum
es_save_segment_position(PG_FUNCTION_ARGS)
{
	Datum		name = name_arg(fcinfo, 0, "consumer group name");
	Datum		consumer = name_arg(fcinfo, 1, "consumer");
	Oid			role = GetUserId();
	EsGuard		guard;
	EsGroup		g;
	int32		segment;
	int64		position;
	int64		saved;
	Datum		values[4];
	int			rc;

	es_check_not_null(fcinfo, 3, "position");
	position = es_arg_nonnegative(fcinfo, 3, "position", 0);
	es_guard_enter(&guard);
	SPI_connect();
	g = get_group(name, role);
	segment = segment_arg(fcinfo, 2, &g);
	saved = lock_held_segment(&g, segment, consumer);
	if (position < saved)
		ereport(ERROR,
				(errcode(ERRCODE_ES_CHECKPOINT_BACKWARDS),
				 errmsg("segment %d of consumer group \"%s\" cannot move backwards",
						segment, TextDatumGetCString(name)),
				 errdetail("The saved position is %lld; the new position %lld is lower.",
						   (long long) saved, (long long) position),
				 errhint("Save the last position processed, never an earlier one.")));
	values[0] = name;
	values[1] = Int32GetDatum(segment);
	values[2] = Int64GetDatum(position);
	values[3] = g.lease;
	rc = SPI_execute_plan(es_plan(ES_PLAN_SEGMENT_SAVE), values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "es_store segment save failed: %s", SPI_result_code_string(rc));
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_VOID();
}

/*
 * es_park_event(group_name, consumer, segment, global_position, error)
 *
 * Park the event at global_position (stored, and of segment, which
 * consumer must hold: SE007; 22023 for a position of no event or of
 * another segment) with the error it raised, in the caller's transaction;
 * the consumer then saves its position past it and goes on.  Parking it
 * again replaces the error.
 */
PG_FUNCTION_INFO_V1(es_park_event);
Datum
es_park_event(PG_FUNCTION_ARGS)
{
	Datum		name = name_arg(fcinfo, 0, "consumer group name");
	Datum		consumer = name_arg(fcinfo, 1, "consumer");
	Oid			role = GetUserId();
	EsGuard		guard;
	EsGroup		g;
	int32		segment;
	int64		position;
	Datum		values[5];
	int			rc;

	es_check_not_null(fcinfo, 3, "global_position");
	position = es_arg_nonnegative(fcinfo, 3, "global_position", 0);
	es_check_not_null(fcinfo, 4, "error");
	es_guard_enter(&guard);
	SPI_connect();
	g = get_group(name, role);
	segment = segment_arg(fcinfo, 2, &g);
	(void) lock_held_segment(&g, segment, consumer);
	check_event_in_segment(&g, segment, position);
	values[0] = name;
	values[1] = Int64GetDatum(position);
	values[2] = Int32GetDatum(segment);
	values[3] = consumer;
	values[4] = PG_GETARG_DATUM(4);
	rc = SPI_execute_plan(es_plan(ES_PLAN_PARK_EVENT), values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "es_store park failed: %s", SPI_result_code_string(rc));
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_VOID();
}

/*
 * es_parked_events(group_name) -> SETOF (global_position, segment,
 *		consumer, error, parked_at, event)
 *
 * The group's parked events in position order, each with the event as
 * the reads show it: NULL when a purge or a forget removed it since, or a
 * delete or retention hides it (plans.c EVENT_VISIBLE), so that parking a
 * position shows nothing the feed would not.
 */
PG_FUNCTION_INFO_V1(es_parked_events);
Datum
es_parked_events(PG_FUNCTION_ARGS)
{
	Datum		name = name_arg(fcinfo, 0, "consumer group name");
	Oid			role = GetUserId();
	EsGuard		guard;

	InitMaterializedSRF(fcinfo, 0);
	es_guard_enter(&guard);
	SPI_connect();
	(void) get_group(name, role);
	es_exec_into_srf(fcinfo, ES_PLAN_PARKED_EVENTS, &name, NULL, true);
	SPI_finish();
	es_guard_leave(&guard);
	return (Datum) 0;
}

/*
 * es_unpark_event(group_name, global_position) -> boolean
 *
 * Remove a parked event once it has been handled: false when it was not
 * parked.
 */
PG_FUNCTION_INFO_V1(es_unpark_event);
Datum
es_unpark_event(PG_FUNCTION_ARGS)
{
	Datum		name = name_arg(fcinfo, 0, "consumer group name");
	Oid			role = GetUserId();
	EsGuard		guard;
	Datum		values[2];
	int			rc;
	bool		removed;

	es_check_not_null(fcinfo, 1, "global_position");
	values[1] = Int64GetDatum(es_arg_nonnegative(fcinfo, 1, "global_position", 0));
	es_guard_enter(&guard);
	SPI_connect();
	(void) get_group(name, role);
	values[0] = name;
	rc = SPI_execute_plan(es_plan(ES_PLAN_UNPARK_EVENT), values, NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "es_store unpark failed: %s", SPI_result_code_string(rc));
	removed = SPI_processed == 1;
	SPI_finish();
	es_guard_leave(&guard);
	PG_RETURN_BOOL(removed);
}
