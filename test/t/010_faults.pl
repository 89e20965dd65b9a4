# Faults under load: the postmaster is killed (immediate stop, as a power
# loss or an OOM kill of the postmaster would leave it) at a random moment
# of a concurrent load, several times in a row (ES_FAULT_ROUNDS, default 5).
# The load appends single events and batches, races on hot aggregates
# (expected-version losers), creates aggregates, retries appends with the
# same event ids, and runs a consumer that checkpoints in the database;
# beside it, ledger clients record each append whose COMMIT returned.
# After each restart:
#  - every acknowledged append is present;
#  - versions are dense, heads match their streams, positions are unique;
#  - the consumer resumes from its checkpoint and, drained, has seen every
#    event exactly once.
# ES_FAULT_SEED fixes the random moments.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsStoreTest;
use IPC::Run;
use Time::HiRes qw(sleep);

my $rounds = $ENV{ES_FAULT_ROUNDS} || 5;
my $seed = $ENV{ES_FAULT_SEED} // time();
srand($seed);
note("seed $seed");

my $node = PostgreSQL::Test::Cluster->new('faults');
$node->init;
$node->append_conf('postgresql.conf', "max_connections = 60\nmax_prepared_transactions = 5");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION es_store');
$node->safe_psql('postgres', consumer_sql('faults-view', 200));

my $tmp = PostgreSQL::Test::Utils::tempdir;
my %scripts = (
	'single.sql' => q{\set agg random(1, 500)
SELECT count(*) FROM es_store.append_event('f', 'acct', :agg::text, NULL, 'Single', '{}');
},
	'batch.sql' => q{\set agg random(1, 500)
SELECT count(*) FROM es_store.append('f', 'acct', :agg::text, NULL, ARRAY['B1', 'B2', 'B3'],
	ARRAY['{}', '{}', '{}']::jsonb[]);
},
	'hot.sql' => q{\set agg random(1, 3)
DO $$
DECLARE v bigint := es_store.aggregate_version('f', 'hot', ':agg');
BEGIN
	PERFORM es_store.append_event('f', 'hot', ':agg', v, 'Hot', '{}');
EXCEPTION WHEN SQLSTATE 'SE001' THEN NULL;
END $$;
},
	'create.sql' => q{\set agg random(1, 1000000000)
SELECT count(*) FROM es_store.append_event('f', 'new', :agg::text, 0, 'Created', '{}');
},
	'retry.sql' => q{\set n random(1, 300)
SELECT count(*) FROM es_store.append('f', 'retry', :n::text, 0, ARRAY['R1', 'R2'], ARRAY['{}', '{}']::jsonb[],
	event_ids => ARRAY[md5('r1-' || :n)::uuid, md5('r2-' || :n)::uuid]);
},
	'slow.sql' => q{\set agg random(1, 500)
BEGIN;
SELECT count(*) FROM es_store.append_event('f', 'acct', :agg::text, NULL, 'Slow', '{}');
SELECT pg_sleep(0.005);
COMMIT;
},
	'consume.sql' => q{SELECT consume();
},
);
while (my ($name, $body) = each %scripts)
{
	open my $fh, '>', "$tmp/$name" or die;
	print $fh $body;
	close $fh;
}

# A ledger client: appends one event per transaction and writes down each
# position once its COMMIT has returned, until the server goes away.
sub start_ledger
{
	my ($n, $round) = @_;
	my $file = "$tmp/ledger-$round-$n";
	my $sql = "$tmp/ledger-$n.sql";
	open my $fh, '>', $sql or die;
	print $fh "SELECT global_position FROM es_store.append_event('f', 'ledger', '$n', NULL, 'Acked', '{}');\n"
	  for 1 .. 100000;
	close $fh;
	# psql prints each result after the commit of its statement; -o is
	# flushed line by line with autocommit on
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', $sql ],
		'>', $file, '2>', '/dev/null');
	return ($h, $file);
}

my $lost_acked = 0;
my $acked_total = 0;
for my $round (1 .. $rounds)
{
	my ($out, $err) = ('', '');
	my $load = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '12', '-j', '2', '-T', '60',
		  '-f', "$tmp/single.sql\@5", '-f', "$tmp/batch.sql\@2", '-f', "$tmp/hot.sql\@2",
		  '-f', "$tmp/create.sql\@1", '-f', "$tmp/retry.sql\@1", '-f', "$tmp/slow.sql\@1",
		  '-f', "$tmp/consume.sql\@1", $node->connstr('postgres') ],
		'>', \$out, '2>', \$err);
	my @ledgers = map { [ start_ledger($_, $round) ] } 1 .. 2;
	my $wait = 0.5 + rand(2.5);
	sleep($wait);
	$node->stop('immediate');
	$load->finish;
	$_->[0]->finish for @ledgers;
	$node->start;

	my @acked;
	for my $l (@ledgers)
	{
		open my $fh, '<', $l->[1] or die;
		push @acked, grep { /^\d+$/ } map { chomp; $_ } <$fh>;
		close $fh;
	}
	$acked_total += @acked;
	my $present = @acked ? $node->safe_psql('postgres',
		'SELECT count(*) FROM es_store.events WHERE global_position IN (' . join(',', @acked) . ')') : 0;
	is($present, scalar(@acked),
		sprintf('round %d (killed after %.2f s): all %d acknowledged appends survived', $round, $wait, scalar(@acked)));
	$lost_acked += @acked - $present;
	check_log_invariants($node);
}

# Drain the consumer: every event once.
ok(drain_consumer($node, 'faults-view'), 'the consumer caught up');
my $events = $node->safe_psql('postgres', 'SELECT count(*) FROM es_store.events');
is($node->safe_psql('postgres', q{SELECT count(*) FROM es_store.events e
	WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.global_position = e.global_position)}),
	'0', "the consumer, resumed after every crash, saw all $events events");
is($node->safe_psql('postgres', 'SELECT count(*) FROM seen'), $events, 'each exactly once');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT event_id) FROM es_store.events}),
	$events, 'no retried append was stored twice');
note("faults injected: $rounds; acknowledged appends: $acked_total; lost: $lost_acked; events: $events");

$node->stop;
done_testing();
