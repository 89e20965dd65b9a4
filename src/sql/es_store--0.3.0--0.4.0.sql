/* src/sql/es_store--0.3.0--0.4.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION es_store UPDATE TO '0.4.0'" to load this file. \quit

-- 0.4.0: events carry tags (Dynamic Consistency Boundary, README).  The
-- column is added last, without a default: no rewrite, and a row stored
-- before the update reads as one without tags.

-- Events of no aggregate (src/dcb.c) take the stream id
-- -9223372036854775808, which 0.4.0 never gives a head row; 0.3.0 gave
-- every new aggregate its key's hash, which could be that value (a chance
-- of one in 2^64 per aggregate).
DO $check$
BEGIN
	IF EXISTS (SELECT 1 FROM es_store.aggregate_heads h
			   WHERE h.stream_id OPERATOR(pg_catalog.=) -9223372036854775808) THEN
		RAISE EXCEPTION 'cannot update es_store to 0.4.0: an aggregate has the stream id -9223372036854775808'
			USING ERRCODE = '55000',
				  DETAIL = 'es_store 0.4.0 keeps that stream id for events of no aggregate.',
				  HINT = 'Report this to the es_store developers; it happens once in 2^64 aggregates.';
	END IF;
END
$check$;

ALTER TABLE es_store.events ADD COLUMN tags text[];
COMMENT ON COLUMN es_store.events.tags IS 'the event''s tags (0.4.0), NULL when it has none';

-- The tags of the events that have some (0.4.0), one row per distinct tag
-- of an event, by a 64-bit hash of the tag (hashtextextended(tag, 0)):
-- queries over tags find their candidates here in position order and
-- check each against the event's own tags (src/dcb.c).  Written with
-- the event, deleted with it (forget, purge).
CREATE TABLE es_store.event_tags (
	tag_hash			bigint NOT NULL,
	global_position		bigint NOT NULL,
	-- the replica identity, which logical replication needs for the
	-- deletes of forget and the purge; an event has one row per hash
	CONSTRAINT event_tags_hash_position PRIMARY KEY (tag_hash, global_position)
);
SELECT pg_catalog.pg_extension_config_dump('es_store.event_tags', '');
COMMENT ON TABLE es_store.event_tags IS 'the tags of the events that have some, by hash, for queries over tags';
REVOKE ALL ON TABLE es_store.event_tags FROM PUBLIC;

ALTER TYPE es_store.event ADD ATTRIBUTE tags text[];
COMMENT ON TYPE es_store.event IS 'one stored event as returned by the read functions (payload or payload_bytes is set; tags NULL when none)';

-- load_aggregate's rows: es_store.event's columns, then snapshot_version.
-- A type's attributes cannot be reordered, so the type and the function
-- are made again.
DROP FUNCTION es_store.load_aggregate(text, text, text, integer);
DROP TYPE es_store.aggregate_row;
-- es_store.event's columns, then the snapshot's schema version: the rows
-- load_aggregate returns (the snapshot first, then the events after it).
CREATE TYPE es_store.aggregate_row AS (
	global_position		bigint,
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	aggregate_version	bigint,
	event_id			uuid,
	event_type			text,
	event_version		integer,
	payload				jsonb,
	metadata			jsonb,
	correlation_id		text,
	causation_id		text,
	trace_id			text,
	created_at			timestamptz,
	payload_bytes		bytea,
	tags				text[],
	snapshot_version	integer
);
COMMENT ON TYPE es_store.aggregate_row IS 'a row of load_aggregate: the snapshot (snapshot_version set) or an event';

CREATE FUNCTION es_store.load_aggregate(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	snapshot_version	integer DEFAULT NULL)
RETURNS SETOF es_store.aggregate_row
AS 'MODULE_PATHNAME', 'es_load_aggregate'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER ROWS 100;
COMMENT ON FUNCTION es_store.load_aggregate(text, text, text, integer)
	IS 'an aggregate for rehydration: its snapshot (if any) and the events after it, in one result';
REVOKE ALL ON FUNCTION es_store.load_aggregate(text, text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION es_store.load_aggregate(text, text, text, integer)
	TO es_store_writer, es_store_reader, es_store_admin;

-- The appends take the events' tags as a last parameter: each function is
-- made again with it (a new overload would make every call without tags
-- ambiguous).
DROP FUNCTION es_store.append(text, text, text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text);
DROP FUNCTION es_store.append_event(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text);
DROP FUNCTION es_store.append_at_version(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text);
DROP FUNCTION es_store.append_stream(text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text);
DROP FUNCTION es_store.append_bytes(text, text, text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text);
DROP FUNCTION es_store.append_event_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text);
DROP FUNCTION es_store.append_at_version_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text);
DROP FUNCTION es_store.append_stream_bytes(text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text);

CREATE FUNCTION es_store.append(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	expected_version	bigint,
	event_types			text[],
	payloads			jsonb[],
	metadata			jsonb[] DEFAULT NULL,
	event_ids			uuid[] DEFAULT NULL,
	event_versions		integer[] DEFAULT NULL,
	correlation_id		text DEFAULT NULL,
	causation_id		text DEFAULT NULL,
	trace_id			text DEFAULT NULL,
	tags				text[] DEFAULT NULL)
RETURNS SETOF es_store.append_result
AS 'MODULE_PATHNAME', 'es_append'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 10;
COMMENT ON FUNCTION es_store.append(text, text, text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text, text[])
	IS 'append a batch of events to one aggregate with an expected version (NULL any, 0 none, -1 exists, N exact)';

CREATE FUNCTION es_store.append_event(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	expected_version	bigint,
	event_type			text,
	payload				jsonb,
	metadata			jsonb DEFAULT NULL,
	event_id			uuid DEFAULT NULL,
	event_version		integer DEFAULT 1,
	correlation_id		text DEFAULT NULL,
	causation_id		text DEFAULT NULL,
	trace_id			text DEFAULT NULL,
	tags				text[] DEFAULT NULL)
RETURNS es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_event'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.append_event(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text, text[])
	IS 'append one event to one aggregate with an expected version (NULL any, 0 none, -1 exists, N exact)';

CREATE FUNCTION es_store.append_at_version(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	aggregate_version	bigint,
	event_type			text,
	payload				jsonb,
	metadata			jsonb DEFAULT NULL,
	event_id			uuid DEFAULT NULL,
	event_version		integer DEFAULT 1,
	correlation_id		text DEFAULT NULL,
	causation_id		text DEFAULT NULL,
	trace_id			text DEFAULT NULL,
	tags				text[] DEFAULT NULL)
RETURNS es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_at_version'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.append_at_version(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text, text[])
	IS 'append one event at a caller-chosen version; uniqueness of the version is the only check';

CREATE FUNCTION es_store.append_stream(
	stream_name			text,
	expected_version	bigint,
	event_types			text[],
	payloads			jsonb[],
	metadata			jsonb[] DEFAULT NULL,
	event_ids			uuid[] DEFAULT NULL,
	event_versions		integer[] DEFAULT NULL,
	correlation_id		text DEFAULT NULL,
	causation_id		text DEFAULT NULL,
	trace_id			text DEFAULT NULL,
	tags				text[] DEFAULT NULL)
RETURNS SETOF es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_stream'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 10;
COMMENT ON FUNCTION es_store.append_stream(text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text, text[])
	IS 'append a batch of events to the stream named by one string (see es_store.stream_key)';

CREATE FUNCTION es_store.append_bytes(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	expected_version	bigint,
	event_types			text[],
	payloads			bytea[],
	metadata			jsonb[] DEFAULT NULL,
	event_ids			uuid[] DEFAULT NULL,
	event_versions		integer[] DEFAULT NULL,
	correlation_id		text DEFAULT NULL,
	causation_id		text DEFAULT NULL,
	trace_id			text DEFAULT NULL,
	tags				text[] DEFAULT NULL)
RETURNS SETOF es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_bytes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 10;
COMMENT ON FUNCTION es_store.append_bytes(text, text, text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text, text[])
	IS 'append a batch of events with bytea payloads to one aggregate (as es_store.append)';

CREATE FUNCTION es_store.append_event_bytes(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	expected_version	bigint,
	event_type			text,
	payload				bytea,
	metadata			jsonb DEFAULT NULL,
	event_id			uuid DEFAULT NULL,
	event_version		integer DEFAULT 1,
	correlation_id		text DEFAULT NULL,
	causation_id		text DEFAULT NULL,
	trace_id			text DEFAULT NULL,
	tags				text[] DEFAULT NULL)
RETURNS es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_event_bytes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.append_event_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text, text[])
	IS 'append one event with a bytea payload to one aggregate (as es_store.append_event)';

CREATE FUNCTION es_store.append_at_version_bytes(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	aggregate_version	bigint,
	event_type			text,
	payload				bytea,
	metadata			jsonb DEFAULT NULL,
	event_id			uuid DEFAULT NULL,
	event_version		integer DEFAULT 1,
	correlation_id		text DEFAULT NULL,
	causation_id		text DEFAULT NULL,
	trace_id			text DEFAULT NULL,
	tags				text[] DEFAULT NULL)
RETURNS es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_at_version_bytes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.append_at_version_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text, text[])
	IS 'append one event with a bytea payload at a caller-chosen version (as es_store.append_at_version)';

CREATE FUNCTION es_store.append_stream_bytes(
	stream_name			text,
	expected_version	bigint,
	event_types			text[],
	payloads			bytea[],
	metadata			jsonb[] DEFAULT NULL,
	event_ids			uuid[] DEFAULT NULL,
	event_versions		integer[] DEFAULT NULL,
	correlation_id		text DEFAULT NULL,
	causation_id		text DEFAULT NULL,
	trace_id			text DEFAULT NULL,
	tags				text[] DEFAULT NULL)
RETURNS SETOF es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_stream_bytes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 10;
COMMENT ON FUNCTION es_store.append_stream_bytes(text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text, text[])
	IS 'append a batch of events with bytea payloads to the stream named by one string (as es_store.append_stream)';

REVOKE ALL ON FUNCTION
	es_store.append(text, text, text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text, text[]),
	es_store.append_event(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text, text[]),
	es_store.append_at_version(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text, text[]),
	es_store.append_stream(text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text, text[]),
	es_store.append_bytes(text, text, text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text, text[]),
	es_store.append_event_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text, text[]),
	es_store.append_at_version_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text, text[]),
	es_store.append_stream_bytes(text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text, text[])
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	es_store.append(text, text, text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text, text[]),
	es_store.append_event(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text, text[]),
	es_store.append_at_version(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text, text[]),
	es_store.append_stream(text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text, text[]),
	es_store.append_bytes(text, text, text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text, text[]),
	es_store.append_event_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text, text[]),
	es_store.append_at_version_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text, text[]),
	es_store.append_stream_bytes(text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text, text[])
	TO es_store_writer, es_store_admin;

--
-- Dynamic Consistency Boundary (0.4.0, src/dcb.c): queries over event
-- types and tags, and appends with a condition on them.
--
CREATE FUNCTION es_store.read_query(
	query				jsonb,
	after_position		bigint DEFAULT 0,
	max_count			integer DEFAULT NULL,
	up_to_position		bigint DEFAULT NULL)
RETURNS SETOF es_store.event
AS 'MODULE_PATHNAME', 'es_read_query'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 100;
COMMENT ON FUNCTION es_store.read_query(jsonb, bigint, integer, bigint)
	IS 'the events a query over event types and tags matches, after a position, up to the safe position, in position order';

CREATE FUNCTION es_store.read_query_position()
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_read_query_position'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.read_query_position()
	IS 'the position the last read_query of this session looked up to: the after_position of an append condition decided on it';

CREATE FUNCTION es_store.append_if(
	events					jsonb,
	fail_if_events_match	jsonb DEFAULT NULL,
	after_position			bigint DEFAULT 0,
	expected_version		bigint DEFAULT NULL)
RETURNS SETOF es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_if'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 10;
COMMENT ON FUNCTION es_store.append_if(jsonb, jsonb, bigint, bigint)
	IS 'append events (of one aggregate, or of none) only if no event the query matches was appended after the position (SE008)';

REVOKE ALL ON FUNCTION
	es_store.read_query(jsonb, bigint, integer, bigint),
	es_store.read_query_position(),
	es_store.append_if(jsonb, jsonb, bigint, bigint)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION es_store.read_query(jsonb, bigint, integer, bigint),
	es_store.read_query_position()
	TO es_store_writer, es_store_reader, es_store_admin;
GRANT EXECUTE ON FUNCTION es_store.append_if(jsonb, jsonb, bigint, bigint)
	TO es_store_writer, es_store_admin;

-- Citus (0.4.0): the trigger the README's distribution recipe puts on
-- es_store.events, which Citus then runs on every shard, on the shard's
-- node: that node holds its appender registry at the row's position until
-- its own part of the transaction has ended (src/cluster.c).  Attached to
-- nothing on a single node.
CREATE FUNCTION es_store.events_hold_feed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'es_events_hold_feed'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.events_hold_feed()
	IS 'on a distributed store, hold the feed of the node a row lands on at its position until that node''s transaction ends';
REVOKE ALL ON FUNCTION es_store.events_hold_feed() FROM PUBLIC;

-- Citus (0.4.0): one position space per Citus group (src/cluster.c).  The
-- coordinator gives every worker its space once, after distributing, and
-- again after adding a worker; consumers read each group's feed after its
-- first position - 1 (README, Scaling).
CREATE FUNCTION es_store.citus_distribute()
RETURNS integer
AS 'MODULE_PATHNAME', 'es_citus_distribute'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.citus_distribute()
	IS 'on a Citus coordinator, an empty store: distribute the per-aggregate tables by aggregate_id and delegate the functions of one aggregate to its shard''s node (then call citus_claim_position_spaces)';

CREATE FUNCTION es_store.citus_claim_position_spaces()
RETURNS integer
AS 'MODULE_PATHNAME', 'es_citus_claim_position_spaces'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.citus_claim_position_spaces()
	IS 'on the coordinator of a distributed store: give every active worker its own position space, so that it may append';

CREATE FUNCTION es_store.citus_claim_local_position_space()
RETURNS integer
AS 'MODULE_PATHNAME', 'es_citus_claim_local_position_space'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.citus_claim_local_position_space()
	IS 'on a Citus worker: make es_store''s position sequence draw from this group''s space (called by citus_claim_position_spaces)';

CREATE FUNCTION es_store.citus_node_feed_state(
	OUT group_id		integer,
	OUT safe_position	bigint,
	OUT lowest_held		bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'es_citus_node_feed_state'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.citus_node_feed_state()
	IS 'what the coordinator asks each Citus worker for the feed: its group, its own space''s safe position, the lowest coordinator position it holds';

CREATE FUNCTION es_store.citus_node_feed_page(
	shards				bigint[],
	after_position		bigint,
	up_to_position		bigint,
	bounded_contexts	text[],
	aggregate_types		text[],
	event_types			text[],
	segment				bigint,
	segment_count		bigint,
	max_count			bigint)
RETURNS SETOF es_store.event
AS 'MODULE_PATHNAME', 'es_citus_node_feed_page'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL UNSAFE SECURITY INVOKER ROWS 100;
COMMENT ON FUNCTION es_store.citus_node_feed_page(bigint[], bigint, bigint, text[], text[], text[], bigint, bigint, bigint)
	IS 'what the coordinator asks a Citus worker for a feed page: the rows of the shards it names, in position order';

CREATE FUNCTION es_store.position_spaces(
	OUT group_id		integer,
	OUT first_position	bigint,
	OUT safe_position	bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'es_position_spaces'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 4;
COMMENT ON FUNCTION es_store.position_spaces()
	IS 'the feed''s position spaces (one per Citus group; only group 0 on a single node), each with its first position and its safe position now';

REVOKE ALL ON FUNCTION
	es_store.citus_distribute(),
	es_store.citus_claim_position_spaces(),
	es_store.citus_claim_local_position_space(),
	es_store.citus_node_feed_state(),
	es_store.citus_node_feed_page(bigint[], bigint, bigint, text[], text[], text[], bigint, bigint, bigint),
	es_store.position_spaces()
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION es_store.position_spaces()
	TO es_store_writer, es_store_reader, es_store_admin;

-- The operations views measure each checkpoint and segment against its
-- own position space's bound (a Citus group's on a distributed store),
-- and find the first unread event through a function (0.4.0), which Citus
-- plans apart from the coordinator's tables.
-- When the first event after a position, up to a bound, was committed
-- (with track_commit_timestamp on) or else appended (its created_at), NULL
-- when there is none (or a bound is NULL): of one segment of
-- segment_count when both are given, as read_feed's filter computes it
-- (src/scan.c feed_filter_keeps; 22023 for a segment that is not one).  What
-- consumer_status and group_status show as oldest_unread_at, one call per
-- row.  A function of its own (0.4.0), so that on a distributed store
-- Citus plans the look apart: it refuses a view's join of the
-- coordinator's checkpoints with the distributed events.  In PL/pgSQL,
-- since Citus does not plan a SQL function's parameters; SECURITY DEFINER
-- to read the events for a monitor, which may not.
CREATE FUNCTION es_store.oldest_unread_at(
	after_position		bigint,
	up_to_position		bigint,
	segment				integer DEFAULT NULL,
	segment_count		integer DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $unread$
BEGIN
	IF segment IS NOT NULL AND segment_count IS NOT NULL
	   AND (segment_count OPERATOR(pg_catalog.<) 1 OR segment OPERATOR(pg_catalog.<) 0
			OR segment OPERATOR(pg_catalog.>=) segment_count) THEN
		RAISE EXCEPTION 'segment % of % does not exist', segment, segment_count
			USING ERRCODE = '22023',
				  HINT = 'Give a segment from 0 to segment_count - 1, as read_feed takes them.';
	END IF;
	RETURN (
		SELECT COALESCE(CASE WHEN pg_catalog.current_setting('track_commit_timestamp')
								  OPERATOR(pg_catalog.=) 'on'
							 THEN pg_catalog.pg_xact_commit_timestamp(e.xmin) END,
						e.created_at)
		FROM es_store.events e
		WHERE e.global_position OPERATOR(pg_catalog.>) after_position
		  AND e.global_position OPERATOR(pg_catalog.<=) up_to_position
		  AND (segment IS NULL OR segment_count IS NULL
			   OR (pg_catalog.hashtextextended(CAST(pg_catalog.length(e.bounded_context) AS pg_catalog.text) OPERATOR(pg_catalog.||) ':'
						OPERATOR(pg_catalog.||) e.bounded_context OPERATOR(pg_catalog.||)
						CAST(pg_catalog.length(e.aggregate_type) AS pg_catalog.text) OPERATOR(pg_catalog.||) ':'
						OPERATOR(pg_catalog.||) e.aggregate_type OPERATOR(pg_catalog.||) e.aggregate_id, 0)
					 OPERATOR(pg_catalog.%) CAST(segment_count AS pg_catalog.int8)
					 OPERATOR(pg_catalog.+) segment_count)
				  OPERATOR(pg_catalog.%) segment_count OPERATOR(pg_catalog.=) segment)
		ORDER BY e.global_position
		LIMIT 1);
END
$unread$;
COMMENT ON FUNCTION es_store.oldest_unread_at(bigint, bigint, integer, integer)
	IS 'when the first event after a position, up to a bound (of one segment, if given), was committed or appended: the operations views'' oldest_unread_at';
REVOKE ALL ON FUNCTION es_store.oldest_unread_at(bigint, bigint, integer, integer) FROM PUBLIC;

CREATE OR REPLACE VIEW es_store.consumer_status AS
SELECT c.name, c.owner, c.position, c.updated_at AS saved_at,
	   f.safe_position,
	   f.safe_position OPERATOR(pg_catalog.-) LEAST(c.position, f.safe_position) AS positions_behind,
	   u.unread_at AS oldest_unread_at,
	   pg_catalog.now() OPERATOR(pg_catalog.-) u.unread_at AS time_behind
FROM es_store.checkpoints c
-- the bound of the checkpoint's own position space (its Citus group's:
-- the position's top bits, src/es_store.h es_space_of)
LEFT JOIN es_store.position_spaces() f
  ON f.group_id OPERATOR(pg_catalog.=)
	 CAST(GREATEST(c.position, 0) OPERATOR(pg_catalog.>>) 48 AS pg_catalog.int4)
CROSS JOIN LATERAL (
	SELECT es_store.oldest_unread_at(c.position, f.safe_position) AS unread_at) u;
CREATE OR REPLACE VIEW es_store.group_status AS
SELECT s.group_name, s.segment, g.segment_count, g.owner, s.consumer, s.lease_until,
	   s.lease_until OPERATOR(pg_catalog.<) pg_catalog.clock_timestamp() AS lease_expired,
	   s.position, s.saved_at, f.safe_position,
	   f.safe_position OPERATOR(pg_catalog.-) LEAST(s.position, f.safe_position) AS positions_behind,
	   u.unread_at AS oldest_unread_at,
	   pg_catalog.now() OPERATOR(pg_catalog.-) u.unread_at AS time_behind,
	   (SELECT pg_catalog.count(*) FROM es_store.parked_events p
		WHERE p.group_name OPERATOR(pg_catalog.=) s.group_name
		  AND p.segment OPERATOR(pg_catalog.=) s.segment) AS parked
FROM es_store.group_segments s
JOIN es_store.consumer_groups g ON g.name OPERATOR(pg_catalog.=) s.group_name
-- the bound of the segment's position space, as for consumer_status
LEFT JOIN es_store.position_spaces() f
  ON f.group_id OPERATOR(pg_catalog.=)
	 CAST(GREATEST(s.position, 0) OPERATOR(pg_catalog.>>) 48 AS pg_catalog.int4)
CROSS JOIN LATERAL (
	SELECT es_store.oldest_unread_at(s.position, f.safe_position, s.segment, g.segment_count)
		AS unread_at) u;
GRANT EXECUTE ON FUNCTION es_store.position_spaces() TO es_store_monitor;
GRANT EXECUTE ON FUNCTION es_store.oldest_unread_at(bigint, bigint, integer, integer)
	TO es_store_monitor, es_store_admin;
