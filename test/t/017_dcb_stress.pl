# Append conditions under load: many racers per scope, each reading its
# scope (a tag) up to the safe position, deciding, and appending with the
# condition "nothing tagged so after the position I read".  The invariant,
# checked over the stored log afterwards: for every stored conditional
# append, no other event of its scope lies between the position it read up
# to and its own.  The same run against a copy of the check without
# es_store's wait (test/dcb_broken.sql) must break it, which shows the
# check can fail.  And a transaction that appends thousands of distinct
# tags: it is allowed, fills its scope filter, and every condition above it
# waits for it (and then succeeds: no memory grows, nothing errors).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seconds = $ENV{ES_DCB_STRESS_SECONDS} || 8;
my $clients = $ENV{ES_DCB_STRESS_CLIENTS} || 12;
my $scopes = 4;

my $node = PostgreSQL::Test::Cluster->new('dcb_stress');
$node->init;
$node->append_conf('postgresql.conf', "max_connections = 60\nlog_statement = none\nlog_min_error_statement = fatal");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION es_store');
$node->safe_psql('postgres', slurp_file('test/dcb_broken.sql'));
# One racer's command: read the scope up to the safe position, decide (the
# scope is free when no event of it came after the last one this racer
# saw: always, here, so every racer tries), append with the condition;
# the event records the position read in its metadata.  SE008 is a lost
# race, returned as such.
$node->safe_psql('postgres', q{
	CREATE FUNCTION racer(scope int, broken boolean) RETURNS text LANGUAGE plpgsql AS $$
	DECLARE
		tag text := 'scope:' || scope;
		query jsonb := jsonb_build_object('items', jsonb_build_array(
			jsonb_build_object('tags', jsonb_build_array(tag))));
		up_to bigint := es_store.last_position();
		seen int;
		events jsonb;
	BEGIN
		SELECT count(*) INTO seen FROM es_store.read_query(query, up_to_position => up_to);
		events := jsonb_build_array(jsonb_build_object('event_type', 'Claimed',
			'payload', jsonb_build_object('seen', seen), 'tags', jsonb_build_array(tag),
			'metadata', jsonb_build_object('after', up_to, 'scope', tag)));
		IF broken THEN
			PERFORM dcb_broken_append_if(events, query, up_to);
		ELSE
			PERFORM es_store.append_if(events, query, up_to);
		END IF;
		RETURN 'won';
	EXCEPTION WHEN SQLSTATE 'SE008' THEN
		RETURN 'lost';
	END $$;
	-- Unconditional appends of the same scopes race with the racers too.
	CREATE FUNCTION plain(scope int) RETURNS void LANGUAGE sql AS $$
		SELECT count(*) FROM es_store.append_event('stress', 'noise', scope::text, NULL, 'Noise',
			'{}', tags => ARRAY['noise:' || scope]);
	$$;
});

my $tmp = PostgreSQL::Test::Utils::tempdir;
sub run_load
{
	my ($broken) = @_;
	open my $fh, '>', "$tmp/racer.sql" or die;
	print $fh "\\set s random(1, $scopes)\nSELECT racer(:s, $broken);\n";
	close $fh;
	open $fh, '>', "$tmp/plain.sql" or die;
	print $fh "\\set s random(1, $scopes)\nSELECT plain(:s);\n";
	close $fh;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'pgbench', '-n', '-c', $clients, '-j', '2', '-T', $seconds,
		'-f', "$tmp/racer.sql\@9", '-f', "$tmp/plain.sql\@1", $node->connstr('postgres') ],
		'>', \$out, '2>', \$err);
	my ($tx) = $out =~ /number of transactions actually processed: (\d+)/;
	my ($failed) = $out =~ /number of failed transactions: (\d+)/;
	note("pgbench ($broken): " . ($tx // 'none') . " transactions; $err") if !$tx;
	return $tx // 0;
}

# The invariant over the stored log: a stored claim at position p that read
# up to a has no other claim of its scope in (a, p).
sub violations
{
	return $node->safe_psql('postgres', q{
		SELECT count(*) FROM es_store.events c
		WHERE c.event_type = 'Claimed'
		  AND EXISTS (SELECT 1 FROM es_store.events o
					  WHERE o.event_type = 'Claimed' AND o.tags = c.tags
						AND o.global_position > (c.metadata ->> 'after')::bigint
						AND o.global_position < c.global_position)});
}

my $tx = run_load('false');
cmp_ok($tx, '>', 100, "the racers ran ($tx transactions of $clients clients for $seconds s)");
my ($claims, $won_scopes) = split /\|/, $node->safe_psql('postgres', q{
	SELECT count(*), count(DISTINCT tags) FROM es_store.events WHERE event_type = 'Claimed'});
cmp_ok($claims, '>', $scopes, "$claims conditional appends were stored over $won_scopes scopes");
is(violations(), 0, 'es_store: no stored conditional append has another event of its scope between its read and its position');

# The broken copy, from a clean log.
$node->safe_psql('postgres', 'DROP EXTENSION es_store CASCADE; CREATE EXTENSION es_store');
$node->safe_psql('postgres', slurp_file('test/dcb_broken.sql'));
$node->safe_psql('postgres', q{
	CREATE OR REPLACE FUNCTION plain(scope int) RETURNS void LANGUAGE sql AS $$
		SELECT count(*) FROM es_store.append_event('stress', 'noise', scope::text, NULL, 'Noise',
			'{}', tags => ARRAY['noise:' || scope]);
	$$;});
$tx = run_load('true');
cmp_ok($tx, '>', 100, "the broken racers ran ($tx transactions)");
my $broken = violations();
cmp_ok($broken, '>', 0, "the check without the wait lets $broken conditional appends through with another event of their scope before them");

# Thousands of distinct tags in one transaction: 100 events of 50 tags.
$node->safe_psql('postgres', 'DROP EXTENSION es_store CASCADE; CREATE EXTENSION es_store');
my $bulk = $node->background_psql('postgres');
$bulk->query_safe('BEGIN');
is($bulk->query_safe(q{
	SELECT count(*) FROM es_store.append_if((
		SELECT jsonb_agg(jsonb_build_object('event_type', 'Imported', 'payload', e,
			'tags', (SELECT jsonb_agg('bulk:' || e || ':' || t) FROM generate_series(1, 50) t)))
		FROM generate_series(1, 100) e))}), 100, 'one transaction appends 100 events with 5000 distinct tags');
# A condition on an unrelated tag, above it: the full filter matches
# everything, so it waits for the bulk transaction.
my $waiter = $node->background_psql('postgres');
$waiter->query_until(qr/start/, q{
	\echo start
	SELECT count(*) FROM es_store.append_if(
		'[{"event_type": "Other", "payload": 1, "tags": ["other:1"]}]',
		'{"items": [{"tags": ["other:1"]}]}');
});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	WHERE wait_event_type = 'Lock' AND wait_event = 'transactionid'
	  AND query LIKE '%other:1%'}), 'a condition on an unrelated tag waits for the transaction whose filter is full');
$bulk->query_safe('COMMIT');
$bulk->quit;
$waiter->quit;
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM es_store.read_query('{"items": [{"tags": ["other:1"]}]}')}), 1,
	'then it appends (the bulk events do not match its condition)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM es_store.event_tags}), 5001,
	'every distinct tag of the bulk transaction has its event_tags row');

$node->stop;
done_testing();
