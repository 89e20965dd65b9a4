-- test/demo.sql: the es_store tour, run by test/demo.sh.
\set ON_ERROR_STOP 1
\set QUIET 1
\pset footer off
SET client_min_messages = warning;
DROP TABLE IF EXISTS order_counts;
DROP EXTENSION IF EXISTS es_store CASCADE;
CREATE EXTENSION es_store;
RESET client_min_messages;

\echo
\echo '== 1. Append: order 1001 is new (expected version 0), two events in one batch'
SELECT * FROM es_store.append('shop', 'order', '1001', 0,
	ARRAY['OrderPlaced', 'ItemAdded'],
	ARRAY['{"customer": "alice"}', '{"sku": "BOOK-1", "qty": 2}']::jsonb[]);

\echo '== 2. Append at exactly version 2, and to another aggregate'
SELECT * FROM es_store.append_event('shop', 'order', '1001', 2, 'OrderPaid', '{"amount": 30}');
SELECT * FROM es_store.append_event('shop', 'order', '1002', 0, 'OrderPlaced', '{"customer": "bob"}');

\echo '== 3. A stale writer still believes order 1001 is at version 2: SE001, nothing written'
\set ON_ERROR_STOP 0
SELECT * FROM es_store.append_event('shop', 'order', '1001', 2, 'OrderCancelled', '{}');
\set ON_ERROR_STOP 1
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT es_store.aggregate_version('shop', 'order', '1001') AS order_1001_version;

\echo '== 4. Read the stream of order 1001'
SELECT aggregate_version, event_type, payload
FROM es_store.read_aggregate('shop', 'order', '1001');

\echo '== 5. A retry with the same event id returns the original result'
SELECT * FROM es_store.append_event('shop', 'order', '1002', 1, 'ItemAdded', '{"sku": "PEN"}',
	event_id => 'a0a0a0a0-0000-4000-8000-000000000001');
SELECT * FROM es_store.append_event('shop', 'order', '1002', 1, 'ItemAdded', '{"sku": "PEN"}',
	event_id => 'a0a0a0a0-0000-4000-8000-000000000001');

\echo '== 6. A projection reads the global feed in pages of 2; each page, its read-model'
\echo '      update and its checkpoint commit together'
CREATE TABLE order_counts (event_type text PRIMARY KEY, n int NOT NULL);
DO $$
DECLARE
	cp   bigint;
	page es_store.event[];
	ev   es_store.event;
BEGIN
	LOOP
		cp := es_store.get_checkpoint('order-counts');
		page := ARRAY(SELECT e FROM es_store.read_feed(cp, 2) e);
		EXIT WHEN cardinality(page) = 0;
		-- the checkpoint first (compare-and-set: a competing consumer gets
		-- SE005 here), then the read model, then one commit for both
		PERFORM es_store.save_checkpoint('order-counts', page[cardinality(page)].global_position,
										 expected_position => cp);
		FOREACH ev IN ARRAY page LOOP
			INSERT INTO order_counts VALUES (ev.event_type, 1)
			ON CONFLICT (event_type) DO UPDATE SET n = order_counts.n + 1;
		END LOOP;
		COMMIT;
		RAISE NOTICE 'page committed, checkpoint now %', page[cardinality(page)].global_position;
	END LOOP;
END
$$;
SELECT * FROM order_counts ORDER BY event_type;

\echo '== 7. The checkpoint, the feed position, and the whole feed'
SELECT es_store.get_checkpoint('order-counts') AS checkpoint,
	   es_store.last_position() AS last_position;
SELECT global_position, aggregate_type, aggregate_id, aggregate_version, event_type
FROM es_store.read_feed(0, 100);
