# Backup: a store with many aggregates (batches, retried appends, explicit
# versions, stream names, JSON batches) and checkpoints of several roles is
# dumped with pg_dump in custom and in plain format, and each dump is
# restored into a fresh cluster.  Every row comes back (snapshots, stream
# metadata, tombstones and feed markers too); the next append to an
# existing and to a new aggregate works; new positions are above every
# restored one; a consumer continues from its checkpoint; a forget finds a
# restored marker by its key.
#
# Before 0.2.1 the identity sequence behind aggregate_heads.stream_id was
# not dumped, so after a restore every new aggregate failed with 23505 on
# aggregate_heads_pkey.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsStoreTest;

my $source = PostgreSQL::Test::Cluster->new('dump_source');
$source->init;
$source->start;
$source->safe_psql('postgres', 'CREATE DATABASE store');
$source->safe_psql('store', q{
	CREATE EXTENSION es_store;
	CREATE ROLE svc_orders IN ROLE es_store_reader;
	CREATE ROLE svc_billing IN ROLE es_store_writer;
	-- 40 aggregates: a batch each, then single appends with expected versions
	SELECT count(*) FROM generate_series(1, 40) a,
		LATERAL es_store.append('bank', 'account', 'acc-' || a, 0,
			ARRAY['Opened', 'Deposited'],
			ARRAY[jsonb_build_object('owner', a), jsonb_build_object('amount', a * 10)]::jsonb[],
			metadata => ARRAY[jsonb_build_object('by', 'test'), NULL]::jsonb[],
			correlation_id => 'corr-' || a);
	SELECT count(*) FROM generate_series(1, 40) a,
		LATERAL es_store.append_event('bank', 'account', 'acc-' || a, 2, 'Withdrawn',
			jsonb_build_object('amount', a), event_version => 2, trace_id => 't' || a);
	-- appends with caller-chosen ids, each retried once (the retry writes nothing)
	SELECT count(*) FROM generate_series(1, 10) a,
		LATERAL es_store.append('bank', 'transfer', 'tr-' || a, 0, ARRAY['Started', 'Done'],
			ARRAY['{}', '{}']::jsonb[],
			event_ids => ARRAY[md5('a' || a)::uuid, md5('b' || a)::uuid]);
	SELECT count(*) FROM generate_series(1, 10) a,
		LATERAL es_store.append('bank', 'transfer', 'tr-' || a, 0, ARRAY['Started', 'Done'],
			ARRAY['{}', '{}']::jsonb[],
			event_ids => ARRAY[md5('a' || a)::uuid, md5('b' || a)::uuid]);
	-- explicit versions, stream names, a JSON batch
	SELECT count(*) FROM generate_series(1, 5) v,
		LATERAL es_store.append_at_version('bank', 'ledger', 'l-1', v, 'Entry', jsonb_build_object('v', v));
	SELECT count(*) FROM generate_series(1, 5) s,
		LATERAL es_store.append_stream('cart-' || s, NULL, ARRAY['Added'], ARRAY['{"sku": "x"}']::jsonb[]);
	SELECT count(*) FROM es_store.append_events(0, jsonb_build_array(
		jsonb_build_object('stream_name', 'json-1', 'event_type', 'A', 'payload', 1),
		jsonb_build_object('stream_name', 'json-1', 'event_type', 'B', 'payload', NULL)));
	-- the lifecycle: a snapshot, stream metadata, a deleted aggregate (its
	-- marker and its row in es_store.markers), a forgotten one (its tombstone)
	SELECT count(*) FROM generate_series(1, 4) k,
		LATERAL es_store.append('bank', 'life', 'life-' || k, 0, ARRAY['A', 'B'], ARRAY['{}', '{}']::jsonb[]);
	SELECT saved FROM es_store.save_snapshot('bank', 'life', 'life-1', 2, '{"balance": 10}');
	SELECT metadata FROM es_store.set_stream_metadata('bank', 'life', 'life-2', metadata => '{"tier": "gold"}');
	SELECT deleted_version FROM es_store.delete_aggregate('bank', 'life', 'life-3');
	SELECT forgotten_version FROM es_store.forget_aggregate('bank', 'life', 'life-4');
	-- a rolled-back append burns positions and a stream id
	BEGIN;
	SELECT count(*) FROM es_store.append_event('bank', 'account', 'lost', 0, 'Lost', '{}');
	ROLLBACK;
});
# Checkpoints of three roles, one in the middle of the feed.
$source->safe_psql('store', q{
	SET ROLE svc_orders;
	SELECT es_store.save_checkpoint('orders-view', 50);
	RESET ROLE;
	SET ROLE svc_billing;
	SELECT es_store.save_checkpoint('billing-view', es_store.last_position());
	RESET ROLE;
	SELECT es_store.save_checkpoint('admin-view', 7);
});

