/*-------------------------------------------------------------------------
 *
 * es_store.h
 *	  Declarations shared by the es_store source files.
 *
 * Layering: the SQL-facing files (append.c, append_json.c, read.c, feed.c,
 * checkpoint.c, snapshot.c, lifecycle.c, retention.c, purge.c, stats.c)
 * sit on the shared machinery (batch.c: the append core; heads.c: the
 * aggregate head row; direct.c: the same head advance and event inserts without SQL statements, for the
 * hot path; scan.c: the same for reads; visibility.c: which stored events
 * reads and the feed return, since 0.3.0; tables.c: the tables and indexes
 * those paths use; registry.c: in-flight appenders and the feed's safe
 * bound; plans.c: cached SPI plans; util.c: arguments, keys and result
 * sets).  Every file includes only this header from the project; no
 * source file includes another.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_STORE_H
#define ES_STORE_H

#include "fmgr.h"
#include "executor/spi.h"
#include "nodes/bitmapset.h"
#include "storage/lockdefs.h"
#include "utils/inval.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "executor/tuptable.h"

#include "es_errcodes.h"

/* GUCs (es_store.c) */
extern int	es_max_batch_events;
extern bool es_log_conflicts;
extern void es_conflict_log_init(void);
extern int	es_max_event_bytes;
extern int	es_max_event_tags;
extern int	es_max_query_items;
extern int	es_max_snapshot_bytes;
extern char *es_notify_channel;
extern int	es_debug_registration_lock;
extern int	es_debug_reader_lock;

/*
 * Longest aggregate key we accept, in bytes over its three parts, and
 * longest stream name (its key stores it twice: as the aggregate id, and a
 * prefix of it as the aggregate type).  Both keep a head row's key within
 * what a btree entry can hold.
 */
#define ES_MAX_KEY_BYTES	2048
#define ES_MAX_STREAM_NAME_BYTES	1024

/*
 * Highest aggregate version: 2^53 - 1, the largest integer every JSON
 * client represents exactly, and far from bigint overflow.
 */
#define ES_MAX_VERSION		INT64CONST(9007199254740991)

/* Longest checkpoint name, in bytes */
#define ES_MAX_CHECKPOINT_NAME_BYTES	1024

/*
 * An aggregate key.  The three parts are text Datums, never NULL.  "display"
 * is how error messages name the stream.
 */
typedef struct EsStreamKey
{
	Datum		bounded_context;
	Datum		aggregate_type;
	Datum		aggregate_id;
	char	   *display;
} EsStreamKey;

/*
 * How an append checks the aggregate's version before writing.
 */
typedef enum EsExpectKind
{
	ES_EXPECT_ANY,				/* NULL: no check */
	ES_EXPECT_NO_STREAM,		/* 0: the aggregate must have no events */
	ES_EXPECT_EXISTS,			/* -1: the aggregate must have events */
	ES_EXPECT_EXACT,			/* N > 0: the aggregate must be at N */
	ES_EXPECT_AT_VERSION		/* explicit version: it must be free */
} EsExpectKind;

/*
 * One append: a batch of events for one aggregate.  Per-event arrays have
 * nevents entries; a NULL Datum pointer for an optional array means "all
 * NULL" (metadata then defaults to '{}', ids are generated).
 */
