-- Forget (hard delete): events, snapshot, metadata and the key's feed
-- markers removed physically, a "$forgotten" marker, a tombstone that
-- refuses appends or no trace at all; idempotent; every error with its
-- SQLSTATE.  Then the stats of one aggregate and of the store.  Start from
-- an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default

SELECT count(*) FROM generate_series(1, 3) g,
	LATERAL es_store.append_event('crm', 'person', 'p1', NULL, 'Named', jsonb_build_object('n', g));
SELECT count(*) FROM generate_series(1, 2) g,
	LATERAL es_store.append_event('crm', 'person', 'p2', NULL, 'Named', jsonb_build_object('n', g));
SELECT saved FROM es_store.save_snapshot('crm', 'person', 'p1', 2, '{"name": "Ann"}');
SELECT max_count FROM es_store.set_stream_metadata('crm', 'person', 'p1', max_count => 10,
	metadata => '{"email": "ann@example.com"}');
SELECT deleted_version FROM es_store.delete_aggregate('crm', 'person', 'p1');
SELECT aggregate_version FROM es_store.append_event('crm', 'person', 'p1', 0, 'Named', '{"n": 4}');
SELECT max(global_position) AS before_forget FROM es_store.read_feed(0, 100) \gset

-- Forget with the right expected version: the version, the events
-- removed, the marker's position.
SELECT forgotten_version, events_removed, global_position > :before_forget AS marker_after
FROM es_store.forget_aggregate('crm', 'person', 'p1', 4);
-- Nothing of p1 is stored but its tombstone and the "$forgotten" marker
-- (the "$deleted" marker of its key went with its events).
SELECT count(*) AS events FROM es_store.events e JOIN es_store.aggregate_heads h USING (stream_id)
WHERE h.aggregate_id = 'p1';
SELECT count(*) AS snapshots FROM es_store.snapshots WHERE aggregate_id = 'p1';
SELECT aggregate_id, event_type, payload FROM es_store.events WHERE stream_id = 0;
SELECT version, forgotten_at IS NOT NULL AS tombstone, deleted_at, truncate_before, max_count,
	   metadata, filtered
FROM es_store.aggregate_heads WHERE aggregate_id = 'p1';
SELECT count(*) AS metadata FROM es_store.get_stream_metadata('crm', 'person', 'p1');
-- The feed: p2's events and the marker; reads see nothing of p1.
SELECT aggregate_id, aggregate_version, event_type FROM es_store.read_feed(0, 100)
ORDER BY global_position;
SELECT count(*) AS events FROM es_store.read_aggregate('crm', 'person', 'p1');
SELECT es_store.aggregate_exists('crm', 'person', 'p1') AS exists,
	   es_store.aggregate_version('crm', 'person', 'p1') AS version;
-- The tombstone refuses appends, deletes, snapshots and metadata (SE003).
SELECT aggregate_version FROM es_store.append_event('crm', 'person', 'p1', NULL, 'X', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT aggregate_version FROM es_store.append_event('crm', 'person', 'p1', 0, 'X', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.delete_aggregate('crm', 'person', 'p1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.set_stream_metadata('crm', 'person', 'p1', max_count => 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.save_snapshot('crm', 'person', 'p1', 1, '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS snapshots FROM es_store.snapshots WHERE aggregate_id = 'p1';
-- Idempotent: forgetting again, whatever the expected version, or an
-- aggregate that never existed, changes nothing and appends no marker.
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'p1');
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'p1', 4);
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'never', 7);
SELECT count(*) AS markers FROM es_store.events WHERE stream_id = 0;
-- keep_tombstone => false on the tombstone: the key is new again, with
-- versions from 1.
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'p1', keep_tombstone => false);
SELECT count(*) AS heads FROM es_store.aggregate_heads WHERE aggregate_id = 'p1';
SELECT aggregate_version FROM es_store.append_event('crm', 'person', 'p1', 0, 'Named', '{"n": 1}');
SELECT aggregate_version, payload FROM es_store.read_aggregate('crm', 'person', 'p1');

