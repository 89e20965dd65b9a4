-- X3m (X3m.System.Aggregate.Repo) served by es_store: the four callbacks
-- has?/1, stream_events/3, save_events/3 and delete_stream/3 (soft and
-- hard), each prepared below with the exact SQL of README.md, "Using
-- es_store from an event-sourcing library", and executed with the values
-- the adapter sends.
-- X3m numbers events from 0, as EventStoreDB: event number n is es_store's
-- version n + 1, so -1 (no stream, an empty stream's last number) is
-- version 0; delete_stream's -2 (skip the check) is NULL.
-- The adapter runs as a writer (es_store_writer); a hard delete runs as an
-- administrator (es_store_admin).
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default
DROP ROLE IF EXISTS regress_es_x3m_app;
DROP ROLE IF EXISTS regress_es_x3m_admin;
CREATE ROLE regress_es_x3m_app IN ROLE es_store_writer;
CREATE ROLE regress_es_x3m_admin IN ROLE es_store_admin;
SET ROLE regress_es_x3m_app;

-- has?(stream_name)
PREPARE x3m_has(text) AS
SELECT es_store.aggregate_exists(k.bounded_context, k.aggregate_type, k.aggregate_id) AS has
FROM es_store.stream_key($1) k;
-- stream_events(stream_name, start_at, per_page): one page
PREPARE x3m_stream_events(text, bigint, integer) AS
SELECT aggregate_version - 1 AS event_number, event_type, payload, metadata
FROM es_store.read_stream($1, from_version => $2 + 1, max_count => $3);
-- save_events(stream_name, message, events_metadata)
PREPARE x3m_save_events(text, bigint, text[], jsonb[], jsonb) AS
SELECT max(aggregate_version) - 1 AS last_event_number
FROM es_store.append_stream($1, $2 + 1, $3, $4,
	metadata => array_fill($5, ARRAY[cardinality($3)]));
-- delete_stream(stream_name, false, expected_version)
PREPARE x3m_delete_soft(text, bigint) AS
SELECT d.deleted_version - 1 AS last_event_number
FROM es_store.stream_key($1) k,
	LATERAL es_store.delete_aggregate(k.bounded_context, k.aggregate_type, k.aggregate_id,
		nullif($2, -2) + 1) d;
-- delete_stream(stream_name, true, expected_version)
PREPARE x3m_delete_hard(text, bigint) AS
SELECT f.forgotten_version - 1 AS last_event_number, f.events_removed
FROM es_store.stream_key($1) k,
	LATERAL es_store.forget_aggregate(k.bounded_context, k.aggregate_type, k.aggregate_id,
		nullif($2, -2) + 1, keep_tombstone => true) f;

-- Stream names are "#{stream}-#{id}": the key of 'x3morder-o1'.
SELECT * FROM es_store.stream_key('x3morder-o1');

-- An unknown stream: has? is false, stream_events yields nothing, and a
-- soft delete (-2, or -1: no stream) changes nothing and answers -1, the
-- last event number of an empty stream.
EXECUTE x3m_has('x3morder-o1');
EXECUTE x3m_stream_events('x3morder-o1', 0, 2);
EXECUTE x3m_delete_soft('x3morder-o1', -2);
EXECUTE x3m_delete_soft('x3morder-o1', -1);
-- An exact number (0) on it is a conflict: SE001.
EXECUTE x3m_delete_soft('x3morder-o1', 0);
\echo :LAST_ERROR_SQLSTATE

-- save_events for the new aggregate (aggregate_meta.version -1, expected
-- version 0): {:ok, last_event_number}, the last version less one. The
-- handler's events_metadata map goes on every event.
EXECUTE x3m_save_events('x3morder-o1', -1,
	ARRAY['Elixir.Order.Created', 'Elixir.Order.ItemAdded'],
	ARRAY['{"id": "o1"}', '{"sku": "A"}']::jsonb[], '{"handler": "orders"}');
-- The next command, on the aggregate at event number 1 (expected version 2).
EXECUTE x3m_save_events('x3morder-o1', 1,
	ARRAY['Elixir.Order.ItemAdded'], ARRAY['{"sku": "B"}']::jsonb[], '{"handler": "orders"}');
-- A stale process still at event number 1: SE001, which the adapter
-- returns as {:error, :wrong_expected_version, 1}. Nothing is written.
EXECUTE x3m_save_events('x3morder-o1', 1,
	ARRAY['Elixir.Order.ItemAdded'], ARRAY['{"sku": "C"}']::jsonb[], '{"handler": "orders"}');
\echo :LAST_ERROR_SQLSTATE
-- A second process creating the same aggregate (-1): SE001 too.
EXECUTE x3m_save_events('x3morder-o1', -1,
	ARRAY['Elixir.Order.Created'], ARRAY['{"id": "o1"}']::jsonb[], '{}');
\echo :LAST_ERROR_SQLSTATE
-- A message without events: es_store refuses an empty batch with 22023,
-- so the adapter returns {:ok, message.aggregate_meta.version} without a
-- call.
EXECUTE x3m_save_events('x3morder-o1', 2, ARRAY[]::text[], ARRAY[]::jsonb[], '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.stream_version('x3morder-o1') - 1 AS last_event_number;

-- Rebuilding the aggregate: has? is true, and the enumerable reads pages of
-- per_page events, {event, event_number, metadata}, from start_at; the
-- next page starts at the last event number + 1, and a page shorter than
-- per_page ends the stream.
EXECUTE x3m_has('x3morder-o1');
EXECUTE x3m_stream_events('x3morder-o1', 0, 2);
EXECUTE x3m_stream_events('x3morder-o1', 2, 2);
-- start_at 1: from event number 1 on.
EXECUTE x3m_stream_events('x3morder-o1', 1, 2);
-- A full last page (per_page 3): the next page, past the end, is empty.
EXECUTE x3m_stream_events('x3morder-o1', 0, 3);
EXECUTE x3m_stream_events('x3morder-o1', 3, 3);
EXECUTE x3m_stream_events('x3morder-o1', 100, 3);

-- delete_stream(stream_name, false, expected_version): a stale number (1)
-- and "no stream" (-1) on a stream with events are SE001.
EXECUTE x3m_delete_soft('x3morder-o1', 1);
\echo :LAST_ERROR_SQLSTATE
EXECUTE x3m_delete_soft('x3morder-o1', -1);
\echo :LAST_ERROR_SQLSTATE
-- The current number (2) deletes, as -2 would.
EXECUTE x3m_delete_soft('x3morder-o1', 2);
-- Deleting again: with -2, or -1 (the stream is now empty), :ok and
-- nothing changes; the old number 2 is a conflict now.
EXECUTE x3m_delete_soft('x3morder-o1', -2);
EXECUTE x3m_delete_soft('x3morder-o1', -1);
EXECUTE x3m_delete_soft('x3morder-o1', 2);
\echo :LAST_ERROR_SQLSTATE
-- One $deleted marker in the feed, for the one delete that deleted.
SELECT aggregate_id, event_type, payload
FROM es_store.read_feed(0, 100, event_types => ARRAY['$deleted', '$forgotten']);
-- The deleted stream is absent: has? is false, it reads empty.
EXECUTE x3m_has('x3morder-o1');
EXECUTE x3m_stream_events('x3morder-o1', 0, 2);
-- Created again from "no stream" (-1): its event numbers go on after the
-- deleted ones, as after a soft delete in EventStoreDB; the rebuilt
-- aggregate is at event number 3, and its next save expects 3.
EXECUTE x3m_save_events('x3morder-o1', -1,
	ARRAY['Elixir.Order.Created'], ARRAY['{"id": "o1"}']::jsonb[], '{"handler": "orders"}');
EXECUTE x3m_stream_events('x3morder-o1', 0, 2);
EXECUTE x3m_save_events('x3morder-o1', 3,
	ARRAY['Elixir.Order.ItemAdded'], ARRAY['{"sku": "D"}']::jsonb[], '{"handler": "orders"}');
EXECUTE x3m_stream_events('x3morder-o1', 0, 2);

-- delete_stream(stream_name, true, expected_version): forget_aggregate
-- with a tombstone, as an administrator.
EXECUTE x3m_save_events('x3morder-o2', -1,
	ARRAY['Elixir.Order.Created', 'Elixir.Order.ItemAdded'],
	ARRAY['{"id": "o2"}', '{"sku": "A"}']::jsonb[], '{}');
-- Only administrators forget: a writer gets 42501.
EXECUTE x3m_delete_hard('x3morder-o2', -2);
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_es_x3m_admin;
-- A stale number (0) is SE001.
EXECUTE x3m_delete_hard('x3morder-o2', 0);
\echo :LAST_ERROR_SQLSTATE
EXECUTE x3m_delete_hard('x3morder-o2', 1);
-- Again, whatever the expected version: nothing changes, -1 and 0 events.
EXECUTE x3m_delete_hard('x3morder-o2', 1);
EXECUTE x3m_delete_hard('x3morder-o2', -2);
-- A hard delete of a stream never written changes nothing either, and
-- leaves no tombstone: the stream can be created afterwards.
EXECUTE x3m_delete_hard('x3morder-o3', -2);
SET ROLE regress_es_x3m_app;
EXECUTE x3m_save_events('x3morder-o3', -1,
	ARRAY['Elixir.Order.Created'], ARRAY['{"id": "o3"}']::jsonb[], '{}');
-- The hard-deleted stream: has? is false, it reads empty, and the
-- tombstone refuses save_events and a soft delete with SE003 ({:error,
-- reason} in the adapter).
EXECUTE x3m_has('x3morder-o2');
EXECUTE x3m_stream_events('x3morder-o2', 0, 2);
EXECUTE x3m_save_events('x3morder-o2', -1,
	ARRAY['Elixir.Order.Created'], ARRAY['{"id": "o2"}']::jsonb[], '{}');
\echo :LAST_ERROR_SQLSTATE
EXECUTE x3m_delete_soft('x3morder-o2', -2);
\echo :LAST_ERROR_SQLSTATE
-- The feed has o2's $forgotten marker after o1's $deleted one, and no
-- marker for o3, where nothing was forgotten.
SELECT aggregate_id, event_type, payload
FROM es_store.read_feed(0, 100, event_types => ARRAY['$deleted', '$forgotten']);

-- Housekeeping, outside X3m's interface: purge (an administrator's job,
-- for pg_cron) removes the three events the soft delete hid, in batches;
-- what stream_events returns stays.
SET ROLE regress_es_x3m_admin;
SELECT * FROM es_store.purge(max_events => 2);
SELECT * FROM es_store.purge();
SELECT * FROM es_store.purge();
SET ROLE regress_es_x3m_app;
EXECUTE x3m_stream_events('x3morder-o1', 0, 10);

RESET ROLE;
DROP ROLE regress_es_x3m_app;
DROP ROLE regress_es_x3m_admin;