typedef struct EsBatch
{
	EsStreamKey key;
	EsExpectKind expect;
	int64		expected_version;	/* for EXACT; the version for AT_VERSION */
	int			nevents;
	Datum	   *event_ids;		/* uuid */
	bool	   *event_id_nulls;
	bool		ids_supplied;	/* the caller gave at least one id */
	Datum	   *event_types;	/* text */
	Datum	   *event_versions; /* int4 */
	Datum	   *payloads;		/* jsonb, or (Datum) 0 for a bytea payload */
	Datum	   *payload_bytes;	/* bytea, or (Datum) 0 for a jsonb payload */
	bool		has_bytes;		/* some payload is bytea */
	Datum	   *metadata;		/* jsonb */
	Datum	   *correlation_ids;	/* text, with nulls */
	bool	   *correlation_nulls;
	Datum	   *causation_ids;
	bool	   *causation_nulls;
	Datum	   *trace_ids;
	bool	   *trace_nulls;
	Datum	   *tags;			/* text[] with at least one tag, or (Datum) 0 */
	bool		has_tags;		/* some event has tags */
	int64	  **tag_hashes;		/* each event's distinct tag hashes, set by
								 * es_batch_validate when has_tags */
	int		   *ntag_hashes;
	bool		no_aggregate;	/* events of no aggregate (dcb.c): the key is
								 * empty, versions 0, stream ids negative */
	struct EsQuery *condition;	/* append only if no event matching this
								 * appears after condition_after, or NULL */
	int64		condition_after;
} EsBatch;

/* What an append assigned, per event, in batch order. */
typedef struct EsAppendResult
{
	int			nevents;
	Datum	   *event_ids;		/* uuid */
	int64	   *versions;
	int64	   *positions;
} EsAppendResult;

/* guard.c */
/* The caller's identity, which es_guard_leave restores */
typedef struct EsGuard
{
	Oid			saved_user;
	int			saved_context;
} EsGuard;

extern void es_guard_enter(EsGuard *guard);
extern void es_guard_leave(const EsGuard *guard);
extern Oid	es_extension_schema(void);
extern Oid	es_extension_oid(void);
extern bool es_extension_member(Oid relid);

/* batch.c */
extern EsBatch *es_batch_new(int nevents);
extern void es_check_batch_size(int64 nevents, const char *display);
extern void es_batch_validate(EsBatch *batch);
extern EsAppendResult *es_append_batch(EsBatch *batch);
extern Datum es_empty_object(void);
extern void es_draw_positions(int64 *positions, int n, const uint64 *scopes,
							  int nscopes);
extern void es_raise_version_limit(const EsStreamKey *key);
extern Datum es_append_srf(FunctionCallInfo fcinfo, EsBatch *batch);

/* heads.c */
typedef struct EsHead
{
	bool		matched;		/* the expected-version check held */
	int64		stream_id;		/* valid when matched */
	int64		old_version;	/* version before this append, when matched */
	bool		changed;		/* another append to the stream committed
								 * after the caller looked for its event
								 * ids (or may have: the statement path) */
} EsHead;

extern void es_batch_raise_wrong_version(const EsBatch *batch) pg_attribute_noreturn();
extern EsAppendResult *es_batch_find_stored(EsBatch *batch);
extern void es_raise_wrong_version(const EsStreamKey *key, EsExpectKind expect,
								   int64 expected, int64 current) pg_attribute_noreturn();
extern EsHead es_head_advance(const EsBatch *batch);
extern int64 es_head_state(const EsStreamKey *key, bool latest, bool *forgotten);
extern void es_head_undo_advance(const EsStreamKey *key, int64 stream_id,
								 int nevents);
extern bool es_head_lock(const EsStreamKey *key);

/* tables.c */
typedef enum EsRelation
{
	ES_REL_HEADS,				/* aggregate_heads */
	ES_REL_HEADS_PKEY,			/* ... (stream_id) */
	ES_REL_HEADS_KEY,			/* ... (bounded_context, aggregate_type, aggregate_id) */
	ES_REL_EVENTS,				/* events */
	ES_REL_EVENTS_PKEY,			/* ... (global_position) */
	ES_REL_EVENTS_STREAM_VERSION,	/* ... (stream_id, aggregate_version) */
	ES_REL_HEADS_FILTERED,		/* aggregate_heads (stream_id) WHERE filtered,
								 * since 0.3.0: InvalidOid before */
	ES_REL_EVENTS_EVENT_ID,		/* events (event_id) */
	ES_REL_EVENT_TAGS,			/* event_tags, since 0.4.0: InvalidOid before */
	ES_REL_EVENT_TAGS_INDEX,	/* ... (tag_hash, global_position) */
	ES_NUM_RELS
} EsRelation;

