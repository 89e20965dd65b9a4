# Bad input, for every SQL function of es_store:
#  1. a generated matrix: each argument of each function in turn takes each
#     value of its kind's bad (and edge) values, the others a valid one:
#     NULL, empty and oversized strings, payloads and arrays, malformed JSON
#     shapes, bigint and integer extremes, negative and zero page sizes and
#     segments, arrays of the wrong shape or length;
#  2. invalid UTF-8 sent through a SQL_ASCII client, and bytes that are not
#     UTF-8 stored and read back in a SQL_ASCII database;
#  3. a seeded random fuzz loop (ES_FUZZ_CALLS calls, default 3000) over the
#     append, read, feed and checkpoint functions, in transactions with
#     savepoints, rollbacks and commits mixed in.
# Every call must get the SQLSTATE its case expects (00000 for success),
# which must be in the README's Errors table; no backend may crash (the
# extension is built with assertions in test/check.sh); and after every
# call the invariants hold and nothing is half-written: a failed call
# changed no row, no append is left in flight, the feed is not held back.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsStoreTest;

my $fuzz_calls = $ENV{ES_FUZZ_CALLS} || 3000;
my $seed = $ENV{ES_FUZZ_SEED} // 20261201;
srand($seed);
note("fuzz seed $seed");

my %documented = documented_sqlstates();
$documented{'00000'} = 1;

my $node = PostgreSQL::Test::Cluster->new('bad_input');
$node->init;
$node->append_conf('postgresql.conf', 'max_prepared_transactions = 2');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION es_store;
	CREATE ROLE fuzz_owner;
	SELECT count(*) FROM es_store.append_event('snap', 'snap', 'snap', 0, 'T', '{}');
	-- a consumer group whose segment 0 'mc' holds for the whole test
	SELECT count(*) FROM generate_series(1, 10) k,
		LATERAL es_store.append_event('grp', 'acct', 'g-' || k, NULL, 'T', '{}');
	SELECT es_store.create_consumer_group('mgroup', 2, '1 day');
	SELECT segment FROM es_store.claim_segment('mgroup', 'mc');
	SELECT es_store.create_consumer_group('fz', 3, '1 day');
	CREATE VIEW inv AS SELECT
		(SELECT count(*) FROM es_store.events) AS events,
		(SELECT count(*) FROM es_store.aggregate_heads) AS heads,
		(SELECT count(*) FROM es_store.checkpoints) AS checkpoints,
		(SELECT count(*) FROM es_store.event_tags) AS tags,
		(SELECT count(*) FROM (SELECT e.stream_id FROM es_store.events e
			JOIN es_store.aggregate_heads h USING (stream_id)
			WHERE h.aggregate_type <> 'explicit' GROUP BY e.stream_id
			HAVING max(e.aggregate_version) - min(e.aggregate_version) + 1 <> count(*)) s) AS gaps,
		(SELECT count(*) FROM es_store.aggregate_heads h
			JOIN (SELECT stream_id, max(aggregate_version) AS v FROM es_store.events GROUP BY stream_id) e
			USING (stream_id) WHERE h.version <> e.v) AS bad_heads,
		(SELECT count(*) - count(DISTINCT global_position) FROM es_store.events) AS dup_positions,
		(SELECT count(*) FROM es_store.in_flight_appends()) AS in_flight,
		es_store.last_position() >= (SELECT coalesce(max(global_position), 0) FROM es_store.events) AS not_held;
});
my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

# --- 1. The matrix ----------------------------------------------------------

my $n = 0;    # makes every case's aggregate, stream and checkpoint its own
my $big = q{repeat('x', 2 * 1024 * 1024)};

