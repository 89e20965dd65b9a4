-- Retention and stream metadata: set and read back, events outside
-- retention hidden from reads, the feed and stats alike, the purge that
-- removes them in bounded batches; every error with its SQLSTATE.  Start
-- from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default

-- Five events in r1, three in r2.
SELECT count(*) FROM generate_series(1, 5) g,
	LATERAL es_store.append_event('bank', 'acct', 'r1', NULL, 'Deposited', jsonb_build_object('n', g));
SELECT count(*) FROM generate_series(1, 3) g,
	LATERAL es_store.append_event('bank', 'acct', 'r2', NULL, 'Deposited', jsonb_build_object('n', g));

-- No retention yet: the metadata row is all NULL, nothing is hidden.
SELECT * FROM es_store.get_stream_metadata('bank', 'acct', 'r1');
SELECT count(*) AS unknown FROM es_store.get_stream_metadata('bank', 'acct', 'never');

-- max_count: only the last N events are returned, by every read.
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'r1', max_count => 2,
	metadata => '{"owner": "team-a"}');
SELECT aggregate_version FROM es_store.read_aggregate('bank', 'acct', 'r1');
SELECT aggregate_version FROM es_store.read_aggregate_backward('bank', 'acct', 'r1');
SELECT aggregate_id, aggregate_version FROM es_store.read_feed(0, 100) ORDER BY global_position;
SELECT aggregate_version FROM es_store.read_feed(0, 100, aggregate_types => ARRAY['acct'])
WHERE aggregate_id = 'r1';
SELECT es_store.count_events('bank', 'acct', 'r1') AS counted;
SELECT event_count, first_version, current_version, max_count, metadata
FROM es_store.aggregate_stats('bank', 'acct', 'r1');
-- An append moves the window.
SELECT aggregate_version FROM es_store.append_event('bank', 'acct', 'r1', 5, 'Deposited', '{"n": 6}');
SELECT aggregate_version FROM es_store.read_aggregate('bank', 'acct', 'r1');
-- Replaced as a whole: truncate_before 4 and no max_count.  Loosening
-- retention shows the events the purge has not removed yet.
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'r1', truncate_before => 4);
SELECT aggregate_version FROM es_store.read_aggregate('bank', 'acct', 'r1');
-- truncate_before never moves back.
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'r1', truncate_before => 2);
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'r1');
SELECT aggregate_version FROM es_store.read_aggregate('bank', 'acct', 'r1');
SELECT * FROM es_store.get_stream_metadata('bank', 'acct', 'r1');

-- The purge removes the hidden events, then clears the stream's flag: it
-- hides nothing any more.  Nothing visible changes.
SELECT * FROM es_store.purge();
SELECT aggregate_version FROM es_store.events e JOIN es_store.aggregate_heads h USING (stream_id)
WHERE h.aggregate_id = 'r1' ORDER BY 1;
SELECT filtered FROM es_store.aggregate_heads WHERE aggregate_id = 'r1';
SELECT aggregate_version FROM es_store.read_aggregate('bank', 'acct', 'r1');
SELECT * FROM es_store.purge();

-- Bounded batches: 2 at a time, done once nothing is left.
SELECT count(*) FROM generate_series(1, 5) g,
	LATERAL es_store.append_event('bank', 'acct', 'r3', NULL, 'Deposited', jsonb_build_object('n', g));
SELECT truncate_before FROM es_store.set_stream_metadata('bank', 'acct', 'r3', truncate_before => 6);
SELECT * FROM es_store.purge(2);
SELECT * FROM es_store.purge(2);
SELECT * FROM es_store.purge(2);
SELECT count(*) AS left FROM es_store.events e JOIN es_store.aggregate_heads h USING (stream_id)
WHERE h.aggregate_id = 'r3';
-- max_count keeps the flag: later appends push events out.
SELECT max_count FROM es_store.set_stream_metadata('bank', 'acct', 'r2', max_count => 1);
SELECT * FROM es_store.purge();
SELECT filtered FROM es_store.aggregate_heads WHERE aggregate_id = 'r2';
SELECT aggregate_version FROM es_store.read_aggregate('bank', 'acct', 'r2');

-- max_age: events older than it are hidden.  An append in the same
-- transaction as the read is as old as the transaction.
SELECT count(*) FROM generate_series(1, 2) g,
	LATERAL es_store.append_event('bank', 'acct', 'r4', NULL, 'Deposited', jsonb_build_object('n', g));
SELECT max_age FROM es_store.set_stream_metadata('bank', 'acct', 'r4', max_age => '1 millisecond');
SELECT pg_sleep(0.01);
SELECT count(*) AS aged_out FROM es_store.read_aggregate('bank', 'acct', 'r4');
BEGIN;
SELECT aggregate_version FROM es_store.append_event('bank', 'acct', 'r4', 2, 'Deposited', '{"n": 3}');
SELECT aggregate_version FROM es_store.read_aggregate('bank', 'acct', 'r4');
COMMIT;
SELECT pg_sleep(0.01);
SELECT events_removed, done FROM es_store.purge();
SELECT count(*) AS left FROM es_store.events e JOIN es_store.aggregate_heads h USING (stream_id)
WHERE h.aggregate_id = 'r4';
SELECT event_count, current_version FROM es_store.aggregate_stats('bank', 'acct', 'r4');

