-- Snapshots: save, load, delete, and load_aggregate (the snapshot and the
-- events after it in one result), every error with its SQLSTATE, the
-- privileges of the shipped roles, and both read paths of load_aggregate.
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default

SELECT count(*) FROM generate_series(1, 5) g,
	LATERAL es_store.append_event('bank', 'acct', 'a1', NULL, 'Deposited', jsonb_build_object('n', g));

-- No snapshot yet: no row, and load_aggregate returns every event.
SELECT * FROM es_store.load_snapshot('bank', 'acct', 'a1');
SELECT aggregate_version, payload, snapshot_version FROM es_store.load_aggregate('bank', 'acct', 'a1');

-- A save, then an older one, which does not replace it: it returns
-- saved = false and the version stored.
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 3, '{"balance": 6}', '{"by": "test"}');
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 2, '{"balance": 3}');
SELECT aggregate_version, snapshot_version, payload, payload_bytes, metadata,
	   created_at BETWEEN now() - interval '1 minute' AND now() AS saved_recently
FROM es_store.load_snapshot('bank', 'acct', 'a1');
-- The same version again replaces it (a retry, or a new schema version).
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 3, '{"total": 6}', snapshot_version => 2);
SELECT aggregate_version, snapshot_version, payload, metadata FROM es_store.load_snapshot('bank', 'acct', 'a1');
-- A snapshot of another schema version is none for the caller that asks
-- for one: load_aggregate then returns every event.
SELECT count(*) AS rows_for_v1 FROM es_store.load_snapshot('bank', 'acct', 'a1', 1);
SELECT aggregate_version, payload, snapshot_version, global_position IS NULL AS is_snapshot
FROM es_store.load_aggregate('bank', 'acct', 'a1');
SELECT aggregate_version, snapshot_version FROM es_store.load_aggregate('bank', 'acct', 'a1', 1);
SELECT aggregate_version, snapshot_version FROM es_store.load_aggregate('bank', 'acct', 'a1', 2);
-- The snapshot row: the key, the version, the payload, metadata and time;
-- NULL in the event's other columns.
SELECT global_position, bounded_context, aggregate_type, aggregate_id, aggregate_version,
	   event_id, event_type, event_version, correlation_id, causation_id, trace_id,
	   created_at BETWEEN now() - interval '1 minute' AND now() AS at_save, payload_bytes
FROM es_store.load_aggregate('bank', 'acct', 'a1') WHERE snapshot_version IS NOT NULL;
-- At the current version: the snapshot alone.
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 5, '{"balance": 15}');
SELECT aggregate_version, snapshot_version FROM es_store.load_aggregate('bank', 'acct', 'a1');

-- bytea payloads, byte for byte; the save replaces a jsonb one.
SELECT * FROM es_store.save_snapshot_bytes('bank', 'acct', 'a1', 5, '\x00ff10'::bytea);
SELECT aggregate_version, payload, payload_bytes FROM es_store.load_snapshot('bank', 'acct', 'a1');
SELECT count(*) FROM es_store.append_event('bank', 'acct', 'a1', 5, 'Withdrawn', '{"n": 6}');
SELECT aggregate_version, payload, payload_bytes, snapshot_version
FROM es_store.load_aggregate('bank', 'acct', 'a1');

-- Delete: true when there was one; idempotent.
SELECT es_store.delete_snapshot('bank', 'acct', 'a1') AS deleted,
	   es_store.delete_snapshot('bank', 'acct', 'a1') AS again,
	   es_store.delete_snapshot('bank', 'acct', 'never') AS unknown;
SELECT count(*) AS events_without_snapshot FROM es_store.load_aggregate('bank', 'acct', 'a1');
-- An unknown aggregate: no row.
SELECT count(*) FROM es_store.load_aggregate('bank', 'acct', 'never');