# Kinds of argument: their valid value (%k is the case number) and their
# bad or edge values, each with the SQLSTATE expected.
my %kinds = (
	key => [ q{'k%k'},
		[ 'NULL', '22004' ], [ q{''}, '00000' ], [ q{repeat('k', 3000)}, '54000' ],
		[ $big, '54000' ], [ q{E'a\'b"c\\\\d %k'}, '00000' ], [ q{'ü€𝄞 %k'}, '00000' ] ],
	explicit => [ q{'explicit'},
		[ 'NULL', '22004' ], [ q{''}, '00000' ], [ q{repeat('k', 3000)}, '54000' ] ],
	stream => [ q{'s-%k'},
		[ 'NULL', '22004' ], [ q{''}, '22023' ], [ q{'-'}, '00000' ], [ q{repeat('s', 1024)}, '00000' ],
		[ q{repeat('s', 1025)}, '54000' ], [ $big, '54000' ] ],
	expected => [ 'NULL',
		[ '0', '00000' ], [ '-1', 'SE001' ], [ '-2', '22023' ], [ '1', 'SE001' ],
		[ '-9223372036854775808', '22023' ], [ '9223372036854775807', 'SE001' ] ],
	version => [ '1',
		[ 'NULL', '22004' ], [ '0', '22023' ], [ '-1', '22023' ], [ '9007199254740991', '00000' ],
		[ '9007199254740992', '22023' ], [ '9223372036854775807', '22023' ], [ '-9223372036854775808', '22023' ] ],
	types => [ q{ARRAY['T']},
		[ 'NULL', '22004' ], [ q{'{}'::text[]}, '22023' ], [ q{ARRAY[NULL]::text[]}, '22004' ],
		[ q{ARRAY['']}, '22023' ], [ q{ARRAY[['T'], ['U']]}, '22023' ], [ q{ARRAY['T', 'U']}, '22023' ],
		[ q{array_fill('T'::text, ARRAY[10001])}, '54000' ], [ "ARRAY[$big]", '54000' ] ],
	payloads => [ q{ARRAY['{}']::jsonb[]},
		[ 'NULL', '22004' ], [ q{'{}'::jsonb[]}, '22023' ], [ q{ARRAY[NULL]::jsonb[]}, '22004' ],
		[ q{ARRAY['null', '1', '"s"', '[]']::jsonb[]}, '22023' ], [ q{ARRAY['null']::jsonb[]}, '00000' ],
		[ q{ARRAY[['{}'], ['{}']]::jsonb[]}, '22023' ], [ "ARRAY[to_jsonb($big)]", '54000' ] ],
	bytes_payloads => [ q{ARRAY['\x01']::bytea[]},
		[ 'NULL', '22004' ], [ q{'{}'::bytea[]}, '22023' ], [ q{ARRAY[NULL]::bytea[]}, '22004' ],
		[ q{ARRAY[''::bytea]}, '00000' ], [ q{ARRAY[['\x01'], ['\x02']]::bytea[]}, '22023' ],
		[ q{ARRAY['\x01', '\x02']::bytea[]}, '22023' ], [ "ARRAY[convert_to($big, 'UTF8')]", '54000' ] ],
	metadatas => [ 'NULL',
		[ q{ARRAY[NULL]::jsonb[]}, '00000' ], [ q{ARRAY['[]']::jsonb[]}, '22023' ],
		[ q{ARRAY['1']::jsonb[]}, '22023' ], [ q{ARRAY['{}', '{}']::jsonb[]}, '22023' ],
		[ q{ARRAY[['{}']]::jsonb[]}, '22023' ], [ q{'{}'::jsonb[]}, '22023' ],
		[ "ARRAY[jsonb_build_object('m', $big)]", '54000' ] ],
	ids => [ 'NULL',
		[ q{ARRAY[NULL]::uuid[]}, '00000' ], [ q{ARRAY[gen_random_uuid(), gen_random_uuid()]}, '22023' ],
		[ q{'{}'::uuid[]}, '22023' ], [ q{ARRAY[[gen_random_uuid()]]}, '22023' ] ],
	versions => [ 'NULL',
		[ q{ARRAY[NULL]::int[]}, '00000' ], [ q{ARRAY[0]}, '22023' ], [ q{ARRAY[-1]}, '22023' ],
		[ q{ARRAY[2147483647]}, '00000' ], [ q{ARRAY[-2147483648]}, '22023' ], [ q{ARRAY[1, 2]}, '22023' ] ],
	text_opt => [ 'NULL',
		[ q{''}, '00000' ], [ q{'c'}, '00000' ], [ $big, '54000' ] ],
	type => [ q{'T'},
		[ 'NULL', '22004' ], [ q{''}, '22023' ], [ $big, '54000' ] ],
	payload => [ q{'{}'},
		[ 'NULL', '22004' ], [ q{'null'}, '00000' ], [ q{'[1, 2]'}, '00000' ], [ "to_jsonb($big)", '54000' ] ],
	bytes_payload => [ q{'\x01'::bytea},
		[ 'NULL', '22004' ], [ q{''::bytea}, '00000' ], [ q{'\x00ff'::bytea}, '00000' ],
		[ "convert_to($big, 'UTF8')", '54000' ] ],
	metadata => [ 'NULL',
		[ q{'[]'}, '22023' ], [ q{'"s"'}, '22023' ], [ q{'null'}, '22023' ], [ q{'{"a": 1}'}, '00000' ] ],
	id => [ 'NULL',
		[ q{md5('id-%k')::uuid}, '00000' ] ],
	event_version => [ '1',
		[ 'NULL', '00000' ], [ '0', '22023' ], [ '-1', '22023' ], [ '2147483647', '00000' ],
		[ '-2147483648', '22023' ] ],
	group_new => [ q{'grp-%k'},
		[ 'NULL', '22004' ], [ q{''}, '22023' ], [ q{repeat('g', 1025)}, '54000' ] ],
	group_segment_count => [ '2',
		[ 'NULL', '22004' ], [ '0', '22023' ], [ '-1', '22023' ], [ '1025', '22023' ],
		[ '1024', '00000' ] ],
	lease => [ q{'30 seconds'},
		[ 'NULL', '22004' ], [ q{'0 seconds'}, '22023' ], [ q{'-1 second'}, '22023' ],
		[ q{'1 day 1 second'}, '22023' ], [ q{'1 microsecond'}, '00000' ] ],
	group => [ q{'mgroup'},
		[ 'NULL', '22004' ], [ q{''}, '22023' ], [ q{'no-such-group'}, '42704' ],
		[ q{repeat('g', 1025)}, '54000' ] ],
	group_drop => [ q{'no-such-group-%k'},
		[ 'NULL', '22004' ], [ q{''}, '22023' ] ],
	consumer => [ q{'mc'},
		[ 'NULL', '22004' ], [ q{''}, '22023' ], [ q{repeat('c', 1025)}, '54000' ] ],
	consumer_other => [ q{'rc'},
		[ 'NULL', '22004' ], [ q{''}, '22023' ], [ q{repeat('c', 1025)}, '54000' ] ],
	group_segment => [ '0',
		[ 'NULL', '22004' ], [ '-1', '22023' ], [ '2', '22023' ], [ '2147483647', '22023' ] ],
	group_position => [ '1',
		[ 'NULL', '22004' ], [ '-1', '22023' ] ],
	park_position => [ q{(SELECT min(global_position) FROM es_store.read_feed(0, 1000, segment => 0, segment_count => 2) WHERE bounded_context = 'grp')},
		[ 'NULL', '22004' ], [ '-1', '22023' ], [ '999999999', '22023' ],
		[ q{(SELECT min(global_position) FROM es_store.read_feed(0, 1000, segment => 1, segment_count => 2) WHERE bounded_context = 'grp')}, '22023' ] ],
	park_error => [ q{'boom'},
		[ 'NULL', '22004' ], [ q{''}, '00000' ] ],
	appends => [ q{'[{"stream_name": "m-%k", "expected_version": 0, "events": [{"event_type": "M", "payload": 1}]}, {"stream_name": "n-%k", "expected_version": 0}]'},
		[ 'NULL', '22004' ], [ q{'[]'}, '22023' ], [ q{'{}'}, '22023' ], [ q{'1'}, '22023' ],
		[ q{'null'}, '22023' ], [ q{'[1]'}, '22023' ], [ q{'[{}]'}, '22004' ],
		[ q{'[{"stream_name": "m-%k"}]'}, '22023' ],
		[ q{'[{"stream_name": "m-%k", "expected_version": -1}]'}, 'SE001' ],
		[ q{'[{"stream_name": "m-%k", "expected_version": 3, "events": [{"event_type": "M", "payload": 1}]}]'}, 'SE001' ],
		[ q{'[{"stream_name": "m-%k", "expected_version": -2}]'}, '22023' ],
		[ q{'[{"stream_name": "m-%k", "expected_version": 1.5}]'}, '22023' ],
		[ q{'[{"stream_name": "m-%k", "expected_version": 99999999999999999999}]'}, '22023' ],
		[ q{'[{"stream_name": "m-%k", "expected_version": 0, "x": 1}]'}, '22023' ],
		[ q{'[{"stream_name": "m-%k", "events": [{"event_type": "M", "payload": 1, "aggregate_id": "a"}]}]'}, '22023' ],
		[ q{'[{"stream_name": "m-%k", "events": []}]'}, '22023' ],
		[ q{'[{"stream_name": "m-%k", "events": [{"event_type": "M", "payload": 1}]}, {"stream_name": "m-%k", "expected_version": 1}]'}, '22023' ] ],
	events => [ q{jsonb_build_array(jsonb_build_object('stream_name', 'j-%k', 'event_type', 'J', 'payload', 1))},
		[ 'NULL', '22004' ], [ q{'[]'}, '22023' ], [ q{'{}'}, '22023' ], [ q{'1'}, '22023' ],
		[ q{'null'}, '22023' ], [ q{'[1]'}, '22023' ], [ q{'[{}]'}, '22004' ],
		[ q{'[{"stream_name": 1, "event_type": "J", "payload": 1}]'}, '22023' ],
		[ q{'[{"stream_name": "j-%k", "payload": 1}]'}, '22004' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J"}]'}, '22004' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload": null}]'}, '00000' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload_bytes": "AQ=="}]'}, '00000' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload_bytes": ""}]'}, '00000' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload_bytes": null}]'}, '22004' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload": 1, "payload_bytes": "AQ=="}]'}, '22023' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload_bytes": 1}]'}, '22023' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload_bytes": "!!"}]'}, '22023' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload": 1, "extra": 1}]'}, '22023' ],
		[ q{'[{"stream_name": "j-%k", "bounded_context": "b", "event_type": "J", "payload": 1}]'}, '22023' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload": 1}, {"stream_name": "other-%k", "event_type": "J", "payload": 1}]'}, '22023' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload": 1, "event_id": "nope"}]'}, '22P02' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload": 1, "event_version": 1.5}]'}, '22023' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload": 1, "event_version": 1e10}]'}, '22023' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "J", "payload": 1, "metadata": []}]'}, '22023' ],
		[ q{'[{"stream_name": "j-%k", "event_type": "", "payload": 1}]'}, '22023' ],
		[ q{(SELECT jsonb_agg(jsonb_build_object('stream_name', 'j-%k', 'event_type', 'J', 'payload', 1)) FROM generate_series(1, 10001))}, '54000' ],
		[ q{'[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]'}, '22023' ] ],
	# snapshots of the aggregate snap/snap/snap, which has one event
	snap_key => [ q{'snap'},
		[ 'NULL', '22004' ], [ q{''}, 'SE006' ], [ q{repeat('k', 3000)}, '54000' ], [ $big, '54000' ] ],
	snap_version => [ '1',
		[ 'NULL', '22004' ], [ '0', '22023' ], [ '-1', '22023' ], [ '2', 'SE006' ],
		[ '9007199254740992', '22023' ], [ '-9223372036854775808', '22023' ] ],
	snap_payload => [ q{'{}'},
		[ 'NULL', '22004' ], [ q{'null'}, '00000' ], [ q{'[1]'}, '00000' ], [ "to_jsonb($big)", '00000' ] ],
	snap_bytes => [ q{'\x01'::bytea},
		[ 'NULL', '22004' ], [ q{''::bytea}, '00000' ], [ "convert_to($big, 'UTF8')", '00000' ] ],
	snap_metadata => [ 'NULL',
		[ q{'[]'}, '22023' ], [ q{'"s"'}, '22023' ], [ q{'null'}, '22023' ], [ q{'{"a": 1}'}, '00000' ] ],
	snap_schema => [ '1',
		[ 'NULL', '00000' ], [ '0', '22023' ], [ '-1', '22023' ], [ '2147483647', '00000' ],
		[ '-2147483648', '22023' ] ],
	snap_filter => [ 'NULL',
		[ '1', '00000' ], [ '0', '22023' ], [ '-1', '22023' ], [ '2147483647', '00000' ] ],
	event_uuid => [ q{md5('no-such-event')::uuid},
		[ 'NULL', '22004' ], [ q{'00000000-0000-0000-0000-000000000000'}, '00000' ] ],
	# a delete of an aggregate the case has not created (absent: at 0)
	del_expected => [ 'NULL',
		[ '0', '00000' ], [ '-1', 'SE001' ], [ '-2', '22023' ], [ '1', 'SE001' ],
		[ '-9223372036854775808', '22023' ] ],
	forget_expected => [ 'NULL',
		[ '0', '00000' ], [ '-1', '00000' ], [ '-2', '22023' ], [ '1', '00000' ],
		[ '-9223372036854775808', '22023' ] ],
	tombstone => [ 'NULL', [ 'false', '00000' ], [ 'true', '00000' ] ],
	truncate_before => [ 'NULL',
		[ '0', '22023' ], [ '-1', '22023' ], [ '9007199254740991', '00000' ],
		[ '9007199254740992', '22023' ], [ '-9223372036854775808', '22023' ] ],
	max_count => [ 'NULL',
		[ '0', '22023' ], [ '-1', '22023' ], [ '9223372036854775807', '00000' ],
		[ '-9223372036854775808', '22023' ] ],
	max_age => [ 'NULL',
		[ q{'1 microsecond'}, '00000' ], [ q{'0 seconds'}, '22023' ], [ q{'-1 day'}, '22023' ],
		[ q{'1 month -40 days'}, '22023' ], [ q{'1000 years'}, '00000' ], [ q{'1000 years 1 day'}, '22023' ],
		[ q{'178000000 years'}, '22023' ] ],
	stream_metadata => [ 'NULL',
		[ q{'[]'}, '22023' ], [ q{'"s"'}, '22023' ], [ q{'null'}, '22023' ], [ q{'{"a": 1}'}, '00000' ] ],
	purge_count => [ 'NULL',
		[ '1', '00000' ], [ '0', '22023' ], [ '-1', '22023' ], [ '2147483647', '00000' ],
		[ '-2147483648', '22023' ] ],
	markers_before => [ 'NULL',
		[ q{'-infinity'}, '00000' ], [ q{'infinity'}, '00000' ], [ q{now()}, '00000' ] ],
	from => [ 'NULL',
		[ '0', '00000' ], [ '-1', '22023' ], [ '9223372036854775807', '00000' ],
		[ '-9223372036854775808', '22023' ] ],
	count_opt => [ 'NULL',
		[ '0', '22023' ], [ '-1', '22023' ], [ '2147483647', '00000' ], [ '-2147483648', '22023' ] ],
	after => [ '0',
		[ 'NULL', '22004' ], [ '-1', '22023' ], [ '9223372036854775807', '00000' ],
		[ '-9223372036854775808', '22023' ] ],
	count => [ '10',
		[ 'NULL', '22004' ], [ '0', '22023' ], [ '-1', '22023' ], [ '2147483647', '00000' ] ],
	filter => [ 'NULL',
		[ q{'{}'::text[]}, '00000' ], [ q{ARRAY[NULL]::text[]}, '00000' ], [ q{ARRAY[['a'], ['b']]}, '22023' ],
		[ q{array_fill('x'::text, ARRAY[100000])}, '00000' ] ],
	segment => [ '0',
		[ 'NULL', '00000' ], [ '-1', '22023' ], [ '1', '22023' ], [ '2147483647', '22023' ],
		[ '-2147483648', '22023' ] ],
	segments => [ '1',
		[ 'NULL', '00000' ], [ '0', '22023' ], [ '-1', '22023' ], [ '2147483647', '00000' ],
		[ '-2147483648', '22023' ] ],
	up_to => [ 'NULL',
		[ '0', '00000' ], [ '-1', '22023' ], [ '9223372036854775807', '22023' ] ],
	cp_name => [ q{'cp-%k'},
		[ 'NULL', '22004' ], [ q{''}, '22023' ], [ q{repeat('n', 1024)}, '00000' ],
		[ q{repeat('n', 1025)}, '54000' ], [ $big, '54000' ] ],
	position => [ '1',
		[ 'NULL', '22004' ], [ '-1', '22023' ], [ '0', '00000' ], [ '9223372036854775807', '00000' ],
		[ '-9223372036854775808', '22023' ] ],
	cp_expected => [ 'NULL',
		[ '0', '00000' ], [ '-1', '22023' ], [ '5', 'SE005' ], [ '9223372036854775807', 'SE005' ] ],
	reset_position => [ '1',
		[ 'NULL', '00000' ], [ '-1', '22023' ], [ '9223372036854775807', '00000' ] ],
	# tags (0.4.0): of the one event, or of every event of a batch
	tags => [ 'NULL',
		[ q{ARRAY['t-%k', 'u']}, '00000' ], [ q{'{}'::text[]}, '00000' ], [ q{ARRAY[NULL]::text[]}, '22004' ],
		[ q{ARRAY['']}, '22023' ], [ q{ARRAY[['a'], ['b']]}, '22023' ],
		[ q{array_fill('x'::text, ARRAY[64])}, '00000' ], [ q{array_fill('x'::text, ARRAY[65])}, '54000' ],
		[ "ARRAY[$big]", '54000' ] ],
	# queries (read_query, and append_if's condition over its own tag)
	query => [ q{'{"items": [{"tags": ["q-%k"]}]}'},
		[ 'NULL', '22004' ], [ q{'[]'}, '22023' ], [ q{'1'}, '22023' ], [ q{'null'}, '22023' ],
		[ q{'{"x": 1}'}, '22023' ], [ q{'{"items": 1}'}, '22023' ], [ q{'{"items": [1]}'}, '22023' ],
		[ q{'{"items": [{"types": []}]}'}, '22023' ], [ q{'{"items": [{"types": [1]}]}'}, '22023' ],
		[ q{'{"items": [{"tags": [""]}]}'}, '22023' ], [ q{'{"items": [{"tags": "q"}]}'}, '22023' ],
		[ q{'{"items": [{"tags": ["q-%k"], "x": 1}]}'}, '22023' ],
		[ q{'{"items": [{"types": ["Q"], "tags": ["q-%k", "r"]}, {"tags": []}]}'}, '00000' ],
		[ q{'{"items": []}'}, '00000' ], [ q{'{}'}, '00000' ],
		[ q{(SELECT jsonb_build_object('items', jsonb_agg(jsonb_build_object('tags', jsonb_build_array('q' || k)))) FROM generate_series(1, 65) k)}, '54000' ],
		[ q{(SELECT jsonb_build_object('items', jsonb_build_array(jsonb_build_object('types', jsonb_agg('T' || k)))) FROM generate_series(1, 65) k)}, '54000' ] ],
	dcb_events => [ q{'[{"event_type": "Q", "payload": 1, "tags": ["q-%k"]}]'},
		[ 'NULL', '22004' ], [ q{'[]'}, '22023' ], [ q{'{}'}, '22023' ], [ q{'[1]'}, '22023' ],
		[ q{'[{"event_type": "Q", "payload": 1, "tags": "q"}]'}, '22023' ],
		[ q{'[{"event_type": "Q", "payload": 1, "tags": [1]}]'}, '22023' ],
		[ q{'[{"event_type": "Q", "payload": 1, "tags": [""]}]'}, '22023' ],
		[ q{'[{"event_type": "Q", "payload": 1, "tags": []}]'}, '00000' ],
		[ q{'[{"event_type": "Q", "payload": 1}]'}, '00000' ],
		[ q{'[{"event_type": "Q"}]'}, '22004' ],
		[ q{'[{"stream_name": "d-%k", "event_type": "Q", "payload": 1}]'}, '00000' ],
		[ q{'[{"stream_name": "d-%k", "event_type": "Q", "payload": 1}, {"event_type": "Q", "payload": 1}]'}, '22023' ],
		[ q{'[{"event_type": "Q", "payload": 1}, {"stream_name": "d-%k", "event_type": "Q", "payload": 1}]'}, '22023' ],
		[ q{(SELECT jsonb_build_array(jsonb_build_object('event_type', 'Q', 'payload', 1, 'tags', jsonb_agg('t' || k))) FROM generate_series(1, 65) k)}, '54000' ],
		[ q{(SELECT jsonb_agg(jsonb_build_object('event_type', 'Q', 'payload', 1)) FROM generate_series(1, 10001))}, '54000' ] ],
	dcb_query => [ q{'{"items": [{"tags": ["q-%k"]}]}'},
		[ 'NULL', '00000' ], [ q{'[]'}, '22023' ], [ q{'{"items": [{"types": []}]}'}, '22023' ],
		[ q{'{"items": [{"types": ["Q"]}]}'}, 'SE008' ], [ q{'{}'}, 'SE008' ] ],
	dcb_after => [ '0',
		[ 'NULL', '00000' ], [ '-1', '22023' ], [ '9223372036854775807', '00000' ] ],
	dcb_expected => [ 'NULL',
		[ '0', '22023' ], [ '-1', '22023' ] ],
	# oldest_unread_at (0.4.0): NULL when nothing matches or a bound is NULL
	unread_position => [ '0',
		[ 'NULL', '00000' ], [ '-1', '00000' ], [ '9223372036854775807', '00000' ],
		[ '-9223372036854775808', '00000' ] ],
	unread_segment => [ '0',
		[ 'NULL', '00000' ], [ '-1', '22023' ], [ '2', '22023' ], [ '2147483647', '22023' ] ],
	unread_segments => [ '2',
		[ 'NULL', '00000' ], [ '0', '22023' ], [ '-1', '22023' ], [ '1', '00000' ],
		[ '2147483647', '00000' ] ],
	owner => [ 'NULL',
		[ q{'fuzz_owner'}, '00000' ], [ q{'no_such_role'}, '42704' ], [ q{''}, '42704' ] ],
);