/*
 * Columns of aggregate_heads the C paths use (key parts in index order);
 * created_at and key_hash only to create a head row (the 0.1.0 schema has
 * no key_hash), and the stream's lifecycle since 0.3.0.
 */
typedef enum EsHeadColumn
{
	HEAD_STREAM_ID, HEAD_BOUNDED_CONTEXT, HEAD_AGGREGATE_TYPE,
	HEAD_AGGREGATE_ID, HEAD_VERSION, HEAD_UPDATED_AT, HEAD_CREATED_AT,
	HEAD_KEY_HASH, HEAD_DELETED_AT, HEAD_FORGOTTEN_AT, HEAD_TRUNCATE_BEFORE,
	HEAD_MAX_COUNT, HEAD_MAX_AGE, HEAD_METADATA, HEAD_FILTERED, HEAD_NCOLS
} EsHeadColumn;

#define HEAD_NCOLS_READ HEAD_CREATED_AT	/* the columns reads and updates use */
#define HEAD_FIRST_LIFECYCLE HEAD_DELETED_AT	/* the 0.3.0 columns */

/*
 * Columns of events, all of which an insert sets: those of es_store.event
 * in its order, then stream_id and batch_size (the 0.3.0 schema; before
 * it, events had no key columns, no payload_bytes and no batch_size, and
 * the C paths do not apply).
 */
typedef enum EsEventColumn
{
	EVENT_GLOBAL_POSITION, EVENT_BOUNDED_CONTEXT, EVENT_AGGREGATE_TYPE,
	EVENT_AGGREGATE_ID, EVENT_AGGREGATE_VERSION, EVENT_EVENT_ID,
	EVENT_EVENT_TYPE, EVENT_EVENT_VERSION, EVENT_PAYLOAD, EVENT_METADATA,
	EVENT_CORRELATION_ID, EVENT_CAUSATION_ID, EVENT_TRACE_ID,
	EVENT_CREATED_AT, EVENT_PAYLOAD_BYTES, EVENT_STREAM_ID, EVENT_BATCH_SIZE,
	EVENT_TAGS, EVENT_NCOLS
} EsEventColumn;

/*
 * es_store.event's columns: the first EVENT_NCOLS_ROW of an event row, in
 * their order, then tags (0.4.0).
 */
#define EVENT_NCOLS_ROW EVENT_STREAM_ID
#define EVENT_NCOLS_OUT (EVENT_NCOLS_ROW + 1)
/* The event column behind result column i (< EVENT_NCOLS_OUT) */
#define EVENT_OUT_COLUMN(i) ((i) < EVENT_NCOLS_ROW ? (EsEventColumn) (i) : EVENT_TAGS)

/*
 * A stored event row in output order (tables.c rows_in_output_order) has
 * stream_id (8 bytes, double-aligned) and batch_size (4 bytes) right after
 * it, then tags: without tags (NULL, or a row stored before the column was
 * added), these are the row data's last ES_ROW_TAIL bytes, stream_id
 * first.
 */
#define ES_ROW_TAIL (sizeof(int64) + sizeof(int32))

/*
 * The stream id of the events of no aggregate (dcb.c, 0.4.0), whose
 * aggregate_version is their position: no head row has it (direct.c
 * new_stream_id skips it, as it skips 0, the feed's markers').
 */
#define ES_STREAM_NO_AGGREGATE PG_INT64_MIN

/* batch_size of an event stored before 0.3.0: its batch is not known */
#define ES_BATCH_UNKNOWN (-1)

