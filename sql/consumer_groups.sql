-- Consumer groups: segments claimed under leases, positions saved by the
-- holder only, parked events (isolation spec consumer_group_leases shows
-- the claims, the expiry and the takeover under concurrency).
\set VERBOSITY default
SET client_min_messages = warning;
SELECT count(*) FROM generate_series(1, 6) k,
	LATERAL es_store.append_event('grp', 'acct', 'g-' || k, NULL, 'Opened', '{}');
SELECT min(global_position) AS first_position FROM es_store.read_feed(0, 100000)
WHERE bounded_context = 'grp' \gset

SELECT es_store.create_consumer_group('billing', 2, '1 minute');
-- again with the same settings: nothing; with others: 22023
SELECT es_store.create_consumer_group('billing', 2, '1 minute');
SELECT es_store.create_consumer_group('billing', 3, '1 minute');
\echo :LAST_ERROR_SQLSTATE

-- Two claims by one consumer take both segments; a third finds none.
SELECT segment, segment_count, position, lease_until > clock_timestamp() AS leased
FROM es_store.claim_segment('billing', 'worker-1');
SELECT segment, segment_count, position FROM es_store.claim_segment('billing', 'worker-1');
SELECT count(*) AS none_left FROM es_store.claim_segment('billing', 'worker-2');

-- The holder reads its segment from its position and saves past it.
SELECT count(*) > 0 AS has_events FROM es_store.read_feed(0, 100000, segment => 0, segment_count => 2);
SELECT es_store.save_segment_position('billing', 'worker-1', 0,
	(SELECT max(global_position) FROM es_store.read_feed(0, 100000, segment => 0, segment_count => 2)));
