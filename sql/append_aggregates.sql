-- append_aggregates: appends to several aggregates, and checks of others,
-- in one call: each with its own expected version, all or nothing, the
-- head rows locked in key order (isolation spec multi_aggregate).
\set VERBOSITY default
SET client_min_messages = warning;
SELECT aggregate_version FROM es_store.append_event('xfer', 'account', 'a-1', 0, 'Opened', '{}');
SELECT aggregate_version FROM es_store.append_event('xfer', 'account', 'a-2', 0, 'Opened', '{}');
SELECT aggregate_version FROM es_store.append_event('xfer', 'limits', 'daily', 0, 'Set', '{"max": 100}');

-- A transfer, given with a-2 first: rows in the order given, positions in
-- key order (a-1's head row is locked, and its events written, first: the
-- feed below).  The check of the limits returns its version.
SELECT aggregate_id, aggregate_version, event_id IS NOT NULL AS has_id
FROM es_store.append_aggregates('[
	{"bounded_context": "xfer", "aggregate_type": "account", "aggregate_id": "a-2",
	 "expected_version": 1,
	 "events": [{"event_type": "Deposited", "payload": {"amount": 5}}]},
	{"bounded_context": "xfer", "aggregate_type": "account", "aggregate_id": "a-1",
	 "expected_version": 1,
	 "events": [{"event_type": "Withdrawn", "payload": {"amount": 5}},
				{"event_type": "FeeCharged", "payload": {"amount": 1}, "metadata": {"rule": "t1"}}]},
	{"bounded_context": "xfer", "aggregate_type": "limits", "aggregate_id": "daily",
	 "expected_version": 1}
]');
SELECT aggregate_id, aggregate_version, event_type, metadata
FROM es_store.read_feed(0, 1000) WHERE bounded_context = 'xfer' ORDER BY global_position;

-- A check that fails (the limits moved on), or an append that does: SE001,
-- and nothing of the call is written.
SELECT count(*) AS events_before FROM es_store.events \gset
SELECT * FROM es_store.append_aggregates('[
	{"bounded_context": "xfer", "aggregate_type": "account", "aggregate_id": "a-1",
	 "expected_version": 3, "events": [{"event_type": "Withdrawn", "payload": {"amount": 1}}]},
	{"bounded_context": "xfer", "aggregate_type": "limits", "aggregate_id": "daily",
	 "expected_version": 2}
]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[
	{"bounded_context": "xfer", "aggregate_type": "account", "aggregate_id": "a-1",
	 "expected_version": 3, "events": [{"event_type": "Withdrawn", "payload": {"amount": 1}}]},
	{"bounded_context": "xfer", "aggregate_type": "account", "aggregate_id": "a-2",
	 "expected_version": 7, "events": [{"event_type": "Deposited", "payload": {"amount": 1}}]}
]');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = :events_before AS nothing_written,
	   es_store.aggregate_version('xfer', 'account', 'a-1') AS a1_version
FROM es_store.events;

-- Checks: the aggregate exists (-1), and does not exist (0): the latter
-- holds its lock on an empty head row, which reads do not show.
SELECT aggregate_id, aggregate_version, event_id, global_position
FROM es_store.append_aggregates('[
	{"stream_name": "xfer-77", "expected_version": 0},
	{"bounded_context": "xfer", "aggregate_type": "account", "aggregate_id": "a-1",
	 "expected_version": -1}
]');
SELECT es_store.aggregate_exists('', 'xfer', 'xfer-77') AS exists,
	   es_store.aggregate_version('', 'xfer', 'xfer-77') AS version;
SELECT aggregate_version FROM es_store.append_stream('xfer-77', 0, ARRAY['Opened'], ARRAY['{}']::jsonb[]);
SELECT * FROM es_store.append_aggregates('[{"stream_name": "xfer-78", "expected_version": -1}]');
\echo :LAST_ERROR_SQLSTATE

