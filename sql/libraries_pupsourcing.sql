-- pupsourcing (store.EventStore, EventReader, AggregateStreamReader,
-- CheckpointStore) served by es_store: Append, ReadEvents,
-- ReadAggregateStream, GetCheckpoint and UpdateCheckpoint, each prepared
-- below with the exact SQL of README.md, "Using es_store from an
-- event-sourcing library", and executed with the values the adapter sends.
-- The key is pupsourcing's own (BoundedContext, AggregateType,
-- AggregateID), versions count from 1 in both, Any() is NULL, NoStream()
-- and Exact(0) are 0, Exact(N) is N. ReadEvents reads after fromPosition
-- (exclusive); ReadAggregateStream's bounds are inclusive. Payloads are
-- []byte: append_bytes keeps them byte for byte. Every call runs in the
-- caller's transaction (tx), as a writer (es_store_writer).
-- Results that carry global positions or times go through a temporary
-- table, and only comparisons of them are shown.
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default
DROP ROLE IF EXISTS regress_es_pup_app;
DROP ROLE IF EXISTS regress_es_pup_other;
CREATE ROLE regress_es_pup_app IN ROLE es_store_writer;
CREATE ROLE regress_es_pup_other IN ROLE es_store_writer;
SET ROLE regress_es_pup_app;

-- EventStore.Append(ctx, tx, expectedVersion, events)
PREPARE pup_append(text, text, text, bigint, text[], bytea[], jsonb[], uuid[], integer[], text, text, text) AS
SELECT event_id, aggregate_version, global_position
FROM es_store.append_bytes($1, $2, $3, $4, $5, $6, metadata => $7, event_ids => $8,
	event_versions => $9, correlation_id => $10, causation_id => $11, trace_id => $12);
-- EventStore.Append, when the events' causation, correlation or trace ids differ
PREPARE pup_append_events(bigint, jsonb) AS
SELECT event_id, aggregate_version, global_position
FROM es_store.append_events($1, $2);
-- EventReader.ReadEvents(ctx, tx, fromPosition, limit)
PREPARE pup_read_events(bigint, integer) AS
SELECT global_position, bounded_context, aggregate_type, aggregate_id, aggregate_version,
	event_id, event_type, event_version,
	coalesce(payload_bytes, convert_to(payload::text, 'UTF8')) AS payload,
	trace_id, correlation_id, causation_id, metadata, created_at
FROM es_store.read_feed($1, $2);
-- AggregateStreamReader.ReadAggregateStream(ctx, tx, boundedContext, aggregateType, aggregateID, fromVersion, toVersion)
PREPARE pup_read_aggregate_stream(text, text, text, bigint, bigint) AS
SELECT global_position, bounded_context, aggregate_type, aggregate_id, aggregate_version,
	event_id, event_type, event_version,
	coalesce(payload_bytes, convert_to(payload::text, 'UTF8')) AS payload,
	trace_id, correlation_id, causation_id, metadata, created_at
FROM es_store.read_aggregate($1, $2, $3, $4, $5);
-- CheckpointStore.GetCheckpoint(ctx, tx, projectionName)
PREPARE pup_get_checkpoint(text) AS
SELECT es_store.get_checkpoint($1) AS position;
-- CheckpointStore.UpdateCheckpoint(ctx, tx, projectionName, position)
PREPARE pup_update_checkpoint(text, bigint) AS
SELECT es_store.save_checkpoint($1, $2);

SELECT es_store.last_position() AS pup_start \gset

-- Unknown: an aggregate never written reads as an empty Stream (Version()
-- 0), the empty feed has no page, and a projection never saved is at 0.
CREATE TEMP TABLE pup_stream AS EXECUTE pup_read_aggregate_stream('Billing', 'Invoice', 'inv-404', NULL, NULL);
SELECT coalesce(max(aggregate_version), 0) AS stream_version, count(*) AS events FROM pup_stream;
DROP TABLE pup_stream;
CREATE TEMP TABLE pup_page AS EXECUTE pup_read_events(:pup_start, 10);
SELECT count(*) AS events FROM pup_page;
DROP TABLE pup_page;
EXECUTE pup_get_checkpoint('regress-pup-invoices');

