-- Gleam eventsourcing (the EventStore record) served by es_store: the
-- fields load_events, commit_events, load_snapshot and save_snapshot, each
-- prepared below with the exact SQL of README.md, "Using es_store from an
-- event-sourcing library", and executed with the values the adapter
-- sends; execute_transaction and the other *_transaction fields are BEGIN,
-- then the calls, then COMMIT (ROLLBACK on an error).
-- The adapter holds a bounded context and an aggregate type of its own;
-- Gleam's aggregate_id is the aggregate id. Sequences are versions: a new
-- aggregate is at sequence 0 (expected version 0), commit_events expects
-- aggregate.sequence, and load_events reads after start_from (exclusive):
-- `start_from + 1`. Payloads and entities are the encoders' JSON.
-- The adapter runs as a writer (es_store_writer); forgetting is an
-- administrator's (es_store_admin).
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default
DROP ROLE IF EXISTS regress_es_gleam_app;
DROP ROLE IF EXISTS regress_es_gleam_admin;
CREATE ROLE regress_es_gleam_app IN ROLE es_store_writer;
CREATE ROLE regress_es_gleam_admin IN ROLE es_store_admin;
SET ROLE regress_es_gleam_app;

-- load_events(eventstore, tx, aggregate_id, start_from)
PREPARE gleam_load_events(text, text, text, bigint) AS
SELECT aggregate_id, aggregate_version AS sequence, payload, metadata, event_type,
	event_version::text AS event_version, aggregate_type
FROM es_store.read_aggregate($1, $2, $3, from_version => $4 + 1);
-- commit_events(tx, aggregate, events, metadata)
PREPARE gleam_commit_events(text, text, text, bigint, text[], jsonb[], jsonb, text) AS
SELECT aggregate_version AS sequence
FROM es_store.append($1, $2, $3, $4, $5, $6,
	metadata => array_fill($7, ARRAY[cardinality($5)]),
	event_versions => array_fill($8::integer, ARRAY[cardinality($5)]));
-- load_snapshot(tx, aggregate_id)
PREPARE gleam_load_snapshot(text, text, text) AS
SELECT $3 AS aggregate_id, payload AS entity, aggregate_version AS sequence,
	metadata -> 'timestamp' AS "timestamp"
FROM es_store.load_snapshot($1, $2, $3);
-- save_snapshot(tx, snapshot)
PREPARE gleam_save_snapshot(text, text, text, bigint, jsonb, jsonb) AS
SELECT saved
FROM es_store.save_snapshot($1, $2, $3, $4, $5,
	metadata => jsonb_build_object('timestamp', $6));

-- Loading an aggregate never written: no snapshot (None) and no events,
-- so sequence 0 (LoadAggregate then answers EntityNotFound).
EXECUTE gleam_load_snapshot('gleam', 'bank_account', 'acc-1');
EXECUTE gleam_load_events('gleam', 'bank_account', 'acc-1', 0);

-- execute_transaction: commit_events with the aggregate at sequence 0,
-- the command's metadata (as one JSON object) and the encoder's
-- event_version on every event; then, with a snapshot frequency of 2,
-- save_snapshot at the new sequence 2, in the same transaction.
BEGIN;
EXECUTE gleam_commit_events('gleam', 'bank_account', 'acc-1', 0,
	ARRAY['AccountOpened', 'MoneyDeposited'],
	ARRAY['{"account_id": "acc-1"}', '{"amount": 100}']::jsonb[],
	'{"user_id": "alice", "session_id": "abc123"}', '1');
EXECUTE gleam_save_snapshot('gleam', 'bank_account', 'acc-1', 2,
	'{"balance": 100}', '[1767225600, 0]');
COMMIT;
-- load_events from 0: every SerializedEventEnvelop's fields.
EXECUTE gleam_load_events('gleam', 'bank_account', 'acc-1', 0);
-- start_from is exclusive: from 1, the event at sequence 2; from the last
-- sequence (2) or past it, nothing.
EXECUTE gleam_load_events('gleam', 'bank_account', 'acc-1', 1);
EXECUTE gleam_load_events('gleam', 'bank_account', 'acc-1', 2);
EXECUTE gleam_load_events('gleam', 'bank_account', 'acc-1', 50);
-- load_snapshot: Snapshot(aggregate_id, entity, sequence, timestamp), the
-- timestamp as the adapter saved it.
EXECUTE gleam_load_snapshot('gleam', 'bank_account', 'acc-1');

-- The next command, from sequence 2 (snapshot 2 + no event after it).
EXECUTE gleam_commit_events('gleam', 'bank_account', 'acc-1', 2,
	ARRAY['MoneyWithdrawn'], ARRAY['{"amount": 30}']::jsonb[], '{}', '1');
