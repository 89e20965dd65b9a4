-- asynx (models.Store) served by es_store: Append, ReadFrom, ReadRange,
-- Count and Delete, each prepared below with the exact SQL of README.md,
-- "Using es_store from an event-sourcing library", and executed with the
-- values the adapter sends.
-- Append writes one blob at a version asynx chose (from 1) and needs only
-- (aggregateID, version) to be unique: append_at_version with a bytea
-- payload and a fixed event type. The event store and the snapshot store
-- are two adapter instances, two aggregate types under one bounded
-- context. Versions are explicit; ReadFrom and ReadRange include
-- fromVersion (0 reads from the first), Count counts from fromVersion.
-- The adapter runs as a writer (es_store_writer); Delete runs as an
-- administrator (es_store_admin).
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default
-- The blobs here are JSON text: show them as text.
SET bytea_output = 'escape';
DROP ROLE IF EXISTS regress_es_asynx_app;
DROP ROLE IF EXISTS regress_es_asynx_admin;
CREATE ROLE regress_es_asynx_app IN ROLE es_store_writer;
CREATE ROLE regress_es_asynx_admin IN ROLE es_store_admin;
SET ROLE regress_es_asynx_app;

-- Append(ctx, aggregateID, version, data)
PREPARE asynx_append(text, text, text, bigint, text, bytea) AS
SELECT aggregate_version
FROM es_store.append_at_version_bytes($1, $2, $3, $4, $5, coalesce($6, ''::bytea));
-- ReadFrom(ctx, aggregateID, fromVersion)
PREPARE asynx_read_from(text, text, text, bigint) AS
SELECT payload_bytes AS data
FROM es_store.read_aggregate($1, $2, $3, from_version => $4);
-- ReadRange(ctx, aggregateID, fromVersion, count)
PREPARE asynx_read_range(text, text, text, bigint, bigint) AS
SELECT payload_bytes AS data
FROM es_store.read_aggregate($1, $2, $3, from_version => $4,
	max_count => least($5, 2147483647)::integer);
-- Count(ctx, aggregateID, fromVersion)
PREPARE asynx_count(text, text, text, bigint) AS
SELECT es_store.count_events($1, $2, $3, $4) AS count;
-- Delete(ctx, aggregateID)
PREPARE asynx_delete(text, text, text) AS
SELECT forgotten_version, events_removed
FROM es_store.forget_aggregate($1, $2, $3, keep_tombstone => false);

-- An id never written: ReadFrom returns no blobs (asynx: the aggregate
-- does not exist yet), and so do ReadRange (asynx's Exists reads
-- ReadRange(id, 1, 1)) and the snapshot store; Count is 0.
EXECUTE asynx_read_from('asynx', 'order', 'order_123', 0);
EXECUTE asynx_read_range('asynx', 'order', 'order_123', 1, 1);
EXECUTE asynx_read_from('asynx', 'order.snapshot', 'order_123', 0);
EXECUTE asynx_count('asynx', 'order', 'order_123', 0);

-- Append at versions 1, 2 and 3 (RFC 6902 patches).
EXECUTE asynx_append('asynx', 'order', 'order_123', 1, 'asynx.patch',
	convert_to('[{"op": "add", "path": "/status", "value": "new"}]', 'UTF8'));
EXECUTE asynx_append('asynx', 'order', 'order_123', 2, 'asynx.patch',
	convert_to('[{"op": "replace", "path": "/status", "value": "paid"}]', 'UTF8'));
EXECUTE asynx_append('asynx', 'order', 'order_123', 3, 'asynx.patch',
	convert_to('[{"op": "replace", "path": "/status", "value": "shipped"}]', 'UTF8'));
-- Another node writes version 3 too: SE001, which asynx treats as
-- ErrPipelineFailed; the stored blob stays.
EXECUTE asynx_append('asynx', 'order', 'order_123', 3, 'asynx.patch', convert_to('[]', 'UTF8'));
\echo :LAST_ERROR_SQLSTATE
EXECUTE asynx_read_from('asynx', 'order', 'order_123', 3);
-- Version 0 is 22023: asynx's versions start at 1.
EXECUTE asynx_append('asynx', 'order', 'order_123', 0, 'asynx.patch', convert_to('[]', 'UTF8'));
\echo :LAST_ERROR_SQLSTATE
-- An empty blob is a blob: []byte{} is stored as empty bytes, and so is a
-- nil slice (which the driver sends as NULL); both read back empty.
EXECUTE asynx_append('asynx', 'order', 'order_456', 1, 'asynx.patch', ''::bytea);
EXECUTE asynx_append('asynx', 'order', 'order_456', 2, 'asynx.patch', NULL);
SELECT aggregate_version, payload_bytes = ''::bytea AS empty_blob
FROM es_store.read_aggregate('asynx', 'order', 'order_456');
EXECUTE asynx_count('asynx', 'order', 'order_456', 0);

-- The snapshot store: snapshots at versions 2 and 3 (its stream has gaps).
EXECUTE asynx_append('asynx', 'order.snapshot', 'order_123', 2, 'asynx.snapshot',
	convert_to('{"version": 2, "state": {"status": "paid"}}', 'UTF8'));
EXECUTE asynx_append('asynx', 'order.snapshot', 'order_123', 3, 'asynx.snapshot',
	convert_to('{"version": 3, "state": {"status": "shipped"}}', 'UTF8'));

