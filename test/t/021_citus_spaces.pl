# Workers of a distributed es_store append in position spaces of their own
# (issue 16, src/cluster.c): group g draws g << 48 + 1 upwards from its own
# sequence, under its own registry, and the coordinator reads each group's
# feed up to that group's safe position.
#
# 1. Before its space is claimed a worker refuses to draw (0A000); the
#    README recipe's es_store.citus_claim_position_spaces() gives every
#    worker its space, again after a worker lost it; position_spaces()
#    lists them.
# 2. A worker appends to an aggregate on its own shards, in its space; an
#    append on a worker to an aggregate on another worker is refused
#    (0A000, nothing written); the coordinator's appends stay in space 0.
# 3. Expected versions across nodes: a worker's append and the
#    coordinator's to the same aggregate, in flight together: one wins,
#    the other gets SE001.
# 4. A worker space's feed holds back at an append in flight on it while a
#    later one has committed, and passes it when a crash of the worker
#    aborts it; space 0 is not held back by it.  (Prepared parts on a
#    worker, and their survival of its crash: 020_citus_feed.pl.)
# 5. Consumers, one per space, read while the coordinator and both workers
#    append with out-of-order commits: each applies every committed event
#    of its space exactly once, in order.
# 6. A shard holding a worker's rows moves: they keep their positions, and
#    the aggregate's next append is in its new worker's space.
# 7. A worker's hold ends with the savepoint it was made in.
# 8. A REPEATABLE READ feed read refuses (0A000); an inactive worker fails
#    the bound (08006).
#
# Skipped when Citus is not installed (test/citus_install.sh builds it);
# ES_REQUIRE_CITUS=1 makes the skip a failure.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use EsStoreTest;

skip_without_citus();

# logical decoding moves shards without blocking writes (6.)
my @nodes = citus_cluster(q{
wal_level = logical
max_wal_senders = 4
max_replication_slots = 4
});
my ($coord, $w1, $w2) = @nodes;
my @on1 = aggregates_on($coord, $w1, 40);
my @on2 = aggregates_on($coord, $w2, 40);
my $g1 = $w1->safe_psql('postgres', 'SELECT groupid FROM pg_dist_local_group');
my $g2 = $w2->safe_psql('postgres', 'SELECT groupid FROM pg_dist_local_group');
my $first1 = ($g1 << 48) + 1;
my $first2 = ($g2 << 48) + 1;

# An append Citus does not delegate (a field of its result in the select
# list, not a bare call): it runs on the node
# the client is connected to, and draws in that node's space.
sub append_sql
{
	my ($aggregate, $type, $expected) = @_;
	$expected //= 'NULL';
	return qq{SELECT (es_store.append_event('bank', 'account', '$aggregate', $expected, '$type', '{}')).global_position};
}

# A bare call, which Citus delegates to the node of the aggregate's shard
sub delegated_sql
{
	my ($aggregate, $type) = @_;
	return qq{SELECT global_position FROM es_store.append_event('bank', 'account', '$aggregate', NULL, '$type', '{}')};
}


# 1. Claims.
is($coord->safe_psql('postgres', 'SELECT group_id || \':\' || first_position FROM es_store.position_spaces() ORDER BY 1'),
	join("\n", sort("0:1", "$g1:$first1", "$g2:$first2")),
	'the recipe gave each worker its space: position_spaces() lists all three');
$w1->safe_psql('postgres', 'ALTER SEQUENCE es_store.global_position_seq MINVALUE 1 MAXVALUE 9223372036854775807 RESTART WITH 1');
like(psql_error($w1, append_sql($on1[0], 'Unclaimed')),
	qr/0A000: es_store cannot draw positions on this Citus worker yet/,
	'a worker whose sequence lost its space refuses to draw (0A000)');
is($coord->safe_psql('postgres', 'SELECT es_store.citus_claim_position_spaces()'), '2',
	'claiming again gives it back (both workers)');
is($coord->safe_psql('postgres', 'SELECT es_store.citus_claim_position_spaces()'), '2',
	'and is idempotent');
like(psql_error($coord, 'SET ROLE es_store_writer; SELECT es_store.citus_claim_position_spaces()'),
	qr/42501/, 'only the owner claims');
like(psql_error($w1, 'SELECT es_store.citus_claim_position_spaces()'),
	qr/0A000: es_store.citus_claim_position_spaces\(\) runs on the coordinator/,
	'a worker refuses the coordinator\'s claim');