-- Another actor's command from sequence 2 as well: SE001, returned as
-- EventStoreError, and execute_transaction rolls back.
BEGIN;
EXECUTE gleam_commit_events('gleam', 'bank_account', 'acc-1', 2,
	ARRAY['MoneyWithdrawn'], ARRAY['{"amount": 50}']::jsonb[], '{}', '1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- Loading again: the snapshot, then the events after its sequence; the
-- library folds them to sequence 2 + 1.
EXECUTE gleam_load_snapshot('gleam', 'bank_account', 'acc-1');
EXECUTE gleam_load_events('gleam', 'bank_account', 'acc-1', 2);

-- The encoder's event_version is a string; one that is not an integer is
-- 22P02, and nothing is written.
EXECUTE gleam_commit_events('gleam', 'bank_account', 'acc-1', 3,
	ARRAY['MoneyWithdrawn'], ARRAY['{"amount": 1}']::jsonb[], '{}', 'v2');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.aggregate_version('gleam', 'bank_account', 'acc-1') AS sequence;

-- A command that emits no events: es_store refuses an empty batch with
-- 22023, so commit_events returns #([], aggregate.sequence) without a call.
EXECUTE gleam_commit_events('gleam', 'bank_account', 'acc-1', 3,
	ARRAY[]::text[], ARRAY[]::jsonb[], '{}', '1');
\echo :LAST_ERROR_SQLSTATE
-- The library then saves a snapshot when that sequence is a multiple of
-- the frequency, 0 included for a new aggregate: a snapshot of sequence 0
-- is 22023, so save_snapshot returns Ok(Nil) without a call there.
EXECUTE gleam_save_snapshot('gleam', 'bank_account', 'acc-3', 0, '{"balance": 0}', '[1767225600, 0]');
\echo :LAST_ERROR_SQLSTATE
-- At a sequence that has a snapshot already, the save replaces it.
EXECUTE gleam_save_snapshot('gleam', 'bank_account', 'acc-1', 2, '{"balance": 100}', '[1767225700, 0]');
EXECUTE gleam_load_snapshot('gleam', 'bank_account', 'acc-1');
-- An older snapshot than the stored one keeps the stored one (saved =
-- false: return Ok(Nil)); one ahead of the stream is SE006
-- (EventStoreError).
EXECUTE gleam_save_snapshot('gleam', 'bank_account', 'acc-1', 1, '{"balance": 0}', '[1767225600, 0]');
EXECUTE gleam_save_snapshot('gleam', 'bank_account', 'acc-1', 4, '{"balance": 0}', '[1767225600, 0]');
\echo :LAST_ERROR_SQLSTATE
EXECUTE gleam_load_snapshot('gleam', 'bank_account', 'acc-1');

-- The library's aggregate_stats: load_events from 0 (event_count, and the
-- last envelope's sequence as current_sequence) and load_snapshot
-- (has_snapshot). es_store.aggregate_stats gives the same in one call;
-- an id never written has no row there.
CREATE TEMP TABLE gleam_events AS EXECUTE gleam_load_events('gleam', 'bank_account', 'acc-1', 0);
CREATE TEMP TABLE gleam_snapshot AS EXECUTE gleam_load_snapshot('gleam', 'bank_account', 'acc-1');
SELECT 'acc-1' AS aggregate_id, count(*) AS event_count,
	   coalesce((SELECT sequence FROM gleam_events ORDER BY sequence DESC LIMIT 1), 0) AS current_sequence,
	   EXISTS (SELECT FROM gleam_snapshot) AS has_snapshot
FROM gleam_events;
DROP TABLE gleam_events, gleam_snapshot;
SELECT event_count, current_version AS current_sequence,
	   snapshot_version IS NOT NULL AS has_snapshot, snapshot_version
FROM es_store.aggregate_stats('gleam', 'bank_account', 'acc-1');
SELECT count(*) AS rows FROM es_store.aggregate_stats('gleam', 'bank_account', 'acc-404');

-- The library counts the events it loads to get the sequence. After a
-- delete (not part of the EventStore record) and a new start at
-- sequence 0, the stream goes on at version 3: the library counts 1
-- event, and its next commit from sequence 1 fails.
EXECUTE gleam_commit_events('gleam', 'bank_account', 'acc-2', 0,
	ARRAY['AccountOpened', 'AccountClosed'], ARRAY['{}', '{}']::jsonb[], '{}', '1');
SELECT deleted_version FROM es_store.delete_aggregate('gleam', 'bank_account', 'acc-2', 2);
-- Deleting again changes nothing.
SELECT deleted_version FROM es_store.delete_aggregate('gleam', 'bank_account', 'acc-2');
EXECUTE gleam_load_events('gleam', 'bank_account', 'acc-2', 0);
EXECUTE gleam_commit_events('gleam', 'bank_account', 'acc-2', 0,
	ARRAY['AccountOpened'], ARRAY['{}']::jsonb[], '{}', '1');
EXECUTE gleam_load_events('gleam', 'bank_account', 'acc-2', 0);
EXECUTE gleam_commit_events('gleam', 'bank_account', 'acc-2', 1,
	ARRAY['MoneyDeposited'], ARRAY['{}']::jsonb[], '{}', '1');
\echo :LAST_ERROR_SQLSTATE
-- Forgotten without a tombstone instead (an administrator's call; again,
-- it changes nothing), the id starts again at version 1, and the
-- library's count is right.
SET ROLE regress_es_gleam_admin;
SELECT forgotten_version, events_removed
FROM es_store.forget_aggregate('gleam', 'bank_account', 'acc-2', keep_tombstone => false);
SELECT forgotten_version, events_removed
FROM es_store.forget_aggregate('gleam', 'bank_account', 'acc-2', keep_tombstone => false);
SET ROLE regress_es_gleam_app;
EXECUTE gleam_commit_events('gleam', 'bank_account', 'acc-2', 0,
	ARRAY['AccountOpened'], ARRAY['{}']::jsonb[], '{}', '1');
EXECUTE gleam_commit_events('gleam', 'bank_account', 'acc-2', 1,
	ARRAY['MoneyDeposited'], ARRAY['{"amount": 5}']::jsonb[], '{}', '1');
EXECUTE gleam_load_events('gleam', 'bank_account', 'acc-2', 0);

RESET ROLE;
DROP ROLE regress_es_gleam_app;
DROP ROLE regress_es_gleam_admin;
