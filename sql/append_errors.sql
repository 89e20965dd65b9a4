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
-- ... with other content (a retry with another expected version is none:
-- sql/idempotency)
SELECT * FROM es_store.append_event('shop', 'order', 'e-2', 1, 'B', '{}',
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

-- bytea payloads: the same rules, and a JSON event's payload is either.
SELECT * FROM es_store.append_event_bytes('shop', 'order', 'b', NULL, 'A', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_at_version_bytes('shop', 'order', 'b', 1, 'A', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_bytes('shop', 'order', 'b', NULL, ARRAY['A', 'B'],
	ARRAY['\x01', NULL]::bytea[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_bytes('shop', 'order', 'b', NULL, ARRAY['A', 'B'],
	ARRAY['\x01']::bytea[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_stream_bytes('bin-1', NULL, ARRAY['A'],
	ARRAY[['\x01'], ['\x02']]::bytea[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_stream_bytes('bin-1', NULL, ARRAY['A'], NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'bin-1', 'event_type', 'A', 'payload', 1, 'payload_bytes', 'AQ==')));
\echo :LAST_ERROR_SQLSTATE
-- (a JSON null payload is a payload; beside payload_bytes it is still two)
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'bin-1', 'event_type', 'A', 'payload', NULL, 'payload_bytes', 'AQ==')));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'bin-1', 'event_type', 'A', 'payload_bytes', 1)));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(
	jsonb_build_object('stream_name', 'bin-1', 'event_type', 'A', 'payload_bytes', 'AQ=='),
	jsonb_build_object('stream_name', 'bin-1', 'event_type', 'A', 'payload_bytes', 'not base64!')));
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
-- The limit counts the event type and the correlation, causation and
-- trace ids too (before 0.2.1, 5 MB of each passed a 1 kB limit).
SELECT * FROM es_store.append_event('shop', 'order', 'x', NULL, repeat('T', 5000), '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_event('shop', 'order', 'x', NULL, 'A', '{}',
	correlation_id => repeat('c', 5000));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, ARRAY['A'], ARRAY['{}']::jsonb[],
	causation_id => repeat('c', 600), trace_id => repeat('t', 600));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'cart-1', 'event_type', 'A', 'payload', 1, 'trace_id', repeat('t', 2000))));
\echo :LAST_ERROR_SQLSTATE
-- bytea payloads count as their bytes, in every form: each value counts
-- with its 4-byte header, so 1007 bytes beside the event type 'A' (5) and
-- the empty metadata (8) are exactly 1024, and one byte more is too many.
SELECT count(*) FROM es_store.append_event_bytes('shop', 'order', 'bytes-limit', 0, 'A',
	decode(repeat('ab', 1007), 'hex'));
SELECT * FROM es_store.append_event_bytes('shop', 'order', 'x', NULL, 'A',
	decode(repeat('ab', 1008), 'hex'));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_stream_bytes('bin-1', NULL, ARRAY['A', 'B'],
	ARRAY['\x01'::bytea, decode(repeat('ab', 2000), 'hex')]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'bin-1', 'event_type', 'A',
	'payload_bytes', encode(decode(repeat('ab', 2000), 'hex'), 'base64'))));
\echo :LAST_ERROR_SQLSTATE
RESET es_store.max_event_bytes;
SELECT * FROM es_store.append_event('shop', 'order', repeat('k', 3000), NULL, 'A', '{}');
\echo :LAST_ERROR_SQLSTATE
-- A stream name counts once, against its own limit of 1024 bytes.
SELECT * FROM es_store.append_stream(repeat('s', 1025), NULL, ARRAY['A'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT aggregate_version FROM es_store.append_stream(repeat('s', 1024), NULL, ARRAY['A'], ARRAY['{}']::jsonb[]);
SELECT aggregate_version FROM es_store.append_stream('long-' || repeat('s', 1019), NULL, ARRAY['A'], ARRAY['{}']::jsonb[]);
SELECT es_store.stream_version(repeat('s', 1025));
\echo :LAST_ERROR_SQLSTATE
-- A composite key up to 2048 bytes.
SELECT aggregate_version FROM es_store.append_event(repeat('b', 1000), repeat('t', 48), repeat('i', 1000), NULL, 'A', '{}');
SELECT * FROM es_store.append_event(repeat('b', 1000), repeat('t', 49), repeat('i', 1000), NULL, 'A', '{}');
\echo :LAST_ERROR_SQLSTATE

-- The batch limit is checked before the arrays are unpacked: an oversized
-- batch is 54000 whatever else is wrong with it (before 0.2.1 every array
-- was unpacked first, and a huge one cost gigabytes before the error).
SET es_store.max_batch_events = 100;
SELECT * FROM es_store.append('shop', 'order', 'x', NULL, array_fill('A'::text, ARRAY[101]),
	ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, (SELECT jsonb_agg(jsonb_build_object(
	'stream_name', 'cart-1', 'event_type', 'A', 'payload', 1, 'bogus', true)) FROM generate_series(1, 101)));
\echo :LAST_ERROR_SQLSTATE
RESET es_store.max_batch_events;

-- Versions go up to 2^53 - 1.  Before 0.2.1, append_at_version accepted
-- 2^63 - 1, and every later append to that stream failed with 22003.
SELECT * FROM es_store.append_at_version('shop', 'order', 'top', 9007199254740992, 'A', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_at_version('shop', 'order', 'top', 9223372036854775807, 'A', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT aggregate_version FROM es_store.append_at_version('shop', 'order', 'top', 9007199254740990, 'A', '{}');
SELECT aggregate_version FROM es_store.append_event('shop', 'order', 'top', NULL, 'B', '{}');
SELECT * FROM es_store.append_event('shop', 'order', 'top', NULL, 'C', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('shop', 'order', 'top', 9007199254740991, ARRAY['C', 'D'], ARRAY['{}', '{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.aggregate_version('shop', 'order', 'top');

-- JSON event versions are integers from 1 to 2147483647: 1.5 is not
-- rounded to 2 and 10000000000 is not a 22003 (both before 0.2.1).
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'cart-1', 'event_type', 'A', 'payload', 1, 'event_version', 1.5)));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'cart-1', 'event_type', 'A', 'payload', 1, 'event_version', 10000000000)));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'cart-1', 'event_type', 'A', 'payload', 1, 'event_version', 0)));
\echo :LAST_ERROR_SQLSTATE
SELECT aggregate_version FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object(
	'stream_name', 'cart-2', 'event_type', 'A', 'payload', 1, 'event_version', 2.0)));
SELECT event_version FROM es_store.read_stream('cart-2');

-- es_store.notify_channel must be a channel name NOTIFY takes (before
-- 0.2.1 a 100-byte one made every append fail).
SET es_store.notify_channel = 'cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc';
\echo :LAST_ERROR_SQLSTATE
SET es_store.notify_channel = 'ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc';
SHOW es_store.notify_channel;
RESET es_store.notify_channel;

-- None of the failures above left an event or a head behind.
SELECT left(aggregate_id, 10) AS aggregate_id, length(aggregate_id) AS id_length, version
FROM es_store.aggregate_heads h
ORDER BY (SELECT min(global_position) FROM es_store.events e WHERE e.stream_id = h.stream_id);
SELECT count(*) AS events FROM es_store.events;
