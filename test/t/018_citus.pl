# es_store beside Citus (issue 16, first steps): in a backend that has both
# libraries loaded, es_store keeps to one relcache callback (PostgreSQL has
# room for ten per backend, Citus takes several: a backend used to die with
# "out of relcache_callback_list slots" at its first append); and once one
# of es_store's tables is a Citus table, whose rows live in its shards, no
# C path writes into or reads from the shell table by name: an append
# either lands in the shard or fails, and is never acknowledged and lost.
#
# Skipped when Citus is not installed (test/citus_install.sh builds it);
# ES_REQUIRE_CITUS=1 makes the skip a failure.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $libdir = `pg_config --pkglibdir`;
chomp $libdir;
if (!-f "$libdir/citus.so")
{
	if ($ENV{ES_REQUIRE_CITUS})
	{
		fail('Citus is installed (ES_REQUIRE_CITUS=1)');
		done_testing();
		exit;
	}
	plan skip_all => 'Citus is not installed (bash test/citus_install.sh)';
}

my $node = PostgreSQL::Test::Cluster->new('citus');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'citus'
max_prepared_transactions = 20
});
$node->start;
my $port = $node->port;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION citus;
	SELECT citus_set_coordinator_host('localhost', $port);
	CREATE EXTENSION es_store;
});

# Every kind of call that loads one of es_store's caches, in one backend
# with Citus loaded: each cache adds its invalidation to es_store's one
# callback.
is($node->safe_psql('postgres', q{
	SELECT (es_store.append_event('c', 'a', '1', 0, 'Opened', '{}')).aggregate_version;
	SELECT es_store.save_checkpoint('proj', 1);
	SELECT count(*) FROM es_store.read_aggregate('c', 'a', '1');
	SELECT count(*) FROM es_store.read_feed(0, 10);
	SELECT count(*) FROM es_store.read_query('{}');
	SELECT (es_store.append_event('c', 'a', '1', 1, 'Renamed', '{}', tags => ARRAY['t'])).aggregate_version;
}), "1\n\n1\n1\n1\n2", 'appends, reads, checkpoints and queries run in a backend with Citus loaded');

# event_tags and aggregate_heads made Citus (reference) tables: their rows
# are copied to their shards, and the shells keep stale copies that
# queries no longer show.  (Citus gives each a TRUNCATE trigger, which
# already keeps direct.c off the head table; event_tags has no insert
# trigger, so only citus.c keeps its direct inserts out of the shell.)
$node->safe_psql('postgres', q{
	SELECT create_reference_table('es_store.event_tags');
	SELECT create_reference_table('es_store.aggregate_heads');
});
my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT (es_store.append_event('c', 'a', '1', 2, 'Closed', '{}', tags => ARRAY['x', 'y'])).aggregate_version});
my $version = $node->safe_psql('postgres', q{SELECT version FROM es_store.aggregate_heads WHERE aggregate_id = '1'});
my $events = $node->safe_psql('postgres', q{SELECT count(*) FROM es_store.events WHERE aggregate_id = '1'});
my $tags = $node->safe_psql('postgres', q{SELECT count(*) FROM es_store.event_tags});
if ($ret == 0)
{
	is($out, '3', 'the append to Citus tables is acknowledged with its version');
	is($version, '3', 'and its head row in the shard has moved');
	is($events, '3', 'and its event is stored');
	is($tags, '3', 'and its two tags are in the shard of event_tags');
}
else
{
	like($err, qr/ERROR/, "the append to Citus tables fails: $err");
	is($version, '2', 'and the head row in the shard is unchanged');
	is($events, '2', 'and no event of it is stored');
	is($tags, '1', 'and no tag row of it');
}

# Queries over tags refuse on Citus tables rather than read a shell.
($ret, $out, $err) = $node->psql('postgres', q{SELECT count(*) FROM es_store.read_query('{}')});
like($err, qr/queries and append conditions do not run on Citus tables/, 'read_query refuses on a Citus store');

$node->stop;
done_testing();
