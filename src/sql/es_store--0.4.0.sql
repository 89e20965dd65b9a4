/* src/sql/es_store--0.4.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION es_store" to load this file. \quit

--
-- The functions below run as the extension's owner and use the tables of
-- the schema named es_store.  A schema of that name created beforehand by
-- another role would let that role rename it and put its own tables (and
-- triggers) in its place, so the extension refuses to install into a
-- schema that neither the installing role nor a superuser owns (pg_dump
-- recreates the schema with its original owner before CREATE EXTENSION,
-- which may be another superuser than the one restoring).
--
DO $owner$
DECLARE
	owner_name	name;
	owner_super	boolean;
BEGIN
	SELECT r.rolname, r.rolsuper INTO owner_name, owner_super
	FROM pg_catalog.pg_namespace n
	JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
	WHERE n.nspname OPERATOR(pg_catalog.=) 'es_store';
	IF owner_name OPERATOR(pg_catalog.<>) CURRENT_USER AND NOT owner_super THEN
		RAISE EXCEPTION 'cannot install es_store into schema "es_store" owned by role "%"', owner_name
			USING ERRCODE = '42501',
				  DETAIL = 'The extension''s functions run as its owner and trust every object in that schema; the schema must belong to the role that installs the extension or to a superuser.',
				  HINT = pg_catalog.format('Drop the schema, or run ALTER SCHEMA es_store OWNER TO %I, then CREATE EXTENSION es_store again.', CURRENT_USER);
	END IF;
	IF EXISTS (SELECT 1
			   FROM pg_catalog.pg_namespace n
			   CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
			   LEFT JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) a.grantee
			   WHERE n.nspname OPERATOR(pg_catalog.=) 'es_store'
				 AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
				 AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner
				 AND NOT COALESCE(g.rolsuper, false)) THEN
		RAISE EXCEPTION 'cannot install es_store into schema "es_store": roles other than its owner may create objects in it'
			USING ERRCODE = '42501',
				  DETAIL = 'The extension''s functions trust every object in that schema.',
				  HINT = 'REVOKE CREATE ON SCHEMA es_store FROM the roles (or PUBLIC) that have it.';
	END IF;
END
$owner$;

--
-- Tables.  The extension owns them; callers reach them only through the
-- functions below, which qualify every name they use.  Those functions
-- are written in C and SECURITY INVOKER, and for their whole work become
-- the extension's owner (as a SECURITY DEFINER function would, without the
-- function lookup fmgr_security_definer repeats for every statement),
-- check that the schema named es_store is still the extension's own and
-- resolve unqualified names against pg_catalog alone, without pg_temp and
-- without the caller's search_path (src/guard.c).  Code a DBA attaches to these
-- tables (triggers, CHECK constraints, defaults, index expressions) runs
-- as the extension's owner under that search path: qualify every name in
-- it.  No SET search_path clause is needed on the functions; it would be
-- weaker (pg_temp would still be searched for tables and types) and cost
-- ten times what the C check does (README, Performance).
--

-- One row per aggregate (stream): its key, its current version, and the
-- internal stream_id the events refer to.  Appends lock this row to check and
-- advance the version in one step.  Every append leaves a dead version of
-- the row behind; the fillfactor keeps room on each page for the next
-- versions, so that the updates stay HOT (no new index entries) and a page
-- is pruned once per few updates instead of on every one (direct.c).
-- Versions (>= 0 here, >= 1 on events) are kept by the only code that
-- writes these tables; CHECK constraints would cost a parse of their
-- expression on every append (PostgreSQL 15 rebuilds them for each
-- statement).
CREATE TABLE es_store.aggregate_heads (
	stream_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	bounded_context	text NOT NULL,
	aggregate_type	text NOT NULL,
	aggregate_id	text NOT NULL,
	version			bigint NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- Stable hash of the key, for competing consumers (segment k of n), set
	-- when the head is created: hashtextextended(length(bounded_context) ||
	-- ':' || bounded_context || length(aggregate_type) || ':' ||
	-- aggregate_type || aggregate_id, 0).  The lengths make it unambiguous.
	key_hash		bigint NOT NULL,
	-- The stream's lifecycle (0.3.0; README, "Deleting and retention").
	-- deleted_at: soft-deleted at that time, absent until an append reopens
	-- it; forgotten_at: forgotten with a tombstone, appends refused (SE003).
	-- Events below truncate_before, all but the last max_count, and those
	-- older than max_age are hidden from reads and the feed; metadata is
	-- the user's own.  filtered: some stored event of the stream may be
	-- hidden, so reads and the feed must look at this row (src/visibility.c).
	deleted_at		timestamptz,
	forgotten_at	timestamptz,
	truncate_before	bigint,
	max_count		bigint,
	max_age			interval,
	metadata		jsonb,
	filtered		boolean NOT NULL DEFAULT false,
	CONSTRAINT aggregate_heads_key UNIQUE (bounded_context, aggregate_type, aggregate_id)
) WITH (fillfactor = 80);

-- The streams whose events reads and the feed must filter: usually none,
-- and then a probe of this index is all a read pays.  Appends change no
-- column of it, so their head updates stay HOT.
CREATE INDEX aggregate_heads_filtered ON es_store.aggregate_heads (stream_id) WHERE filtered;

-- Global positions are drawn from this sequence by the append functions, one
-- value per event, in append order.  CACHE 1 keeps positions increasing in
-- the order the values are drawn, across sessions.
CREATE SEQUENCE es_store.global_position_seq AS bigint CACHE 1;

-- One row per event.  Each row carries its aggregate's key, so that a feed
-- read finds everything it returns in the row, without a lookup of the head
-- row per event.  The first fifteen columns are es_store.event's, in its
-- order, and stream_id and batch_size come last: a read copies a row's
-- first fifteen columns into its result as they are stored (src/scan.c).
-- An event's payload is either jsonb (payload) or bytes (payload_bytes):
-- exactly one of the two is set, which the append functions ensure.
-- batch_size marks where each append's events begin, so that a retry is
-- recognised only as the whole append it repeats (src/batch.c): the number
-- of events of the append on the first of them, 0 on the others, -1 on
-- events stored before 0.3.0 (their appends are not known).  tags (0.4.0)
-- is the event's set of tags, NULL when it has none: the last column, as
-- an update to 0.4.0 adds it, so that a row without tags is the 0.3.0 row
-- a read copies (src/scan.c).  Events appended without an aggregate
-- (Dynamic Consistency Boundary appends, src/dcb.c) have the empty key,
-- the stream id -9223372036854775808, which no head row has, and their
-- position as their aggregate version.
CREATE TABLE es_store.events (
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
	batch_size			integer NOT NULL DEFAULT 1,
	tags				text[],
	CONSTRAINT events_pkey PRIMARY KEY (global_position),
	CONSTRAINT events_stream_version_key UNIQUE (stream_id, aggregate_version),
	CONSTRAINT events_event_id_key UNIQUE (event_id)
);

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

COMMENT ON TABLE es_store.markers IS 'the keys of the feed''s markers (stream id 0 in es_store.events)';
REVOKE ALL ON TABLE es_store.markers FROM PUBLIC;

-- A checkpoint belongs to the role that first saved it ("owner", a role
-- name, so that it means the same after a dump is restored into another
-- cluster); only roles with that role's privileges may read or save it
-- (src/checkpoint.c).  NULL: saved before 0.2.1; the next save claims it.
CREATE TABLE es_store.checkpoints (
	name		text PRIMARY KEY,
	position	bigint NOT NULL CHECK (position OPERATOR(pg_catalog.>=) 0),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	owner		name
);

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

-- pg_dump must dump the rows of these tables: they are user data, not
-- configuration shipped by the script.
SELECT pg_catalog.pg_extension_config_dump('es_store.aggregate_heads', '');
SELECT pg_catalog.pg_extension_config_dump('es_store.events', '');
SELECT pg_catalog.pg_extension_config_dump('es_store.checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('es_store.global_position_seq', '');
-- The identity sequence behind aggregate_heads.stream_id: without it a
-- restored store would hand out stream ids already taken.
SELECT pg_catalog.pg_extension_config_dump('es_store.aggregate_heads_stream_id_seq', '');

COMMENT ON TABLE es_store.aggregate_heads IS 'one row per aggregate: its key, current version and internal stream id';
COMMENT ON TABLE es_store.events IS 'the append-only event log, one row per event';
COMMENT ON COLUMN es_store.events.tags IS 'the event''s tags (0.4.0), NULL when it has none';
COMMENT ON COLUMN es_store.events.batch_size IS 'on the first event of an append, its number of events; 0 on its other events; -1 when not known (stored before 0.3.0)';
COMMENT ON TABLE es_store.checkpoints IS 'named projection checkpoints (last processed global position)';
COMMENT ON SEQUENCE es_store.global_position_seq IS 'source of global positions';

--
-- The events table is append-only.  This statement-level trigger refuses
-- UPDATE, DELETE and TRUNCATE for every role, the owner included, also
-- with session_replication_role = replica (ENABLE ALWAYS).
--
CREATE FUNCTION es_store.forbid_event_changes()
RETURNS trigger
AS 'MODULE_PATHNAME', 'es_forbid_event_changes'
LANGUAGE C;
COMMENT ON FUNCTION es_store.forbid_event_changes() IS 'trigger: keeps es_store.events append-only';

CREATE TRIGGER events_append_only
	BEFORE UPDATE OR DELETE ON es_store.events
	FOR EACH STATEMENT EXECUTE FUNCTION es_store.forbid_event_changes();
CREATE TRIGGER events_append_only_truncate
	BEFORE TRUNCATE ON es_store.events
	FOR EACH STATEMENT EXECUTE FUNCTION es_store.forbid_event_changes();
ALTER TABLE es_store.events ENABLE ALWAYS TRIGGER events_append_only;
ALTER TABLE es_store.events ENABLE ALWAYS TRIGGER events_append_only_truncate;

--
-- Types returned by the functions.
--
CREATE TYPE es_store.append_result AS (
	event_id			uuid,
	aggregate_version	bigint,
	global_position		bigint
);
COMMENT ON TYPE es_store.append_result IS 'what an append assigned to one event';

CREATE TYPE es_store.aggregate_append_result AS (
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	event_id			uuid,
	aggregate_version	bigint,
	global_position		bigint
);
COMMENT ON TYPE es_store.aggregate_append_result IS 'what append_aggregates assigned to one event, or a check''s version';

CREATE TYPE es_store.event AS (
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
	tags				text[]
);
COMMENT ON TYPE es_store.event IS 'one stored event as returned by the read functions (payload or payload_bytes is set; tags NULL when none)';

--
-- Append.
--
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

CREATE FUNCTION es_store.append_events(
	expected_version	bigint,
	events				jsonb)
RETURNS SETOF es_store.append_result
AS 'MODULE_PATHNAME', 'es_append_events'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 10;
COMMENT ON FUNCTION es_store.append_events(bigint, jsonb)
	IS 'append a batch given as a JSON array of event objects (payload, or payload_bytes in base64), all for one aggregate';

CREATE FUNCTION es_store.append_aggregates(appends jsonb)
RETURNS SETOF es_store.aggregate_append_result
AS 'MODULE_PATHNAME', 'es_append_aggregates'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 10;
COMMENT ON FUNCTION es_store.append_aggregates(jsonb)
	IS 'append to several aggregates and check others, each with its expected version, locking their head rows in key order (no deadlock between such calls)';

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

--
-- Stream names.
--
CREATE FUNCTION es_store.stream_key(
	stream_name			text,
	OUT bounded_context	text,
	OUT aggregate_type	text,
	OUT aggregate_id	text)
RETURNS record
AS 'MODULE_PATHNAME', 'es_stream_key'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION es_store.stream_key(text)
	IS 'the composite key a stream name maps to: ('''', text before the first "-", the whole name)';

--
-- Aggregate reads.
--
CREATE FUNCTION es_store.read_aggregate(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	from_version		bigint DEFAULT NULL,
	to_version			bigint DEFAULT NULL,
	max_count			integer DEFAULT NULL)
RETURNS SETOF es_store.event
AS 'MODULE_PATHNAME', 'es_read_aggregate'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER ROWS 100;
COMMENT ON FUNCTION es_store.read_aggregate(text, text, text, bigint, bigint, integer)
	IS 'events of one aggregate by version, from and to inclusive (NULL = open), at most max_count';

CREATE FUNCTION es_store.read_stream(
	stream_name			text,
	from_version		bigint DEFAULT NULL,
	to_version			bigint DEFAULT NULL,
	max_count			integer DEFAULT NULL)
RETURNS SETOF es_store.event
AS 'MODULE_PATHNAME', 'es_read_stream'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER ROWS 100;
COMMENT ON FUNCTION es_store.read_stream(text, bigint, bigint, integer)
	IS 'events of the stream named by one string, by version (see es_store.read_aggregate)';

CREATE FUNCTION es_store.aggregate_version(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_aggregate_version'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.aggregate_version(text, text, text)
	IS 'current version of an aggregate, 0 when it has no events';

CREATE FUNCTION es_store.stream_version(stream_name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_stream_version'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.stream_version(text)
	IS 'current version of the stream named by one string, 0 when it has no events';

CREATE FUNCTION es_store.aggregate_exists(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'es_aggregate_exists'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.aggregate_exists(text, text, text)
	IS 'true when the aggregate has at least one event';

CREATE FUNCTION es_store.count_events(
	bounded_context		text,
	aggregate_type		text,
	aggregate_id		text,
	from_version		bigint DEFAULT 1)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_count_events'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.count_events(text, text, text, bigint)
	IS 'number of events of an aggregate at or after from_version';

--
-- Global feed.
--
CREATE FUNCTION es_store.read_feed(
	after_position		bigint DEFAULT 0,
	max_count			integer DEFAULT 1000,
	bounded_contexts	text[] DEFAULT NULL,
	aggregate_types		text[] DEFAULT NULL,
	event_types			text[] DEFAULT NULL,
	segment				integer DEFAULT 0,
	segment_count		integer DEFAULT 1,
	up_to_position		bigint DEFAULT NULL)
RETURNS SETOF es_store.event
AS 'MODULE_PATHNAME', 'es_read_feed'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 1000;
COMMENT ON FUNCTION es_store.read_feed(bigint, integer, text[], text[], text[], integer, integer, bigint)
	IS 'a page of the global feed after a position, up to the safe position, optionally filtered or segmented';

CREATE FUNCTION es_store.last_position()
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_last_position'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.last_position()
	IS 'the feed''s safe position: no event at or below it can still appear';

CREATE FUNCTION es_store.in_flight_appends(
	OUT pid				integer,
	OUT lowest_position	bigint,
	OUT prepared		boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'es_in_flight_appends'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER ROWS 10;
COMMENT ON FUNCTION es_store.in_flight_appends()
	IS 'transactions of this database that appended and have not ended: what holds the feed back';

--
-- Checkpoints.  A checkpoint belongs to the role that calls these (the
-- owner of a SECURITY DEFINER function that calls them, for example),
-- which a SECURITY DEFINER function could not tell; like the others, the
-- C code becomes the extension's owner for the work itself
-- (src/checkpoint.c, src/guard.c).
--
CREATE FUNCTION es_store.get_checkpoint(name text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_get_checkpoint'
LANGUAGE C CALLED ON NULL INPUT STABLE PARALLEL SAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.get_checkpoint(text)
	IS 'last saved position of a named checkpoint, 0 when unknown';

CREATE FUNCTION es_store.save_checkpoint(
	name				text,
	global_position		bigint,
	expected_position	bigint DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'es_save_checkpoint'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.save_checkpoint(text, bigint, bigint)
	IS 'save a named checkpoint in the caller''s transaction; never backwards; compare-and-set with expected_position';

CREATE FUNCTION es_store.reset_checkpoint(
	name				text,
	global_position		bigint DEFAULT NULL,
	owner				name DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_reset_checkpoint'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.reset_checkpoint(text, bigint, name)
	IS 'administrators: set a checkpoint to any position (NULL deletes it), or give it to another role; returns the position it had';

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
	tags				text[],
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

--
-- Reads by event id and backwards.
--
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

--
-- Privileges.  Nothing is callable by PUBLIC.  Three NOLOGIN roles carry
-- the grants: es_store_writer (append, read, feed, checkpoints),
-- es_store_reader (read, feed, checkpoints: a read-only consumer, which
-- still saves its own checkpoints) and es_store_admin (all of that, and
-- reset_checkpoint, forget_aggregate and purge).  Grant them to
-- application roles:
-- GRANT es_store_writer TO my_app;
-- Roles are cluster-wide: a role granted es_store_writer may append in
-- every database of the cluster where es_store is installed and it may
-- connect.  See the README (Security) for per-database roles.
--
REVOKE ALL ON ALL TABLES IN SCHEMA es_store FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA es_store FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA es_store FROM PUBLIC;

DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
				   WHERE rolname OPERATOR(pg_catalog.=) 'es_store_writer') THEN
		CREATE ROLE es_store_writer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
				   WHERE rolname OPERATOR(pg_catalog.=) 'es_store_reader') THEN
		CREATE ROLE es_store_reader NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
				   WHERE rolname OPERATOR(pg_catalog.=) 'es_store_admin') THEN
		CREATE ROLE es_store_admin NOLOGIN;
	END IF;
END
$roles$;

GRANT USAGE ON SCHEMA es_store TO es_store_writer, es_store_reader, es_store_admin;

GRANT EXECUTE ON FUNCTION
	es_store.stream_key(text),
	es_store.read_aggregate(text, text, text, bigint, bigint, integer),
	es_store.read_stream(text, bigint, bigint, integer),
	es_store.aggregate_version(text, text, text),
	es_store.stream_version(text),
	es_store.aggregate_exists(text, text, text),
	es_store.count_events(text, text, text, bigint),
	es_store.read_feed(bigint, integer, text[], text[], text[], integer, integer, bigint),
	es_store.last_position(),
	es_store.in_flight_appends(),
	es_store.get_checkpoint(text),
	es_store.save_checkpoint(text, bigint, bigint)
	TO es_store_writer, es_store_reader, es_store_admin;

GRANT EXECUTE ON FUNCTION
	es_store.append(text, text, text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text, text[]),
	es_store.append_event(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text, text[]),
	es_store.append_at_version(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text, text[]),
	es_store.append_stream(text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text, text[]),
	es_store.append_events(bigint, jsonb),
	es_store.append_aggregates(jsonb),
	es_store.append_bytes(text, text, text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text, text[]),
	es_store.append_event_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text, text[]),
	es_store.append_at_version_bytes(text, text, text, bigint, text, bytea, jsonb, uuid, integer, text, text, text, text[]),
	es_store.append_stream_bytes(text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text, text[])
	TO es_store_writer, es_store_admin;

GRANT EXECUTE ON FUNCTION
	es_store.load_snapshot(text, text, text, integer),
	es_store.load_aggregate(text, text, text, integer)
	TO es_store_writer, es_store_reader, es_store_admin;
GRANT EXECUTE ON FUNCTION
	es_store.save_snapshot(text, text, text, bigint, jsonb, jsonb, integer),
	es_store.save_snapshot_bytes(text, text, text, bigint, bytea, jsonb, integer),
	es_store.delete_snapshot(text, text, text)
	TO es_store_writer, es_store_admin;

GRANT EXECUTE ON FUNCTION es_store.delete_aggregate(text, text, text, bigint)
	TO es_store_writer, es_store_admin;

GRANT EXECUTE ON FUNCTION
	es_store.read_event(uuid),
	es_store.read_aggregate_backward(text, text, text, bigint, integer)
	TO es_store_writer, es_store_reader, es_store_admin;

GRANT EXECUTE ON FUNCTION es_store.reset_checkpoint(text, bigint, name)
	TO es_store_admin;

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

-- The feed's position spaces (0.4.0): on a single node only space 0; on
-- a distributed store one per Citus group (src/cluster.c, README Scaling).
-- The views below measure each consumer against its own space's bound.
CREATE FUNCTION es_store.position_spaces(
	OUT group_id		integer,
	OUT first_position	bigint,
	OUT safe_position	bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'es_position_spaces'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY INVOKER ROWS 4;
COMMENT ON FUNCTION es_store.position_spaces()
	IS 'the feed''s position spaces (one per Citus group; only group 0 on a single node), each with its first position and its safe position now';

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

-- One row per checkpoint: where its consumer is, and how far behind the
-- safe position of its position space.  positions_behind counts positions
-- (an upper bound of the events: rolled-back appends leave unused
-- positions; NULL, as safe_position, for a position in no space the feed
-- has);
-- oldest_unread_at is when the first event after the checkpoint was
-- committed (with track_commit_timestamp on) or appended (its created_at,
-- the appending transaction's start), NULL when the consumer is caught up.
CREATE VIEW es_store.consumer_status AS
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
GRANT EXECUTE ON FUNCTION es_store.oldest_unread_at(bigint, bigint, integer, integer)
	TO es_store_monitor, es_store_admin;

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
COMMENT ON VIEW es_store.group_status
	IS 'every consumer group segment: lease holder and expiry, position, positions behind the feed, parked events';
REVOKE ALL ON es_store.group_status FROM PUBLIC;
GRANT SELECT ON es_store.group_status TO es_store_monitor, es_store_admin;

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

REVOKE ALL ON FUNCTION
	es_store.citus_distribute(),
	es_store.citus_claim_position_spaces(),
	es_store.citus_claim_local_position_space(),
	es_store.citus_node_feed_state(),
	es_store.citus_node_feed_page(bigint[], bigint, bigint, text[], text[], text[], bigint, bigint, bigint),
	es_store.position_spaces()
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION es_store.position_spaces()
	TO es_store_writer, es_store_reader, es_store_admin, es_store_monitor;