/* Attribute offsets (0-based) of those columns */
typedef struct EsTableMap
{
	AttrNumber	head_att[HEAD_NCOLS];
	AttrNumber	event_att[EVENT_NCOLS];
	bool		heads_mappable; /* the first HEAD_NCOLS_READ head columns */
	bool		heads_lifecycle;	/* ... and the 0.3.0 ones, HEAD_NCOLS */
	bool		heads_insertable;	/* every head column and no other, with
									 * stream_id an identity column */
	Oid			stream_id_sequence; /* its sequence, when insertable */
	bool		events_mappable;	/* every event column and no other */
	bool		events_in_row_order;	/* ... each at its EsEventColumn
										 * position, NOT NULL where a read
										 * copies rows as stored (scan.c) */
} EsTableMap;

extern bool es_table_oids(Oid *oids);
extern void es_table_map(Relation heads, Relation events, EsTableMap *map);
extern bool es_plain_table(Relation rel);

/* citus.c */
extern bool es_citus_schema(Oid nsp);
extern bool es_citus_events_distributed(Oid nsp);
extern int	es_citus_local_group(void);

/*
 * cluster.c.  On a distributed store each Citus group draws positions from
 * a space of its own: group g's are g << ES_SPACE_SHIFT + 1 to
 * (g + 1) << ES_SPACE_SHIFT - 1 (the coordinator's, group 0, from 1), for
 * groups up to ES_MAX_SPACE_GROUP (positions stay below 2^62, registry.c).
 */
#define ES_SPACE_SHIFT		48
#define ES_MAX_SPACE_GROUP	((1 << (62 - ES_SPACE_SHIFT)) - 1)

static inline int
es_space_of(int64 position)
{
	return position <= 0 ? 0 : (int) (position >> ES_SPACE_SHIFT);
}

static inline int64
es_space_first(int group)
{
	return ((int64) group << ES_SPACE_SHIFT) + 1;
}

static inline int64
es_space_last(int group)
{
	return (((int64) group + 1) << ES_SPACE_SHIFT) - 1;
}

extern int64 es_store_safe_bound(void);
extern int64 es_store_safe_bound_after(int64 after);
extern bool es_store_distributed(void);
extern void es_citus_check_sequence(int64 seqmin, int64 seqmax);
extern bool es_citus_space_claimed(int group);
extern int	es_citus_feed_settings_push(void);
extern void es_citus_feed_settings_pop(int nest);

/* remote.c */
typedef struct EsWorkerAnswer
{
	int32		group;			/* the worker's Citus group */
	char	   *name;			/* "host:port" */
	char	  **values;			/* nfields, NULL for NULL or no row */
} EsWorkerAnswer;

/* Every row of one worker's answer (es_remote_query) */
typedef struct EsWorkerRows
{
	int32		group;			/* the worker's Citus group */
	char	   *name;			/* "host:port" */
	int			nrows;
	int			nfields;
	Oid		   *types;			/* nfields: each column's type */
	char	  **values;			/* nrows * nfields, text, NULL for NULL */
} EsWorkerRows;

extern EsWorkerAnswer *es_remote_on_workers(const char *sql, int nfields,
											const char *action, int *n);
extern EsWorkerRows *es_remote_query(const char *sql, const int32 *groups,
									 int ngroups, int nparams,
									 const char *const *params,
									 const char *action, int *n);

/* inval.c */
extern void es_add_relcache_inval(RelcacheCallbackFunction fn);
extern Relation es_index_open(Relation table, Oid index, LOCKMODE lockmode);
extern void es_key_scan_keys(struct ScanKeyData *keys, Relation key_index,
							 const EsStreamKey *key);
extern Relation es_table_open(Oid relid, EsRelation which, LOCKMODE lockmode);
extern bool es_index_usable(Relation index, Relation table,
							const AttrNumber *att, int n, Oid type);
extern Bitmapset *es_column_set(const AttrNumber *att, int n);
extern struct RangeTblEntry *es_table_rte(Relation rel, LOCKMODE lockmode,
										  AclMode perms);

/* direct.c */
typedef struct EsDirect EsDirect;

