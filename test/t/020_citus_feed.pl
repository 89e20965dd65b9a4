# The global feed of an es_store distributed over Citus never skips an
# event (issue 16).  Appends Citus does not delegate (here: a field of the result in
# the select list; a SELECT of the function alone, or FROM it, is delegated) draw their
# positions on the coordinator, their rows land in the workers' shards,
# and each worker holds the feed at the positions of its rows until its
# own part of the transaction has ended there
# (src/cluster.c), which for a transaction over two workers is Citus's
# COMMIT PREPARED: after es_store's commit callback on the coordinator, or,
# when that fails, at Citus's recovery, much later.
#
# 1. A held row shows on its worker, and workers refuse to compute the
#    feed's bound (0A000; their own appends: 021_citus_spaces.pl).
# 2. The state Citus leaves when COMMIT PREPARED does not reach the
#    workers: the coordinator's transaction committed (held between its
#    commit record and its callbacks by a synchronous-commit wait), one
#    worker crashed and restarted, the other's connection terminated.  The
#    feed holds back at the two prepared rows, and a later commit waits
#    behind them, until recover_prepared_transactions() finishes them; then
#    a reader gets all three, once each.
# 2b. The same with delegated appends (bare calls): each runs on its
#    aggregate's worker and draws there, in that worker's position space,
#    and the worker's registry holds its prepared part, through its crash:
#    each space's reader gets nothing past its prepared row until recovery
#    finishes it, then every row once.
# 3. A consumer per position space reads the feed while pgbench runs
#    transactions over two aggregates (on one worker or on both, one append
#    drawn on the coordinator, one delegated), while a worker is killed with
#    stop('immediate') and restarted, while a shard moves between the
#    workers (logical replication: writes go on during the copy), and while
#    the rebalancer moves one back: it applies every committed event
#    exactly once, in order.
#
# Skipped when Citus is not installed (test/citus_install.sh builds it);
# ES_REQUIRE_CITUS=1 makes the skip a failure.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use EsStoreTest;

skip_without_citus();

# Citus's own recovery of prepared transactions runs only when asked (2.);
# commits wait for a synchronous standby only in sessions that ask (2.),
# which needs WAL senders; logical decoding moves shards without blocking
# writes (3.).
my @nodes = citus_cluster(q{
citus.recover_2pc_interval = -1
synchronous_commit = local
wal_level = logical
max_wal_senders = 4
max_replication_slots = 4
});
my ($coord, $w1, $w2) = @nodes;
my @on1 = aggregates_on($coord, $w1, 2);
my @on2 = aggregates_on($coord, $w2, 2);
is(scalar(@on1) + scalar(@on2), 4, "aggregates on each worker: @on1, @on2");

# an append Citus does not delegate (a field of its result in the select list): drawn on the coordinator
sub append_sql
{
	my ($aggregate, $type) = @_;
	return qq{SELECT (es_store.append_event('bank', 'account', '$aggregate', NULL, '$type', '{}')).global_position};
}

# a bare call, which Citus delegates to the aggregate's worker
sub delegated_sql
{
	my ($aggregate, $type) = @_;
	return qq{SELECT global_position FROM es_store.append_event('bank', 'account', '$aggregate', NULL, '$type', '{}')};
}

# 1. A held row, and what workers refuse.
$coord->safe_psql('postgres', append_sql($_, 'Opened')) for @on1, @on2;
my $s = $coord->background_psql('postgres');
$s->query_safe('BEGIN');
my $held = $s->query_safe(append_sql($on1[0], 'Held'));
is($w1->safe_psql('postgres', 'SELECT lowest_position FROM es_store.in_flight_appends()'),
	$held, "the row's worker holds its feed at the row's position");
is($w2->safe_psql('postgres', 'SELECT count(*) FROM es_store.in_flight_appends()'),
	'0', 'the other worker holds nothing');
$s->query_safe('ROLLBACK');
$s->quit;
is($w1->safe_psql('postgres', 'SELECT count(*) FROM es_store.in_flight_appends()'),
	'0', 'and lets go when the transaction ends');

like(psql_error($w1, 'SELECT es_store.last_position()'),
	qr/0A000: es_store feed reads run on the Citus coordinator/,
	'a worker refuses to compute the feed\'s bound');

# 1b. The coordinator's backend keeps its connections to the workers
# (src/remote.c): one a worker's restart broke is opened again at once,
# and a worker that does not answer fails the read (08006).
my $r = $coord->background_psql('postgres', on_error_stop => 0);
$r->query_safe('SELECT es_store.last_position()');
my $app = q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'es_store'};
is($w1->safe_psql('postgres', $app) . $w2->safe_psql('postgres', $app), '11',
	'a feed bound leaves one connection open to each worker');
