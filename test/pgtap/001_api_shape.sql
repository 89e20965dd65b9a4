-- The shape of the SQL API: schema, tables, types, functions, volatility,
-- security and privileges.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS es_store;
SELECT plan(122);

SELECT has_schema('es_store');
SELECT has_table('es_store', 'aggregate_heads', 'aggregate_heads exists');
SELECT has_table('es_store', 'events', 'events exists');
SELECT has_table('es_store', 'checkpoints', 'checkpoints exists');
SELECT has_table('es_store', 'snapshots', 'snapshots exists');
SELECT col_is_pk('es_store', 'snapshots', ARRAY['bounded_context', 'aggregate_type', 'aggregate_id'], 'one snapshot per aggregate');
SELECT has_sequence('es_store', 'global_position_seq', 'the position sequence exists');
SELECT col_is_pk('es_store', 'events', 'global_position', 'events are keyed by global position');
SELECT col_is_unique('es_store', 'events', ARRAY['stream_id', 'aggregate_version'], 'one event per stream version');
SELECT col_is_unique('es_store', 'events', 'event_id', 'event ids are unique');
SELECT col_is_unique('es_store', 'aggregate_heads', ARRAY['bounded_context', 'aggregate_type', 'aggregate_id'], 'one head per aggregate key');
SELECT col_type_is('es_store', 'events', 'payload', 'jsonb', 'payload is jsonb');
SELECT col_type_is('es_store', 'events', 'metadata', 'jsonb', 'metadata is jsonb');
SELECT col_type_is('es_store', 'events', 'payload_bytes', 'bytea', 'opaque payloads are bytea');
SELECT col_type_is('es_store', 'events', 'event_id', 'uuid', 'event_id is uuid');
SELECT col_type_is('es_store', 'events', 'global_position', 'bigint', 'global_position is bigint');
SELECT col_type_is('es_store', 'aggregate_heads', 'key_hash', 'bigint', 'heads carry a stable key hash for segments');
SELECT col_type_is('es_store', 'events', 'created_at', 'timestamp with time zone', 'created_at is timestamptz');
SELECT col_not_null('es_store', 'events', 'event_type', 'event_type is required');
SELECT has_trigger('es_store', 'events', 'events_append_only', 'events are guarded by a trigger');

SELECT has_type('es_store', 'event', 'es_store.event exists');
SELECT has_type('es_store', 'append_result', 'es_store.append_result exists');

