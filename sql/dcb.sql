-- Dynamic Consistency Boundary (0.4.0): tags on every append form, reads
-- that return them, queries over types and tags, appends with a
-- condition, and every error they raise.
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default
SET client_min_messages = warning;
-- read_query_position() before any read_query of the session
SELECT es_store.read_query_position();
\echo :LAST_ERROR_SQLSTATE

-- Tags on every append form; each read returns them (NULL: none).
SELECT aggregate_version FROM es_store.append('dcb', 'student', 's1', 0,
	ARRAY['Registered', 'Renamed'], ARRAY['{}', '{}']::jsonb[], tags => ARRAY['student:s1']);
SELECT aggregate_version FROM es_store.append_event('dcb', 'student', 's1', 2, 'Moved', '{}',
	tags => ARRAY['student:s1', 'city:paris']);
SELECT aggregate_version FROM es_store.append_at_version('dcb', 'student', 's1', 5, 'Noted', '{}',
	tags => ARRAY['student:s1']);
SELECT aggregate_version FROM es_store.append_stream('student-s2', NULL, ARRAY['Registered'],
	ARRAY['{}']::jsonb[], tags => ARRAY['student:s2']);
SELECT aggregate_version FROM es_store.append_bytes('dcb', 'blob', 'b1', 0, ARRAY['Stored'],
	ARRAY['\x01']::bytea[], tags => ARRAY['blob:b1']);
SELECT aggregate_version FROM es_store.append_event_bytes('dcb', 'blob', 'b1', 1, 'Stored', '\x02',
	tags => ARRAY['blob:b1']);
SELECT aggregate_version FROM es_store.append_at_version_bytes('dcb', 'blob', 'b1', 3, 'Stored', '\x03',
	tags => ARRAY['blob:b1']);
SELECT aggregate_version FROM es_store.append_stream_bytes('blob-b2', NULL, ARRAY['Stored'],
	ARRAY['\x04']::bytea[], tags => ARRAY['blob:b2']);
SELECT aggregate_version FROM es_store.append_events(NULL, '[
	{"stream_name": "student-s3", "event_type": "Registered", "payload": 1, "tags": ["student:s3", "city:rome"]},
	{"stream_name": "student-s3", "event_type": "Renamed", "payload": 2, "tags": []},
	{"stream_name": "student-s3", "event_type": "Moved", "payload": 3}]');
SELECT aggregate_id, aggregate_version FROM es_store.append_aggregates('[
	{"stream_name": "student-s4", "expected_version": 0,
	 "events": [{"event_type": "Registered", "payload": 1, "tags": ["student:s4"]}]}]');
-- A tag given twice is stored as given, and has one event_tags row.
SELECT aggregate_version FROM es_store.append_event('dcb', 'student', 's5', 0, 'Registered', '{}',
	tags => ARRAY['student:s5', 'student:s5']);
-- No tags, or an empty array: NULL.
SELECT aggregate_version FROM es_store.append_event('dcb', 'student', 's6', 0, 'Registered', '{}',
	tags => '{}');
SELECT global_position, aggregate_id, aggregate_version, event_type, tags
FROM es_store.read_feed(0, 100);
SELECT aggregate_version, tags FROM es_store.read_aggregate('dcb', 'student', 's1');
SELECT aggregate_version, tags FROM es_store.read_aggregate_backward('dcb', 'student', 's1', max_count => 2);
SELECT aggregate_version, tags FROM es_store.read_stream('student-s3');
SELECT aggregate_version, tags, snapshot_version FROM es_store.load_aggregate('dcb', 'student', 's1');
SELECT r.tags FROM es_store.read_aggregate('dcb', 'student', 's1', 3, 3) a,
	LATERAL es_store.read_event(a.event_id) r;
SELECT count(*) AS tag_rows, count(DISTINCT global_position) AS tagged_events FROM es_store.event_tags;

