/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Argument checks, aggregate keys, stream names, and running kept plans.
 *
 * es_exec_into_srf streams a plan's rows straight into the caller's
 * materialized result set through a tuplestore DestReceiver, so a page of
 * events is copied once, not once into SPI's tuptable and again into the
 * result.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation_d.h"
#include "executor/tstoreReceiver.h"
#include "lib/stringinfo.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "es_store.h"

/*
 * Raise 40001, as PostgreSQL does for an UPDATE of a row changed after the
 * transaction's snapshot: what (a full sentence) says which row changed.
 */
void
es_raise_serialization_failure(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("could not serialize access due to concurrent update"),
			 errdetail_internal("%s", what),
			 errhint("Retry the transaction.")));
}

/* Raise 22004 when argument argno is NULL. */
void
es_check_not_null(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s cannot be null", what)));
}

static char *
key_display(Datum bounded_context, Datum aggregate_type, Datum aggregate_id)
{
	char	   *bc = TextDatumGetCString(bounded_context);

	/* A stream-name key shows as the name itself. */
	if (bc[0] == '\0')
		return TextDatumGetCString(aggregate_id);
	return psprintf("%s/%s/%s", bc, TextDatumGetCString(aggregate_type),
					TextDatumGetCString(aggregate_id));
}

static void
check_key_size(EsStreamKey *key)
{
	Size		bytes = VARSIZE_ANY_EXHDR(DatumGetPointer(key->bounded_context)) +
		VARSIZE_ANY_EXHDR(DatumGetPointer(key->aggregate_type)) +
		VARSIZE_ANY_EXHDR(DatumGetPointer(key->aggregate_id));

	if (bytes > ES_MAX_KEY_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("aggregate key is too long"),
				 errdetail("The key takes %zu bytes; the limit is %d bytes over its three parts.",
						   bytes, ES_MAX_KEY_BYTES)));
}

/*
 * An aggregate key from three non-NULL text Datums (detoasted here so that
 * they compare and bind cheaply).
 */
EsStreamKey
es_key_make(Datum bounded_context, Datum aggregate_type, Datum aggregate_id)
{
	EsStreamKey key;

	key.bounded_context = PointerGetDatum(PG_DETOAST_DATUM_PACKED(bounded_context));
	key.aggregate_type = PointerGetDatum(PG_DETOAST_DATUM_PACKED(aggregate_type));
	key.aggregate_id = PointerGetDatum(PG_DETOAST_DATUM_PACKED(aggregate_id));
	check_key_size(&key);
	key.display = key_display(key.bounded_context, key.aggregate_type,
							  key.aggregate_id);
	return key;
}

/*
 * The aggregate key from three text arguments starting at first_argno.
 * Each part must be non-NULL (22004).
 */
EsStreamKey
es_key_from_args(FunctionCallInfo fcinfo, int first_argno)
{
	es_check_not_null(fcinfo, first_argno, "bounded_context");
	es_check_not_null(fcinfo, first_argno + 1, "aggregate_type");
	es_check_not_null(fcinfo, first_argno + 2, "aggregate_id");
	return es_key_make(PG_GETARG_DATUM(first_argno),
					   PG_GETARG_DATUM(first_argno + 1),
					   PG_GETARG_DATUM(first_argno + 2));
}

/*
 * The aggregate type a stream name maps to: the text before its first "-",
 * or the whole name when it has none ("account-42" -> "account").
 */
Datum
es_stream_category(text *name)
{
	const char *s = VARDATA_ANY(name);
	int			len = VARSIZE_ANY_EXHDR(name);
	const char *dash = memchr(s, '-', len);

	return PointerGetDatum(cstring_to_text_with_len(s, dash ? dash - s : len));
}

/*
 * The aggregate key for a stream name: ('', category, name).  The name must
 * not be empty (22023) nor longer than ES_MAX_STREAM_NAME_BYTES (54000).
 */
EsStreamKey
es_key_for_stream_name(text *name)
{
	EsStreamKey key;

	name = pg_detoast_datum_packed(name);
	if (VARSIZE_ANY_EXHDR(name) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream name cannot be empty")));
	if (VARSIZE_ANY_EXHDR(name) > ES_MAX_STREAM_NAME_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("stream name is too long"),
				 errdetail("The name takes %zu bytes; the limit is %d bytes.",
						   (Size) VARSIZE_ANY_EXHDR(name),
						   ES_MAX_STREAM_NAME_BYTES)));
	key = es_key_make(PointerGetDatum(cstring_to_text("")),
					  es_stream_category(name), PointerGetDatum(name));
	key.display = text_to_cstring(name);
	return key;
}

/* The aggregate key for a stream-name argument, which must be non-NULL. */
EsStreamKey
es_key_from_stream_name(FunctionCallInfo fcinfo, int argno)
{
	es_check_not_null(fcinfo, argno, "stream_name");
	return es_key_for_stream_name(PG_GETARG_TEXT_PP(argno));
}

