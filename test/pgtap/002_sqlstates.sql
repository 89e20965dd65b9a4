-- Every SQLSTATE the API documents, raised where the README says.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS es_store;
SELECT plan(31);

SELECT lives_ok($$SELECT es_store.append_event('t', 'acct', 'a', 0, 'Opened', '{}')$$, 'create a stream');

-- SE001 wrong expected version
SELECT throws_ok($$SELECT es_store.append_event('t', 'acct', 'a', 0, 'Opened', '{}')$$,
	'SE001', 'wrong expected version for stream "t/acct/a"', 'expected 0 on an existing stream');
SELECT throws_ok($$SELECT es_store.append_event('t', 'acct', 'a', 5, 'X', '{}')$$,
	'SE001', 'wrong expected version for stream "t/acct/a"', 'expected N on a stream at another version');
SELECT throws_ok($$SELECT es_store.append_event('t', 'acct', 'none', -1, 'X', '{}')$$,
	'SE001', 'wrong expected version for stream "t/acct/none"', 'expected -1 on a missing stream');
SELECT throws_ok($$SELECT es_store.append_at_version('t', 'acct', 'a', 1, 'X', '{}')$$,
	'SE001', 'wrong expected version for stream "t/acct/a"', 'explicit version already stored');

-- SE002 duplicate event id
SELECT lives_ok($$SELECT es_store.append_event('t', 'acct', 'b', NULL, 'X', '{}', event_id => '00000000-0000-4000-8000-0000000000b1')$$, 'append with an id');
SELECT throws_ok($$SELECT es_store.append_event('t', 'acct', 'c', NULL, 'X', '{}', event_id => '00000000-0000-4000-8000-0000000000b1')$$,
	'SE002', 'duplicate event id 00000000-0000-4000-8000-0000000000b1 in append to stream "t/acct/c"', 'id reused by another aggregate');
SELECT results_eq($$SELECT aggregate_version, global_position FROM es_store.append_event('t', 'acct', 'b', NULL, 'X', '{}', event_id => '00000000-0000-4000-8000-0000000000b1')$$,
	$$SELECT 1::bigint, 2::bigint$$, 'a retry returns the original result');

-- SE004 checkpoint backwards
SELECT lives_ok($$SELECT es_store.save_checkpoint('p', 10)$$, 'save a checkpoint');
SELECT throws_ok($$SELECT es_store.save_checkpoint('p', 9)$$,
	'SE004', 'checkpoint "p" cannot move backwards', 'backwards save');
SELECT throws_ok($$SELECT es_store.save_checkpoint('p', 20, expected_position => 5)$$,
	'SE005', 'checkpoint "p" was moved by another consumer', 'compare-and-set from a stale position');
SELECT throws_ok($$SELECT * FROM es_store.read_feed(0, 10, up_to_position => es_store.last_position() + 1)$$,
	'22023', NULL, 'reading beyond the safe position');
SELECT throws_ok($$SELECT * FROM es_store.read_feed(0, 10, segment => 2, segment_count => 2)$$,
	'22023', 'segment 2 is out of range for 2 segments', 'segment out of range');

-- 22004 NULL arguments
SELECT throws_ok($$SELECT es_store.append_event(NULL, 'acct', 'a', NULL, 'X', '{}')$$,
	'22004', 'bounded_context cannot be null', 'null key part');
SELECT throws_ok($$SELECT * FROM es_store.append('t', 'acct', 'a', NULL, NULL, ARRAY['{}']::jsonb[])$$,
	'22004', 'event_types cannot be null', 'null event types');
SELECT throws_ok($$SELECT * FROM es_store.read_feed(NULL, 10)$$,
	'22004', 'after_position cannot be null', 'null feed position');
SELECT throws_ok($$SELECT es_store.get_checkpoint(NULL)$$,
	'22004', 'checkpoint name cannot be null', 'null checkpoint name');

