-- Upgrades: install the oldest version, update to the newest, and compare
-- every function and column with a fresh install.
CREATE TEMP TABLE fresh AS
SELECT p.oid::regprocedure::text AS signature,
	   pg_get_function_result(p.oid) AS result,
	   p.provolatile, p.proisstrict, p.prosecdef, p.proparallel,
	   obj_description(p.oid, 'pg_proc') IS NOT NULL AS has_comment, p.proacl::text AS acl
FROM pg_proc p WHERE p.pronamespace = 'es_store'::regnamespace;
CREATE TEMP TABLE fresh_columns AS
SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'es_store'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped;
-- Constraints, triggers, what pg_dump dumps, and the privileges, column
-- defaults, indexes and view definitions of the schema's relations.
CREATE VIEW es_objects AS
SELECT 'acl' AS kind, c.relname::text AS rel, c.relkind::text AS name,
	   coalesce(c.relacl::text, '') AS definition
FROM pg_class c WHERE c.relnamespace = 'es_store'::regnamespace AND c.relkind IN ('r', 'v', 'S')
UNION ALL
SELECT 'default', c.relname::text, a.attname::text, pg_get_expr(d.adbin, d.adrelid)
FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE c.relnamespace = 'es_store'::regnamespace
UNION ALL
SELECT 'index', i.tablename::text, i.indexname::text, i.indexdef
FROM pg_indexes i WHERE i.schemaname = 'es_store'
UNION ALL
SELECT 'view', c.relname::text, '', pg_get_viewdef(c.oid)
FROM pg_class c WHERE c.relnamespace = 'es_store'::regnamespace AND c.relkind = 'v'
UNION ALL
SELECT 'constraint', conrelid::regclass::text,
	   conname::text, pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'es_store'::regnamespace
UNION ALL
SELECT 'trigger', tgrelid::regclass::text, tgname::text,
	   tgenabled::text || ' ' || pg_get_triggerdef(oid)
FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'es_store'::regnamespace)
UNION ALL
SELECT 'dumped', unnest(extconfig)::regclass::text, '', ''
FROM pg_extension WHERE extname = 'es_store';
CREATE TEMP TABLE fresh_objects AS SELECT * FROM es_objects;
CREATE TEMP TABLE fresh_options AS
SELECT c.relname, c.reloptions::text AS options
FROM pg_class c WHERE c.relnamespace = 'es_store'::regnamespace AND c.reloptions IS NOT NULL;

-- The API as installed, one row per function.
SELECT signature, result, provolatile, proisstrict, prosecdef, proparallel, has_comment, acl
FROM fresh ORDER BY signature;

DROP EXTENSION es_store;
CREATE EXTENSION es_store VERSION '0.1.0';

-- The new library works under the 0.1.0 SQL until the update.
SELECT aggregate_version, global_position
FROM es_store.append('up', 'acct', 'a', 0, ARRAY['A', 'B'], ARRAY['{}', '{}']::jsonb[]);
SELECT aggregate_version FROM es_store.append_event('up', 'acct', 'a', 2, 'C', '{}');
SELECT aggregate_version FROM es_store.append_at_version('up', 'acct', 'b', 3, 'D', '{}');
SELECT global_position, aggregate_id, event_type FROM es_store.read_feed(0, 10);
SELECT es_store.save_checkpoint('up', 2);

-- One step at a time, in this same session: a session opened before an
-- update must see the new schema at its next call (before 0.2.1 it kept
-- the old one's statements and failed on key_hash, NOT NULL since 0.2.0,
-- until it reconnected).
ALTER EXTENSION es_store UPDATE TO '0.2.0';

-- The update kept the data and filled in the key hashes.
SELECT aggregate_id, version,
	   key_hash = pg_catalog.hashtextextended('2:up4:acct' || aggregate_id, 0) AS key_hash_filled
FROM es_store.aggregate_heads ORDER BY aggregate_id;
SELECT es_store.get_checkpoint('up');
SELECT aggregate_version FROM es_store.append_event('up', 'acct', 'a', 3, 'E', '{}');
-- New aggregates through the statements (explicit version, REPEATABLE READ).
SELECT aggregate_version FROM es_store.append_at_version('up', 'acct', 'c', 1, 'F', '{}');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT aggregate_version FROM es_store.append_event('up', 'acct', 'd', 0, 'G', '{}');
SELECT aggregate_version FROM es_store.append_event('up', 'acct', 'e', NULL, 'H', '{}');
COMMIT;
SELECT es_store.save_checkpoint('up', 3);
SELECT global_position, aggregate_id, event_type FROM es_store.read_feed(0, 10, aggregate_types => ARRAY['acct']);

