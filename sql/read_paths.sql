-- The two ways an aggregate read and a feed page read (src/scan.c):
-- index scans straight into the result, or the SQL statements when the scans
-- do not apply.  Both must return the same rows.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;

-- A store with what a row can hold: NULL and non-NULL ids, a payload large
-- enough to be stored out of line (TOAST), stream-name keys, a position
-- burnt by a rollback, and 130 aggregates whose events interleave, so that
-- a page of the feed meets more streams than the scan keeps keys for.
SELECT count(*) FROM generate_series(1, 3) r, generate_series(1, 130) k,
	LATERAL es_store.append_event('rp', 'acct', k::text, NULL, 'Round',
		jsonb_build_object('r', r, 'k', k), NULL, NULL, r,
		CASE WHEN k % 2 = 0 THEN 'corr-' || k END,
		CASE WHEN k % 3 = 0 THEN 'cause-' || k END,
		CASE WHEN k % 5 = 0 THEN 'trace-' || k END);
SELECT count(*) FROM es_store.append('rp', 'doc', 'big', 0, ARRAY['Big', 'Small'],
	ARRAY[jsonb_build_object('blob',
		(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i)),
		'{}'::jsonb]);
SELECT pg_relation_size(reltoastrelid) > 0 AS payload_toasted
FROM pg_class WHERE oid = 'es_store.events'::regclass;
-- bytea payloads (payload NULL) of 0 to 9 bytes, so that the padding
-- before stream_id takes every width, and one stored out of line.
SELECT count(*) FROM generate_series(0, 9) k,
	LATERAL es_store.append_event_bytes('rp', 'bin', 'b' || k, NULL, 'Bytes',
		substr('\x0001020304050607ff'::bytea, 1, k), NULL, NULL, 1,
		CASE WHEN k % 2 = 0 THEN 'corr-' || k END);
SELECT count(*) FROM es_store.append_bytes('rp', 'bin', 'big', 0, ARRAY['Big', 'Small'],
	ARRAY[(SELECT decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 400) i),
		  '\x2a'::bytea]);
BEGIN;
SELECT count(*) FROM es_store.append_event('rp', 'acct', 'rolled-back', 0, 'E', '{}');
ROLLBACK;
SELECT count(*) FROM es_store.append_stream('order-1', 0, ARRAY['Placed', 'Paid'],
	ARRAY['{}', '{}']::jsonb[]);
-- Keys with characters of more than one byte: the segment hash counts
-- characters, as length() does.
SELECT count(*) FROM generate_series(1, 6) k,
	LATERAL es_store.append_event('rpé', 'dœc', 'ïd-' || k, NULL, 'Round', '{}');
-- An aggregate whose stream id is not its key hash (as heads created by
-- the SQL statements, or before 0.3.0, have), and one whose key hash is the
-- stream id of another aggregate's head (a hash collision, made by hand):
-- the aggregate read then finds the events through the head row.
INSERT INTO es_store.aggregate_heads (stream_id, bounded_context,
	aggregate_type, aggregate_id, version, key_hash)
OVERRIDING SYSTEM VALUE
SELECT hashtextextended('2:rp4:acctcollides', 0), 'rp', 'acct', 'taken', 1,
	   hashtextextended('2:rp4:accttaken', 0);
INSERT INTO es_store.events (global_position, bounded_context, aggregate_type,
	aggregate_id, aggregate_version, event_id, event_type, event_version, payload,
	metadata, created_at, stream_id)
SELECT nextval('es_store.global_position_seq'), 'rp', 'acct', 'taken', 1,
	   gen_random_uuid(), 'Taken', 1, '{}', '{}', now(),
	   hashtextextended('2:rp4:acctcollides', 0);
SELECT count(*) FROM es_store.append_event('rp', 'acct', 'collides', 0, 'Collides', '{}');
-- Through the SQL statements (REPEATABLE READ) a head row's stream id is
-- a sequence value; the read finds its events through the head row.
INSERT INTO es_store.aggregate_heads (stream_id, bounded_context,
	aggregate_type, aggregate_id, version, key_hash)
OVERRIDING SYSTEM VALUE
SELECT hashtextextended('2:rp4:acctcollides-rr', 0), 'rp', 'acct', 'taken-rr', 0,
	   hashtextextended('2:rp4:accttaken-rr', 0);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM es_store.append_event('rp', 'acct', 'rr', 0, 'E', '{}');
SELECT count(*) FROM es_store.append_event('rp', 'acct', 'collides-rr', NULL, 'E', '{}');
COMMIT;
SELECT aggregate_id, stream_id = key_hash AS id_is_hash FROM es_store.aggregate_heads
WHERE aggregate_id IN ('1', 'taken', 'collides', 'rr', 'taken-rr', 'collides-rr')
ORDER BY aggregate_id;

