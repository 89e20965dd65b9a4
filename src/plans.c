/*-------------------------------------------------------------------------
 *
 * plans.c
 *	  The SQL es_store runs against its own tables, prepared once per backend.
 *
 * Every statement is planned on first use with SPI_prepare and kept with
 * SPI_keepplan, so later calls skip parsing and planning.  The plan cache
 * revalidates kept plans after DDL (DROP/CREATE EXTENSION in the same
 * session included), because it re-analyzes them from their source text.
 *
 * Safety under a hostile search_path: every table, function and operator
 * below is schema-qualified, parameters are typed by OID, and ORDER BY uses
 * the type's default btree opclass, which is found by type, not by name.
 * So the plans mean the same thing whatever search_path the caller has.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type_d.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "es_store.h"

#define EQ " OPERATOR(pg_catalog.=) "

#define EVENT_COLUMNS \
	"e.global_position, h.bounded_context, h.aggregate_type, h.aggregate_id, " \
	EVENT_COLUMNS_AFTER_KEY
#define EVENT_COLUMNS_AFTER_KEY \
	"e.aggregate_version, e.event_id, e.event_type, e.event_version, " \
	"e.payload, e.metadata, e.correlation_id, e.causation_id, e.trace_id, " \
	"e.created_at"

/* aggregate_heads.key_hash of the key bc, at, aid */
#define KEY_HASH_OF(bc, at, aid) \
	"pg_catalog.hashtextextended(" \
	"CAST(pg_catalog.length(" bc ") AS pg_catalog.text) OPERATOR(pg_catalog.||) ':' " \
	"OPERATOR(pg_catalog.||) " bc " OPERATOR(pg_catalog.||) " \
	"CAST(pg_catalog.length(" at ") AS pg_catalog.text) OPERATOR(pg_catalog.||) ':' " \
	"OPERATOR(pg_catalog.||) " at " OPERATOR(pg_catalog.||) " aid ", 0)"
#define KEY_HASH KEY_HASH_OF("$1", "$2", "$3")

/*
 * A new head row, with and without key_hash (the 0.1.0 schema has none),
 * and what each head insert does on a conflict on the key.  The stream id is
 * the identity sequence's next value: a key hash here would make two
 * creators of one key conflict on aggregate_heads_pkey, which ON CONFLICT
 * cannot name beside the key (direct.c makes both arbiters).
 */
#define HEAD_INSERT \
	"INSERT INTO es_store.aggregate_heads AS h (bounded_context, " \
	"aggregate_type, aggregate_id, version, key_hash) " \
	"VALUES ($1, $2, $3, $4, " KEY_HASH ") "
#define LEGACY_HEAD_INSERT \
	"INSERT INTO es_store.aggregate_heads AS h (bounded_context, " \
	"aggregate_type, aggregate_id, version) VALUES ($1, $2, $3, $4) "
#define ON_CONFLICT_ADVANCE \
	"ON CONFLICT ON CONSTRAINT aggregate_heads_key DO UPDATE SET " \
	"version = h.version OPERATOR(pg_catalog.+) $4, " \
	"updated_at = excluded.updated_at " \
	"RETURNING h.stream_id, h.version OPERATOR(pg_catalog.-) $4"
#define ON_CONFLICT_NOTHING \
	"ON CONFLICT ON CONSTRAINT aggregate_heads_key DO NOTHING " \
	"RETURNING h.stream_id, 0::pg_catalog.int8"
#define ON_CONFLICT_RAISE \
	"ON CONFLICT ON CONSTRAINT aggregate_heads_key DO UPDATE SET " \
	"version = GREATEST(h.version, $4), updated_at = excluded.updated_at " \
	"RETURNING h.stream_id, h.version"

/*
 * The same for 0.3.0, where a deleted stream is absent until an append
 * reopens it (its versions go on after the last one) and a forgotten one
 * takes no append: the statement then returns no row (batch.c raises
 * SE003).  Expect "none" reopens a deleted stream, and takes a head row
 * at version 0 (made by set_stream_metadata before any append); "any" and
 * an explicit version reopen a deleted stream too.
 */
#define LIVE_ON_CONFLICT_ADVANCE \
	"ON CONFLICT ON CONSTRAINT aggregate_heads_key DO UPDATE SET " \
	"version = h.version OPERATOR(pg_catalog.+) $4, " \
	"updated_at = excluded.updated_at, deleted_at = NULL " \
	"WHERE h.forgotten_at IS NULL " \
	"RETURNING h.stream_id, h.version OPERATOR(pg_catalog.-) $4"
#define LIVE_ON_CONFLICT_REOPEN \
	"ON CONFLICT ON CONSTRAINT aggregate_heads_key DO UPDATE SET " \
	"version = h.version OPERATOR(pg_catalog.+) $4, " \
	"updated_at = excluded.updated_at, deleted_at = NULL " \
	"WHERE (h.deleted_at IS NOT NULL OR h.version" EQ "0) " \
	"AND h.forgotten_at IS NULL " \
	"RETURNING h.stream_id, h.version OPERATOR(pg_catalog.-) $4"
#define LIVE_ON_CONFLICT_RAISE \
	"ON CONFLICT ON CONSTRAINT aggregate_heads_key DO UPDATE SET " \
	"version = GREATEST(h.version, $4), updated_at = excluded.updated_at, " \
	"deleted_at = NULL WHERE h.forgotten_at IS NULL " \
	"RETURNING h.stream_id, h.version"

/*
 * The columns of es_store.event, from an event row: 0.4.0 and later, where
 * the type ends with tags, and 0.3.0, where it ends with payload_bytes
 */
#define ROW_COLUMNS ROW_COLUMNS_0_3_0 ", e.tags"
#define ROW_COLUMNS_0_3_0 \
	"e.global_position, e.bounded_context, e.aggregate_type, " \
	"e.aggregate_id, " EVENT_COLUMNS_AFTER_KEY ", e.payload_bytes"

/*
 * The head row of each event, for the feed reads of schemas before 0.3.0.  As a LATERAL subquery
 * that cannot be flattened (OFFSET 0), it can only be joined by a nested
 * loop over the events in position order, which stops after the page's
 * last row.  A plain join leaves the generic plan free to pick a merge or
 * hash join, which reads and sorts every event up to the safe position when
 * the estimates are off (and a generic plan's range estimates always are).
 */
#define HEADS_OF_EVENT(columns) \
	"CROSS JOIN LATERAL (SELECT h.bounded_context, h.aggregate_type, " \
	"h.aggregate_id" columns " FROM es_store.aggregate_heads h " \
	"WHERE h.stream_id" EQ "e.stream_id OFFSET 0) h "

/*
 * Whether event e of head h is visible (0.3.0): not of a deleted stream,
 * not below truncate_before, among the last max_count, not older than
 * max_age.  Only heads with filtered set have any of these (visibility.c).
 */
#define EVENT_VISIBLE \
	"(NOT h.filtered OR (h.deleted_at IS NULL " \
	"AND e.aggregate_version OPERATOR(pg_catalog.>=) COALESCE(h.truncate_before, 0) " \
	"AND (h.max_count IS NULL OR e.aggregate_version OPERATOR(pg_catalog.>) " \
	"(h.version OPERATOR(pg_catalog.-) h.max_count)) " \
	"AND (h.max_age IS NULL OR e.created_at OPERATOR(pg_catalog.>=) " \
	"(pg_catalog.now() OPERATOR(pg_catalog.-) h.max_age))))"

/*
 * The visible events of the aggregate $1, $2, $3 with versions $4..$5, at
 * most $6, in version order: the FROM and the rest of the aggregate reads
 * (with 6 parameters of these types).  The events are joined on their
 * aggregate id too (the same as the head's, for every event of a stream),
 * which lets Citus see the join as one within a shard when both tables
 * are distributed by it.
 */
#define AGGREGATE_EVENTS \
	"FROM es_store.aggregate_heads h " \
	"JOIN es_store.events e ON e.stream_id" EQ "h.stream_id AND e.aggregate_id" EQ "h.aggregate_id " \
	"WHERE " KEY_MATCHES " AND " \
	"e.aggregate_version OPERATOR(pg_catalog.>=) $4 AND " \
	"e.aggregate_version OPERATOR(pg_catalog.<=) $5 AND " EVENT_VISIBLE " " \
	"ORDER BY e.aggregate_version LIMIT $6", \
	6, {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID}

/* The feed's rows: none of a filtered stream that is hidden */
#define FEED_HIDDEN \
	"AND NOT EXISTS (SELECT 1 FROM es_store.aggregate_heads h " \
	"WHERE h.stream_id" EQ "e.stream_id AND h.aggregate_id" EQ "e.aggregate_id " \
	"AND h.filtered AND NOT " EVENT_VISIBLE ") "

/*
 * With a DELETE of events (forget, purge; 0.4.0): the event_tags rows of
 * the events it deletes (those of es_store.events e where cond), found by
 * the hash of each of their tags, as tags.c computes it (the bytes' hash:
 * hashtextextended under a deterministic collation).
 */
