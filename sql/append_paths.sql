-- The two ways an append writes (src/direct.c): directly through the
-- executor's single-row routines, or through SQL statements when the direct
-- path does not apply.  Both must give the same results and honour what a
-- user added to the tables.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;

-- Several appends to one aggregate in one statement: each sees the ones
-- before it (the first creates the head row, the others advance it).
SELECT e.aggregate_version, e.global_position
FROM generate_series(1, 3) g,
	 LATERAL es_store.append_event('paths', 'acct', 'one-statement', NULL, 'E',
								   jsonb_build_object('g', g)) e
ORDER BY g;
SELECT es_store.aggregate_version('paths', 'acct', 'one-statement');

-- ... and in one transaction, with exact expected versions.
BEGIN;
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'tx', 0, 'E', '{}');
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'tx', 1, 'E', '{}');
SELECT aggregate_version FROM es_store.append('paths', 'acct', 'tx', 2,
	ARRAY['E', 'E'], ARRAY['{}', '{}']::jsonb[]);
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'tx', 2, 'Stale', '{}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT es_store.aggregate_version('paths', 'acct', 'tx') AS after_rollback;

-- The head row's updated_at and the events' created_at are the
-- transaction's time, as the statements set them.
BEGIN;
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'clock', NULL, 'E', '{}');
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'clock', 1, 'E', '{}');
SELECT h.updated_at = now() AS head_updated_now,
	   bool_and(e.created_at = now()) AS events_created_now
FROM es_store.aggregate_heads h JOIN es_store.events e USING (stream_id)
WHERE h.aggregate_id = 'clock' GROUP BY h.updated_at;
COMMIT;

-- A new aggregate's head row, created directly (READ COMMITTED) and by the
-- statement (REPEATABLE READ): the same columns, the key hash by its
-- documented formula (lengths in characters), with "no stream" and "any".
BEGIN;
SELECT aggregate_version FROM es_store.append_event('paths', 'Zürich', 'café-1', 0, 'E', '{}');
SELECT aggregate_version FROM es_store.append('paths', 'Zürich', 'café-2', NULL,
	ARRAY['E', 'E'], ARRAY['{}', '{}']::jsonb[]);
COMMIT;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT aggregate_version FROM es_store.append_event('paths', 'Zürich', 'café-3', 0, 'E', '{}');
SELECT aggregate_version FROM es_store.append('paths', 'Zürich', 'café-4', NULL,
	ARRAY['E', 'E'], ARRAY['{}', '{}']::jsonb[]);
COMMIT;
SELECT aggregate_id, version, created_at = updated_at AS same_times,
	   key_hash = pg_catalog.hashtextextended(
		length(bounded_context) || ':' || bounded_context ||
		length(aggregate_type) || ':' || aggregate_type || aggregate_id, 0) AS documented_hash,
	   stream_id = (SELECT DISTINCT stream_id FROM es_store.events e
					WHERE e.stream_id = h.stream_id) AS events_refer_to_it
FROM es_store.aggregate_heads h WHERE aggregate_type = 'Zürich' ORDER BY aggregate_id;
-- Creating an existing aggregate is a version conflict, also within the
-- transaction that created it.
BEGIN;
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'twice', 0, 'E', '{}');
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'twice', 0, 'E', '{}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT count(*) AS rolled_back_heads FROM es_store.aggregate_heads WHERE aggregate_id = 'twice';
-- A column a user adds to the head table, with a default, is filled in.
ALTER TABLE es_store.aggregate_heads ADD COLUMN region text NOT NULL DEFAULT 'eu';
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'head-column', 0, 'E', '{}');
SELECT aggregate_id, version, region FROM es_store.aggregate_heads WHERE aggregate_id = 'head-column';
ALTER TABLE es_store.aggregate_heads DROP COLUMN region;
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'head-column-2', 0, 'E', '{}');
-- ... and so is a default a user sets on created_at.
ALTER TABLE es_store.aggregate_heads ALTER COLUMN created_at SET DEFAULT '2000-01-01 00:00:00+00';
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'head-default', 0, 'E', '{}');
SELECT created_at FROM es_store.aggregate_heads WHERE aggregate_id = 'head-default';
ALTER TABLE es_store.aggregate_heads ALTER COLUMN created_at SET DEFAULT pg_catalog.now();
-- A rule on the head table stops INSERT .. ON CONFLICT, and so the
-- creation of an aggregate, as PostgreSQL decides.
CREATE RULE heads_ruled AS ON UPDATE TO es_store.aggregate_heads DO ALSO NOTIFY es_paths;
\set VERBOSITY terse
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'ruled', 0, 'E', '{}');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
DROP RULE heads_ruled ON es_store.aggregate_heads;
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'ruled', 0, 'E', '{}');

-- A CHECK constraint a user adds to the events table is enforced.
ALTER TABLE es_store.events ADD CONSTRAINT no_forbidden
	CHECK (event_type OPERATOR(pg_catalog.<>) 'Forbidden');
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'checked', NULL, 'Allowed', '{}');
\set VERBOSITY terse
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'checked', 1, 'Forbidden', '{}');
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.aggregate_version('paths', 'acct', 'checked') AS not_advanced;
ALTER TABLE es_store.events DROP CONSTRAINT no_forbidden;

-- A column a user adds, with a default, is filled in.
ALTER TABLE es_store.events ADD COLUMN tenant text NOT NULL DEFAULT 'acme';
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'extra-column', NULL, 'E', '{}');
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'extra-column', 1, 'E', '{}');
SELECT e.aggregate_version, e.tenant
FROM es_store.events e JOIN es_store.aggregate_heads h USING (stream_id)
WHERE h.aggregate_id = 'extra-column' ORDER BY 1;
ALTER TABLE es_store.events DROP COLUMN tenant;
-- ... and a dropped column leaves the direct path working.
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'extra-column', 2, 'E', '{}');