/*
 * Read an expected_version argument into the batch: NULL any, 0 no stream,
 * -1 exists, N > 0 exact.  Anything below -1 is 22023.
 */
void
es_check_expected_version(EsBatch *batch, FunctionCallInfo fcinfo, int argno)
{
	es_set_expected_version(batch, PG_ARGISNULL(argno),
							PG_ARGISNULL(argno) ? 0 : PG_GETARG_INT64(argno));
}

/* The same for an expected version v (isnull: NULL) given otherwise */
void
es_set_expected_version(EsBatch *batch, bool isnull, int64 v)
{
	if (isnull)
	{
		batch->expect = ES_EXPECT_ANY;
		return;
	}
	if (v < -1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid expected version %lld for stream \"%s\"",
						(long long) v, batch->key.display),
				 errhint("Use NULL for any version, 0 for a new stream, -1 for an existing stream, or the exact current version.")));
	batch->expected_version = v;
	batch->expect = v == 0 ? ES_EXPECT_NO_STREAM :
		v == -1 ? ES_EXPECT_EXISTS : ES_EXPECT_EXACT;
}

/*
 * A bigint argument that must not be negative (22023); NULL gives if_null.
 * "what" names the argument in the message.
 */
int64
es_arg_nonnegative(FunctionCallInfo fcinfo, int argno, const char *what,
				   int64 if_null)
{
	int64		v;

	if (PG_ARGISNULL(argno))
		return if_null;
	v = PG_GETARG_INT64(argno);
	if (v < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot be negative", what),
				 errdetail("%s was %lld.", what, (long long) v)));
	return v;
}

/*
 * A page size argument: NULL means no limit (returned as -1), otherwise it
 * must be at least 1 (22023).
 */
int64
es_check_max_count(FunctionCallInfo fcinfo, int argno)
{
	int32		n;

	if (PG_ARGISNULL(argno))
		return -1;
	n = PG_GETARG_INT32(argno);
	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must be at least 1"),
				 errdetail("max_count was %d.", n)));
	return n;
}

static ParamListInfo
make_params(SPIPlanPtr plan, Datum *values, const char *nulls)
{
	int			n = SPI_getargcount(plan);
	ParamListInfo params = makeParamList(n);

	for (int i = 0; i < n; i++)
	{
		ParamExternData *p = &params->params[i];

		p->value = values[i];
		p->isnull = nulls != NULL && nulls[i] == 'n';
		p->pflags = PARAM_FLAG_CONST;
		p->ptype = SPI_getargtypeid(plan, i);
	}
	return params;
}

/*
 * Run a kept plan and append its rows to this set-returning call's result.
 * The plan's columns must match the function's result type exactly.  Must
 * be called while connected to SPI, after InitMaterializedSRF.
 */
void
es_exec_into_srf(FunctionCallInfo fcinfo, EsPlanId id,
				 Datum *values, const char *nulls, bool read_only)
{
	es_exec_plan_into_srf(fcinfo, es_plan(id), values, nulls, read_only);
}

/* The same for any kept plan */
void
es_exec_plan_into_srf(FunctionCallInfo fcinfo, SPIPlanPtr plan,
					  Datum *values, const char *nulls, bool read_only)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SPIExecuteOptions options;
	DestReceiver *dest;
	int			rc;

	dest = CreateDestReceiver(DestTuplestore);
	SetTuplestoreDestReceiverParams(dest, rsinfo->setResult,
									rsinfo->econtext->ecxt_per_query_memory,
									false, NULL, NULL);
	memset(&options, 0, sizeof(options));
	options.params = make_params(plan, values, nulls);
	options.read_only = read_only;
	options.dest = dest;
	rc = SPI_execute_plan_extended(plan, &options);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "es_store statement failed: %s", SPI_result_code_string(rc));
	dest->rDestroy(dest);
}

/*
 * A set-returning function of one aggregate key (its first three
 * arguments): the rows of the read-only plan id, which takes the key as
 * its three parameters.
 */
Datum
es_key_srf(FunctionCallInfo fcinfo, EsPlanId id)
{
	EsStreamKey key = es_key_from_args(fcinfo, 0);
	Datum		values[3];
	EsGuard		guard;

	values[0] = key.bounded_context;
	values[1] = key.aggregate_type;
	values[2] = key.aggregate_id;
	es_result_init(fcinfo);
	es_guard_enter(&guard);
	SPI_connect();
	es_exec_into_srf(fcinfo, id, values, NULL, true);
	SPI_finish();
	es_guard_leave(&guard);
	return (Datum) 0;
}

/*
 * Run a kept plan expected to return at most one row, and return its first
 * column (copied out of SPI memory).  *isnull is set when there is no row.
 */