#define DELETE_TAGS_OF(cond) \
	"WITH t AS (DELETE FROM es_store.event_tags t USING es_store.events e, " \
	"pg_catalog.unnest(e.tags) g(tag) WHERE " cond " AND " \
	"t.tag_hash" EQ "pg_catalog.hashtextextended(g.tag COLLATE pg_catalog.\"C\", 0) " \
	"AND t.global_position" EQ "e.global_position) "

/* A head row that exists for appends and reads: neither deleted nor forgotten */
#define HEAD_LIVE "h.deleted_at IS NULL AND h.forgotten_at IS NULL"

/*
 * Rows of the pg_class row c now, as the planner estimates them: the
 * density (rows per page) of its last VACUUM or ANALYZE times its pages
 * now; NULL when it has pages and none of those measured any.
 */
#define ROWS_ESTIMATE(c) \
	"CASE WHEN " #c ".reltuples OPERATOR(pg_catalog.<) 0 THEN NULL " \
	"WHEN " #c ".relpages OPERATOR(pg_catalog.>) 0 THEN " \
	"CAST(pg_catalog.round(CAST(" #c ".reltuples AS pg_catalog.numeric) " \
	"OPERATOR(pg_catalog./) " #c ".relpages OPERATOR(pg_catalog.*) " \
	"(pg_catalog.pg_relation_size(" #c ".oid) OPERATOR(pg_catalog./) " \
	"CAST(pg_catalog.current_setting('block_size') AS pg_catalog.int8))) " \
	"AS pg_catalog.int8) " \
	"WHEN pg_catalog.pg_relation_size(" #c ".oid)" EQ "0 THEN 0 END"

#define KEY_MATCHES \
	"h.bounded_context" EQ "$1 AND h.aggregate_type" EQ "$2 AND " \
	"h.aggregate_id" EQ "$3"

/*
 * The event inserts.  $12, $13 and $14 are the aggregate's key, which the
 * event rows carry since 0.3.0, $15 the bytea payloads (payload_bytes,
 * 0.3.0) and $16 the tags (0.4.0: text[] for one event, and for several
 * the text form of each event's text[]); the statements for older schemas
 * take the same parameters and leave out what they do not have (batch.c
 * refuses bytea payloads and tags there).
 */
#define INSERT_COLUMNS_0_3_0 \
	"INSERT INTO es_store.events (global_position, bounded_context, " \
	"aggregate_type, aggregate_id, aggregate_version, event_id, event_type, " \
	"event_version, payload, metadata, correlation_id, causation_id, " \
	"trace_id, created_at, payload_bytes, stream_id, batch_size"
#define INSERT_COLUMNS INSERT_COLUMNS_0_3_0 ", tags) "

#define INSERT_ONE_SQL \
	INSERT_COLUMNS \
	"VALUES ($1, $12, $13, $14, $3, $4, $5, $6, $7, $8, $9, $10, $11, " \
	"pg_catalog.now(), $15, $2, 1, $16)"
#define INSERT_ONE_SQL_0_3_0 \
	INSERT_COLUMNS_0_3_0 ") " \
	"VALUES ($1, $12, $13, $14, $3, $4, $5, $6, $7, $8, $9, $10, $11, " \
	"pg_catalog.now(), $15, $2, 1)"

#define UNNEST_EVENTS \
	"FROM ROWS FROM (pg_catalog.unnest($1), " \
	"pg_catalog.unnest($3), pg_catalog.unnest($4), pg_catalog.unnest($5), " \
	"pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8), " \
	"pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11), " \
	"pg_catalog.unnest($15), pg_catalog.unnest($16)) WITH ORDINALITY " \
	"AS u(p, v, i, t, ev, pl, m, c, ca, tr, pb, tg, o)"

#define INSERT_MANY_SQL \
	INSERT_COLUMNS \
	"SELECT u.p, $12, $13, $14, u.v, u.i, u.t, u.ev, u.pl, u.m, u.c, u.ca, " \
	"u.tr, pg_catalog.now(), u.pb, $2, " \
	"CASE WHEN u.o OPERATOR(pg_catalog.=) 1 " \
	"THEN pg_catalog.cardinality($1) ELSE 0 END, " \
	"CAST(u.tg AS pg_catalog.text[]) " UNNEST_EVENTS
#define INSERT_MANY_SQL_0_3_0 \
	INSERT_COLUMNS_0_3_0 ") " \
	"SELECT u.p, $12, $13, $14, u.v, u.i, u.t, u.ev, u.pl, u.m, u.c, u.ca, " \
	"u.tr, pg_catalog.now(), u.pb, $2, " \
	"CASE WHEN u.o OPERATOR(pg_catalog.=) 1 " \
	"THEN pg_catalog.cardinality($1) ELSE 0 END " UNNEST_EVENTS

#define NO_KEY_INSERT_COLUMNS \
	"INSERT INTO es_store.events (global_position, stream_id, " \
	"aggregate_version, event_id, event_type, event_version, payload, " \
	"metadata, correlation_id, causation_id, trace_id, created_at) "

#define NO_KEY_INSERT_ONE_SQL \
	NO_KEY_INSERT_COLUMNS \
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, pg_catalog.now())"

#define NO_KEY_INSERT_MANY_SQL \
	NO_KEY_INSERT_COLUMNS \
	"SELECT u.p, $2, u.v, u.i, u.t, u.ev, u.pl, u.m, u.c, u.ca, u.tr, " \
	"pg_catalog.now() " UNNEST_EVENTS

#define INSERT_ONE_TYPES \
	16, {INT8OID, INT8OID, INT8OID, UUIDOID, TEXTOID, INT4OID, JSONBOID, \
	JSONBOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BYTEAOID, \
	TEXTARRAYOID}
#define INSERT_MANY_TYPES \
	16, {INT8ARRAYOID, INT8OID, INT8ARRAYOID, UUIDARRAYOID, TEXTARRAYOID, \
	INT4ARRAYOID, JSONBARRAYOID, JSONBARRAYOID, TEXTARRAYOID, TEXTARRAYOID, \
	TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, BYTEAARRAYOID, TEXTARRAYOID}

/*
 * Checkpoint saves: a new checkpoint belongs to the saver ($3); an existing
 * one is saved only when its owner is the one the caller was checked
 * against ($4, or $5), or when it has none (saved before 0.2.1), which the
 * save then claims for the saver.
 */
#define CHECKPOINT_INSERT \
	"INSERT INTO es_store.checkpoints AS c (name, position, owner) " \
	"VALUES ($1, $2, $3) ON CONFLICT ON CONSTRAINT checkpoints_pkey "
#define CLAIM_OWNER "owner = COALESCE(c.owner, excluded.owner) "
#define OWNER_MATCHES(param) \
	"(c.owner IS NULL OR c.owner" EQ param ") "

#define SKIP_STORED_IDS " ON CONFLICT ON CONSTRAINT events_event_id_key DO NOTHING"

#define MAX_PLAN_ARGS 16

typedef struct EsPlanDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[MAX_PLAN_ARGS];
} EsPlanDef;

/*
 * The reads that return es_store.event rows, with its columns as cols
 * (ROW_COLUMNS, or ROW_COLUMNS_0_3_0 for a 0.3.0 schema)
 */
#define READ_AGGREGATE_PLAN(cols) \
		"SELECT " cols " " AGGREGATE_EVENTS
#define READ_FEED_PLAN(cols) \
		"SELECT " cols " FROM es_store.events e " \
		"WHERE e.global_position OPERATOR(pg_catalog.>) $1 " \
		"AND e.global_position OPERATOR(pg_catalog.<=) $2 " FEED_HIDDEN \
		"ORDER BY e.global_position LIMIT $3", \
		3, {INT8OID, INT8OID, INT8OID}
#define READ_FEED_FILTERED_PLAN(cols) \
		READ_FEED_FILTERED_SQL(cols), \
		8, {INT8OID, INT8OID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, \
		INT8OID, INT8OID, INT8OID}
#define READ_FEED_FILTERED_SQL(cols) \
		"SELECT " cols " FROM es_store.events e " \
		"WHERE e.global_position OPERATOR(pg_catalog.>) $1 " \
		"AND e.global_position OPERATOR(pg_catalog.<=) $2 " \
		"AND ($3 IS NULL OR e.bounded_context" EQ "ANY ($3)) " \
		"AND ($4 IS NULL OR e.aggregate_type" EQ "ANY ($4)) " \
		"AND ($5 IS NULL OR e.event_type" EQ "ANY ($5)) " \
		"AND ($7 OPERATOR(pg_catalog.=) 1 OR " \
		"pg_catalog.mod(pg_catalog.mod(" \
		KEY_HASH_OF("e.bounded_context", "e.aggregate_type", "e.aggregate_id") \
		", $7) OPERATOR(pg_catalog.+) $7, $7)" EQ "$6) " FEED_HIDDEN \
		"ORDER BY e.global_position LIMIT $8"
#define READ_AGGREGATE_ROWS_PLAN(cols) \
		"SELECT " cols ", NULL::pg_catalog.int4 " AGGREGATE_EVENTS
