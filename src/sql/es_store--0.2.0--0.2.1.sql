/* src/sql/es_store--0.2.0--0.2.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION es_store UPDATE TO '0.2.1'" to load this file. \quit

-- 0.2.1: reliability and security fixes (see the README, History).

-- A schema named es_store owned by an ordinary role lets that role put its
-- own objects where the functions look (see the install script).  Refuse
-- to update such an installation; the owner must be a superuser or the
-- role running the update.
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
		RAISE EXCEPTION 'cannot update es_store in schema "es_store" owned by role "%"', owner_name
			USING ERRCODE = '42501',
				  DETAIL = 'The extension''s functions run as its owner and trust every object in that schema; an ordinary role owning it could replace them.',
				  HINT = pg_catalog.format('Check the schema''s objects, run ALTER SCHEMA es_store OWNER TO %I, then update again.', CURRENT_USER);
	END IF;
	IF EXISTS (SELECT 1
			   FROM pg_catalog.pg_namespace n
			   CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
			   LEFT JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) a.grantee
			   WHERE n.nspname OPERATOR(pg_catalog.=) 'es_store'
				 AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
				 AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner
				 AND NOT COALESCE(g.rolsuper, false)) THEN
		RAISE EXCEPTION 'cannot update es_store in schema "es_store": roles other than its owner may create objects in it'
			USING ERRCODE = '42501',
				  DETAIL = 'The extension''s functions trust every object in that schema.',
				  HINT = 'REVOKE CREATE ON SCHEMA es_store FROM the roles (or PUBLIC) that have it.';
	END IF;
END
$owner$;

-- pg_dump restores the identity sequence behind aggregate_heads.stream_id.
SELECT pg_catalog.pg_extension_config_dump('es_store.aggregate_heads_stream_id_seq', '');

-- The append-only guard also holds with session_replication_role = replica.
ALTER TABLE es_store.events ENABLE ALWAYS TRIGGER events_append_only;
ALTER TABLE es_store.events ENABLE ALWAYS TRIGGER events_append_only_truncate;

-- Checkpoints get an owner.  Those saved before have none: the next save
-- claims them.
ALTER TABLE es_store.checkpoints ADD COLUMN owner name;

-- A checkpoint belongs to the role calling these functions, which only a
-- SECURITY INVOKER function can tell; the C code becomes the extension's
-- owner for the work itself.
ALTER FUNCTION es_store.get_checkpoint(text) SECURITY INVOKER;
ALTER FUNCTION es_store.save_checkpoint(text, bigint, bigint) SECURITY INVOKER;

CREATE FUNCTION es_store.reset_checkpoint(
	name				text,
	global_position		bigint DEFAULT NULL,
	owner				name DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_reset_checkpoint'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY INVOKER;
COMMENT ON FUNCTION es_store.reset_checkpoint(text, bigint, name)
	IS 'administrators: set a checkpoint to any position (NULL deletes it), or give it to another role; returns the position it had';
REVOKE ALL ON FUNCTION es_store.reset_checkpoint(text, bigint, name) FROM PUBLIC;

DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
				   WHERE rolname OPERATOR(pg_catalog.=) 'es_store_admin') THEN
		CREATE ROLE es_store_admin NOLOGIN;
	END IF;
END
$roles$;

GRANT USAGE ON SCHEMA es_store TO es_store_admin;
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
	es_store.save_checkpoint(text, bigint, bigint),
	es_store.append(text, text, text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text),
	es_store.append_event(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text),
	es_store.append_at_version(text, text, text, bigint, text, jsonb, jsonb, uuid, integer, text, text, text),
	es_store.append_stream(text, bigint, text[], jsonb[], jsonb[], uuid[], integer[], text, text, text),
	es_store.append_events(bigint, jsonb),
	es_store.reset_checkpoint(text, bigint, name)
	TO es_store_admin;