-- 22023 out of range
SELECT throws_ok($$SELECT es_store.append_event('t', 'acct', 'a', -2, 'X', '{}')$$,
	'22023', 'invalid expected version -2 for stream "t/acct/a"', 'expected version below -1');
SELECT throws_ok($$SELECT * FROM es_store.append('t', 'acct', 'a', NULL, ARRAY[]::text[], ARRAY[]::jsonb[])$$,
	'22023', 'cannot append an empty batch to stream "t/acct/a"', 'empty batch');
SELECT throws_ok($$SELECT * FROM es_store.append_events(NULL, '[{"stream_name": "x-1", "event_type": "A", "payload": 1}, {"stream_name": "x-2", "event_type": "A", "payload": 1}]')$$,
	'22023', 'cannot append to more than one aggregate in one batch', 'mixed aggregates');
SELECT throws_ok($$SELECT * FROM es_store.read_feed(0, 0)$$,
	'22023', 'max_count must be at least 1', 'page size below 1');

-- 54000 size limits
SET LOCAL es_store.max_batch_events = 1;
SELECT throws_ok($$SELECT * FROM es_store.append('t', 'acct', 'a', NULL, ARRAY['A', 'B'], ARRAY['{}', '{}']::jsonb[])$$,
	'54000', 'batch for stream "t/acct/a" is too large', 'batch over the limit');
RESET es_store.max_batch_events;
SET LOCAL es_store.max_event_bytes = 1024;
SELECT throws_ok($$SELECT es_store.append_event('t', 'acct', 'a', NULL, 'X', jsonb_build_object('k', repeat('x', 2000)))$$,
	'54000', 'event is too large for stream "t/acct/a"', 'event over the limit');
RESET es_store.max_event_bytes;

-- 42501 privileges and the append-only log
CREATE ROLE pgtap_es_nobody;
GRANT USAGE ON SCHEMA es_store TO pgtap_es_nobody;
SET LOCAL ROLE pgtap_es_nobody;
SELECT throws_ok($$SELECT es_store.append_event('t', 'acct', 'a', NULL, 'X', '{}')$$,
	'42501', 'permission denied for function append_event', 'no EXECUTE, no append');
RESET ROLE;
SELECT throws_ok($$UPDATE es_store.events SET event_type = 'Y'$$,
	'42501', 'cannot update es_store.events', 'events cannot be updated');
SELECT throws_ok($$DELETE FROM es_store.events$$,
	'42501', 'cannot delete es_store.events', 'events cannot be deleted');

-- 42501 another role's checkpoint; 42704 reset to an unknown role
CREATE ROLE pgtap_es_owner IN ROLE es_store_reader;
CREATE ROLE pgtap_es_other IN ROLE es_store_reader;
SET LOCAL ROLE pgtap_es_owner;
SELECT lives_ok($$SELECT es_store.save_checkpoint('owned', 1)$$, 'a role saves its checkpoint');
SET LOCAL ROLE pgtap_es_other;
SELECT throws_ok($$SELECT es_store.save_checkpoint('owned', 9223372036854775807)$$,
	'42501', 'permission denied for checkpoint "owned"', 'another role cannot move it');
RESET ROLE;
SELECT throws_ok($$SELECT es_store.reset_checkpoint('owned', 0, 'pgtap_no_such_role')$$,
	'42704', 'role "pgtap_no_such_role" does not exist', 'reset to an unknown owner');

-- 54000 a stream at the highest version
SELECT throws_ok($$SELECT es_store.append_at_version('t', 'acct', 'top', 9007199254740992, 'X', '{}')$$,
	'22023', 'invalid aggregate version 9007199254740992 for stream "t/acct/top"', 'versions stop at 2^53 - 1');

-- nothing above left a partial write
SELECT results_eq($$SELECT count(*) FROM es_store.events$$, $$SELECT 2::bigint$$,
	'only the two successful appends are stored');

SELECT * FROM finish();
ROLLBACK;
