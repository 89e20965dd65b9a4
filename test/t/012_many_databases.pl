# The feed's position never decreases, in any number of databases.
#
# Before 0.2.1 the registry kept the highest position returned per database
# in a table of 128 entries that were never freed, and an appender that
# had read the sequence but not yet published its registration could pull
# the position of a database without an entry back.  Here 130 other
# databases read their feed first (CI clusters create a database per test,
# so 128 are reached quickly), some of them are dropped, and then the
# interleaving that moved the position backwards runs in a new database:
# an appender held (es_store.debug_registration_lock) between reading the
# sequence and publishing, a commit above it, and reads before and while
# the appender draws its positions.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('many_databases');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE DATABASE es_template;
});
$node->safe_psql('es_template', 'CREATE EXTENSION es_store');
$node->safe_psql('postgres', q{
	SELECT format('CREATE DATABASE es_many_%s TEMPLATE es_template STRATEGY FILE_COPY', i)
	FROM generate_series(1, 130) i \gexec
});
for my $i (1 .. 130)
{
	$node->safe_psql("es_many_$i", q{
		SELECT count(*) FROM es_store.append_event('m', 'acct', 'a', NULL, 'E', '{}');
		SELECT es_store.last_position();
	});
}
$node->safe_psql('postgres', q{
	SELECT format('DROP DATABASE es_many_%s', i) FROM generate_series(1, 130, 2) i \gexec
});
$node->safe_psql('postgres', 'CREATE DATABASE es_last TEMPLATE es_template STRATEGY FILE_COPY');

# The gate holds the advisory lock the appender waits for while it
# registers.  The appender's batch is large, so that it takes a while to
# draw its positions: before 0.2.1 its slot held the stale sequence value it
# had read (plus one) during all of that time, and a read in between
# returned a position below the one returned before the gate opened.
$node->safe_psql('es_last', 'CREATE TABLE samples (n int, min_seen bigint)');
my $batch = 50000;
my $gate = $node->background_psql('es_last');
$gate->query_safe('BEGIN');
$gate->query_safe('SELECT pg_advisory_xact_lock(4242)');

my $held = $node->background_psql('es_last');
$held->query_safe('SET es_store.debug_registration_lock = 4242');
$held->query_safe("SET es_store.max_batch_events = $batch");
$held->query_safe('BEGIN');
$held->query_until(qr/started/, qq{\\echo started
SELECT count(*) FROM es_store.append('f', 'acct', 'held', NULL,
	array_fill('Held'::text, ARRAY[$batch]), array_fill('{}'::jsonb, ARRAY[$batch]));
});
$node->poll_query_until('es_last', q{
	SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted})
  or die 'the appender did not reach its registration';

my $written = $node->safe_psql('es_last',
	q{SELECT global_position FROM es_store.append_event('f', 'acct', 'w', NULL, 'W', '{}')});
my $first = $node->safe_psql('es_last', 'SELECT es_store.last_position()');
is($first, $written, 'the position covers the commit made while an appender registers');

# Sample the position until the appender has drawn all its positions.
my $sampler = $node->background_psql('es_last');
$sampler->query_until(qr/sampling/, qq{\\echo sampling
DO \$\$
DECLARE n int := 0; m bigint := 9223372036854775807; v bigint;
BEGIN
	LOOP
		v := es_store.last_position();
		n := n + 1;
		m := least(m, v);
		EXIT WHEN (SELECT last_value FROM es_store.global_position_seq) >= $written + $batch;
	END LOOP;
	INSERT INTO samples VALUES (n, m);
END \$\$;
});
$gate->query_safe('COMMIT');
is($held->query_safe(''), $batch, 'the held appender appended its batch');
$sampler->query_safe('SELECT 1');
my ($samples, $min_seen) = split /\|/, $node->safe_psql('es_last', 'SELECT n, min_seen FROM samples');
cmp_ok($min_seen, '>=', $first,
	"the position did not move backwards while the appender drew ($samples reads, lowest $min_seen)");
my ($ret, $out, $err) = $node->psql('es_last',
	"SELECT count(*) FROM es_store.read_feed(0, 100, up_to_position => $first)");
is($ret, 0, 'a position returned earlier is still a valid up_to_position') or diag($err);
is($node->safe_psql('es_last', 'SELECT count(*) FROM es_store.read_feed(0, 100)'),
	'1', 'the held append, still open, holds back nothing below it');
$held->query_safe('COMMIT');
is($node->safe_psql('es_last', q{SELECT count(*) FROM es_store.read_feed(0, 100000)}),
	1 + $batch, 'after its commit the feed returns both');

$gate->quit;
$held->quit;
$sampler->quit;
$node->stop;
done_testing();