-- No trace at once: p2 is forgotten without a tombstone; only the marker
-- keeps its key (the purge removes old markers, see retention).
SELECT forgotten_version, events_removed FROM es_store.forget_aggregate('crm', 'person', 'p2', -1, false);
SELECT count(*) AS heads FROM es_store.aggregate_heads WHERE aggregate_id = 'p2';
SELECT aggregate_id, event_type, payload FROM es_store.events WHERE stream_id = 0
ORDER BY global_position;
SELECT aggregate_version FROM es_store.append_event('crm', 'person', 'p2', 0, 'Named', '{}');

-- A key that only has metadata (set before any append) is absent: its
-- forget removes the metadata and appends no marker, whatever the
-- expected version; the tombstone then refuses appends.
SELECT max_count FROM es_store.set_stream_metadata('crm', 'person', 'm0', max_count => 3,
	metadata => '{"email": "m0@example.com"}');
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'm0', -1);
SELECT version, forgotten_at IS NOT NULL AS tombstone, max_count, metadata
FROM es_store.aggregate_heads WHERE aggregate_id = 'm0';
SELECT count(*) AS markers FROM es_store.events WHERE stream_id = 0 AND aggregate_id = 'm0';
SELECT aggregate_version FROM es_store.append_event('crm', 'person', 'm0', 0, 'Named', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'm0', keep_tombstone => false);
SELECT aggregate_version FROM es_store.append_event('crm', 'person', 'm0', 0, 'Named', '{}');

-- A stream with a bytea payload and a retention: all removed alike.
SELECT aggregate_version FROM es_store.append_event_bytes('crm', 'blob', 'b1', 0, 'Raw', '\x0001'::bytea);
SELECT forgotten_version, events_removed FROM es_store.forget_aggregate('crm', 'blob', 'b1', 1);

-- The append-only guard still refuses the same delete from SQL.
DELETE FROM es_store.events WHERE stream_id = 0;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE es_store.events;
\echo :LAST_ERROR_SQLSTATE

-- The guard lets only forget's own statement through: a DELETE that a
-- row trigger of someone else's runs meanwhile is refused (42501), and
-- the forget with it.
CREATE FUNCTION regress_sneaky_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM es_store.events WHERE stream_id = 0;
	RETURN OLD;
END $$;
CREATE TRIGGER regress_sneaky BEFORE DELETE ON es_store.events
	FOR EACH ROW EXECUTE FUNCTION regress_sneaky_delete();
SELECT aggregate_version FROM es_store.append_event('crm', 'person', 'sn', 0, 'Named', '{}');
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'sn');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER regress_sneaky ON es_store.events;
DROP FUNCTION regress_sneaky_delete();
SELECT count(*) AS markers_kept FROM es_store.events WHERE stream_id = 0;
SELECT es_store.aggregate_version('crm', 'person', 'sn') AS still_there;

-- 09000: a trigger of the table owner's on aggregate_heads that skips the
-- lifecycle's change of a head row fails the call, which changes nothing.
CREATE FUNCTION regress_skip_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RETURN NULL;
END $$;
CREATE TRIGGER regress_skip BEFORE UPDATE OR DELETE ON es_store.aggregate_heads
	FOR EACH ROW WHEN (OLD.aggregate_id = 'skipped') EXECUTE FUNCTION regress_skip_head();
SELECT aggregate_version FROM es_store.append_at_version('crm', 'person', 'skipped', 1, 'Named', '{}');
SELECT * FROM es_store.delete_aggregate('crm', 'person', 'skipped');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'skipped');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.set_stream_metadata('crm', 'person', 'skipped', max_count => 1);
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER regress_skip ON es_store.aggregate_heads;
DROP FUNCTION regress_skip_head();
SELECT count(*) AS events FROM es_store.read_aggregate('crm', 'person', 'skipped');

