/* src/sql/es_store--0.2.1--0.3.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION es_store UPDATE TO '0.3.0'" to load this file. \quit

-- 0.3.0: each event row carries its aggregate's key, in es_store.event's
-- column order, and a bytea payload column beside the jsonb one (see the
-- README, History, and src/scan.c).  PostgreSQL
-- cannot reorder a table's columns, so the update writes the events into a
-- new table and drops the old one, in the update's transaction: it holds
-- an ACCESS EXCLUSIVE lock on es_store.events for as long as the copy and
-- the three index builds take (README, Upgrading).

-- What the update would drop with the old table without saying so: a
-- user's own triggers, rules, policies and indexes on es_store.events.  A
-- view or a foreign key that depends on it makes DROP TABLE below fail by
-- itself, with PostgreSQL's own message.  The update refuses instead, so
-- that nothing is lost silently.
DO $check$
DECLARE
	what	text;
BEGIN
	SELECT pg_catalog.string_agg(d.description, ', ') INTO what
	FROM (SELECT pg_catalog.format('trigger %I', t.tgname) AS description
		  FROM pg_catalog.pg_trigger t
		  WHERE t.tgrelid OPERATOR(pg_catalog.=) 'es_store.events'::pg_catalog.regclass
			AND NOT t.tgisinternal
			AND t.tgname OPERATOR(pg_catalog.<>) ALL (ARRAY['events_append_only', 'events_append_only_truncate'])
		  UNION ALL
		  SELECT pg_catalog.format('rule %I', r.rulename)
		  FROM pg_catalog.pg_rewrite r
		  WHERE r.ev_class OPERATOR(pg_catalog.=) 'es_store.events'::pg_catalog.regclass
		  UNION ALL
		  SELECT pg_catalog.format('policy %I', p.polname)
		  FROM pg_catalog.pg_policy p
		  WHERE p.polrelid OPERATOR(pg_catalog.=) 'es_store.events'::pg_catalog.regclass
		  UNION ALL
		  SELECT pg_catalog.format('index %I', c.relname)
		  FROM pg_catalog.pg_index i
		  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid
		  WHERE i.indrelid OPERATOR(pg_catalog.=) 'es_store.events'::pg_catalog.regclass
			AND c.relname OPERATOR(pg_catalog.<>) ALL (ARRAY['events_pkey', 'events_stream_version_key', 'events_event_id_key'])
		  ORDER BY 1) d;
	IF what IS NOT NULL THEN
		RAISE EXCEPTION 'cannot update es_store to 0.3.0: es_store.events has objects the update would drop: %', what
			USING ERRCODE = '55000',
				  DETAIL = 'The update rewrites es_store.events into a new table and drops the old one with everything attached to it.',
				  HINT = 'Drop these objects, update, then create them again on the new table.';
	END IF;
END
$check$;

CREATE TABLE es_store.events_0_3_0 (
	global_position		bigint NOT NULL,
	bounded_context		text NOT NULL,
	aggregate_type		text NOT NULL,
	aggregate_id		text NOT NULL,
	aggregate_version	bigint NOT NULL,
	event_id			uuid NOT NULL,
	event_type			text NOT NULL,
	event_version		integer NOT NULL,
	payload				jsonb,
	metadata			jsonb NOT NULL,
	correlation_id		text,
	causation_id		text,
	trace_id			text,
	created_at			timestamptz NOT NULL,
	payload_bytes		bytea,
	stream_id			bigint NOT NULL,
	batch_size			integer NOT NULL DEFAULT 1
);

-- In position order, so that a feed page reads consecutive pages.  Which
-- events were appended together is not known before 0.3.0 (batch_size -1).
INSERT INTO es_store.events_0_3_0 (global_position, bounded_context,
	aggregate_type, aggregate_id, aggregate_version, event_id, event_type,
	event_version, payload, metadata, correlation_id, causation_id, trace_id,
	created_at, stream_id, batch_size)
SELECT e.global_position, h.bounded_context, h.aggregate_type, h.aggregate_id,
	   e.aggregate_version, e.event_id, e.event_type, e.event_version,
	   e.payload, e.metadata, e.correlation_id, e.causation_id, e.trace_id,
	   e.created_at, e.stream_id, -1
FROM es_store.events e
JOIN es_store.aggregate_heads h ON h.stream_id OPERATOR(pg_catalog.=) e.stream_id
ORDER BY e.global_position;

-- Every event has its head row (the appends create it first); an event
-- without one would be lost here, so the update stops instead.
DO $count$
DECLARE
	old_count	bigint;
	new_count	bigint;
BEGIN
	SELECT pg_catalog.count(*) INTO old_count FROM es_store.events;
	SELECT pg_catalog.count(*) INTO new_count FROM es_store.events_0_3_0;
	IF old_count OPERATOR(pg_catalog.<>) new_count THEN
		RAISE EXCEPTION 'cannot update es_store to 0.3.0: % of % events have no row in es_store.aggregate_heads',
			old_count OPERATOR(pg_catalog.-) new_count, old_count
			USING ERRCODE = '55000',
				  DETAIL = 'Each event row must get its aggregate''s key from the head row its stream_id names.',
				  HINT = 'Find them with: SELECT e.* FROM es_store.events e WHERE NOT EXISTS (SELECT 1 FROM es_store.aggregate_heads h WHERE h.stream_id = e.stream_id);';
	END IF;
END
$count$;

-- The old table gives way to the new one, which gets its constraints (the
-- indexes are built now, once, rather than row by row during the copy) and
-- the grants and publications a DBA gave the old one.
DO $swap$
DECLARE
	grants			record;
	grant_list		text[];
	publications	name[];
	statement		text;
BEGIN
	SELECT pg_catalog.array_agg(pg_catalog.format('GRANT %s ON TABLE es_store.events TO %s%s',
				a.privilege_type,
				CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
					 ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END,
				CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END))
	INTO grant_list
	FROM pg_catalog.pg_class c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
	WHERE c.oid OPERATOR(pg_catalog.=) 'es_store.events'::pg_catalog.regclass
	  AND a.grantee OPERATOR(pg_catalog.<>) c.relowner;
	SELECT pg_catalog.array_agg(p.pubname) INTO publications
	FROM pg_catalog.pg_publication_rel r
	JOIN pg_catalog.pg_publication p ON p.oid OPERATOR(pg_catalog.=) r.prpubid
	WHERE r.prrelid OPERATOR(pg_catalog.=) 'es_store.events'::pg_catalog.regclass;

	-- out of the extension first, which also takes it off the list of
	-- tables pg_dump dumps (pg_extension.extconfig)
	ALTER EXTENSION es_store DROP TABLE es_store.events;
	DROP TABLE es_store.events;
	ALTER TABLE es_store.events_0_3_0 RENAME TO events;
	ALTER TABLE es_store.events
		ADD CONSTRAINT events_pkey PRIMARY KEY (global_position),
		ADD CONSTRAINT events_stream_version_key UNIQUE (stream_id, aggregate_version),
		ADD CONSTRAINT events_event_id_key UNIQUE (event_id);
	REVOKE ALL ON TABLE es_store.events FROM PUBLIC;
	FOREACH statement IN ARRAY COALESCE(grant_list, '{}') LOOP
		EXECUTE statement;
	END LOOP;
	FOR grants IN SELECT pg_catalog.unnest(publications) AS pubname LOOP
		EXECUTE pg_catalog.format('ALTER PUBLICATION %I ADD TABLE es_store.events', grants.pubname);
	END LOOP;
END
$swap$;

-- The feed's markers ("$deleted", "$forgotten": the events of stream id 0)
-- by their key, so that a forget finds those of its aggregate without
-- reading every marker (src/lifecycle.c); a table of its own, so that
-- appends pay nothing for it.  The marker and its row here are written
-- and deleted together.
CREATE TABLE es_store.markers (
	global_position		bigint NOT NULL,
	bounded_context		text NOT NULL,
	aggregate_type		text NOT NULL,
	aggregate_id		text NOT NULL,
	CONSTRAINT markers_pkey PRIMARY KEY (global_position)
);
CREATE INDEX markers_key ON es_store.markers (bounded_context, aggregate_type, aggregate_id);
SELECT pg_catalog.pg_extension_config_dump('es_store.markers', '');
COMMENT ON TABLE es_store.markers IS 'the keys of the feed''s markers (stream id 0 in es_store.events)';
REVOKE ALL ON TABLE es_store.markers FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('es_store.events', '');
COMMENT ON TABLE es_store.events IS 'the append-only event log, one row per event';
COMMENT ON COLUMN es_store.events.batch_size IS 'on the first event of an append, its number of events; 0 on its other events; -1 when not known (stored before 0.3.0)';

CREATE TRIGGER events_append_only
	BEFORE UPDATE OR DELETE ON es_store.events
	FOR EACH STATEMENT EXECUTE FUNCTION es_store.forbid_event_changes();
CREATE TRIGGER events_append_only_truncate
	BEFORE TRUNCATE ON es_store.events
	FOR EACH STATEMENT EXECUTE FUNCTION es_store.forbid_event_changes();
ALTER TABLE es_store.events ENABLE ALWAYS TRIGGER events_append_only;
ALTER TABLE es_store.events ENABLE ALWAYS TRIGGER events_append_only_truncate;

ANALYZE es_store.events;

-- The entry points become the extension's owner themselves (src/guard.c),
-- which costs less per call than SECURITY DEFINER.
ALTER FUNCTION es_store.append(text, text, text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text) SECURITY INVOKER;
ALTER FUNCTION es_store.append_event(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text) SECURITY INVOKER;
ALTER FUNCTION es_store.append_at_version(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text) SECURITY INVOKER;
ALTER FUNCTION es_store.append_stream(text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text) SECURITY INVOKER;
ALTER FUNCTION es_store.append_events(bigint, jsonb) SECURITY INVOKER;
ALTER FUNCTION es_store.read_aggregate(text, text, text, bigint, bigint, integer) SECURITY INVOKER;
ALTER FUNCTION es_store.read_stream(text, bigint, bigint, integer) SECURITY INVOKER;
ALTER FUNCTION es_store.aggregate_version(text, text, text) SECURITY INVOKER;
ALTER FUNCTION es_store.stream_version(text) SECURITY INVOKER;
ALTER FUNCTION es_store.aggregate_exists(text, text, text) SECURITY INVOKER;
ALTER FUNCTION es_store.count_events(text, text, text, bigint) SECURITY INVOKER;
ALTER FUNCTION es_store.read_feed(bigint, integer, text[], text[], text[], integer, integer, bigint) SECURITY INVOKER;
ALTER FUNCTION es_store.last_position() SECURITY INVOKER;

-- Opaque payloads: es_store.event gains payload_bytes as its last column
-- (an event's payload is jsonb or bytes), and the appends of bytes.
ALTER TYPE es_store.event ADD ATTRIBUTE payload_bytes bytea;
COMMENT ON TYPE es_store.event IS 'one stored event as returned by the read functions (payload or payload_bytes is set)';
COMMENT ON FUNCTION es_store.append_events(bigint, jsonb)
	IS 'append a batch given as a JSON array of event objects (payload, or payload_bytes in base64), all for one aggregate';

--
-- Appends of opaque payloads: the same functions with a bytea payload,
-- stored byte for byte in payload_bytes (payload is then NULL).  They have
-- names of their own: an overload on the payload's type would make every
-- call whose payload is an untyped literal or parameter ambiguous.
--
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
	trace_id			text DEFAULT NULL)
RETURNS SETOF es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_bytes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 10;
COMMENT ON FUNCTION es_store.append_bytes(text, text, text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text)
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
	trace_id			text DEFAULT NULL)
RETURNS es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_event_bytes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.append_event_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text)
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
	trace_id			text DEFAULT NULL)
RETURNS es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_at_version_bytes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.append_at_version_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text)
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
	trace_id			text DEFAULT NULL)
RETURNS SETOF es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_stream_bytes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 10;
COMMENT ON FUNCTION es_store.append_stream_bytes(text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text)
	IS 'append a batch of events with bytea payloads to the stream named by one string (as es_store.append_stream)';

REVOKE ALL ON FUNCTION
	es_store.append_bytes(text, text, text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text),
	es_store.append_event_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text),
	es_store.append_at_version_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text),
	es_store.append_stream_bytes(text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	es_store.append_bytes(text, text, text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text),
	es_store.append_event_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text),
	es_store.append_at_version_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text),
	es_store.append_stream_bytes(text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text)
	TO es_store_writer, es_store_admin;

-- Snapshots.

-- One snapshot per aggregate, by its key: the state it had at
-- aggregate_version, in the schema version snapshot_version, with a jsonb
-- or a bytea payload (exactly one is set).  src/snapshot.c keeps an older
-- snapshot from replacing a newer one.
CREATE TABLE es_store.snapshots (
	bounded_context		text NOT NULL,
	aggregate_type		text NOT NULL,
	aggregate_id		text NOT NULL,
	aggregate_version	bigint NOT NULL,
	snapshot_version	integer NOT NULL,
	payload				jsonb,
	payload_bytes		bytea,
	metadata			jsonb NOT NULL,
	created_at			timestamptz NOT NULL,
	CONSTRAINT snapshots_pkey PRIMARY KEY (bounded_context, aggregate_type, aggregate_id)
);
SELECT pg_catalog.pg_extension_config_dump('es_store.snapshots', '');
COMMENT ON TABLE es_store.snapshots IS 'the latest snapshot of each aggregate that has one';
REVOKE ALL ON TABLE es_store.snapshots FROM PUBLIC;

--
-- Snapshots (src/snapshot.c).
--
CREATE TYPE es_store.snapshot AS (
	aggregate_version	bigint,
	snapshot_version	integer,
	payload				jsonb,
	payload_bytes		bytea,
	metadata			jsonb,
	created_at			timestamptz
);
COMMENT ON TYPE es_store.snapshot IS 'an aggregate''s snapshot as load_snapshot returns it';

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
	snapshot_version	integer
);
COMMENT ON TYPE es_store.aggregate_row IS 'a row of load_aggregate: the snapshot (snapshot_version set) or an event';

CREATE FUNCTION es_store.save_snapshot(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	aggregate_version	bigint,
	payload				jsonb,
	metadata			jsonb DEFAULT NULL,
	snapshot_version	integer DEFAULT 1,
	OUT saved			boolean,
	OUT stored_version	bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'es_save_snapshot'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.save_snapshot(text, text, text, bigint, jsonb, jsonb, integer)
	IS 'save an aggregate''s snapshot at a version it has, unless a newer one is stored';

CREATE FUNCTION es_store.save_snapshot_bytes(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	aggregate_version	bigint,
	payload				bytea,
	metadata			jsonb DEFAULT NULL,
	snapshot_version	integer DEFAULT 1,
	OUT saved			boolean,
	OUT stored_version	bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'es_save_snapshot_bytes'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.save_snapshot_bytes(text, text, text, bigint, bytea, jsonb, integer)
	IS 'save_snapshot with a bytea payload';

CREATE FUNCTION es_store.load_snapshot(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	snapshot_version	integer DEFAULT NULL)
RETURNS SETOF es_store.snapshot
AS 'MODULE_PATHNAME', 'es_load_snapshot'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER ROWS 1;
COMMENT ON FUNCTION es_store.load_snapshot(text, text, text, integer)
	IS 'an aggregate''s snapshot (no row when none, or none of that schema version)';

CREATE FUNCTION es_store.delete_snapshot(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'es_delete_snapshot'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.delete_snapshot(text, text, text)
	IS 'delete an aggregate''s snapshot; whether it had one';

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

REVOKE ALL ON FUNCTION
	es_store.save_snapshot(text, text, text, bigint, jsonb, jsonb, integer),
	es_store.save_snapshot_bytes(text, text, text, bigint, bytea, jsonb, integer),
	es_store.load_snapshot(text, text, text, integer),
	es_store.delete_snapshot(text, text, text),
	es_store.load_aggregate(text, text, text, integer)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	es_store.load_snapshot(text, text, text, integer),
	es_store.load_aggregate(text, text, text, integer)
	TO es_store_writer, es_store_reader, es_store_admin;
GRANT EXECUTE ON FUNCTION
	es_store.save_snapshot(text, text, text, bigint, jsonb, jsonb, integer),
	es_store.save_snapshot_bytes(text, text, text, bigint, bytea, jsonb, integer),
	es_store.delete_snapshot(text, text, text)
	TO es_store_writer, es_store_admin;

-- The streams' lifecycle: soft delete, forget, retention, stream metadata
-- (see es_store--0.3.0.sql).  Added columns: no rewrite of the head table.
ALTER TABLE es_store.aggregate_heads
	ADD COLUMN deleted_at		timestamptz,
	ADD COLUMN forgotten_at		timestamptz,
	ADD COLUMN truncate_before	bigint,
	ADD COLUMN max_count		bigint,
	ADD COLUMN max_age			interval,
	ADD COLUMN metadata			jsonb,
	ADD COLUMN filtered			boolean NOT NULL DEFAULT false;
CREATE INDEX aggregate_heads_filtered ON es_store.aggregate_heads (stream_id) WHERE filtered;

--
-- Stream lifecycle (src/lifecycle.c).
--
CREATE FUNCTION es_store.delete_aggregate(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	expected_version	bigint DEFAULT NULL,
	OUT deleted_version	bigint,
	OUT global_position	bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'es_delete_aggregate'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.delete_aggregate(text, text, text, bigint)
	IS 'soft-delete an aggregate: absent until an append reopens it; a "$deleted" marker in the feed';

REVOKE ALL ON FUNCTION es_store.delete_aggregate(text, text, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION es_store.delete_aggregate(text, text, text, bigint)
	TO es_store_writer, es_store_admin;

-- Reads by event id and backwards.
CREATE FUNCTION es_store.read_event(event_id uuid)
RETURNS SETOF es_store.event
AS 'MODULE_PATHNAME', 'es_read_event'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER ROWS 1;
COMMENT ON FUNCTION es_store.read_event(uuid)
	IS 'the event with this id (no row when none, or when it is hidden)';

CREATE FUNCTION es_store.read_aggregate_backward(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	before_version		bigint DEFAULT NULL,
	max_count			integer DEFAULT NULL)
RETURNS SETOF es_store.event
AS 'MODULE_PATHNAME', 'es_read_aggregate_backward'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER ROWS 100;
COMMENT ON FUNCTION es_store.read_aggregate_backward(text, text, text, bigint, integer)
	IS 'events of one aggregate below before_version (NULL = all), latest first, at most max_count';

REVOKE ALL ON FUNCTION
	es_store.read_event(uuid),
	es_store.read_aggregate_backward(text, text, text, bigint, integer)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	es_store.read_event(uuid),
	es_store.read_aggregate_backward(text, text, text, bigint, integer)
	TO es_store_writer, es_store_reader, es_store_admin;

--
-- Retention, stream metadata, forget, purge (src/retention.c,
-- src/lifecycle.c) and stats (src/stats.c).
--
CREATE TYPE es_store.stream_metadata AS (
	truncate_before		bigint,
	max_count			bigint,
	max_age				interval,
	metadata			jsonb
);
COMMENT ON TYPE es_store.stream_metadata IS 'a stream''s retention and the user''s own metadata';

CREATE FUNCTION es_store.set_stream_metadata(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	truncate_before		bigint DEFAULT NULL,
	max_count			bigint DEFAULT NULL,
	max_age				interval DEFAULT NULL,
	metadata			jsonb DEFAULT NULL)
RETURNS es_store.stream_metadata
AS 'MODULE_PATHNAME', 'es_set_stream_metadata'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.set_stream_metadata(text, text, text, bigint, bigint, interval, jsonb)
	IS 'replace a stream''s retention (truncate_before never moves back) and metadata; returns them';

CREATE FUNCTION es_store.get_stream_metadata(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text)
RETURNS SETOF es_store.stream_metadata
AS 'MODULE_PATHNAME', 'es_get_stream_metadata'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER ROWS 1;
COMMENT ON FUNCTION es_store.get_stream_metadata(text, text, text)
	IS 'a stream''s retention and metadata (no row when it does not exist or was forgotten)';

CREATE FUNCTION es_store.forget_aggregate(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	expected_version	bigint DEFAULT NULL,
	keep_tombstone		boolean DEFAULT true,
	OUT forgotten_version	bigint,
	OUT events_removed	bigint,
	OUT global_position	bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'es_forget_aggregate'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.forget_aggregate(text, text, text, bigint, boolean)
	IS 'administrators: remove an aggregate''s events, snapshot and metadata physically; a "$forgotten" marker in the feed';

CREATE FUNCTION es_store.purge(
	max_events			integer DEFAULT 10000,
	markers_before		timestamptz DEFAULT NULL,
	OUT events_removed	bigint,
	OUT markers_removed	bigint,
	OUT done			boolean)
RETURNS record
AS 'MODULE_PATHNAME', 'es_purge'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.purge(integer, timestamptz)
	IS 'administrators: remove at most max_events events hidden by retention or a delete (and old feed markers); done when nothing is left';

CREATE TYPE es_store.aggregate_stats AS (
	event_count			bigint,
	first_version		bigint,
	current_version		bigint,
	snapshot_version	bigint,
	created_at			timestamptz,
	last_appended_at	timestamptz,
	deleted_at			timestamptz,
	forgotten_at		timestamptz,
	truncate_before		bigint,
	max_count			bigint,
	max_age				interval,
	metadata			jsonb
);
COMMENT ON TYPE es_store.aggregate_stats IS 'one aggregate''s statistics as aggregate_stats returns them';

CREATE FUNCTION es_store.aggregate_stats(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text)
RETURNS SETOF es_store.aggregate_stats
AS 'MODULE_PATHNAME', 'es_aggregate_stats'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER ROWS 1;
COMMENT ON FUNCTION es_store.aggregate_stats(text, text, text)
	IS 'an aggregate''s event count, versions, snapshot, times, lifecycle and retention (no row when it has none)';

CREATE TYPE es_store.store_stats AS (
	events				bigint,
	aggregates			bigint,
	safe_position		bigint,
	last_drawn_position	bigint,
	events_bytes		bigint,
	events_index_bytes	bigint,
	heads_bytes			bigint,
	heads_index_bytes	bigint,
	total_bytes			bigint
);
COMMENT ON TYPE es_store.store_stats IS 'the store''s statistics as store_stats returns them';

CREATE FUNCTION es_store.store_stats()
RETURNS es_store.store_stats
AS 'MODULE_PATHNAME', 'es_store_stats'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.store_stats()
	IS 'the store''s events and aggregates (estimates), safe and last drawn positions, and bytes';

REVOKE ALL ON FUNCTION
	es_store.set_stream_metadata(text, text, text, bigint, bigint, interval, jsonb),
	es_store.get_stream_metadata(text, text, text),
	es_store.forget_aggregate(text, text, text, bigint, boolean),
	es_store.purge(integer, timestamptz),
	es_store.aggregate_stats(text, text, text),
	es_store.store_stats()
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	es_store.get_stream_metadata(text, text, text),
	es_store.aggregate_stats(text, text, text),
	es_store.store_stats()
	TO es_store_writer, es_store_reader, es_store_admin;
GRANT EXECUTE ON FUNCTION
	es_store.set_stream_metadata(text, text, text, bigint, bigint, interval, jsonb)
	TO es_store_writer, es_store_admin;
GRANT EXECUTE ON FUNCTION
	es_store.forget_aggregate(text, text, text, bigint, boolean),
	es_store.purge(integer, timestamptz)
	TO es_store_admin;

-- Appends to several aggregates in one call, in key order (src/multi.c).
CREATE TYPE es_store.aggregate_append_result AS (
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	event_id			uuid,
	aggregate_version	bigint,
	global_position		bigint
);
COMMENT ON TYPE es_store.aggregate_append_result IS 'what append_aggregates assigned to one event, or a check''s version';

CREATE FUNCTION es_store.append_aggregates(appends jsonb)
RETURNS SETOF es_store.aggregate_append_result
AS 'MODULE_PATHNAME', 'es_append_aggregates'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 10;
COMMENT ON FUNCTION es_store.append_aggregates(jsonb)
	IS 'append to several aggregates and check others, each with its expected version, locking their head rows in key order (no deadlock between such calls)';
REVOKE ALL ON FUNCTION es_store.append_aggregates(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION es_store.append_aggregates(jsonb) TO es_store_writer, es_store_admin;

--
-- Operations views (0.3.0), for a monitoring role: es_store_monitor may
-- read them, and call what they call, but not read or save events or
-- checkpoints.  The views read es_store's tables with their owner's
-- privileges (the extension's owner), so a monitor sees every checkpoint's
-- name, owner and position; the functions in them run as the caller.
--
DO $monitor$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
				   WHERE rolname OPERATOR(pg_catalog.=) 'es_store_monitor') THEN
		CREATE ROLE es_store_monitor NOLOGIN;
	END IF;
END
$monitor$;

-- One row per checkpoint: where its consumer is, and how far behind the
-- feed's safe position.  positions_behind counts positions (an upper bound
-- of the events: rolled-back appends leave unused positions);
-- oldest_unread_at is when the first event after the checkpoint was
-- committed (with track_commit_timestamp on) or appended (its created_at,
-- the appending transaction's start), NULL when the consumer is caught up.
CREATE VIEW es_store.consumer_status AS
SELECT c.name, c.owner, c.position, c.updated_at AS saved_at,
	   f.safe_position,
	   GREATEST(f.safe_position OPERATOR(pg_catalog.-) c.position, 0) AS positions_behind,
	   u.unread_at AS oldest_unread_at,
	   pg_catalog.now() OPERATOR(pg_catalog.-) u.unread_at AS time_behind
FROM es_store.checkpoints c
CROSS JOIN (SELECT es_store.last_position() AS safe_position) f
LEFT JOIN LATERAL (
	SELECT COALESCE(CASE WHEN pg_catalog.current_setting('track_commit_timestamp')
							  OPERATOR(pg_catalog.=) 'on'
						 THEN pg_catalog.pg_xact_commit_timestamp(e.xmin) END,
					e.created_at) AS unread_at
	FROM es_store.events e
	WHERE e.global_position OPERATOR(pg_catalog.>) c.position
	  AND e.global_position OPERATOR(pg_catalog.<=) f.safe_position
	ORDER BY e.global_position
	LIMIT 1) u ON true;
COMMENT ON VIEW es_store.consumer_status
	IS 'every checkpoint: position, last save, owner, and how far behind the feed (positions, time)';

-- One row: the feed's safe position against the last position drawn, and
-- the appends in flight between them.
CREATE VIEW es_store.feed_status AS
SELECT s.safe_position, s.last_drawn_position,
	   GREATEST(COALESCE(s.last_drawn_position, 0) OPERATOR(pg_catalog.-) s.safe_position, 0)
		   AS positions_in_flight,
	   i.appends_in_flight, i.lowest_in_flight_position
FROM es_store.store_stats() s
CROSS JOIN (SELECT pg_catalog.count(*) AS appends_in_flight,
				   pg_catalog.min(lowest_position) AS lowest_in_flight_position
			FROM es_store.in_flight_appends()) i;
COMMENT ON VIEW es_store.feed_status
	IS 'the feed''s safe position, the last drawn one, and the appends in flight that hold it back';

-- One row per transaction of this database that appended and has not
-- ended: what holds the feed back.  A session's from pg_stat_activity (its
-- state, query and the like need the caller to be allowed to see them:
-- pg_read_all_stats, or the same role); a prepared transaction's from
-- pg_prepared_xacts, found through the lock it holds on its registry slot
-- (src/registry.c prepared_tag: an advisory lock of the database on the
-- position, class 0x4553) and the lock on its transaction id that goes
-- with it (the same virtual transaction, no pid).
CREATE VIEW es_store.feed_holders AS
SELECT i.pid, i.lowest_position, i.prepared,
	   COALESCE(a.xact_start, p.prepared) AS since,
	   pg_catalog.now() OPERATOR(pg_catalog.-) COALESCE(a.xact_start, p.prepared) AS held_for,
	   CASE WHEN i.prepared THEN 'prepared' ELSE a.state END AS state,
	   a.wait_event_type, a.wait_event,
	   COALESCE(a.usename, p.owner) AS role, a.application_name, a.client_addr,
	   p.gid, a.query
FROM es_store.in_flight_appends() i
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) i.pid
LEFT JOIN LATERAL (
	SELECT x.gid, x.prepared, x.owner
	FROM pg_catalog.pg_locks l
	JOIN pg_catalog.pg_locks t
	  ON t.virtualtransaction OPERATOR(pg_catalog.=) l.virtualtransaction
	 AND t.locktype OPERATOR(pg_catalog.=) 'transactionid' AND t.pid IS NULL
	JOIN pg_catalog.pg_prepared_xacts x ON x.transaction OPERATOR(pg_catalog.=) t.transactionid
	WHERE i.prepared AND l.locktype OPERATOR(pg_catalog.=) 'advisory'
	  AND l.pid IS NULL
	  AND l.database OPERATOR(pg_catalog.=)
		  (SELECT d.oid FROM pg_catalog.pg_database d
		   WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
	  AND l.objsubid OPERATOR(pg_catalog.=) 17747
	  AND CAST(l.classid AS pg_catalog.int8) OPERATOR(pg_catalog.*) 4294967296
		  OPERATOR(pg_catalog.+) CAST(l.objid AS pg_catalog.int8)
		  OPERATOR(pg_catalog.=) i.lowest_position
	LIMIT 1) p ON true;
COMMENT ON VIEW es_store.feed_holders
	IS 'the transactions that appended and have not ended, which hold the feed back: session or prepared transaction, since when, state';

REVOKE ALL ON es_store.consumer_status, es_store.feed_status, es_store.feed_holders FROM PUBLIC;
GRANT USAGE ON SCHEMA es_store TO es_store_monitor;
GRANT SELECT ON es_store.consumer_status, es_store.feed_status, es_store.feed_holders
	TO es_store_monitor, es_store_admin;
GRANT EXECUTE ON FUNCTION
	es_store.last_position(),
	es_store.in_flight_appends(),
	es_store.store_stats()
	TO es_store_monitor;

--
-- Consumer groups (0.3.0, src/groups.c): a named group splits the feed
-- into segment_count segments (read_feed's segment of an aggregate's key
-- hash); a consumer claims a segment with a lease, which it renews, and
-- saves the segment's position while it holds it; another consumer takes
-- over a segment whose lease has run out.  Events a consumer cannot
-- handle can be parked with their error and handled later.  A group
-- belongs to the role that created it, as a checkpoint does.  The
-- functions keep the three tables consistent (drop_consumer_group deletes
-- a group's rows from all three), with no foreign keys: their triggers
-- would differ between an installation and an update.
--
CREATE TABLE es_store.consumer_groups (
	name			text PRIMARY KEY,
	segment_count	integer NOT NULL,
	lease			interval NOT NULL,
	owner			name NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE TABLE es_store.group_segments (
	group_name		text NOT NULL,
	segment			integer NOT NULL,
	position		bigint NOT NULL DEFAULT 0,
	consumer		text,
	lease_until		timestamptz,
	saved_at		timestamptz,
	PRIMARY KEY (group_name, segment)
);
CREATE TABLE es_store.parked_events (
	group_name		text NOT NULL,
	global_position	bigint NOT NULL,
	segment			integer NOT NULL,
	consumer		text NOT NULL,
	error			text NOT NULL,
	parked_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (group_name, global_position)
);
SELECT pg_catalog.pg_extension_config_dump('es_store.consumer_groups', '');
SELECT pg_catalog.pg_extension_config_dump('es_store.group_segments', '');
SELECT pg_catalog.pg_extension_config_dump('es_store.parked_events', '');
COMMENT ON TABLE es_store.consumer_groups IS 'consumer groups: the feed split into segments, each claimed by one consumer at a time';
COMMENT ON TABLE es_store.group_segments IS 'each group''s segments: position, and the consumer holding its lease';
COMMENT ON TABLE es_store.parked_events IS 'events a group''s consumer parked with their error, to handle later';
REVOKE ALL ON es_store.consumer_groups, es_store.group_segments, es_store.parked_events FROM PUBLIC;

CREATE FUNCTION es_store.create_consumer_group(
	name			text,
	segment_count	integer,
	lease			interval DEFAULT '30 seconds')
RETURNS void
AS 'MODULE_PATHNAME', 'es_create_consumer_group'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.create_consumer_group(text, integer, interval)
	IS 'create a consumer group of segment_count segments whose leases last lease (again with the same settings: nothing)';

CREATE FUNCTION es_store.drop_consumer_group(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'es_drop_consumer_group'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.drop_consumer_group(text)
	IS 'drop a consumer group, its segments'' positions and its parked events';

CREATE FUNCTION es_store.claim_segment(
	group_name		text,
	consumer		text,
	OUT segment		integer,
	OUT segment_count integer,
	OUT "position"	bigint,
	OUT lease_until	timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'es_claim_segment'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 1;
COMMENT ON FUNCTION es_store.claim_segment(text, text)
	IS 'claim a free segment of the group, or one whose lease ran out, for consumer: no row when none is free';

CREATE FUNCTION es_store.renew_lease(group_name text, consumer text, segment integer)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'es_renew_lease'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.renew_lease(text, text, integer)
	IS 'renew consumer''s lease on a segment it holds (SE007 when another consumer took it over)';

CREATE FUNCTION es_store.release_segment(group_name text, consumer text, segment integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'es_release_segment'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.release_segment(text, text, integer)
	IS 'give a segment up, so that another consumer can claim it at once';

CREATE FUNCTION es_store.save_segment_position(group_name text, consumer text,
	segment integer, "position" bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'es_save_segment_position'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.save_segment_position(text, text, integer, bigint)
	IS 'save the position of a segment consumer holds, in the caller''s transaction, and renew its lease';

CREATE FUNCTION es_store.park_event(group_name text, consumer text, segment integer,
	global_position bigint, error text)
RETURNS void
AS 'MODULE_PATHNAME', 'es_park_event'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.park_event(text, text, integer, bigint, text)
	IS 'park an event of a segment consumer holds, with the error it raised, to handle it later';

CREATE FUNCTION es_store.parked_events(
	group_name		text,
	OUT global_position bigint,
	OUT segment		integer,
	OUT consumer	text,
	OUT error		text,
	OUT parked_at	timestamptz,
	OUT event		es_store.event)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'es_parked_events'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.parked_events(text)
	IS 'the events parked in a group, in position order, with their errors and the events as stored';

CREATE FUNCTION es_store.unpark_event(group_name text, global_position bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'es_unpark_event'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.unpark_event(text, bigint)
	IS 'remove a parked event once it has been handled (replayed)';

REVOKE ALL ON FUNCTION
	es_store.create_consumer_group(text, integer, interval),
	es_store.drop_consumer_group(text),
	es_store.claim_segment(text, text),
	es_store.renew_lease(text, text, integer),
	es_store.release_segment(text, text, integer),
	es_store.save_segment_position(text, text, integer, bigint),
	es_store.park_event(text, text, integer, bigint, text),
	es_store.parked_events(text),
	es_store.unpark_event(text, bigint)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	es_store.create_consumer_group(text, integer, interval),
	es_store.drop_consumer_group(text),
	es_store.claim_segment(text, text),
	es_store.renew_lease(text, text, integer),
	es_store.release_segment(text, text, integer),
	es_store.save_segment_position(text, text, integer, bigint),
	es_store.park_event(text, text, integer, bigint, text),
	es_store.parked_events(text),
	es_store.unpark_event(text, bigint)
	TO es_store_writer, es_store_reader, es_store_admin;

-- Every segment of every group: who holds it, until when, and how far
-- behind the feed it is (as consumer_status for checkpoints; the time of the
-- segment's own first unread event, found by scanning the feed after the
-- position for one of the segment: about segment_count events).
CREATE VIEW es_store.group_status AS
SELECT s.group_name, s.segment, g.segment_count, g.owner, s.consumer, s.lease_until,
	   s.lease_until OPERATOR(pg_catalog.<) pg_catalog.clock_timestamp() AS lease_expired,
	   s.position, s.saved_at, f.safe_position,
	   GREATEST(f.safe_position OPERATOR(pg_catalog.-) s.position, 0) AS positions_behind,
	   u.unread_at AS oldest_unread_at,
	   pg_catalog.now() OPERATOR(pg_catalog.-) u.unread_at AS time_behind,
	   (SELECT pg_catalog.count(*) FROM es_store.parked_events p
		WHERE p.group_name OPERATOR(pg_catalog.=) s.group_name
		  AND p.segment OPERATOR(pg_catalog.=) s.segment) AS parked
FROM es_store.group_segments s
JOIN es_store.consumer_groups g ON g.name OPERATOR(pg_catalog.=) s.group_name
CROSS JOIN (SELECT es_store.last_position() AS safe_position) f
-- the segment's first unread event: the first after its position whose key
-- hash is the segment's modulo segment_count, as read_feed's segment
-- filter computes it (src/scan.c feed_filter_keeps)
LEFT JOIN LATERAL (
	SELECT COALESCE(CASE WHEN pg_catalog.current_setting('track_commit_timestamp')
							  OPERATOR(pg_catalog.=) 'on'
						 THEN pg_catalog.pg_xact_commit_timestamp(e.xmin) END,
					e.created_at) AS unread_at
	FROM es_store.events e
	WHERE e.global_position OPERATOR(pg_catalog.>) s.position
	  AND e.global_position OPERATOR(pg_catalog.<=) f.safe_position
	  AND (pg_catalog.hashtextextended(CAST(pg_catalog.length(e.bounded_context) AS pg_catalog.text) OPERATOR(pg_catalog.||) ':'
				OPERATOR(pg_catalog.||) e.bounded_context OPERATOR(pg_catalog.||)
				CAST(pg_catalog.length(e.aggregate_type) AS pg_catalog.text) OPERATOR(pg_catalog.||) ':'
				OPERATOR(pg_catalog.||) e.aggregate_type OPERATOR(pg_catalog.||) e.aggregate_id, 0)
			 OPERATOR(pg_catalog.%) CAST(g.segment_count AS pg_catalog.int8)
			 OPERATOR(pg_catalog.+) g.segment_count)
		  OPERATOR(pg_catalog.%) g.segment_count OPERATOR(pg_catalog.=) s.segment
	ORDER BY e.global_position
	LIMIT 1) u ON true;
COMMENT ON VIEW es_store.group_status
	IS 'every consumer group segment: lease holder and expiry, position, positions behind the feed, parked events';
REVOKE ALL ON es_store.group_status FROM PUBLIC;
GRANT SELECT ON es_store.group_status TO es_store_monitor, es_store_admin;