ALTER EXTENSION es_store UPDATE TO '0.2.1';
-- Before 0.3.0 events have no payload_bytes: the one function of 0.2.1
-- that can be given bytes refuses them (0A000), and writes nothing.
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'up-bytes', 'event_type', 'B', 'payload_bytes', 'AAE=')));
SELECT es_store.stream_version('up-bytes') AS bytes_stream_version;
-- The 0.3.0 update rewrites es_store.events (its rows carry the key since).
-- It refuses while the table has objects of a user's own it would drop...
CREATE FUNCTION user_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER user_audit AFTER INSERT ON es_store.events
	FOR EACH ROW EXECUTE FUNCTION user_trigger();
CREATE INDEX user_index ON es_store.events (event_type);
ALTER EXTENSION es_store UPDATE TO '0.3.0';
DROP TRIGGER user_audit ON es_store.events;
DROP INDEX es_store.user_index;
DROP FUNCTION user_trigger();
-- A view on the table makes PostgreSQL's DROP TABLE refuse (2BP01).
CREATE VIEW user_view AS SELECT global_position FROM es_store.events;
\set VERBOSITY sqlstate
ALTER EXTENSION es_store UPDATE TO '0.3.0';
\set VERBOSITY default
ALTER EXTENSION es_store UPDATE TO '0.3.0';
DROP VIEW user_view;
-- ... and keeps the table's grants and publications.
CREATE ROLE es_upgrade_auditor;
GRANT SELECT ON es_store.events TO es_upgrade_auditor;
SET client_min_messages = error;
CREATE PUBLICATION es_upgrade_pub FOR TABLE es_store.events;
RESET client_min_messages;
CREATE TEMP TABLE feed_before AS SELECT * FROM es_store.read_feed(0, 1000);
ALTER EXTENSION es_store UPDATE TO '0.3.0';
-- The same feed, read now from the event rows alone.
SELECT count(*) AS events, (SELECT count(*) FROM (
	(SELECT *, NULL::bytea FROM feed_before EXCEPT ALL SELECT * FROM es_store.read_feed(0, 1000))
	UNION ALL
	(SELECT * FROM es_store.read_feed(0, 1000) EXCEPT ALL SELECT *, NULL::bytea FROM feed_before)) d) AS differences
FROM feed_before;
-- es_store.event ends with payload_bytes now, and bytes can be appended.
SELECT aggregate_version FROM es_store.append_event_bytes('up', 'acct', 'h', 0, 'K', '\x00ff'::bytea);
SELECT payload, payload_bytes FROM es_store.read_aggregate('up', 'acct', 'h');
SELECT count(*) AS rows_with_their_key
FROM es_store.events e JOIN es_store.aggregate_heads h USING (stream_id)
WHERE (e.bounded_context, e.aggregate_type, e.aggregate_id)
	= (h.bounded_context, h.aggregate_type, h.aggregate_id);
SELECT has_table_privilege('es_upgrade_auditor', 'es_store.events', 'SELECT') AS auditor_kept,
	   has_table_privilege('es_upgrade_auditor', 'es_store.events', 'INSERT') AS auditor_insert;
SELECT pubname, schemaname, tablename FROM pg_publication_tables WHERE pubname = 'es_upgrade_pub';
DROP PUBLICATION es_upgrade_pub;
REVOKE ALL ON es_store.events FROM es_upgrade_auditor;
DROP ROLE es_upgrade_auditor;
-- The append-only guard holds on the new table.
UPDATE es_store.events SET event_type = 'X';
TRUNCATE es_store.events;

