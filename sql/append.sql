-- Appends: batches, single events, explicit versions, stream names, JSON.
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;

-- A new aggregate (expected version 0), two events in one batch.
SELECT aggregate_version, global_position
FROM es_store.append('shop', 'order', 'o-1', 0,
	ARRAY['OrderPlaced', 'ItemAdded'],
	ARRAY['{"total": 10}', '{"sku": "A"}']::jsonb[]);

-- Exactly at version 2.
SELECT aggregate_version, global_position
FROM es_store.append('shop', 'order', 'o-1', 2,
	ARRAY['ItemAdded'], ARRAY['{"sku": "B"}']::jsonb[]);

-- Any version (NULL), and "must exist" (-1).
SELECT aggregate_version, global_position
FROM es_store.append('shop', 'order', 'o-1', NULL,
	ARRAY['ItemAdded'], ARRAY['{"sku": "C"}']::jsonb[]);
SELECT aggregate_version, global_position
FROM es_store.append('shop', 'order', 'o-1', -1,
	ARRAY['OrderPaid'], ARRAY['{}']::jsonb[]);
-- "Any" also creates a new aggregate.
SELECT aggregate_version, global_position
FROM es_store.append('shop', 'order', 'o-2', NULL,
	ARRAY['OrderPlaced'], ARRAY['{}']::jsonb[]);

-- Every event field, per event, with caller-chosen ids; created_at is the
-- transaction's time.
BEGIN;
SELECT *
FROM es_store.append('shop', 'customer', 'alice@example.com', 0,
	event_types => ARRAY['Registered', 'Renamed'],
	payloads => ARRAY['{"name": "Alice"}', '"Al"']::jsonb[],
	metadata => ARRAY['{"ip": "10.0.0.1"}', NULL]::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-000000000001',
					   '00000000-0000-4000-8000-000000000002']::uuid[],
	event_versions => ARRAY[2, NULL],
	correlation_id => 'corr-1', causation_id => 'cmd-1', trace_id => 'trace-1');
SELECT aggregate_version, event_type, event_version, payload, metadata,
	   correlation_id, causation_id, trace_id, created_at = now() AS created_now
FROM es_store.read_aggregate('shop', 'customer', 'alice@example.com');
COMMIT;

-- Generated event ids are version 4 UUIDs, all distinct.
SELECT count(DISTINCT event_id) AS ids,
	   bool_and(event_id::text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab]') AS v4
FROM es_store.read_feed(0, 100);

-- Single-event form.
SELECT aggregate_version, global_position
FROM es_store.append_event('shop', 'order', 'o-2', 1, 'ItemAdded', '{"sku": "D"}');
SELECT aggregate_version, global_position
FROM es_store.append_event('shop', 'order', 'o-3', NULL, 'OrderPlaced', '{}',
	metadata => '{"user": "bob"}', event_version => 3,
	correlation_id => 'c', causation_id => 'd', trace_id => 't');
SELECT event_type, event_version, metadata, correlation_id, causation_id, trace_id
FROM es_store.read_aggregate('shop', 'order', 'o-3');

-- Idempotent retry: the same append with the same ids returns the original
-- result and writes nothing.
SELECT * FROM es_store.append('shop', 'customer', 'alice@example.com', 0,
	event_types => ARRAY['Registered', 'Renamed'],
	payloads => ARRAY['{"name": "Alice"}', '"Al"']::jsonb[],
	metadata => ARRAY['{"ip": "10.0.0.1"}', NULL]::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-000000000001',
					   '00000000-0000-4000-8000-000000000002']::uuid[],
	event_versions => ARRAY[2, NULL],
	correlation_id => 'corr-1', causation_id => 'cmd-1', trace_id => 'trace-1');
SELECT * FROM es_store.append_event('shop', 'customer', 'bob@example.com', NULL,
	'Registered', '{}', event_id => '00000000-0000-4000-8000-000000000003');
SELECT * FROM es_store.append_event('shop', 'customer', 'bob@example.com', NULL,
	'Registered', '{}', event_id => '00000000-0000-4000-8000-000000000003');
SELECT * FROM es_store.append_event('shop', 'customer', 'bob@example.com', 0,
	'Registered', '{}', event_id => '00000000-0000-4000-8000-000000000003');
