-- Soft delete: the aggregate is absent afterwards, an append with expected
-- version 0 or any reopens it and its versions go on, the feed gets a
-- "$deleted" marker and hides the deleted events; every error with its
-- SQLSTATE.  Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default

SELECT count(*) FROM generate_series(1, 3) g,
	LATERAL es_store.append_event('shop', 'cart', 'c1', NULL, 'Added', jsonb_build_object('n', g));
SELECT count(*) FROM es_store.append_event('shop', 'cart', 'c2', 0, 'Added', '{"n": 1}');
SELECT * FROM es_store.save_snapshot('shop', 'cart', 'c1', 2, '{"items": 2}');
SELECT max(global_position) AS before_delete FROM es_store.read_feed(0, 100) \gset

-- Delete with the right expected version: the last version, and the
-- marker's position.
SELECT deleted_version, global_position > :before_delete AS marker_after_events
FROM es_store.delete_aggregate('shop', 'cart', 'c1', 3);
-- Now absent: no events, version 0, no existence, no snapshot.
SELECT count(*) AS events FROM es_store.read_aggregate('shop', 'cart', 'c1');
SELECT es_store.aggregate_version('shop', 'cart', 'c1') AS version,
	   es_store.aggregate_exists('shop', 'cart', 'c1') AS exists,
	   es_store.count_events('shop', 'cart', 'c1') AS counted;
SELECT count(*) AS snapshots FROM es_store.load_snapshot('shop', 'cart', 'c1');
SELECT count(*) AS loaded FROM es_store.load_aggregate('shop', 'cart', 'c1');
-- A snapshot of a deleted aggregate is ahead of it (SE006): it would
-- survive a reopen and cover versions the stream no longer has.
SELECT * FROM es_store.save_snapshot('shop', 'cart', 'c1', 2, '{"items": 2}');
\echo :LAST_ERROR_SQLSTATE
-- The feed: the deleted events are gone, the marker is there (stream id 0,
-- event_version 0, the key, the deleted version), other streams untouched.
SELECT aggregate_id, aggregate_version = global_position AS version_is_position,
	   event_type, event_version, payload
FROM es_store.read_feed(0, 100) ORDER BY global_position;
SELECT aggregate_id, event_type FROM es_store.read_feed(0, 100, aggregate_types => ARRAY['cart'],
	segment => 0, segment_count => 1) ORDER BY global_position;
-- Deleting again, or an unknown aggregate: nothing changes, no marker.
SELECT * FROM es_store.delete_aggregate('shop', 'cart', 'c1');
SELECT * FROM es_store.delete_aggregate('shop', 'cart', 'never');
SELECT * FROM es_store.delete_aggregate('shop', 'cart', 'never', 0);
SELECT count(*) AS markers FROM es_store.events WHERE stream_id = 0;

