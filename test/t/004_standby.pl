# On a streaming standby, aggregate reads see the primary's events, and the
# global feed refuses with 55000 (a standby cannot see the primary's
# appenders in flight, so it cannot compute a safe position).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION es_store;
	SELECT count(*) FROM es_store.append('rep', 'acct', 'a', 0, ARRAY['A', 'B'], ARRAY['{}', '{}']::jsonb[]);
});
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres', q{
	SELECT count(*) FROM es_store.append_event('rep', 'acct', 'a', 2, 'C', '{}')});
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', q{
	SELECT string_agg(event_type, ',' ORDER BY aggregate_version) FROM es_store.read_aggregate('rep', 'acct', 'a')}),
	'A,B,C', 'aggregate reads work on the standby');
is($standby->safe_psql('postgres', q{SELECT es_store.aggregate_version('rep', 'acct', 'a')}),
	'3', 'versions are visible on the standby');

my ($ret, $out, $err) = $standby->psql('postgres',
	q{\set VERBOSITY verbose
SELECT * FROM es_store.read_feed(0, 10)});
like($err, qr/55000: cannot read the global feed during recovery/,
	'the feed refuses on a standby with 55000');
($ret, $out, $err) = $standby->psql('postgres',
	q{\set VERBOSITY verbose
SELECT es_store.last_position()});
like($err, qr/55000: cannot read the global feed during recovery/,
	'last_position refuses on a standby with 55000');
($ret, $out, $err) = $standby->psql('postgres',
	q{SELECT * FROM es_store.append_event('rep', 'acct', 'a', NULL, 'D', '{}')});
like($err, qr/read-only transaction/, 'appends are refused on the standby');

$standby->stop;
$primary->stop;
done_testing();