-- Triggers a user adds to the head table fire on every append.
CREATE TABLE public.head_changes (stream_id bigint, old_version bigint, new_version bigint);
CREATE FUNCTION public.log_head_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.head_changes VALUES (NEW.stream_id, OLD.version, NEW.version);
	RETURN NEW;
END $$;
CREATE TRIGGER log_head_change AFTER INSERT OR UPDATE ON es_store.aggregate_heads
	FOR EACH ROW EXECUTE FUNCTION public.log_head_change();
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'one-statement', 3, 'E', '{}');
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'one-statement', NULL, 'E', '{}');
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'triggered', 0, 'E', '{}');
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'triggered-any', NULL, 'E', '{}');
SELECT old_version, new_version FROM public.head_changes ORDER BY new_version, old_version;
DROP TRIGGER log_head_change ON es_store.aggregate_heads;
DROP TABLE public.head_changes;
DROP FUNCTION public.log_head_change();

-- Under REPEATABLE READ, appends take the statement path: same results.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'rr', NULL, 'E', '{}');
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'rr', 1, 'E', '{}');
COMMIT;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT aggregate_version FROM es_store.append_event('paths', 'acct', 'rr', 1, 'Stale', '{}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT aggregate_version, event_type FROM es_store.read_aggregate('paths', 'acct', 'rr');

-- A head row gets a new version on every append, and its page is pruned
-- only when it has no room left for the next one (direct.c fetch_head):
-- 600 appends to 40 aggregates, each in its own transaction, keep the head
-- table on the pages it started with (without pruning, or with updates that
-- are not HOT, it would grow by a page every 60 or so).  Pruning needs the
-- dead versions to be visible to nobody: run on a cluster where no other
-- session, slot or standby holds back the xmin horizon (test/check.sh's is).
SELECT pg_relation_size('es_store.aggregate_heads') / current_setting('block_size')::int AS pages_before;
\set ECHO none
\o /dev/null
SELECT format('SELECT FROM es_store.append_event(%L, %L, %L, %s, %L, %L)',
			  'paths', 'acct', 'pruned-' || g % 40, g / 40, 'E', '{}')
FROM generate_series(0, 599) g ORDER BY g \gexec
\o
\set ECHO all
SELECT pg_relation_size('es_store.aggregate_heads') / current_setting('block_size')::int <= 2 AS pages_after_at_most_2;
SELECT count(*) AS aggregates, min(version), max(version)
FROM es_store.aggregate_heads WHERE aggregate_id LIKE 'pruned-%';

-- A batch is written with table_multi_insert in chunks of 100 rows
-- (direct.c es_direct_insert_events): 250 events (two full chunks and a
-- part), one of them large enough to be toasted, come back whole and in
-- order, and every row has its entry in every index (amcheck).
SELECT count(*), min(aggregate_version), max(aggregate_version),
	   bool_and(global_position > 0)
FROM es_store.append('paths', 'acct', 'chunks', 0,
	(SELECT array_agg('E' || g ORDER BY g) FROM generate_series(1, 250) g),
	(SELECT array_agg(CASE WHEN g = 150
				THEN jsonb_build_object('big', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i))
				ELSE jsonb_build_object('g', g) END ORDER BY g)
	 FROM generate_series(1, 250) g));
SELECT count(*) AS events,
	   bool_and(event_type = 'E' || aggregate_version) AS types_in_order,
	   bool_and(CASE WHEN aggregate_version = 150
				THEN length(payload ->> 'big') = 12800
				ELSE (payload ->> 'g')::int = aggregate_version END) AS payloads_in_order,
	   bool_and(global_position > lag_position) AS positions_ascending
FROM (SELECT *, lag(global_position, 1, 0::bigint) OVER (ORDER BY aggregate_version) AS lag_position
	  FROM es_store.read_aggregate('paths', 'acct', 'chunks')) s;
CREATE EXTENSION amcheck;
SELECT indexrelid::regclass AS checked, bt_index_check(indexrelid, true) FROM pg_index
WHERE indrelid = 'es_store.events'::regclass ORDER BY indexrelid::regclass::text;
DROP EXTENSION amcheck;
-- A CHECK constraint fails in the second chunk of a batch: nothing of the
-- batch is written.
ALTER TABLE es_store.events ADD CONSTRAINT no_forbidden
	CHECK (event_type OPERATOR(pg_catalog.<>) 'Forbidden');
\set VERBOSITY terse
SELECT count(*) FROM es_store.append('paths', 'acct', 'chunks', 250,
	(SELECT array_agg(CASE WHEN g = 130 THEN 'Forbidden' ELSE 'E' END ORDER BY g)
	 FROM generate_series(1, 200) g),
	array_fill('{}'::jsonb, ARRAY[200]));
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE es_store.events DROP CONSTRAINT no_forbidden;
SELECT es_store.aggregate_version('paths', 'acct', 'chunks') AS not_advanced,
	   (SELECT count(*) FROM es_store.read_aggregate('paths', 'acct', 'chunks')) AS events;

-- Dense versions and unique positions over everything above.
SELECT count(*) AS events,
	   count(DISTINCT global_position) AS positions,
	   bool_and(dense) AS versions_dense
FROM (SELECT global_position,
			 aggregate_version = row_number() OVER (PARTITION BY stream_id ORDER BY aggregate_version) AS dense
	  FROM es_store.events) s;
