# The global feed across a crash: kill the server (immediate stop) while a
# pgbench load is appending and a two-phase append is prepared, restart,
# and check that
#  - every append acknowledged before the crash is there;
#  - the feed is held back only by the recovered prepared append, and not
#    at all by positions burnt by transactions the crash cut off;
#  - after COMMIT PREPARED the feed returns every stored event, once, in
#    position order, and a consumer that checkpointed before the crash
#    continues without skipping;
#  - positions stay unique and increasing after the restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsStoreTest;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('feed_crash');
$node->init;
$node->append_conf('postgresql.conf', "max_prepared_transactions = 5\nmax_connections = 40");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION es_store');

# A consumer that read and checkpointed some of the feed before the crash.
$node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 20) i,
		LATERAL es_store.append_event('crash', 'acct', 'seed-' || (i % 4), NULL, 'Seed', '{}');
	SELECT es_store.save_checkpoint('crash-consumer',
		(SELECT max(global_position) FROM es_store.read_feed(0, 10)));
});
my $checkpoint = $node->safe_psql('postgres', q{SELECT es_store.get_checkpoint('crash-consumer')});

# Background load: 4 clients appending to 50 aggregates, some transactions
# slow, some rolled back, until the crash cuts them off.
my $tmp = PostgreSQL::Test::Utils::tempdir;
open my $fh, '>', "$tmp/append.sql" or die;
print $fh q{\set agg random(1, 50)
BEGIN;
SELECT count(*) FROM es_store.append_event('crash', 'load', :agg::text, NULL, 'Load', '{}');
SELECT pg_sleep(0.002);
COMMIT;
};
close $fh;
open $fh, '>', "$tmp/rollback.sql" or die;
print $fh q{\set agg random(1, 50)
BEGIN;
SELECT count(*) FROM es_store.append_event('crash', 'load', :agg::text, NULL, 'Lost', '{}');
ROLLBACK;
};
close $fh;
my ($out, $err) = ('', '');
my $load = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-T', '30', '-f', "$tmp/append.sql\@5",
	  '-f', "$tmp/rollback.sql\@1", $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);

# A ledger of appends acknowledged to this client while the load runs,
# before and after a two-phase append is prepared (so that committed events
# sit above the prepared one's position).
my @acked;
sub ledger_append
{
	push @acked, $node->safe_psql('postgres', q{
		SELECT global_position FROM es_store.append_event('crash', 'ledger', 'l', NULL, 'Acked', '{}')});
}
ledger_append() for 1 .. 20;
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT count(*) FROM es_store.append_event('crash', 'tpc', 'p', NULL, 'Prepared', '{}');
	PREPARE TRANSACTION 'es_crash_p';
});
ledger_append() for 1 .. 20;

# Also in flight at the crash: an open append.
my $open = $node->background_psql('postgres');
$open->query_safe('BEGIN');
$open->query_safe(q{SELECT count(*) FROM es_store.append_event('crash', 'open', 'o', NULL, 'Open', '{}')});
my $max_before = $node->safe_psql('postgres', 'SELECT last_value FROM es_store.global_position_seq');

$node->stop('immediate');
$load->finish;    # pgbench fails once the server is gone; that is expected
eval { $open->quit };
$node->start;

# Acknowledged appends survived.
my $acked_list = join(',', @acked);
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM es_store.events WHERE global_position IN ($acked_list)}),
	scalar(@acked), 'every acknowledged append survived the crash');
is($node->safe_psql('postgres', q{SELECT count(*) FROM es_store.events WHERE event_type IN ('Lost', 'Open')}),
	'0', 'no rolled-back or uncommitted append is stored');

# The recovered prepared append holds the feed at its position, and only it.
my $held = $node->safe_psql('postgres', 'SELECT es_store.last_position()');
my $stored_max = $node->safe_psql('postgres', 'SELECT max(global_position) FROM es_store.events');
cmp_ok($held, '<', $acked[-1], 'the recovered prepared append holds the feed back');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM es_store.read_feed($held, 1000)}),
	'0', 'nothing above the held position is readable yet');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_prepared_xacts WHERE gid = 'es_crash_p'}),
	'1', 'the prepared append survived');

$node->safe_psql('postgres', q{COMMIT PREPARED 'es_crash_p'});
my $after_commit = $node->safe_psql('postgres', 'SELECT es_store.last_position()');
is($node->safe_psql('postgres', q{SELECT global_position - 1 FROM es_store.events WHERE event_type = 'Prepared'}),
	$held, 'it held the feed exactly below its own position');
cmp_ok($after_commit, '>=', $stored_max,
	'after COMMIT PREPARED the feed is not held back by positions lost in the crash');

# A new append after the restart is above every position drawn before the
# crash, and readable at once.
my $new_pos = $node->safe_psql('postgres', q{
	SELECT global_position FROM es_store.append_event('crash', 'after', 'a', NULL, 'After', '{}')});
cmp_ok($new_pos, '>', $max_before, 'positions after the restart are above all positions drawn before');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM es_store.read_feed($new_pos - 1, 10)}),
	'1', 'the new append is readable immediately');

# The consumer continues from its checkpoint: it gets every stored event
# above it exactly once, in position order.
my $consumed = $node->safe_psql('postgres', qq{
	CREATE TEMP TABLE seen (global_position bigint PRIMARY KEY, n int);
	DO \$\$
	DECLARE
		cp bigint := es_store.get_checkpoint('crash-consumer');
		ev record;
		prev bigint;
		n int := 0;
	BEGIN
		LOOP
			prev := cp;
			FOR ev IN SELECT * FROM es_store.read_feed(cp, 7) LOOP
				IF ev.global_position <= prev THEN RAISE EXCEPTION 'out of order'; END IF;
				INSERT INTO seen VALUES (ev.global_position, n);
				prev := ev.global_position;
				n := n + 1;
			END LOOP;
			EXIT WHEN prev = cp;
			PERFORM es_store.save_checkpoint('crash-consumer', prev, expected_position => cp);
			cp := prev;
		END LOOP;
	END \$\$;
	SELECT (SELECT count(*) FROM seen) = (SELECT count(*) FROM es_store.events WHERE global_position > $checkpoint)
	   AND NOT EXISTS (SELECT 1 FROM es_store.events e WHERE e.global_position > $checkpoint
					   AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.global_position = e.global_position));
});
is($consumed, 't', 'the consumer read every event after its checkpoint exactly once, in order');

check_log_invariants($node);

$node->stop;
done_testing();
