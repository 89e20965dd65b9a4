# Failover: a streaming standby is promoted while a pgbench load appends on
# the primary (asynchronously replicated), a ledger of appends is committed
# with synchronous replication, a two-phase append is prepared, and a
# consumer keeps its checkpoint in the database.  After the promotion:
#  - every ledger append (acknowledged after the standby confirmed it) is
#    on the new primary;
#  - the prepared append holds the feed until COMMIT PREPARED, and then
#    comes through;
#  - the consumer resumes from its replicated checkpoint and gets every
#    event on the new primary exactly once, in order: no skip;
#  - positions burnt or lost in the failover hold nothing back: no stall;
#  - a checkpoint kept outside the database, rewound to the new primary's
#    last_position() taken before its first append (the README's rule),
#    misses nothing either.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsStoreTest;
use IPC::Run;

my $primary = PostgreSQL::Test::Cluster->new('failover_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', q{
max_prepared_transactions = 5
max_connections = 40
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION es_store');
$primary->safe_psql('postgres', consumer_sql('failover-view'));
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('failover_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
# once promoted, it has no synchronous standby of its own
$standby->append_conf('postgresql.conf', "synchronous_standby_names = ''");
$standby->start;
$primary->append_conf('postgresql.conf', "synchronous_standby_names = 'failover_standby'");
$primary->reload;
$primary->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_replication WHERE sync_state = 'sync'})
  or die 'the standby did not become synchronous';
$primary->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 50) i,
		LATERAL es_store.append_event('fo', 'acct', 'seed-' || (i % 5), NULL, 'Seed', '{}');
	SELECT consume();
});

# The load: asynchronous commits (synchronous_commit = local), some slow,
# some rolled back.
my $tmp = PostgreSQL::Test::Utils::tempdir;
open my $fh, '>', "$tmp/append.sql" or die;
print $fh q{\set agg random(1, 40)
SET synchronous_commit = local;
BEGIN;
SELECT count(*) FROM es_store.append_event('fo', 'load', :agg::text, NULL, 'Load', '{}');
SELECT pg_sleep(0.001);
COMMIT;
};
close $fh;
open $fh, '>', "$tmp/rollback.sql" or die;
print $fh q{\set agg random(1, 40)
SET synchronous_commit = local;
BEGIN;
SELECT count(*) FROM es_store.append_event('fo', 'load', :agg::text, NULL, 'Lost', '{}');
ROLLBACK;
};
close $fh;
my ($out, $err) = ('', '');
my $load = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-T', '60', '-f', "$tmp/append.sql\@4",
	  '-f', "$tmp/rollback.sql\@1", $primary->connstr('postgres') ],
	'>', \$out, '2>', \$err);

# Ledger appends: each acknowledged only once the standby has flushed it.
my @acked;
sub ledger
{
	push @acked, $primary->safe_psql('postgres',
		q{SELECT global_position FROM es_store.append_event('fo', 'ledger', 'l', NULL, 'Acked', '{}')});
}
ledger() for 1 .. 20;
$primary->safe_psql('postgres', q{
	BEGIN;
	SELECT count(*) FROM es_store.append_event('fo', 'tpc', 'p', NULL, 'Prepared', '{}');
	PREPARE TRANSACTION 'es_failover';
});
ledger() for 1 .. 20;
$primary->safe_psql('postgres', 'SELECT consume()') for 1 .. 3;
# an external consumer's checkpoint: the feed position read just before
my $external = $primary->safe_psql('postgres', 'SELECT es_store.last_position()');
ledger() for 1 .. 10;

$primary->stop('immediate');
$load->finish;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'promotion did not finish';
my $rewind_to = $standby->safe_psql('postgres', 'SELECT es_store.last_position()');

my $acked_list = join(',', @acked);
is($standby->safe_psql('postgres', "SELECT count(*) FROM es_store.events WHERE global_position IN ($acked_list)"),
	scalar(@acked), 'every synchronously acknowledged append is on the new primary');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM es_store.events WHERE event_type = 'Lost'}),
	'0', 'no rolled-back append is');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'es_failover'}),
	'1', 'the prepared append survived the failover');
my $prepared_at = $standby->safe_psql('postgres', q{
	SELECT lowest_position FROM es_store.in_flight_appends() WHERE prepared});
is($rewind_to, $prepared_at - 1, 'the feed on the new primary holds just below the prepared append');

# New appends on the new primary, then the prepared one is committed.
$standby->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 30) i,
		LATERAL es_store.append_event('fo', 'after', 'a-' || (i % 3), NULL, 'After', '{}');
});
my $held = $standby->safe_psql('postgres', 'SELECT es_store.last_position()');
is($held, $rewind_to, 'appends after the failover are held behind the prepared append too');
$standby->safe_psql('postgres', q{COMMIT PREPARED 'es_failover'});
my $max = $standby->safe_psql('postgres', 'SELECT max(global_position) FROM es_store.events');
is($standby->safe_psql('postgres', 'SELECT es_store.last_position()') >= $max ? 1 : 0, 1,
	'after COMMIT PREPARED the feed reaches the last event: lost positions hold nothing back');

# The consumer resumes from its replicated checkpoint.
ok(drain_consumer($standby, 'failover-view'), 'the consumer caught up on the new primary');
is($standby->safe_psql('postgres', q{
	SELECT count(*) FROM es_store.events e WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.global_position = e.global_position)}),
	'0', 'the consumer saw every event on the new primary');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM seen s WHERE NOT EXISTS
	(SELECT 1 FROM es_store.events e WHERE e.global_position = s.global_position)}),
	'0', 'and nothing that is not there (its read model failed over with the events)');

# The external consumer, rewound as the README says.
my $from = $external < $rewind_to ? $external : $rewind_to;
is($standby->safe_psql('postgres', qq{
	SELECT (SELECT count(*) FROM es_store.read_feed($from, 100000))
		 = (SELECT count(*) FROM es_store.events WHERE global_position > $from)}),
	't', "an external checkpoint rewound to min($external, $rewind_to) misses nothing");
check_log_invariants($standby);

$standby->stop;
done_testing();