-- 0.4.0 adds tags, as the last column of es_store.events and of
-- es_store.event: the rows stored before read as events without tags.
SELECT count(*) FROM es_store.append_event('up', 'acct', 'h', 1, 'L', '{}');
CREATE TEMP TABLE feed_0_3_0 AS SELECT * FROM es_store.read_feed(0, 1000);
-- Before the update, the new library refuses tags (0A000) and writes nothing.
\set VERBOSITY sqlstate
SELECT * FROM es_store.append_events(2, jsonb_build_array(jsonb_build_object(
	'bounded_context', 'up', 'aggregate_type', 'acct', 'aggregate_id', 'h',
	'event_type', 'M', 'payload', 1, 'tags', jsonb_build_array('t'))));
\set VERBOSITY default
SELECT es_store.aggregate_version('up', 'acct', 'h') AS still_at_2;
ALTER EXTENSION es_store UPDATE TO '0.4.0';
SELECT count(*) AS events, (SELECT count(*) FROM (
	(SELECT *, NULL::text[] FROM feed_0_3_0 EXCEPT ALL SELECT * FROM es_store.read_feed(0, 1000))
	UNION ALL
	(SELECT * FROM es_store.read_feed(0, 1000) EXCEPT ALL SELECT *, NULL::text[] FROM feed_0_3_0)) d) AS differences
FROM feed_0_3_0;
SELECT aggregate_version FROM es_store.append_event('up', 'acct', 'h', 2, 'M', '{}', tags => ARRAY['t']);
SELECT aggregate_id, event_type, tags FROM es_store.read_aggregate('up', 'acct', 'h');
SELECT event_type, tags FROM es_store.read_query('{"items": [{"tags": ["t"]}]}');

-- The checkpoint saved before 0.2.1 has no owner; the next save claims it.
SELECT name, position, owner FROM es_store.checkpoints;
SELECT es_store.save_checkpoint('up', 4);
SELECT name, position, owner FROM es_store.checkpoints;
SELECT aggregate_version FROM es_store.append_at_version('up', 'acct', 'f', 1, 'I', '{}');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT aggregate_version FROM es_store.append_event('up', 'acct', 'g', 0, 'J', '{}');
COMMIT;
SELECT aggregate_id, version,
	   key_hash = pg_catalog.hashtextextended('2:up4:acct' || aggregate_id, 0) AS key_hash_right
FROM es_store.aggregate_heads ORDER BY aggregate_id;
SELECT extversion = (SELECT default_version FROM pg_available_extensions
					 WHERE name = 'es_store') AS at_default_version
FROM pg_extension WHERE extname = 'es_store';

-- Differences between the updated and the fresh install (none expected).
(SELECT p.oid::regprocedure::text, pg_get_function_result(p.oid), p.provolatile,
		p.proisstrict, p.prosecdef, p.proparallel,
		obj_description(p.oid, 'pg_proc') IS NOT NULL, p.proacl::text
 FROM pg_proc p WHERE p.pronamespace = 'es_store'::regnamespace
 EXCEPT SELECT * FROM fresh)
UNION ALL
(SELECT * FROM fresh
 EXCEPT SELECT p.oid::regprocedure::text, pg_get_function_result(p.oid), p.provolatile,
		p.proisstrict, p.prosecdef, p.proparallel,
		obj_description(p.oid, 'pg_proc') IS NOT NULL, p.proacl::text
 FROM pg_proc p WHERE p.pronamespace = 'es_store'::regnamespace);
(SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'es_store'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
 EXCEPT SELECT * FROM fresh_columns)
UNION ALL
(SELECT * FROM fresh_columns
 EXCEPT SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'es_store'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped);
(SELECT * FROM es_objects EXCEPT SELECT * FROM fresh_objects)
UNION ALL
(SELECT * FROM fresh_objects EXCEPT SELECT * FROM es_objects);
DROP VIEW es_objects;

(SELECT c.relname, c.reloptions::text FROM pg_class c
 WHERE c.relnamespace = 'es_store'::regnamespace AND c.reloptions IS NOT NULL
 EXCEPT SELECT * FROM fresh_options)
UNION ALL
(SELECT * FROM fresh_options
 EXCEPT SELECT c.relname, c.reloptions::text FROM pg_class c
 WHERE c.relnamespace = 'es_store'::regnamespace AND c.reloptions IS NOT NULL);
-- The storage parameters themselves.
SELECT * FROM fresh_options ORDER BY relname;

-- Every function has a comment.
SELECT count(*) AS functions_without_comment FROM fresh WHERE NOT has_comment;
