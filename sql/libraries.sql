-- The store interfaces of five event-sourcing libraries, served by es_store:
-- X3m (X3m.System.Aggregate.Repo), Hume (Hume.EventStore), pupsourcing
-- (store.EventStore, EventReader, AggregateStreamReader, CheckpointStore),
-- Gleam eventsourcing (the EventStore record) and asynx (models.Store).
-- Each section makes the calls that library's adapter makes, in the order
-- it makes them, with the argument mapping of README.md, "Using es_store
-- from an event-sourcing library". Each section has keys of its own.
-- The adapters run as a writer (es_store_writer), as an application does,
-- and hard deletes as an administrator (es_store_admin).
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default
DROP ROLE IF EXISTS regress_es_lib_app;
DROP ROLE IF EXISTS regress_es_lib_admin;
CREATE ROLE regress_es_lib_app IN ROLE es_store_writer;
CREATE ROLE regress_es_lib_admin IN ROLE es_store_admin;
SET ROLE regress_es_lib_app;

--------------------------------------------------------------------------
-- X3m. Stream names are "#{stream}-#{id}". Event numbers count from 0, as
-- in EventStoreDB: X3m's number n is es_store's version n + 1, X3m's -1
-- (no stream) is expected version 0, and -2 (skip the check) is NULL.
--------------------------------------------------------------------------
SELECT * FROM es_store.stream_key('x3morder-o1');

-- Loading an aggregate: has?/1 is false for a new stream, and
-- stream_events/3 (start_at 0, per_page 2) yields nothing.
SELECT es_store.aggregate_exists(k.bounded_context, k.aggregate_type, k.aggregate_id) AS has
FROM es_store.stream_key('x3morder-o1') k;
SELECT count(*) AS events FROM es_store.read_stream('x3morder-o1', from_version => 0 + 1, max_count => 2);

-- save_events/3 for the new aggregate (version -1, expected version 0):
-- {:ok, last_event_number} is the last version less one.
SELECT max(aggregate_version) - 1 AS last_event_number
FROM es_store.append_stream('x3morder-o1', -1 + 1,
	ARRAY['Elixir.Order.Created', 'Elixir.Order.ItemAdded'],
	ARRAY['{"id": "o1"}', '{"sku": "A"}']::jsonb[],
	metadata => ARRAY['{"handler": "orders"}', '{"handler": "orders"}']::jsonb[]);
-- The next command, on the aggregate at event number 1 (expected version 2).
SELECT max(aggregate_version) - 1 AS last_event_number
FROM es_store.append_stream('x3morder-o1', 1 + 1,
	ARRAY['Elixir.Order.ItemAdded'], ARRAY['{"sku": "B"}']::jsonb[],
	metadata => ARRAY['{"handler": "orders"}']::jsonb[]);