#define PARKED_EVENTS_PLAN(cols) \
		"SELECT p.global_position, p.segment, p.consumer, p.error, p.parked_at, " \
		"(SELECT CAST(ROW(" cols ") AS es_store.event) " \
		"FROM es_store.events e LEFT JOIN es_store.aggregate_heads h " \
		"ON h.stream_id" EQ "e.stream_id AND h.aggregate_id" EQ "e.aggregate_id " \
		"WHERE e.global_position" EQ "p.global_position " \
		"AND (h.stream_id IS NULL OR " EVENT_VISIBLE ")) " \
		"FROM es_store.parked_events p WHERE p.group_name" EQ "$1 " \
		"ORDER BY p.global_position", \
		1, {TEXTOID}
#define READ_EVENT_PLAN(cols) \
		"SELECT " cols " FROM es_store.events e " \
		"LEFT JOIN es_store.aggregate_heads h ON h.stream_id" EQ "e.stream_id " \
		"AND h.aggregate_id" EQ "e.aggregate_id " \
		"WHERE e.event_id" EQ "$1 AND (h.stream_id IS NULL OR " EVENT_VISIBLE ")", \
		1, {UUIDOID}
#define READ_AGGREGATE_BACKWARD_PLAN(cols) \
		"SELECT " cols " FROM es_store.aggregate_heads h " \
		"JOIN es_store.events e ON e.stream_id" EQ "h.stream_id AND e.aggregate_id" EQ "h.aggregate_id " \
		"WHERE " KEY_MATCHES " AND " \
		"e.aggregate_version OPERATOR(pg_catalog.<) $4 AND " EVENT_VISIBLE " " \
		"ORDER BY e.aggregate_version DESC LIMIT $5", \
		5, {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID}

/* Statements by stream id, which the Citus ones below extend */
#define HEAD_UNDO_SQL \
	"UPDATE es_store.aggregate_heads h SET " \
	"version = h.version OPERATOR(pg_catalog.-) $2 " \
	"WHERE h.stream_id" EQ "$1"
#define VERSION_TAKEN_SQL \
	"SELECT e.global_position FROM es_store.events e " \
	"WHERE e.stream_id" EQ "$1 AND e.aggregate_version" EQ "$2"
#define SOFT_DELETE_SQL \
	"UPDATE es_store.aggregate_heads h SET deleted_at = pg_catalog.now(), " \
	"truncate_before = GREATEST(COALESCE(h.truncate_before, 0), " \
	"h.version OPERATOR(pg_catalog.+) 1), filtered = true " \
	"WHERE h.stream_id" EQ "$1"
#define FORGET_MARKERS_SQL \
	"WITH k AS (DELETE FROM es_store.markers k WHERE " \
	"k.bounded_context" EQ "$1 AND k.aggregate_type" EQ "$2 AND " \
	"k.aggregate_id" EQ "$3 RETURNING k.global_position) " \
	"DELETE FROM es_store.events e USING k " \
	"WHERE e.global_position" EQ "k.global_position AND e.stream_id" EQ "0"
#define TOMBSTONE_SQL \
	"UPDATE es_store.aggregate_heads h SET forgotten_at = pg_catalog.now(), " \
	"deleted_at = NULL, truncate_before = NULL, max_count = NULL, " \
	"max_age = NULL, metadata = NULL, filtered = false " \
	"WHERE h.stream_id" EQ "$1"
#define DELETE_HEAD_SQL \
	"DELETE FROM es_store.aggregate_heads h WHERE h.stream_id" EQ "$1"
#define FORGET_EVENTS_SQL \
	"DELETE FROM es_store.events e WHERE e.stream_id" EQ "$1"