-- A retry of the whole call (with its event ids) returns its results.
SELECT aggregate_id, aggregate_version FROM es_store.append_aggregates('[
	{"stream_name": "xfer-80", "expected_version": 0,
	 "events": [{"event_type": "Opened", "payload": {}, "event_id": "00000000-0000-4000-8000-000000000801"}]},
	{"stream_name": "xfer-81", "expected_version": 0,
	 "events": [{"event_type": "Opened", "payload": {}, "event_id": "00000000-0000-4000-8000-000000000811"}]}
]');
SELECT aggregate_id, aggregate_version FROM es_store.append_aggregates('[
	{"stream_name": "xfer-80", "expected_version": 0,
	 "events": [{"event_type": "Opened", "payload": {}, "event_id": "00000000-0000-4000-8000-000000000801"}]},
	{"stream_name": "xfer-81", "expected_version": 0,
	 "events": [{"event_type": "Opened", "payload": {}, "event_id": "00000000-0000-4000-8000-000000000811"}]}
]');

-- ... also when a check of the call has moved on since: the call held it,
-- and its retry makes no check again (NULL version); a retry that repeats
-- only some of the call's appends is SE002.
SELECT aggregate_id, aggregate_version FROM es_store.append_aggregates('[
	{"stream_name": "xfer-82", "expected_version": 0,
	 "events": [{"event_type": "Opened", "payload": {}, "event_id": "00000000-0000-4000-8000-000000000821"}]},
	{"stream_name": "xfer-80", "expected_version": 1}
]');
SELECT count(*) FROM es_store.append_stream('xfer-80', 1, ARRAY['Moved'], ARRAY['{}']::jsonb[]);
SELECT aggregate_id, aggregate_version FROM es_store.append_aggregates('[
	{"stream_name": "xfer-82", "expected_version": 0,
	 "events": [{"event_type": "Opened", "payload": {}, "event_id": "00000000-0000-4000-8000-000000000821"}]},
	{"stream_name": "xfer-80", "expected_version": 1}
]');
SELECT * FROM es_store.append_aggregates('[
	{"stream_name": "xfer-82", "expected_version": 0,
	 "events": [{"event_type": "Opened", "payload": {}, "event_id": "00000000-0000-4000-8000-000000000821"}]},
	{"stream_name": "xfer-83", "expected_version": 0,
	 "events": [{"event_type": "Opened", "payload": {}}]}
]');
\echo :LAST_ERROR_SQLSTATE

-- Bad input: 22004, 22023 and 54000, nothing written.
SELECT * FROM es_store.append_aggregates(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[{"stream_name": "acct-1", "expected": 0}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[{"aggregate_type": "account", "expected_version": 0}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[{"stream_name": "acct-1", "aggregate_id": "x", "expected_version": 0}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[{"stream_name": "acct-1"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[{"stream_name": "acct-1", "expected_version": 1.5}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[{"stream_name": "acct-1", "expected_version": "1"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[{"stream_name": "acct-1", "expected_version": -2}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[{"stream_name": "acct-1", "events": {"event_type": "A"}}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[{"stream_name": "acct-1", "events": [1]}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[{"stream_name": "acct-1",
	"events": [{"event_type": "A", "payload": {}, "stream_name": "acct-2"}]}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[{"stream_name": "acct-1",
	"events": [{"event_type": "A", "payload": {}}, {"event_type": "B"}]}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_aggregates('[
	{"stream_name": "acct-1", "events": [{"event_type": "A", "payload": {}}]},
	{"bounded_context": "", "aggregate_type": "acct", "aggregate_id": "acct-1", "expected_version": 1}]');
\echo :LAST_ERROR_SQLSTATE
SET es_store.max_batch_events = 2;
SELECT * FROM es_store.append_aggregates('[
	{"stream_name": "acct-1", "events": [{"event_type": "A", "payload": {}}, {"event_type": "B", "payload": {}}]},
	{"stream_name": "acct-2", "events": [{"event_type": "A", "payload": {}}]}]');
\echo :LAST_ERROR_SQLSTATE
RESET es_store.max_batch_events;
SELECT count(*) = :events_before + 5 AS only_the_checks_and_retry_test_wrote
FROM es_store.events;