-- A retry is known by its tags too: the same tags return the stored
-- result, other tags are SE002.
SELECT aggregate_version, global_position FROM es_store.append_event('dcb', 'order', 'o1', 0, 'Placed', '{}',
	event_id => '00000000-0000-4000-8000-00000000d001', tags => ARRAY['order:o1']);
SELECT aggregate_version, global_position FROM es_store.append_event('dcb', 'order', 'o1', 0, 'Placed', '{}',
	event_id => '00000000-0000-4000-8000-00000000d001', tags => ARRAY['order:o1']);
SELECT aggregate_version FROM es_store.append_event('dcb', 'order', 'o1', 0, 'Placed', '{}',
	event_id => '00000000-0000-4000-8000-00000000d001', tags => ARRAY['order:o2']);
\echo :LAST_ERROR_SQLSTATE
SELECT aggregate_version FROM es_store.append_event('dcb', 'order', 'o1', 0, 'Placed', '{}',
	event_id => '00000000-0000-4000-8000-00000000d001');
\echo :LAST_ERROR_SQLSTATE

-- Bad tags.
SELECT * FROM es_store.append_event('dcb', 'bad', 'x', NULL, 'E', '{}', tags => ARRAY[NULL]::text[]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_event('dcb', 'bad', 'x', NULL, 'E', '{}', tags => ARRAY['']);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_event('dcb', 'bad', 'x', NULL, 'E', '{}', tags => ARRAY[['a'], ['b']]);
\echo :LAST_ERROR_SQLSTATE
SET es_store.max_event_tags = 2;
SELECT * FROM es_store.append_event('dcb', 'bad', 'x', NULL, 'E', '{}', tags => ARRAY['a', 'b', 'c']);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, '[{"stream_name": "bad-x", "event_type": "E", "payload": 1, "tags": ["a", "b", "c"]}]');
\echo :LAST_ERROR_SQLSTATE
RESET es_store.max_event_tags;
SELECT * FROM es_store.append_events(NULL, '[{"stream_name": "bad-x", "event_type": "E", "payload": 1, "tags": "a"}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, '[{"stream_name": "bad-x", "event_type": "E", "payload": 1, "tags": ["a", 1]}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_events(NULL, '[{"stream_name": "bad-x", "event_type": "E", "payload": 1, "tags": ["a", ""]}]');
\echo :LAST_ERROR_SQLSTATE
-- Tags count against es_store.max_event_bytes.
SET es_store.max_event_bytes = 1024;
SELECT * FROM es_store.append_event('dcb', 'bad', 'x', NULL, 'E', '{}', tags => ARRAY[repeat('t', 1100)]);
\echo :LAST_ERROR_SQLSTATE
RESET es_store.max_event_bytes;
SELECT count(*) AS bad_events FROM es_store.events WHERE aggregate_type = 'bad' OR aggregate_id = 'bad-x';

-- Query reads: items combined with OR; an item's types are one of, its
-- tags all of; no items, or an item with neither, is every event.
SELECT global_position, event_type, tags FROM es_store.read_query(
	'{"items": [{"tags": ["student:s1", "city:paris"]}, {"types": ["Stored"], "tags": ["blob:b2"]}]}');
SELECT global_position, event_type FROM es_store.read_query(
	'{"items": [{"types": ["Moved", "Noted"]}]}');
SELECT count(*) AS all_events, (SELECT count(*) FROM es_store.read_feed(0, 1000)) AS feed
FROM es_store.read_query('{"items": []}');
SELECT count(*) AS all_events FROM es_store.read_query('{}');
SELECT count(*) AS all_events FROM es_store.read_query('{"items": [{"tags": []}]}');
-- after, max_count, up_to_position
SELECT global_position FROM es_store.read_query('{"items": [{"tags": ["student:s1"]}]}', 2);
SELECT global_position FROM es_store.read_query('{"items": [{"tags": ["student:s1"]}]}', 0, 2);
SELECT global_position FROM es_store.read_query('{"items": [{"tags": ["student:s1"]}]}', up_to_position => 3);
SELECT * FROM es_store.read_query('{}', up_to_position => es_store.last_position() + 1);
\echo :LAST_ERROR_SQLSTATE
-- The position a later condition passes: the safe position read up to, in
-- one statement with the events (a row even when nothing matched).
SELECT b.up_to, e.global_position
FROM (SELECT es_store.last_position() AS up_to) b
LEFT JOIN LATERAL es_store.read_query('{"items": [{"tags": ["nobody"]}]}',
	up_to_position => b.up_to) e ON true;
-- Or read_query_position() after it: the bound it read up to, or the last
-- event's position when max_count events came back; after a failed read
-- there is none.
SELECT global_position FROM es_store.read_query('{"items": [{"tags": ["nobody"]}]}');
SELECT es_store.read_query_position() = es_store.last_position() AS at_safe_position;
SELECT global_position FROM es_store.read_query('{"items": [{"tags": ["student:s1"]}]}', 0, 2);
SELECT es_store.read_query_position() AS last_of_full_page;
SELECT global_position FROM es_store.read_query('{"items": [{"tags": ["student:s1"]}]}', 0, 100);
SELECT es_store.read_query_position() = es_store.last_position() AS short_page_at_safe_position;
SELECT global_position FROM es_store.read_query('{"items": [{"tags": ["student:s1"]}]}', up_to_position => 3);
SELECT es_store.read_query_position() AS up_to;
SELECT * FROM es_store.read_query('[]');
SELECT es_store.read_query_position();
\echo :LAST_ERROR_SQLSTATE

-- Bad queries.
SELECT * FROM es_store.read_query(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_query('[]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_query('{"item": []}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_query('{"items": {}}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_query('{"items": [[]]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_query('{"items": [{"types": []}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_query('{"items": [{"types": "A"}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_query('{"items": [{"tags": ["a", null]}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_query('{"items": [{"tags": ["a"], "type": ["A"]}]}');
\echo :LAST_ERROR_SQLSTATE
SET es_store.max_query_items = 2;
SELECT * FROM es_store.read_query('{"items": [{"tags": ["a"]}, {"tags": ["b"]}, {"tags": ["c"]}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_query('{"items": [{"types": ["A", "B", "C"]}]}');
\echo :LAST_ERROR_SQLSTATE
RESET es_store.max_query_items;
SELECT * FROM es_store.read_query('{}', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_query('{}', 0, 0);
\echo :LAST_ERROR_SQLSTATE
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT * FROM es_store.read_query('{}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- Appends with a condition.  Events of no aggregate: the empty key, their
-- position as version.
SELECT aggregate_version = global_position AS version_is_position
FROM es_store.append_if('[{"event_type": "CourseDefined", "payload": {"capacity": 2}, "tags": ["course:c1"]}]',
	'{"items": [{"types": ["CourseDefined"], "tags": ["course:c1"]}]}');
SELECT bounded_context, aggregate_type, aggregate_id, event_type, tags
FROM es_store.read_query('{"items": [{"tags": ["course:c1"]}]}');
-- The same condition again: SE008, nothing written.
SELECT * FROM es_store.append_if('[{"event_type": "CourseDefined", "payload": {"capacity": 3}, "tags": ["course:c1"]}]',
	'{"items": [{"types": ["CourseDefined"], "tags": ["course:c1"]}]}');
\echo :LAST_ERROR_SQLSTATE
-- After the position read up to, it holds.
SELECT count(*) FROM es_store.append_if('[{"event_type": "CourseCapacityChanged", "payload": {"capacity": 3}, "tags": ["course:c1"]}]',
	'{"items": [{"tags": ["course:c1"]}]}', es_store.last_position());
-- To an aggregate, with its expected version as well.
SELECT aggregate_version FROM es_store.append_if(
	'[{"bounded_context": "dcb", "aggregate_type": "student", "aggregate_id": "s1",
	   "event_type": "Subscribed", "payload": 1, "tags": ["student:s1", "course:c1"]}]',
	'{"items": [{"types": ["Subscribed"], "tags": ["student:s1"]}]}', 0, 5);
SELECT aggregate_version FROM es_store.append_if(
	'[{"stream_name": "student-s2", "event_type": "Subscribed", "payload": 1, "tags": ["student:s2"]}]',
	NULL, 0, 5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_if(
	'[{"stream_name": "student-s2", "event_type": "Subscribed", "payload": 1},
	  {"stream_name": "student-s3", "event_type": "Subscribed", "payload": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_if(
	'[{"stream_name": "student-s2", "event_type": "Subscribed", "payload": 1},
	  {"event_type": "Subscribed", "payload": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_if('[{"event_type": "Free", "payload": 1}]', NULL, 0, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_if('[{"event_type": "Free", "payload": 1}]', '{}', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_if('[]');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_if('{}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_if(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_if('[{"event_type": "Free", "payload": 1}]', '{"items": [{"types": []}]}');
\echo :LAST_ERROR_SQLSTATE
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT * FROM es_store.append_if('[{"event_type": "Free", "payload": 1}]');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- An event of this transaction counts as any other.
BEGIN;
SELECT count(*) FROM es_store.append_if('[{"event_type": "Seat", "payload": 1, "tags": ["seat:1"]}]');
SELECT count(*) FROM es_store.append_if('[{"event_type": "Seat", "payload": 1, "tags": ["seat:1"]}]',
	'{"items": [{"tags": ["seat:1"]}]}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- REPEATABLE READ: the condition is checked against the latest committed
-- events, not the transaction's snapshot (isolation dcb_racers).
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM es_store.append_if('[{"event_type": "Seat", "payload": 1, "tags": ["seat:2"]}]',
	'{"items": [{"tags": ["seat:2"]}]}');
COMMIT;

-- Hidden events (a deleted aggregate's) are not read, but a condition
-- counts them (retention can be lifted): SE008.
SELECT aggregate_version FROM es_store.append_event('dcb', 'gone', 'g1', 0, 'Made', '{}', tags => ARRAY['gone:g1']);
SELECT deleted_version FROM es_store.delete_aggregate('dcb', 'gone', 'g1');
SELECT count(*) AS seen FROM es_store.read_query('{"items": [{"tags": ["gone:g1"]}]}');
SELECT count(*) FROM es_store.append_if('[{"event_type": "Made", "payload": 1, "tags": ["gone:g1"]}]',
	'{"items": [{"tags": ["gone:g1"]}]}');
\echo :LAST_ERROR_SQLSTATE
-- ... and so do events outside a retention that is lifted later.
SELECT max_count FROM es_store.set_stream_metadata('dcb', 'kept', 'k1', max_count => 1);
SELECT count(*) FROM es_store.append_event('dcb', 'kept', 'k1', NULL, 'Opened', '{}', tags => ARRAY['kept:k1']);
SELECT count(*) FROM es_store.append_event('dcb', 'kept', 'k1', NULL, 'Noted', '{}');
SELECT count(*) AS seen FROM es_store.read_query('{"items": [{"types": ["Opened"], "tags": ["kept:k1"]}]}');
SELECT * FROM es_store.append_if('[{"event_type": "Opened", "payload": 1, "tags": ["kept:k1"]}]',
	'{"items": [{"types": ["Opened"], "tags": ["kept:k1"]}]}');
\echo :LAST_ERROR_SQLSTATE
-- Forgetting an aggregate removes its events' tag rows with them.
SELECT count(*) AS before FROM es_store.event_tags t
JOIN es_store.events e USING (global_position) WHERE e.aggregate_id = 's1';
-- With a publication of every table (logical replication, CDC), the
-- deletes of tag rows need event_tags' replica identity, its primary key.
SET client_min_messages = error;
CREATE PUBLICATION dcb_all FOR ALL TABLES;
SET client_min_messages = warning;
SELECT forgotten_version FROM es_store.forget_aggregate('dcb', 'student', 's1');
DROP PUBLICATION dcb_all;
SELECT count(*) AS orphan_tag_rows FROM es_store.event_tags t
WHERE NOT EXISTS (SELECT 1 FROM es_store.events e WHERE e.global_position = t.global_position);
