# es_store.log_conflicts: with it off, the conflicts a correct application
# expects (SE001, a lost optimistic race; SE005, a checkpoint another
# consumer moved; SE008, a failed append condition) stay out of the server log, and every other error (SE002
# here) is logged as before; the client gets each error either way.  Only a
# superuser may turn it off.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('conflict_log');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION es_store;
	CREATE ROLE app LOGIN IN ROLE es_store_writer;
	GRANT es_store_reader TO app;
	SELECT count(*) FROM es_store.append_event('log', 'acct', 'a', 0, 'Opened', '{}',
		event_id => '00000000-0000-4000-8000-000000000001');
	SELECT es_store.save_checkpoint('proj', 1);
	SELECT count(*) FROM es_store.append_if('[{"event_type": "Seat", "payload": 1, "tags": ["seat:1"]}]');
});

# Each conflict in its own statement, with a marker of the setting, so that
# the log tells which statement it came from: an error's report ends in a
# STATEMENT line (log_min_error_statement), which the LOG lines of
# log_statement = all, set by PostgreSQL::Test::Cluster, do not have.
sub conflicts
{
	my ($setting, $tag) = @_;
	my @results;
	for my $sql (
		"SELECT * FROM es_store.append_event('log', 'acct', 'a', 0, 'Opened', '{}') /* se001 $tag */",
		"SELECT es_store.save_checkpoint('proj', 2, expected_position => 0) /* se005 $tag */",
		"SELECT * FROM es_store.append_event('log', 'acct', 'b', 0, 'Opened', '{}', event_id => '00000000-0000-4000-8000-000000000001') /* se002 $tag */",
		"DO \$\$ BEGIN RAISE 'not es_store''s' USING ERRCODE = 'SE001'; END \$\$ /* user $tag */",
		"SELECT * FROM es_store.append_if('[{\"event_type\": \"Seat\", \"payload\": 1, \"tags\": [\"seat:1\"]}]', '{\"items\": [{\"tags\": [\"seat:1\"]}]}') /* se008 $tag */")
	{
		my ($ret, $out, $err) = $node->psql('postgres',
			"SET es_store.log_conflicts = $setting; $sql");
		push @results, $err;
	}
	return @results;
}

my $offset = -s $node->logfile;
my @off = conflicts('off', 'quiet');
like($off[0], qr/wrong expected version/, 'the client gets SE001 with log_conflicts off');
like($off[1], qr/was moved by another consumer/, 'the client gets SE005 with log_conflicts off');
like($off[2], qr/duplicate event id/, 'the client gets SE002 with log_conflicts off');
like($off[4], qr/append condition failed/, 'the client gets SE008 with log_conflicts off');
my @on = conflicts('on', 'loud');
my $log = slurp_file($node->logfile, $offset);

unlike($log, qr/STATEMENT:  [^\n]*se001 quiet/, 'SE001 is not logged with log_conflicts off');
unlike($log, qr/STATEMENT:  [^\n]*se005 quiet/, 'SE005 is not logged with log_conflicts off');
like($log, qr/STATEMENT:  [^\n]*se002 quiet/, 'SE002 is logged with log_conflicts off');
unlike($log, qr/STATEMENT:  [^\n]*se008 quiet/, 'SE008 is not logged with log_conflicts off');
like($log, qr/STATEMENT:  [^\n]*se008 loud/, 'SE008 is logged with log_conflicts on');
like($log, qr/STATEMENT:  [^\n]*user quiet/, 'an SE001 a role raises itself is logged with log_conflicts off');
like($log, qr/STATEMENT:  [^\n]*se001 loud/, 'SE001 is logged with log_conflicts on');
like($log, qr/STATEMENT:  [^\n]*se005 loud/, 'SE005 is logged with log_conflicts on');
like($log, qr/STATEMENT:  [^\n]*se002 loud/, 'SE002 is logged with log_conflicts on');

# (after a call of es_store's, which loads it: before that the setting is a
# placeholder, which the load would then refuse with a warning)
my ($ret, $out, $err) = $node->psql('postgres',
	'SELECT count(*) FROM es_store.read_feed(0, 1); SET es_store.log_conflicts = off',
	extra_params => [ '-U', 'app' ]);
like($err, qr/permission denied to set parameter "es_store.log_conflicts"/,
	'an ordinary role cannot turn it off');

$node->stop;
done_testing();
