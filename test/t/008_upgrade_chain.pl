# Upgrades with data: install the oldest released version, put data in,
# update step by step to the newest (ALTER EXTENSION es_store UPDATE TO
# each version in turn), writing more data at each step, and show that the
# data, every function, and a session that stayed connected through all the
# updates keep working.  The versions are those the installed scripts offer.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsStoreTest;

my $node = PostgreSQL::Test::Cluster->new('upgrade_chain');
$node->init;
$node->append_conf('postgresql.conf', 'max_prepared_transactions = 5');
$node->start;

my @versions = split /\n/, $node->safe_psql('postgres', q{
	SELECT version FROM pg_available_extension_versions WHERE name = 'es_store'
	ORDER BY string_to_array(version, '.')::int[]});
cmp_ok(scalar(@versions), '>=', 3, 'at least three released versions: ' . join(', ', @versions));
my $oldest = $versions[0];
$node->safe_psql('postgres', "CREATE EXTENSION es_store VERSION '$oldest'");
# the SQLSTATE a statement ends with ('00000': none), for the functions
# that refuse on a single node
$node->safe_psql('postgres', q{
	CREATE FUNCTION probe_sqlstate(sql text) RETURNS text LANGUAGE plpgsql AS $$
	BEGIN EXECUTE sql; RETURN '00000';
	EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$});

# A session opened before the first update, kept through all of them (as a
# connection pool keeps its sessions).
my $pooled = $node->background_psql('postgres');

# What each step writes and expects back: per step, a few aggregates of
# several events, a stream, and a checkpoint.
my $events_written = 0;
sub write_step
{
	my ($session, $tag) = @_;
	$session->query_safe(qq{
		SELECT count(*) FROM generate_series(1, 5) a,
			LATERAL es_store.append('up', 'acct', '$tag-' || a, 0, ARRAY['A', 'B'],
				ARRAY['{}', '{}']::jsonb[])});
	$session->query_safe(qq{
		SELECT count(*) FROM generate_series(1, 5) a,
			LATERAL es_store.append_event('up', 'acct', '$tag-' || a, 2, 'C', '{}')});
	$session->query_safe(qq{SELECT count(*) FROM es_store.append_stream('$tag-stream', NULL,
		ARRAY['S'], ARRAY['{}']::jsonb[])});
	$session->query_safe(qq{SELECT count(*) FROM es_store.append_at_version('up', 'acct', '$tag-x', 1, 'X', '{}')});
	$session->query_safe(qq{SELECT es_store.save_checkpoint('$tag-cp', es_store.last_position())});
	$events_written += 5 * 2 + 5 + 1 + 1;
	return;
}