extern EsDirect *es_direct_begin(const EsBatch *batch);
extern void es_direct_end(EsDirect *direct);
extern bool es_direct_head_advance(EsDirect *direct, const EsBatch *batch,
								   EsHead *head);
extern void es_direct_head_finish(EsDirect *direct, const EsBatch *batch,
								  EsHead *head);
extern Snapshot es_direct_snapshot(const EsDirect *direct);
extern bool es_wait_for_id_inserters(const EsBatch *batch);
extern bool es_direct_can_insert(const EsDirect *direct, const EsBatch *batch);
extern void es_direct_insert_events(EsDirect *direct, const EsBatch *batch,
									int64 stream_id, const EsAppendResult *r);
extern bool es_direct_insert_tags(EsDirect *direct, const EsBatch *batch,
								  const EsAppendResult *r);

/* checkpoint.c, checkpoint_direct.c: a checkpoint's row */
typedef struct EsCheckpoint
{
	bool		found;
	int64		position;
	bool		has_owner;
	NameData	owner;
} EsCheckpoint;

extern void es_checkpoint_check_save(Datum name, const EsCheckpoint *cp,
									 int64 position, int64 expected, Oid role,
									 const NameData *role_name);
extern bool es_direct_read_checkpoint(Datum name, EsCheckpoint *cp);
extern bool es_direct_save_checkpoint(Datum name, int64 position,
									  int64 expected, Oid role,
									  const NameData *role_name);

extern int64 es_key_hash(const text *bc, const text *at, const text *aid);
extern bool es_text_equal(Datum a, Datum b);

/* results.c */
extern void es_result_init(FunctionCallInfo fcinfo);
extern TupleDesc es_row_desc(FunctionCallInfo fcinfo);

/* scan.c */

/* A feed page's filters (feed.c), for the events they keep */
typedef struct EsFeedFilter
{
	struct ArrayType *values[3];	/* bounded contexts, aggregate types,
									 * event types: one of these, or NULL
									 * for any */
	int64		segment;		/* segment of segments by key hash */
	int64		segments;		/* 1: any */
} EsFeedFilter;

extern bool es_scan_read_aggregate(FunctionCallInfo fcinfo,
								   const EsStreamKey *key, int64 from,
								   int64 to, int64 max_count);
extern bool es_scan_read_feed(FunctionCallInfo fcinfo, int64 after,
							  int64 bound, int64 max_count,
							  const EsFeedFilter *filter);

/* citus_feed.c */
extern bool es_citus_read_feed(FunctionCallInfo fcinfo, int64 after,
							   int64 bound, int64 max_count,
							   const EsFeedFilter *filter);

/* feed.c */
extern int64 es_feed_bound(FunctionCallInfo fcinfo, int argno, int64 after);
extern void es_check_not_in_recovery(const char *what);

/* visibility.c: which stored events reads and the feed return (0.3.0) */
typedef struct EsCutoff
{
	bool		active;			/* the stream has a filtered head */
	bool		hide_all;		/* deleted */
	int64		min_version;	/* truncate_before, max_count */
	bool		by_age;			/* max_age */
	TimestampTz min_created;
} EsCutoff;

typedef struct EsFeedState
{
	bool		any;			/* some filtered head is visible */
	bool		lookup;			/* too many to load: look up on first use */
	struct HTAB *streams;
	Relation	heads;
	Relation	index;
	Snapshot	snapshot;
	TupleTableSlot *slot;
	const AttrNumber *att;
} EsFeedState;

extern void es_cutoff_from_head(TupleTableSlot *slot, const AttrNumber *att,
								EsCutoff *c);
/* A head's lifecycle columns as es_cutoff_make takes them */
typedef enum EsCutoffColumn
{
	CUT_DELETED_AT, CUT_VERSION, CUT_TRUNCATE_BEFORE, CUT_MAX_COUNT,
	CUT_MAX_AGE, CUT_NCOLS
} EsCutoffColumn;

