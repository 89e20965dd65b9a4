# Soak: 32 pgbench clients for ES_SOAK_SECONDS (default 10) mix appends to
# many aggregates, expected-version races on hot ones, creations, explicit
# versions, idempotent retries and conflicting reuse of event ids, JSON
# batches, slow, rolled-back and savepoint-rolled-back appends, REPEATABLE
# READ appends, reads of aggregates, and feed consumers: one per segment of
# two, and two competing for one checkpoint with compare-and-set.  Every
# error a script expects is caught and its SQLSTATE recorded.
# Afterwards:
#  - each consumer, drained, has seen every committed event of its share
#    exactly once, in position order, and the feed never moved backwards;
#  - the event log's invariants hold;
#  - no SQLSTATE was raised (caught, or in the server log) that the
#    README's Errors table does not list.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsStoreTest;
use IPC::Run;

my $seconds = $ENV{ES_SOAK_SECONDS} || 10;

my %documented = documented_sqlstates();
cmp_ok(scalar(keys %documented), '>=', 10, 'the README documents the SQLSTATEs: ' . join(' ', sort keys %documented));

my $node = PostgreSQL::Test::Cluster->new('soak');
$node->init;
$node->append_conf('postgresql.conf', q{
max_connections = 60
log_line_prefix = '%m [%p] %e '
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION es_store;
	CREATE TABLE soak_errors (sqlstate text, script text);
	CREATE TABLE soak_seen (consumer text, global_position bigint, PRIMARY KEY (consumer, global_position));
	CREATE TABLE soak_bounds (n bigserial PRIMARY KEY, pid int NOT NULL, bound bigint NOT NULL);
	-- One consumer step: one page of its share of the feed, checkpointed
	-- (compare-and-set, so that of two competing consumers only one takes
	-- the page) and applied in one transaction.  A duplicate (primary key),
	-- a disorder, or a position below one this session read before raises;
	-- SE005 (the other consumer of the checkpoint saved first) is expected
	-- and recorded.
	CREATE FUNCTION soak_consume(consumer text, seg int, segs int) RETURNS bigint LANGUAGE plpgsql AS $$
	DECLARE
		cp bigint;
		bound bigint := es_store.last_position();
		page bigint[];
		prev bigint;
	BEGIN
		IF bound < (SELECT coalesce(max(b.bound), 0) FROM soak_bounds b WHERE b.pid = pg_backend_pid()) THEN
			RAISE EXCEPTION 'feed position moved backwards to %', bound;
		END IF;
		INSERT INTO soak_bounds (pid, bound) VALUES (pg_backend_pid(), bound);
		cp := es_store.get_checkpoint(consumer);
		SELECT array_agg(f.global_position ORDER BY f.ordinality) INTO page
		FROM es_store.read_feed(cp, 50, segment => seg, segment_count => segs) WITH ORDINALITY AS f;
		IF page IS NULL THEN
			RETURN cp;
		END IF;
		BEGIN
			PERFORM es_store.save_checkpoint(consumer, page[array_upper(page, 1)], expected_position => cp);
		EXCEPTION WHEN SQLSTATE 'SE005' THEN
			INSERT INTO soak_errors VALUES (SQLSTATE, 'consume');
			RETURN cp;
		END;
		prev := cp;
		FOR i IN 1 .. array_upper(page, 1) LOOP
			IF page[i] <= prev THEN
				RAISE EXCEPTION 'out of order: % after %', page[i], prev;
			END IF;
			INSERT INTO soak_seen VALUES (consumer, page[i]);
			prev := page[i];
		END LOOP;
		RETURN prev;
	END $$;
	-- Run one statement, recording the SQLSTATE of any error it raises.
	CREATE FUNCTION soak_try(script text, sql text) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		EXECUTE sql;
	EXCEPTION WHEN OTHERS THEN
		INSERT INTO soak_errors VALUES (SQLSTATE, script);
	END $$;
});