-- ReadFrom(id, 0) and ReadFrom(id, 1): every blob, in version order;
-- ReadFrom(id, 3), the events after a snapshot at 2: version 3 on;
-- ReadFrom(id, 4), past the end: none.
EXECUTE asynx_read_from('asynx', 'order', 'order_123', 0);
EXECUTE asynx_read_from('asynx', 'order', 'order_123', 1);
EXECUTE asynx_read_from('asynx', 'order', 'order_123', 3);
EXECUTE asynx_read_from('asynx', 'order', 'order_123', 4);
-- The snapshot store's ReadFrom(id, 0): asynx takes the last blob.
EXECUTE asynx_read_from('asynx', 'order.snapshot', 'order_123', 0);

-- ReadRange(id, 2, 1): version 2; ReadRange(id, 2, 5): the two left;
-- a count above max_count's range reads to the end; from past the end:
-- none.
EXECUTE asynx_read_range('asynx', 'order', 'order_123', 2, 1);
EXECUTE asynx_read_range('asynx', 'order', 'order_123', 2, 5);
EXECUTE asynx_read_range('asynx', 'order', 'order_123', 1, 9223372036854775807);
EXECUTE asynx_read_range('asynx', 'order', 'order_123', 4, 1);
-- ReadRange with count 0 returns no entries: max_count must be at least 1
-- (22023), so the adapter returns an empty slice without a call.
EXECUTE asynx_read_range('asynx', 'order', 'order_123', 2, 0);
\echo :LAST_ERROR_SQLSTATE

-- Count(id, 0), Count(id, 1), Count(id, 3) and past the end, Count(id, 4);
-- aggregate_stats counts the same events.
EXECUTE asynx_count('asynx', 'order', 'order_123', 0);
EXECUTE asynx_count('asynx', 'order', 'order_123', 1);
EXECUTE asynx_count('asynx', 'order', 'order_123', 3);
EXECUTE asynx_count('asynx', 'order', 'order_123', 4);
SELECT event_count, first_version, current_version, max_count
FROM es_store.aggregate_stats('asynx', 'order', 'order_123');

-- Optionally, the snapshot stream keeps its last snapshot only: the older
-- ones are hidden, and ReadFrom returns the last; purge (an
-- administrator's job) removes the hidden one, and the read stays.
SELECT * FROM es_store.set_stream_metadata('asynx', 'order.snapshot', 'order_123', max_count => 1);
EXECUTE asynx_read_from('asynx', 'order.snapshot', 'order_123', 0);
EXECUTE asynx_count('asynx', 'order.snapshot', 'order_123', 0);
SET ROLE regress_es_asynx_admin;
SELECT * FROM es_store.purge();
SET ROLE regress_es_asynx_app;
EXECUTE asynx_read_from('asynx', 'order.snapshot', 'order_123', 0);

-- Delete(id) must let asynx start the id again at version 1. A soft
-- delete does not: the reads and Count are empty afterwards, but the
-- stream keeps its versions, and Append(id, 1) is SE001.
SELECT deleted_version FROM es_store.delete_aggregate('asynx', 'order', 'order_123');
EXECUTE asynx_read_from('asynx', 'order', 'order_123', 0);
EXECUTE asynx_count('asynx', 'order', 'order_123', 0);
EXECUTE asynx_append('asynx', 'order', 'order_123', 1, 'asynx.patch', convert_to('[]', 'UTF8'));
\echo :LAST_ERROR_SQLSTATE

-- Delete(id) is forget_aggregate without a tombstone, on each instance's
-- aggregate type, and only administrators forget: a writer gets 42501.
EXECUTE asynx_delete('asynx', 'order', 'order_123');
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_es_asynx_admin;
EXECUTE asynx_delete('asynx', 'order', 'order_123');
EXECUTE asynx_delete('asynx', 'order.snapshot', 'order_123');
-- Idempotent: again, or for an id never written, nothing changes.
EXECUTE asynx_delete('asynx', 'order', 'order_123');
EXECUTE asynx_delete('asynx', 'order.snapshot', 'order_123');
EXECUTE asynx_delete('asynx', 'order', 'order_404');
SET ROLE regress_es_asynx_app;
-- Nothing of the id is left: no blobs, no stats, no stream metadata.
EXECUTE asynx_read_from('asynx', 'order', 'order_123', 0);
EXECUTE asynx_read_from('asynx', 'order.snapshot', 'order_123', 0);
EXECUTE asynx_count('asynx', 'order', 'order_123', 0);
SELECT count(*) AS stats FROM es_store.aggregate_stats('asynx', 'order', 'order_123');
SELECT count(*) AS metadata FROM es_store.get_stream_metadata('asynx', 'order.snapshot', 'order_123');
-- The id starts again at version 1, in both stores.
EXECUTE asynx_append('asynx', 'order', 'order_123', 1, 'asynx.patch',
	convert_to('[{"op": "add", "path": "/status", "value": "new"}]', 'UTF8'));
EXECUTE asynx_append('asynx', 'order.snapshot', 'order_123', 1, 'asynx.snapshot',
	convert_to('{"version": 1, "state": {"status": "new"}}', 'UTF8'));
EXECUTE asynx_read_from('asynx', 'order', 'order_123', 0);
EXECUTE asynx_read_from('asynx', 'order.snapshot', 'order_123', 0);
-- The other id was not touched.
EXECUTE asynx_count('asynx', 'order', 'order_456', 0);

RESET ROLE;
RESET bytea_output;
DROP ROLE regress_es_asynx_app;
DROP ROLE regress_es_asynx_admin;