SELECT segment, consumer, position > 0 AS moved, saved_at IS NOT NULL AS saved
FROM es_store.group_status WHERE group_name = 'billing' ORDER BY segment;
-- ... never backwards (SE004), and only as the holder (SE007)
SELECT es_store.save_segment_position('billing', 'worker-1', 0, 1000000);
SELECT es_store.save_segment_position('billing', 'worker-1', 0, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_segment_position('billing', 'worker-2', 1, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.renew_lease('billing', 'worker-2', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.renew_lease('billing', 'worker-1', 1) > clock_timestamp() AS renewed;

-- Released, a segment goes to the next claimer at once.
SELECT es_store.release_segment('billing', 'worker-2', 1) AS released_by_other;
SELECT es_store.release_segment('billing', 'worker-1', 1) AS released;
SELECT segment, position FROM es_store.claim_segment('billing', 'worker-2');
SELECT es_store.park_event('billing', 'worker-1', 1, 3, 'no');
\echo :LAST_ERROR_SQLSTATE

-- Parked events: listed with the event, and removed once handled; only an
-- event of the segment can be parked (22023 for no event, or another
-- segment's).
SELECT min(global_position) AS seg1_position FROM es_store.read_feed(0, 100000, segment => 1, segment_count => 2)
WHERE bounded_context = 'grp' \gset
SELECT min(global_position) AS seg0_position FROM es_store.read_feed(0, 100000, segment => 0, segment_count => 2)
WHERE bounded_context = 'grp' \gset
SELECT es_store.park_event('billing', 'worker-2', 1, :seg1_position, 'amount missing');
SELECT es_store.park_event('billing', 'worker-2', 1, :seg1_position, 'amount still missing');
SELECT es_store.park_event('billing', 'worker-2', 1, 99999999, 'gone');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
SELECT es_store.park_event('billing', 'worker-2', 1, :seg0_position, 'elsewhere') IS NULL;
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT global_position = :seg1_position AS first, segment, consumer, error,
	   (event).event_type, (event).aggregate_id IS NULL AS no_event
FROM es_store.parked_events('billing');
SELECT group_name, segment, parked FROM es_store.group_status WHERE group_name = 'billing' ORDER BY segment;
-- The monitoring role reads group_status: segment 0 was saved past its
-- last event (nothing unread in it); segment 1 has not moved.
CREATE ROLE es_regress_watch IN ROLE es_store_monitor;
SET ROLE es_regress_watch;
SELECT segment, consumer, oldest_unread_at IS NOT NULL AS behind_in_time,
	   time_behind >= interval '0' AS counted
FROM es_store.group_status WHERE group_name = 'billing' ORDER BY segment;
RESET ROLE;
DROP ROLE es_regress_watch;
-- ... and the event it times is the segment's first, as read_feed's
-- segment filter finds it (events of separate transactions: their times
-- differ).
SELECT es_store.create_consumer_group('probe', 3, '1 minute');
SELECT es_store.last_position() AS before \gset
SELECT segment FROM es_store.claim_segment('probe', 'pw');
SELECT segment FROM es_store.claim_segment('probe', 'pw');
SELECT segment FROM es_store.claim_segment('probe', 'pw');
SELECT count(*) FROM generate_series(0, 2) k, LATERAL es_store.save_segment_position('probe', 'pw', k, :before);
SELECT count(*) FROM es_store.append_event('probe', 'p', 'p-1', NULL, 'E', '{}');
SELECT count(*) FROM es_store.append_event('probe', 'p', 'p-2', NULL, 'E', '{}');
SELECT count(*) FROM es_store.append_event('probe', 'p', 'p-3', NULL, 'E', '{}');
SELECT count(*) FROM es_store.append_event('probe', 'p', 'p-4', NULL, 'E', '{}');
SELECT count(*) FROM es_store.append_event('probe', 'p', 'p-5', NULL, 'E', '{}');
SELECT count(*) FROM es_store.append_event('probe', 'p', 'p-6', NULL, 'E', '{}');
SELECT s.segment, s.oldest_unread_at = (SELECT f.created_at FROM es_store.read_feed(:before, 1,
		segment => s.segment, segment_count => 3) f) AS as_read_feed
FROM es_store.group_status s WHERE s.group_name = 'probe' ORDER BY s.segment;
SELECT es_store.drop_consumer_group('probe');
SELECT es_store.unpark_event('billing', :seg1_position) AS removed,
	   es_store.unpark_event('billing', :seg1_position) AS again;

-- A group belongs to the role that created it.
CREATE ROLE es_regress_other IN ROLE es_store_writer;
SET ROLE es_regress_other;
SELECT * FROM es_store.claim_segment('billing', 'intruder');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.drop_consumer_group('billing');
\echo :LAST_ERROR_SQLSTATE
-- ... even when it names the same settings (it must not pass for created)
SELECT es_store.create_consumer_group('billing', 2, '1 minute');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE es_regress_other;

-- A parked event shows as the reads show it: hidden once its aggregate is
-- deleted.
SELECT es_store.park_event('billing', 'worker-2', 1, :seg1_position, 'again');
SELECT aggregate_id AS seg1_aggregate FROM es_store.read_feed(:seg1_position - 1, 1) \gset
SELECT deleted_version FROM es_store.delete_aggregate('grp', 'acct', :'seg1_aggregate');
SELECT global_position = :seg1_position AS first, (event).event_type IS NULL AS hidden
FROM es_store.parked_events('billing') ORDER BY global_position;

-- Bad input: 22004, 22023, 42704, 54000.
SELECT es_store.create_consumer_group(NULL, 2);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.create_consumer_group('', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.create_consumer_group(repeat('g', 1025), 2);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.create_consumer_group('x', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.create_consumer_group('x', 1025);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.create_consumer_group('x', 2, '0 seconds');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.create_consumer_group('x', 2, '1 day 1 second');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.create_consumer_group('x', 2, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.claim_segment('nope', 'w');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.claim_segment('billing', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_segment_position('billing', 'worker-1', 2, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_segment_position('billing', 'worker-1', 0, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.park_event('billing', 'worker-2', 1, 5, NULL);
\echo :LAST_ERROR_SQLSTATE

-- Dropped with its segments and parked events.
SELECT es_store.drop_consumer_group('billing') AS dropped, es_store.drop_consumer_group('billing') AS again;
SELECT count(*) FROM es_store.group_status WHERE group_name = 'billing';
