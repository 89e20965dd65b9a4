# Crash recovery: kill the server (immediate stop) while appends are in
# flight, restart it, and check that every committed event is there, that
# no in-flight event is, that a prepared append survives the crash and can
# still be committed, and that versions and positions carry on correctly.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsStoreTest;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', 'max_prepared_transactions = 5');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION es_store');

# Committed work: three aggregates of ten events each.
$node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 3) a, generate_series(1, 10) v,
		LATERAL es_store.append_event('crash', 'acct', 'a-' || a, v - 1, 'E',
			jsonb_build_object('v', v));
});

# In flight at the crash: an append to an existing aggregate, the creation
# of a new one, and a prepared (two-phase) append.
my $s1 = $node->background_psql('postgres');
$s1->query_safe('BEGIN');
$s1->query_safe(q{SELECT count(*) FROM es_store.append('crash', 'acct', 'a-1', 10,
	ARRAY['L1', 'L2'], ARRAY['{}', '{}']::jsonb[])});
my $s2 = $node->background_psql('postgres');
$s2->query_safe('BEGIN');
$s2->query_safe(q{SELECT count(*) FROM es_store.append_event('crash', 'acct', 'new', 0, 'L', '{}')});
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT count(*) FROM es_store.append_event('crash', 'acct', 'a-3', 10, 'Prepared', '{}');
	PREPARE TRANSACTION 'es_p1';
});
my $max_before = $node->safe_psql('postgres', 'SELECT last_value FROM es_store.global_position_seq');

$node->stop('immediate');
eval { $s1->quit };
eval { $s2->quit };
$node->start;

is($node->safe_psql('postgres', 'SELECT count(*) FROM es_store.events'),
	'30', 'every committed event survived, no in-flight one did');
is($node->safe_psql('postgres', q{SELECT string_agg(aggregate_id || '=' || version, ',' ORDER BY aggregate_id)
	FROM es_store.aggregate_heads}),
	'a-1=10,a-2=10,a-3=10', 'heads are at their committed versions; the uncommitted creation is gone');
is($node->safe_psql('postgres', 'SELECT count(*) FROM es_store.read_feed(0, 1000)'),
	'30', 'the feed returns every committed event');

# New appends continue after the crash, above every position handed out.
my $after = $node->safe_psql('postgres', q{
	SELECT global_position FROM es_store.append_event('crash', 'acct', 'a-1', 10, 'After', '{}')});
cmp_ok($after, '>', $max_before, 'positions after the restart are above all positions drawn before');
is($node->safe_psql('postgres', q{SELECT aggregate_version FROM es_store.append_event('crash', 'acct', 'new', 0, 'After', '{}')}),
	'1', 'the aggregate whose creation was lost can be created');

# The prepared append survived: it still holds its head row, and commits.
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'es_p1'}),
	'1', 'the prepared append survived the crash');
my ($ret, $out, $err) = $node->psql('postgres', q{
	SET lock_timeout = '100ms';
	SELECT count(*) FROM es_store.append_event('crash', 'acct', 'a-3', 10, 'Racer', '{}')});
like($err, qr/lock timeout/, 'the prepared append still holds its aggregate');
$node->safe_psql('postgres', q{COMMIT PREPARED 'es_p1'});
is($node->safe_psql('postgres', q{SELECT string_agg(event_type, ',' ORDER BY aggregate_version)
	FROM es_store.read_aggregate('crash', 'acct', 'a-3', 10)}),
	'E,Prepared', 'the prepared event is stored at version 11 after COMMIT PREPARED');

# Invariants over the whole log.
check_log_invariants($node);

$node->stop;
done_testing();
