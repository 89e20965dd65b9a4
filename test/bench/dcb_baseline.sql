-- test/bench/dcb_baseline.sql: the DCB baseline for test/bench/dcb.sh, a
-- store a PostgreSQL user would write in plpgsql, in the style of the
-- fastest published PostgreSQL DCB stores: one table with the tags in an
-- array (GIN-indexed, fastupdate off as theirs: a pending list would make
-- every condition check scan it) and a btree on (type, position); an append takes
-- transaction-level advisory locks, sorted, shared on every key its events
-- could be queried by (type, tag, type with tag) and exclusive on the
-- keys of its condition's query items, then checks the condition with a
-- fresh statement and inserts.  Written for the benchmark; not es_store.
CREATE SCHEMA pgdcb;
CREATE TABLE pgdcb.events (
	position	bigserial PRIMARY KEY,
	type		text NOT NULL,
	tags		text[] NOT NULL,
	data		jsonb NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_tags ON pgdcb.events USING gin (tags) WITH (fastupdate = off);
CREATE INDEX events_type ON pgdcb.events (type, position);

-- The safe position: below every position an append in flight may hold
-- (there is no registry here: a reader takes the last committed value,
-- which is what such stores do, and what makes their "after" unsound when
-- a lower position commits later; the benchmark only measures speed).
CREATE FUNCTION pgdcb.last_position() RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT coalesce(max(position), 0) FROM pgdcb.events $$;

CREATE FUNCTION pgdcb.lock_key(k text) RETURNS bigint LANGUAGE sql IMMUTABLE AS
$$ SELECT hashtextextended(k, 0) $$;

-- Append one event (type, tags, data) if no event of one of cond_types
-- (NULL: any) with all of cond_tags (NULL: any) came after after.
CREATE FUNCTION pgdcb.append_if(type text, tags text[], data jsonb,
								cond_types text[], cond_tags text[], after bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	shared text[];
	exclusive text[];
	k text;
	p bigint;
BEGIN
	-- keys the event can be found by
	shared := ARRAY['type:' || type] ||
		ARRAY(SELECT 'tag:' || t FROM unnest(tags) t) ||
		ARRAY(SELECT 'type+tag:' || type || '|' || t FROM unnest(tags) t);
	-- keys of the condition's item
	IF cond_types IS NOT NULL AND cond_tags IS NOT NULL THEN
		exclusive := ARRAY(SELECT 'type+tag:' || ty || '|' || t
						   FROM unnest(cond_types) ty, unnest(cond_tags) t);
	ELSIF cond_types IS NOT NULL THEN
		exclusive := ARRAY(SELECT 'type:' || ty FROM unnest(cond_types) ty);
	ELSIF cond_tags IS NOT NULL THEN
		exclusive := ARRAY(SELECT 'tag:' || t FROM unnest(cond_tags) t);
	END IF;
	FOR k IN SELECT DISTINCT x FROM unnest(shared || coalesce(exclusive, '{}')) x ORDER BY x LOOP
		IF k = ANY (coalesce(exclusive, '{}')) THEN
			PERFORM pg_advisory_xact_lock(pgdcb.lock_key(k));
		ELSE
			PERFORM pg_advisory_xact_lock_shared(pgdcb.lock_key(k));
		END IF;
	END LOOP;
	IF exclusive IS NOT NULL AND EXISTS (
		SELECT 1 FROM pgdcb.events e
		WHERE e.position > after
		  AND (cond_types IS NULL OR e.type = ANY (cond_types))
		  AND (cond_tags IS NULL OR e.tags @> cond_tags)) THEN
		RAISE EXCEPTION 'append condition failed' USING ERRCODE = 'SE008';
	END IF;
	INSERT INTO pgdcb.events (type, tags, data) VALUES (type, tags, data)
	RETURNING position INTO p;
	RETURN p;
END $$;

-- The plain table a user would query instead of es_store for a tag: the
-- same rows as es_store's, the tags GIN-indexed.
CREATE TABLE pgdcb.single (
	position	bigint PRIMARY KEY,
	type		text NOT NULL,
	tags		text[] NOT NULL,
	data		jsonb NOT NULL,
	created_at	timestamptz NOT NULL
);
CREATE INDEX single_tags ON pgdcb.single USING gin (tags) WITH (fastupdate = off);

-- What tags cost a plain table: the same insert into a table that carries
-- its own key (stream, version), without tags and with three in a
-- GIN-indexed array (fastupdate off, as above).  The ratio of the two is
-- what PostgreSQL itself charges for three indexed tags per row.  (The
-- version comes from a sequence: pgbench repeats its random values.)
CREATE SEQUENCE pgdcb.plain_version;
CREATE TABLE pgdcb.plain (
	position	bigserial PRIMARY KEY,
	stream		bigint NOT NULL,
	version		bigint NOT NULL DEFAULT nextval('pgdcb.plain_version'),
	type		text NOT NULL,
	data		jsonb NOT NULL,
	tags		text[],
	created_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (stream, version)
);
CREATE TABLE pgdcb.plain_tagged (LIKE pgdcb.plain INCLUDING ALL);
CREATE INDEX plain_tagged_tags ON pgdcb.plain_tagged USING gin (tags) WITH (fastupdate = off);