my $tmp = PostgreSQL::Test::Utils::tempdir;
my %scripts = (
	'append' => q{\set agg random(1, 2000)
SELECT count(*) FROM es_store.append_event('soak', 'acct', :agg::text, NULL, 'E', jsonb_build_object('n', :agg));
},
	'batch' => q{\set agg random(1, 2000)
SELECT count(*) FROM es_store.append('soak', 'acct', :agg::text, NULL, ARRAY['B1', 'B2', 'B3', 'B4'],
	ARRAY['{}', '{}', '{}', '{}']::jsonb[]);
},
	'hot' => q{\set agg random(1, 4)
SELECT soak_try('hot', format($q$SELECT es_store.append_event('soak', 'hot', '%s', %s, 'Hot', '{}')$q$,
	:agg, es_store.aggregate_version('soak', 'hot', :agg::text)));
},
	'create' => q{\set agg random(1, 20000)
SELECT soak_try('create', $q$SELECT es_store.append_event('soak', 'new', ':agg', 0, 'Created', '{}')$q$);
},
	'at_version' => q{\set agg random(1, 50)
\set v random(1, 30)
SELECT soak_try('at_version', $q$SELECT es_store.append_at_version('soak', 'explicit', ':agg', :v, 'At', '{}')$q$);
},
	'retry' => q{\set n random(1, 500)
SELECT soak_try('retry', $q$SELECT es_store.append('soak', 'retry', ':n', 0, ARRAY['R1', 'R2'], ARRAY['{}', '{}']::jsonb[],
	event_ids => ARRAY[md5('r1-:n')::uuid, md5('r2-:n')::uuid])$q$);
},
	'reuse' => q{\set n random(1, 500)
SELECT soak_try('reuse', $q$SELECT es_store.append_event('soak', 'thief', ':n', NULL, 'Stolen', '{}',
	event_id => md5('r1-:n')::uuid)$q$);
},
	'json' => q{\set n random(1, 300)
SELECT count(*) FROM es_store.append_events(NULL, jsonb_build_array(
	jsonb_build_object('stream_name', 'cart-' || :n, 'event_type', 'J', 'payload', jsonb_build_object('n', :n)),
	jsonb_build_object('stream_name', 'cart-' || :n, 'event_type', 'K', 'payload', NULL)));
},
	'slow' => q{\set agg random(1, 2000)
BEGIN;
SELECT count(*) FROM es_store.append('soak', 'acct', :agg::text, NULL, ARRAY['S1', 'S2'], ARRAY['{}', '{}']::jsonb[]);
SELECT pg_sleep(0.01);
COMMIT;
},
	'rollback' => q{\set agg random(1, 2000)
BEGIN;
SELECT count(*) FROM es_store.append_event('soak', 'acct', :agg::text, NULL, 'Lost', '{}');
ROLLBACK;
},
	'savepoint' => q{\set agg random(1, 2000)
BEGIN;
SAVEPOINT s;
SELECT count(*) FROM es_store.append_event('soak', 'acct', :agg::text, NULL, 'Lost', '{}');
ROLLBACK TO s;
SELECT count(*) FROM es_store.append_event('soak', 'acct', :agg::text, NULL, 'Kept', '{}');
COMMIT;
},
	'repeatable' => q{\set agg random(1, 4)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT soak_try('repeatable', $q$SELECT es_store.append_event('soak', 'hot', ':agg', NULL, 'RR', '{}')$q$);
COMMIT;
},
	'read' => q{\set agg random(1, 2000)
SELECT count(*) FROM es_store.read_aggregate('soak', 'acct', :agg::text, max_count => 20);
SELECT es_store.aggregate_version('soak', 'acct', :agg::text), es_store.count_events('soak', 'acct', :agg::text, 2);
SELECT count(*) FROM es_store.read_stream('cart-' || :agg);
},
	'seg0' => q{SELECT soak_consume('seg-0-of-2', 0, 2);
},
	'seg1' => q{SELECT soak_consume('seg-1-of-2', 1, 2);
},
	'shared' => q{SELECT soak_consume('shared', 0, 1);
},
);
my @writer_args;
my %weights = (append => 8, batch => 2, hot => 4, create => 2, at_version => 1, retry => 2, reuse => 1,
	json => 1, slow => 1, rollback => 1, savepoint => 1, repeatable => 1, read => 4);