SELECT has_function('es_store', 'append', ARRAY['text', 'text', 'text', 'bigint', 'text[]', 'jsonb[]', 'jsonb[]', 'uuid[]', 'integer[]', 'text', 'text', 'text', 'text[]']);
SELECT has_function('es_store', 'append_event', ARRAY['text', 'text', 'text', 'bigint', 'text', 'jsonb', 'jsonb', 'uuid', 'integer', 'text', 'text', 'text', 'text[]']);
SELECT has_function('es_store', 'append_at_version', ARRAY['text', 'text', 'text', 'bigint', 'text', 'jsonb', 'jsonb', 'uuid', 'integer', 'text', 'text', 'text', 'text[]']);
SELECT has_function('es_store', 'append_stream', ARRAY['text', 'bigint', 'text[]', 'jsonb[]', 'jsonb[]', 'uuid[]', 'integer[]', 'text', 'text', 'text', 'text[]']);
SELECT has_function('es_store', 'append_events', ARRAY['bigint', 'jsonb']);
SELECT has_function('es_store', 'append_bytes', ARRAY['text', 'text', 'text', 'bigint', 'text[]', 'bytea[]', 'jsonb[]', 'uuid[]', 'integer[]', 'text', 'text', 'text', 'text[]']);
SELECT has_function('es_store', 'append_event_bytes', ARRAY['text', 'text', 'text', 'bigint', 'text', 'bytea', 'jsonb', 'uuid', 'integer', 'text', 'text', 'text', 'text[]']);
SELECT has_function('es_store', 'append_at_version_bytes', ARRAY['text', 'text', 'text', 'bigint', 'text', 'bytea', 'jsonb', 'uuid', 'integer', 'text', 'text', 'text', 'text[]']);
SELECT has_function('es_store', 'append_stream_bytes', ARRAY['text', 'bigint', 'text[]', 'bytea[]', 'jsonb[]', 'uuid[]', 'integer[]', 'text', 'text', 'text', 'text[]']);
SELECT has_function('es_store', 'stream_key', ARRAY['text']);
SELECT has_function('es_store', 'save_snapshot', ARRAY['text', 'text', 'text', 'bigint', 'jsonb', 'jsonb', 'integer']);
SELECT has_function('es_store', 'save_snapshot_bytes', ARRAY['text', 'text', 'text', 'bigint', 'bytea', 'jsonb', 'integer']);
SELECT has_function('es_store', 'load_snapshot', ARRAY['text', 'text', 'text', 'integer']);
SELECT has_function('es_store', 'delete_snapshot', ARRAY['text', 'text', 'text']);
SELECT has_function('es_store', 'load_aggregate', ARRAY['text', 'text', 'text', 'integer']);
SELECT has_function('es_store', 'delete_aggregate', ARRAY['text', 'text', 'text', 'bigint']);
SELECT has_function('es_store', 'read_event', ARRAY['uuid']);
SELECT has_function('es_store', 'read_aggregate_backward', ARRAY['text', 'text', 'text', 'bigint', 'integer']);
SELECT has_function('es_store', 'forget_aggregate', ARRAY['text', 'text', 'text', 'bigint', 'boolean']);
SELECT has_function('es_store', 'set_stream_metadata', ARRAY['text', 'text', 'text', 'bigint', 'bigint', 'interval', 'jsonb']);
SELECT has_function('es_store', 'get_stream_metadata', ARRAY['text', 'text', 'text']);
SELECT has_function('es_store', 'purge', ARRAY['integer', 'timestamp with time zone']);
SELECT has_function('es_store', 'aggregate_stats', ARRAY['text', 'text', 'text']);
SELECT has_function('es_store', 'store_stats', ARRAY[]::text[]);
SELECT has_index('es_store', 'markers', 'markers_key', ARRAY['bounded_context', 'aggregate_type', 'aggregate_id'], 'feed markers are found by key');
SELECT has_index('es_store', 'aggregate_heads', 'aggregate_heads_filtered', 'stream_id', 'filtered streams are indexed');
SELECT has_function('es_store', 'read_aggregate', ARRAY['text', 'text', 'text', 'bigint', 'bigint', 'integer']);
SELECT has_function('es_store', 'read_stream', ARRAY['text', 'bigint', 'bigint', 'integer']);
SELECT has_function('es_store', 'aggregate_version', ARRAY['text', 'text', 'text']);
SELECT has_function('es_store', 'stream_version', ARRAY['text']);
SELECT has_function('es_store', 'aggregate_exists', ARRAY['text', 'text', 'text']);
SELECT has_function('es_store', 'count_events', ARRAY['text', 'text', 'text', 'bigint']);
SELECT has_function('es_store', 'read_feed', ARRAY['bigint', 'integer', 'text[]', 'text[]', 'text[]', 'integer', 'integer', 'bigint']);
SELECT has_function('es_store', 'last_position', ARRAY[]::text[]);
SELECT has_function('es_store', 'in_flight_appends', ARRAY[]::text[]);
SELECT has_function('es_store', 'get_checkpoint', ARRAY['text']);
SELECT has_function('es_store', 'save_checkpoint', ARRAY['text', 'bigint', 'bigint']);
SELECT has_function('es_store', 'reset_checkpoint', ARRAY['text', 'bigint', 'name']);
SELECT has_column('es_store', 'checkpoints', 'owner', 'checkpoints have an owner');
SELECT has_sequence('es_store', 'aggregate_heads_stream_id_seq', 'the stream id sequence exists');
SELECT ok((SELECT 'es_store.aggregate_heads_stream_id_seq'::regclass = ANY (extconfig)
		   FROM pg_extension WHERE extname = 'es_store'), 'pg_dump dumps the stream id sequence');
SELECT is((SELECT string_agg(tgenabled::text, '') FROM pg_trigger
		   WHERE tgrelid = 'es_store.events'::regclass AND NOT tgisinternal), 'AA',
		  'the append-only triggers fire also for replication sessions');

SELECT function_returns('es_store', 'append', ARRAY['text', 'text', 'text', 'bigint', 'text[]', 'jsonb[]', 'jsonb[]', 'uuid[]', 'integer[]', 'text', 'text', 'text', 'text[]'], 'setof es_store.append_result');
SELECT function_returns('es_store', 'append_event', ARRAY['text', 'text', 'text', 'bigint', 'text', 'jsonb', 'jsonb', 'uuid', 'integer', 'text', 'text', 'text', 'text[]'], 'es_store.append_result');
SELECT function_returns('es_store', 'read_aggregate', ARRAY['text', 'text', 'text', 'bigint', 'bigint', 'integer'], 'setof es_store.event');
SELECT function_returns('es_store', 'read_feed', ARRAY['bigint', 'integer', 'text[]', 'text[]', 'text[]', 'integer', 'integer', 'bigint'], 'setof es_store.event');
SELECT function_returns('es_store', 'aggregate_version', ARRAY['text', 'text', 'text'], 'bigint');
SELECT function_returns('es_store', 'aggregate_exists', ARRAY['text', 'text', 'text'], 'boolean');
SELECT function_returns('es_store', 'get_checkpoint', ARRAY['text'], 'bigint');
SELECT function_returns('es_store', 'save_checkpoint', ARRAY['text', 'bigint', 'bigint'], 'void');

