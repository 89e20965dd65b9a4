-- test/bench/baselines.sql: what es_store is measured against, in the same
-- run and database.
--
-- raw.events: the floor.  The same columns (the key included) and indexes
-- as es_store.events, written with a plain INSERT: no heads, no checks.
--
-- plstore: what a user writes instead.  A heads table and an events table
-- shaped like es_store's, and plpgsql functions with the same checks:
-- expected version on the head row (atomic), dense versions, global
-- positions from a sequence.  It does not recognise retries and has no
-- gap-safe feed.

CREATE SCHEMA raw;
CREATE SEQUENCE raw.global_position_seq AS bigint CACHE 1;
CREATE TABLE raw.events (LIKE es_store.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE raw.events ADD PRIMARY KEY (global_position),
	ADD UNIQUE (stream_id, aggregate_version), ADD UNIQUE (event_id);

CREATE SCHEMA plstore;
CREATE SEQUENCE plstore.global_position_seq AS bigint CACHE 1;
CREATE TABLE plstore.heads (
	stream_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	bounded_context	text NOT NULL,
	aggregate_type	text NOT NULL,
	aggregate_id	text NOT NULL,
	version			bigint NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT now(),
	updated_at		timestamptz NOT NULL DEFAULT now(),
	UNIQUE (bounded_context, aggregate_type, aggregate_id)
);
CREATE TABLE plstore.events (LIKE es_store.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE plstore.events ADD PRIMARY KEY (global_position),
	ADD UNIQUE (stream_id, aggregate_version), ADD UNIQUE (event_id);
CREATE TABLE plstore.checkpoints (name text PRIMARY KEY, position bigint NOT NULL);

-- Lock the head row, check the expected version (NULL: any), advance it,
-- and return the stream id and the version before the append.
CREATE FUNCTION plstore.advance(bc text, at text, aid text, expected bigint, n int,
								OUT sid bigint, OUT before bigint)
LANGUAGE plpgsql AS $$
BEGIN
	IF expected IS NULL THEN
		INSERT INTO plstore.heads AS h (bounded_context, aggregate_type, aggregate_id, version)
		VALUES (bc, at, aid, n)
		ON CONFLICT (bounded_context, aggregate_type, aggregate_id)
		DO UPDATE SET version = h.version + n, updated_at = now()
		RETURNING h.stream_id, h.version - n INTO sid, before;
	ELSIF expected = 0 THEN
		INSERT INTO plstore.heads (bounded_context, aggregate_type, aggregate_id, version)
		VALUES (bc, at, aid, n)
		ON CONFLICT DO NOTHING
		RETURNING stream_id, 0 INTO sid, before;
	ELSE
		UPDATE plstore.heads SET version = version + n, updated_at = now()
		WHERE bounded_context = bc AND aggregate_type = at AND aggregate_id = aid
		  AND version = expected
		RETURNING stream_id, expected INTO sid, before;
	END IF;
	IF sid IS NULL THEN
		RAISE EXCEPTION 'wrong expected version for stream "%/%/%"', bc, at, aid
			USING ERRCODE = 'SE001';
	END IF;
END $$;

CREATE FUNCTION plstore.append_event(bc text, at text, aid text, expected bigint,
									 etype text, payload jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	h record;
	pos bigint;
BEGIN
	h := plstore.advance(bc, at, aid, expected, 1);
	INSERT INTO plstore.events (global_position, bounded_context, aggregate_type, aggregate_id,
								stream_id, aggregate_version, event_id,
								event_type, event_version, payload, metadata, created_at)
	VALUES (nextval('plstore.global_position_seq'), bc, at, aid, h.sid, h.before + 1, gen_random_uuid(),
			etype, 1, payload, '{}', now())
	RETURNING global_position INTO pos;
	RETURN pos;
END $$;

CREATE FUNCTION plstore.append(bc text, at text, aid text, expected bigint,
							   etypes text[], payloads jsonb[])
RETURNS SETOF bigint LANGUAGE plpgsql AS $$
DECLARE
	h record;
BEGIN
	h := plstore.advance(bc, at, aid, expected, cardinality(etypes));
	RETURN QUERY
	INSERT INTO plstore.events (global_position, bounded_context, aggregate_type, aggregate_id,
								stream_id, aggregate_version, event_id,
								event_type, event_version, payload, metadata, created_at)
	SELECT nextval('plstore.global_position_seq'), bc, at, aid, h.sid, h.before + u.ord, gen_random_uuid(),
		   u.t, 1, u.p, '{}', now()
	FROM unnest(etypes, payloads) WITH ORDINALITY AS u(t, p, ord)
	RETURNING global_position;
END $$;

-- single: what a user who writes the store by hand reads instead, one table
-- that carries the stream key in every row, with the indexes such a store
-- has for a stream read (key, version) and for the feed (position).  The
-- read scenarios fill it with the same events as es_store.
CREATE SCHEMA single;
CREATE SEQUENCE single.global_position_seq AS bigint CACHE 1;
CREATE TABLE single.events (
	global_position		bigint PRIMARY KEY,
	bounded_context		text NOT NULL,
	aggregate_type		text NOT NULL,
	aggregate_id		text NOT NULL,
	aggregate_version	bigint NOT NULL,
	event_id			uuid NOT NULL UNIQUE,
	event_type			text NOT NULL,
	event_version		integer NOT NULL,
	payload				jsonb NOT NULL,
	metadata			jsonb NOT NULL,
	correlation_id		text,
	causation_id		text,
	trace_id			text,
	created_at			timestamptz NOT NULL,
	UNIQUE (bounded_context, aggregate_type, aggregate_id, aggregate_version)
);
CREATE TABLE single.checkpoints (name text PRIMARY KEY, position bigint NOT NULL);

-- The snapshots table such a store keeps beside it: one row per aggregate,
-- upserted unless a newer one is stored.
CREATE TABLE single.snapshots (
	bounded_context		text NOT NULL,
	aggregate_type		text NOT NULL,
	aggregate_id		text NOT NULL,
	aggregate_version	bigint NOT NULL,
	payload				jsonb NOT NULL,
	created_at			timestamptz NOT NULL,
	PRIMARY KEY (bounded_context, aggregate_type, aggregate_id)
);