-- A stale process still at event number 1: SE001, which the adapter
-- returns as {:error, :wrong_expected_version, 1}. Nothing is written.
SELECT * FROM es_store.append_stream('x3morder-o1', 1 + 1,
	ARRAY['Elixir.Order.ItemAdded'], ARRAY['{"sku": "C"}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
-- A second process creating the same aggregate (-1): SE001 too.
SELECT * FROM es_store.append_stream('x3morder-o1', -1 + 1,
	ARRAY['Elixir.Order.Created'], ARRAY['{"id": "o1"}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE

-- Rebuilding the aggregate: has? is true, and stream_events/3 reads pages
-- of per_page events, each {event, event_number, metadata}, until a page
-- is short. The next page starts after the last version read.
SELECT es_store.aggregate_exists(k.bounded_context, k.aggregate_type, k.aggregate_id) AS has
FROM es_store.stream_key('x3morder-o1') k;
SELECT aggregate_version - 1 AS event_number, event_type, payload, metadata
FROM es_store.read_stream('x3morder-o1', from_version => 0 + 1, max_count => 2);
SELECT aggregate_version - 1 AS event_number, event_type, payload, metadata
FROM es_store.read_stream('x3morder-o1', from_version => 2 + 1, max_count => 2);
-- start_at 1: from event number 1 on.
SELECT aggregate_version - 1 AS event_number
FROM es_store.read_stream('x3morder-o1', from_version => 1 + 1, max_count => 2);

-- delete_stream/3, soft (hard_delete? false). A stale expected version
-- (event number 1, version 2) is SE001; -2 skips the check.
SELECT d.* FROM es_store.stream_key('x3morder-o1') k,
	LATERAL es_store.delete_aggregate(k.bounded_context, k.aggregate_type, k.aggregate_id, 1 + 1) d;
\echo :LAST_ERROR_SQLSTATE
SELECT d.deleted_version - 1 AS last_deleted_event_number, d.global_position IS NOT NULL AS marker_written
FROM es_store.stream_key('x3morder-o1') k,
	LATERAL es_store.delete_aggregate(k.bounded_context, k.aggregate_type, k.aggregate_id, NULL) d;
-- The deleted stream is absent: has? is false and it reads empty.
SELECT es_store.aggregate_exists(k.bounded_context, k.aggregate_type, k.aggregate_id) AS has
FROM es_store.stream_key('x3morder-o1') k;
SELECT count(*) AS events FROM es_store.read_stream('x3morder-o1', from_version => 0 + 1, max_count => 2);
-- Created again from "no stream" (-1): its event numbers go on after the
-- deleted ones, as after a soft delete in EventStoreDB.
SELECT max(aggregate_version) - 1 AS last_event_number
FROM es_store.append_stream('x3morder-o1', -1 + 1,
	ARRAY['Elixir.Order.Created'], ARRAY['{"id": "o1"}']::jsonb[]);
SELECT aggregate_version - 1 AS event_number, event_type
FROM es_store.read_stream('x3morder-o1', from_version => 0 + 1, max_count => 2);

-- delete_stream/3, hard (hard_delete? true): forget_aggregate with a
-- tombstone, as an administrator. A stale expected version is SE001.
SELECT max(aggregate_version) - 1 AS last_event_number
FROM es_store.append_stream('x3morder-o2', -1 + 1,
	ARRAY['Elixir.Order.Created', 'Elixir.Order.ItemAdded'],
	ARRAY['{"id": "o2"}', '{"sku": "A"}']::jsonb[]);
SET ROLE regress_es_lib_admin;
SELECT f.* FROM es_store.stream_key('x3morder-o2') k,
	LATERAL es_store.forget_aggregate(k.bounded_context, k.aggregate_type, k.aggregate_id, 0 + 1) f;
\echo :LAST_ERROR_SQLSTATE
SELECT f.forgotten_version - 1 AS last_forgotten_event_number, f.events_removed,
	   f.global_position IS NOT NULL AS marker_written
FROM es_store.stream_key('x3morder-o2') k,
	LATERAL es_store.forget_aggregate(k.bounded_context, k.aggregate_type, k.aggregate_id, 1 + 1, keep_tombstone => true) f;
-- Again: nothing changes, whatever the expected version.
SELECT f.* FROM es_store.stream_key('x3morder-o2') k,
	LATERAL es_store.forget_aggregate(k.bounded_context, k.aggregate_type, k.aggregate_id, 1 + 1) f;
SET ROLE regress_es_lib_app;
-- has? is false; the tombstone refuses save_events from "no stream", and
-- a soft delete, with SE003 ({:error, reason} in the adapter).
SELECT es_store.aggregate_exists(k.bounded_context, k.aggregate_type, k.aggregate_id) AS has
FROM es_store.stream_key('x3morder-o2') k;
SELECT * FROM es_store.append_stream('x3morder-o2', -1 + 1,
	ARRAY['Elixir.Order.Created'], ARRAY['{"id": "o2"}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
SELECT d.* FROM es_store.stream_key('x3morder-o2') k,
	LATERAL es_store.delete_aggregate(k.bounded_context, k.aggregate_type, k.aggregate_id) d;
\echo :LAST_ERROR_SQLSTATE
-- Only administrators forget: a writer gets 42501.
SELECT f.* FROM es_store.stream_key('x3morder-o1') k,
	LATERAL es_store.forget_aggregate(k.bounded_context, k.aggregate_type, k.aggregate_id) f;
\echo :LAST_ERROR_SQLSTATE

--------------------------------------------------------------------------
-- Hume. The adapter names the stream with one string and stores the
-- payload term as bytes (:erlang.term_to_binary/1) under a fixed event
-- type. Hume's sequence number is es_store's version; expect nil is NULL,
-- and the expected last sequence of an empty stream, 0, is expected
-- version 0. events/2 reads after `from` (exclusive).
--------------------------------------------------------------------------
-- append/3 with expect nil: {:ok, 1}.
SELECT aggregate_version AS seq
FROM es_store.append_stream_bytes('humeacct-42', NULL, ARRAY['term'],
	ARRAY['\x83680277096465706f7369746564610a'::bytea]);
-- append/3 with expect 1: {:ok, 2}.
SELECT aggregate_version AS seq
FROM es_store.append_stream_bytes('humeacct-42', 1, ARRAY['term'],
	ARRAY['\x836802770977697468647261776e6103'::bytea]);
-- expect 1 again, and expect 0 on a stream that has events: SE001,
-- returned as {:error, reason}.
SELECT * FROM es_store.append_stream_bytes('humeacct-42', 1, ARRAY['term'], ARRAY['\x00'::bytea]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_stream_bytes('humeacct-42', 0, ARRAY['term'], ARRAY['\x00'::bytea]);
\echo :LAST_ERROR_SQLSTATE
-- events/2 from 0: every {seq, payload}, the bytes as appended; from 1:
-- the events after sequence 1.
SELECT aggregate_version AS seq, payload_bytes, payload IS NULL AS no_jsonb
FROM es_store.read_stream('humeacct-42', from_version => 0 + 1);
SELECT aggregate_version AS seq FROM es_store.read_stream('humeacct-42', from_version => 1 + 1);
-- events/2 of a stream that was never written: nothing.
SELECT count(*) AS events FROM es_store.read_stream('humeacct-404', from_version => 0 + 1);
-- Hume has no delete callback. An application that deletes a stream
-- (delete_aggregate through stream_key) finds it empty afterwards; the
-- old last sequence is no longer expected (SE001), and expect 0 appends
-- at sequence 3, so sequences stay strictly increasing.
SELECT d.deleted_version FROM es_store.stream_key('humeacct-42') k,
	LATERAL es_store.delete_aggregate(k.bounded_context, k.aggregate_type, k.aggregate_id) d;
SELECT count(*) AS events FROM es_store.read_stream('humeacct-42', from_version => 0 + 1);
SELECT * FROM es_store.append_stream_bytes('humeacct-42', 2, ARRAY['term'], ARRAY['\x00'::bytea]);
\echo :LAST_ERROR_SQLSTATE
SELECT aggregate_version AS seq
FROM es_store.append_stream_bytes('humeacct-42', 0, ARRAY['term'],
	ARRAY['\x83680277096465706f7369746564610a'::bytea]);
SELECT aggregate_version AS seq FROM es_store.read_stream('humeacct-42', from_version => 0 + 1);

--------------------------------------------------------------------------
-- pupsourcing. The key is pupsourcing's own (BoundedContext,
-- AggregateType, AggregateID), versions count from 1 in both, Any() is
-- NULL, NoStream() and Exact(0) are 0, Exact(N) is N. Payloads are []byte:
-- append_bytes keeps them byte for byte. Every call runs in the
-- caller's transaction (tx).
--------------------------------------------------------------------------
SELECT es_store.last_position() AS pup_start \gset
-- Append(tx, NoStream(), events): AppendResult's versions and positions.
BEGIN;
SELECT event_id, aggregate_version,
	   global_position > :pup_start AS positioned
FROM es_store.append_bytes('Billing', 'Invoice', 'inv-1', 0,
	ARRAY['InvoiceCreated', 'LineAdded'],
	ARRAY[convert_to('{"customer":  "alice"}', 'UTF8'), convert_to('{"sku":"BOOK-1"}', 'UTF8')],
	metadata => ARRAY['{"source": "api"}', NULL]::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-000000000001',
					   '00000000-0000-4000-8000-000000000002']::uuid[],
	event_versions => ARRAY[1, 2],
	correlation_id => 'req-1', causation_id => 'cmd-1', trace_id => 'trace-1');
COMMIT;
-- Append(tx, Exact(2), events).
SELECT event_id, aggregate_version
FROM es_store.append_bytes('Billing', 'Invoice', 'inv-1', 2,
	ARRAY['InvoiceIssued'], ARRAY[convert_to('{}', 'UTF8')],
	event_ids => ARRAY['00000000-0000-4000-8000-000000000003']::uuid[]);
-- The same Append retried (same event ids, same expected version): the
-- original result, nothing written. pupsourcing's own store fails here.
SELECT event_id, aggregate_version
FROM es_store.append_bytes('Billing', 'Invoice', 'inv-1', 2,
	ARRAY['InvoiceIssued'], ARRAY[convert_to('{}', 'UTF8')],
	event_ids => ARRAY['00000000-0000-4000-8000-000000000003']::uuid[]);
SELECT es_store.aggregate_version('Billing', 'Invoice', 'inv-1') AS version;
-- ErrOptimisticConcurrency: a stale Exact(2) with new events, and
-- NoStream() on an existing aggregate, are SE001.
SELECT * FROM es_store.append_bytes('Billing', 'Invoice', 'inv-1', 2,
	ARRAY['InvoicePaid'], ARRAY[convert_to('{}', 'UTF8')]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_bytes('Billing', 'Invoice', 'inv-1', 0,
	ARRAY['InvoiceCreated'], ARRAY[convert_to('{}', 'UTF8')]);
\echo :LAST_ERROR_SQLSTATE
-- Exact(N) on an aggregate that does not exist: SE001.
SELECT * FROM es_store.append_bytes('Billing', 'Invoice', 'inv-404', 3,
	ARRAY['InvoicePaid'], ARRAY[convert_to('{}', 'UTF8')]);
\echo :LAST_ERROR_SQLSTATE
-- An event id stored by another aggregate: SE002 (pupsourcing's store
-- reports that unique violation as ErrOptimisticConcurrency too).
SELECT * FROM es_store.append_bytes('Billing', 'Invoice', 'inv-2', 0,
	ARRAY['InvoiceCreated'], ARRAY[convert_to('{}', 'UTF8')],
	event_ids => ARRAY['00000000-0000-4000-8000-000000000001']::uuid[]);
\echo :LAST_ERROR_SQLSTATE
-- An empty events slice is ErrNoEvents in the adapter; es_store refuses
-- an empty batch with 22023.
SELECT * FROM es_store.append_bytes('Billing', 'Invoice', 'inv-1', NULL,
	ARRAY[]::text[], ARRAY[]::bytea[]);
\echo :LAST_ERROR_SQLSTATE
-- Uniqueness by reservation aggregate: the second NoStream() fails.
SELECT aggregate_version FROM es_store.append_bytes('Identity', 'EmailReservation', 'user@example.com', 0,
	ARRAY['EmailReserved'], ARRAY[convert_to('{"user": "u1"}', 'UTF8')],
	event_ids => ARRAY['00000000-0000-4000-8000-000000000004']::uuid[]);
SELECT * FROM es_store.append_bytes('Identity', 'EmailReservation', 'user@example.com', 0,
	ARRAY['EmailReserved'], ARRAY[convert_to('{"user": "u2"}', 'UTF8')],
	event_ids => ARRAY['00000000-0000-4000-8000-000000000005']::uuid[]);
\echo :LAST_ERROR_SQLSTATE
-- Events with causation, correlation and trace ids of their own: one
-- JSON batch, the payloads in base64.
SELECT aggregate_version FROM es_store.append_events(0, jsonb_build_array(
	jsonb_build_object('bounded_context', 'Billing', 'aggregate_type', 'Invoice',
		'aggregate_id', 'inv-2', 'event_type', 'InvoiceCreated',
		'event_id', '00000000-0000-4000-8000-000000000006',
		'payload_bytes', encode(convert_to('{"customer": "bob"}', 'UTF8'), 'base64'),
		'causation_id', 'cmd-2', 'correlation_id', 'req-2', 'trace_id', 'trace-2'),
	jsonb_build_object('bounded_context', 'Billing', 'aggregate_type', 'Invoice',
		'aggregate_id', 'inv-2', 'event_type', 'LineAdded',
		'event_id', '00000000-0000-4000-8000-000000000007',
		'payload_bytes', encode(convert_to('{"sku": "PEN-1"}', 'UTF8'), 'base64'),
		'causation_id', 'InvoiceCreated', 'correlation_id', 'req-2', 'trace_id', 'trace-2')));

-- ReadEvents(tx, fromPosition, limit): events after fromPosition, in
-- global position order, in pages of limit.
SELECT aggregate_id, aggregate_version, event_type FROM es_store.read_feed(:pup_start, 3);
SELECT max(global_position) AS pup_page FROM es_store.read_feed(:pup_start, 3) \gset
SELECT aggregate_id, aggregate_version, event_type FROM es_store.read_feed(:pup_page, 3);
-- Every PersistedEvent field, the payload byte for byte (the two spaces
-- in the first are kept), metadata as a JSON object ({} when nil).
SELECT aggregate_id, aggregate_version, event_id, event_type, event_version,
	   convert_from(payload_bytes, 'UTF8') AS payload, metadata,
	   correlation_id, causation_id, trace_id
FROM es_store.read_feed(:pup_start, 100) ORDER BY global_position;
-- Positions increase along the feed, and the first is after pup_start.
SELECT bool_and(global_position > prev) AS increasing, count(*) AS events
FROM (SELECT global_position, lag(global_position, 1, :pup_start::bigint)
			 OVER (ORDER BY global_position) AS prev
	  FROM es_store.read_feed(:pup_start, 100)) f;
-- A deleted aggregate's events leave the feed, and a $deleted marker
-- (event_version 0, payload {"version": N}) joins it at a new position:
-- the adapter passes it on as a PersistedEvent or drops it.
SELECT d.deleted_version FROM es_store.delete_aggregate('Identity', 'EmailReservation', 'user@example.com') d;
SELECT aggregate_id, event_type, event_version, payload, payload_bytes IS NULL AS no_bytes
FROM es_store.read_feed(:pup_start, 100) WHERE bounded_context = 'Identity';

-- ReadAggregateStream(tx, bc, type, id, from, to), inclusive bounds;
-- Stream.Version() is the last event's version, 0 when there is none.
SELECT aggregate_version, event_type FROM es_store.read_aggregate('Billing', 'Invoice', 'inv-1', NULL, NULL);
SELECT aggregate_version FROM es_store.read_aggregate('Billing', 'Invoice', 'inv-1', 2, NULL);
SELECT aggregate_version FROM es_store.read_aggregate('Billing', 'Invoice', 'inv-1', NULL, 2);
SELECT aggregate_version FROM es_store.read_aggregate('Billing', 'Invoice', 'inv-1', 2, 2);
SELECT coalesce(max(aggregate_version), 0) AS stream_version, count(*) AS events
FROM es_store.read_aggregate('Billing', 'Invoice', 'inv-404', NULL, NULL);

-- CheckpointStore: GetCheckpoint is 0 before the first save;
-- UpdateCheckpoint saves in the transaction that wrote the read model.
SELECT es_store.get_checkpoint('regress-pup-invoices') AS checkpoint;
BEGIN;
SELECT es_store.save_checkpoint('regress-pup-invoices', :pup_page);
COMMIT;
SELECT es_store.get_checkpoint('regress-pup-invoices') = :pup_page AS saved;
-- A position behind the saved one is SE004 (pupsourcing's own store
-- would move the checkpoint back). Terse: the detail names positions.
\set VERBOSITY terse
SELECT es_store.save_checkpoint('regress-pup-invoices', :pup_start);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT es_store.get_checkpoint('regress-pup-invoices') = :pup_page AS unchanged;

--------------------------------------------------------------------------
-- Gleam eventsourcing. The adapter holds a bounded context and an
-- aggregate type of its own (the store's aggregate_type); Gleam's
-- aggregate_id is the aggregate id. Sequences are versions: a new
-- aggregate is at sequence 0, expected version 0. load_events reads after
-- start_from (exclusive). Payloads and entities are the encoders' JSON.
--------------------------------------------------------------------------
-- Loading a new aggregate: no snapshot, no events (sequence 0).
SELECT count(*) AS snapshots FROM es_store.load_snapshot('gleam', 'bank_account', 'acc-1');
SELECT count(*) AS events FROM es_store.read_aggregate('gleam', 'bank_account', 'acc-1', from_version => 0 + 1);
-- execute_transaction: commit_events with the aggregate at sequence 0,
-- the command's metadata on every event; then, with a snapshot frequency
-- of 2, save_snapshot at the new sequence 2, in the same transaction.
BEGIN;
SELECT aggregate_version AS sequence
FROM es_store.append('gleam', 'bank_account', 'acc-1', 0,
	ARRAY['AccountOpened', 'MoneyDeposited'],
	ARRAY['{"account_id": "acc-1"}', '{"amount": 100}']::jsonb[],
	metadata => ARRAY['{"user_id": "alice", "session_id": "abc123"}',
					  '{"user_id": "alice", "session_id": "abc123"}']::jsonb[],
	event_versions => ARRAY['1'::integer, '1'::integer]);
SELECT * FROM es_store.save_snapshot('gleam', 'bank_account', 'acc-1', 2,
	'{"balance": 100}', metadata => '{"timestamp": 1767225600}');
COMMIT;
-- load_events from 0: every SerializedEventEnvelop's fields.
SELECT aggregate_id, aggregate_version AS sequence, payload, metadata, event_type,
	   event_version::text AS event_version, aggregate_type
FROM es_store.read_aggregate('gleam', 'bank_account', 'acc-1', from_version => 0 + 1);
-- load_snapshot: Snapshot(aggregate_id, entity, sequence, timestamp), and
-- load_events after its sequence: none yet.
SELECT 'acc-1' AS aggregate_id, payload AS entity, aggregate_version AS sequence,
	   (metadata ->> 'timestamp')::bigint AS "timestamp"
FROM es_store.load_snapshot('gleam', 'bank_account', 'acc-1');
SELECT count(*) AS events FROM es_store.read_aggregate('gleam', 'bank_account', 'acc-1', from_version => 2 + 1);
-- The next command, from sequence 2.
SELECT aggregate_version AS sequence
FROM es_store.append('gleam', 'bank_account', 'acc-1', 2,
	ARRAY['MoneyWithdrawn'], ARRAY['{"amount": 30}']::jsonb[]);
-- Another actor's command from sequence 2 as well: SE001, returned as
-- EventStoreError, and execute_transaction rolls back.
BEGIN;
SELECT * FROM es_store.append('gleam', 'bank_account', 'acc-1', 2,
	ARRAY['MoneyWithdrawn'], ARRAY['{"amount": 50}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- Loading again: the snapshot, then the events after it, in one call.
SELECT aggregate_version AS sequence, snapshot_version IS NOT NULL AS is_snapshot, payload
FROM es_store.load_aggregate('gleam', 'bank_account', 'acc-1');
-- A save_snapshot older than the stored one keeps the stored one
-- (saved = false); one ahead of the stream is SE006.
SELECT * FROM es_store.save_snapshot('gleam', 'bank_account', 'acc-1', 1, '{"balance": 0}');
SELECT * FROM es_store.save_snapshot('gleam', 'bank_account', 'acc-1', 4, '{"balance": 0}');
\echo :LAST_ERROR_SQLSTATE
-- AggregateStats(aggregate_id, event_count, current_sequence,
-- has_snapshot) in one call, and the same from count_events,
-- aggregate_version and load_snapshot.
SELECT 'acc-1' AS aggregate_id, event_count, current_version AS current_sequence,
	   snapshot_version IS NOT NULL AS has_snapshot, snapshot_version
FROM es_store.aggregate_stats('gleam', 'bank_account', 'acc-1');
SELECT 'acc-1' AS aggregate_id,
	   es_store.count_events('gleam', 'bank_account', 'acc-1') AS event_count,
	   es_store.aggregate_version('gleam', 'bank_account', 'acc-1') AS current_sequence,
	   EXISTS (SELECT FROM es_store.load_snapshot('gleam', 'bank_account', 'acc-1')) AS has_snapshot;
-- An id never written has no stats row.
SELECT count(*) AS rows FROM es_store.aggregate_stats('gleam', 'bank_account', 'acc-404');
-- load_aggregate of an id never written: no rows (the library then
-- answers EntityNotFound).
SELECT count(*) AS rows FROM es_store.load_aggregate('gleam', 'bank_account', 'acc-404');
-- The library counts the events it loads to get the sequence. After a
-- delete and a new start at sequence 0, the stream goes on at version 3:
-- the library counts 1 event, and its next commit from sequence 1 fails.
SELECT count(*) FROM es_store.append('gleam', 'bank_account', 'acc-2', 0,
	ARRAY['AccountOpened', 'AccountClosed'], ARRAY['{}', '{}']::jsonb[]);
SELECT deleted_version FROM es_store.delete_aggregate('gleam', 'bank_account', 'acc-2', 2);
SELECT aggregate_version FROM es_store.append('gleam', 'bank_account', 'acc-2', 0,
	ARRAY['AccountOpened'], ARRAY['{}']::jsonb[]);
SELECT count(*) AS counted_sequence,
	   es_store.aggregate_version('gleam', 'bank_account', 'acc-2') AS version
FROM es_store.read_aggregate('gleam', 'bank_account', 'acc-2', from_version => 0 + 1);
SELECT * FROM es_store.append('gleam', 'bank_account', 'acc-2', 1,
	ARRAY['MoneyDeposited'], ARRAY['{}']::jsonb[]);
\echo :LAST_ERROR_SQLSTATE
-- Forgotten without a tombstone instead, the id starts again at version
-- 1, and the library's count is right.
SET ROLE regress_es_lib_admin;
SELECT forgotten_version, events_removed
FROM es_store.forget_aggregate('gleam', 'bank_account', 'acc-2', keep_tombstone => false);
SET ROLE regress_es_lib_app;
SELECT aggregate_version AS sequence FROM es_store.append('gleam', 'bank_account', 'acc-2', 0,
	ARRAY['AccountOpened'], ARRAY['{}']::jsonb[]);
SELECT count(*) AS counted_sequence,
	   es_store.aggregate_version('gleam', 'bank_account', 'acc-2') AS version
FROM es_store.read_aggregate('gleam', 'bank_account', 'acc-2', from_version => 0 + 1);

--------------------------------------------------------------------------
-- asynx. Store.Append writes one blob at a version asynx chose (from 1)
-- and needs only (aggregateID, version) to be unique: append_at_version
-- with a bytea payload and a fixed event type. The event store and the
-- snapshot store are two aggregate types; ReadFrom and ReadRange include
-- fromVersion.
--------------------------------------------------------------------------
SELECT aggregate_version FROM es_store.append_at_version_bytes('asynx', 'order', 'order_123', 1,
	'asynx.patch', convert_to('[{"op": "add", "path": "/status", "value": "new"}]', 'UTF8'));
SELECT aggregate_version FROM es_store.append_at_version_bytes('asynx', 'order', 'order_123', 2,
	'asynx.patch', convert_to('[{"op": "replace", "path": "/status", "value": "paid"}]', 'UTF8'));
SELECT aggregate_version FROM es_store.append_at_version_bytes('asynx', 'order', 'order_123', 3,
	'asynx.patch', convert_to('[{"op": "replace", "path": "/status", "value": "shipped"}]', 'UTF8'));
-- Another node writes version 3 too: SE001 (asynx: ErrPipelineFailed).
SELECT * FROM es_store.append_at_version_bytes('asynx', 'order', 'order_123', 3,
	'asynx.patch', convert_to('[]', 'UTF8'));
\echo :LAST_ERROR_SQLSTATE
-- The snapshot store: a snapshot at version 2 (its stream has gaps).
SELECT aggregate_version FROM es_store.append_at_version_bytes('asynx', 'order.snapshot', 'order_123', 2,
	'asynx.snapshot', convert_to('{"status": "paid"}', 'UTF8'));
-- ReadFrom(id, 0): every blob, in version order; ReadFrom(id, 3) after
-- the snapshot at 2.
SELECT convert_from(payload_bytes, 'UTF8') AS data
FROM es_store.read_aggregate('asynx', 'order', 'order_123', from_version => 0);
SELECT aggregate_version, convert_from(payload_bytes, 'UTF8') AS data
FROM es_store.read_aggregate('asynx', 'order', 'order_123', from_version => 3);
-- ReadRange(id, 2, 1). ReadRange with count 0 is answered by the adapter
-- without a call: max_count 0 is 22023.
SELECT aggregate_version FROM es_store.read_aggregate('asynx', 'order', 'order_123', from_version => 2, max_count => 1);
SELECT * FROM es_store.read_aggregate('asynx', 'order', 'order_123', from_version => 2, max_count => 0);
\echo :LAST_ERROR_SQLSTATE
-- A second snapshot, at 3. The latest snapshot, from the snapshot store.
SELECT aggregate_version FROM es_store.append_at_version_bytes('asynx', 'order.snapshot', 'order_123', 3,
	'asynx.snapshot', convert_to('{"status": "shipped"}', 'UTF8'));
SELECT aggregate_version, convert_from(payload_bytes, 'UTF8') AS data
FROM es_store.read_aggregate_backward('asynx', 'order.snapshot', 'order_123', max_count => 1);
-- Optionally, the snapshot stream keeps its last snapshot only: older
-- ones are hidden (and removed by purge), and ReadFrom returns the last.
SELECT * FROM es_store.set_stream_metadata('asynx', 'order.snapshot', 'order_123', max_count => 1);
SELECT * FROM es_store.get_stream_metadata('asynx', 'order.snapshot', 'order_123');
SELECT aggregate_version, convert_from(payload_bytes, 'UTF8') AS data
FROM es_store.read_aggregate('asynx', 'order.snapshot', 'order_123', from_version => 0);
-- Count(id, 0) and Count(id, 3); aggregate_stats counts the same events.
SELECT es_store.count_events('asynx', 'order', 'order_123', 0) AS from_0,
	   es_store.count_events('asynx', 'order', 'order_123', 3) AS from_3;
SELECT event_count, first_version, current_version, max_count
FROM es_store.aggregate_stats('asynx', 'order', 'order_123');
SELECT event_count, first_version, current_version, max_count
FROM es_store.aggregate_stats('asynx', 'order.snapshot', 'order_123');
-- ReadFrom of an id never written: no blobs (asynx: the aggregate does
-- not exist yet).
SELECT count(*) AS blobs FROM es_store.read_aggregate('asynx', 'order', 'order_404', from_version => 0);
-- Delete(id) must let asynx start the id again at version 1. A soft
-- delete does not: the reads and Count are empty afterwards, but the
-- stream keeps its versions, and Append(id, 1) is SE001.
SELECT deleted_version FROM es_store.delete_aggregate('asynx', 'order', 'order_123');
SELECT count(*) AS blobs FROM es_store.read_aggregate('asynx', 'order', 'order_123', from_version => 0);
SELECT es_store.count_events('asynx', 'order', 'order_123', 0) AS counted;
SELECT * FROM es_store.append_at_version_bytes('asynx', 'order', 'order_123', 1,
	'asynx.patch', convert_to('[]', 'UTF8'));
\echo :LAST_ERROR_SQLSTATE
-- Delete(id) is forget_aggregate without a tombstone, on both streams, as
-- an administrator; again, or for an unknown id, it changes nothing.
SET ROLE regress_es_lib_admin;
SELECT forgotten_version, events_removed FROM es_store.forget_aggregate('asynx', 'order', 'order_123', keep_tombstone => false);
SELECT forgotten_version, events_removed FROM es_store.forget_aggregate('asynx', 'order.snapshot', 'order_123', keep_tombstone => false);
SELECT * FROM es_store.forget_aggregate('asynx', 'order', 'order_123', keep_tombstone => false);
SELECT * FROM es_store.forget_aggregate('asynx', 'order', 'order_404', keep_tombstone => false);
SET ROLE regress_es_lib_app;
SELECT count(*) AS blobs FROM es_store.read_aggregate('asynx', 'order.snapshot', 'order_123', from_version => 0);
SELECT count(*) AS stats FROM es_store.aggregate_stats('asynx', 'order', 'order_123');
SELECT count(*) AS metadata FROM es_store.get_stream_metadata('asynx', 'order.snapshot', 'order_123');
-- The id starts again at version 1.
SELECT aggregate_version FROM es_store.append_at_version_bytes('asynx', 'order', 'order_123', 1,
	'asynx.patch', convert_to('[{"op": "add", "path": "/status", "value": "new"}]', 'UTF8'));
SELECT aggregate_version, convert_from(payload_bytes, 'UTF8') AS data
FROM es_store.read_aggregate('asynx', 'order', 'order_123', from_version => 0);

--------------------------------------------------------------------------
-- Housekeeping, outside the libraries' interfaces. purge (an
-- administrator's job, for pg_cron) removes the events the soft deletes
-- above hid (three of X3m, two of Hume, one of pupsourcing), in batches;
-- what the reads return stays.
--------------------------------------------------------------------------
SET ROLE regress_es_lib_admin;
SELECT * FROM es_store.purge(max_events => 4);
SELECT * FROM es_store.purge();
SELECT * FROM es_store.purge();
SET ROLE regress_es_lib_app;
SELECT aggregate_version - 1 AS event_number FROM es_store.read_stream('x3morder-o1');
SELECT aggregate_version AS seq FROM es_store.read_stream('humeacct-42');
-- The store's figures: the safe position is the feed's.
SELECT safe_position = es_store.last_position() AS safe_is_last_position,
	   last_drawn_position >= safe_position AS drawn_at_or_above, total_bytes > 0 AS has_bytes
FROM es_store.store_stats();

RESET ROLE;
SELECT es_store.reset_checkpoint('regress-pup-invoices') IS NOT NULL AS checkpoint_removed;
DROP ROLE regress_es_lib_app;
DROP ROLE regress_es_lib_admin;