for my $name (sort keys %scripts)
{
	open my $fh, '>', "$tmp/$name.sql" or die;
	print $fh $scripts{$name};
	close $fh;
	push @writer_args, '-f', "$tmp/$name.sql\@$weights{$name}" if $weights{$name};
}

my @runs;
my %outputs;
sub run_pgbench
{
	my ($name, $clients, @files) = @_;
	my ($out, $err) = ('', '');
	$outputs{$name} = [ \$out, \$err ];
	push @runs, [ $name, IPC::Run::start(
		[ 'pgbench', '-n', '-c', $clients, '-j', '2', '-T', $seconds, @files,
		  $node->connstr('postgres') ],
		'>', \$out, '2>', \$err) ];
}
run_pgbench('writers', 28, @writer_args);
run_pgbench('segment 0', 1, '-f', "$tmp/seg0.sql");
run_pgbench('segment 1', 1, '-f', "$tmp/seg1.sql");
run_pgbench('competing', 2, '-f', "$tmp/shared.sql");
for my $r (@runs)
{
	my ($name, $h) = @$r;
	$h->finish;
	is($h->result(0), 0, "$name ran without an unexpected error") or diag(${ $outputs{$name}[1] });
	like(${ $outputs{$name}[0] }, qr/number of transactions actually processed: [1-9]/, "$name made progress");
}

# Drain every consumer.
for my $c ([ 'seg-0-of-2', 0, 2 ], [ 'seg-1-of-2', 1, 2 ], [ 'shared', 0, 1 ])
{
	my ($consumer, $seg, $segs) = @$c;
	my $drained = 0;
	for (1 .. 100000)
	{
		my $cp = $node->safe_psql('postgres', "SELECT es_store.get_checkpoint('$consumer')");
		my $next = $node->safe_psql('postgres', "SELECT soak_consume('$consumer', $seg, $segs)");
		if ($next == $cp) { $drained = 1; last; }
	}
	ok($drained, "$consumer caught up");
	my $share = $segs == 1 ? 'true' :
	  "mod(mod(h.key_hash, $segs) + $segs, $segs) = $seg";
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM es_store.events e JOIN es_store.aggregate_heads h USING (stream_id)
		WHERE $share AND NOT EXISTS (SELECT 1 FROM soak_seen s
			WHERE s.consumer = '$consumer' AND s.global_position = e.global_position)}),
		'0', "$consumer saw every committed event of its share");
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM soak_seen s JOIN es_store.events e USING (global_position)
		JOIN es_store.aggregate_heads h USING (stream_id)
		WHERE s.consumer = '$consumer' AND NOT ($share)}),
		'0', "$consumer saw nothing outside its share");
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM soak_seen s
	WHERE NOT EXISTS (SELECT 1 FROM es_store.events e WHERE e.global_position = s.global_position)}),
	'0', 'no consumer saw an event that is not stored');
my $events = $node->safe_psql('postgres', 'SELECT count(*) FROM es_store.events');
cmp_ok($events, '>', 500, "the writers stored $events events");
is($node->safe_psql('postgres', q{SELECT count(*) FROM es_store.events WHERE event_type = 'Lost'}),
	'0', 'rolled-back appends are not stored');
check_log_invariants($node, 'postgres', 'explicit');

# Every SQLSTATE raised is in the README's Errors table.
my %raised = map { $_ => 1 } split /\n/, $node->safe_psql('postgres',
	'SELECT DISTINCT sqlstate FROM soak_errors ORDER BY 1');
my $log = slurp_file($node->logfile);
$raised{$1} = 1 while $log =~ /\] ([0-9A-Z]{5}) ERROR:/g;
note('raised: ' . join(' ', sort keys %raised));
my @undocumented = grep { !$documented{$_} } sort keys %raised;
is(join(' ', @undocumented), '', 'every SQLSTATE raised is in the README Errors table');
ok($raised{SE001} && $raised{SE002} && $raised{SE005},
	'the expected conflicts happened (SE001, SE002, SE005)');

$node->stop;
done_testing();
