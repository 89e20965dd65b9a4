-- The operations views and the monitoring role: es_store_monitor reads
-- consumer_status, feed_status and feed_holders (every checkpoint's name,
-- owner and position), and nothing else of es_store's (isolation spec
-- feed_holders shows them while the feed is held back).
\set VERBOSITY default
SET client_min_messages = warning;
CREATE ROLE es_regress_monitor IN ROLE es_store_monitor;
SELECT count(*) FROM es_store.append_event('ops', 'acct', 'm-1', NULL, 'Opened', '{}');
SELECT es_store.save_checkpoint('monitoring-caught-up', es_store.last_position());
SELECT es_store.save_checkpoint('monitoring-behind', 0);
SET ROLE es_regress_monitor;
SELECT name, position = safe_position AS at_safe_position,
	   positions_behind = safe_position AS behind_by_all,
	   oldest_unread_at IS NOT NULL AS behind_in_time, time_behind >= interval '0' AS time_behind_counted
FROM es_store.consumer_status WHERE name LIKE 'monitoring-%' ORDER BY name;
SELECT safe_position = es_store.last_position() AS safe, positions_in_flight, appends_in_flight
FROM es_store.feed_status;
SELECT count(*) AS holders FROM es_store.feed_holders;
-- ... but no event, checkpoint or append of its own.
SELECT count(*) FROM es_store.checkpoints;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM es_store.events;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM es_store.read_feed(0, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.get_checkpoint('monitoring-behind');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_checkpoint('monitoring-behind', 1);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- A checkpoint at a position in no space the feed has (past 2^48 on a
-- single node: a Citus worker's space) is measured against nothing.
SELECT es_store.save_checkpoint('monitoring-nowhere', 281474976710661);
SET ROLE es_regress_monitor;
SELECT name, safe_position, positions_behind, oldest_unread_at
FROM es_store.consumer_status WHERE name = 'monitoring-nowhere';
SELECT group_id, first_position, safe_position = es_store.last_position() AS safe
FROM es_store.position_spaces();
RESET ROLE;
SELECT es_store.reset_checkpoint('monitoring-nowhere', NULL);
-- Writers and readers do not see the views, nor call the views' look for
-- the first unread event; the admin does.
SET ROLE es_store_writer;
SELECT count(*) FROM es_store.consumer_status;
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.oldest_unread_at(0, 1);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE es_store_admin;
SELECT count(*) > 0 AS admin_sees FROM es_store.consumer_status;
SELECT es_store.oldest_unread_at(0, es_store.last_position()) IS NOT NULL AS admin_finds;
SELECT es_store.oldest_unread_at(0, es_store.last_position(), 0, 1) IS NOT NULL AS admin_finds_segment;
SELECT es_store.oldest_unread_at(0, es_store.last_position(), 2, 2);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE es_regress_monitor;