static const EsPlanDef plan_defs[ES_NUM_PLANS] = {
	[ES_PLAN_HEAD_UPSERT] = {
		HEAD_INSERT LIVE_ON_CONFLICT_ADVANCE,
		4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}
	},
	[ES_PLAN_HEAD_CREATE] = {
		HEAD_INSERT LIVE_ON_CONFLICT_REOPEN,
		4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}
	},
	[ES_PLAN_HEAD_ADVANCE] = {
		"UPDATE es_store.aggregate_heads h SET "
		"version = h.version OPERATOR(pg_catalog.+) $4, "
		"updated_at = pg_catalog.now() WHERE " KEY_MATCHES " AND " HEAD_LIVE " AND "
		"(h.version" EQ "$5 OR ($5 OPERATOR(pg_catalog.<) 0 AND "
		"h.version OPERATOR(pg_catalog.>) 0)) "
		"RETURNING h.stream_id, h.version OPERATOR(pg_catalog.-) $4",
		5, {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID}
	},
	[ES_PLAN_HEAD_AT_VERSION] = {
		HEAD_INSERT LIVE_ON_CONFLICT_RAISE,
		4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}
	},
	/* the version an expectation meets (0: absent), and whether forgotten */
	[ES_PLAN_HEAD_VERSION] = {
		"SELECT CASE WHEN " HEAD_LIVE " THEN h.version ELSE 0 END, "
		"h.forgotten_at IS NOT NULL "
		"FROM es_store.aggregate_heads h WHERE " KEY_MATCHES,
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	[ES_PLAN_HEAD_UNDO] = {
		HEAD_UNDO_SQL,
		2, {INT8OID, INT8OID}
	},
	[ES_PLAN_VERSION_TAKEN] = {
		VERSION_TAKEN_SQL,
		2, {INT8OID, INT8OID}
	},
	[ES_PLAN_INSERT_ONE] = {
		INSERT_ONE_SQL,
		INSERT_ONE_TYPES
	},
	[ES_PLAN_INSERT_ONE_IDEMPOTENT] = {
		INSERT_ONE_SQL SKIP_STORED_IDS,
		INSERT_ONE_TYPES
	},
	[ES_PLAN_INSERT_MANY] = {
		INSERT_MANY_SQL,
		INSERT_MANY_TYPES
	},
	[ES_PLAN_INSERT_MANY_IDEMPOTENT] = {
		INSERT_MANY_SQL SKIP_STORED_IDS,
		INSERT_MANY_TYPES
	},
	/* the event_tags rows of an append: (tag hash, position) pairs (0.4.0) */
	[ES_PLAN_INSERT_TAGS] = {
		"INSERT INTO es_store.event_tags (tag_hash, global_position) "
		"SELECT u.h, u.p FROM ROWS FROM (pg_catalog.unnest($1), "
		"pg_catalog.unnest($2)) AS u(h, p)",
		2, {INT8ARRAYOID, INT8ARRAYOID}
	},
	/*
	 * Stored events with these ids (batch.c find_stored_append): id,
	 * version, position, whether in the stream of key $1..$3 (never for a
	 * marker: stream id 0 has no head row), batch_size, then the content a
	 * retry must repeat
	 */
#define FIND_EVENT_IDS(batch_size, payload_bytes, tags, key_join) \
	"SELECT e.event_id, e.aggregate_version, e.global_position, " \
	"COALESCE((" KEY_MATCHES "), false) AS same_stream, " batch_size ", " \
	"e.event_type, e.event_version, e.payload, " payload_bytes ", " \
	"e.metadata, e.correlation_id, e.causation_id, e.trace_id, " tags " " \
	"FROM es_store.events e LEFT JOIN es_store.aggregate_heads h " \
	"ON h.stream_id" EQ "e.stream_id " key_join \
	"WHERE e.event_id" EQ "ANY ($4)"
	[ES_PLAN_FIND_EVENT_IDS] = {
		FIND_EVENT_IDS("e.batch_size", "e.payload_bytes", "e.tags", "AND h.aggregate_id" EQ "e.aggregate_id "),
		4, {TEXTOID, TEXTOID, TEXTOID, UUIDARRAYOID}
	},
	[ES_PLAN_READ_AGGREGATE] = {
		READ_AGGREGATE_PLAN(ROW_COLUMNS)
	},
	[ES_PLAN_COUNT_EVENTS] = {
		"SELECT pg_catalog.count(*) FROM es_store.aggregate_heads h "
		"JOIN es_store.events e ON e.stream_id" EQ "h.stream_id AND e.aggregate_id" EQ "h.aggregate_id "
		"WHERE " KEY_MATCHES " AND "
		"e.aggregate_version OPERATOR(pg_catalog.>=) $4 AND " EVENT_VISIBLE,
		4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}
	},
	[ES_PLAN_READ_FEED] = {
		READ_FEED_PLAN(ROW_COLUMNS)
	},
	[ES_PLAN_READ_FEED_FILTERED] = {
		READ_FEED_FILTERED_PLAN(ROW_COLUMNS)
	},
	[ES_PLAN_GET_CHECKPOINT] = {
		"SELECT c.position, c.owner FROM es_store.checkpoints c "
		"WHERE c.name" EQ "$1",
		1, {TEXTOID}
	},
	[ES_PLAN_SAVE_CHECKPOINT] = {
		CHECKPOINT_INSERT
		"DO UPDATE SET position = excluded.position, "
		"updated_at = excluded.updated_at, " CLAIM_OWNER
		"WHERE c.position OPERATOR(pg_catalog.<=) excluded.position "
		"AND " OWNER_MATCHES("$4")
		"RETURNING c.position",
		4, {TEXTOID, INT8OID, NAMEOID, NAMEOID}
	},
	[ES_PLAN_SAVE_CHECKPOINT_FROM] = {
		"UPDATE es_store.checkpoints c SET position = $2, "
		"updated_at = pg_catalog.now(), "
		"owner = COALESCE(c.owner, $4) "
		"WHERE c.name" EQ "$1 AND c.position" EQ "$3 "
		"AND c.position OPERATOR(pg_catalog.<=) $2 "
		"AND " OWNER_MATCHES("$5")
		"RETURNING c.position",
		5, {TEXTOID, INT8OID, INT8OID, NAMEOID, NAMEOID}
	},
	[ES_PLAN_SAVE_CHECKPOINT_FROM_ZERO] = {
		CHECKPOINT_INSERT
		"DO UPDATE SET position = excluded.position, "
		"updated_at = excluded.updated_at, " CLAIM_OWNER
		"WHERE c.position" EQ "0 AND " OWNER_MATCHES("$4")
		"RETURNING c.position",
		4, {TEXTOID, INT8OID, NAMEOID, NAMEOID}
	},
	[ES_PLAN_LOCK_CHECKPOINT] = {
		"SELECT c.position FROM es_store.checkpoints c "
		"WHERE c.name" EQ "$1 FOR UPDATE",
		1, {TEXTOID}
	},
	[ES_PLAN_RESET_CHECKPOINT] = {
		CHECKPOINT_INSERT
		"DO UPDATE SET position = excluded.position, "
		"updated_at = excluded.updated_at, "
		"owner = COALESCE(excluded.owner, c.owner)",
		3, {TEXTOID, INT8OID, NAMEOID}
	},
	[ES_PLAN_DELETE_CHECKPOINT] = {
		"DELETE FROM es_store.checkpoints c WHERE c.name" EQ "$1",
		1, {TEXTOID}
	},
	[ES_PLAN_READ_AGGREGATE_ROWS] = {
		READ_AGGREGATE_ROWS_PLAN(ROW_COLUMNS)
	},
	/*
	 * FOR KEY SHARE: a snapshot save does not wait for appends (which take
	 * FOR NO KEY UPDATE), but a delete or forget (FOR UPDATE) waits for it,
	 * and it for them.
	 */
	[ES_PLAN_SNAPSHOT_HEAD] = {
		"SELECT CASE WHEN h.forgotten_at IS NOT NULL THEN -1 "
		"WHEN h.deleted_at IS NOT NULL THEN 0 ELSE h.version END "
		"FROM es_store.aggregate_heads h WHERE " KEY_MATCHES " FOR KEY SHARE",
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	[ES_PLAN_SNAPSHOT_SAVE] = {
		"INSERT INTO es_store.snapshots AS s (bounded_context, aggregate_type, "
		"aggregate_id, aggregate_version, snapshot_version, payload, "
		"payload_bytes, metadata, created_at) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, pg_catalog.now()) "
		"ON CONFLICT ON CONSTRAINT snapshots_pkey DO UPDATE SET "
		"aggregate_version = excluded.aggregate_version, "
		"snapshot_version = excluded.snapshot_version, "
		"payload = excluded.payload, payload_bytes = excluded.payload_bytes, "
		"metadata = excluded.metadata, created_at = excluded.created_at "
		"WHERE s.aggregate_version OPERATOR(pg_catalog.<=) excluded.aggregate_version "
		"RETURNING s.aggregate_version",
		8, {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT4OID, JSONBOID, BYTEAOID,
		JSONBOID}
	},
	[ES_PLAN_SNAPSHOT_STORED] = {
		"SELECT s.aggregate_version FROM es_store.snapshots s WHERE "
		"s.bounded_context" EQ "$1 AND s.aggregate_type" EQ "$2 AND "
		"s.aggregate_id" EQ "$3",
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	[ES_PLAN_SNAPSHOT_LOAD] = {
		"SELECT s.aggregate_version, s.snapshot_version, s.payload, "
		"s.payload_bytes, s.metadata, s.created_at "
		"FROM es_store.snapshots s WHERE "
		"s.bounded_context" EQ "$1 AND s.aggregate_type" EQ "$2 AND "
		"s.aggregate_id" EQ "$3 AND "
		"($4 IS NULL OR s.snapshot_version" EQ "$4)",
		4, {TEXTOID, TEXTOID, TEXTOID, INT4OID}
	},
	[ES_PLAN_LOCK_HEAD] = {
		"SELECT h.stream_id, h.version, h.deleted_at IS NOT NULL, "
		"h.forgotten_at IS NOT NULL FROM es_store.aggregate_heads h "
		"WHERE " KEY_MATCHES " FOR UPDATE",
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	/*
	 * append_aggregates' checks (multi.c): the head row locked against
	 * appends (FOR SHARE conflicts with their FOR NO KEY UPDATE) until the
	 * transaction ends; for a key without one, an empty head row at
	 * version 0 to lock (as set_stream_metadata makes one), unless another
	 * transaction created the key meanwhile.
	 */
	/* batch.c's statement path: the head row locked before the look for ids */
	[ES_PLAN_HEAD_LOCK_NO_KEY] = {
		"SELECT 1 FROM es_store.aggregate_heads h WHERE " KEY_MATCHES
		" FOR NO KEY UPDATE",
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	[ES_PLAN_HEAD_SHARE] = {
		"SELECT h.version, h.deleted_at IS NOT NULL, "
		"h.forgotten_at IS NOT NULL FROM es_store.aggregate_heads h "
		"WHERE " KEY_MATCHES " FOR SHARE",
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	/*
	 * Consumer groups (groups.c).  A claim takes the first segment that
	 * is free or whose lease has run out, skipping one another claimer or
	 * a saver has locked (so that claimers spread over the segments, and a
	 * save in flight keeps its segment); its lock's recheck of the lease
	 * on the row's latest version keeps two claimers from both taking one
	 * segment.  Leases are in wall-clock time.
	 */
	[ES_PLAN_GROUP_GET] = {
		"SELECT g.segment_count, g.lease, g.owner FROM es_store.consumer_groups g "
		"WHERE g.name" EQ "$1",
		1, {TEXTOID}
	},
	[ES_PLAN_GROUP_CREATE] = {
		"WITH g AS (INSERT INTO es_store.consumer_groups (name, segment_count, "
		"lease, owner) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING "
		"RETURNING name) "
		"INSERT INTO es_store.group_segments (group_name, segment) "
		"SELECT g.name, s FROM g, pg_catalog.generate_series(0, "
		"$2 OPERATOR(pg_catalog.-) 1) s",
		4, {TEXTOID, INT4OID, INTERVALOID, NAMEOID}
	},
	[ES_PLAN_GROUP_DROP] = {
		"WITH s AS (DELETE FROM es_store.group_segments s WHERE s.group_name" EQ "$1), "
		"p AS (DELETE FROM es_store.parked_events p WHERE p.group_name" EQ "$1) "
		"DELETE FROM es_store.consumer_groups g WHERE g.name" EQ "$1",
		1, {TEXTOID}
	},
	[ES_PLAN_SEGMENT_CLAIM] = {
		"UPDATE es_store.group_segments s SET consumer = $2, "
		"lease_until = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $3 "
		"WHERE s.group_name" EQ "$1 AND s.segment" EQ "("
		"SELECT f.segment FROM es_store.group_segments f "
		"WHERE f.group_name" EQ "$1 AND (f.consumer IS NULL OR "
		"f.lease_until OPERATOR(pg_catalog.<) pg_catalog.clock_timestamp()) "
		"ORDER BY f.segment LIMIT 1 FOR UPDATE SKIP LOCKED) "
		"RETURNING s.segment, s.position, s.lease_until",
		3, {TEXTOID, TEXTOID, INTERVALOID}
	},
	[ES_PLAN_SEGMENT_LOCK] = {
		"SELECT s.consumer, s.position, s.lease_until FROM es_store.group_segments s "
		"WHERE s.group_name" EQ "$1 AND s.segment" EQ "$2 FOR UPDATE",
		2, {TEXTOID, INT4OID}
	},
	[ES_PLAN_SEGMENT_RENEW] = {
		"UPDATE es_store.group_segments s SET "
		"lease_until = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $3 "
		"WHERE s.group_name" EQ "$1 AND s.segment" EQ "$2 RETURNING s.lease_until",
		3, {TEXTOID, INT4OID, INTERVALOID}
	},
	[ES_PLAN_SEGMENT_RELEASE] = {
		"UPDATE es_store.group_segments s SET consumer = NULL, lease_until = NULL "
		"WHERE s.group_name" EQ "$1 AND s.segment" EQ "$2",
		2, {TEXTOID, INT4OID}
	},
	[ES_PLAN_SEGMENT_SAVE] = {
		"UPDATE es_store.group_segments s SET position = $3, "
		"saved_at = pg_catalog.now(), "
		"lease_until = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $4 "
		"WHERE s.group_name" EQ "$1 AND s.segment" EQ "$2",
		4, {TEXTOID, INT4OID, INT8OID, INTERVALOID}
	},
	[ES_PLAN_PARK_EVENT] = {
		"INSERT INTO es_store.parked_events AS p (group_name, global_position, "
		"segment, consumer, error) VALUES ($1, $2, $3, $4, $5) "
		"ON CONFLICT (group_name, global_position) DO UPDATE SET "
		"segment = excluded.segment, consumer = excluded.consumer, "
		"error = excluded.error, parked_at = pg_catalog.now()",
		5, {TEXTOID, INT8OID, INT4OID, TEXTOID, TEXTOID}
	},
	[ES_PLAN_PARKED_EVENTS] = {
		PARKED_EVENTS_PLAN(ROW_COLUMNS)
	},
	[ES_PLAN_EVENT_KEY] = {
		"SELECT e.bounded_context, e.aggregate_type, e.aggregate_id "
		"FROM es_store.events e WHERE e.global_position" EQ "$1",
		1, {INT8OID}
	},
	[ES_PLAN_UNPARK_EVENT] = {
		"DELETE FROM es_store.parked_events p WHERE p.group_name" EQ "$1 "
		"AND p.global_position" EQ "$2",
		2, {TEXTOID, INT8OID}
	},
	[ES_PLAN_HEAD_PLACEHOLDER] = {
		"INSERT INTO es_store.aggregate_heads (bounded_context, "
		"aggregate_type, aggregate_id, version, key_hash) "
		"VALUES ($1, $2, $3, 0, " KEY_HASH ") "
		"ON CONFLICT ON CONSTRAINT aggregate_heads_key DO NOTHING",
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	[ES_PLAN_SOFT_DELETE] = {
		SOFT_DELETE_SQL,
		1, {INT8OID}
	},
	/*
	 * A marker: the feed's notice that an aggregate was deleted or
	 * forgotten.  Stream id 0 belongs to no aggregate (direct.c
	 * new_stream_id), aggregate_version is the marker's position (unique
	 * there), event_version 0 (no appended event has it).
	 */
	[ES_PLAN_INSERT_MARKER] = {
		"WITH k AS (INSERT INTO es_store.markers (global_position, "
		"bounded_context, aggregate_type, aggregate_id) VALUES ($1, $2, $3, $4)) "
		"INSERT INTO es_store.events (global_position, bounded_context, "
		"aggregate_type, aggregate_id, aggregate_version, event_id, event_type, "
		"event_version, payload, metadata, created_at, stream_id) "
		"VALUES ($1, $2, $3, $4, $1, $5, $6, 0, $7, '{}'::pg_catalog.jsonb, "
		"pg_catalog.now(), 0)",
		7, {INT8OID, TEXTOID, TEXTOID, TEXTOID, UUIDOID, TEXTOID, JSONBOID}
	},
	[ES_PLAN_READ_EVENT] = {
		READ_EVENT_PLAN(ROW_COLUMNS)
	},
	[ES_PLAN_READ_AGGREGATE_BACKWARD] = {
		READ_AGGREGATE_BACKWARD_PLAN(ROW_COLUMNS)
	},
	[ES_PLAN_FORGET_EVENTS] = {
		DELETE_TAGS_OF("e.stream_id" EQ "$1")
		FORGET_EVENTS_SQL,
		1, {INT8OID}
	},
	/* the markers of a key, found through es_store.markers */
	[ES_PLAN_FORGET_MARKERS] = {
		FORGET_MARKERS_SQL,
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	[ES_PLAN_TOMBSTONE] = {
		TOMBSTONE_SQL,
		1, {INT8OID}
	},
	[ES_PLAN_DELETE_HEAD] = {
		DELETE_HEAD_SQL,
		1, {INT8OID}
	},
	/*
	 * A stream's retention and metadata, replaced (truncate_before never
	 * moves back: a delete sets it past the deleted events).  A new head
	 * row is at version 0, which reads, existence and appends treat as
	 * absent.  No row for a forgotten stream.
	 */
	[ES_PLAN_SET_METADATA] = {
		"INSERT INTO es_store.aggregate_heads AS h (bounded_context, "
		"aggregate_type, aggregate_id, version, key_hash, truncate_before, "
		"max_count, max_age, metadata, filtered) "
		"VALUES ($1, $2, $3, 0, " KEY_HASH ", $4, $5, $6, $7, "
		"$4 IS NOT NULL OR $5 IS NOT NULL OR $6 IS NOT NULL) "
		"ON CONFLICT ON CONSTRAINT aggregate_heads_key DO UPDATE SET "
		"truncate_before = GREATEST(h.truncate_before, excluded.truncate_before), "
		"max_count = excluded.max_count, max_age = excluded.max_age, "
		"metadata = excluded.metadata, "
		"filtered = h.filtered OR excluded.filtered "
		"WHERE h.forgotten_at IS NULL "
		"RETURNING h.truncate_before, h.max_count, h.max_age, h.metadata",
		7, {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, INTERVALOID, JSONBOID}
	},
	[ES_PLAN_GET_METADATA] = {
		"SELECT h.truncate_before, h.max_count, h.max_age, h.metadata "
		"FROM es_store.aggregate_heads h WHERE " KEY_MATCHES " AND "
		"h.forgotten_at IS NULL",
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	/*
	 * The purge (purge.c): filtered heads with stream ids from $1 to
	 * $3 (the stream id, then the columns of a cutoff in EsCutoffColumn
	 * order), in stream id order (through aggregate_heads_filtered), read
	 * without a lock; then one of them locked as an append locks it,
	 * unless another transaction holds it.
	 */
#define PURGE_HEAD_COLUMNS \
	"SELECT h.stream_id, h.deleted_at, h.version, h.truncate_before, " \
	"h.max_count, h.max_age FROM es_store.aggregate_heads h "
	[ES_PLAN_PURGE_HEADS] = {
		PURGE_HEAD_COLUMNS
		"WHERE h.filtered AND h.stream_id OPERATOR(pg_catalog.>=) $1 "
		"AND h.stream_id OPERATOR(pg_catalog.<=) $3 "
		"ORDER BY h.stream_id LIMIT $2",
		3, {INT8OID, INT8OID, INT8OID}
	},
	[ES_PLAN_PURGE_LOCK_HEAD] = {
		PURGE_HEAD_COLUMNS
		"WHERE h.stream_id" EQ "$1 AND h.filtered FOR NO KEY UPDATE SKIP LOCKED",
		1, {INT8OID}
	},
	[ES_PLAN_PURGE_SCAN] = {
		"SELECT e.aggregate_version, e.created_at FROM es_store.events e "
		"WHERE e.stream_id" EQ "$1 ORDER BY e.aggregate_version LIMIT $2",
		2, {INT8OID, INT8OID}
	},
	[ES_PLAN_PURGE_EVENTS] = {
		DELETE_TAGS_OF("e.stream_id" EQ "$1 AND "
					   "e.aggregate_version OPERATOR(pg_catalog.<=) $2")
		"DELETE FROM es_store.events e WHERE e.stream_id" EQ "$1 AND "
		"e.aggregate_version OPERATOR(pg_catalog.<=) $2",
		2, {INT8OID, INT8OID}
	},
	[ES_PLAN_PURGE_CLEAR] = {
		"UPDATE es_store.aggregate_heads h SET filtered = false "
		"WHERE h.stream_id" EQ "$1 AND h.max_count IS NULL AND h.max_age IS NULL "
		"AND COALESCE(h.truncate_before, 0) OPERATOR(pg_catalog.<=) "
		"(h.version OPERATOR(pg_catalog.+) 1)",
		1, {INT8OID}
	},
	[ES_PLAN_PURGE_MARKERS] = {
		"WITH v AS (SELECT m.global_position FROM (SELECT f.global_position, "
		"f.created_at FROM es_store.events f WHERE f.stream_id" EQ "0 "
		"ORDER BY f.aggregate_version LIMIT $2) m "
		"WHERE m.created_at OPERATOR(pg_catalog.<) $1), "
		"k AS (DELETE FROM es_store.markers k USING v "
		"WHERE k.global_position" EQ "v.global_position) "
		"DELETE FROM es_store.events e USING v "
		"WHERE e.global_position" EQ "v.global_position",
		2, {TIMESTAMPTZOID, INT8OID}
	},
	/*
	 * An aggregate's stats: a deleted or forgotten one has no visible
	 * events and is at version 0, as reads and existence see it.  The
	 * snapshot is found by the head's key (the same as $1, $2, $3), which
	 * Citus needs to see the query as one within the aggregate's shard.
	 */
	[ES_PLAN_AGGREGATE_STATS] = {
		"SELECT c.n, c.first, CASE WHEN " HEAD_LIVE " THEN h.version ELSE 0 END, "
		"(SELECT s.aggregate_version FROM es_store.snapshots s WHERE "
		"s.bounded_context" EQ "h.bounded_context AND s.aggregate_type" EQ "h.aggregate_type AND "
		"s.aggregate_id" EQ "h.aggregate_id), "
		"h.created_at, CASE WHEN h.version OPERATOR(pg_catalog.>) 0 "
		"THEN h.updated_at END, h.deleted_at, h.forgotten_at, "
		"h.truncate_before, h.max_count, h.max_age, h.metadata "
		"FROM es_store.aggregate_heads h CROSS JOIN LATERAL "
		"(SELECT pg_catalog.count(*) AS n, pg_catalog.min(e.aggregate_version) AS first "
		"FROM es_store.events e WHERE e.stream_id" EQ "h.stream_id AND e.aggregate_id" EQ "h.aggregate_id AND "
		HEAD_LIVE " AND " EVENT_VISIBLE ") c "
		"WHERE " KEY_MATCHES,
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	/*
	 * The store's size: row counts estimated as the planner does (the
	 * density of the last VACUUM or ANALYZE times the pages there are
	 * now; NULL before the first), bytes exact.
	 */
	[ES_PLAN_STORE_STATS] = {
		"SELECT " ROWS_ESTIMATE(ev) ", " ROWS_ESTIMATE(hd) ", "
		"NULL::pg_catalog.int8, "	/* the safe position, set in C */
		"pg_catalog.pg_sequence_last_value('es_store.global_position_seq'::pg_catalog.regclass), "
		"pg_catalog.pg_table_size(ev.oid), pg_catalog.pg_indexes_size(ev.oid), "
		"pg_catalog.pg_table_size(hd.oid), pg_catalog.pg_indexes_size(hd.oid), "
		"pg_catalog.pg_total_relation_size(ev.oid) OPERATOR(pg_catalog.+) "
		"pg_catalog.pg_total_relation_size(hd.oid) OPERATOR(pg_catalog.+) "
		"pg_catalog.pg_total_relation_size('es_store.snapshots'::pg_catalog.regclass) "
		"OPERATOR(pg_catalog.+) "
		"pg_catalog.pg_total_relation_size('es_store.checkpoints'::pg_catalog.regclass) "
		"OPERATOR(pg_catalog.+) "
		"pg_catalog.pg_total_relation_size('es_store.markers'::pg_catalog.regclass) "
		"FROM pg_catalog.pg_class ev, pg_catalog.pg_class hd "
		"WHERE ev.oid" EQ "'es_store.events'::pg_catalog.regclass "
		"AND hd.oid" EQ "'es_store.aggregate_heads'::pg_catalog.regclass",
		0, {InvalidOid}
	},
	/*
	 * On a Citus coordinator (citus_feed.c): the events' shards with the
	 * node group of a placement of each and the colocated heads' shard
	 * there (NULL when there is none on that node), lowest group first;
	 * and whether this transaction has a Citus distributed transaction id
	 * (a number other than 0)
	 */
	[ES_PLAN_CITUS_PLACEMENTS] = {
		"SELECT p.groupid, e.shardid, hp.shardid "
		"FROM pg_catalog.pg_dist_shard e "
		"JOIN pg_catalog.pg_dist_placement p ON p.shardid" EQ "e.shardid "
		"LEFT JOIN pg_catalog.pg_dist_shard h ON h.logicalrelid" EQ
		"'es_store.aggregate_heads'::pg_catalog.regclass "
		"AND h.shardminvalue" EQ "e.shardminvalue "
		"AND h.shardmaxvalue" EQ "e.shardmaxvalue "
		"LEFT JOIN pg_catalog.pg_dist_placement hp ON hp.shardid" EQ "h.shardid "
		"AND hp.groupid" EQ "p.groupid "
		"WHERE e.logicalrelid" EQ "'es_store.events'::pg_catalog.regclass "
		"ORDER BY e.shardid, p.groupid, hp.shardid",
		0, {InvalidOid}
	},
	[ES_PLAN_CITUS_TRANSACTION] = {
		"SELECT transaction_number FROM pg_catalog.get_current_transaction_id()",
		0, {InvalidOid}
	},
	[ES_PLAN_SNAPSHOT_DELETE] = {
		"DELETE FROM es_store.snapshots s WHERE "
		"s.bounded_context" EQ "$1 AND s.aggregate_type" EQ "$2 AND "
		"s.aggregate_id" EQ "$3 RETURNING s.aggregate_version",
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
};

/*
 * The statements of older schemas, which a new library keeps working with
 * until ALTER EXTENSION es_store UPDATE: the head inserts of 0.1.0, whose
 * aggregate_heads has no key_hash, and the checkpoint statements of 0.2.0
 * and before, whose checkpoints have no owner.  Each takes the same
 * parameters as the current statement.
 */
static const EsPlanDef no_key_hash_defs[ES_NUM_PLANS] = {
	[ES_PLAN_HEAD_UPSERT] = {
		LEGACY_HEAD_INSERT ON_CONFLICT_ADVANCE,
		4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}
	},
	[ES_PLAN_HEAD_CREATE] = {
		LEGACY_HEAD_INSERT ON_CONFLICT_NOTHING,
		4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}
	},
	[ES_PLAN_HEAD_AT_VERSION] = {
		LEGACY_HEAD_INSERT ON_CONFLICT_RAISE,
		4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}
	},
};

#define LEGACY_CHECKPOINT_INSERT \
	"INSERT INTO es_store.checkpoints AS c (name, position) " \
	"VALUES ($1, $2) ON CONFLICT ON CONSTRAINT checkpoints_pkey " \
	"DO UPDATE SET position = excluded.position, " \
	"updated_at = pg_catalog.now() "

static const EsPlanDef no_owner_defs[ES_NUM_PLANS] = {
	[ES_PLAN_GET_CHECKPOINT] = {
		"SELECT c.position, NULL::pg_catalog.name FROM es_store.checkpoints c "
		"WHERE c.name" EQ "$1",
		1, {TEXTOID}
	},
	[ES_PLAN_SAVE_CHECKPOINT] = {
		LEGACY_CHECKPOINT_INSERT
		"WHERE c.position OPERATOR(pg_catalog.<=) excluded.position "
		"RETURNING c.position",
		4, {TEXTOID, INT8OID, NAMEOID, NAMEOID}
	},
	[ES_PLAN_SAVE_CHECKPOINT_FROM] = {
		"UPDATE es_store.checkpoints c SET position = $2, "
		"updated_at = pg_catalog.now() "
		"WHERE c.name" EQ "$1 AND c.position" EQ "$3 "
		"AND c.position OPERATOR(pg_catalog.<=) $2 "
		"RETURNING c.position",
		5, {TEXTOID, INT8OID, INT8OID, NAMEOID, NAMEOID}
	},
	[ES_PLAN_SAVE_CHECKPOINT_FROM_ZERO] = {
		LEGACY_CHECKPOINT_INSERT
		"WHERE c.position" EQ "0 RETURNING c.position",
		4, {TEXTOID, INT8OID, NAMEOID, NAMEOID}
	},
};

/*
 * The statements of schemas before 0.3.0, whose event rows do not carry
 * the aggregate's key and whose es_store.event has no payload_bytes: the
 * inserts leave both out, the reads take the key from each event's head
 * row.
 */
static const EsPlanDef no_event_key_defs[ES_NUM_PLANS] = {
	[ES_PLAN_HEAD_UPSERT] = {
		HEAD_INSERT ON_CONFLICT_ADVANCE,
		4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}
	},
	[ES_PLAN_HEAD_CREATE] = {
		HEAD_INSERT ON_CONFLICT_NOTHING,
		4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}
	},
	[ES_PLAN_HEAD_ADVANCE] = {
		"UPDATE es_store.aggregate_heads h SET "
		"version = h.version OPERATOR(pg_catalog.+) $4, "
		"updated_at = pg_catalog.now() WHERE " KEY_MATCHES " AND "
		"(h.version" EQ "$5 OR ($5 OPERATOR(pg_catalog.<) 0 AND "
		"h.version OPERATOR(pg_catalog.>) 0)) "
		"RETURNING h.stream_id, h.version OPERATOR(pg_catalog.-) $4",
		5, {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID}
	},
	[ES_PLAN_HEAD_AT_VERSION] = {
		HEAD_INSERT ON_CONFLICT_RAISE,
		4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}
	},
	[ES_PLAN_HEAD_VERSION] = {
		"SELECT h.version, false FROM es_store.aggregate_heads h WHERE " KEY_MATCHES,
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	[ES_PLAN_COUNT_EVENTS] = {
		"SELECT pg_catalog.count(*) FROM es_store.aggregate_heads h "
		"JOIN es_store.events e ON e.stream_id" EQ "h.stream_id "
		"WHERE " KEY_MATCHES " AND "
		"e.aggregate_version OPERATOR(pg_catalog.>=) $4",
		4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}
	},
	[ES_PLAN_INSERT_ONE] = {
		NO_KEY_INSERT_ONE_SQL,
		INSERT_ONE_TYPES
	},
	[ES_PLAN_INSERT_ONE_IDEMPOTENT] = {
		NO_KEY_INSERT_ONE_SQL SKIP_STORED_IDS,
		INSERT_ONE_TYPES
	},
	[ES_PLAN_INSERT_MANY] = {
		NO_KEY_INSERT_MANY_SQL,
		INSERT_MANY_TYPES
	},
	[ES_PLAN_FIND_EVENT_IDS] = {
		FIND_EVENT_IDS("-1", "NULL::pg_catalog.bytea", "NULL::pg_catalog.text[]", ""),
		4, {TEXTOID, TEXTOID, TEXTOID, UUIDARRAYOID}
	},
	[ES_PLAN_INSERT_MANY_IDEMPOTENT] = {
		NO_KEY_INSERT_MANY_SQL SKIP_STORED_IDS,
		INSERT_MANY_TYPES
	},
	[ES_PLAN_READ_AGGREGATE] = {
		"SELECT " EVENT_COLUMNS " FROM es_store.aggregate_heads h "
		"JOIN es_store.events e ON e.stream_id" EQ "h.stream_id "
		"WHERE " KEY_MATCHES " AND "
		"e.aggregate_version OPERATOR(pg_catalog.>=) $4 AND "
		"e.aggregate_version OPERATOR(pg_catalog.<=) $5 "
		"ORDER BY e.aggregate_version LIMIT $6",
		6, {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID}
	},
	[ES_PLAN_READ_FEED] = {
		"SELECT " EVENT_COLUMNS " FROM es_store.events e " HEADS_OF_EVENT("")
		"WHERE e.global_position OPERATOR(pg_catalog.>) $1 "
		"AND e.global_position OPERATOR(pg_catalog.<=) $2 "
		"ORDER BY e.global_position LIMIT $3",
		3, {INT8OID, INT8OID, INT8OID}
	},
	[ES_PLAN_READ_FEED_FILTERED] = {
		"SELECT " EVENT_COLUMNS " FROM es_store.events e "
		HEADS_OF_EVENT(", h.key_hash")
		"WHERE e.global_position OPERATOR(pg_catalog.>) $1 "
		"AND e.global_position OPERATOR(pg_catalog.<=) $2 "
		"AND ($3 IS NULL OR h.bounded_context" EQ "ANY ($3)) "
		"AND ($4 IS NULL OR h.aggregate_type" EQ "ANY ($4)) "
		"AND ($5 IS NULL OR e.event_type" EQ "ANY ($5)) "
		"AND ($7 OPERATOR(pg_catalog.=) 1 OR "
		"pg_catalog.mod(pg_catalog.mod(h.key_hash, $7) OPERATOR(pg_catalog.+) $7, $7)"
		EQ "$6) "
		"ORDER BY e.global_position LIMIT $8",
		8, {INT8OID, INT8OID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		INT8OID, INT8OID, INT8OID}
	},
};

/*
 * The statements of 0.3.0, whose events and es_store.event have no tags:
 * the reads return the columns without them, the inserts leave them out.
 */
static const EsPlanDef no_tags_defs[ES_NUM_PLANS] = {
	[ES_PLAN_INSERT_ONE] = {
		INSERT_ONE_SQL_0_3_0,
		INSERT_ONE_TYPES
	},
	[ES_PLAN_INSERT_ONE_IDEMPOTENT] = {
		INSERT_ONE_SQL_0_3_0 SKIP_STORED_IDS,
		INSERT_ONE_TYPES
	},
	[ES_PLAN_INSERT_MANY] = {
		INSERT_MANY_SQL_0_3_0,
		INSERT_MANY_TYPES
	},
	[ES_PLAN_INSERT_MANY_IDEMPOTENT] = {
		INSERT_MANY_SQL_0_3_0 SKIP_STORED_IDS,
		INSERT_MANY_TYPES
	},
	[ES_PLAN_FIND_EVENT_IDS] = {
		FIND_EVENT_IDS("e.batch_size", "e.payload_bytes", "NULL::pg_catalog.text[]", "AND h.aggregate_id" EQ "e.aggregate_id "),
		4, {TEXTOID, TEXTOID, TEXTOID, UUIDARRAYOID}
	},
	[ES_PLAN_READ_AGGREGATE] = {
		READ_AGGREGATE_PLAN(ROW_COLUMNS_0_3_0)
	},
	[ES_PLAN_READ_FEED] = {
		READ_FEED_PLAN(ROW_COLUMNS_0_3_0)
	},
	[ES_PLAN_READ_FEED_FILTERED] = {
		READ_FEED_FILTERED_PLAN(ROW_COLUMNS_0_3_0)
	},
	[ES_PLAN_READ_AGGREGATE_ROWS] = {
		READ_AGGREGATE_ROWS_PLAN(ROW_COLUMNS_0_3_0)
	},
	[ES_PLAN_PARKED_EVENTS] = {
		PARKED_EVENTS_PLAN(ROW_COLUMNS_0_3_0)
	},
	[ES_PLAN_READ_EVENT] = {
		READ_EVENT_PLAN(ROW_COLUMNS_0_3_0)
	},
	[ES_PLAN_READ_AGGREGATE_BACKWARD] = {
		READ_AGGREGATE_BACKWARD_PLAN(ROW_COLUMNS_0_3_0)
	},
	[ES_PLAN_FORGET_EVENTS] = {
		FORGET_EVENTS_SQL,
		1, {INT8OID}
	},
	[ES_PLAN_PURGE_EVENTS] = {
		"DELETE FROM es_store.events e WHERE e.stream_id" EQ "$1 AND "
		"e.aggregate_version OPERATOR(pg_catalog.<=) $2",
		2, {INT8OID, INT8OID}
	},
};

/*
 * The statements that differ on a store with Citus tables (0.4.0 schema),
 * where a statement must name the distribution column, aggregate_id, to
 * run on one shard: inside a function Citus delegated to the aggregate's
 * worker (force_delegation, src/distribute.c) a statement that does not is
 * refused.  The statements by stream id take the aggregate id as a last
 * parameter, which the generic ones leave unused (every caller passes
 * it).  Event ids are looked up within the aggregate: across shards no
 * index holds them unique (README, Scaling).  Events there have no tags
 * (batch.c refuses them), so the deletes leave es_store.event_tags alone.
 * Taken only when es_store.events is hash-distributed (by
 * es_store.citus_distribute(), which exists from 0.4.0 on: the 0.3.0
 * schema's statements above never meet a distributed store); a store with
 * only reference tables keeps the generic statements.
 */
static const EsPlanDef citus_defs[ES_NUM_PLANS] = {
	[ES_PLAN_FIND_EVENT_IDS] = {
		FIND_EVENT_IDS("e.batch_size", "e.payload_bytes", "e.tags", "AND h.aggregate_id" EQ "e.aggregate_id ")
		" AND e.aggregate_id" EQ "$3",
		4, {TEXTOID, TEXTOID, TEXTOID, UUIDARRAYOID}
	},
	[ES_PLAN_HEAD_UNDO] = {
		HEAD_UNDO_SQL " AND h.aggregate_id" EQ "$3",
		3, {INT8OID, INT8OID, TEXTOID}
	},
	[ES_PLAN_VERSION_TAKEN] = {
		VERSION_TAKEN_SQL " AND e.aggregate_id" EQ "$3",
		3, {INT8OID, INT8OID, TEXTOID}
	},
	[ES_PLAN_SOFT_DELETE] = {
		SOFT_DELETE_SQL " AND h.aggregate_id" EQ "$2",
		2, {INT8OID, TEXTOID}
	},
	[ES_PLAN_FORGET_EVENTS] = {
		FORGET_EVENTS_SQL " AND e.aggregate_id" EQ "$2",
		2, {INT8OID, TEXTOID}
	},
	[ES_PLAN_FORGET_MARKERS] = {
		FORGET_MARKERS_SQL " AND e.aggregate_id" EQ "$3",
		3, {TEXTOID, TEXTOID, TEXTOID}
	},
	[ES_PLAN_TOMBSTONE] = {
		TOMBSTONE_SQL " AND h.aggregate_id" EQ "$2",
		2, {INT8OID, TEXTOID}
	},
	[ES_PLAN_DELETE_HEAD] = {
		DELETE_HEAD_SQL " AND h.aggregate_id" EQ "$2",
		2, {INT8OID, TEXTOID}
	},
};

/*
 * The kept plans, in two sets: generic plans, and custom plans for a store
 * with Citus tables (Citus routes a statement by its parameters' values
 * and cannot distribute a generic plan over them: citus.c).  Plans are
 * never freed, so one running in an outer call stays valid when the store
 * changes kind (a table distributed) during a nested one.
 */
#define ES_PLAN_KINDS 2
static SPIPlanPtr plans[ES_PLAN_KINDS][ES_NUM_PLANS];
static SPIPlanPtr no_tags_plans[ES_PLAN_KINDS][ES_NUM_PLANS];
static SPIPlanPtr no_event_key_plans[ES_PLAN_KINDS][ES_NUM_PLANS];
static SPIPlanPtr no_key_hash_plans[ES_PLAN_KINDS][ES_NUM_PLANS];
static SPIPlanPtr no_owner_plans[ES_PLAN_KINDS][ES_NUM_PLANS];
static SPIPlanPtr citus_plans[ES_NUM_PLANS];

/*
 * What the installed schema has, cached per backend: whether
 * aggregate_heads has key_hash (0.2.0), checkpoints has owner (0.2.1) and
 * events carry the aggregate's key (0.3.0).
 * A library newer than the installed SQL keeps working with the older
 * tables until ALTER EXTENSION es_store UPDATE; the cache is forgotten on
 * any relcache invalidation of the three tables, which the update's ALTER
 * TABLE (or DROP TABLE) sends to every session, so a session opened before the update uses
 * the new columns at its next call.
 */
static bool schema_known = false;
static Oid	schema_heads = InvalidOid;
static Oid	schema_checkpoints = InvalidOid;
static Oid	schema_events = InvalidOid;
static bool heads_have_key_hash = true;
static bool checkpoints_have_owner = true;
static bool events_have_key = true;
static bool events_have_tags = true;

static void
schema_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == schema_heads ||
		relid == schema_checkpoints || relid == schema_events)
		schema_known = false;
}

static void
schema_load(void)
{
	static bool callback_registered = false;
	Oid			nsp = es_extension_schema();

	if (!callback_registered)
	{
		es_add_relcache_inval(schema_inval);
		callback_registered = true;
	}
	/* an invalidation arriving while we look leaves the cache unknown */
	schema_known = true;
	schema_heads = get_relname_relid("aggregate_heads", nsp);
	schema_checkpoints = get_relname_relid("checkpoints", nsp);
	heads_have_key_hash = get_attnum(schema_heads, "key_hash") != InvalidAttrNumber;
	checkpoints_have_owner =
		get_attnum(schema_checkpoints, "owner") != InvalidAttrNumber;
	schema_events = get_relname_relid("events", nsp);
	events_have_key =
		get_attnum(schema_events, "aggregate_id") != InvalidAttrNumber;
	events_have_tags = get_attnum(schema_events, "tags") != InvalidAttrNumber;
}

/* Whether the installed schema predates 0.2.0 (no aggregate_heads.key_hash). */
static bool
schema_is_legacy(void)
{
	if (!schema_known)
		schema_load();
	return !heads_have_key_hash;
}

/* Whether checkpoints have owners (the schema is 0.2.1 or later). */
bool
es_checkpoints_have_owner(void)
{
	if (!schema_known)
		schema_load();
	return checkpoints_have_owner;
}

/* Whether event rows carry the aggregate's key (the schema is 0.3.0 or later). */
bool
es_events_have_key(void)
{
	if (!schema_known)
		schema_load();
	return events_have_key;
}

/* Whether events have tags (the schema is 0.4.0 or later). */
bool
es_events_have_tags(void)
{
	if (!schema_known)
		schema_load();
	return events_have_tags;
}

/*
 * The kept plan for a statement, preparing it on first use.  Must be called
 * while connected to SPI.
 */
SPIPlanPtr
es_plan(EsPlanId id)
{
	const EsPlanDef *def;
	SPIPlanPtr	plan;
	SPIPlanPtr *slot;
	bool		citus;

	Assert(id >= 0 && id < ES_NUM_PLANS);
	citus = es_citus_schema(es_extension_schema());
	slot = &plans[citus][id];
	def = &plan_defs[id];
	if (no_key_hash_defs[id].sql != NULL && schema_is_legacy())
	{
		def = &no_key_hash_defs[id];
		slot = &no_key_hash_plans[citus][id];
	}
	else if (no_owner_defs[id].sql != NULL && !es_checkpoints_have_owner())
	{
		def = &no_owner_defs[id];
		slot = &no_owner_plans[citus][id];
	}
	else if (no_event_key_defs[id].sql != NULL && !es_events_have_key())
	{
		def = &no_event_key_defs[id];
		slot = &no_event_key_plans[citus][id];
	}
	else if (no_tags_defs[id].sql != NULL && !es_events_have_tags())
	{
		def = &no_tags_defs[id];
		slot = &no_tags_plans[citus][id];
	}
	else if (citus && citus_defs[id].sql != NULL &&
			 es_citus_events_distributed(es_extension_schema()))
	{
		def = &citus_defs[id];
		slot = &citus_plans[id];
	}
	if (*slot != NULL)
		return *slot;

	/*
	 * The generic plan, but on Citus tables: every statement here is an
	 * index lookup or an index range scan whatever the parameters, and
	 * PostgreSQL's plan cache would otherwise keep re-planning those whose
	 * LIMIT or range is a parameter (a custom plan looks cheaper for them),
	 * at a planning cost larger than the execution of a feed page of 100
	 * events.
	 */
	plan = SPI_prepare_cursor(def->sql, def->nargs, (Oid *) def->argtypes,
							  citus ? CURSOR_OPT_CUSTOM_PLAN :
							  CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "could not prepare es_store statement %d: %s",
			 (int) id, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep es_store statement %d", (int) id);
	*slot = plan;
	return plan;
}

static Oid	position_sequence = InvalidOid;

/* Relcache invalidation: forget the cached sequence OID when it changes. */
static void
position_sequence_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == position_sequence)
		position_sequence = InvalidOid;
}

