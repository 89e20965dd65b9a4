# Auditing with pgaudit.  Its session log records the calls of es_store's
# functions (class FUNCTION), by any role.  Its object log (pgaudit.role)
# records es_store's reads and writes of its tables, those the C paths make
# without SQL statements included (direct.c and scan.c check privileges
# through ExecCheckRTPerms, where the object audit hooks in), but only when
# the session's user is a member of the extension's owner: pgaudit skips
# what runs inside a SECURITY DEFINER function for other callers, by design.
# An application role therefore shows up in the session log, not in the
# object log.  Needs the postgresql-15-pgaudit package.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pgaudit');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'pgaudit'
pgaudit.role = 'es_auditor'
pgaudit.log = 'function'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION pgaudit;
	CREATE EXTENSION es_store;
	CREATE ROLE es_auditor;
	GRANT SELECT, INSERT, UPDATE ON es_store.events, es_store.aggregate_heads TO es_auditor;
	CREATE ROLE app LOGIN IN ROLE es_store_writer;
});

my %calls = (
	'create' => q{SELECT count(*) FROM es_store.append_event('audit', 'acct', 'a', 0, 'Opened', '{}')},
	'advance' => q{SELECT count(*) FROM es_store.append_event('audit', 'acct', 'a', 1, 'Deposited', '{}')},
	'batch' => q{SELECT count(*) FROM es_store.append('audit', 'acct', 'a', NULL, ARRAY['X', 'Y'], ARRAY['{}', '{}']::jsonb[])},
	'read' => q{SELECT count(*) FROM es_store.read_aggregate('audit', 'acct', 'a')},
	'feed' => q{SELECT count(*) FROM es_store.read_feed(0, 10)},
);
my %objects = (
	'create' => [ 'WRITE,INSERT,TABLE,es_store.aggregate_heads', 'WRITE,INSERT,TABLE,es_store.events' ],
	'advance' => [ 'TABLE,es_store.aggregate_heads', 'WRITE,INSERT,TABLE,es_store.events' ],
	'batch' => [ 'TABLE,es_store.aggregate_heads', 'WRITE,INSERT,TABLE,es_store.events' ],
	'read' => [ 'READ,SELECT,TABLE,es_store.aggregate_heads', 'READ,SELECT,TABLE,es_store.events' ],
	'feed' => [ 'READ,SELECT,TABLE,es_store.events' ],
);
# A superuser session: the object log has the tables' reads and writes.
for my $name (qw(create advance batch read feed))
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', $calls{$name});
	my $log = slurp_file($node->logfile, $offset);
	my $statement = quotemeta($calls{$name});
	for my $object (@{ $objects{$name} })
	{
		like($log, qr/AUDIT: OBJECT,\d+,\d+,[A-Z,]*\Q$object\E,"$statement"/,
			"superuser, $name: the object log records $object under the caller's statement");
	}
}
# An application's role: only the session log has its calls, whichever
# path the call takes (the direct one under READ COMMITTED, the statement
# one under REPEATABLE READ).
for my $case (
	[ 'READ COMMITTED', 'b' ],
	[ 'REPEATABLE READ', 'c' ])
{
	my ($isolation, $id) = @$case;
	for my $call (
		qq{SELECT count(*) FROM es_store.append_event('audit', 'acct', '$id', 0, 'Opened', '{}')},
		qq{SELECT count(*) FROM es_store.append_event('audit', 'acct', '$id', 1, 'Deposited', '{}')},
		qq{SELECT count(*) FROM es_store.read_aggregate('audit', 'acct', '$id')},
		q{SELECT count(*) FROM es_store.read_feed(0, 10)})
	{
		my $offset = -s $node->logfile;
		$node->safe_psql('postgres', "BEGIN ISOLATION LEVEL $isolation; $call; COMMIT;",
			extra_params => [ '-U', 'app' ]);
		my $log = slurp_file($node->logfile, $offset);
		my ($function) = $call =~ /FROM (es_store\.\w+)\(/;
		like($log, qr/AUDIT: SESSION,\d+,\d+,FUNCTION,EXECUTE,FUNCTION,\Q$function\E,/,
			"app, $isolation: the session log records the call of $function");
		unlike($log, qr/AUDIT: OBJECT,[^\n]*es_store\./,
			"app, $isolation, $function: the object log records nothing inside the SECURITY DEFINER function");
	}
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM es_store.events}), '8',
	'the audited appends are stored');

$node->stop;
done_testing();
