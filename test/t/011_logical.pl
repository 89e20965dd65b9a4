# Logical decoding: appends through every path (the direct head advance and
# insert, a head row created by speculative insertion, the SQL statements
# under REPEATABLE READ, caller-supplied ids, explicit versions, stream
# names, JSON batches, a prepared append) appear in test_decoding's output
# complete and in commit order, and nothing of a rolled-back append does;
# and a publication of es_store's tables keeps a subscriber's copy equal to
# the publisher's.  Outbox and change-data-capture users depend on both.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pub = PostgreSQL::Test::Cluster->new('publisher');
$pub->init(allows_streaming => 'logical');
$pub->append_conf('postgresql.conf', 'max_prepared_transactions = 5');
$pub->start;
$pub->safe_psql('postgres', q{
	CREATE EXTENSION es_store;
	SELECT count(*) FROM es_store.append_event('cdc', 'acct', 'seed', 0, 'Seed', '{}');
	SELECT 'init' FROM pg_create_logical_replication_slot('es_slot', 'test_decoding');
});

# Transactions that commit out of position order: the open one draws the
# lower positions and commits last.
my $open = $pub->background_psql('postgres');
$open->query_safe('BEGIN');
$open->query_safe(q{SELECT count(*) FROM es_store.append('cdc', 'acct', 'late', 0,
	ARRAY['L1', 'L2'], ARRAY['{"n": 1}', '{"n": 2}']::jsonb[])});
my @steps = (
	# direct path: an existing head advanced, a new head created
	q{SELECT count(*) FROM es_store.append_event('cdc', 'acct', 'seed', 1, 'Direct', '{"x": 1}')},
	q{SELECT count(*) FROM es_store.append_event('cdc', 'acct', 'new', 0, 'Created', '{}')},
	# statements: REPEATABLE READ, caller-supplied ids, explicit version
	q{BEGIN ISOLATION LEVEL REPEATABLE READ;
	  SELECT count(*) FROM es_store.append('cdc', 'acct', 'rr', NULL, ARRAY['R1', 'R2'], ARRAY['{}', '{}']::jsonb[]);
	  COMMIT},
	q{SELECT count(*) FROM es_store.append('cdc', 'acct', 'ids', 0, ARRAY['I1', 'I2'], ARRAY['{}', '{}']::jsonb[],
	  event_ids => ARRAY['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002']::uuid[])},
	q{SELECT count(*) FROM es_store.append_at_version('cdc', 'acct', 'at', 1, 'At', '{}')},
	q{SELECT count(*) FROM es_store.append_stream('stream-1', NULL, ARRAY['S'], ARRAY['{}']::jsonb[])},
	q{SELECT count(*) FROM es_store.append_events(NULL, jsonb_build_array(
	  jsonb_build_object('stream_name', 'json-1', 'event_type', 'J', 'payload', jsonb_build_object('k', 'v'))))},
	# a rolled-back append, and one rolled back to a savepoint
	q{BEGIN; SELECT count(*) FROM es_store.append_event('cdc', 'acct', 'gone', NULL, 'Gone', '{}'); ROLLBACK},
	q{BEGIN; SAVEPOINT s; SELECT count(*) FROM es_store.append_event('cdc', 'acct', 'gone', NULL, 'Gone', '{}');
	  ROLLBACK TO s; SELECT count(*) FROM es_store.append_event('cdc', 'acct', 'kept', NULL, 'Kept', '{}'); COMMIT},
	# a prepared append, committed later
	q{BEGIN; SELECT count(*) FROM es_store.append_event('cdc', 'acct', 'tpc', NULL, 'Prepared', '{}');
	  PREPARE TRANSACTION 'es_cdc'},
);
$pub->safe_psql('postgres', $_) for @steps;
$open->query_safe('COMMIT');
$pub->safe_psql('postgres', q{COMMIT PREPARED 'es_cdc'});
$open->quit;

# The decoded transactions, in commit order, each as the positions it inserted.
my $changes = $pub->safe_psql('postgres', q{
	SELECT data FROM pg_logical_slot_get_changes('es_slot', NULL, NULL,
		'include-xids', '0', 'skip-empty-xacts', '1')});
