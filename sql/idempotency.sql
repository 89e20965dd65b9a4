-- Idempotent commands: a retry of an append whose event ids are stored (the
-- whole append, in its order, in the same aggregate, with the same content)
-- returns the original result whatever expected version it carries; any
-- other use of a stored id is SE002.  Neither draws a global position.
\set VERBOSITY default
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.positions_drawn() RETURNS bigint LANGUAGE sql
AS $$ SELECT last_value FROM es_store.global_position_seq $$;

-- The first attempt: three events, expecting a new aggregate.
SELECT event_id, aggregate_version, global_position
FROM es_store.append('bank', 'account', 'a-1', 0,
	ARRAY['Opened', 'Deposited', 'Deposited'],
	ARRAY['{"owner": "ann"}', '{"amount": 10}', '{"amount": 5}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a1',
					   '00000000-0000-4000-8000-0000000000a2',
					   '00000000-0000-4000-8000-0000000000a3']::uuid[],
	metadata => ARRAY['{"user": "u1"}', '{"user": "u1"}', '{"user": "u1"}']::jsonb[]);
SELECT pg_temp.positions_drawn() AS drawn \gset

-- The same call again, and with every other expectation: the original
-- result each time (a command handler that reloaded the aggregate retries
-- with version 3), nothing written, no position drawn.
CREATE FUNCTION pg_temp.retry(expected bigint) RETURNS TABLE (event_id uuid, aggregate_version bigint, global_position bigint)
LANGUAGE sql AS $$
	SELECT event_id, aggregate_version, global_position
	FROM es_store.append('bank', 'account', 'a-1', expected,
		ARRAY['Opened', 'Deposited', 'Deposited'],
		ARRAY['{"owner": "ann"}', '{"amount": 10}', '{"amount": 5}']::jsonb[],
		event_ids => ARRAY['00000000-0000-4000-8000-0000000000a1',
						   '00000000-0000-4000-8000-0000000000a2',
						   '00000000-0000-4000-8000-0000000000a3']::uuid[],
		metadata => ARRAY['{"user": "u1"}', '{"user": "u1"}', '{"user": "u1"}']::jsonb[])
$$;
SELECT * FROM pg_temp.retry(0);
SELECT * FROM pg_temp.retry(3);
SELECT * FROM pg_temp.retry(7);
SELECT * FROM pg_temp.retry(-1);
SELECT * FROM pg_temp.retry(NULL);
SELECT es_store.aggregate_version('bank', 'account', 'a-1') AS version,
	   (SELECT count(*) FROM es_store.events) AS events,
	   pg_temp.positions_drawn() = :drawn AS no_position_drawn;

