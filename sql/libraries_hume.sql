-- Hume (Hume.EventStore) served by es_store: the two callbacks append/3
-- and events/2, each prepared below with the exact SQL of README.md,
-- "Using es_store from an event-sourcing library", and executed with the
-- values the adapter sends.
-- The adapter names the stream with one string and stores the payload term
-- as bytes (:erlang.term_to_binary/1) under a fixed event type. Hume's
-- sequence number is es_store's version (the first event is 1); expect
-- nil is NULL, and the expected last sequence of an empty stream, 0, is
-- expected version 0. events/2 reads after `from` (exclusive): `from + 1`.
-- The adapter runs as a writer (es_store_writer).
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default
DROP ROLE IF EXISTS regress_es_hume_app;
CREATE ROLE regress_es_hume_app IN ROLE es_store_writer;
SET ROLE regress_es_hume_app;

-- append(stream, payload, expect)
PREPARE hume_append(text, bigint, text, bytea) AS
SELECT aggregate_version AS seq
FROM es_store.append_stream_bytes($1, $2, ARRAY[$3], ARRAY[$4]);
-- events(stream, from)
PREPARE hume_events(text, bigint) AS
SELECT aggregate_version AS seq, payload_bytes
FROM es_store.read_stream($1, from_version => $2 + 1);

-- events/2 of a stream never written: nothing, from 0 or from anywhere.
EXECUTE hume_events('humeacct-42', 0);
EXECUTE hume_events('humeacct-42', 5);

-- append/3 with expect nil on a new stream: {:ok, 1}.
EXECUTE hume_append('humeacct-42', NULL, 'term', '\x83680277096465706f7369746564610a');
-- append/3 with expect 1: {:ok, 2}.
EXECUTE hume_append('humeacct-42', 1, 'term', '\x836802770977697468647261776e6103');
-- expect 0, the last sequence of an empty stream, on a new stream: {:ok, 1}.
EXECUTE hume_append('humeacct-43', 0, 'term', '\x83680277096465706f7369746564610a');
-- expect nil on a stream that has events: no check, {:ok, 2}.
EXECUTE hume_append('humeacct-43', NULL, 'term', '\x836802770977697468647261776e6103');

-- Conflicts, returned as {:error, reason}: expect 1 again (the last
-- sequence is 2), expect 0 on a stream that has events, and an expected
-- sequence on a stream never written. All SE001, nothing is written.
EXECUTE hume_append('humeacct-42', 1, 'term', '\x00');
\echo :LAST_ERROR_SQLSTATE
EXECUTE hume_append('humeacct-42', 0, 'term', '\x00');
\echo :LAST_ERROR_SQLSTATE
EXECUTE hume_append('humeacct-44', 3, 'term', '\x00');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.stream_version('humeacct-42') AS last_seq_42,
	   es_store.stream_version('humeacct-44') AS last_seq_44;

-- append/3 takes one payload, so the adapter's statement always sends a
-- batch of one; the empty batch it cannot send is 22023. (Hume.publish
-- answers a nil payload with {:ok, nil} before calling the store.)
SELECT * FROM es_store.append_stream_bytes('humeacct-42', NULL, ARRAY[]::text[], ARRAY[]::bytea[]);
\echo :LAST_ERROR_SQLSTATE

-- events/2 from 0: every {seq, payload}, in ascending order, the bytes as
-- appended (:erlang.binary_to_term/1 decodes them).
EXECUTE hume_events('humeacct-42', 0);
-- from 1: the events after sequence 1; from the last sequence (2) or past
-- it: nothing.
EXECUTE hume_events('humeacct-42', 1);
EXECUTE hume_events('humeacct-42', 2);
EXECUTE hume_events('humeacct-42', 10);
-- Streams stay apart.
EXECUTE hume_events('humeacct-43', 0);

-- Hume has no delete callback. An application that deletes a stream
-- (delete_aggregate through stream_key) finds it empty afterwards; a
-- second delete changes nothing (deleted_version 0).
SELECT d.deleted_version FROM es_store.stream_key('humeacct-42') k,
	LATERAL es_store.delete_aggregate(k.bounded_context, k.aggregate_type, k.aggregate_id) d;
SELECT d.deleted_version FROM es_store.stream_key('humeacct-42') k,
	LATERAL es_store.delete_aggregate(k.bounded_context, k.aggregate_type, k.aggregate_id) d;
EXECUTE hume_events('humeacct-42', 0);
-- The old last sequence is no longer expected (SE001); expect 0 (empty)
-- appends at sequence 3, so sequences stay strictly increasing, and a
-- reader that had reached 2 reads on from there; the next append expects 3.
EXECUTE hume_append('humeacct-42', 2, 'term', '\x00');
\echo :LAST_ERROR_SQLSTATE
EXECUTE hume_append('humeacct-42', 0, 'term', '\x83680277096465706f7369746564610a');
EXECUTE hume_events('humeacct-42', 0);
EXECUTE hume_events('humeacct-42', 2);
EXECUTE hume_append('humeacct-42', 3, 'term', '\x836802770977697468647261776e6103');

RESET ROLE;
DROP ROLE regress_es_hume_app;