-- Append(tx, NoStream(), events), in the caller's transaction: the rows
-- fill AppendResult, in batch order; nil metadata is {}.
BEGIN;
CREATE TEMP TABLE pup_r1 AS EXECUTE pup_append('Billing', 'Invoice', 'inv-1', 0,
	ARRAY['InvoiceCreated', 'LineAdded'],
	ARRAY[convert_to('{"customer":  "alice"}', 'UTF8'), convert_to('{"sku":"BOOK-1"}', 'UTF8')],
	ARRAY['{"source": "api"}', NULL]::jsonb[],
	ARRAY['00000000-0000-4000-8000-000000000001',
		  '00000000-0000-4000-8000-000000000002']::uuid[],
	ARRAY[1, 2], 'req-1', 'cmd-1', 'trace-1');
COMMIT;
SELECT event_id, aggregate_version, global_position > :pup_start AS positioned,
	   global_position > lag(global_position, 1, :pup_start::bigint)
		   OVER (ORDER BY aggregate_version) AS increasing
FROM pup_r1 ORDER BY aggregate_version;
-- Append(tx, Exact(2), events).
CREATE TEMP TABLE pup_r2 AS EXECUTE pup_append('Billing', 'Invoice', 'inv-1', 2,
	ARRAY['InvoiceIssued'], ARRAY[convert_to('{}', 'UTF8')], NULL,
	ARRAY['00000000-0000-4000-8000-000000000003']::uuid[], NULL, NULL, NULL, NULL);
SELECT event_id, aggregate_version FROM pup_r2;
-- The same Append retried (same event ids, same expected version): the
-- original result, positions included, and nothing written.
-- pupsourcing's own store fails here.
CREATE TEMP TABLE pup_r3 AS EXECUTE pup_append('Billing', 'Invoice', 'inv-1', 2,
	ARRAY['InvoiceIssued'], ARRAY[convert_to('{}', 'UTF8')], NULL,
	ARRAY['00000000-0000-4000-8000-000000000003']::uuid[], NULL, NULL, NULL, NULL);
SELECT r3.event_id, r3.aggregate_version, r3.global_position = r2.global_position AS same_position
FROM pup_r3 r3 JOIN pup_r2 r2 USING (event_id);
SELECT es_store.aggregate_version('Billing', 'Invoice', 'inv-1') AS version;
-- Any(): no check, on a new aggregate and on one with events.
CREATE TEMP TABLE pup_r4 AS EXECUTE pup_append('Billing', 'Invoice', 'inv-3', NULL,
	ARRAY['InvoiceCreated'], ARRAY[convert_to('{}', 'UTF8')], NULL,
	ARRAY['00000000-0000-4000-8000-000000000008']::uuid[], NULL, NULL, NULL, NULL);
CREATE TEMP TABLE pup_r8 AS EXECUTE pup_append('Billing', 'Invoice', 'inv-3', NULL,
	ARRAY['InvoiceVoided'], ARRAY[convert_to('{}', 'UTF8')], NULL,
	ARRAY['00000000-0000-4000-8000-000000000009']::uuid[], NULL, NULL, NULL, NULL);
SELECT event_id, aggregate_version FROM pup_r4 UNION ALL SELECT event_id, aggregate_version FROM pup_r8
ORDER BY aggregate_version;

