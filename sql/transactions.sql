-- Everything runs in the caller's transaction: nothing commits on its own.
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default
SELECT aggregate_version FROM es_store.append('tx', 'acct', 'a', 0, ARRAY['Opened'], ARRAY['{}']::jsonb[]);
SELECT es_store.save_checkpoint('tx-proj', 1);
CREATE TABLE read_model (id text PRIMARY KEY, balance int);

-- A rollback leaves no event, no head change, no checkpoint change.
BEGIN;
SELECT aggregate_version FROM es_store.append('tx', 'acct', 'a', 1, ARRAY['Deposited'], ARRAY['{"n": 1}']::jsonb[]);
SELECT aggregate_version FROM es_store.append('tx', 'acct', 'b', 0, ARRAY['Opened'], ARRAY['{}']::jsonb[]);
SELECT aggregate_version FROM es_store.append_event('tx', 'acct', 'a', NULL, 'Deposited', '{}');
SELECT es_store.save_checkpoint('tx-proj', 3);
INSERT INTO read_model VALUES ('a', 1);
SELECT es_store.aggregate_version('tx', 'acct', 'a') AS inside;
ROLLBACK;
SELECT es_store.aggregate_version('tx', 'acct', 'a') AS a_version,
	   es_store.aggregate_exists('tx', 'acct', 'b') AS b_exists,
	   es_store.get_checkpoint('tx-proj') AS checkpoint,
	   (SELECT count(*) FROM read_model) AS read_model_rows;
SELECT aggregate_id, aggregate_version, event_type FROM es_store.read_feed(0, 100);
SELECT aggregate_id, version FROM es_store.aggregate_heads h
ORDER BY (SELECT min(global_position) FROM es_store.events e WHERE e.stream_id = h.stream_id);

-- A savepoint rolled back undoes only its own append.
BEGIN;
SELECT aggregate_version FROM es_store.append('tx', 'acct', 'a', 1, ARRAY['Deposited'], ARRAY['{}']::jsonb[]);
SAVEPOINT s;
SELECT aggregate_version FROM es_store.append('tx', 'acct', 'a', 2, ARRAY['Withdrawn'], ARRAY['{}']::jsonb[]);
ROLLBACK TO SAVEPOINT s;
-- A failed append inside the transaction, caught by a savepoint, leaves no trace.
SAVEPOINT t;
SELECT aggregate_version FROM es_store.append('tx', 'acct', 'a', 7, ARRAY['Nope'], ARRAY['{}']::jsonb[]);
ROLLBACK TO SAVEPOINT t;
SELECT aggregate_version FROM es_store.append('tx', 'acct', 'a', 2, ARRAY['Closed'], ARRAY['{}']::jsonb[]);
COMMIT;
SELECT aggregate_version, event_type FROM es_store.read_aggregate('tx', 'acct', 'a');

-- The append, the read model and the checkpoint commit together.
BEGIN;
SELECT global_position AS c_position
FROM es_store.append('tx', 'acct', 'c', 0, ARRAY['Opened'], ARRAY['{}']::jsonb[]) \gset
INSERT INTO read_model VALUES ('c', 0);
SELECT es_store.save_checkpoint('tx-proj', :c_position);
-- Inside the appending transaction the feed stops below its own events:
-- they are not committed yet.
SELECT es_store.last_position() < :c_position AS feed_held_below_own_append,
	   (SELECT count(*) FROM es_store.read_feed(0, 1000) WHERE aggregate_id = 'c') AS own_events_in_feed;
COMMIT;
SELECT (SELECT count(*) FROM read_model) AS read_model_rows,
	   es_store.get_checkpoint('tx-proj') = :c_position AS checkpoint_saved,
	   es_store.last_position() >= :c_position AS feed_past_it_after_commit;

-- A failing statement aborts the whole transaction, appends included.
BEGIN;
SELECT aggregate_version FROM es_store.append('tx', 'acct', 'd', 0, ARRAY['Opened'], ARRAY['{}']::jsonb[]);
SELECT aggregate_version FROM es_store.append('tx', 'acct', 'd', 0, ARRAY['Opened'], ARRAY['{}']::jsonb[]);
COMMIT;
SELECT es_store.aggregate_exists('tx', 'acct', 'd') AS d_exists;

-- Positions burnt by rollbacks are never reused: positions stay unique and
-- increasing, versions stay dense.
SELECT bool_and(global_position > prev) AS increasing
FROM (SELECT global_position, lag(global_position, 1, 0::bigint) OVER (ORDER BY global_position) AS prev
	  FROM es_store.read_feed(0, 1000)) s;
SELECT aggregate_id, max(aggregate_version) = count(*) AS dense
FROM es_store.events GROUP BY aggregate_id ORDER BY min(global_position);
DROP TABLE read_model;