SELECT es_store.aggregate_version('shop', 'customer', 'bob@example.com') AS bob_version,
	   (SELECT count(*) FROM es_store.events) AS stored_events;

-- Explicit version (uniqueness is the only check; gaps are allowed).
SELECT aggregate_version, global_position
FROM es_store.append_at_version('legacy', 'ledger', 'L1', 1, 'Opened', '{}');
SELECT aggregate_version, global_position
FROM es_store.append_at_version('legacy', 'ledger', 'L1', 5, 'Posted', '{}');
SELECT aggregate_version, global_position
FROM es_store.append_at_version('legacy', 'ledger', 'L1', 3, 'Posted', '{}');
SELECT es_store.aggregate_version('legacy', 'ledger', 'L1') AS ledger_version;
-- Retrying an explicit-version append with its event id returns the original.
SELECT aggregate_version, global_position
FROM es_store.append_at_version('legacy', 'ledger', 'L1', 7, 'Posted', '{}',
	event_id => '00000000-0000-4000-8000-000000000007');
SELECT aggregate_version, global_position
FROM es_store.append_at_version('legacy', 'ledger', 'L1', 7, 'Posted', '{}',
	event_id => '00000000-0000-4000-8000-000000000007');

-- Stream names map onto ('', category, name).
SELECT * FROM es_store.stream_key('account-42');
SELECT * FROM es_store.stream_key('account');
SELECT * FROM es_store.stream_key('billing-invoice-7');
SELECT aggregate_version, global_position
FROM es_store.append_stream('account-42', 0, ARRAY['Opened', 'Deposited'],
	ARRAY['{}', '{"amount": 5}']::jsonb[]);
SELECT bounded_context, aggregate_type, aggregate_id, aggregate_version, event_type
FROM es_store.read_stream('account-42');
SELECT es_store.stream_version('account-42') AS stream_version,
	   es_store.aggregate_version('', 'account', 'account-42') AS same_aggregate;

-- A JSON array of events.
SELECT aggregate_version, global_position
FROM es_store.append_events(NULL, jsonb_build_array(
	jsonb_build_object('bounded_context', 'shop', 'aggregate_type', 'cart',
		'aggregate_id', 'c-1', 'event_type', 'CartOpened', 'payload', '{}'::jsonb),
	jsonb_build_object('bounded_context', 'shop', 'aggregate_type', 'cart',
		'aggregate_id', 'c-1', 'event_type', 'ItemAdded',
		'payload', jsonb_build_object('sku', 'X'), 'event_version', 2,
		'metadata', jsonb_build_object('m', 1),
		'event_id', '00000000-0000-4000-8000-00000000000c',
		'correlation_id', 'k', 'causation_id', 'l', 'trace_id', 'm')));
SELECT aggregate_version, event_id = '00000000-0000-4000-8000-00000000000c' AS given_id,
	   event_type, event_version, payload, metadata, correlation_id, causation_id, trace_id
FROM es_store.read_aggregate('shop', 'cart', 'c-1');
SELECT aggregate_version, global_position
FROM es_store.append_events(0, jsonb_build_array(
	jsonb_build_object('stream_name', 'cart-9', 'event_type', 'CartOpened',
		'payload', '{}'::jsonb)));
SELECT aggregate_type, aggregate_id FROM es_store.read_stream('cart-9');

-- The same defaults in every form: a NULL event_version is 1 in
-- append_event and append_at_version as in append (before 0.2.1 the single
-- forms refused it), and a JSON null payload is a payload in append_events
-- as 'null'::jsonb is in append (before 0.2.1 the JSON form refused it).
SELECT aggregate_version FROM es_store.append_event('shop', 'cart', 'd-1', 0, 'A', 'null',
	event_version => NULL);
SELECT aggregate_version FROM es_store.append_at_version('shop', 'cart', 'd-1', 2, 'B', '{}',
	event_version => NULL);
SELECT aggregate_version FROM es_store.append('shop', 'cart', 'd-1', 2, ARRAY['C'], ARRAY['null']::jsonb[],
	event_versions => ARRAY[NULL]::integer[]);