extern void es_cutoff_make(const Datum *values, const bool *nulls,
						   EsCutoff *c);
extern bool es_cutoff_keeps(const EsCutoff *c, int64 version,
							TimestampTz created_at);
extern bool es_filtered_head(Relation heads, Relation index,
							 Snapshot snapshot, int64 stream_id,
							 TupleTableSlot **slot, const AttrNumber *att);
extern void es_feed_state_begin(EsFeedState *st, Relation heads,
								Relation index, Snapshot snapshot,
								TupleTableSlot *slot, const AttrNumber *att,
								MemoryContext cxt);
extern const EsCutoff *es_feed_state_cutoff(EsFeedState *st, int64 stream_id);

/* registry.c */
extern void es_registry_init_backend(void);
extern void es_registry_shmem_request(void);
extern void es_registry_shmem_startup(void);
extern void es_registry_before_draw(Oid seq);
extern void es_registry_after_draw(int64 first_position);
extern void es_registry_hold(int64 position);
extern void es_registry_hold_coordinator(int64 position);
extern int64 es_registry_lowest_held(void);
extern void es_registry_publish(const uint64 *scopes, int n);
extern bool es_scopes_may_hold(const uint64 *scopes, uint64 hash);
extern void es_registry_wait_for_scopes(int64 below,
										bool (*matches) (const uint64 *scopes, void *arg),
										void *arg);
extern void es_registry_notify_at_commit(const char *channel);
extern int64 es_feed_safe_bound(Oid seq);
extern int	es_registry_in_flight(int *pids, int64 *lows, int max);
extern int	es_registry_capacity(void);

