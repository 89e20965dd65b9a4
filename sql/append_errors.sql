-- Every error an append can raise: message, detail, hint and SQLSTATE.
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default
SELECT aggregate_version FROM es_store.append('shop', 'order', 'e-1', 0,
	ARRAY['A', 'B'], ARRAY['{}', '{}']::jsonb[]);

-- SE001: wrong expected version, in each mode.
SELECT * FROM es_store.append('shop', 'order', 'e-1', 0, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'e-1', 1, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'e-1', 5, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'missing', -1, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'missing', 3, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_event('shop', 'order', 'e-1', 1, 'A', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_stream('acct-1', -1, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_at_version('shop', 'order', 'e-1', 2, 'A', '{}');
\echo :LAST_ERROR_SQLSTATE
-- A loser draws no global position: the next append gets the next one.
SELECT last_value = (SELECT max(global_position) FROM es_store.events) AS no_position_drawn
FROM es_store.global_position_seq;
SELECT global_position FROM es_store.append('shop', 'order', 'e-1', 2, ARRAY['C'], ARRAY['{}']::jsonb[]);

-- SE002: an event id stored by a different append.
SELECT aggregate_version FROM es_store.append_event('shop', 'order', 'e-2', 0, 'A', '{}',
	event_id => '00000000-0000-4000-8000-0000000000e1');
-- ... to another aggregate
SELECT * FROM es_store.append_event('shop', 'order', 'e-3', NULL, 'A', '{}',
	event_id => '00000000-0000-4000-8000-0000000000e1');
\echo :LAST_ERROR_SQLSTATE
-- ... in a batch with other ids
SELECT * FROM es_store.append('shop', 'order', 'e-2', NULL, ARRAY['A', 'B'],
	ARRAY['{}', '{}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000e2',
					   '00000000-0000-4000-8000-0000000000e1']::uuid[]);
\echo :LAST_ERROR_SQLSTATE
-- ... with a different expected version than the original
SELECT * FROM es_store.append_event('shop', 'order', 'e-2', 1, 'A', '{}',
	event_id => '00000000-0000-4000-8000-0000000000e1');
\echo :LAST_ERROR_SQLSTATE
-- ... at another explicit version
SELECT * FROM es_store.append_at_version('shop', 'order', 'e-2', 9, 'A', '{}',
	event_id => '00000000-0000-4000-8000-0000000000e1');
\echo :LAST_ERROR_SQLSTATE
-- ... twice in one batch
SELECT * FROM es_store.append('shop', 'order', 'e-4', NULL, ARRAY['A', 'B'],
	ARRAY['{}', '{}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000e4',
					   '00000000-0000-4000-8000-0000000000e4']::uuid[]);
\echo :LAST_ERROR_SQLSTATE

-- 22004: NULL where a value is required.
SELECT * FROM es_store.append(NULL, 'order', 'x', NULL, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', NULL, 'x', NULL, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', NULL, NULL, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, NULL, ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY['A'], NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY['A', NULL], ARRAY['{}', '{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY['A'], ARRAY[NULL]::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_event('shop', 'order', 'x', NULL, NULL, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_event('shop', 'order', 'x', NULL, 'A', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_at_version('shop', 'order', 'x', NULL, 'A', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_stream(NULL, NULL, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'bounded_context', 'shop', 'aggregate_type', 'order', 'event_type', 'A', 'payload', 1)));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 's-1', 'event_type', 'A')));
\echo :LAST_ERROR_SQLSTATE

-- 22023: out-of-range or malformed arguments.
SELECT * FROM es_store.append('shop', 'order', 'x', -2, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY[]::text[], ARRAY[]::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY['A', 'B'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY['A'], ARRAY['{}']::jsonb[],
	metadata => ARRAY['{}', '{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY['A'], ARRAY['{}']::jsonb[],
	event_ids => ARRAY[]::uuid[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY['A'], ARRAY['{}']::jsonb[],
	event_versions => ARRAY[1, 2]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY[['A']], ARRAY[['{}']]::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY[''], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY['A'], ARRAY['{}']::jsonb[],
	event_versions => ARRAY[0]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY['A'], ARRAY['{}']::jsonb[],
	metadata => ARRAY['[1, 2]']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_event('shop', 'order', 'x', NULL, 'A', '{}', metadata => '"text"');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_at_version('shop', 'order', 'x', 0, 'A', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_stream('', NULL, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.stream_key('');
\echo :LAST_ERROR_SQLSTATE
-- JSON batches: shape, fields, mixed aggregates.
SELECT * FROM es_store.append_events(NULL, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, '[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(
	jsonb_build_object('stream_name', 'cart-1', 'event_type', 'A', 'payload', 1),
	jsonb_build_object('stream_name', 'cart-2', 'event_type', 'B', 'payload', 2)));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(
	jsonb_build_object('stream_name', 'cart-1', 'event_type', 'A', 'payload', 1),
	jsonb_build_object('bounded_context', 'shop', 'aggregate_type', 'cart',
		'aggregate_id', 'cart-1', 'event_type', 'B', 'payload', 2)));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'cart-1', 'aggregate_id', 'x', 'event_type', 'A', 'payload', 1)));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'cart-1', 'event_type', 'A', 'payload', 1, 'colour', 'red')));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'cart-1', 'event_type', 7, 'payload', 1)));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'cart-1', 'event_type', 'A', 'payload', 1, 'event_version', 'two')));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(-5, jsonb_build_array(jsonb_build_object(
	'stream_name', 'cart-1', 'event_type', 'A', 'payload', 1)));
\echo :LAST_ERROR_SQLSTATE

-- 22P02: a malformed event id in JSON.
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'cart-1', 'event_type', 'A', 'payload', 1, 'event_id', 'nope')));
\echo :LAST_ERROR_SQLSTATE

-- 54000: size limits.
SET es_store.max_batch_events = 2;
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY['A', 'B', 'C'],
	ARRAY['{}', '{}', '{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
RESET es_store.max_batch_events;
SET es_store.max_event_bytes = 1024;
SELECT * FROM es_store.append_event('shop', 'order', 'x', NULL, 'A',
	jsonb_build_object('blob', repeat('x', 2000)));
\echo :LAST_ERROR_SQLSTATE
RESET es_store.max_event_bytes;
SELECT * FROM es_store.append_event('shop', 'order', repeat('k', 3000), NULL, 'A', '{}');
\echo :LAST_ERROR_SQLSTATE

-- None of the failures above left an event or a head behind.
SELECT aggregate_id, version FROM es_store.aggregate_heads ORDER BY stream_id;
SELECT count(*) AS events FROM es_store.events;