my (@xacts, $current);
for my $line (split /\n/, $changes)
{
	if ($line eq 'BEGIN') { $current = []; next; }
	if ($line eq 'COMMIT') { push @xacts, $current; next; }
	push @$current, $1 if $line =~ /^table es_store\.events: INSERT: global_position\[bigint\]:(\d+) /;
}
my @order = map { join('+', @$_) } grep { @$_ } @xacts;
my $stored = $pub->safe_psql('postgres', q{
	SELECT string_agg(global_position::text, ',' ORDER BY global_position) FROM es_store.events
	WHERE global_position > 1});
is(join(',', sort { $a <=> $b } map { @$_ } @xacts), $stored,
	'every stored event is decoded once, and nothing else (no rolled-back append)');
# seed 1; the open transaction 2+3; then each step in turn (13 and 14 are
# burnt by the rollbacks), the open one's commit, the COMMIT PREPARED
is(join(',', @order), '4,5,6+7,8+9,10,11,12,15,2+3,16',
	'transactions are decoded in commit order: the one holding the lowest positions after the others, the prepared one last');
my ($prepared_position) = $pub->safe_psql('postgres',
	q{SELECT global_position FROM es_store.events WHERE event_type = 'Prepared'});
is($order[-1], $prepared_position, 'the prepared append is decoded at COMMIT PREPARED');

# Each decoded insert is complete: every column of the event, as stored.
my %decoded;
for my $line (split /\n/, $changes)
{
	next unless $line =~ /^table es_store\.events: INSERT: (.*)$/;
	my $row = $1;
	my ($pos) = $row =~ /global_position\[bigint\]:(\d+)/;
	$decoded{$pos} = $row;
}
my $all_complete = 1;
for my $row (split /\n/, $pub->safe_psql('postgres', q{
	SELECT global_position || '|' || event_id || '|' || event_type || '|' || payload::text || '|' || aggregate_version
	FROM es_store.events WHERE global_position > 1 ORDER BY global_position}))
{
	my ($pos, $id, $type, $payload, $version) = split /\|/, $row;
	my $d = $decoded{$pos} // '';
	unless ($d =~ /event_id\[uuid\]:'\Q$id\E'/ && $d =~ /event_type\[text\]:'\Q$type\E'/
		&& $d =~ /aggregate_version\[bigint\]:\Q$version\E / && $d =~ /created_at\[timestamp with time zone\]:'/
		&& $d =~ /payload\[jsonb\]:'\Q$payload\E'/)
	{
		$all_complete = 0;
		diag("position $pos: $d");
	}
}
ok($all_complete, 'every decoded insert carries the event as stored');
like($changes, qr/table es_store\.aggregate_heads: INSERT: stream_id\[bigint\]:\d+ bounded_context\[text\]:'cdc' aggregate_type\[text\]:'acct' aggregate_id\[text\]:'new'/,
	'a head row created by speculative insertion is decoded as an insert');
like($changes, qr/table es_store\.aggregate_heads: UPDATE: .*aggregate_id\[text\]:'seed' version\[bigint\]:2 /,
	'a head row advanced directly is decoded as an update');

# A subscriber keeps a copy of the event log through a publication.
my $sub = PostgreSQL::Test::Cluster->new('subscriber');
$sub->init;
$sub->start;
$sub->safe_psql('postgres', 'CREATE EXTENSION es_store');
$pub->safe_psql('postgres', q{
	CREATE PUBLICATION es_pub FOR TABLE es_store.events, es_store.aggregate_heads, es_store.checkpoints});
my $connstr = $pub->connstr('postgres');
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION es_sub CONNECTION \$\$$connstr\$\$ PUBLICATION es_pub");
$sub->wait_for_subscription_sync($pub, 'es_sub');
$pub->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 20) i,
		LATERAL es_store.append_event('cdc', 'acct', 'more-' || (i % 4), NULL, 'More', jsonb_build_object('i', i));
	SELECT es_store.save_checkpoint('cdc-view', es_store.last_position());
});
$pub->wait_for_catchup('es_sub');
for my $t ([ 'events', 'global_position' ], [ 'aggregate_heads', 'stream_id' ], [ 'checkpoints', 'name' ])
{
	my ($table, $key) = @$t;
	my $q = "SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY $key)) FROM es_store.$table t";
	is($sub->safe_psql('postgres', $q), $pub->safe_psql('postgres', $q),
		"the subscriber's es_store.$table equals the publisher's");
}
is($sub->safe_psql('postgres', q{SELECT count(*) FROM es_store.read_aggregate('cdc', 'acct', 'more-1')}),
	'5', 'the subscriber reads aggregates from its copy');

$sub->stop;
$pub->stop;
done_testing();