# 2. Appends on a worker.
my $p = $w1->safe_psql('postgres', append_sql($on1[0], 'OnWorker1'));
cmp_ok($p, '>=', $first1, "worker1 appends to its own aggregate in its space ($p)");
cmp_ok($p, '<', $first1 + 1000, 'from the start of it');
my $q = $w2->safe_psql('postgres', append_sql($on2[0], 'OnWorker2'));
cmp_ok($q, '>=', $first2, "worker2 likewise ($q)");
my $c = $coord->safe_psql('postgres', append_sql($on1[0], 'OnCoordinator'));
cmp_ok($c, '<', 1 << 48, "the coordinator's append to the same aggregate is in space 0 ($c)");
is($w1->safe_psql('postgres', "SELECT string_agg(aggregate_version::text || ':' || event_type, ',' ORDER BY aggregate_version) FROM es_store.read_aggregate('bank', 'account', '$on1[0]')"),
	'1:OnWorker1,2:OnCoordinator', 'one history, dense versions, read on the worker');
like(psql_error($w1, append_sql($on2[1], 'Elsewhere')),
	qr/0A000: an event whose position was drawn on Citus group $g1 cannot be stored on group $g2/,
	'an append on worker1 to an aggregate on worker2 is refused (0A000)');
is($coord->safe_psql('postgres', "SELECT count(*) FROM es_store.events WHERE aggregate_id = '$on2[1]'"),
	'0', 'and wrote nothing');
my $dl = $w1->safe_psql('postgres', delegated_sql($on2[1], 'Delegated'));
cmp_ok($dl, '>=', $first2, "a bare call on worker1 for it is delegated to worker2 and draws in its space ($dl)");
my $dc = $coord->safe_psql('postgres', delegated_sql($on1[0], 'FromCoordinator'));
cmp_ok($dc, '>=', $first1, "and one on the coordinator for worker1's aggregate draws in worker1's ($dc)");

# 3. Expected versions across nodes.
my $s1 = $w1->background_psql('postgres', on_error_stop => 0);
$s1->query_safe('BEGIN');
$s1->query_safe(append_sql($on1[1], 'First', 0));
my $s2 = $coord->background_psql('postgres', on_error_stop => 0);
$s2->query_until(qr/started/, "\\set VERBOSITY verbose\n\\echo started\n" . append_sql($on1[1], 'Second', 0) . ";\n");
ok($w1->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'}),
	"the coordinator's append waits for the worker's head lock");
$s1->query_safe('COMMIT');
$s2->query("SELECT 1");
like($s2->{stderr}, qr/SE001/, 'and then fails its expected version (SE001)');
$s1->quit;
$s2->quit;
is($coord->safe_psql('postgres', "SELECT string_agg(event_type, ',') FROM es_store.read_aggregate('bank', 'account', '$on1[1]')"),
	'First', 'the worker\'s append won');

# 4. A worker space's bound.
sub safe_of
{
	my ($group) = @_;
	return $coord->safe_psql('postgres', "SELECT safe_position FROM es_store.position_spaces() WHERE group_id = $group");
}
my $a = $w1->background_psql('postgres');
$a->query_safe('BEGIN');
my $pa = $a->query_safe(append_sql($on1[2], 'InFlight'));
my $pb = $w1->safe_psql('postgres', append_sql($on1[3], 'Later'));
cmp_ok($pb, '>', $pa, 'a later append on worker1 commits above one in flight');
cmp_ok(safe_of($g1), '<', $pa, "worker1's space's safe position stays below the one in flight");
is($coord->safe_psql('postgres', "SELECT count(*) FROM es_store.read_feed($pa - 1, 10)"), '0',
	'a reader of that space gets neither yet');
$a->query_safe('COMMIT');
is($coord->safe_psql('postgres', "SELECT string_agg(global_position::text, ',' ORDER BY global_position) FROM es_store.read_feed($pa - 1, 10)"),
	"$pa,$pb", 'after its commit it gets both, in order');

# a crash of worker1 with an append in flight on it: the append is gone,
# and the space's feed goes past it to a later commit
my $zero_before = $coord->safe_psql('postgres', 'SELECT es_store.last_position()');
my $lost = $w1->background_psql('postgres', on_error_stop => 0);
$lost->query_safe('BEGIN');
my $pc = $lost->query_safe(append_sql($on1[4], 'Lost'));
my $pl = $w1->safe_psql('postgres', append_sql($on1[5], 'AfterLost'));
cmp_ok(safe_of($g1), '<', $pc, "worker1's space is held below the append in flight");
cmp_ok($coord->safe_psql('postgres', 'SELECT es_store.last_position()'), '>=', $zero_before,
	'space 0 is not held by it');