/*
 * OID of es_store.global_position_seq, checked to still be defined as the
 * feed's safety argument needs (registry.c): CACHE 1 (values handed out in
 * the order they are drawn, across sessions), a positive INCREMENT, NO
 * CYCLE and MINVALUE >= 1.  The OID is cached per backend and forgotten on
 * the sequence's relcache invalidation (DROP EXTENSION, ALTER SEQUENCE); the
 * definition is checked on each call with one syscache probe.
 */
Oid
es_position_sequence(void)
{
	static bool callback_registered = false;
	Oid			seq = position_sequence;
	HeapTuple	tup;
	Form_pg_sequence form;
	int64		seqmin;
	int64		seqmax;

	if (!OidIsValid(seq))
	{
		seq = get_relname_relid("global_position_seq", es_extension_schema());
		if (!OidIsValid(seq))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation \"es_store.global_position_seq\" does not exist"),
					 errdetail("es_store draws global positions from this sequence."),
					 errhint("Drop and create the extension again, or restore the sequence from a backup.")));
		if (!es_extension_member(seq))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("es_store.global_position_seq is not a member of extension es_store"),
					 errdetail("es_store draws global positions only from its own sequence."),
					 errhint("ALTER EXTENSION es_store ADD SEQUENCE es_store.global_position_seq;")));
		if (!callback_registered)
		{
			es_add_relcache_inval(position_sequence_inval);
			callback_registered = true;
		}
		position_sequence = seq;
	}
	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seq));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", seq);
	form = (Form_pg_sequence) GETSTRUCT(tup);
	if (form->seqcache != 1 || form->seqincrement < 1 || form->seqcycle ||
		form->seqmin < 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("es_store.global_position_seq has been altered"),
				 errdetail("The global feed needs CACHE 1, a positive INCREMENT, NO CYCLE and MINVALUE 1 or more; the sequence has CACHE %lld, INCREMENT %lld, %s, MINVALUE %lld.",
						   (long long) form->seqcache,
						   (long long) form->seqincrement,
						   form->seqcycle ? "CYCLE" : "NO CYCLE",
						   (long long) form->seqmin),
				 errhint("ALTER SEQUENCE es_store.global_position_seq CACHE 1 INCREMENT 1 NO CYCLE MINVALUE 1;")));
	seqmin = form->seqmin;
	seqmax = form->seqmax;
	ReleaseSysCache(tup);
	es_citus_check_sequence(seqmin, seqmax);
	return seq;
}