Datum
es_exec_scalar(EsPlanId id, Datum *values, const char *nulls, bool read_only,
			   bool *isnull)
{
	int			rc;
	Datum		d;

	rc = SPI_execute_plan(es_plan(id), values, nulls, read_only, 1);
	if (rc < 0)
		elog(ERROR, "es_store statement %d failed: %s", (int) id,
			 SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	if (*isnull)
		return d;
	return SPI_datumTransfer(d,
							 TupleDescAttr(SPI_tuptable->tupdesc, 0)->attbyval,
							 TupleDescAttr(SPI_tuptable->tupdesc, 0)->attlen);
}

/*
 * Connect to SPI, run a kept plan returning at most one bigint, disconnect,
 * all under es_guard_enter.  Returns if_none when there is no row or the
 * value is NULL.
 */
int64
es_query_int8(EsPlanId id, Datum *values, bool read_only, int64 if_none)
{
	bool		isnull;
	Datum		v;
	EsGuard		guard;

	es_guard_enter(&guard);
	SPI_connect();
	v = es_exec_scalar(id, values, NULL, read_only, &isnull);
	SPI_finish();
	es_guard_leave(&guard);
	return isnull ? if_none : DatumGetInt64(v);
}

/*
 * A new random (version 4) UUID, as gen_random_uuid() makes, from the same
 * strong random source.  The bytes are drawn a pool at a time: each call of
 * the source has a fixed cost (OpenSSL's RAND_bytes) that was most of the
 * cost of a UUID.  The pool belongs to the process that filled it.
 */
#define UUID_POOL_SIZE	(UUID_LEN * 32)

Datum
es_random_uuid(void)
{
	static uint8 pool[UUID_POOL_SIZE];
	static int	pool_used = UUID_POOL_SIZE;
	static int	pool_pid = 0;
	pg_uuid_t  *uuid = palloc(UUID_LEN);

	if (pool_used == UUID_POOL_SIZE || pool_pid != MyProcPid)
	{
		if (!pg_strong_random(pool, UUID_POOL_SIZE))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random values")));
		pool_used = 0;
		pool_pid = MyProcPid;
	}
	memcpy(uuid->data, pool + pool_used, UUID_LEN);
	/* forget the bytes once handed out */
	explicit_bzero(pool + pool_used, UUID_LEN);
	pool_used += UUID_LEN;
	uuid->data[6] = (uuid->data[6] & 0x0f) | 0x40;
	uuid->data[8] = (uuid->data[8] & 0x3f) | 0x80;
	return UUIDPGetDatum(uuid);
}

char *
es_uuid_out(Datum uuid)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, uuid));
}

/*
 * aggregate_heads.key_hash of the key (bc, at, aid), as plans.c KEY_HASH
 * computes it: hashtextextended(length(bc) || ':' || bc || length(at) ||
 * ':' || at || aid, 0), with length in characters and the default
 * collation.  A new head row gets it as its key_hash and, usually, its
 * stream id (direct.c); an aggregate read and a segmented feed read compute
 * it again (scan.c).  The text it hashes is built in place and freed, so
 * nothing stays allocated.
 */
int64
es_key_hash(const text *bc, const text *at, const text *aid)
{
	StringInfoData buf;
	int64		hash;

	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);	/* the text's header */
	appendStringInfo(&buf, "%d:", DatumGetInt32(DirectFunctionCall1(textlen,
																	PointerGetDatum(bc))));
	appendBinaryStringInfo(&buf, VARDATA_ANY(bc), VARSIZE_ANY_EXHDR(bc));
	appendStringInfo(&buf, "%d:", DatumGetInt32(DirectFunctionCall1(textlen,
																	PointerGetDatum(at))));
	appendBinaryStringInfo(&buf, VARDATA_ANY(at), VARSIZE_ANY_EXHDR(at));
	appendBinaryStringInfo(&buf, VARDATA_ANY(aid), VARSIZE_ANY_EXHDR(aid));
	SET_VARSIZE(buf.data, buf.len);
	hash = DatumGetInt64(DirectFunctionCall2Coll(hashtextextended,
												 DEFAULT_COLLATION_OID,
												 PointerGetDatum(buf.data),
												 Int64GetDatum(0)));
	pfree(buf.data);
	return hash;
}

/*
 * Whether two text datums hold the same bytes: text equality under a
 * deterministic collation, as es_store compares keys, names and event
 * content (the database's default collation always is deterministic).
 */
bool
es_text_equal(Datum a, Datum b)
{
	text	   *ta = DatumGetTextPP(a);
	text	   *tb = DatumGetTextPP(b);

	return VARSIZE_ANY_EXHDR(ta) == VARSIZE_ANY_EXHDR(tb) &&
		memcmp(VARDATA_ANY(ta), VARDATA_ANY(tb), VARSIZE_ANY_EXHDR(ta)) == 0;
}