-- ErrOptimisticConcurrency: a stale Exact(2) with new events, NoStream()
-- (or Exact(0)) on an existing aggregate, and Exact(N) on an aggregate that
-- does not exist are SE001.
EXECUTE pup_append('Billing', 'Invoice', 'inv-1', 2,
	ARRAY['InvoicePaid'], ARRAY[convert_to('{}', 'UTF8')], NULL, NULL, NULL, NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
EXECUTE pup_append('Billing', 'Invoice', 'inv-1', 0,
	ARRAY['InvoiceCreated'], ARRAY[convert_to('{}', 'UTF8')], NULL, NULL, NULL, NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
EXECUTE pup_append('Billing', 'Invoice', 'inv-404', 3,
	ARRAY['InvoicePaid'], ARRAY[convert_to('{}', 'UTF8')], NULL, NULL, NULL, NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
-- An event id stored by another aggregate: SE002 (pupsourcing's store
-- reports that unique violation as ErrOptimisticConcurrency too).
EXECUTE pup_append('Billing', 'Invoice', 'inv-2', 0,
	ARRAY['InvoiceCreated'], ARRAY[convert_to('{}', 'UTF8')], NULL,
	ARRAY['00000000-0000-4000-8000-000000000001']::uuid[], NULL, NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
-- An empty events slice: es_store refuses an empty batch with 22023, so
-- the adapter returns ErrNoEvents without a call, as pupsourcing's store does.
EXECUTE pup_append('Billing', 'Invoice', 'inv-1', NULL,
	ARRAY[]::text[], ARRAY[]::bytea[], NULL, NULL, NULL, NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
-- Metadata that is not a JSON object: 22023 (the adapter wraps it).
EXECUTE pup_append('Billing', 'Invoice', 'inv-1', NULL,
	ARRAY['InvoicePaid'], ARRAY[convert_to('{}', 'UTF8')], ARRAY['[1, 2]']::jsonb[],
	NULL, NULL, NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
-- None of these wrote anything.
SELECT es_store.aggregate_version('Billing', 'Invoice', 'inv-1') AS inv_1,
	   es_store.aggregate_version('Billing', 'Invoice', 'inv-2') AS inv_2,
	   es_store.aggregate_version('Billing', 'Invoice', 'inv-404') AS inv_404;

-- Uniqueness by reservation aggregate: the second NoStream() fails.
CREATE TEMP TABLE pup_r5 AS EXECUTE pup_append('Identity', 'EmailReservation', 'user@example.com', 0,
	ARRAY['EmailReserved'], ARRAY[convert_to('{"user": "u1"}', 'UTF8')], NULL,
	ARRAY['00000000-0000-4000-8000-000000000004']::uuid[], NULL, NULL, NULL, NULL);
SELECT event_id, aggregate_version FROM pup_r5;
EXECUTE pup_append('Identity', 'EmailReservation', 'user@example.com', 0,
	ARRAY['EmailReserved'], ARRAY[convert_to('{"user": "u2"}', 'UTF8')], NULL,
	ARRAY['00000000-0000-4000-8000-000000000005']::uuid[], NULL, NULL, NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
-- Events with causation, correlation and trace ids of their own: one
-- JSON batch, the payloads in base64.
CREATE TEMP TABLE pup_r6 AS EXECUTE pup_append_events(0, jsonb_build_array(
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
SELECT event_id, aggregate_version FROM pup_r6 ORDER BY aggregate_version;

-- ReadEvents(tx, fromPosition, limit): the events after fromPosition, in
-- global position order, at most limit; the next page reads after the
-- last position of this one, until a page comes back empty.
CREATE TEMP TABLE pup_page AS EXECUTE pup_read_events(:pup_start, 3);
SELECT aggregate_id, aggregate_version, event_type FROM pup_page ORDER BY global_position;
SELECT max(global_position) AS pup_page1 FROM pup_page \gset
DROP TABLE pup_page;
CREATE TEMP TABLE pup_page AS EXECUTE pup_read_events(:pup_page1, 3);
SELECT aggregate_id, aggregate_version, event_type FROM pup_page ORDER BY global_position;
SELECT max(global_position) AS pup_page2 FROM pup_page \gset
DROP TABLE pup_page;
CREATE TEMP TABLE pup_page AS EXECUTE pup_read_events(:pup_page2, 3);
SELECT aggregate_id, aggregate_version, event_type FROM pup_page ORDER BY global_position;
SELECT max(global_position) AS pup_page3 FROM pup_page \gset
DROP TABLE pup_page;
-- Past the end: after the last position, an empty page.
CREATE TEMP TABLE pup_page AS EXECUTE pup_read_events(:pup_page3, 3);
SELECT count(*) AS events FROM pup_page;
DROP TABLE pup_page;
-- fromPosition is exclusive: after the first event's position, the second.
SELECT global_position AS pup_first FROM pup_r1 WHERE aggregate_version = 1 \gset
CREATE TEMP TABLE pup_page AS EXECUTE pup_read_events(:pup_first, 1);
SELECT aggregate_id, aggregate_version, event_type FROM pup_page;
DROP TABLE pup_page;
-- limit 0: max_count must be at least 1 (22023), so the adapter returns
-- an empty slice without a call.
EXECUTE pup_read_events(:pup_start, 0);
\echo :LAST_ERROR_SQLSTATE
-- Every PersistedEvent field, the payload byte for byte (the two spaces
-- in the first are kept), metadata as a JSON object ({} when nil); the
-- positions increase along the feed and match AppendResult's.
CREATE TEMP TABLE pup_page AS EXECUTE pup_read_events(:pup_start, 100);
SELECT bounded_context, aggregate_type, aggregate_id, aggregate_version, event_id,
	   event_type, event_version, convert_from(payload, 'UTF8') AS payload, metadata,
	   correlation_id, causation_id, trace_id
FROM pup_page ORDER BY global_position;
SELECT bool_and(global_position > prev) AS increasing, count(*) AS events
FROM (SELECT global_position, lag(global_position, 1, :pup_start::bigint)
			 OVER (ORDER BY global_position) AS prev
	  FROM pup_page) f;
SELECT count(*) AS appended,
	   count(*) FILTER (WHERE p.global_position = r.global_position) AS same_position
FROM (SELECT * FROM pup_r1 UNION ALL SELECT * FROM pup_r2 UNION ALL SELECT * FROM pup_r4
	  UNION ALL SELECT * FROM pup_r8 UNION ALL SELECT * FROM pup_r5 UNION ALL SELECT * FROM pup_r6) r
LEFT JOIN pup_page p USING (event_id);
DROP TABLE pup_page;
-- ReadEvents refuses a tx that is SERIALIZABLE (0A000).
BEGIN ISOLATION LEVEL SERIALIZABLE;
EXECUTE pup_read_events(:pup_start, 3);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- pupsourcing has no delete. An application that deletes the reservation
-- (delete_aggregate) releases the e-mail; a second delete changes nothing.
SELECT deleted_version FROM es_store.delete_aggregate('Identity', 'EmailReservation', 'user@example.com');
SELECT deleted_version FROM es_store.delete_aggregate('Identity', 'EmailReservation', 'user@example.com');
-- The deleted events leave the feed, and one $deleted marker (event_version
-- 0, the payload {"version": N} as bytes) joins it at a new position: the
-- adapter passes it on as a PersistedEvent or drops it (after reading its
-- position).
CREATE TEMP TABLE pup_page AS EXECUTE pup_read_events(:pup_start, 100);
SELECT aggregate_id, global_position > :pup_page3 AS after_the_events,
	   aggregate_version = global_position AS marker_version,
	   event_type, event_version, convert_from(payload, 'UTF8') AS payload
FROM pup_page WHERE bounded_context = 'Identity';
DROP TABLE pup_page;
-- NoStream() reserves the e-mail again; the versions go on after the
-- deleted one.
CREATE TEMP TABLE pup_r7 AS EXECUTE pup_append('Identity', 'EmailReservation', 'user@example.com', 0,
	ARRAY['EmailReserved'], ARRAY[convert_to('{"user": "u2"}', 'UTF8')], NULL,
	ARRAY['00000000-0000-4000-8000-000000000005']::uuid[], NULL, NULL, NULL, NULL);
SELECT event_id, aggregate_version FROM pup_r7;

-- ReadAggregateStream(tx, bc, type, id, from, to): nil bounds are NULL,
-- both bounds inclusive; Stream.Version() is the last event's version.
CREATE TEMP TABLE pup_stream AS EXECUTE pup_read_aggregate_stream('Billing', 'Invoice', 'inv-1', NULL, NULL);
SELECT aggregate_version, event_type, convert_from(payload, 'UTF8') AS payload FROM pup_stream ORDER BY aggregate_version;
SELECT coalesce(max(aggregate_version), 0) AS stream_version FROM pup_stream;
-- The rows carry the positions Append returned.
SELECT count(*) FILTER (WHERE s.global_position = r.global_position) AS same_position
FROM pup_stream s JOIN (SELECT * FROM pup_r1 UNION ALL SELECT * FROM pup_r2) r USING (event_id);
DROP TABLE pup_stream;
-- from 2; to 2; from 2 to 2; from 3 to 2 (nothing); to past the end (all).
CREATE TEMP TABLE pup_stream AS EXECUTE pup_read_aggregate_stream('Billing', 'Invoice', 'inv-1', 2, NULL);
SELECT aggregate_version FROM pup_stream ORDER BY aggregate_version;
DROP TABLE pup_stream;
CREATE TEMP TABLE pup_stream AS EXECUTE pup_read_aggregate_stream('Billing', 'Invoice', 'inv-1', NULL, 2);
SELECT aggregate_version FROM pup_stream ORDER BY aggregate_version;
DROP TABLE pup_stream;
CREATE TEMP TABLE pup_stream AS EXECUTE pup_read_aggregate_stream('Billing', 'Invoice', 'inv-1', 2, 2);
SELECT aggregate_version FROM pup_stream ORDER BY aggregate_version;
DROP TABLE pup_stream;
CREATE TEMP TABLE pup_stream AS EXECUTE pup_read_aggregate_stream('Billing', 'Invoice', 'inv-1', 3, 2);
SELECT count(*) AS events FROM pup_stream;
DROP TABLE pup_stream;
CREATE TEMP TABLE pup_stream AS EXECUTE pup_read_aggregate_stream('Billing', 'Invoice', 'inv-1', 1, 99);
SELECT aggregate_version FROM pup_stream ORDER BY aggregate_version;
DROP TABLE pup_stream;
-- from past the end: an empty Stream, Version() 0.
CREATE TEMP TABLE pup_stream AS EXECUTE pup_read_aggregate_stream('Billing', 'Invoice', 'inv-1', 4, NULL);
SELECT coalesce(max(aggregate_version), 0) AS stream_version, count(*) AS events FROM pup_stream;
DROP TABLE pup_stream;
-- The re-reserved e-mail: only the event after the delete.
CREATE TEMP TABLE pup_stream AS EXECUTE pup_read_aggregate_stream('Identity', 'EmailReservation', 'user@example.com', NULL, NULL);
SELECT aggregate_version, convert_from(payload, 'UTF8') AS payload FROM pup_stream;
DROP TABLE pup_stream;

-- CheckpointStore: UpdateCheckpoint saves in the transaction that wrote
-- the read model, and GetCheckpoint reads it back.
BEGIN;
EXECUTE pup_update_checkpoint('regress-pup-invoices', :pup_page1);
COMMIT;
CREATE TEMP TABLE pup_cp AS EXECUTE pup_get_checkpoint('regress-pup-invoices');
SELECT position = :pup_page1 AS saved FROM pup_cp;
DROP TABLE pup_cp;
-- Rolled back with the read model, the update is undone.
BEGIN;
EXECUTE pup_update_checkpoint('regress-pup-invoices', :pup_page2);
ROLLBACK;
CREATE TEMP TABLE pup_cp AS EXECUTE pup_get_checkpoint('regress-pup-invoices');
SELECT position = :pup_page1 AS unchanged FROM pup_cp;
DROP TABLE pup_cp;
-- The same position again is fine (a page replayed after a crash).
EXECUTE pup_update_checkpoint('regress-pup-invoices', :pup_page1);
-- A position behind the saved one is SE004 (pupsourcing's own store
-- would move the checkpoint back). Terse: the detail names positions.
\set VERBOSITY terse
EXECUTE pup_update_checkpoint('regress-pup-invoices', :pup_start);
\echo :LAST_ERROR_SQLSTATE
-- Another role's checkpoint: 42501, for reading and for saving.
SET ROLE regress_es_pup_other;
EXECUTE pup_get_checkpoint('regress-pup-invoices');
\echo :LAST_ERROR_SQLSTATE
EXECUTE pup_update_checkpoint('regress-pup-invoices', :pup_page3);
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_es_pup_app;
\set VERBOSITY default
CREATE TEMP TABLE pup_cp AS EXECUTE pup_get_checkpoint('regress-pup-invoices');
SELECT position = :pup_page1 AS unchanged FROM pup_cp;
DROP TABLE pup_cp;

-- The store's figures, outside pupsourcing's interface: the safe position
-- is the feed's.
SELECT safe_position = es_store.last_position() AS safe_is_last_position,
	   last_drawn_position >= safe_position AS drawn_at_or_above, total_bytes > 0 AS has_bytes
FROM es_store.store_stats();

RESET ROLE;
SELECT es_store.reset_checkpoint('regress-pup-invoices') IS NOT NULL AS checkpoint_removed;
DROP TABLE pup_r1, pup_r2, pup_r3, pup_r4, pup_r5, pup_r6, pup_r7, pup_r8;
DROP ROLE regress_es_pup_app;
DROP ROLE regress_es_pup_other;
