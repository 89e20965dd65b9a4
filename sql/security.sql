-- Security: hostile search_path, pg_temp and code attached to the tables,
-- the extension's schema, privileges, the append-only event log.
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
DROP ROLE IF EXISTS regress_es_nobody, regress_es_app, regress_es_consumer,
	regress_es_attacker, regress_es_squatter, regress_es_other_super;
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

-- ... also with session_replication_role = replica (ENABLE ALWAYS).
SET session_replication_role = replica;
DELETE FROM es_store.events;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE es_store.events;
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;
SELECT tgname, tgenabled FROM pg_trigger
WHERE tgrelid = 'es_store.events'::regclass ORDER BY tgname;

-- Code a DBA attaches to an es_store table runs as the extension's owner.
-- Inside the functions, unqualified names resolve against pg_catalog only:
-- not the caller's search_path, not pg_temp.  An audit trigger written
-- with an unqualified table name, and a writer who puts a table of that
-- name, with a trigger of its own, in pg_temp: before 0.2.1 the writer's
-- trigger ran as the owner (a superuser here) and made the writer one.
CREATE ROLE regress_es_attacker IN ROLE es_store_writer;
CREATE TABLE public.audit_log (what text, schemas text);
GRANT INSERT ON public.audit_log TO regress_es_attacker;
CREATE FUNCTION public.audit_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audit_log VALUES ('checkpoint ' || NEW.name, current_schemas(true)::text);
	RETURN NEW;
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE ON es_store.checkpoints
	FOR EACH ROW EXECUTE FUNCTION public.audit_checkpoint();
SET ROLE regress_es_attacker;
SET search_path = public;
CREATE TEMP TABLE audit_log (what text, schemas text);
CREATE FUNCTION pg_temp.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	ALTER ROLE regress_es_attacker SUPERUSER;
	RETURN NEW;
END $$;
CREATE TRIGGER escalate BEFORE INSERT ON pg_temp.audit_log
	FOR EACH ROW EXECUTE FUNCTION pg_temp.escalate();
-- The trigger's unqualified name resolves to nothing inside es_store.
SELECT es_store.save_checkpoint('attack', 1);
\echo :LAST_ERROR_SQLSTATE
RESET search_path;
RESET ROLE;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'regress_es_attacker';
-- A trigger that qualifies its names works, and sees only pg_catalog.
CREATE OR REPLACE FUNCTION public.audit_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.audit_log VALUES ('checkpoint ' || NEW.name, pg_catalog.current_schemas(true)::text);
	RETURN NEW;
END $$;
SET ROLE regress_es_attacker;
SET search_path = pg_temp, public;
SELECT es_store.save_checkpoint('attack', 2);
RESET search_path;
RESET ROLE;
SELECT rolsuper AS attacker_is_superuser FROM pg_roles WHERE rolname = 'regress_es_attacker';
SELECT what, schemas FROM public.audit_log;
SELECT count(*) AS rows_in_the_temp_table FROM pg_temp.audit_log;
DROP TABLE pg_temp.audit_log;
DROP FUNCTION pg_temp.escalate();
DROP TRIGGER audit ON es_store.checkpoints;
DROP FUNCTION public.audit_checkpoint();
DROP TABLE public.audit_log;
-- The same for a CHECK constraint whose function names a table unqualified.
CREATE TABLE public.allowed_types (event_type text);
INSERT INTO public.allowed_types VALUES ('A');
CREATE FUNCTION public.type_allowed(t text) RETURNS boolean LANGUAGE sql STABLE
	AS 'SELECT EXISTS (SELECT 1 FROM allowed_types WHERE event_type = t)';
ALTER TABLE es_store.events ADD CONSTRAINT type_allowed CHECK (public.type_allowed(event_type)) NOT VALID;
SET ROLE regress_es_attacker;
SET search_path = public;
SELECT aggregate_version FROM es_store.append_event('sec', 'acct', 'chk', NULL, 'A', '{}');
\echo :LAST_ERROR_SQLSTATE
RESET search_path;
RESET ROLE;
ALTER TABLE es_store.events DROP CONSTRAINT type_allowed;
DROP FUNCTION public.type_allowed(text);
DROP TABLE public.allowed_types;

-- A schema named es_store that another role owns: the extension refuses
-- to install into it.  Before 0.2.1, that role could rename it away after
-- the install and put its own checkpoints table (with a trigger) in its
-- place.
DROP EXTENSION es_store;
DROP SCHEMA es_store;
CREATE ROLE regress_es_squatter;
SELECT format('GRANT CREATE ON DATABASE %I TO regress_es_squatter', current_database()) \gexec
SET ROLE regress_es_squatter;
CREATE SCHEMA es_store;
RESET ROLE;
CREATE EXTENSION es_store;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA es_store;
-- A schema that another superuser created is fine (pg_dump recreates the
-- schema with its original owner before CREATE EXTENSION).
CREATE ROLE regress_es_other_super SUPERUSER;
SET ROLE regress_es_other_super;
CREATE SCHEMA es_store;
RESET ROLE;
-- ... unless it lets others create objects in it.
GRANT CREATE ON SCHEMA es_store TO PUBLIC;
CREATE EXTENSION es_store;
\echo :LAST_ERROR_SQLSTATE
REVOKE CREATE ON SCHEMA es_store FROM PUBLIC;
CREATE EXTENSION es_store;
SELECT nspowner::regrole AS schema_owner FROM pg_namespace WHERE nspname = 'es_store';
ALTER SCHEMA es_store OWNER TO CURRENT_USER;
DROP ROLE regress_es_other_super;
-- And the functions use only the extension's own schema: renamed away and
-- replaced by another role's schema of the same name, they refuse.
ALTER SCHEMA es_store RENAME TO es_store_moved;
SET ROLE regress_es_squatter;
CREATE SCHEMA es_store;
CREATE TABLE es_store.checkpoints (name text PRIMARY KEY, position bigint, updated_at timestamptz, owner name);
RESET ROLE;
SELECT es_store_moved.save_checkpoint('moved', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store_moved.read_feed(0, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS squatter_rows FROM es_store.checkpoints;
DROP TABLE es_store.checkpoints;
DROP SCHEMA es_store;
ALTER SCHEMA es_store_moved RENAME TO es_store;
SELECT es_store.save_checkpoint('moved', 1);
SELECT format('REVOKE CREATE ON DATABASE %I FROM regress_es_squatter', current_database()) \gexec

REVOKE USAGE ON SCHEMA es_store FROM regress_es_nobody;
DROP ROLE regress_es_nobody, regress_es_app, regress_es_consumer,
	regress_es_attacker, regress_es_squatter;
