# Many sessions creating the same new aggregates at once, with expected
# version "any": none fails.  Since 0.3.0 a new aggregate's stream id is
# its key hash, so two creators of one key choose the same id, and the
# second must see the speculative conflict on aggregate_heads_pkey and run
# the statement, not get a unique violation (it did, in the first 0.3.0
# build: bench.sh's 32 lag writers on a fresh box).  Afterwards every
# aggregate has one head row and dense versions, and most stream ids are
# key hashes (one can be a sequence value when the creator it saw in
# progress took its row back, see src/README.md "Stream ids").
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('creation');
$node->init;
$node->append_conf('postgresql.conf', 'max_connections = 60');
$node->start;

for my $round (1 .. 3)
{
	$node->safe_psql('postgres',
		'DROP EXTENSION IF EXISTS es_store; CREATE EXTENSION es_store');
	$node->pgbench(
		'-n -M prepared -c 24 -j 2 -T 2',
		0,
		[qr{processed: [1-9]}],
		[qr{^(?!.*(aborted|ERROR))}s],
		"round $round: 24 sessions creating 300 aggregates, no error",
		{
			"015_append_$round" => q{
\set k random(1, 300)
SELECT (es_store.append_event('cc', 'acct', (:k)::text, NULL, 'E', '{}')).global_position;
}
		});
	is( $node->safe_psql(
			'postgres', q{
		SELECT count(*) FILTER (WHERE h.version <> e.n OR e.n <> e.top)
		FROM es_store.aggregate_heads h
		JOIN (SELECT stream_id, count(*) AS n, max(aggregate_version) AS top
			  FROM es_store.events GROUP BY stream_id) e USING (stream_id)}),
		'0',
		"round $round: versions dense");
	my ($heads, $hashed) = split /\|/, $node->safe_psql('postgres',
		'SELECT count(*), count(*) FILTER (WHERE stream_id = key_hash) FROM es_store.aggregate_heads');
	ok($hashed > $heads / 2, "round $round: $hashed of $heads stream ids are key hashes");
	is( $node->safe_psql(
			'postgres', q{
		SELECT count(DISTINCT aggregate_id) = (SELECT count(*) FROM es_store.aggregate_heads)
		FROM es_store.events}),
		't',
		"round $round: one head row per aggregate");
}

$node->stop;
done_testing();
