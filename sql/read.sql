-- Reading one aggregate.
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default
SELECT aggregate_version FROM es_store.append('app', 'doc', 'd-1', 0,
	ARRAY['V1', 'V2', 'V3', 'V4', 'V5'],
	ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}', '{"n": 5}']::jsonb[]);
SELECT aggregate_version FROM es_store.append('app', 'doc', 'd-2', 0,
	ARRAY['W1'], ARRAY['{}']::jsonb[]);

-- Whole stream, in version order, with every column.
SELECT global_position, bounded_context, aggregate_type, aggregate_id,
	   aggregate_version, event_type, event_version, payload, metadata,
	   correlation_id, causation_id, trace_id
FROM es_store.read_aggregate('app', 'doc', 'd-1');
-- from and to are inclusive; either may be open (NULL).
SELECT aggregate_version FROM es_store.read_aggregate('app', 'doc', 'd-1', 2, 4);
SELECT aggregate_version FROM es_store.read_aggregate('app', 'doc', 'd-1', 4);
SELECT aggregate_version FROM es_store.read_aggregate('app', 'doc', 'd-1', NULL, 2);
SELECT aggregate_version FROM es_store.read_aggregate('app', 'doc', 'd-1', 0, 1);
-- "after version 3" is from_version 4.
SELECT aggregate_version FROM es_store.read_aggregate('app', 'doc', 'd-1', from_version => 3 + 1);
-- Pages of two.
SELECT aggregate_version FROM es_store.read_aggregate('app', 'doc', 'd-1', max_count => 2);
SELECT aggregate_version FROM es_store.read_aggregate('app', 'doc', 'd-1', 3, NULL, 2);
-- Empty ranges and unknown aggregates.
SELECT count(*) FROM es_store.read_aggregate('app', 'doc', 'd-1', 4, 2);
SELECT count(*) FROM es_store.read_aggregate('app', 'doc', 'd-1', 6);
SELECT count(*) FROM es_store.read_aggregate('app', 'doc', 'nope');
-- Keys are exact: no other aggregate's events leak in.
SELECT count(*) FROM es_store.read_aggregate('app', 'DOC', 'd-1');
SELECT count(*) FROM es_store.read_aggregate('other', 'doc', 'd-1');

-- Version, existence, counts.
SELECT es_store.aggregate_version('app', 'doc', 'd-1') AS d1,
	   es_store.aggregate_version('app', 'doc', 'nope') AS unknown,
	   es_store.aggregate_exists('app', 'doc', 'd-2') AS d2_exists,
	   es_store.aggregate_exists('app', 'doc', 'nope') AS unknown_exists;
SELECT es_store.count_events('app', 'doc', 'd-1') AS all_events,
	   es_store.count_events('app', 'doc', 'd-1', 3) AS from_3,
	   es_store.count_events('app', 'doc', 'd-1', 6) AS from_6,
	   es_store.count_events('app', 'doc', 'd-1', NULL) AS from_null,
	   es_store.count_events('app', 'doc', 'nope') AS unknown;

-- Stream-name reads.
SELECT aggregate_version FROM es_store.append_stream('invoice-7', 0,
	ARRAY['Issued', 'Paid'], ARRAY['{}', '{}']::jsonb[]);
SELECT aggregate_id, aggregate_version, event_type FROM es_store.read_stream('invoice-7');
SELECT aggregate_version FROM es_store.read_stream('invoice-7', 2);
SELECT aggregate_version FROM es_store.read_stream('invoice-7', NULL, 1);
SELECT aggregate_version FROM es_store.read_stream('invoice-7', max_count => 1);
SELECT es_store.stream_version('invoice-7') AS v, es_store.stream_version('invoice-8') AS none;

-- Errors.
SELECT * FROM es_store.read_aggregate(NULL, 'doc', 'd-1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_aggregate('app', NULL, 'd-1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_aggregate('app', 'doc', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_aggregate('app', 'doc', 'd-1', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_aggregate('app', 'doc', 'd-1', 1, -3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_aggregate('app', 'doc', 'd-1', max_count => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_stream(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_stream('');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.aggregate_version('app', NULL, 'd-1');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.aggregate_exists('app', 'doc', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.count_events(NULL, 'doc', 'd-1');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.count_events('app', 'doc', 'd-1', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.stream_version(NULL);
\echo :LAST_ERROR_SQLSTATE