/* plans.c */
typedef enum EsPlanId
{
	ES_PLAN_HEAD_UPSERT,		/* any: create or advance */
	ES_PLAN_HEAD_CREATE,		/* no stream: create only */
	ES_PLAN_HEAD_ADVANCE,		/* exists / exact: advance a matching row */
	ES_PLAN_HEAD_AT_VERSION,	/* explicit version: create or raise */
	ES_PLAN_HEAD_VERSION,		/* current version by key */
	ES_PLAN_HEAD_UNDO,			/* take an advance back */
	ES_PLAN_VERSION_TAKEN,		/* is (stream, version) stored? */
	ES_PLAN_INSERT_ONE,			/* insert one event */
	ES_PLAN_INSERT_ONE_IDEMPOTENT,	/* ... skipping an existing event id */
	ES_PLAN_INSERT_MANY,		/* insert a batch from arrays */
	ES_PLAN_INSERT_MANY_IDEMPOTENT, /* ... skipping existing event ids */
	ES_PLAN_INSERT_TAGS,		/* the event_tags rows of an append */
	ES_PLAN_FIND_EVENT_IDS,		/* stored events with these ids */
	ES_PLAN_READ_AGGREGATE,
	ES_PLAN_COUNT_EVENTS,
	ES_PLAN_READ_FEED,			/* (after, bound], unfiltered */
	ES_PLAN_READ_FEED_FILTERED, /* ... by context, type, event type, segment */
	ES_PLAN_GET_CHECKPOINT,
	ES_PLAN_SAVE_CHECKPOINT,
	ES_PLAN_SAVE_CHECKPOINT_FROM,	/* compare-and-set from a position > 0 */
	ES_PLAN_SAVE_CHECKPOINT_FROM_ZERO,	/* ... from 0 (or no checkpoint) */
	ES_PLAN_LOCK_CHECKPOINT,	/* lock a checkpoint's row, for a reset */
	ES_PLAN_RESET_CHECKPOINT,	/* set it to any position, or its owner */
	ES_PLAN_DELETE_CHECKPOINT,
	ES_PLAN_READ_AGGREGATE_ROWS,	/* ... as es_store.aggregate_row */
	ES_PLAN_SNAPSHOT_HEAD,		/* the head's version, locked FOR KEY SHARE */
	ES_PLAN_SNAPSHOT_SAVE,		/* upsert unless a newer one is stored */
	ES_PLAN_SNAPSHOT_STORED,	/* the stored snapshot's version */
	ES_PLAN_SNAPSHOT_LOAD,		/* the snapshot, of a schema version or any */
	ES_PLAN_SNAPSHOT_DELETE,
	ES_PLAN_LOCK_HEAD,			/* a head row FOR UPDATE, with its state */
	ES_PLAN_HEAD_SHARE,			/* a head row FOR SHARE, with its state */
	ES_PLAN_HEAD_LOCK_NO_KEY,	/* a head row locked as an append locks it */
	ES_PLAN_GROUP_GET,			/* a consumer group's settings and owner */
	ES_PLAN_GROUP_CREATE,		/* a group and its segments, unless it exists */
	ES_PLAN_GROUP_DROP,
	ES_PLAN_SEGMENT_CLAIM,		/* a free or expired segment, leased */
	ES_PLAN_SEGMENT_LOCK,		/* a segment's row FOR UPDATE */
	ES_PLAN_SEGMENT_RENEW,		/* extend a lease */
	ES_PLAN_SEGMENT_RELEASE,
	ES_PLAN_SEGMENT_SAVE,		/* a segment's position, lease renewed */
	ES_PLAN_PARK_EVENT,
	ES_PLAN_PARKED_EVENTS,		/* a group's parked events with the events */
	ES_PLAN_UNPARK_EVENT,
	ES_PLAN_EVENT_KEY,			/* the key of the event at a position */
	ES_PLAN_HEAD_PLACEHOLDER,	/* a head row at version 0 for a key */
	ES_PLAN_SOFT_DELETE,		/* mark a head row deleted */
	ES_PLAN_INSERT_MARKER,		/* a feed marker (stream id 0) */
	ES_PLAN_READ_EVENT,			/* one visible event by id */
	ES_PLAN_READ_AGGREGATE_BACKWARD,	/* an aggregate's last events */
	ES_PLAN_FORGET_EVENTS,		/* delete a stream's events */
	ES_PLAN_FORGET_MARKERS,		/* ... and the feed markers of its key */
	ES_PLAN_TOMBSTONE,			/* leave a forgotten stream's tombstone */
	ES_PLAN_DELETE_HEAD,		/* ... or no trace of it */
	ES_PLAN_SET_METADATA,		/* a stream's retention and metadata */
	ES_PLAN_GET_METADATA,
	ES_PLAN_PURGE_HEADS,		/* filtered heads in a stream id range */
	ES_PLAN_PURGE_LOCK_HEAD,	/* one of them, locked */
	ES_PLAN_PURGE_SCAN,			/* a stream's first stored events */
	ES_PLAN_PURGE_EVENTS,		/* delete them up to a version */
	ES_PLAN_PURGE_CLEAR,		/* the head hides nothing any more */
	ES_PLAN_PURGE_MARKERS,		/* delete markers older than a time */
	ES_PLAN_AGGREGATE_STATS,
	ES_PLAN_STORE_STATS,
	ES_PLAN_CITUS_PLACEMENTS,	/* the events' shards, their nodes, the heads' */
	ES_PLAN_CITUS_TRANSACTION,	/* this transaction's Citus transaction number */
	ES_NUM_PLANS
} EsPlanId;

extern SPIPlanPtr es_plan(EsPlanId id);
extern char *es_shard_feed_sql(const int64 *shards, int npairs);
extern Oid	es_position_sequence(void);
extern bool es_checkpoints_have_owner(void);
extern bool es_events_have_key(void);
extern bool es_events_have_tags(void);

/* lifecycle.c */
extern bool es_event_delete_running;
extern void es_raise_forgotten(const EsStreamKey *key);
extern void es_raise_head_skipped(const EsStreamKey *key);
extern uint64 es_delete_events(EsPlanId id, Datum *values);
extern int64 es_append_marker(const EsStreamKey *key, const char *type,
							  int64 version);