-- Writers are volatile, readers stable; the feed takes its own snapshot.
SELECT volatility_is('es_store', 'append', ARRAY['text', 'text', 'text', 'bigint', 'text[]', 'jsonb[]', 'jsonb[]', 'uuid[]', 'integer[]', 'text', 'text', 'text', 'text[]'], 'volatile');
SELECT volatility_is('es_store', 'save_checkpoint', ARRAY['text', 'bigint', 'bigint'], 'volatile');
SELECT volatility_is('es_store', 'read_aggregate', ARRAY['text', 'text', 'text', 'bigint', 'bigint', 'integer'], 'stable');
SELECT volatility_is('es_store', 'get_checkpoint', ARRAY['text'], 'stable');
SELECT volatility_is('es_store', 'read_feed', ARRAY['bigint', 'integer', 'text[]', 'text[]', 'text[]', 'integer', 'integer', 'bigint'], 'volatile');
SELECT volatility_is('es_store', 'stream_key', ARRAY['text'], 'immutable');
SELECT function_lang_is('es_store', 'append', ARRAY['text', 'text', 'text', 'bigint', 'text[]', 'jsonb[]', 'jsonb[]', 'uuid[]', 'integer[]', 'text', 'text', 'text', 'text[]'], 'c');
SELECT function_lang_is('es_store', 'read_feed', ARRAY['bigint', 'integer', 'text[]', 'text[]', 'text[]', 'integer', 'integer', 'bigint'], 'c');
SELECT isnt_definer('es_store', 'append', ARRAY['text', 'text', 'text', 'bigint', 'text[]', 'jsonb[]', 'jsonb[]', 'uuid[]', 'integer[]', 'text', 'text', 'text', 'text[]']);
SELECT isnt_definer('es_store', 'read_feed', ARRAY['bigint', 'integer', 'text[]', 'text[]', 'text[]', 'integer', 'integer', 'bigint']);
-- every entry point is SECURITY INVOKER and becomes the extension's owner in C
-- (src/guard.c); the checkpoint functions must also know their caller
SELECT isnt_definer('es_store', 'get_checkpoint', ARRAY['text']);
SELECT isnt_definer('es_store', 'save_checkpoint', ARRAY['text', 'bigint', 'bigint']);
SELECT isnt_definer('es_store', 'reset_checkpoint', ARRAY['text', 'bigint', 'name']);

-- Every function has a comment.
SELECT is((SELECT count(*) FROM pg_proc
		   WHERE pronamespace = 'es_store'::regnamespace
			 AND obj_description(oid, 'pg_proc') IS NULL), 0::bigint,
		  'every es_store function has a COMMENT');

-- Privileges: nothing for PUBLIC, the shipped roles get what they need.
SELECT has_role('es_store_writer');
SELECT has_role('es_store_reader');
SELECT has_role('es_store_admin');
SELECT function_privs_are('es_store', 'reset_checkpoint', ARRAY['text', 'bigint', 'name'], 'es_store_admin', ARRAY['EXECUTE'], 'administrators reset checkpoints');
SELECT function_privs_are('es_store', 'reset_checkpoint', ARRAY['text', 'bigint', 'name'], 'es_store_reader', ARRAY[]::text[], 'readers cannot reset checkpoints');
SELECT function_privs_are('es_store', 'reset_checkpoint', ARRAY['text', 'bigint', 'name'], 'es_store_writer', ARRAY[]::text[], 'writers cannot reset checkpoints');
SELECT function_privs_are('es_store', 'append_event', ARRAY['text', 'text', 'text', 'bigint', 'text', 'jsonb', 'jsonb', 'uuid', 'integer', 'text', 'text', 'text', 'text[]'], 'public', ARRAY[]::text[], 'PUBLIC cannot append');
SELECT function_privs_are('es_store', 'append_event', ARRAY['text', 'text', 'text', 'bigint', 'text', 'jsonb', 'jsonb', 'uuid', 'integer', 'text', 'text', 'text', 'text[]'], 'es_store_writer', ARRAY['EXECUTE'], 'writers append');
SELECT function_privs_are('es_store', 'append_event', ARRAY['text', 'text', 'text', 'bigint', 'text', 'jsonb', 'jsonb', 'uuid', 'integer', 'text', 'text', 'text', 'text[]'], 'es_store_reader', ARRAY[]::text[], 'readers cannot append');
SELECT function_privs_are('es_store', 'read_feed', ARRAY['bigint', 'integer', 'text[]', 'text[]', 'text[]', 'integer', 'integer', 'bigint'], 'es_store_reader', ARRAY['EXECUTE'], 'readers read the feed');
SELECT function_privs_are('es_store', 'append_event_bytes', ARRAY['text', 'text', 'text', 'bigint', 'text', 'bytea', 'jsonb', 'uuid', 'integer', 'text', 'text', 'text', 'text[]'], 'public', ARRAY[]::text[], 'PUBLIC cannot append bytes');
SELECT function_privs_are('es_store', 'append_event_bytes', ARRAY['text', 'text', 'text', 'bigint', 'text', 'bytea', 'jsonb', 'uuid', 'integer', 'text', 'text', 'text', 'text[]'], 'es_store_writer', ARRAY['EXECUTE'], 'writers append bytes');
SELECT function_privs_are('es_store', 'append_event_bytes', ARRAY['text', 'text', 'text', 'bigint', 'text', 'bytea', 'jsonb', 'uuid', 'integer', 'text', 'text', 'text', 'text[]'], 'es_store_reader', ARRAY[]::text[], 'readers cannot append bytes');
SELECT is((SELECT count(*) FROM pg_proc
		   WHERE pronamespace = 'es_store'::regnamespace
			 AND has_function_privilege('public', oid, 'EXECUTE')), 0::bigint,
		  'PUBLIC can execute no es_store function');