# Each function's arguments, as kinds, and what a call returns (to make the
# statement fetch every row).
my @functions = (
	[ 'append', qw(key key key expected types payloads metadatas ids versions text_opt text_opt text_opt tags) ],
	[ 'append_event', qw(key key key expected type payload metadata id event_version text_opt text_opt text_opt tags) ],
	[ 'append_at_version', qw(key explicit key version type payload metadata id event_version text_opt text_opt text_opt tags) ],
	[ 'append_stream', qw(stream expected types payloads metadatas ids versions text_opt text_opt text_opt tags) ],
	[ 'append_events', qw(expected events) ],
	[ 'append_aggregates', qw(appends) ],
	[ 'create_consumer_group', qw(group_new group_segment_count lease) ],
	[ 'claim_segment', qw(group consumer_other) ],
	[ 'renew_lease', qw(group consumer group_segment) ],
	[ 'save_segment_position', qw(group consumer group_segment group_position) ],
	[ 'park_event', qw(group consumer group_segment park_position park_error) ],
	[ 'parked_events', qw(group) ],
	[ 'unpark_event', qw(group group_position) ],
	[ 'release_segment', qw(group consumer_other group_segment) ],
	[ 'drop_consumer_group', qw(group_drop) ],
	[ 'append_bytes', qw(key key key expected types bytes_payloads metadatas ids versions text_opt text_opt text_opt tags) ],
	[ 'append_event_bytes', qw(key key key expected type bytes_payload metadata id event_version text_opt text_opt text_opt tags) ],
	[ 'append_at_version_bytes', qw(key explicit key version type bytes_payload metadata id event_version text_opt text_opt text_opt tags) ],
	[ 'append_stream_bytes', qw(stream expected types bytes_payloads metadatas ids versions text_opt text_opt text_opt tags) ],
	[ 'read_query', qw(query from count_opt up_to) ],
	[ 'read_query_position' ],
	[ 'append_if', qw(dcb_events dcb_query dcb_after dcb_expected) ],
	[ 'stream_key', qw(stream) ],
	[ 'read_aggregate', qw(key key key from from count_opt) ],
	[ 'read_stream', qw(stream from from count_opt) ],
	[ 'aggregate_version', qw(key key key) ],
	[ 'stream_version', qw(stream) ],
	[ 'aggregate_exists', qw(key key key) ],
	[ 'count_events', qw(key key key from) ],
	[ 'read_feed', qw(after count filter filter filter segment segments up_to) ],
	[ 'last_position' ],
	[ 'in_flight_appends' ],
	[ 'get_checkpoint', qw(cp_name) ],
	[ 'save_checkpoint', qw(cp_name position cp_expected) ],
	[ 'reset_checkpoint', qw(cp_name reset_position owner) ],
	[ 'save_snapshot', qw(snap_key snap_key snap_key snap_version snap_payload snap_metadata snap_schema) ],
	[ 'save_snapshot_bytes', qw(snap_key snap_key snap_key snap_version snap_bytes snap_metadata snap_schema) ],
	[ 'load_snapshot', qw(key key key snap_filter) ],
	[ 'load_aggregate', qw(key key key snap_filter) ],
	[ 'delete_snapshot', qw(key key key) ],
	[ 'delete_aggregate', qw(key key key del_expected) ],
	[ 'read_event', qw(event_uuid) ],
	[ 'read_aggregate_backward', qw(key key key from count_opt) ],
	[ 'forget_aggregate', qw(key key key forget_expected tombstone) ],
	[ 'set_stream_metadata', qw(key key key truncate_before max_count max_age stream_metadata) ],
	[ 'get_stream_metadata', qw(key key key) ],
	[ 'purge', qw(purge_count markers_before) ],
	[ 'aggregate_stats', qw(key key key) ],
	[ 'store_stats' ],
	[ 'position_spaces' ],
	[ 'oldest_unread_at', qw(unread_position unread_position unread_segment unread_segments) ],
	[ 'citus_node_feed_state' ],
	[ 'citus_node_feed_page' ],
	[ 'citus_claim_position_spaces' ],
	[ 'citus_distribute' ],
	[ 'citus_claim_local_position_space' ],
);

