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

-- Errors.
SELECT * FROM es_store.read_feed(NULL, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_feed(0, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_feed(-1, 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM es_store.read_feed(0, 0);
\echo :LAST_ERROR_SQLSTATE