/*
 * Append the statement sql to buf with its tables es_store.events e and
 * es_store.aggregate_heads h named as their shards events and heads (Citus
 * names a shard after its table and shard id), each exactly once.
 */
static void
append_on_shards(StringInfo buf, const char *sql, int64 events, int64 heads)
{
	static const char *const tables[2] = {"es_store.events e ",
	"es_store.aggregate_heads h "};
	int64		shards[2] = {events, heads};
	int			found[2] = {0, 0};
	const char *p = sql;

	while (*p != '\0')
	{
		bool		named = false;

		for (int t = 0; t < 2 && !named; t++)
		{
			size_t		len = strlen(tables[t]) - 3;	/* without " e " */

			if (strncmp(p, tables[t], len + 3) != 0)
				continue;
			appendBinaryStringInfo(buf, p, len);
			appendStringInfo(buf, "_" INT64_FORMAT " %c ", shards[t], tables[t][len + 1]);
			p += len + 3;
			found[t]++;
			named = true;
		}
		if (!named)
			appendStringInfoChar(buf, *p++);
	}
	if (found[0] != 1 || found[1] != 1)
		elog(ERROR, "es_store's feed statement does not name its tables once each");
}

/*
 * The feed page of a Citus worker over the shards it holds (citus_feed.c):
 * the filtered feed read (ES_PLAN_READ_FEED_FILTERED, with its eight
 * parameters) on each pair of colocated shards of events and heads
 * (shards[2i], shards[2i + 1]), the first $8 of them all in position order.
 */
char *
es_shard_feed_sql(const int64 *shards, int npairs)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT * FROM (");
	for (int i = 0; i < npairs; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (i > 0)
			appendStringInfoString(&buf, " UNION ALL ");
		appendStringInfoChar(&buf, '(');
		append_on_shards(&buf, READ_FEED_FILTERED_SQL(ROW_COLUMNS),
						 shards[2 * i], shards[2 * i + 1]);
		appendStringInfoChar(&buf, ')');
	}
	appendStringInfoString(&buf, ") u ORDER BY u.global_position LIMIT $8");
	return buf.data;
}
