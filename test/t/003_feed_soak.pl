# Soak: pgbench writers append to many aggregates (some transactions slow,
# some rolled back, some losing an expected-version race) while a consumer
# loop reads the feed and saves its checkpoint in the same transaction as
# what it saw.  At the end the consumer has seen every committed event
# exactly once, in position order, and the feed's position never moved
# backwards.  ES_SOAK_SECONDS sets the duration (default 8).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsStoreTest;
use IPC::Run;

my $seconds = $ENV{ES_SOAK_SECONDS} || 8;

my $node = PostgreSQL::Test::Cluster->new('feed_soak');
$node->init;
$node->append_conf('postgresql.conf', 'max_connections = 40');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION es_store;
	CREATE TABLE soak_seen (global_position bigint PRIMARY KEY, page bigint NOT NULL);
	CREATE TABLE soak_bounds (n bigserial PRIMARY KEY, bound bigint NOT NULL);
	-- One consumer step: one page, applied and checkpointed in one
	-- transaction.  Any duplicate (primary key), disorder, or backwards
	-- feed position raises, and pgbench counts the failure.
	CREATE FUNCTION soak_consume() RETURNS bigint LANGUAGE plpgsql AS $$
	DECLARE
		cp bigint := es_store.get_checkpoint('soak');
		bound bigint := es_store.last_position();
		prev bigint := cp;
		ev record;
	BEGIN
		IF bound < (SELECT coalesce(max(b.bound), 0) FROM soak_bounds b) THEN
			RAISE EXCEPTION 'feed position moved backwards to %', bound;
		END IF;
		INSERT INTO soak_bounds (bound) VALUES (bound);
		FOR ev IN SELECT * FROM es_store.read_feed(cp, 50) LOOP
			IF ev.global_position <= prev THEN
				RAISE EXCEPTION 'out of order: % after %', ev.global_position, prev;
			END IF;
			INSERT INTO soak_seen VALUES (ev.global_position, cp);
			prev := ev.global_position;
		END LOOP;
		IF prev > cp THEN
			PERFORM es_store.save_checkpoint('soak', prev, expected_position => cp);
		END IF;
		RETURN prev;
	END $$;
});

my $tmp = PostgreSQL::Test::Utils::tempdir;
my %scripts = (
	'append.sql' => q{\set agg random(1, 200)
SELECT count(*) FROM es_store.append_event('soak', 'acct', :agg::text, NULL, 'E', '{}');
},
	'slow.sql' => q{\set agg random(1, 200)
BEGIN;
SELECT count(*) FROM es_store.append('soak', 'acct', :agg::text, NULL, ARRAY['S1', 'S2'], ARRAY['{}', '{}']::jsonb[]);
SELECT pg_sleep(0.01);
COMMIT;
},
	'rollback.sql' => q{\set agg random(1, 200)
BEGIN;
SELECT count(*) FROM es_store.append_event('soak', 'acct', :agg::text, NULL, 'Lost', '{}');
ROLLBACK;
},
	'loser.sql' => q{\set agg random(1, 200)
DO $$ BEGIN
	PERFORM es_store.append_event('soak', 'acct', ':agg', 0, 'Maybe', '{}');
EXCEPTION WHEN SQLSTATE 'SE001' THEN NULL;
END $$;
},
	'consume.sql' => q{SELECT soak_consume();
},
);
while (my ($name, $body) = each %scripts)
{
	open my $fh, '>', "$tmp/$name" or die;
	print $fh $body;
	close $fh;
}

my ($wout, $werr, $cout, $cerr) = ('', '', '', '');
my $writers = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '6', '-j', '2', '-T', $seconds,
	  '-f', "$tmp/append.sql\@6", '-f', "$tmp/slow.sql\@2",
	  '-f', "$tmp/rollback.sql\@1", '-f', "$tmp/loser.sql\@1",
	  $node->connstr('postgres') ],
	'>', \$wout, '2>', \$werr);
my $consumer = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '1', '-T', $seconds, '-f', "$tmp/consume.sql",
	  $node->connstr('postgres') ],
	'>', \$cout, '2>', \$cerr);
$writers->finish;
$consumer->finish;
is($writers->result(0), 0, 'writers ran without errors') or diag($werr);
is($consumer->result(0), 0, 'the consumer never saw a duplicate, a disorder or a backwards feed')
  or diag($cerr);
like($cout, qr/number of transactions actually processed: [1-9]/, 'the consumer made progress');

# Drain: the consumer catches up with everything committed.
my $drained = 0;
for (1 .. 10000)
{
	my $cp = $node->safe_psql('postgres', q{SELECT es_store.get_checkpoint('soak')});
	my $next = $node->safe_psql('postgres', 'SELECT soak_consume()');
	if ($next == $cp) { $drained = 1; last; }
}
ok($drained, 'the consumer caught up');

my $events = $node->safe_psql('postgres', 'SELECT count(*) FROM es_store.events');
cmp_ok($events, '>', 100, "the writers stored $events events");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM es_store.events e
	WHERE NOT EXISTS (SELECT 1 FROM soak_seen s WHERE s.global_position = e.global_position)}),
	'0', 'the consumer saw every committed event');
is($node->safe_psql('postgres', 'SELECT count(*) FROM soak_seen'), $events,
	'and nothing else (each once: soak_seen is keyed by position)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM es_store.events WHERE event_type = 'Lost'}),
	'0', 'rolled-back appends are not stored');
check_log_invariants($node);

$node->stop;
done_testing();