# The functions of the installed extension are exactly those listed.
is($node->safe_psql('postgres', q{
	SELECT string_agg(proname, ' ' ORDER BY proname) FROM pg_proc
	WHERE pronamespace = 'es_store'::regnamespace AND prorettype <> 'trigger'::regtype}),
	join(' ', sort map { $_->[0] } @functions), 'the matrix covers every function');

# Reads of a missing aggregate or stream succeed: only the appends expect
# SE001 for "-1" (exists) on a new aggregate.  A stream key of '' is
# refused by stream_key like the other stream functions.  Some cases'
# outcomes depend on the function:
sub expected_for
{
	my ($function, $kind, $value, $state) = @_;
	# STRICT: a NULL argument gives NULL, not an error
	return '00000' if $function eq 'stream_key' && $value eq 'NULL';
	# a lowered position with expected_position NULL on a new checkpoint
	return $state;
}

my @cases;
for my $f (@functions)
{
	my ($name, @args) = @$f;
	if (!@args)
	{
		# read_query_position() has a value after a read_query
		my $from = $name eq 'read_query_position'
		  ? q{ FROM (SELECT count(*) FROM es_store.read_query('{}')) r} : '';
		# the Citus claims, the distribution and a worker's feed page
		# refuse on a single node, whatever their arguments
		my $want = $name =~ /^citus_(claim|distribute|node_feed_page)/ ? '0A000' : '00000';
		my $args = $name eq 'citus_node_feed_page' ? 'NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL' : '';
		push @cases, [ "$name($args)", "SELECT count(*) FROM (SELECT es_store.$name($args)$from) c", $want ];
		next;
	}
	for my $i (0 .. $#args)
	{
		my ($valid, @bad) = @{ $kinds{ $args[$i] } };
		for my $b (@bad)
		{
			my ($value, $state) = @$b;
			$n++;
			my @call = map { $kinds{ $args[$_] }[0] } 0 .. $#args;
			$call[$i] = $value;
			s/%k/$n/g for @call;
			my $label = "$name arg " . ($i + 1) . " ($args[$i]) = " . (length($value) > 60 ? substr($value, 0, 57) . '...' : $value);
			$label =~ s/%k/$n/g;
			push @cases, [ $label,
				"SELECT count(*) FROM (SELECT * FROM es_store.$name(" . join(', ', @call) . ")) c",
				expected_for($name, $args[$i], $value, $state) ];
		}
	}
}
# Cases that need a state: a checkpoint below its saved position, a
# compare-and-set from the wrong position, an append at a stored version.
push @cases,
  [ 'save_checkpoint backwards', q{SELECT es_store.save_checkpoint('cp-back', 10)}, '00000' ],
  [ 'save_checkpoint backwards', q{SELECT es_store.save_checkpoint('cp-back', 9)}, 'SE004' ],
  [ 'save_checkpoint from the wrong position', q{SELECT es_store.save_checkpoint('cp-back', 11, 3)}, 'SE005' ],
  [ 'append_at_version at a stored version', q{SELECT count(*) FROM es_store.append_at_version('b', 'explicit', 'twice', 1, 'T', '{}')}, '00000' ],
  [ 'append_at_version at a stored version', q{SELECT count(*) FROM es_store.append_at_version('b', 'explicit', 'twice', 1, 'T', '{}')}, 'SE001' ],
  [ 'append_event with the nil uuid', q{SELECT count(*) FROM es_store.append_event('b', 'a', 'used-1', NULL, 'T', '{}', event_id => '00000000-0000-0000-0000-000000000000')}, '00000' ],
  [ 'append_event with a used id', q{SELECT count(*) FROM es_store.append_event('b', 'a', 'used-2', NULL, 'T', '{}', event_id => '00000000-0000-0000-0000-000000000000')}, 'SE002' ],
  [ 'append_at_version with a used id', q{SELECT count(*) FROM es_store.append_at_version('b', 'explicit', 'used-3', 1, 'T', '{}', event_id => '00000000-0000-0000-0000-000000000000')}, 'SE002' ],
  [ 'read_feed in SERIALIZABLE', q{BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT count(*) FROM es_store.read_feed(0, 1)}, '0A000', 'ROLLBACK' ],
  [ 'read_query with a bad query', q{SELECT count(*) FROM es_store.read_query('[]')}, '22023' ],
  [ 'read_query_position after a failed read_query', q{SELECT es_store.read_query_position()}, '55000' ];

my ($results, $broken) = run_cases(\@cases);
my $mismatches = 0;
for my $i (0 .. $#cases)
{
	my ($label, undef, $want) = @{ $cases[$i] };
	my ($got, $inv, $inv_before) = @{ $results->[$i] };
	if (!defined $got || $got ne $want)
	{
		$mismatches++;
		diag("$label: expected $want, got " . ($got // 'nothing'));
	}
	if (defined $got && !$documented{$got})
	{
		$mismatches++;
		diag("$label: SQLSTATE $got is not in the README's Errors table");
	}
}
is($mismatches, 0, sprintf('%d matrix cases: each got its documented SQLSTATE', scalar(@cases)));
is($broken, '', 'after every matrix call the invariants held and a failed call changed nothing');

# --- 2. Invalid UTF-8 from a SQL_ASCII client; a SQL_ASCII database --------

my $bad_utf8 = "\xc3\x28\xff";
my @utf8_cases = (
	"SELECT count(*) FROM es_store.append_event('b', 'a', 'bad$bad_utf8', NULL, 'T', '{}')",
	"SELECT count(*) FROM es_store.append_event('b', 'a', 'ok', NULL, 'T$bad_utf8', '{}')",
	"SELECT count(*) FROM es_store.append_event('b', 'a', 'ok', NULL, 'T', '{\"k\": \"$bad_utf8\"}')",
	"SELECT count(*) FROM es_store.append_stream('s-$bad_utf8', NULL, ARRAY['T'], ARRAY['{}']::jsonb[])",
	"SELECT count(*) FROM es_store.append_events(NULL, '[{\"stream_name\": \"s-$bad_utf8\", \"event_type\": \"J\", \"payload\": 1}]')",
	"SELECT es_store.save_checkpoint('cp-$bad_utf8', 1)",
	"SELECT count(*) FROM es_store.read_stream('s-$bad_utf8')",
);
my @utf8_states;
{
	local $ENV{PGCLIENTENCODING} = 'SQL_ASCII';
	for my $sql (@utf8_cases)
	{
		my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
		push @utf8_states, $err =~ /ERROR:  ([0-9A-Z]{5}):/ ? $1 : 'none';
	}
}
is(join(' ', @utf8_states), join(' ', ('22021') x @utf8_cases),
	'invalid UTF-8 from a SQL_ASCII client is refused with 22021 before es_store sees it');

$node->safe_psql('postgres', q{CREATE DATABASE ascii TEMPLATE template0 ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'});
$node->safe_psql('ascii', 'CREATE EXTENSION es_store');
{
	local $ENV{PGCLIENTENCODING} = 'SQL_ASCII';
	my $key = "k\xff\xfe";
	my $out = $node->safe_psql('ascii', qq{
		SELECT count(*) FROM es_store.append_event('b', 'a', '$key', 0, 'T\xe9', '{"v": "\xe9\xff"}');
		SELECT count(*) FROM es_store.append_stream('s-\xff', NULL, ARRAY['T'], ARRAY['{}']::jsonb[]);
		SELECT es_store.save_checkpoint('cp-\xff', 1);
		SELECT aggregate_id = '$key' AND event_type = 'T\xe9' AND payload->>'v' = '\xe9\xff'
		FROM es_store.read_aggregate('b', 'a', '$key');
		SELECT count(*) FROM es_store.read_feed(0, 10);
		SELECT es_store.get_checkpoint('cp-\xff');
	});
	is($out, "1\n1\n\nt\n2\n1", 'a SQL_ASCII database stores and returns bytes that are not UTF-8');
}

# --- 3. The fuzz loop -------------------------------------------------------

sub pick { return $_[ int(rand(@_)) ] }
sub key_args { return join(', ', map { "'" . pick('ctx', '', 'x') . "'" } 1 .. 2) . ", '" . pick('a1', 'a2', 'a3', 'a4', '') . "'" }
sub stream_arg { return "'" . pick('s-1', 's-2', 'cart-1', 'x', '') . "'" }
sub version_arg { return pick('NULL', 'NULL', '0', '-1', '1', '2', '3', '5', '-2', '9223372036854775807') }
sub ids_arg
{
	return pick('NULL', 'NULL', q{ARRAY[md5('i1')::uuid]}, q{ARRAY[md5('i2')::uuid]}, q{ARRAY[gen_random_uuid()]},
		q{ARRAY[NULL]::uuid[]});
}
my @templates = (
	sub { 'SELECT count(*) FROM es_store.append(' . key_args() . ', ' . version_arg() . ", ARRAY['F'], ARRAY['{}']::jsonb[], event_ids => " . ids_arg() . ')' },
	sub { 'SELECT count(*) FROM es_store.append(' . key_args() . ', ' . version_arg() . ", ARRAY['F', 'G'], " . pick(q{ARRAY['{}', 'null']::jsonb[]}, q{ARRAY['{}']::jsonb[]}) . ')' },
	sub { 'SELECT count(*) FROM es_store.append_event(' . key_args() . ', ' . version_arg() . ", 'F', " . pick(q{'{}'}, 'NULL', q{'[1]'}) . ', event_id => ' . pick('NULL', q{md5('e1')::uuid}, q{md5('e2')::uuid}) . ')' },
	sub { "SELECT count(*) FROM es_store.append_at_version('ctx', 'explicit', '" . pick('v1', 'v2') . "', " . pick('1', '2', '3', '7', '0', '-1', 'NULL') . ", 'F', '{}')" },
	sub { 'SELECT count(*) FROM es_store.append_stream(' . stream_arg() . ', ' . version_arg() . ", ARRAY['F'], ARRAY['{}']::jsonb[])" },
	sub { 'SELECT count(*) FROM es_store.append_events(' . version_arg() . ", jsonb_build_array(jsonb_build_object('stream_name', " . stream_arg() . ", 'event_type', 'J', 'payload', 1)))" },
	sub { "SELECT count(*) FROM es_store.claim_segment('fz', '" . pick('c1', 'c2', 'c3') . "')" },
	sub { "SELECT es_store.save_segment_position('fz', '" . pick('c1', 'c2', 'c3') . "', " . pick('0', '1', '2', '3') . ', ' . pick('0', '5', '1', '-1') . ')' },
	sub { "SELECT es_store.release_segment('fz', '" . pick('c1', 'c2') . "', " . pick('0', '1') . ')' },
	sub { 'SELECT count(*) FROM es_store.append_aggregates(jsonb_build_array('
		  . "jsonb_build_object('stream_name', " . stream_arg() . ", 'expected_version', " . version_arg() . ", 'events', jsonb_build_array(jsonb_build_object('event_type', 'J', 'payload', 1))), "
		  . "jsonb_build_object('stream_name', " . stream_arg() . ", 'expected_version', " . version_arg() . ')))' },
	sub { 'SELECT count(*) FROM es_store.append_event_bytes(' . key_args() . ', ' . version_arg() . ", 'F', " . pick(q{'\x01'::bytea}, q{''::bytea}, 'NULL') . ')' },
	sub { 'SELECT count(*) FROM es_store.append_stream_bytes(' . stream_arg() . ', ' . version_arg() . ", ARRAY['F', 'G'], " . pick(q{ARRAY['\x01', '\x02']::bytea[]}, q{ARRAY['\x01']::bytea[]}) . ')' },
	sub { 'SELECT count(*) FROM es_store.read_aggregate(' . key_args() . ', ' . pick('NULL', '1', '-1', '2') . ', ' . pick('NULL', '3', '0') . ', ' . pick('NULL', '1', '0', '-1') . ')' },
	sub { 'SELECT count(*) FROM es_store.read_stream(' . stream_arg() . ')' },
	sub { 'SELECT es_store.aggregate_version(' . key_args() . ')' },
	sub { 'SELECT es_store.count_events(' . key_args() . ', ' . pick('NULL', '1', '2', '-1') . ')' },
	sub { 'SELECT count(*) FROM es_store.read_feed(' . pick('0', '3', '-1', 'NULL', 'es_store.last_position()') . ', ' . pick('1', '10', '0', 'NULL') . ', segment => ' . pick('0', '1', '2', '-1') . ', segment_count => ' . pick('1', '2', '3', '0') . ')' },
	sub { 'SELECT count(*) FROM es_store.read_feed(0, 100, event_types => ' . pick(q{ARRAY['F']}, q{'{}'::text[]}, 'NULL') . ', up_to_position => ' . pick('NULL', 'es_store.last_position()', '-1', '9223372036854775807') . ')' },
	sub { 'SELECT es_store.last_position() >= 0' },
	sub { "SELECT es_store.get_checkpoint('" . pick('p1', 'p2', '') . "')" },
	sub { "SELECT es_store.save_checkpoint('" . pick('p1', 'p2') . "', " . pick('1', '2', '5', '0', '-1', 'es_store.last_position()') . ', ' . pick('NULL', '0', '1', '2', '5') . ')' },
	sub { "SELECT es_store.reset_checkpoint('" . pick('p1', 'p2') . "', " . pick('NULL', '0', '3') . ')' },
	sub { 'SELECT count(*) FROM es_store.delete_aggregate(' . key_args() . ', ' . version_arg() . ')' },
	sub { 'SELECT count(*) FROM es_store.forget_aggregate(' . key_args() . ', ' . version_arg() . ', ' . pick('NULL', 'true', 'false') . ')' },
	sub { 'SELECT count(*) FROM es_store.set_stream_metadata(' . key_args() . ', ' . pick('NULL', '2', '0') . ', ' . pick('NULL', '1', '2', '0') . ', ' . pick('NULL', q{'1 hour'}, q{'-1 s'}) . ')' },
	sub { 'SELECT count(*) FROM es_store.purge(' . pick('NULL', '1', '3', '0') . ', ' . pick('NULL', 'now()') . ')' },
	sub { 'SELECT count(*) FROM es_store.aggregate_stats(' . key_args() . ')' },
);
my @fuzz;
my $in_xact = 0;
for my $i (1 .. $fuzz_calls)
{
	my $r = rand();
	if (!$in_xact && $r < 0.15) { push @fuzz, [ 'BEGIN', 'ctl' ]; $in_xact = 1; }
	elsif ($in_xact && $r < 0.05) { push @fuzz, [ 'SAVEPOINT f', 'ctl' ]; $in_xact = 2 if $in_xact == 1; }
	elsif ($in_xact == 2 && $r < 0.09) { push @fuzz, [ 'ROLLBACK TO SAVEPOINT f', 'ctl' ]; }
	elsif ($in_xact && $r < 0.13) { push @fuzz, [ pick('COMMIT', 'ROLLBACK'), 'end' ]; $in_xact = 0; }
	push @fuzz, [ $templates[ int(rand(@templates)) ]->(), 'call' ];
}
push @fuzz, [ 'COMMIT', 'end' ] if $in_xact;

my ($fuzz_states, $fuzz_broken) = run_fuzz(\@fuzz);
my %seen_states;
$seen_states{$_}++ for @$fuzz_states;
note('fuzz outcomes: ' . join(', ', map { "$_ x$seen_states{$_}" } sort keys %seen_states));
my @undocumented = grep { !$documented{$_} } sort keys %seen_states;
is(join(' ', @undocumented), '', "$fuzz_calls fuzz calls: every SQLSTATE is in the README's Errors table");
cmp_ok(scalar(keys %seen_states), '>=', 5, 'the fuzz loop reached successes and several kinds of error');
is($fuzz_broken, '', 'after every fuzz transaction the invariants held, and a rolled-back one left nothing');

is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $started,
	'no backend crashed (the server never restarted)');
unlike(slurp_file($node->logfile), qr/terminated by signal|TRAP:|was terminated/, 'the server log shows no crash');
check_log_invariants($node, 'postgres', 'explicit');

$node->stop;
done_testing();

# --- helpers ----------------------------------------------------------------

# Run each case in its own transaction, with the invariant view read before
# and after it.  Returns the SQLSTATE of each, and a description of every
# broken invariant or half-written failure ('' when none).
sub run_cases
{
	my ($cases) = @_;
	my $script = "\\set VERBOSITY terse\n";
	for my $i (0 .. $#$cases)
	{
		my (undef, $sql, undef, $after) = @{ $cases->[$i] };
		$script .= "SELECT 'B', * FROM inv;\n$sql;\n\\echo S $i :SQLSTATE\n";
		$script .= "$after;\n" if $after;
		$script .= "SELECT 'A', * FROM inv;\n";
	}
	my ($out, $err) = run_script($script);
	my (@results, @broken, $before);
	my $i;
	for my $line (split /\n/, $out)
	{
		if ($line =~ /^B\|(.*)$/) { $before = $1; }
		elsif ($line =~ /^S (\d+) (\w+)$/) { $i = $1; $results[$i] = [ $2 ]; }
		elsif ($line =~ /^A\|(.*)$/)
		{
			my $inv = $1;
			my ($events, $heads, $cps, $tags, $gaps, $bad_heads, $dups, $in_flight, $not_held) = split /\|/, $inv;
			push @broken, "$cases->[$i][0]: invariants $inv"
			  if $gaps || $bad_heads || $dups || $in_flight || $not_held ne 't';
			push @broken, "$cases->[$i][0]: failed but changed rows ($before -> $inv)"
			  if $results[$i][0] ne '00000' && join('|', (split /\|/, $inv)[0 .. 3]) ne join('|', (split /\|/, $before)[0 .. 3]);
		}
	}
	return (\@results, join("\n", @broken));
}

# Run the fuzz statements in one session (psql rolls a failed statement
# back to an implicit savepoint inside a transaction, as pgjdbc's autosave
# does).  After each call the invariants must hold; outside a transaction
# block, and after each COMMIT or ROLLBACK, no append may be in flight and
# the feed not held back; a ROLLBACK must leave the rows as they were
# before its BEGIN.  Returns every call's SQLSTATE and what broke.
sub run_fuzz
{
	my ($stmts) = @_;
	my $script = "\\set VERBOSITY terse\n\\set ON_ERROR_ROLLBACK on\n";
	my $in_xact = 0;
	for my $s (@$stmts)
	{
		my ($sql, $what) = @$s;
		if ($sql eq 'BEGIN') { $script .= "SELECT 'B', * FROM inv;\n"; $in_xact = 1; }
		$script .= "$sql;\n";
		$script .= "\\echo S :SQLSTATE\n" if $what eq 'call';
		if ($what eq 'end')
		{
			$script .= "SELECT '" . ($sql eq 'ROLLBACK' ? 'R' : 'O') . "', * FROM inv;\n";
			$in_xact = 0;
		}
		elsif ($what eq 'call')
		{
			$script .= "SELECT '" . ($in_xact ? 'I' : 'O') . "', * FROM inv;\n";
		}
	}
	my ($out, $err) = run_script($script);
	my (@states, @broken, $before);
	for my $line (split /\n/, $out)
	{
		if ($line =~ /^S (\w+)$/) { push @states, $1; next; }
		next unless $line =~ /^([BIOR])\|(.*)$/;
		my ($tag, $inv) = ($1, $2);
		my @v = split /\|/, $inv;
		if ($tag eq 'B') { $before = $inv; next; }
		my $at = 'after call ' . scalar(@states);
		push @broken, "$at: gaps, wrong heads or duplicate positions ($inv)"
		  if $v[4] || $v[5] || $v[6];
		push @broken, "$at: an append left in flight or the feed held back ($inv)"
		  if $tag ne 'I' && ($v[7] || $v[8] ne 't');
		push @broken, "$at: a rolled-back transaction left rows ($before -> $inv)"
		  if $tag eq 'R' && join('|', @v[0 .. 3]) ne join('|', (split /\|/, $before)[0 .. 3]);
	}
	my $calls = grep { $_->[1] eq 'call' } @$stmts;
	push @broken, "the fuzz script stopped after " . scalar(@states) . " of $calls calls: $err"
	  if @states != $calls;
	return (\@states, join("\n", @broken));
}

sub run_script
{
	my ($script) = @_;
	my $file = PostgreSQL::Test::Utils::tempdir() . '/script.sql';
	open my $fh, '>', $file or die;
	print $fh $script;
	close $fh;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-f', $file ], '>', \$out, '2>', \$err);
	return ($out, $err);
}