my %dumped = table_digests($source, 'store');
my $tmp = PostgreSQL::Test::Utils::tempdir;
$source->command_ok([ 'pg_dumpall', '--globals-only', '-f', "$tmp/globals.sql",
	'-d', $source->connstr('postgres') ], 'pg_dumpall --globals-only');
$source->command_ok([ 'pg_dump', '-Fc', '-f', "$tmp/store.dump", '-d', $source->connstr('store') ],
	'pg_dump -Fc');
$source->command_ok([ 'pg_dump', '-Fp', '-f', "$tmp/store.sql", '-d', $source->connstr('store') ],
	'pg_dump -Fp');

my $target = PostgreSQL::Test::Cluster->new('dump_target');
$target->init;
$target->start;
# the roles first, as pg_dumpall -g gives them (the cluster's own superuser
# exists already)
# (its own superuser exists already: that one statement fails)
$target->command_ok([ 'psql', '-X', '-q', '-f', "$tmp/globals.sql", '-d', $target->connstr('postgres') ],
	'the roles are restored');

$target->safe_psql('postgres', 'CREATE DATABASE from_custom');
$target->command_ok([ 'pg_restore', '--exit-on-error', '-d', $target->connstr('from_custom'),
	"$tmp/store.dump" ], 'pg_restore of the custom-format dump');
check_restored('from_custom');

$target->safe_psql('postgres', 'CREATE DATABASE from_plain');
$target->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', "$tmp/store.sql",
	'-d', $target->connstr('from_plain') ], 'psql restore of the plain dump');
check_restored('from_plain');