-- Events with tags (0.4.0): a read builds their rows from the columns
-- instead of copying the stored row.  Short tags, and enough long ones to
-- be stored out of line.
SELECT count(*) FROM generate_series(1, 3) k,
	LATERAL es_store.append_event('rp', 'tagged', k::text, NULL, 'Tagged', '{}',
		tags => ARRAY['t:' || k, 'all']);
SELECT count(*) FROM es_store.append_event('rp', 'tagged', 'long', NULL, 'Tagged', '{}',
	tags => (SELECT array_agg(md5(k::text) || md5((k + 100)::text) || md5((k + 200)::text))
			 FROM generate_series(1, 60) k));
SELECT aggregate_id, cardinality(tags) AS tags,
	   pg_column_size(tags) < 2000 AS stored_small
FROM es_store.events WHERE aggregate_type = 'tagged' ORDER BY aggregate_id;

-- The reads, into a table: once through the scans, once through SQL.
CREATE TABLE reads (path text, read text, LIKE es_store.event, n bigint);
CREATE FUNCTION do_reads(path text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO reads SELECT path, 'aggregate ' || k, e.*
	FROM generate_series(1, 8) k,
		 LATERAL es_store.read_aggregate('rp', 'acct', k::text) WITH ORDINALITY e;
	INSERT INTO reads SELECT path, 'aggregate range', e.*
	FROM es_store.read_aggregate('rp', 'acct', '10', 2, 3) WITH ORDINALITY e;
	INSERT INTO reads SELECT path, 'aggregate max_count', e.*
	FROM es_store.read_aggregate('rp', 'acct', '10', NULL, NULL, 2) WITH ORDINALITY e;
	INSERT INTO reads SELECT path, 'aggregate empty range', e.*
	FROM es_store.read_aggregate('rp', 'acct', '10', 4) WITH ORDINALITY e;
	INSERT INTO reads SELECT path, 'aggregate ' || k, e.*
	FROM unnest(ARRAY['taken', 'collides', 'rr', 'collides-rr']) k,
		 LATERAL es_store.read_aggregate('rp', 'acct', k) WITH ORDINALITY e;
	INSERT INTO reads SELECT path, 'bin ' || k, e.*
	FROM unnest(ARRAY['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'b9', 'big']) k,
		 LATERAL es_store.read_aggregate('rp', 'bin', k) WITH ORDINALITY e;
	INSERT INTO reads SELECT path, 'tagged ' || k, e.*
	FROM unnest(ARRAY['1', '2', '3', 'long']) k,
		 LATERAL es_store.read_aggregate('rp', 'tagged', k) WITH ORDINALITY e;
	INSERT INTO reads SELECT path, 'aggregate unknown', e.*
	FROM es_store.read_aggregate('rp', 'acct', 'nope') WITH ORDINALITY e;
	INSERT INTO reads SELECT path, 'big', e.*
	FROM es_store.read_aggregate('rp', 'doc', 'big') WITH ORDINALITY e;
	INSERT INTO reads SELECT path, 'stream', e.*
	FROM es_store.read_stream('order-1', 2) WITH ORDINALITY e;
	INSERT INTO reads SELECT path, 'feed ' || a, e.*
	FROM (VALUES (0), (100), (389)) v(a),
		 LATERAL es_store.read_feed(a, 150) WITH ORDINALITY e;
	-- filters (a NULL element matches nothing) and segments
	INSERT INTO reads SELECT path, 'feed filter ' || f, e.*
	FROM (VALUES (1, NULL, ARRAY['doc', 'order', NULL], NULL::text[]),
				 (2, ARRAY['rp'], NULL, ARRAY['Small', 'Paid']),
				 (3, ARRAY['nope', NULL], NULL, NULL),
				 (4, NULL, NULL, ARRAY['Round'])) v(f, bc, at, et),
		 LATERAL es_store.read_feed(0, 200, bc, at, et) WITH ORDINALITY e;
	INSERT INTO reads SELECT path, 'feed segment ' || k || ' of ' || n, e.*
	FROM (VALUES (3), (7)) v(n), LATERAL generate_series(0, n - 1) k,
		 LATERAL es_store.read_feed(0, 1000, segment => k, segment_count => n)
			WITH ORDINALITY e;
$$;
SELECT do_reads('scan');
-- Row-level security on the events table turns the scans off (the owner
-- still bypasses it, so the rows must not change).
ALTER TABLE es_store.events ENABLE ROW LEVEL SECURITY;
SELECT do_reads('sql');
ALTER TABLE es_store.events DISABLE ROW LEVEL SECURITY;

SELECT read, count(path) FILTER (WHERE path = 'scan') AS scan,
	   count(path) FILTER (WHERE path = 'sql') AS sql
FROM (SELECT 'aggregate ' || k FROM generate_series(1, 8) k
	  UNION ALL VALUES ('aggregate range'), ('aggregate max_count'),
		('aggregate empty range'), ('aggregate unknown'), ('aggregate taken'),
		('bin b0'), ('bin b9'), ('bin big'),
		('aggregate collides'), ('aggregate rr'), ('aggregate collides-rr'),
		('big'), ('stream'), ('tagged 1'), ('tagged long'),
		('feed 0'), ('feed 100'), ('feed 389')) r(read)
	 LEFT JOIN reads USING (read)
GROUP BY read ORDER BY read;
-- Same rows, in the same order, column for column.
SELECT count(*) AS differences FROM (
	(SELECT * FROM reads WHERE path = 'scan' EXCEPT ALL
	 SELECT 'scan', read, global_position, bounded_context, aggregate_type,
			aggregate_id, aggregate_version, event_id, event_type,
			event_version, payload, metadata, correlation_id, causation_id,
			trace_id, created_at, payload_bytes, tags, n FROM reads WHERE path = 'sql')
	UNION ALL
	(SELECT 'scan', read, global_position, bounded_context, aggregate_type,
			aggregate_id, aggregate_version, event_id, event_type,
			event_version, payload, metadata, correlation_id, causation_id,
			trace_id, created_at, payload_bytes, tags, n FROM reads WHERE path = 'sql' EXCEPT ALL
	 SELECT * FROM reads WHERE path = 'scan')) d;
-- Pages in position order, aggregates in version order.
SELECT read, bool_and(ordered) AS ordered FROM (
	SELECT read, CASE WHEN read LIKE 'feed %'
		THEN global_position > lag(global_position) OVER w
		ELSE aggregate_version > lag(aggregate_version) OVER w END AS ordered
	FROM reads WHERE path = 'scan'
	WINDOW w AS (PARTITION BY read ORDER BY n)) s
GROUP BY read HAVING count(*) > 1 ORDER BY read;
SELECT aggregate_version, event_version, correlation_id, causation_id,
	   trace_id, payload
FROM reads WHERE path = 'scan' AND read = 'aggregate 6' ORDER BY n;
SELECT event_type, octet_length(payload::text) FROM reads
WHERE path = 'scan' AND read = 'big' ORDER BY n;
-- The bytes come back as they went in.
SELECT read, event_type, payload IS NULL AS no_jsonb, correlation_id,
	   CASE WHEN octet_length(payload_bytes) < 100 THEN payload_bytes::text
			ELSE (md5(payload_bytes) = (SELECT md5(decode(string_agg(md5(i::text), ''), 'hex'))
										FROM generate_series(1, 400) i))::text
				 || ' ' || octet_length(payload_bytes) END AS bytes
FROM reads WHERE path = 'scan' AND read LIKE 'bin %' ORDER BY read, n;
-- Each aggregate with events is in exactly one segment of each count, the
-- one of its head row's key_hash (as computed when the head row was created).
SELECT n.n AS segment_count, count(*) AS aggregates,
	   count(*) FILTER (WHERE r.segments = 1 AND r.segment = pg_catalog.mod(pg_catalog.mod(h.key_hash, n.n) + n.n, n.n)) AS in_their_segment
FROM (VALUES (3), (7)) n(n)
JOIN es_store.aggregate_heads h ON h.version > 0
JOIN LATERAL (SELECT count(DISTINCT split_part(read, ' ', 3)) AS segments,
					 min(split_part(read, ' ', 3)::int) AS segment
			  FROM reads WHERE path = 'scan' AND read LIKE 'feed segment % of ' || n.n
				AND bounded_context = h.bounded_context AND aggregate_type = h.aggregate_type
				AND aggregate_id = h.aggregate_id) r ON true
GROUP BY n.n ORDER BY n.n;

-- The scans lock the tables and the indexes they read, and no other index
-- (the statements' planning locks every index of both tables).  DISCARD
-- PLANS makes a statement plan again if one runs.
CREATE VIEW es_locks AS
SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND c.relnamespace = 'es_store'::regnamespace
ORDER BY c.relname, l.mode;
BEGIN;
DISCARD PLANS;
SELECT count(*) FROM es_store.read_aggregate('rp', 'acct', '1');
SELECT * FROM es_locks;
COMMIT;
BEGIN;
DISCARD PLANS;
SELECT count(*) FROM es_store.read_feed(0, 10);
SELECT * FROM es_locks;
COMMIT;
-- ... and the statements, for comparison.
ALTER TABLE es_store.events ENABLE ROW LEVEL SECURITY;
BEGIN;
DISCARD PLANS;
SELECT count(*) FROM es_store.read_feed(0, 10);
SELECT * FROM es_locks;
COMMIT;
ALTER TABLE es_store.events DISABLE ROW LEVEL SECURITY;

-- Schema changes the scans do not follow turn them off, in the same
-- transaction: an events_pkey in descending order (a forward scan of it
-- would return the page backwards), and a key column that may be NULL
-- (the scans read the key without looking at null flags).
BEGIN;
ALTER TABLE es_store.events DROP CONSTRAINT events_pkey;
CREATE UNIQUE INDEX events_pkey ON es_store.events (global_position DESC);
SELECT array_agg(global_position) AS ascending FROM es_store.read_feed(380, 5);
ROLLBACK;
BEGIN;
ALTER TABLE es_store.events ALTER COLUMN aggregate_type DROP NOT NULL;
INSERT INTO es_store.events
SELECT nextval('es_store.global_position_seq'), bounded_context, NULL, aggregate_id,
	   4, gen_random_uuid(), event_type, event_version, payload, metadata,
	   NULL, NULL, NULL, created_at, NULL, stream_id
FROM es_store.events WHERE aggregate_id = '8' AND aggregate_version = 3;
SELECT aggregate_id, aggregate_type IS NULL AS type_is_null, aggregate_version
FROM es_store.read_feed(0, 1000) WHERE aggregate_id = '8';
SELECT aggregate_id, aggregate_type IS NULL AS type_is_null, aggregate_version
FROM es_store.read_feed(0, 1000, event_types => ARRAY['Round'], segment => 0, segment_count => 1)
WHERE aggregate_id = '8';
ROLLBACK;
SELECT count(*) AS after_rollback FROM es_store.read_feed(0, 1000) WHERE aggregate_id = '8';

-- A dropped column leaves the rows in another layout than es_store.event's:
-- the scans then build each result row from the row's values (rows written
-- before and after the change alike), with the same result.
CREATE TEMP TABLE page_before AS SELECT * FROM es_store.read_feed(0, 1000);
CREATE TEMP TABLE agg_before AS SELECT * FROM es_store.read_aggregate('rp', 'acct', '9');
BEGIN;
ALTER TABLE es_store.events ADD COLUMN scratch int;
ALTER TABLE es_store.events DROP COLUMN scratch;
SELECT count(*) FROM es_store.append_event('rp', 'acct', 'after-drop', 0, 'E', '{"x": 1}');
-- (the feed stays below this transaction's own append until it commits)
SELECT count(*) AS rows,
	   (SELECT count(*) FROM ((TABLE page_before) EXCEPT ALL
		 SELECT * FROM es_store.read_feed(0, 1000)) d) AS missing
FROM es_store.read_feed(0, 1000);
SELECT (SELECT count(*) FROM page_before WHERE aggregate_type = 'acct') AS before,
	   count(*) AS filtered
FROM es_store.read_feed(0, 1000, aggregate_types => ARRAY['acct']);
SELECT count(*) AS missing FROM ((TABLE agg_before) EXCEPT ALL
	SELECT * FROM es_store.read_aggregate('rp', 'acct', '9')) d;
SELECT aggregate_version, payload FROM es_store.read_aggregate('rp', 'acct', 'after-drop');
ROLLBACK;

-- Read results live in session memory while one read's result is in use
-- (src/results.c): two reads in one query, a cursor held open across other
-- reads, an error in the middle of a result, and a result held past its
-- transaction all keep their rows.
SELECT count(*) AS pairs, count(DISTINCT a.global_position) AS a_rows,
	   count(DISTINCT b.global_position) AS b_rows
FROM es_store.read_feed(0, 20) a, es_store.read_feed(20, 30) b;
BEGIN;
DECLARE c CURSOR FOR SELECT global_position, aggregate_id FROM es_store.read_feed(0, 400);
FETCH 2 FROM c;
SELECT count(*) FROM es_store.read_feed(0, 400);
SELECT count(*) FROM es_store.read_aggregate('rp', 'acct', '5');
FETCH 2 FROM c;
CLOSE c;
COMMIT;
SELECT global_position / (global_position - 5) FROM es_store.read_feed(0, 10);
SELECT count(*), min(global_position), max(global_position) FROM es_store.read_feed(0, 10);
BEGIN;
DECLARE h CURSOR WITH HOLD FOR SELECT global_position FROM es_store.read_feed(0, 400);
FETCH 1 FROM h;
COMMIT;
SELECT count(*) FROM es_store.read_feed(0, 400);
FETCH 2 FROM h;
CLOSE h;

DROP VIEW es_locks;
DROP FUNCTION do_reads(text);
DROP TABLE reads;
