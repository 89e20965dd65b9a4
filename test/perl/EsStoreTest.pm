# EsStoreTest: checks shared by es_store's Perl TAP tests.
package EsStoreTest;

use strict;
use warnings;
use Test::More;
use Exporter 'import';

our @EXPORT = qw(check_log_invariants consumer_sql drain_consumer documented_sqlstates psql_error
  skip_without_citus citus_cluster aggregates_on);

# The invariants of the event log that must hold after anything: versions
# dense in every stream (but those of aggregate type $gaps_in, written with
# explicit versions), positions unique, every head at its stream's highest
# version.  Three tests, in database $db (default postgres).
sub check_log_invariants
{
	my ($node, $db, $gaps_in) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	$db //= 'postgres';
	$gaps_in //= '';

	is($node->safe_psql($db, qq{
		SELECT count(*) FROM (SELECT stream_id FROM es_store.events
							  JOIN es_store.aggregate_heads h USING (stream_id)
							  WHERE h.aggregate_type <> '$gaps_in' GROUP BY stream_id
							  HAVING max(aggregate_version) - min(aggregate_version) + 1
									 <> count(*)) s}),
		'0', 'versions are dense in every stream (from its first stored one: a purge removes the first)');
	is($node->safe_psql($db, q{
		SELECT count(*) = count(DISTINCT global_position) FROM es_store.events}),
		't', 'positions are unique');
	is($node->safe_psql($db, q{
		SELECT count(*) FROM es_store.aggregate_heads h
		JOIN (SELECT stream_id, max(aggregate_version) AS v FROM es_store.events GROUP BY stream_id) e
		USING (stream_id) WHERE h.version <> e.v}),
		'0', 'every head is at its stream\'s highest version');
	return;
}

# SQL that creates a consumer: a table "seen" of the positions it applied,
# and consume(), one step of it: a page of the feed after checkpoint
# $checkpoint, applied and checkpointed (compare-and-set) in one
# transaction.  A disorder raises; a duplicate hits seen's primary key.
sub consumer_sql
{
	my ($checkpoint, $page, $suffix) = @_;
	$page //= 100;
	$suffix //= '';
	return qq{
	CREATE TABLE seen$suffix (global_position bigint PRIMARY KEY);
	CREATE FUNCTION consume$suffix() RETURNS bigint LANGUAGE plpgsql AS \$\$
	DECLARE cp bigint := es_store.get_checkpoint('$checkpoint'); prev bigint := cp; ev record;
	BEGIN
		FOR ev IN SELECT * FROM es_store.read_feed(cp, $page) LOOP
			IF ev.global_position <= prev THEN RAISE EXCEPTION 'out of order'; END IF;
			INSERT INTO seen$suffix VALUES (ev.global_position);
			prev := ev.global_position;
		END LOOP;
		IF prev > cp THEN
			PERFORM es_store.save_checkpoint('$checkpoint', prev, expected_position => cp);
		END IF;
		RETURN prev;
	END \$\$;
	};
}

# Run consume() (consumer_sql, with the same suffix) until it makes no
# progress; true if it did within $max_steps (default 100000) steps.
sub drain_consumer
{
	my ($node, $checkpoint, $max_steps, $suffix) = @_;
	$suffix //= '';
	for (1 .. ($max_steps // 100000))
	{
		my $before = $node->safe_psql('postgres', "SELECT es_store.get_checkpoint('$checkpoint')");
		return 1 if $node->safe_psql('postgres', "SELECT consume$suffix()") == $before;
	}
	return 0;
}

# What psql prints on stderr for $sql on $node (database $db, default
# postgres), with VERBOSITY=verbose: the SQLSTATE and the message of an
# error, empty when there was none.
sub psql_error
{
	my ($node, $sql, $db) = @_;
	my ($ret, $out, $err) = $node->psql($db // 'postgres', $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $err;
}

# The SQLSTATEs the README's Errors table lists (the tests run from the
# tree's root).
sub documented_sqlstates
{
	my %d;
	open my $fh, '<', 'README.md' or die "README.md: $!";
	my $in = 0;
	while (<$fh>)
	{
		$in = 1 if /^## Errors/;
		$in = 0 if /^## / && !/^## Errors/;
		$d{$1} = 1 if $in && /^\| `([0-9A-Z]{5})` \|/;
	}
	close $fh;
	return %d;
}


# The Citus suites run only where Citus is installed (test/citus_install.sh
# builds it): elsewhere they are skipped, or fail when ES_REQUIRE_CITUS=1
# (CI, which builds Citus first).  Call before planning any test.
sub skip_without_citus
{
	my $libdir = `pg_config --pkglibdir`;
	chomp $libdir;
	return if -f "$libdir/citus.so";
	if ($ENV{ES_REQUIRE_CITUS})
	{
		fail('Citus is installed (ES_REQUIRE_CITUS=1)');
		done_testing();
		exit;
	}
	plan skip_all => 'Citus is not installed (bash test/citus_install.sh)';
}

# A Citus coordinator and two workers on localhost, with es_store installed
# and distributed by the README's recipe (Scaling, taken from the README
# itself, so that the tests run what users are told to run).  $extra_conf
# goes into every node's postgresql.conf.  Returns the three nodes.
sub citus_cluster
{
	my ($extra_conf) = @_;
	require PostgreSQL::Test::Cluster;
	require PostgreSQL::Test::Utils;
	my $readme = PostgreSQL::Test::Utils::slurp_file('README.md');
	my ($recipe) = $readme =~ /```sql\n(-- es_store: distribute over Citus by aggregate id\n.*?)```/s;
	die 'the README has no distribution recipe' unless defined $recipe;
	my @nodes;
	for my $name (qw(coordinator worker1 worker2))
	{
		my $node = PostgreSQL::Test::Cluster->new($name);
		$node->init;
		$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'citus'
listen_addresses = 'localhost'
max_prepared_transactions = 20
} . ($extra_conf // ''));
		$node->start;
		$node->safe_psql('postgres', 'CREATE EXTENSION citus');
		push @nodes, $node;
	}
	my ($coord, $w1, $w2) = @nodes;
	$coord->safe_psql('postgres', sprintf(q{
		SELECT citus_set_coordinator_host('localhost', %d);
		SELECT citus_add_node('localhost', %d);
		SELECT citus_add_node('localhost', %d);
		CREATE EXTENSION es_store;
	}, $coord->port, $w1->port, $w2->port));
	$coord->safe_psql('postgres', $recipe);
	return @nodes;
}

# $n aggregate ids of the form "$prefix-<number>" whose shards are on
# $worker (asked of the coordinator $coord).
sub aggregates_on
{
	my ($coord, $worker, $n, $prefix) = @_;
	$prefix //= 'acct';
	my $port = $worker->port;
	return split /\n/, $coord->safe_psql('postgres', qq{
		SELECT id FROM (SELECT '$prefix-' || i AS id, i FROM generate_series(1, 1000) i) a
		WHERE (SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
			   WHERE p.shardid = get_shard_id_for_distribution_column('es_store.events', a.id)) = $port
		ORDER BY i LIMIT $n});
}

1;