-- The same ids with other content: SE002, naming what differs.
SELECT * FROM es_store.append('bank', 'account', 'a-1', 0,
	ARRAY['Opened', 'Deposited', 'Deposited'],
	ARRAY['{"owner": "ann"}', '{"amount": 10}', '{"amount": 6}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a1',
					   '00000000-0000-4000-8000-0000000000a2',
					   '00000000-0000-4000-8000-0000000000a3']::uuid[],
	metadata => ARRAY['{"user": "u1"}', '{"user": "u1"}', '{"user": "u1"}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
-- ... another event type
SELECT * FROM es_store.append('bank', 'account', 'a-1', 0,
	ARRAY['Opened', 'Deposited', 'Withdrawn'],
	ARRAY['{"owner": "ann"}', '{"amount": 10}', '{"amount": 5}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a1',
					   '00000000-0000-4000-8000-0000000000a2',
					   '00000000-0000-4000-8000-0000000000a3']::uuid[],
	metadata => ARRAY['{"user": "u1"}', '{"user": "u1"}', '{"user": "u1"}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
-- ... other metadata (here: none)
SELECT * FROM es_store.append('bank', 'account', 'a-1', 0,
	ARRAY['Opened', 'Deposited', 'Deposited'],
	ARRAY['{"owner": "ann"}', '{"amount": 10}', '{"amount": 5}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a1',
					   '00000000-0000-4000-8000-0000000000a2',
					   '00000000-0000-4000-8000-0000000000a3']::uuid[]);
\echo :LAST_ERROR_SQLSTATE
-- ... another event version
SELECT * FROM es_store.append_event('bank', 'account', 'a-2', NULL, 'Opened', '{}',
	event_id => '00000000-0000-4000-8000-0000000000b1', correlation_id => 'c-1');
SELECT * FROM es_store.append_event('bank', 'account', 'a-2', NULL, 'Opened', '{}',
	event_id => '00000000-0000-4000-8000-0000000000b1', correlation_id => 'c-1',
	event_version => 2);
\echo :LAST_ERROR_SQLSTATE
-- ... another correlation id, or none
SELECT * FROM es_store.append_event('bank', 'account', 'a-2', NULL, 'Opened', '{}',
	event_id => '00000000-0000-4000-8000-0000000000b1', correlation_id => 'c-2');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_event('bank', 'account', 'a-2', NULL, 'Opened', '{}',
	event_id => '00000000-0000-4000-8000-0000000000b1');
\echo :LAST_ERROR_SQLSTATE
-- ... the same content: the original result
SELECT aggregate_version FROM es_store.append_event('bank', 'account', 'a-2', 5, 'Opened', '{}',
	event_id => '00000000-0000-4000-8000-0000000000b1', correlation_id => 'c-1');

-- Only part of the stored append, its events in another order, or more
-- events than it had: SE002.
SELECT * FROM es_store.append('bank', 'account', 'a-1', 0,
	ARRAY['Opened', 'Deposited'],
	ARRAY['{"owner": "ann"}', '{"amount": 10}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a1',
					   '00000000-0000-4000-8000-0000000000a2']::uuid[],
	metadata => ARRAY['{"user": "u1"}', '{"user": "u1"}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('bank', 'account', 'a-1', 1,
	ARRAY['Deposited', 'Deposited'],
	ARRAY['{"amount": 10}', '{"amount": 5}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a2',
					   '00000000-0000-4000-8000-0000000000a3']::uuid[],
	metadata => ARRAY['{"user": "u1"}', '{"user": "u1"}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_event('bank', 'account', 'a-1', 2, 'Deposited', '{"amount": 5}',
	metadata => '{"user": "u1"}', event_id => '00000000-0000-4000-8000-0000000000a3');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('bank', 'account', 'a-1', 0,
	ARRAY['Deposited', 'Opened', 'Deposited'],
	ARRAY['{"amount": 10}', '{"owner": "ann"}', '{"amount": 5}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a2',
					   '00000000-0000-4000-8000-0000000000a1',
					   '00000000-0000-4000-8000-0000000000a3']::uuid[],
	metadata => ARRAY['{"user": "u1"}', '{"user": "u1"}', '{"user": "u1"}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append('bank', 'account', 'a-1', 0,
	ARRAY['Opened', 'Deposited', 'Deposited', 'Deposited'],
	ARRAY['{"owner": "ann"}', '{"amount": 10}', '{"amount": 5}', '{"amount": 1}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a1',
					   '00000000-0000-4000-8000-0000000000a2',
					   '00000000-0000-4000-8000-0000000000a3',
					   '00000000-0000-4000-8000-0000000000a4']::uuid[],
	metadata => ARRAY['{"user": "u1"}', '{"user": "u1"}', '{"user": "u1"}', '{"user": "u1"}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
-- ... in another aggregate
SELECT * FROM es_store.append('bank', 'account', 'a-9', 0,
	ARRAY['Opened', 'Deposited', 'Deposited'],
	ARRAY['{"owner": "ann"}', '{"amount": 10}', '{"amount": 5}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a1',
					   '00000000-0000-4000-8000-0000000000a2',
					   '00000000-0000-4000-8000-0000000000a3']::uuid[],
	metadata => ARRAY['{"user": "u1"}', '{"user": "u1"}', '{"user": "u1"}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.aggregate_version('bank', 'account', 'a-1') AS version,
	   (SELECT count(*) FROM es_store.events) AS events,
	   pg_temp.positions_drawn() = :drawn + 1 AS only_a2_drew_a_position;

-- Two appends in one transaction are two appends: each is retried on its
-- own, and not both at once.
BEGIN;
SELECT aggregate_version FROM es_store.append('bank', 'account', 'a-3', 0,
	ARRAY['Opened', 'Deposited'], ARRAY['{}', '{"amount": 1}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000c1',
					   '00000000-0000-4000-8000-0000000000c2']::uuid[]);
SELECT aggregate_version FROM es_store.append_event('bank', 'account', 'a-3', 2,
	'Deposited', '{"amount": 2}', event_id => '00000000-0000-4000-8000-0000000000c3');
COMMIT;
SELECT aggregate_version FROM es_store.append('bank', 'account', 'a-3', 0,
	ARRAY['Opened', 'Deposited'], ARRAY['{}', '{"amount": 1}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000c1',
					   '00000000-0000-4000-8000-0000000000c2']::uuid[]);
SELECT aggregate_version FROM es_store.append('bank', 'account', 'a-3', 2,
	ARRAY['Deposited'], ARRAY['{"amount": 2}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000c3']::uuid[]);
SELECT * FROM es_store.append('bank', 'account', 'a-3', 0,
	ARRAY['Opened', 'Deposited', 'Deposited'],
	ARRAY['{}', '{"amount": 1}', '{"amount": 2}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000c1',
					   '00000000-0000-4000-8000-0000000000c2',
					   '00000000-0000-4000-8000-0000000000c3']::uuid[]);
\echo :LAST_ERROR_SQLSTATE
-- ... and a retry in the transaction of the original is one too.
BEGIN;
SELECT aggregate_version FROM es_store.append_event('bank', 'account', 'a-4', 0,
	'Opened', '{}', event_id => '00000000-0000-4000-8000-0000000000d1');
SELECT aggregate_version FROM es_store.append_event('bank', 'account', 'a-4', 1,
	'Opened', '{}', event_id => '00000000-0000-4000-8000-0000000000d1');
COMMIT;

-- Bytes, the JSON form, explicit versions and stream names: the same rules.
SELECT aggregate_version FROM es_store.append_event_bytes('bank', 'blob', 'b-1', 0,
	'Stored', '\x0102'::bytea, event_id => '00000000-0000-4000-8000-000000000e11');
SELECT aggregate_version FROM es_store.append_event_bytes('bank', 'blob', 'b-1', 1,
	'Stored', '\x0102'::bytea, event_id => '00000000-0000-4000-8000-000000000e11');
SELECT * FROM es_store.append_event_bytes('bank', 'blob', 'b-1', 0,
	'Stored', '\x0103'::bytea, event_id => '00000000-0000-4000-8000-000000000e11');
\echo :LAST_ERROR_SQLSTATE
-- ... the same event as jsonb instead of bytes is other content
SELECT * FROM es_store.append_event('bank', 'blob', 'b-1', 0,
	'Stored', '"\\x0102"', event_id => '00000000-0000-4000-8000-000000000e11');
\echo :LAST_ERROR_SQLSTATE
SELECT aggregate_version FROM es_store.append_events(0,
	'[{"bounded_context": "bank", "aggregate_type": "account", "aggregate_id": "a-5",
	   "event_id": "00000000-0000-4000-8000-0000000000f1", "event_type": "Opened", "payload": {}},
	  {"bounded_context": "bank", "aggregate_type": "account", "aggregate_id": "a-5",
	   "event_id": "00000000-0000-4000-8000-0000000000f2", "event_type": "Deposited", "payload": {"amount": 3}}]');
SELECT aggregate_version FROM es_store.append_events(2,
	'[{"bounded_context": "bank", "aggregate_type": "account", "aggregate_id": "a-5",
	   "event_id": "00000000-0000-4000-8000-0000000000f1", "event_type": "Opened", "payload": {}},
	  {"bounded_context": "bank", "aggregate_type": "account", "aggregate_id": "a-5",
	   "event_id": "00000000-0000-4000-8000-0000000000f2", "event_type": "Deposited", "payload": {"amount": 3}}]');
SELECT aggregate_version FROM es_store.append_at_version('bank', 'ledger', 'l-1', 4,
	'Posted', '{}', event_id => '00000000-0000-4000-8000-000000000101');
SELECT aggregate_version FROM es_store.append_at_version('bank', 'ledger', 'l-1', 9,
	'Posted', '{}', event_id => '00000000-0000-4000-8000-000000000101');
SELECT aggregate_version FROM es_store.append_stream('acct-7', 0, ARRAY['Opened'],
	ARRAY['{}']::jsonb[], event_ids => ARRAY['00000000-0000-4000-8000-000000000201']::uuid[]);
SELECT aggregate_version FROM es_store.append_stream('acct-7', 0, ARRAY['Opened'],
	ARRAY['{}']::jsonb[], event_ids => ARRAY['00000000-0000-4000-8000-000000000201']::uuid[]);

-- Where each append began, as stored.
SELECT aggregate_id, aggregate_version, batch_size
FROM es_store.events WHERE aggregate_type IN ('account', 'blob') ORDER BY global_position;

-- A feed marker's id (a delete's "$deleted") is stored in no aggregate's
-- stream: reusing it is SE002, found before anything is drawn.
SELECT count(*) FROM es_store.append_event('bank', 'gone', 'g-1', 0, 'Opened', '{}');
SELECT deleted_version FROM es_store.delete_aggregate('bank', 'gone', 'g-1');
SELECT event_id AS marker_id FROM es_store.read_feed(0, 100000)
WHERE event_type = '$deleted' AND aggregate_id = 'g-1' \gset
SELECT pg_temp.positions_drawn() AS drawn \gset
\set VERBOSITY sqlstate
SELECT * FROM es_store.append_event('bank', 'account', 'a-6', NULL, 'Opened', '{}',
	event_id => :'marker_id');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.positions_drawn() = :drawn AS no_position_drawn;