$w1->stop('immediate');
eval { $lost->quit };
$w1->start;
cmp_ok(safe_of($g1), '>=', $pl, 'after a crash restart of worker1 its space passes the lost append');
is($coord->safe_psql('postgres', "SELECT string_agg(global_position::text || ':' || event_type, ',') FROM es_store.read_feed($pc - 1, 10)"),
	"$pl:AfterLost", 'a reader gets the later commit and nothing of the lost one');

# 5. One consumer per space under load from all three nodes.
my $tmp = PostgreSQL::Test::Utils::tempdir;
sub script
{
	my ($name, @aggs) = @_;
	my $list = join(',', map { "'$_'" } @aggs);
	PostgreSQL::Test::Utils::append_to_file("$tmp/$name.sql", qq{
\\set i random(1, ${\ scalar(@aggs)})
BEGIN;
SELECT (es_store.append_event('bank', 'account', (ARRAY[$list])[:i], NULL, 'Load', '{}')).global_position;
SELECT pg_sleep(random() * 0.005);
COMMIT;
});
	return "$tmp/$name.sql";
}
my %space = (0 => $coord, $g1 => $w1, $g2 => $w2);
for my $g (keys %space)
{
	my $from = $g << 48;
	$coord->safe_psql('postgres', qq{
		CREATE TABLE seen_$g (global_position bigint PRIMARY KEY);
		CREATE FUNCTION consume_$g() RETURNS bigint LANGUAGE plpgsql AS \$\$
		DECLARE cp bigint := coalesce(nullif(es_store.get_checkpoint('space$g'), 0), $from);
			prev bigint := cp; ev record;
		BEGIN
			FOR ev IN SELECT * FROM es_store.read_feed(cp, 50) LOOP
				IF ev.global_position <= prev THEN RAISE EXCEPTION 'out of order'; END IF;
				INSERT INTO seen_$g VALUES (ev.global_position);
				prev := ev.global_position;
			END LOOP;
			IF prev > cp THEN PERFORM es_store.save_checkpoint('space$g', prev); END IF;
			RETURN prev;
		END \$\$;});
}
my $stop = "$tmp/stop";
my @consumers = map {
	IPC::Run::start([ 'bash', '-c', sprintf(q{
		while [ ! -e '%s' ]; do
			psql -X -q -d '%s' -c 'SELECT consume_%d()' >/dev/null 2>&1 || sleep 0.1
		done}, $stop, $coord->connstr('postgres'), $_) ])
} keys %space;
my @loads;
for my $l ([ $coord, script('coord', @on1[10 .. 19], @on2[10 .. 19]) ],
	[ $w1, script('w1', @on1[20 .. 39]) ], [ $w2, script('w2', @on2[20 .. 39]) ])
{
	my ($lo, $le) = ('', '');
	push @loads, IPC::Run::start(
		[ 'pgbench', '-n', '-c', '3', '-T', '6', '-f', $l->[1], $l->[0]->connstr('postgres') ],
		'>', \$lo, '2>', \$le);
}
$_->finish for @loads;
PostgreSQL::Test::Utils::append_to_file($stop, '');
$_->finish for @consumers;
for my $g (sort keys %space)
{
	my $from = $g << 48;
	my $to = ($g + 1) << 48;
	for (1 .. 10000)
	{
		my $cp = $coord->safe_psql('postgres', "SELECT es_store.get_checkpoint('space$g')");
		last if $coord->safe_psql('postgres', "SELECT consume_$g()") == ($cp || $from);
	}
	my $n = $coord->safe_psql('postgres', "SELECT count(*) FROM es_store.events WHERE global_position > $from AND global_position < $to");
	cmp_ok($n, '>', 50, "group ${g}'s space has events from the load ($n)");
	is($coord->safe_psql('postgres', qq{
		SELECT (SELECT array_agg(global_position ORDER BY global_position) FROM es_store.events
				WHERE global_position > $from AND global_position < $to)
			IS NOT DISTINCT FROM (SELECT array_agg(global_position ORDER BY global_position) FROM seen_$g)}),
		't', "group ${g}'s consumer applied every committed event of its space exactly once");
}

# 5b. Competing consumers and filters on a worker's space: two segments
# split it, each aggregate to one of them, and together they are the
# space's feed; a filter keeps its events of one type.
my $space1 = "SELECT string_agg(global_position::text, ',' ORDER BY global_position) FROM es_store.read_feed(${\ ($g1 << 48)}, 100000%s)";
my $whole = $coord->safe_psql('postgres', sprintf($space1, ''));
is($coord->safe_psql('postgres', sprintf(q{
	SELECT string_agg(p::text, ',' ORDER BY p) FROM (
		SELECT global_position p FROM es_store.read_feed(%d, 100000, segment => 0, segment_count => 2)
		UNION ALL
		SELECT global_position FROM es_store.read_feed(%d, 100000, segment => 1, segment_count => 2)) s},
	$g1 << 48, $g1 << 48)), $whole, "two segments of worker1's space are its whole feed, once each");