# Every function of the given version, called from the long-lived session.
sub probe
{
	my ($version, $tag) = @_;
	# [function, call, expected], in the order they run
	my @calls = (
		[ 'append', q{SELECT count(*) FROM es_store.append('up', 'probe', '%t', NULL, ARRAY['P'], ARRAY['{}']::jsonb[])}, 1 ],
		[ 'append_event', q{SELECT aggregate_version FROM es_store.append_event('up', 'probe', '%t', -1, 'P', '{}')}, 2 ],
		[ 'append_at_version', q{SELECT aggregate_version FROM es_store.append_at_version('up', 'probe', '%t', 3, 'P', '{}')}, 3 ],
		[ 'append_stream', q{SELECT count(*) FROM es_store.append_stream('probe-%t', NULL, ARRAY['P'], ARRAY['{}']::jsonb[])}, 1 ],
		[ 'append_events', q{SELECT count(*) FROM es_store.append_events(NULL, jsonb_build_array(jsonb_build_object('stream_name', 'probe-%t', 'event_type', 'P', 'payload', 1)))}, 1 ],
		[ 'stream_key', q{SELECT aggregate_type || '/' || aggregate_id FROM es_store.stream_key('probe-%t')}, 'probe/probe-%t' ],
		[ 'read_aggregate', q{SELECT string_agg(aggregate_version::text, ',') FROM es_store.read_aggregate('up', 'probe', '%t')}, '1,2,3' ],
		[ 'read_stream', q{SELECT count(*) FROM es_store.read_stream('probe-%t')}, 2 ],
		[ 'aggregate_version', q{SELECT es_store.aggregate_version('up', 'probe', '%t')}, 3 ],
		[ 'stream_version', q{SELECT es_store.stream_version('probe-%t')}, 2 ],
		[ 'aggregate_exists', q{SELECT es_store.aggregate_exists('up', 'probe', '%t')}, 't' ],
		[ 'count_events', q{SELECT es_store.count_events('up', 'probe', '%t', 2)}, 2 ],
		[ 'last_position', q{SELECT es_store.last_position() = (SELECT max(global_position) FROM es_store.read_feed(0, 100000))}, 't' ],
	);
	if (version_cmp($version, '0.2.0') >= 0)
	{
		push @calls,
		  [ 'read_feed', q{SELECT count(*) FROM es_store.read_feed(0, 100000, aggregate_types => ARRAY['probe'], segment => 0, segment_count => 1, up_to_position => es_store.last_position()) WHERE aggregate_id = '%t'}, 3 ],
		  [ 'in_flight_appends', q{SELECT count(*) FROM es_store.in_flight_appends()}, 0 ],
		  [ 'save_checkpoint', q{SELECT count(*) FROM (SELECT es_store.save_checkpoint('%t-cp', 1, expected_position => 0)) s}, 1 ];
	}
	else
	{
		push @calls,
		  [ 'read_feed', q{SELECT count(*) FROM es_store.read_feed(0, 100000) WHERE aggregate_id = '%t'}, 3 ],
		  [ 'save_checkpoint', q{SELECT count(*) FROM (SELECT es_store.save_checkpoint('%t-cp', 1)) s}, 1 ];
	}
	push @calls, [ 'get_checkpoint', q{SELECT es_store.get_checkpoint('%t-cp')}, 1 ];
	push @calls, [ 'reset_checkpoint', q{SELECT es_store.reset_checkpoint('%t-cp', 0)}, 1 ]
	  if version_cmp($version, '0.2.1') >= 0;
	if (version_cmp($version, '0.3.0') >= 0)
	{
		# bytea payloads, in an aggregate of their own
		push @calls,
		  [ 'append_aggregates', q{SELECT string_agg(aggregate_id || ':' || aggregate_version, ',') FROM es_store.append_aggregates(jsonb_build_array(jsonb_build_object('stream_name', 'probe-multi-%t', 'expected_version', 0, 'events', jsonb_build_array(jsonb_build_object('event_type', 'P', 'payload', 1))), jsonb_build_object('stream_name', 'probe-%t', 'expected_version', 2)))}, 'probe-multi-%t:1,probe-%t:2' ],
		  [ 'append_bytes', q{SELECT count(*) FROM es_store.append_bytes('up', 'probe-bytes', '%t', 0, ARRAY['P'], ARRAY['\\x01']::bytea[])}, 1 ],
		  [ 'append_event_bytes', q{SELECT aggregate_version FROM es_store.append_event_bytes('up', 'probe-bytes', '%t', 1, 'P', '\\x02')}, 2 ],
		  [ 'append_at_version_bytes', q{SELECT aggregate_version FROM es_store.append_at_version_bytes('up', 'probe-bytes', '%t', 3, 'P', '\\x03')}, 3 ],
		  [ 'append_stream_bytes', q{SELECT count(*) FROM es_store.append_stream_bytes('probe-bytes-%t', NULL, ARRAY['P'], ARRAY['\\x04']::bytea[])}, 1 ],
		  [ 'payload_bytes', q{SELECT string_agg(encode(payload_bytes, 'hex'), ',' ORDER BY aggregate_version) FROM es_store.read_aggregate('up', 'probe-bytes', '%t')}, '01,02,03' ],
		  # snapshots
		  [ 'save_snapshot', q{SELECT saved FROM es_store.save_snapshot('up', 'probe-bytes', '%t', 2, '{"s": 2}')}, 't' ],
		  [ 'save_snapshot_bytes', q{SELECT saved::text || stored_version FROM es_store.save_snapshot_bytes('up', 'probe-bytes', '%t', 1, '\\x01')}, 'false2' ],
		  [ 'load_snapshot', q{SELECT payload->>'s' FROM es_store.load_snapshot('up', 'probe-bytes', '%t')}, '2' ],
		  [ 'load_aggregate', q{SELECT string_agg(aggregate_version::text || coalesce('s' || snapshot_version, ''), ',') FROM es_store.load_aggregate('up', 'probe-bytes', '%t')}, '2s1,3' ],
		  [ 'delete_snapshot', q{SELECT es_store.delete_snapshot('up', 'probe-bytes', '%t')}, 't' ],
		  [ 'read_aggregate_backward', q{SELECT string_agg(aggregate_version::text, ',') FROM es_store.read_aggregate_backward('up', 'probe-bytes', '%t', max_count => 2)}, '3,2' ],
		  [ 'read_event', q{SELECT r.aggregate_version FROM es_store.read_aggregate('up', 'probe-bytes', '%t', 1, 1) a, LATERAL es_store.read_event(a.event_id) r}, 1 ],
		  # retention, stats, delete, purge, forget
		  [ 'set_stream_metadata', q{SELECT max_count FROM es_store.set_stream_metadata('up', 'probe-bytes', '%t', max_count => 2)}, 2 ],
		  [ 'get_stream_metadata', q{SELECT max_count FROM es_store.get_stream_metadata('up', 'probe-bytes', '%t')}, 2 ],
		  [ 'aggregate_stats', q{SELECT event_count || '/' || current_version FROM es_store.aggregate_stats('up', 'probe-bytes', '%t')}, '2/3' ],
		  [ 'delete_aggregate', q{SELECT deleted_version FROM es_store.delete_aggregate('up', 'probe-bytes', '%t', 3)}, 3 ],
		  [ 'purge', q{SELECT events_removed >= 3 FROM es_store.purge(100000)}, 't' ],
		  [ 'forget_aggregate', q{SELECT forgotten_version FROM es_store.forget_aggregate('up', 'probe-bytes', '%t', keep_tombstone => false)}, 3 ],
		  [ 'store_stats', q{SELECT total_bytes > 0 AND safe_position > 0 FROM es_store.store_stats()}, 't' ],
		  # consumer groups
		  [ 'create_consumer_group', q{SELECT count(*) FROM (SELECT es_store.create_consumer_group('%t-g', 2)) s}, 1 ],
		  [ 'claim_segment', q{SELECT segment FROM es_store.claim_segment('%t-g', 'c')}, 0 ],
		  [ 'renew_lease', q{SELECT es_store.renew_lease('%t-g', 'c', 0) > now()}, 't' ],
		  [ 'save_segment_position', q{SELECT count(*) FROM (SELECT es_store.save_segment_position('%t-g', 'c', 0, 1)) s}, 1 ],
		  [ 'park_event', q{SELECT count(*) FROM (SELECT es_store.park_event('%t-g', 'c', 0, 1, 'e')) s}, 1 ],
		  [ 'parked_events', q{SELECT error FROM es_store.parked_events('%t-g')}, 'e' ],
		  [ 'unpark_event', q{SELECT es_store.unpark_event('%t-g', 1)}, 't' ],
		  [ 'release_segment', q{SELECT es_store.release_segment('%t-g', 'c', 0)}, 't' ],
		  [ 'drop_consumer_group', q{SELECT es_store.drop_consumer_group('%t-g')}, 't' ];
	}
	if (version_cmp($version, '0.4.0') >= 0)
	{
		# tags, queries over them, and appends with a condition
		push @calls,
		  [ 'append_if', q{SELECT count(*) FROM es_store.append_if(jsonb_build_array(jsonb_build_object('event_type', 'Q', 'payload', 1, 'tags', jsonb_build_array('probe:%t'))), jsonb_build_object('items', jsonb_build_array(jsonb_build_object('tags', jsonb_build_array('probe:%t')))), 0)}, 1 ],
		  [ 'read_query', q{SELECT string_agg(event_type || ':' || array_to_string(tags, ','), ';') FROM es_store.read_query(jsonb_build_object('items', jsonb_build_array(jsonb_build_object('tags', jsonb_build_array('probe:%t')))))}, 'Q:probe:%t' ],
		  [ 'read_query_position', q{SELECT es_store.read_query_position() FROM (SELECT count(*) FROM es_store.read_query('{}', up_to_position => 1)) s}, 1 ],
		  # position spaces (one on a single node) and the Citus calls,
		  # which refuse here
		  [ 'position_spaces', q{SELECT group_id || ':' || first_position || ':' || (safe_position = es_store.last_position()) FROM es_store.position_spaces()}, '0:1:true' ],
		  [ 'oldest_unread_at', q{SELECT es_store.oldest_unread_at(0, es_store.last_position()) IS NOT NULL}, 't' ],
		  [ 'citus_node_feed_page', q{SELECT probe_sqlstate('SELECT count(*) FROM es_store.citus_node_feed_page(''{1,2}'', 0, 10, NULL, NULL, NULL, 0, 1, 10)')}, '0A000' ],
		  [ 'citus_node_feed_state', q{SELECT group_id::text || coalesce(safe_position::text, '') || coalesce(lowest_held::text, '') FROM es_store.citus_node_feed_state()}, '-1' ],
		  [ 'citus_claim_position_spaces', q{SELECT probe_sqlstate('SELECT es_store.citus_claim_position_spaces()')}, '0A000' ],
		  [ 'citus_distribute', q{SELECT probe_sqlstate('SELECT es_store.citus_distribute()')}, '0A000' ],
		  [ 'citus_claim_local_position_space', q{SELECT probe_sqlstate('SELECT es_store.citus_claim_local_position_space()')}, '0A000' ];
	}

	# every function the installed version has is probed
	my %probed = map { $_->[0] => 1 } @calls;
	my @installed = split /\n/, $node->safe_psql('postgres', q{
		SELECT DISTINCT proname FROM pg_proc
		WHERE pronamespace = 'es_store'::regnamespace AND prorettype <> 'trigger'::regtype
		ORDER BY 1});
	my @missing = grep { !$probed{$_} } @installed;
	is(join(',', @missing), '', "$version: the probe calls every installed function");
	for my $c (@calls)
	{
		my ($f, $sql, $want) = @$c;
		$sql =~ s/%t/$tag/g;
		$want =~ s/%t/$tag/g;
		my $got = eval { $pooled->query_safe($sql) };
		is($got, $want, "$version: $f works in the session opened before the updates")
		  or diag($@);
	}
	return;
}