$r->query_safe('SELECT es_store.last_position()');
is($w2->safe_psql('postgres', $app), '1', 'the next bound reuses it');
# es_store's functions run as the extension's owner (src/guard.c), and so
# connect as it, whichever role calls them
$coord->safe_psql('postgres', 'CREATE ROLE feed_reader; GRANT es_store_reader TO feed_reader');
$r->query_safe('SET ROLE feed_reader');
is($r->query_safe('SELECT count(*) > 0 FROM es_store.read_feed(0, 10)'), 't',
	'a reader role reads the distributed feed');
is($w1->safe_psql('postgres', q{SELECT string_agg(usename, ',') FROM pg_stat_activity WHERE application_name = 'es_store'}),
	'postgres', "over the same connection, as the extension's owner");
$r->query_safe('RESET ROLE');
# a page's statement runs with one connection per worker (src/cluster.c),
# and leaves the session's setting as it found it
$r->query_safe('SET citus.max_adaptive_executor_pool_size = 7');
is($r->query_safe('SELECT count(*) > 0 FROM es_store.read_feed(0, 10)'), 't', 'a page reads');
is($r->query_safe('SHOW citus.max_adaptive_executor_pool_size'), '7',
	"and the session's citus.max_adaptive_executor_pool_size is its own again");
$r->query_safe('RESET citus.max_adaptive_executor_pool_size');
$w2->stop('immediate');
$w2->start;
is($r->query_safe('SELECT es_store.last_position() > 0'), 't',
	'after worker2 restarted, the same backend reads the bound (a new connection)');
$w2->stop;
$r->query("\\set VERBOSITY verbose\nSELECT es_store.last_position()");
like($r->{stderr},
	qr/08006: cannot read the feed's safe position: Citus worker \S+:${\ $w2->port} did not answer/,
	'with worker2 down, the bound fails with 08006');
$r->{stderr} = '';
$w2->start;
is($r->query_safe('SELECT count(*) > 0 FROM es_store.read_feed(0, 10)'), 't',
	'and the feed reads again once worker2 is back');
$r->quit;

# 2. Two rows prepared on the workers, their coordinator transaction
# committed, COMMIT PREPARED lost: prepared_pair runs the two appends in one
# transaction, holds its commit between its commit record and Citus's
# COMMIT PREPARED (a synchronous-commit wait), crashes worker1 (its
# prepared part survives it) and cuts worker2's connection, then lets the
# commit return.  Returns the two positions.
sub prepared_pair
{
	my ($first, $second) = @_;
	# a session that asks now waits at commit, after its commit record and
	# before the commit callbacks, until this is reset
	$coord->safe_psql('postgres', q{ALTER SYSTEM SET synchronous_standby_names = 'nobody'; SELECT pg_reload_conf()});
	$coord->poll_query_until('postgres', q{SELECT current_setting('synchronous_standby_names') = 'nobody'})
	  or die 'the setting did not reach new sessions';
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $coord->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err);
	$in .= "SET synchronous_commit = on;\nBEGIN;\n$first;\n$second;\n";
	$h->pump until $out =~ /^\d+\n\d+\n/m;
	my ($p1, $p2) = $out =~ /^(\d+)\n(\d+)\n/m;
	$in .= "COMMIT;\n";
	$h->pump_nb;
	ok($coord->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep'}),
		'the commit has its commit record and waits before its callbacks');
	is($w1->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts')
		  . $w2->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
		'11', 'both workers hold their part prepared');
	$w1->stop('immediate');
	$w1->start;
	$w2->safe_psql('postgres', q{
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name LIKE 'citus_internal gpid=%' AND pid <> pg_backend_pid()});
	$coord->safe_psql('postgres', q{ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf()});
	$in .= "\\q\n";
	$h->finish;
	is($w1->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts')
		  . $w2->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
		'11', 'after worker1\'s crash both parts are still prepared, left to recovery');
	return ($p1, $p2);
}
my $checkpoint = $coord->safe_psql('postgres', 'SELECT es_store.last_position()');
my ($p1, $p2) = prepared_pair(append_sql($on1[0], 'Prepared1'), append_sql($on2[0], 'Prepared2'));
is($coord->safe_psql('postgres', qq{SELECT count(*) FROM es_store.events WHERE global_position IN ($p1, $p2)}),
	'0', 'the commit returned, and neither worker has committed its part');