-- Errors: SE001 (a deleted aggregate is at 0), 22004, 22023.
SELECT aggregate_version FROM es_store.append_event('crm', 'person', 'p3', 0, 'Named', '{}');
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'p3', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'p3', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT deleted_version FROM es_store.delete_aggregate('crm', 'person', 'p3');
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'p3', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT forgotten_version, events_removed FROM es_store.forget_aggregate('crm', 'person', 'p3', 0);
SELECT * FROM es_store.forget_aggregate(NULL, 'person', 'p3');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'p3', -2);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'never', -2);
\echo :LAST_ERROR_SQLSTATE

-- Privileges: only administrators forget.
DROP ROLE IF EXISTS regress_es_forget_writer;
DROP ROLE IF EXISTS regress_es_forget_admin;
CREATE ROLE regress_es_forget_writer IN ROLE es_store_writer;
CREATE ROLE regress_es_forget_admin IN ROLE es_store_admin;
SET ROLE regress_es_forget_writer;
SELECT * FROM es_store.forget_aggregate('crm', 'person', 'p1');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_es_forget_admin;
SELECT forgotten_version FROM es_store.forget_aggregate('crm', 'person', 'p1');
RESET ROLE;
DROP ROLE regress_es_forget_writer;
DROP ROLE regress_es_forget_admin;

-- Stats of one aggregate: counts and versions of what reads return.
SELECT count(*) FROM generate_series(1, 4) g,
	LATERAL es_store.append_event('crm', 'person', 's1', NULL, 'Named', jsonb_build_object('n', g));
SELECT saved FROM es_store.save_snapshot('crm', 'person', 's1', 3, '{}');
SELECT event_count, first_version, current_version, snapshot_version,
	   created_at <= last_appended_at AS times, deleted_at, forgotten_at
FROM es_store.aggregate_stats('crm', 'person', 's1');
SELECT truncate_before FROM es_store.set_stream_metadata('crm', 'person', 's1', truncate_before => 3);
SELECT event_count, first_version, current_version, truncate_before
FROM es_store.aggregate_stats('crm', 'person', 's1');
-- Deleted: absent, as reads see it; forgotten: the tombstone's time.
SELECT deleted_version FROM es_store.delete_aggregate('crm', 'person', 's1');
SELECT event_count, first_version, current_version, snapshot_version, deleted_at IS NOT NULL AS deleted
FROM es_store.aggregate_stats('crm', 'person', 's1');
SELECT forgotten_version FROM es_store.forget_aggregate('crm', 'person', 's1');
SELECT event_count, current_version, forgotten_at IS NOT NULL AS forgotten
FROM es_store.aggregate_stats('crm', 'person', 's1');
SELECT count(*) AS unknown FROM es_store.aggregate_stats('crm', 'person', 'never');
SELECT * FROM es_store.aggregate_stats('crm', NULL, 's1');
\echo :LAST_ERROR_SQLSTATE

-- Stats of the store: estimates after ANALYZE, positions, bytes.
ANALYZE es_store.events, es_store.aggregate_heads;
SELECT s.events = (SELECT count(*) FROM es_store.events) AS events_estimate,
	   s.aggregates = (SELECT count(*) FROM es_store.aggregate_heads) AS aggregates_estimate,
	   s.safe_position = es_store.last_position() AS safe,
	   s.last_drawn_position >= s.safe_position AS drawn,
	   s.events_bytes > 0 AND s.events_index_bytes > 0 AND s.heads_bytes > 0
	   AND s.heads_index_bytes > 0 AS bytes,
	   s.total_bytes >= s.events_bytes + s.events_index_bytes + s.heads_bytes
	   + s.heads_index_bytes AS total
FROM es_store.store_stats() s;
DROP ROLE IF EXISTS regress_es_stats_reader;
CREATE ROLE regress_es_stats_reader IN ROLE es_store_reader;
SET ROLE regress_es_stats_reader;
SELECT safe_position > 0 AS readers_see_stats FROM es_store.store_stats();
SELECT event_count FROM es_store.aggregate_stats('crm', 'person', 'p1');
RESET ROLE;
DROP ROLE regress_es_stats_reader;