sub version_cmp
{
	my ($a, $b) = @_;
	my @a = split /\./, $a;
	my @b = split /\./, $b;
	for my $i (0 .. 2)
	{
		return $a[$i] <=> $b[$i] if $a[$i] != $b[$i];
	}
	return 0;
}

write_step($pooled, "v$oldest");
probe($oldest, "p$oldest");
for my $v (@versions[ 1 .. $#versions ])
{
	$node->safe_psql('postgres', "ALTER EXTENSION es_store UPDATE TO '$v'");
	is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'es_store'}),
		$v, "updated to $v");
	write_step($pooled, "v$v");
	probe($v, "p$v");
	# a new session sees the same
	my $fresh = $node->background_psql('postgres');
	write_step($fresh, "n$v");
	$fresh->quit;
}

# All the data written at every step is there, in order.
for my $v (@versions)
{
	is($node->safe_psql('postgres', qq{
		SELECT string_agg(aggregate_version::text || event_type, ',' ORDER BY aggregate_version)
		FROM es_store.read_aggregate('up', 'acct', 'v$v-3')}),
		'1A,2B,3C', "the events written under $v are intact");
	cmp_ok($node->safe_psql('postgres', "SELECT es_store.get_checkpoint('v$v-cp')"),
		'>', 0, "the checkpoint saved under $v is intact");
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM es_store.events e
	JOIN es_store.aggregate_heads h USING (stream_id)
	WHERE h.aggregate_type = 'acct' OR (h.bounded_context = '' AND h.aggregate_type <> 'probe')}),
	$events_written, "every event written at every step is stored ($events_written)");
is($node->safe_psql('postgres', q{SELECT count(*) FROM es_store.aggregate_heads WHERE key_hash IS NULL}),
	'0', 'every head has its key hash');
check_log_invariants($node);

$pooled->quit;
$node->stop;
done_testing();