my $p3 = $coord->safe_psql('postgres', append_sql($on1[1], 'After'));
cmp_ok($p3, '>', $p2, 'a later append commits above them');
my $bound = $coord->safe_psql('postgres', 'SELECT es_store.last_position()');
cmp_ok($bound, '<', $p1, "the feed's safe position stays below the prepared rows ($bound < $p1)");
is($coord->safe_psql('postgres', "SELECT count(*) FROM es_store.read_feed($checkpoint, 100)"),
	'0', 'a reader gets nothing past them yet, not even the later commit');

$coord->safe_psql('postgres', 'SELECT recover_prepared_transactions()');
is($coord->safe_psql('postgres',
	"SELECT string_agg(global_position::text, ',' ORDER BY global_position) FROM es_store.read_feed($checkpoint, 100)"),
	"$p1,$p2,$p3", 'after recovery a reader gets all three, once each, in order');

# 2b. The same with delegated appends: each worker draws in its own space.
my $g1 = $w1->safe_psql('postgres', 'SELECT groupid FROM pg_dist_local_group');
my $g2 = $w2->safe_psql('postgres', 'SELECT groupid FROM pg_dist_local_group');
my %from = map { $_ => $coord->safe_psql('postgres',
	"SELECT safe_position FROM es_store.position_spaces() WHERE group_id = $_") } ($g1, $g2);
my ($d1, $d2) = prepared_pair(delegated_sql($on1[0], 'Delegated1'), delegated_sql($on2[0], 'Delegated2'));
cmp_ok($d1, '>', $from{$g1}, "the delegated append to worker1's aggregate drew in its space ($d1)");
cmp_ok($d2, '>', $from{$g2}, "and the one to worker2's in worker2's ($d2)");
my $d3 = $coord->safe_psql('postgres', delegated_sql($on1[1], 'After'));
cmp_ok($d3, '>', $d1, 'a later delegated append commits above worker1\'s prepared row');
is($coord->safe_psql('postgres', "SELECT count(*) FROM es_store.read_feed($from{$g1}, 100)")
	  . $coord->safe_psql('postgres', "SELECT count(*) FROM es_store.read_feed($from{$g2}, 100)"),
	'00', 'neither space\'s reader gets past its prepared row, not even the later commit');
$coord->safe_psql('postgres', 'SELECT recover_prepared_transactions()');
is($coord->safe_psql('postgres',
	"SELECT string_agg(global_position::text, ',' ORDER BY global_position) FROM es_store.read_feed($from{$g1}, 100)"),
	"$d1,$d3", 'after recovery worker1\'s space reads both, once each, in order');
is($coord->safe_psql('postgres',
	"SELECT string_agg(global_position::text, ',' ORDER BY global_position) FROM es_store.read_feed($from{$g2}, 100)"),
	"$d2", 'and worker2\'s its row');

# 3. A consumer per space under load, a worker crash and a shard move.  Citus's
# recovery now runs as it does by default (every second here, every minute
# by default): a worker crash leaves transactions prepared, and their row
# locks block the load until recovery finishes them.
$coord->safe_psql('postgres', q{ALTER SYSTEM SET citus.recover_2pc_interval = '1s'; SELECT pg_reload_conf()});
# One consumer per position space: a transaction of the load appends to
# one aggregate from the coordinator (not delegated: space 0, its row held
# on its worker) and to another on its worker (delegated: that worker's
# space).
my @spaces = (0, $g1, $g2);
for my $g (@spaces)
{
	$coord->safe_psql('postgres', consumer_sql("load$g", 200, "_$g"));
	$coord->safe_psql('postgres', sprintf(q{SELECT es_store.save_checkpoint('load%d', %s)}, $g, $g << 48))
	  if $g > 0;
}
my $tmp = PostgreSQL::Test::Utils::tempdir;
PostgreSQL::Test::Utils::append_to_file("$tmp/two.sql", q{
\set i random(1, 200)
\set j :i + random(1, 200)
BEGIN;
SELECT (es_store.append_event('bank', 'account', 'acct-' || :i, NULL, 'Load', '{}')).global_position;
SELECT global_position FROM es_store.append_event('bank', 'account', 'acct-' || :j, NULL, 'Load', '{}');
COMMIT;
});

my $stop = "$tmp/stop";
my @consumers = map { IPC::Run::start([
	'bash', '-c', sprintf(q{
		while [ ! -e '%s' ]; do
			psql -X -q -d '%s' -c 'SELECT consume_%d()' >/dev/null 2>&1 || sleep 0.1
		done}, $stop, $coord->connstr('postgres'), $_) ]) } @spaces;

