# es_store beside Citus (issue 16, first steps): in a backend that has both
# libraries loaded, es_store keeps to one relcache callback (PostgreSQL has
# room for ten per backend, Citus takes several: a backend used to die with
# "out of relcache_callback_list slots" at its first append); and once one
# of es_store's tables is a Citus table, whose rows live in its shards, no
# C path writes into or reads from the shell table by name: appends and
# checkpoints land in the shards, through statements Citus plans.
#
# Skipped when Citus is not installed (test/citus_install.sh builds it);
# ES_REQUIRE_CITUS=1 makes the skip a failure.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsStoreTest;

skip_without_citus();

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

# event_tags, aggregate_heads and checkpoints made Citus (reference)
# tables: their rows are copied to their shards, and the shells keep stale
# copies that queries no longer show.  Citus gives each a TRUNCATE
# trigger, which already keeps direct.c off the head table; event_tags and
# checkpoints have no insert trigger, so only citus.c keeps their direct
# writes out of the shells.  The statements then run as custom plans
# (Citus routes by parameter values) and set updated_at from the row's
# default, not now() (which Citus refuses in ON CONFLICT DO UPDATE).
$node->safe_psql('postgres', q{
	SELECT create_reference_table('es_store.event_tags');
	SELECT create_reference_table('es_store.aggregate_heads');
	SELECT create_reference_table('es_store.checkpoints');
});
is($node->safe_psql('postgres', q{
	SELECT (es_store.append_event('c', 'a', '1', 2, 'Closed', '{}', tags => ARRAY['x', 'y'])).aggregate_version;
	SELECT (es_store.append_event('c', 'a', '2', 0, 'Opened', '{}', tags => ARRAY['x'])).aggregate_version;
	SELECT (es_store.append_event('c', 'a', '2', NULL, 'Noted', '{}')).aggregate_version;
}), "3\n1\n2", 'appends to an aggregate and to a new one are acknowledged with their versions');
is($node->safe_psql('postgres', q{SELECT string_agg(aggregate_id || ':' || version, ',' ORDER BY aggregate_id) FROM es_store.aggregate_heads}),
	'1:3,2:2', 'their head rows in the shard have moved');
is($node->safe_psql('postgres', q{SELECT count(*) FROM es_store.events}), '5', 'their events are stored');
is($node->safe_psql('postgres', q{SELECT count(*) FROM es_store.event_tags}), '4',
	'their tags are in the shard of event_tags');
is($node->safe_psql('postgres', q{SELECT string_agg(event_type, ',' ORDER BY aggregate_version) FROM es_store.read_aggregate('c', 'a', '2')}),
	'Opened,Noted', 'the new aggregate reads back');
my ($ret, $out, $err) = $node->psql('postgres',
	q{SELECT * FROM es_store.append_event('c', 'a', '2', 1, 'Late', '{}')}, extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/SE001/, 'a stale expected version is SE001');
# with reference tables only, events keep their single-node keys and
# statements: an event id is unique across aggregates, and a forget takes
# the event's tags with it
$node->safe_psql('postgres', q{SELECT es_store.append_event('c', 'a', '3', 0, 'Opened', '{}', event_id => '00000000-0000-4000-8000-000000000018', tags => ARRAY['z'])});
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT * FROM es_store.append_event('c', 'a', '4', 0, 'Opened', '{}', event_id => '00000000-0000-4000-8000-000000000018')},
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/SE002: duplicate event id 00000000-0000-4000-8000-000000000018 in append to stream "c\/a\/4"/,
	'an event id of another aggregate is SE002');
is($node->safe_psql('postgres', q{
	SELECT events_removed FROM es_store.forget_aggregate('c', 'a', '3');
	SELECT count(*) FROM es_store.event_tags;}), "1\n4", 'a forget removes the event and its tag');
is($node->safe_psql('postgres', q{
	SELECT es_store.save_checkpoint('proj', 4);
	SELECT es_store.get_checkpoint('proj');
	SELECT position FROM es_store.checkpoints WHERE name = 'proj';
}), "\n4\n4", 'a checkpoint saved to the shard of checkpoints reads back');

# Queries over tags refuse on Citus tables rather than read a shell.
($ret, $out, $err) = $node->psql('postgres', q{SELECT count(*) FROM es_store.read_query('{}')});
like($err, qr/queries and append conditions do not run on Citus tables/, 'read_query refuses on a Citus store');
# before it computes a bound: also where the bound would leave nothing to read
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT count(*) FROM es_store.read_query('{}', 1000000)}, extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/0A000: queries and append conditions do not run on Citus tables/,
	'read_query refuses after the safe position too (0A000)');
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT * FROM es_store.append_if('[{"event_type": "E", "payload": {}}]', '{}', 1000000)},
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/0A000: queries and append conditions do not run on Citus tables/,
	'append_if refuses (0A000)');

$node->stop;
done_testing();