/* dcb.c */
typedef struct EsQuery EsQuery;

extern EsQuery *es_query_from_jsonb(Jsonb *doc);
extern void es_condition_check(const EsQuery *q, int64 after, int64 below);

/* util.c */
extern void es_raise_serialization_failure(const char *what);
extern void es_check_not_null(FunctionCallInfo fcinfo, int argno, const char *what);
extern EsStreamKey es_key_make(Datum bounded_context, Datum aggregate_type,
							   Datum aggregate_id);
extern EsStreamKey es_key_from_args(FunctionCallInfo fcinfo, int first_argno);
extern EsStreamKey es_key_for_stream_name(text *name);

/* append_json.c: JSON batches, shared with multi.c */
typedef struct EsJsonPlace
{
	const char *kind;			/* the object's kind: "event", "entry" */
	const char *name;			/* for details: "Event 2 of the batch" */
	const char *noun;			/* for messages: "event 2" */
	const char *where;			/* for contexts: "event 2 of the batch" */
} EsJsonPlace;

extern EsJsonPlace es_json_place(const char *kind, int i, int entry);
extern void es_json_check_fields(JsonbContainer *obj, const char *const *known,
								 const EsJsonPlace *place);
extern Datum es_json_text_field(JsonbContainer *obj, const char *name,
								const EsJsonPlace *place);
extern EsStreamKey es_json_key(JsonbContainer *obj, const EsJsonPlace *place);
extern void es_json_read_event(EsBatch *b, int i, JsonbContainer *obj,
							   bool with_key, const EsJsonPlace *place);
extern void es_json_check_same_key(const EsBatch *b, JsonbContainer *obj,
								   int i, const EsJsonPlace *place);

extern JsonbContainer *es_json_object_at(JsonbContainer *array, int i,
										 const char *must_be);
extern EsStreamKey es_key_from_stream_name(FunctionCallInfo fcinfo, int argno);
extern Datum es_stream_category(text *name);
extern void es_check_expected_version(EsBatch *batch, FunctionCallInfo fcinfo, int argno);
extern void es_set_expected_version(EsBatch *batch, bool isnull, int64 v);
extern int64 es_arg_nonnegative(FunctionCallInfo fcinfo, int argno,
								const char *what, int64 if_null);
extern int64 es_check_max_count(FunctionCallInfo fcinfo, int argno);
extern void es_exec_into_srf(FunctionCallInfo fcinfo, EsPlanId plan,
							 Datum *values, const char *nulls, bool read_only);
extern void es_exec_plan_into_srf(FunctionCallInfo fcinfo, SPIPlanPtr plan,
								  Datum *values, const char *nulls,
								  bool read_only);
extern Datum es_exec_scalar(EsPlanId plan, Datum *values, const char *nulls,
							bool read_only, bool *isnull);
extern Datum es_key_srf(FunctionCallInfo fcinfo, EsPlanId id);
extern int64 es_query_int8(EsPlanId id, Datum *values, bool read_only,
						   int64 if_none);
extern Datum es_random_uuid(void);
extern char *es_uuid_out(Datum uuid);

/* tags.c */
extern int64 es_tag_hash(Datum tag);
extern uint64 es_type_scope(Datum event_type);
extern void es_check_tag_count(int n, const EsJsonPlace *place,
							   const char *display);
extern Datum es_tags_checked(struct ArrayType *tags,
							 const EsJsonPlace *place, const char *display);
extern Datum *es_tags_elements(Datum tags, int *n);
extern bool es_tags_equal(Datum a, Datum b);
extern void es_batch_hash_tags(EsBatch *b);
extern void es_tags_store(const EsBatch *b, const EsAppendResult *r);
extern uint64 *es_batch_scopes(const EsBatch *b, int *n);

#endif							/* ES_STORE_H */
