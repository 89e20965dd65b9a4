-- Security: hostile search_path, privileges, the append-only event log.
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default

-- A hostile schema shadowing what the functions use: an "=" on text that
-- is always true, now(), unnest(), count(), max(), and look-alike tables.
CREATE SCHEMA evil;
CREATE FUNCTION evil.texteq_always(text, text) RETURNS boolean
	LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, PROCEDURE = evil.texteq_always);
CREATE FUNCTION evil.int8eq_always(bigint, bigint) RETURNS boolean
	LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, PROCEDURE = evil.int8eq_always);
CREATE FUNCTION evil.now() RETURNS timestamptz
	LANGUAGE sql AS $$SELECT '1999-01-01 00:00:00+00'::timestamptz$$;
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement
	LANGUAGE sql AS 'SELECT NULL::anyelement WHERE false';
CREATE FUNCTION evil.count(anyelement) RETURNS bigint
	LANGUAGE sql AS 'SELECT 42::bigint';
CREATE TABLE evil.events (global_position bigint);
CREATE TABLE evil.aggregate_heads (stream_id bigint);
SET search_path = evil, pg_catalog, public;
-- The trap is live: unqualified SQL now means something else.
SELECT 'a'::text = 'b'::text AS evil_equals, now() < '2000-01-01' AS evil_now;

SELECT aggregate_version, global_position
FROM es_store.append('sec', 'acct', 'a', 0, ARRAY['A', 'B'], ARRAY['{}', '{}']::jsonb[]);
SELECT aggregate_version, global_position
FROM es_store.append('sec', 'acct', 'b', 0, ARRAY['A'], ARRAY['{}']::jsonb[]);
SELECT aggregate_version FROM es_store.append('sec', 'acct', 'a', 1, ARRAY['C'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT aggregate_id, aggregate_version, created_at > '2000-01-01' AS real_now
FROM es_store.read_aggregate('sec', 'acct', 'a');
SELECT es_store.count_events('sec', 'acct', 'a') AS count_a,
	   es_store.aggregate_version('sec', 'acct', 'b') AS version_b,
	   es_store.last_position() AS last;
SELECT global_position, aggregate_id FROM es_store.read_feed(0, 10);
SELECT es_store.save_checkpoint('sec', 2), es_store.get_checkpoint('other') AS other;
RESET search_path;
DROP SCHEMA evil CASCADE;

-- The shipped roles.
SELECT rolname, rolcanlogin FROM pg_roles
WHERE rolname IN ('es_store_writer', 'es_store_reader') ORDER BY 1;

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_es_nobody, regress_es_app, regress_es_consumer;
RESET client_min_messages;
CREATE ROLE regress_es_nobody;
CREATE ROLE regress_es_app IN ROLE es_store_writer;
CREATE ROLE regress_es_consumer IN ROLE es_store_reader;

-- Without a grant: no schema, no function (not even stream_key), no table.
SET ROLE regress_es_nobody;
SELECT * FROM es_store.append_event('sec', 'acct', 'n', NULL, 'A', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.last_position();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT USAGE ON SCHEMA es_store TO regress_es_nobody;
SET ROLE regress_es_nobody;
SELECT es_store.last_position();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.stream_key('open-1');
RESET ROLE;

-- The writer appends and reads, but cannot touch the tables.
SET ROLE regress_es_app;
SELECT aggregate_version FROM es_store.append_event('sec', 'acct', 'w', 0, 'A', '{}');
SELECT count(*) FROM es_store.read_aggregate('sec', 'acct', 'w');
SELECT es_store.save_checkpoint('writer', 1);
SELECT count(*) FROM es_store.events;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO es_store.events (global_position) VALUES (999);
\echo :LAST_ERROR_SQLSTATE
UPDATE es_store.aggregate_heads SET version = 0;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- The consumer reads the feed and saves checkpoints, but cannot append.
SET ROLE regress_es_consumer;
SELECT count(*) FROM es_store.read_feed(0, 100);
SELECT es_store.save_checkpoint('consumer', es_store.last_position());
SELECT es_store.get_checkpoint('consumer') > 0 AS saved;
SELECT * FROM es_store.append_event('sec', 'acct', 'r', NULL, 'A', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, '[]');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- The event log is append-only, even for a superuser.
UPDATE es_store.events SET event_type = 'X';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM es_store.events;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE es_store.events;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS events_still_there FROM es_store.events;

REVOKE USAGE ON SCHEMA es_store FROM regress_es_nobody;
DROP ROLE regress_es_nobody, regress_es_app, regress_es_consumer;