-- A truncate_before above the stream's next version hides events still to
-- come: the purge removes what is stored and keeps the stream's flag, so
-- later appends below it stay hidden (it cleared the flag before the fix,
-- and they showed).
SELECT count(*) FROM generate_series(1, 3) g,
	LATERAL es_store.append_event('bank', 'acct', 'r5', NULL, 'Deposited', jsonb_build_object('n', g));
SELECT truncate_before FROM es_store.set_stream_metadata('bank', 'acct', 'r5', truncate_before => 6);
SELECT events_removed FROM es_store.purge();
SELECT filtered FROM es_store.aggregate_heads WHERE aggregate_id = 'r5';
SELECT count(*) FROM generate_series(4, 7) g,
	LATERAL es_store.append_event('bank', 'acct', 'r5', NULL, 'Deposited', jsonb_build_object('n', g));
SELECT aggregate_version FROM es_store.read_aggregate('bank', 'acct', 'r5');
SELECT aggregate_version FROM es_store.read_feed(0, 100) WHERE aggregate_id = 'r5';
SELECT events_removed FROM es_store.purge();
SELECT filtered FROM es_store.aggregate_heads WHERE aggregate_id = 'r5';

-- The budget bounds the streams looked at too: one call of budget 1 looks
-- at one of the two filtered streams (neither has anything to remove) and
-- says it is not done; a call with room for all of them is.
SELECT count(*) AS filtered FROM es_store.aggregate_heads WHERE filtered;
SELECT * FROM es_store.purge(1);
SELECT * FROM es_store.purge(100);

-- max_age is an exact duration (a day of 24 hours, a month of 30 days),
-- so that every session, whatever its TimeZone, hides the same events.
SELECT max_age FROM es_store.set_stream_metadata('bank', 'acct', 'r4', max_age => '1 mon 2 days 3 hours');
SET TimeZone = 'America/New_York';
SELECT max_age FROM es_store.get_stream_metadata('bank', 'acct', 'r4');
RESET TimeZone;

-- Retention set before the first append: the head row it makes reads as
-- absent, and an append expecting no stream starts the stream at 1.
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'new', max_count => 3);
SELECT es_store.aggregate_exists('bank', 'acct', 'new') AS exists,
	   es_store.aggregate_version('bank', 'acct', 'new') AS version;
SELECT * FROM es_store.delete_aggregate('bank', 'acct', 'new');
SELECT count(*) AS markers FROM es_store.events WHERE stream_id = 0;
SELECT aggregate_version FROM es_store.append_event('bank', 'acct', 'new', 0, 'Opened', '{}');
SELECT aggregate_version FROM es_store.append_event('bank', 'acct', 'new', -1, 'Deposited', '{}');
SELECT * FROM es_store.get_stream_metadata('bank', 'acct', 'new');

-- A deleted stream keeps its metadata; the purge removes its events.
SELECT deleted_version FROM es_store.delete_aggregate('bank', 'acct', 'r2');
SELECT * FROM es_store.get_stream_metadata('bank', 'acct', 'r2');
SELECT events_removed FROM es_store.purge();
SELECT count(*) AS left FROM es_store.events e JOIN es_store.aggregate_heads h USING (stream_id)
WHERE h.aggregate_id = 'r2';
SELECT aggregate_version FROM es_store.append_event('bank', 'acct', 'r2', 0, 'Reopened', '{}');
SELECT aggregate_version FROM es_store.read_aggregate('bank', 'acct', 'r2');

-- Markers older than a time: removed within the budget.
SELECT count(*) AS markers FROM es_store.events WHERE stream_id = 0;
SELECT * FROM es_store.purge(10, now() - interval '1 day');
SELECT * FROM es_store.purge(10, clock_timestamp());
SELECT count(*) AS markers FROM es_store.events WHERE stream_id = 0;

-- The append-only guard still refuses the same deletes from SQL.
DELETE FROM es_store.events WHERE aggregate_version = 1;
\echo :LAST_ERROR_SQLSTATE

-- Errors.
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'r1', truncate_before => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'r1', truncate_before => 9007199254740992);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'r1', max_count => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'r1', max_age => '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'r1', max_age => '-1 day');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'r1', max_age => '1000 years 1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'r1', metadata => '[1]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.set_stream_metadata('bank', NULL, 'r1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.get_stream_metadata('bank', 'acct', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.purge(0);
\echo :LAST_ERROR_SQLSTATE

-- Privileges: writers set retention, readers read it, only administrators
-- purge.
DROP ROLE IF EXISTS regress_es_ret_reader;
DROP ROLE IF EXISTS regress_es_ret_writer;
CREATE ROLE regress_es_ret_reader IN ROLE es_store_reader;
CREATE ROLE regress_es_ret_writer IN ROLE es_store_writer;
SET ROLE regress_es_ret_reader;
SELECT max_count FROM es_store.get_stream_metadata('bank', 'acct', 'new');
SELECT * FROM es_store.set_stream_metadata('bank', 'acct', 'new');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_es_ret_writer;
SELECT max_count FROM es_store.set_stream_metadata('bank', 'acct', 'new', max_count => 5);
SELECT * FROM es_store.purge();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE regress_es_ret_reader;
DROP ROLE regress_es_ret_writer;