sub check_restored
{
	my ($db) = @_;
	my %restored = table_digests($target, $db);

	for my $t (sort keys %dumped)
	{
		is($restored{$t}, $dumped{$t}, "$db: every row of $t is back");
	}
	my $max_position = $target->safe_psql($db, 'SELECT max(global_position) FROM es_store.events');
	my $drawn = $target->safe_psql($db, 'SELECT last_value FROM es_store.global_position_seq');
	is($drawn, $source->safe_psql('store', 'SELECT last_value FROM es_store.global_position_seq'),
		"$db: the position sequence is restored, burnt positions included");

	is($target->safe_psql($db,
			q{SELECT aggregate_version FROM es_store.append_event('bank', 'account', 'acc-1', 3, 'Closed', '{}')}),
		'4', "$db: the next append to an existing aggregate works");
	my ($ret, $out, $err) = $target->psql($db,
		q{SELECT aggregate_version FROM es_store.append_event('bank', 'account', 'acc-new', 0, 'Opened', '{}')});
	is($out, '1', "$db: a new aggregate can be created") or diag($err);
	is($target->safe_psql($db,
			q{SELECT count(*) FROM es_store.append_stream('cart-new', NULL, ARRAY['A', 'B'], ARRAY['{}', '{}']::jsonb[])}),
		'2', "$db: and another, by stream name");
	is($target->safe_psql($db,
			q{SELECT count(*) FROM generate_series(1, 5) a, LATERAL es_store.append('bank', 'transfer', 'tr-' || a, 0,
				ARRAY['Started', 'Done'], ARRAY['{}', '{}']::jsonb[],
				event_ids => ARRAY[md5('a' || a)::uuid, md5('b' || a)::uuid]) r
			  WHERE r.aggregate_version <= 2}),
		'10', "$db: a retry of an append made before the dump still returns the original result");
	cmp_ok($target->safe_psql($db, q{SELECT min(global_position) FROM es_store.events e
			JOIN es_store.aggregate_heads h USING (stream_id) WHERE h.aggregate_id IN ('acc-new', 'cart-new')}),
		'>', $drawn, "$db: new positions are above every position drawn before the dump");

	# The consumers continue from their checkpoints, as their roles.
	my $feed_after = sub {
		my ($role, $cp_name) = @_;
		my $expected = $target->safe_psql($db, qq{
			SELECT count(*) || ',' || min(global_position) FROM es_store.events
			WHERE global_position > es_store.get_checkpoint('$cp_name')
			  AND stream_id NOT IN (SELECT stream_id FROM es_store.aggregate_heads
									WHERE deleted_at IS NOT NULL)});
		my $got = $target->safe_psql($db, qq{
			SET ROLE $role;
			SELECT count(*) || ',' || min(global_position)
			FROM es_store.read_feed(es_store.get_checkpoint('$cp_name'), 10000)});
		return $got eq $expected ? 't' : "read $got, expected $expected";
	};
	is($feed_after->('svc_orders', 'orders-view'), 't',
		"$db: a consumer continues from its checkpoint in the middle of the feed");
	is($feed_after->('svc_billing', 'billing-view'), 't',
		"$db: a consumer that had caught up reads only what was appended after the restore");
	($ret, $out, $err) = $target->psql($db,
		q{SET ROLE svc_billing; SELECT es_store.get_checkpoint('orders-view')});
	like($err, qr/permission denied for checkpoint "orders-view"/,
		"$db: checkpoint owners survive the restore");

	# The lifecycle survives: the snapshot, the metadata, the tombstone, and
	# the deleted aggregate's marker, which a forget still finds by its key.
	is($target->safe_psql($db, q{SELECT aggregate_version || ':' || (payload->>'balance')
			FROM es_store.load_snapshot('bank', 'life', 'life-1')}),
		'2:10', "$db: the snapshot is back");
	is($target->safe_psql($db, q{SELECT metadata->>'tier' FROM es_store.get_stream_metadata('bank', 'life', 'life-2')}),
		'gold', "$db: the stream metadata is back");
	($ret, $out, $err) = $target->psql($db,
		q{SELECT aggregate_version FROM es_store.append_event('bank', 'life', 'life-4', NULL, 'X', '{}')});
	like($err, qr/stream "bank\/life\/life-4" was forgotten/, "$db: the tombstone still refuses appends");
	is($target->safe_psql($db, q{
			SELECT count(*) FROM es_store.read_aggregate('bank', 'life', 'life-3');
			SELECT forgotten_version FROM es_store.forget_aggregate('bank', 'life', 'life-3', 0, false);
			SELECT string_agg(event_type, ',' ORDER BY global_position) FROM es_store.events
			WHERE stream_id = 0 AND aggregate_id = 'life-3';
			SELECT count(*) FROM es_store.markers WHERE aggregate_id = 'life-3'}),
		"0\n2\n\$forgotten\n1", "$db: a forget after the restore finds the deleted aggregate's marker by its key");
	check_log_invariants($target, $db);
	return;
}

# An md5 of every row of each of es_store's tables, in key order.
sub table_digests
{
	my ($node, $db) = @_;
	my %d;
	for my $q (
		[ 'events',          'global_position' ],
		[ 'aggregate_heads', 'stream_id' ],
		[ 'checkpoints',     'name' ],
		[ 'snapshots',       'aggregate_id' ],
		[ 'markers',         'global_position' ])
	{
		my ($t, $key) = @$q;
		$d{$t} = $node->safe_psql($db,
			"SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY $key), '')) FROM es_store.$t t");
	}
	$d{stream_id_seq} = $node->safe_psql($db,
		'SELECT last_value FROM es_store.aggregate_heads_stream_id_seq');
	return %d;
}

$source->stop;
$target->stop;
done_testing();
