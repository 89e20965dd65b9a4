# EsStoreTest: checks shared by es_store's Perl TAP tests.
package EsStoreTest;

use strict;
use warnings;
use Test::More;
use Exporter 'import';

our @EXPORT = qw(check_log_invariants);

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
							  HAVING max(aggregate_version) <> count(*)) s}),
		'0', 'versions are dense in every stream');
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

1;