SELECT table_privs_are('es_store', 'events', 'es_store_writer', ARRAY[]::text[], 'writers have no direct table access');
SELECT function_privs_are('es_store', 'save_snapshot', ARRAY['text', 'text', 'text', 'bigint', 'jsonb', 'jsonb', 'integer'], 'es_store_reader', ARRAY[]::text[], 'readers cannot save snapshots');
SELECT function_privs_are('es_store', 'load_aggregate', ARRAY['text', 'text', 'text', 'integer'], 'es_store_reader', ARRAY['EXECUTE'], 'readers load aggregates');
SELECT function_privs_are('es_store', 'delete_aggregate', ARRAY['text', 'text', 'text', 'bigint'], 'es_store_reader', ARRAY[]::text[], 'readers cannot delete');
SELECT function_privs_are('es_store', 'forget_aggregate', ARRAY['text', 'text', 'text', 'bigint', 'boolean'], 'es_store_writer', ARRAY[]::text[], 'writers cannot forget');
SELECT function_privs_are('es_store', 'forget_aggregate', ARRAY['text', 'text', 'text', 'bigint', 'boolean'], 'es_store_admin', ARRAY['EXECUTE'], 'administrators forget');
SELECT function_privs_are('es_store', 'purge', ARRAY['integer', 'timestamp with time zone'], 'es_store_writer', ARRAY[]::text[], 'writers cannot purge');
SELECT function_privs_are('es_store', 'purge', ARRAY['integer', 'timestamp with time zone'], 'es_store_admin', ARRAY['EXECUTE'], 'administrators purge');
SELECT function_privs_are('es_store', 'set_stream_metadata', ARRAY['text', 'text', 'text', 'bigint', 'bigint', 'interval', 'jsonb'], 'es_store_reader', ARRAY[]::text[], 'readers cannot set retention');
SELECT function_privs_are('es_store', 'store_stats', ARRAY[]::text[], 'es_store_reader', ARRAY['EXECUTE'], 'readers see the store''s stats');
SELECT volatility_is('es_store', 'aggregate_stats', ARRAY['text', 'text', 'text'], 'stable');

SELECT has_function('es_store', 'read_query', ARRAY['jsonb', 'bigint', 'integer', 'bigint']);
SELECT has_function('es_store', 'append_if', ARRAY['jsonb', 'jsonb', 'bigint', 'bigint']);
SELECT function_returns('es_store', 'read_query', ARRAY['jsonb', 'bigint', 'integer', 'bigint'], 'setof es_store.event');
SELECT function_returns('es_store', 'append_if', ARRAY['jsonb', 'jsonb', 'bigint', 'bigint'], 'setof es_store.append_result');
SELECT isnt_definer('es_store', 'append_if', ARRAY['jsonb', 'jsonb', 'bigint', 'bigint']);
SELECT function_returns('es_store', 'read_query_position', ARRAY[]::text[], 'bigint');
SELECT volatility_is('es_store', 'read_query_position', ARRAY[]::text[], 'volatile');
SELECT function_privs_are('es_store', 'read_query_position', ARRAY[]::text[], 'es_store_reader', ARRAY['EXECUTE'], 'readers learn where their query read stopped');
SELECT has_column('es_store', 'events', 'tags', 'events carry their tags');
SELECT col_type_is('es_store', 'events', 'tags', 'text[]', 'tags are a text array');
SELECT has_index('es_store', 'event_tags', 'event_tags_hash_position', ARRAY['tag_hash', 'global_position'], 'events are found by tag in position order');
SELECT * FROM finish();
ROLLBACK;
