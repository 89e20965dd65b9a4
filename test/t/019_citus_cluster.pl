# es_store distributed over Citus (issue 16, first steps): a coordinator
# and two workers on localhost, es_store distributed by the README's recipe
# (Scaling, taken from the README itself), then appends through the
# coordinator: events on both workers, expected-version conflicts,
# idempotent retries, event ids unique per aggregate, reads, the feed
# across workers with a commit out of order (read exactly once), and a
# transaction over aggregates on both workers that commits on both or
# neither.  Delegated calls and their position spaces: 020 to 022.
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

my @nodes = citus_cluster();
my ($coord, $w1, $w2) = @nodes;
is($coord->safe_psql('postgres', q{
	SELECT string_agg(logicalrelid::text || ':' || column_to_column_name(logicalrelid, partkey), ',' ORDER BY logicalrelid::text)
	FROM pg_dist_partition WHERE logicalrelid::text LIKE 'es_store.%'}),
	'es_store.aggregate_heads:aggregate_id,es_store.events:aggregate_id,es_store.markers:aggregate_id,es_store.snapshots:aggregate_id',
	'heads, events, markers and snapshots are distributed by aggregate id');

# Appends to 20 aggregates, 3 events each.
$coord->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 20) a, generate_series(0, 2) v,
		LATERAL es_store.append_event('bank', 'account', 'acct-' || a, v, 'Deposited',
			jsonb_build_object('v', v));
});
my %on;
for my $w ([ 'worker1', $w1 ], [ 'worker2', $w2 ])
{
	# the events in the worker's own shards of es_store.events
	my @shards = split /\n/, $w->[1]->safe_psql('postgres', q{
		SET citus.override_table_visibility TO off;
		SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'es_store' AND c.relname ~ '^events_[0-9]+$'});
	$on{ $w->[0] } = 0;
	$on{ $w->[0] } += $w->[1]->safe_psql('postgres', "SELECT count(*) FROM $_") for @shards;
}
cmp_ok($on{worker1}, '>', 0, "worker1 holds events ($on{worker1})");
cmp_ok($on{worker2}, '>', 0, "worker2 holds events ($on{worker2})");
is($on{worker1} + $on{worker2}, 60, 'every event is on a worker');
is($coord->safe_psql('postgres', q{SELECT string_agg(aggregate_version::text, ',' ORDER BY aggregate_version) FROM es_store.read_aggregate('bank', 'account', 'acct-7')}),
	'1,2,3', 'an aggregate reads back in version order');
is($coord->safe_psql('postgres', q{SELECT count(*) FROM es_store.aggregate_heads WHERE version = 3}),
	'20', 'every head is at version 3');

# Expected versions and retries keep their SQLSTATEs.
like(psql_error($coord, q{SELECT * FROM es_store.append_event('bank', 'account', 'acct-7', 1, 'Late', '{}')}),
	qr/SE001/, 'a stale expected version is SE001');
my $id = '00000000-0000-4000-8000-0000000000e1';
my $first = $coord->safe_psql('postgres',
	qq{SELECT global_position FROM es_store.append_event('bank', 'account', 'acct-8', 3, 'Withdrawn', '{}', event_id => '$id')});
is($coord->safe_psql('postgres',
	qq{SELECT global_position FROM es_store.append_event('bank', 'account', 'acct-8', 3, 'Withdrawn', '{}', event_id => '$id')}),
	$first, 'an idempotent retry returns the stored position');
like(psql_error($coord,
	qq{SELECT * FROM es_store.append_event('bank', 'account', 'acct-8', 4, 'Other', '{}', event_id => '$id')}),
	qr/SE002: duplicate event id $id in append to stream "bank\/account\/acct-8"/,
	'the same event id again in its aggregate with other content is SE002');
cmp_ok($coord->safe_psql('postgres',
	qq{SELECT global_position FROM es_store.append_event('bank', 'account', 'acct-9', 3, 'Withdrawn', '{}', event_id => '$id')}),
	'>', 0, 'and in another aggregate it is taken: event ids are unique per aggregate (README, Scaling)');
is($coord->safe_psql('postgres', qq{SELECT string_agg(aggregate_id, ',' ORDER BY aggregate_id) FROM es_store.read_event('$id')}),
	'acct-8,acct-9', 'read_event finds both');

# Two aggregates, one on each worker.
my ($a1) = aggregates_on($coord, $w1, 1);
my ($a2) = aggregates_on($coord, $w2, 1);
if (!defined $a1 || !defined $a2)
{
	fail('an aggregate on each worker');
	done_testing();
	exit;
}
pass("aggregates on each worker: $a1, $a2");

# A transaction over both workers: both or neither.
sub move_both
{
	my ($end) = @_;
	$coord->safe_psql('postgres', qq{
		BEGIN;
		SELECT count(*) FROM es_store.append_event('bank', 'account', '$a1', NULL, 'Moved', '{}');
		SELECT count(*) FROM es_store.append_event('bank', 'account', '$a2', NULL, 'Moved', '{}');
		$end;
	});
	return $coord->safe_psql('postgres', q{SELECT count(*) FROM es_store.events WHERE event_type = 'Moved'});
}
is(move_both('ROLLBACK'), '0', 'a rolled-back transaction over two workers left nothing on either');
is(move_both('COMMIT'), '2', 'a committed transaction over two workers is on both');

# The feed across workers: a lower position in flight holds it back, and
# the reader gets every event once when it commits.  A field of the
# result in the select list is not delegated: both draw on the coordinator, in space 0.
my $checkpoint = $coord->safe_psql('postgres', 'SELECT es_store.last_position()');
my $slow = $coord->background_psql('postgres');
$slow->query_safe('BEGIN');
my $p1 = $slow->query_safe(qq{SELECT (es_store.append_event('bank', 'account', '$a1', NULL, 'Slow', '{}')).global_position});
my $p2 = $coord->safe_psql('postgres',
	qq{SELECT (es_store.append_event('bank', 'account', '$a2', NULL, 'Fast', '{}')).global_position});
cmp_ok($p2, '>', $p1, 'the later append drew the higher position');
is($coord->safe_psql('postgres', qq{SELECT count(*) FROM es_store.read_feed($checkpoint, 100)}),
	'0', 'the feed holds back at the lower position in flight, though the higher one committed');
$slow->query_safe('COMMIT');
$slow->quit;
is($coord->safe_psql('postgres', qq{SELECT string_agg(global_position::text, ',' ORDER BY global_position) FROM es_store.read_feed($checkpoint, 100)}),
	"$p1,$p2", 'then the reader gets both, once each, in position order');
is($coord->safe_psql('postgres', q{SELECT count(*) = count(DISTINCT e.global_position) AND count(*) = (SELECT count(*) FROM es_store.events)
	FROM es_store.position_spaces() s, LATERAL es_store.read_feed(s.first_position - 1, 1000) e}),
	't', 'the whole feed, one space after the other, is every stored event once');

# Queries over tags refuse on a distributed store.
like(psql_error($coord, q{SELECT count(*) FROM es_store.read_query('{}')}), qr/queries and append conditions do not run on Citus tables/, 'read_query refuses');

$_->stop for reverse @nodes;
done_testing();