-- Errors.
-- SE006: a version the aggregate does not have.
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 7, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'never', 1, '{}');
\echo :LAST_ERROR_SQLSTATE
-- 22004
SELECT * FROM es_store.save_snapshot(NULL, 'acct', 'a1', 1, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', NULL, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 1, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.save_snapshot_bytes('bank', 'acct', 'a1', 1, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.load_snapshot('bank', NULL, 'a1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.load_aggregate('bank', 'acct', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.delete_snapshot('bank', 'acct', NULL);
\echo :LAST_ERROR_SQLSTATE
-- 22023
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 0, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 9007199254740992, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 1, '{}', snapshot_version => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 1, '{}', '[]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.load_snapshot('bank', 'acct', 'a1', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.load_aggregate('bank', 'acct', 'a1', 0);
\echo :LAST_ERROR_SQLSTATE
-- 54000
SET es_store.max_snapshot_bytes = 1024;
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 1, jsonb_build_object('x', repeat('x', 2000)));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.save_snapshot_bytes('bank', 'acct', 'a1', 1, decode(repeat('ab', 1000), 'hex'),
	jsonb_build_object('m', repeat('m', 100)));
\echo :LAST_ERROR_SQLSTATE
RESET es_store.max_snapshot_bytes;
-- None of them saved anything.
SELECT count(*) AS snapshots FROM es_store.snapshots;

-- Privileges: writers save, load and delete; readers load only.
DROP ROLE IF EXISTS regress_es_snap_app, regress_es_snap_reader;
CREATE ROLE regress_es_snap_app IN ROLE es_store_writer;
CREATE ROLE regress_es_snap_reader IN ROLE es_store_reader;
SET ROLE regress_es_snap_app;
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 6, '{"balance": 9}');
SELECT aggregate_version FROM es_store.load_snapshot('bank', 'acct', 'a1');
RESET ROLE;
SET ROLE regress_es_snap_reader;
SELECT aggregate_version, snapshot_version FROM es_store.load_aggregate('bank', 'acct', 'a1');
SELECT * FROM es_store.save_snapshot('bank', 'acct', 'a1', 6, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.delete_snapshot('bank', 'acct', 'a1');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM es_store.snapshots;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE regress_es_snap_app, regress_es_snap_reader;

-- load_aggregate reads the events through the index scan, or through SQL
-- when the scan does not apply (row-level security on the events table):
-- the same rows, with jsonb and bytea payloads, after a snapshot or not.
SELECT count(*) FROM es_store.append_bytes('bank', 'acct', 'a1', 6, ARRAY['B1', 'B2'],
	ARRAY['\x01'::bytea, '\x0203'::bytea]);
CREATE TEMP TABLE loads AS
SELECT 'scan' AS path, v, l.* FROM (VALUES (NULL), (1)) s(v),
	LATERAL es_store.load_aggregate('bank', 'acct', 'a1', v) WITH ORDINALITY l;
ALTER TABLE es_store.events ENABLE ROW LEVEL SECURITY;
INSERT INTO loads SELECT 'sql', v, l.* FROM (VALUES (NULL), (1)) s(v),
	LATERAL es_store.load_aggregate('bank', 'acct', 'a1', v) WITH ORDINALITY l;
ALTER TABLE es_store.events DISABLE ROW LEVEL SECURITY;
SELECT path, v, count(*) FROM loads GROUP BY path, v ORDER BY path, v;
SELECT count(*) AS differences FROM (
	(SELECT v, global_position, bounded_context, aggregate_type, aggregate_id, aggregate_version,
			event_id, event_type, event_version, payload, metadata, correlation_id, causation_id,
			trace_id, created_at, payload_bytes, snapshot_version, ordinality
	 FROM loads WHERE path = 'scan'
	 EXCEPT ALL
	 SELECT v, global_position, bounded_context, aggregate_type, aggregate_id, aggregate_version,
			event_id, event_type, event_version, payload, metadata, correlation_id, causation_id,
			trace_id, created_at, payload_bytes, snapshot_version, ordinality
	 FROM loads WHERE path = 'sql')
	UNION ALL
	(SELECT v, global_position, bounded_context, aggregate_type, aggregate_id, aggregate_version,
			event_id, event_type, event_version, payload, metadata, correlation_id, causation_id,
			trace_id, created_at, payload_bytes, snapshot_version, ordinality
	 FROM loads WHERE path = 'sql'
	 EXCEPT ALL
	 SELECT v, global_position, bounded_context, aggregate_type, aggregate_id, aggregate_version,
			event_id, event_type, event_version, payload, metadata, correlation_id, causation_id,
			trace_id, created_at, payload_bytes, snapshot_version, ordinality
	 FROM loads WHERE path = 'scan')) d;
SELECT v, aggregate_version, event_type, payload, payload_bytes, snapshot_version
FROM loads WHERE path = 'scan' ORDER BY v NULLS FIRST, ordinality;
