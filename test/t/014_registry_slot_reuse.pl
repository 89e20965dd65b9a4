# A reader compares a registering slot's value, not its owner, when it
# raises the slot's floor.  Here a reader of database one finds the slot of
# an appender of database one registering and is held
# (es_store.debug_reader_lock) before its compare-and-swap; the appender
# finishes and disconnects, and a new backend of database two takes the
# same slot (PGPROCs are reused last in, first out) and registers there,
# held in turn.  The reader's swap then lands on database two's
# registration, with a floor from database one's much higher sequence.
# The appender of database two must not publish that floor: while it draws
# a large batch, database two's feed would count its registration as above
# every position it draws, and return a position that includes them, before
# they commit (a skip).  A sampler of database two's last_position() checks
# that it stays below the batch's first position while the batch is open.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('slot_reuse');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE one');
$node->safe_psql('postgres', 'CREATE DATABASE two');
$node->safe_psql('one', q{
	CREATE EXTENSION es_store;
	-- a database whose positions are far above the other's
	SELECT setval('es_store.global_position_seq', 1000000);
});
$node->safe_psql('two', q{
	CREATE EXTENSION es_store;
	SELECT count(*) FROM es_store.append_event('t', 'acct', 'seed', 0, 'Seed', '{}');
	CREATE TABLE samples (n int, max_seen bigint, min_seen bigint);
});

# The gates, and every session but the appenders, connected first.
my $gate_a = $node->background_psql('one');
$gate_a->query_safe('BEGIN');
$gate_a->query_safe('SELECT pg_advisory_xact_lock(4242)');
my $gate_r = $node->background_psql('one');
$gate_r->query_safe('BEGIN');
$gate_r->query_safe('SELECT pg_advisory_xact_lock(4343)');
my $gate_two = $node->background_psql('two');
$gate_two->query_safe('BEGIN');
$gate_two->query_safe('SELECT pg_advisory_xact_lock(4242)');
my $sampler = $node->background_psql('two');
my $reader = $node->background_psql('one');
$reader->query_safe('SET es_store.debug_reader_lock = 4343');

# The appender of database one, held while it registers.
my $first = $node->background_psql('one');
my $first_pid = $first->query_safe('SELECT pg_backend_pid()');
$first->query_safe('SET es_store.debug_registration_lock = 4242');
$first->query_until(qr/started/, q{\echo started
SELECT global_position FROM es_store.append_event('o', 'acct', 'a', NULL, 'One', '{}');
});
wait_for_waiters('one', 1);

# The reader finds it registering and is held before its swap.
$reader->query_until(qr/reading/, q{\echo reading
SELECT es_store.last_position();
});
wait_for_waiters('one', 2);

# The appender of database one goes on, commits and leaves (its PGPROC goes
# back to the head of the free list); the reader stays held.
$gate_a->query_safe('COMMIT');
$first->query_safe('');
$first->quit;
$node->poll_query_until('one', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $first_pid")
  or die 'the first appender did not leave';

my $batch = 50000;
my $second = $node->background_psql('two');
$second->query_safe('SET es_store.debug_registration_lock = 4242');
$second->query_safe("SET es_store.max_batch_events = $batch");
$second->query_safe('BEGIN');
$second->query_until(qr/started/, qq{\\echo started
SELECT min(global_position) FROM es_store.append('t', 'acct', 'b', NULL,
	array_fill('Two'::text, ARRAY[$batch]), array_fill('{}'::jsonb, ARRAY[$batch]));
});
wait_for_waiters('two', 1);

# Now the reader's swap lands on database two's registration.
$gate_r->query_safe('COMMIT');
my $reader_result = $reader->query_safe('');
note("the reader of database one returned $reader_result");

# Database two moves on; a reader there finds the registration's foreign
# floor above its own sequence value and trusts it (does not count the
# slot).  The position it returns must stay a lower bound of every later
# one: the registration, when it goes on, must not publish below it.
$node->safe_psql('two', q{
	SELECT count(*) FROM es_store.append('t', 'acct', 'c', NULL,
		array_fill('Other'::text, ARRAY[200]), array_fill('{}'::jsonb, ARRAY[200]))});
my $trusted = $node->safe_psql('two', 'SELECT es_store.last_position()');
is($trusted, $node->safe_psql('two', 'SELECT max(global_position) FROM es_store.events'),
	"database two's position covers what committed while the foreign floor was in place ($trusted)");

# Sample database two's position while its appender draws its batch.
my $two_before = $node->safe_psql('two', 'SELECT last_value FROM es_store.global_position_seq');
$sampler->query_until(qr/sampling/, qq{\\echo sampling
DO \$\$
DECLARE n int := 0; m bigint := 0; lo bigint := 9223372036854775807; v bigint;
BEGIN
	LOOP
		v := es_store.last_position();
		m := greatest(m, v);
		lo := least(lo, v);
		n := n + 1;
		EXIT WHEN (SELECT last_value FROM es_store.global_position_seq) >= $two_before + $batch;
	END LOOP;
	INSERT INTO samples VALUES (n, m, lo);
END \$\$;
});
$gate_two->query_safe('COMMIT');
my $batch_first = $second->query_safe('');
$sampler->query_safe('SELECT 1');
my ($samples, $max_seen, $min_seen) = split /\|/, $node->safe_psql('two', 'SELECT n, max_seen, min_seen FROM samples');
cmp_ok($max_seen, '<', $batch_first,
	"database two's feed stayed below the open batch (first position $batch_first; highest of $samples reads: $max_seen)");
cmp_ok($min_seen, '>=', $trusted,
	"and did not go back below the position returned before (lowest read: $min_seen)");
is($node->safe_psql('two', 'SELECT count(*) FROM es_store.read_feed(0, 100000)'), '201',
	'the open batch is not readable');
$second->query_safe('COMMIT');
is($node->safe_psql('two', 'SELECT count(*) FROM es_store.read_feed(0, 100000)'), 201 + $batch,
	'after its commit it is, whole');

$_->quit for ($gate_a, $gate_r, $gate_two, $sampler, $reader, $second);
$node->stop;
done_testing();

# Wait until $n sessions of database $db wait for an advisory lock.
sub wait_for_waiters
{
	my ($db, $n) = @_;
	$node->poll_query_until('postgres', qq{
		SELECT count(*) >= $n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = '$db'})
	  or die "no $n waiters in $db";
	return;
}
