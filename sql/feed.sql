-- The global feed: pages after a position, in position order.
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default
SELECT es_store.last_position() AS empty_store;
SELECT count(*) AS empty_feed FROM es_store.read_feed();

SELECT global_position FROM es_store.append('f', 'a', '1', 0,
	ARRAY['A1', 'A2'], ARRAY['{}', '{}']::jsonb[]);
SELECT global_position FROM es_store.append('f', 'b', '1', 0,
	ARRAY['B1'], ARRAY['{}']::jsonb[]);
SELECT global_position FROM es_store.append('f', 'a', '1', 2,
	ARRAY['A3'], ARRAY['{}']::jsonb[]);

-- Every event, each with its aggregate key, in position order.
SELECT global_position, bounded_context, aggregate_type, aggregate_id,
	   aggregate_version, event_type
FROM es_store.read_feed(0, 100);
SELECT es_store.last_position();

-- Pages of two, from a checkpoint.
SELECT global_position, event_type FROM es_store.read_feed(0, 2);
SELECT global_position, event_type FROM es_store.read_feed(2, 2);
SELECT count(*) FROM es_store.read_feed(4, 2);
SELECT count(*) FROM es_store.read_feed(1000, 2);
-- The default page size is 1000.
SELECT count(*) FROM es_store.read_feed(0);

-- A consumer loop in SQL: read a page, save the checkpoint, repeat.
DO $$
DECLARE
	checkpoint bigint;
	last_seen bigint;
	pages int := 0;
BEGIN
	LOOP
		checkpoint := es_store.get_checkpoint('loop');
		SELECT max(global_position) INTO last_seen
		FROM es_store.read_feed(checkpoint, 2);
		EXIT WHEN last_seen IS NULL;
		PERFORM es_store.save_checkpoint('loop', last_seen);
		pages := pages + 1;
	END LOOP;
	RAISE NOTICE 'pages: %, checkpoint: %', pages, es_store.get_checkpoint('loop');
END
$$;

