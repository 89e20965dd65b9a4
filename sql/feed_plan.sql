-- A feed page reads about as many events as it returns, however far the
-- safe position is and whatever the statistics say.  An unfiltered page is
-- read by an index scan (scan.c); a filtered one, and an unfiltered one
-- where the scans do not apply, by a statement with a kept generic plan
-- (plans.c HEADS_OF_EVENT), which must not be able to read and sort
-- everything up to the safe position first.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;

-- 100 aggregates of 200 events, and many aggregates without events (the
-- shape that made a merge join with a sort of the whole range look cheap).
SELECT count(*) FROM generate_series(1, 100) k,
	LATERAL es_store.append('plan', 'acct', k::text, 0,
		array_fill('E'::text, ARRAY[200]), array_fill('{}'::jsonb, ARRAY[200]));
INSERT INTO es_store.aggregate_heads (bounded_context, aggregate_type, aggregate_id, version, key_hash)
SELECT 'plan', 'empty', g::text, 0, 0 FROM generate_series(1, 100000) g;
ANALYZE es_store.events, es_store.aggregate_heads;

-- Event rows fetched by this transaction's reads of a page of 10, from the
-- start and from the middle of the feed, unfiltered and filtered.
BEGIN;
SELECT count(*) AS page FROM es_store.read_feed(0, 10);
SELECT count(*) AS page FROM es_store.read_feed(10000, 10);
SELECT count(*) AS page FROM es_store.read_feed(0, 10, aggregate_types => ARRAY['acct']);
SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) <= 100 AS few_rows_read
FROM pg_stat_xact_user_tables WHERE relid = 'es_store.events'::regclass;
COMMIT;
-- The unfiltered statement, with row-level security turning the scan off.
ALTER TABLE es_store.events ENABLE ROW LEVEL SECURITY;
BEGIN;
SELECT count(*) AS page FROM es_store.read_feed(0, 10);
SELECT count(*) AS page FROM es_store.read_feed(10000, 10);
SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) <= 100 AS few_rows_read
FROM pg_stat_xact_user_tables WHERE relid = 'es_store.events'::regclass;
COMMIT;
ALTER TABLE es_store.events DISABLE ROW LEVEL SECURITY;