sub load
{
	my ($seconds) = @_;
	my ($lo, $le) = ('', '');
	return IPC::Run::start(
		[ 'pgbench', '-n', '-c', '4', '-T', $seconds, '-f', "$tmp/two.sql", $coord->connstr('postgres') ],
		'>', \$lo, '2>', \$le);
}

my $before = $coord->safe_psql('postgres', 'SELECT count(*) FROM es_store.events');
my $run = load(3);
$run->finish;
$run = load(6);
sleep 2;
$w1->stop('immediate');
$w1->start;
$run->finish;    # clients on worker1's connections fail with it: expected
$run = load(3);
$run->finish;

# the shard of $on1[0], with its co-located heads, moves to worker2 mid-load
my $shard = $coord->safe_psql('postgres',
	"SELECT get_shard_id_for_distribution_column('es_store.events', '$on1[0]')");
$run = load(6);
sleep 2;
$coord->safe_psql('postgres', sprintf(q{
	SELECT citus_move_shard_placement(%d, 'localhost', %d, 'localhost', %d,
		shard_transfer_mode => 'force_logical')}, $shard, $w1->port, $w2->port));
$run->finish;
is($coord->safe_psql('postgres', qq{
	SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) WHERE p.shardid = $shard}),
	$w2->port, 'the shard moved to worker2');
my $s2 = $coord->background_psql('postgres');
$s2->query_safe('BEGIN');
my $moved = $s2->query_safe(append_sql($on1[0], 'Moved'));
is($w2->safe_psql('postgres', 'SELECT min(lowest_position) FROM es_store.in_flight_appends()'),
	$moved, 'an append to the moved shard is held on its new worker');
$s2->query_safe('COMMIT');
$s2->quit;

# and, after a second shard moved too (16 and 16 became 14 and 18: past
# the rebalancer's 10% threshold), the rebalancer moves a shard group back
# in the background, mid-load
my $second = $coord->safe_psql('postgres', sprintf(q{
	SELECT min(p.shardid) FROM pg_dist_placement p JOIN pg_dist_shard s USING (shardid)
	JOIN pg_dist_node n USING (groupid)
	WHERE s.logicalrelid = 'es_store.events'::regclass AND n.nodeport = %d}, $w1->port));
$coord->safe_psql('postgres', sprintf(q{
	SELECT citus_move_shard_placement(%d, 'localhost', %d, 'localhost', %d,
		shard_transfer_mode => 'force_logical')}, $second, $w1->port, $w2->port));
$run = load(8);
sleep 1;
$coord->safe_psql('postgres', q{SELECT citus_rebalance_start(shard_transfer_mode => 'force_logical')});
$coord->safe_psql('postgres', 'SELECT citus_rebalance_wait()');
$run->finish;
is($coord->safe_psql('postgres', q{
	SELECT string_agg(n, ',') FROM (SELECT count(*)::text n FROM pg_dist_placement p
		JOIN pg_dist_shard s USING (shardid) WHERE s.logicalrelid = 'es_store.events'::regclass
		GROUP BY p.groupid ORDER BY p.groupid) c}),
	'15,17', 'the rebalancer moved a shard group back (14 and 18 became 15 and 17, within its threshold)');

PostgreSQL::Test::Utils::append_to_file($stop, '');
$_->finish for @consumers;
my $loaded = $coord->safe_psql('postgres', 'SELECT count(*) FROM es_store.events') - $before;
cmp_ok($loaded, '>', 100, "the load appended events ($loaded)");
my $seen_total = 0;
for my $g (@spaces)
{
	my ($from, $to) = ($g << 48, ($g + 1) << 48);
	ok(drain_consumer($coord, "load$g", undef, "_$g"), "space ${g}'s consumer drains its feed");
	my $seen = $coord->safe_psql('postgres', "SELECT count(*) FROM seen_$g");
	cmp_ok($seen, '>', 100, "space ${g}'s consumer has events of the load ($seen)");
	$seen_total += $seen;
	is($coord->safe_psql('postgres', qq{
		SELECT (SELECT array_agg(global_position ORDER BY global_position) FROM es_store.events
				WHERE global_position > $from AND global_position < $to)
			IS NOT DISTINCT FROM (SELECT array_agg(global_position ORDER BY global_position) FROM seen_$g)}),
		't', "space ${g}'s consumer applied every committed event of its space exactly once ("
		  . $coord->safe_psql('postgres', "SELECT count(*) FROM seen_$g") . ')');
}
is($seen_total, $coord->safe_psql('postgres', 'SELECT count(*) FROM es_store.events'),
	'the three consumers together applied every stored event');

$_->stop for reverse @nodes;
done_testing();