-- The consumer loop of README.md ("A consumer loop"; test/readme.sh runs
-- the README's own text): it saves each page's checkpoint before applying
-- the page, commits page by page and stops when caught up.
DO $$
DECLARE
	cp   bigint;
	page es_store.event[];
	ev   es_store.event;
BEGIN
	LOOP
		cp := es_store.get_checkpoint('orders-view');
		page := ARRAY(SELECT e FROM es_store.read_feed(cp, 500) e);
		EXIT WHEN cardinality(page) = 0;       -- caught up: sleep, or wait for a NOTIFY
		PERFORM es_store.save_checkpoint('orders-view', page[cardinality(page)].global_position,
										 expected_position => cp);
		FOREACH ev IN ARRAY page LOOP
			-- apply ev to your read model here, e.g.
			-- INSERT INTO order_totals ... ON CONFLICT ... DO UPDATE ...;
		END LOOP;
		COMMIT;                                -- read model and checkpoint together
	END LOOP;
END
$$;
SELECT es_store.get_checkpoint('orders-view') = (SELECT max(global_position) FROM es_store.read_feed(0, 1000))
	AS readme_loop_caught_up;

-- Filters: by bounded context, aggregate type, event type (any of a list).
SELECT global_position FROM es_store.append('g', 'b', '2', 0,
	ARRAY['B1', 'B2'], ARRAY['{}', '{}']::jsonb[]);
SELECT global_position FROM es_store.append_stream('ledger-1', 0,
	ARRAY['Posted'], ARRAY['{}']::jsonb[]);
SELECT global_position, bounded_context, aggregate_type, event_type
FROM es_store.read_feed(0, 100, bounded_contexts => ARRAY['g']);
SELECT global_position, aggregate_type, event_type
FROM es_store.read_feed(0, 100, aggregate_types => ARRAY['b', 'ledger']);
SELECT global_position, event_type
FROM es_store.read_feed(0, 100, event_types => ARRAY['A1', 'A3', 'Posted']);
SELECT global_position, event_type
FROM es_store.read_feed(0, 100, bounded_contexts => ARRAY['f'], event_types => ARRAY['A3', 'B1']);
SELECT count(*) FROM es_store.read_feed(0, 100, event_types => ARRAY[]::text[]);
-- A page of matches stops at max_count; the next page continues after it.
SELECT global_position FROM es_store.read_feed(0, 2, aggregate_types => ARRAY['a', 'b']);
SELECT global_position FROM es_store.read_feed(2, 2, aggregate_types => ARRAY['a', 'b']);

-- A sparse filter: read up to a position taken from last_position() first;
-- when the page is not full, the checkpoint may advance to that position.
SELECT es_store.last_position() AS upto \gset
SELECT count(*) AS matches FROM es_store.read_feed(0, 100,
	event_types => ARRAY['NoSuchEvent'], up_to_position => :upto);
SELECT global_position FROM es_store.read_feed(0, 100, up_to_position => 3);

-- Competing consumers: segments split the aggregates; together they cover
-- the feed once, and one aggregate always lands in one segment.
SELECT segment, count(*) AS events, count(DISTINCT aggregate_id || aggregate_type || bounded_context) AS aggregates
FROM generate_series(0, 2) AS segment,
	 LATERAL es_store.read_feed(0, 100, segment => segment, segment_count => 3)
GROUP BY segment ORDER BY segment;
SELECT (SELECT count(*) FROM generate_series(0, 2) AS k,
			LATERAL es_store.read_feed(0, 100, segment => k, segment_count => 3))
	 = (SELECT count(*) FROM es_store.read_feed(0, 100)) AS segments_cover_the_feed;
SELECT count(*) AS aggregates_in_two_segments FROM (
	SELECT bounded_context, aggregate_type, aggregate_id
	FROM generate_series(0, 2) AS k,
		 LATERAL es_store.read_feed(0, 100, segment => k, segment_count => 3)
	GROUP BY 1, 2, 3 HAVING count(DISTINCT k) > 1) s;
-- The key hash encodes the part lengths, so keys that differ only in where
-- the parts split hash differently; it is computed by the documented formula.
SELECT count(*) FROM es_store.append_event('ab', 'c', 'x', 0, 'E', '{}');
SELECT count(*) FROM es_store.append_event('a', 'bc', 'x', 0, 'E', '{}');
SELECT count(DISTINCT key_hash) AS distinct_hashes FROM es_store.aggregate_heads
WHERE aggregate_id = 'x';
SELECT bool_and(key_hash = pg_catalog.hashtextextended(
		length(bounded_context) || ':' || bounded_context ||
		length(aggregate_type) || ':' || aggregate_type || aggregate_id, 0)) AS documented_formula
FROM es_store.aggregate_heads;

-- Errors.
SELECT * FROM es_store.read_feed(NULL, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_feed(0, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_feed(-1, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_feed(0, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_feed(0, 10, segment_count => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_feed(0, 10, segment => 3, segment_count => 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_feed(0, 10, segment => -1, segment_count => 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_feed(0, 10, up_to_position => es_store.last_position() + 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_feed(0, 10, up_to_position => -1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_feed(0, 10, event_types => ARRAY[['A']]);
\echo :LAST_ERROR_SQLSTATE
-- 0A000: not in a SERIALIZABLE transaction (last_position still answers).
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT es_store.last_position() > 0 AS has_position;
SELECT * FROM es_store.read_feed(0, 10);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- 55000: the position sequence must keep the definition the feed relies on.
ALTER SEQUENCE es_store.global_position_seq CACHE 20;
SELECT * FROM es_store.read_feed(0, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.append_event('f', 'a', '1', NULL, 'X', '{}');
\echo :LAST_ERROR_SQLSTATE
ALTER SEQUENCE es_store.global_position_seq CACHE 1 CYCLE;
SELECT es_store.last_position();
\echo :LAST_ERROR_SQLSTATE
ALTER SEQUENCE es_store.global_position_seq NO CYCLE;
SELECT es_store.last_position() > 0 AS restored;
-- 42P01: the sequence is gone (only a superuser can detach and drop it).
BEGIN;
ALTER EXTENSION es_store DROP SEQUENCE es_store.global_position_seq;
DROP SEQUENCE es_store.global_position_seq;
SAVEPOINT s;
SELECT es_store.last_position();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO s;
SELECT * FROM es_store.append_event('f', 'a', '1', NULL, 'X', '{}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT es_store.last_position() > 0 AS restored_again;