SELECT aggregate_version FROM es_store.append_events(3, jsonb_build_array(
	jsonb_build_object('bounded_context', 'shop', 'aggregate_type', 'cart', 'aggregate_id', 'd-1',
		'event_type', 'D', 'payload', NULL)));
SELECT aggregate_version, event_type, event_version, payload, jsonb_typeof(payload) AS payload_type
FROM es_store.read_aggregate('shop', 'cart', 'd-1');

-- bytea payloads, byte for byte, through every append form (payload is
-- then NULL), beside jsonb events of the same aggregate, with generated
-- ids (the direct path) and given ids (the SQL statements).
SELECT aggregate_version FROM es_store.append_event_bytes('shop', 'blob', 'b-1', 0, 'Term',
	'\x836d00000003616263'::bytea, '{"codec": "etf"}');
SELECT aggregate_version FROM es_store.append_event('shop', 'blob', 'b-1', 1, 'Json', '{"a": 1}');
SELECT aggregate_version FROM es_store.append_bytes('shop', 'blob', 'b-1', 2, ARRAY['P1', 'P2'],
	ARRAY['\x00'::bytea, '\x0a0b0c'::bytea]);
SELECT aggregate_version FROM es_store.append_bytes('shop', 'blob', 'b-1', 4, ARRAY['Q1', 'Q2'],
	ARRAY[''::bytea, '\xff'::bytea],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000b1',
					   '00000000-0000-4000-8000-0000000000b2']::uuid[]);
SELECT aggregate_version FROM es_store.append_event_bytes('shop', 'blob', 'b-1', 6, 'R', '\x01'::bytea,
	event_id => '00000000-0000-4000-8000-0000000000b3');
SELECT aggregate_version FROM es_store.append_at_version_bytes('shop', 'blob', 'b-1', 9, 'S', '\x02'::bytea);
SELECT aggregate_version FROM es_store.append_stream_bytes('blob-2', 0, ARRAY['T'], ARRAY['\x03']::bytea[]);
SELECT aggregate_version FROM es_store.append_events(9, jsonb_build_array(
	jsonb_build_object('bounded_context', 'shop', 'aggregate_type', 'blob', 'aggregate_id', 'b-1',
		'event_type', 'U', 'payload_bytes', encode('\xdeadbeef'::bytea, 'base64')),
	jsonb_build_object('bounded_context', 'shop', 'aggregate_type', 'blob', 'aggregate_id', 'b-1',
		'event_type', 'V', 'payload', jsonb_build_object('b', 2)),
	jsonb_build_object('bounded_context', 'shop', 'aggregate_type', 'blob', 'aggregate_id', 'b-1',
		'event_type', 'W', 'payload_bytes', '')));
SELECT aggregate_version, event_type, payload, payload_bytes, metadata
FROM es_store.read_aggregate('shop', 'blob', 'b-1');
SELECT aggregate_id, event_type, payload, payload_bytes FROM es_store.read_stream('blob-2');
-- The feed returns them too, filtered or not.
SELECT aggregate_version, event_type, payload_bytes
FROM es_store.read_feed(0, 1000) WHERE aggregate_type = 'blob' AND payload_bytes IS NOT NULL;
SELECT count(*) FILTER (WHERE payload_bytes IS NOT NULL) AS bytes,
	   count(*) FILTER (WHERE payload IS NOT NULL) AS jsonb
FROM es_store.read_feed(0, 1000, aggregate_types => ARRAY['blob'], segment => 0, segment_count => 1);
-- A retry with the same ids returns the stored result and writes nothing.
SELECT aggregate_version FROM es_store.append_bytes('shop', 'blob', 'b-1', 4, ARRAY['Q1', 'Q2'],
	ARRAY[''::bytea, '\xff'::bytea],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000b1',
					   '00000000-0000-4000-8000-0000000000b2']::uuid[]);
SELECT es_store.aggregate_version('shop', 'blob', 'b-1') AS version_after_retry;

-- Heads: one row per aggregate, at its current version.
SELECT bounded_context, aggregate_type, aggregate_id, version
FROM es_store.aggregate_heads h
ORDER BY (SELECT min(global_position) FROM es_store.events e WHERE e.stream_id = h.stream_id);