is($coord->safe_psql('postgres', sprintf(q{
	SELECT count(DISTINCT aggregate_id) FILTER (WHERE segment = 0) + count(DISTINCT aggregate_id) FILTER (WHERE segment = 1)
		= count(DISTINCT aggregate_id) FROM (
		SELECT 0 segment, aggregate_id FROM es_store.read_feed(%d, 100000, segment => 0, segment_count => 2)
		UNION ALL
		SELECT 1, aggregate_id FROM es_store.read_feed(%d, 100000, segment => 1, segment_count => 2)) s},
	$g1 << 48, $g1 << 48)), 't', 'each aggregate in one segment');
is($coord->safe_psql('postgres', sprintf($space1, q{, event_types => ARRAY['OnWorker1']})),
	$p, 'a filter on the event type keeps the one such event of the space');

# 6. A shard with worker1's rows moves to worker2: the rows keep their
# positions, worker1's consumer has them all, and the aggregate's next
# append on worker2 is in worker2's space.
my $shard = $coord->safe_psql('postgres',
	"SELECT get_shard_id_for_distribution_column('es_store.events', '$on1[20]')");
my $positions = "SELECT string_agg(global_position::text, ',' ORDER BY global_position) FROM es_store.events WHERE aggregate_id = '$on1[20]'";
my $before_move = $coord->safe_psql('postgres', $positions);
like($before_move, qr/^\d+/, "worker1's load appended to $on1[20]");
$coord->safe_psql('postgres', sprintf(q{
	SELECT citus_move_shard_placement(%d, 'localhost', %d, 'localhost', %d,
		shard_transfer_mode => 'force_logical')}, $shard, $w1->port, $w2->port));
is($coord->safe_psql('postgres', $positions), $before_move, 'the moved rows keep their positions');
my $after_move = $w2->safe_psql('postgres', append_sql($on1[20], 'AfterMove'));
cmp_ok($after_move, '>=', $first2, "the next append, on worker2, is in worker2's space ($after_move)");
like(psql_error($w1, append_sql($on1[20], 'Stale')), qr/0A000: an event whose position was drawn on Citus group $g1 cannot be stored on group $g2/,
	'and worker1 no longer appends to it');
cmp_ok($w1->safe_psql('postgres', delegated_sql($on1[20], 'DelegatedAfterMove')), '>=', $first2,
	'but its bare call is delegated to the shard\'s new node');

# 7. A hold on a worker ends with the savepoint it was made in.
my $sp = $coord->background_psql('postgres');
$sp->query_safe('BEGIN');
$sp->query_safe('SAVEPOINT s');
$sp->query_safe(append_sql($on1[30], 'InSavepoint'));
is($w1->safe_psql('postgres', 'SELECT count(*) FROM es_store.in_flight_appends()'), '1',
	"the coordinator's row is held on worker1");
$sp->query_safe('ROLLBACK TO SAVEPOINT s');
is($w1->safe_psql('postgres', 'SELECT count(*) FROM es_store.in_flight_appends()'), '0',
	'and let go at ROLLBACK TO SAVEPOINT, with the transaction still open');
$sp->query_safe('ROLLBACK');
$sp->quit;

# 8. A REPEATABLE READ feed read refuses (Citus keeps the workers' first
# snapshots); an inactive worker fails the bound (08006), never skipped.
like(psql_error($coord, 'BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM es_store.read_feed(0, 10)'),
	qr/0A000: cannot read the feed of a distributed store in a REPEATABLE READ transaction/,
	'a REPEATABLE READ feed read refuses (0A000)');
# (Citus refuses to disable a worker that holds shards; one added inactive
# stands for a worker that may still have parts in flight)
$coord->safe_psql('postgres', q{SELECT citus_add_inactive_node('localhost', 1)});
like(psql_error($coord, 'SELECT es_store.last_position()'),
	qr/08006: cannot read the feed's safe position: Citus worker localhost:1 is not active/,
	'an inactive worker fails the bound (08006)');
$coord->safe_psql('postgres', q{SELECT citus_remove_node('localhost', 1)});
cmp_ok($coord->safe_psql('postgres', 'SELECT es_store.last_position()'), '>', 0, 'and the bound reads again once it is gone');

$_->stop for reverse @nodes;
done_testing();