-- Reopen: expected version 0 (an X3m-style client starting at "no
-- stream") or any; versions go on after the last one.
SELECT aggregate_version FROM es_store.append_event('shop', 'cart', 'c1', 0, 'Added', '{"n": 10}');
SELECT aggregate_version FROM es_store.append_event('shop', 'cart', 'c1', NULL, 'Added', '{"n": 11}');
SELECT aggregate_version, payload FROM es_store.read_aggregate('shop', 'cart', 'c1');
SELECT es_store.aggregate_version('shop', 'cart', 'c1') AS version,
	   es_store.aggregate_exists('shop', 'cart', 'c1') AS exists,
	   es_store.count_events('shop', 'cart', 'c1') AS counted;
SELECT aggregate_id, aggregate_version, event_type FROM es_store.read_feed(0, 100)
WHERE aggregate_id = 'c1' ORDER BY global_position;
-- Deleted again, then reopened with "any" through a batch.
SELECT deleted_version FROM es_store.delete_aggregate('shop', 'cart', 'c1', -1);
SELECT aggregate_version FROM es_store.append('shop', 'cart', 'c1', NULL, ARRAY['A', 'B'],
	ARRAY['{}', '{}']::jsonb[]);
SELECT aggregate_version FROM es_store.read_aggregate('shop', 'cart', 'c1');

-- A retry of an append whose events the delete hid returns the original
-- result and leaves the aggregate deleted (before the fix it reopened it,
-- at the old version and with no event to show); so does a retry of
-- the append that reopened an aggregate expecting no stream.
SELECT aggregate_version FROM es_store.append('shop', 'cart', 'r1', 0, ARRAY['A'], ARRAY['{}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a1']::uuid[]);
SELECT deleted_version FROM es_store.delete_aggregate('shop', 'cart', 'r1');
SELECT aggregate_version FROM es_store.append('shop', 'cart', 'r1', 0, ARRAY['A'], ARRAY['{}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a1']::uuid[]);
SELECT es_store.aggregate_version('shop', 'cart', 'r1') AS version,
	   es_store.aggregate_exists('shop', 'cart', 'r1') AS exists;
SELECT aggregate_version FROM es_store.append('shop', 'cart', 'r1', 0, ARRAY['B'], ARRAY['{}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a2']::uuid[]);
SELECT aggregate_version FROM es_store.append('shop', 'cart', 'r1', 0, ARRAY['B'], ARRAY['{}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a2']::uuid[]);
SELECT aggregate_version, event_type FROM es_store.read_aggregate('shop', 'cart', 'r1');
-- ... and so does a retry that expects something else than its original
-- did (here: no stream, of an append made with any expected version; a
-- retry is known by its events, sql/idempotency), without reopening.
SELECT aggregate_version FROM es_store.append('shop', 'cart', 'r1', NULL, ARRAY['C'], ARRAY['{}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a3']::uuid[]);
SELECT aggregate_version FROM es_store.append('shop', 'cart', 'r1', 0, ARRAY['C'], ARRAY['{}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000a3']::uuid[]);
SELECT aggregate_version FROM es_store.delete_aggregate('shop', 'cart', 'r1')
	CROSS JOIN LATERAL es_store.append('shop', 'cart', 'r1', 0, ARRAY['C'], ARRAY['{}']::jsonb[],
		event_ids => ARRAY['00000000-0000-4000-8000-0000000000a3']::uuid[]);
SELECT es_store.aggregate_exists('shop', 'cart', 'r1') AS exists_after_retry;

-- The SQL statements (REPEATABLE READ, row-level security) mean the same.
SELECT deleted_version FROM es_store.delete_aggregate('shop', 'cart', 'c2');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT aggregate_version FROM es_store.append_event('shop', 'cart', 'c2', -1, 'X', '{}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT aggregate_version FROM es_store.append_event('shop', 'cart', 'c2', 0, 'Reopened', '{}');
COMMIT;
ALTER TABLE es_store.events ENABLE ROW LEVEL SECURITY;
SELECT aggregate_id, aggregate_version, event_type FROM es_store.read_aggregate('shop', 'cart', 'c2');
SELECT aggregate_id, aggregate_version, event_type FROM es_store.read_feed(0, 100)
WHERE aggregate_id IN ('c1', 'c2') ORDER BY global_position;
SELECT es_store.count_events('shop', 'cart', 'c1') AS counted_sql;
ALTER TABLE es_store.events DISABLE ROW LEVEL SECURITY;
SELECT aggregate_id, aggregate_version, event_type FROM es_store.read_feed(0, 100)
WHERE aggregate_id IN ('c1', 'c2') ORDER BY global_position;

-- Errors.
-- SE001: the expected version, checked as an append checks it (a deleted
-- aggregate is at 0).
SELECT * FROM es_store.delete_aggregate('shop', 'cart', 'c1', 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.delete_aggregate('shop', 'cart', 'c1', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.delete_aggregate('shop', 'cart', 'never', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT deleted_version FROM es_store.delete_aggregate('shop', 'cart', 'c1', 7);
SELECT aggregate_version FROM es_store.append_event('shop', 'cart', 'c1', 7, 'X', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT aggregate_version FROM es_store.append_event('shop', 'cart', 'c1', -1, 'X', '{}');
\echo :LAST_ERROR_SQLSTATE
-- 22004, 22023
SELECT * FROM es_store.delete_aggregate('shop', NULL, 'c1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.delete_aggregate('shop', 'cart', 'c1', -2);
\echo :LAST_ERROR_SQLSTATE
-- SE003: a forgotten aggregate (its tombstone) takes no append and no
-- delete.
SELECT forgotten_version FROM es_store.forget_aggregate('shop', 'cart', 'c2');
SELECT aggregate_version FROM es_store.append_event('shop', 'cart', 'c2', NULL, 'X', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT aggregate_version FROM es_store.append_event('shop', 'cart', 'c2', 0, 'X', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.delete_aggregate('shop', 'cart', 'c2');
\echo :LAST_ERROR_SQLSTATE

-- Privileges: writers delete, readers do not.
DROP ROLE IF EXISTS regress_es_del_reader;
CREATE ROLE regress_es_del_reader IN ROLE es_store_reader;
SET ROLE regress_es_del_reader;
SELECT * FROM es_store.delete_aggregate('shop', 'cart', 'c1');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE regress_es_del_reader;

-- One event by its id, and an aggregate's last events (backwards); both
-- leave hidden events out.
SELECT count(*) FROM es_store.append('shop', 'order', 'o1', 0, ARRAY['A', 'B', 'C', 'D'],
	ARRAY['{}', '{}', '{}', '{}']::jsonb[],
	event_ids => ARRAY['00000000-0000-4000-8000-0000000000f1', '00000000-0000-4000-8000-0000000000f2',
					   '00000000-0000-4000-8000-0000000000f3', '00000000-0000-4000-8000-0000000000f4']::uuid[]);
SELECT aggregate_id, aggregate_version, event_type
FROM es_store.read_event('00000000-0000-4000-8000-0000000000f2');
SELECT count(*) AS unknown FROM es_store.read_event('00000000-0000-4000-8000-00000000dead');
SELECT aggregate_version, event_type FROM es_store.read_aggregate_backward('shop', 'order', 'o1');
SELECT aggregate_version, event_type FROM es_store.read_aggregate_backward('shop', 'order', 'o1', max_count => 2);
SELECT aggregate_version, event_type FROM es_store.read_aggregate_backward('shop', 'order', 'o1', 3, 1);
SELECT count(*) AS unknown FROM es_store.read_aggregate_backward('shop', 'order', 'never');
SELECT global_position AS marker FROM es_store.delete_aggregate('shop', 'order', 'o1') \gset
SELECT count(*) AS hidden FROM es_store.read_event('00000000-0000-4000-8000-0000000000f2');
SELECT count(*) AS hidden FROM es_store.read_aggregate_backward('shop', 'order', 'o1');
SELECT r.aggregate_id, r.event_type, r.event_version, r.payload
FROM es_store.events e, LATERAL es_store.read_event(e.event_id) r
WHERE e.global_position = :marker;
SELECT aggregate_version FROM es_store.append_event('shop', 'order', 'o1', 0, 'E', '{}');
SELECT aggregate_version, event_type FROM es_store.read_aggregate_backward('shop', 'order', 'o1');
-- Errors: 22004, 22023.
SELECT * FROM es_store.read_event(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_aggregate_backward('shop', 'order', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_aggregate_backward('shop', 'order', 'o1', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_aggregate_backward('shop', 'order', 'o1', NULL, 0);
\echo :LAST_ERROR_SQLSTATE
