# A standby promoted while prepared (two-phase) appends are in flight: the
# feed on the new primary must hold back at each prepared append until it
# is finished, and a consumer must never skip it.
#
# Before 0.2.1, calling es_store.in_flight_appends() on the standby attached
# the appender registry during recovery; its one-time rebuild of prepared
# slots from the lock table ran there (a standby holds no such locks) and
# was never repeated after promotion, so last_position() jumped past the
# prepared append and a consumer checkpointed beyond it.  Each case below
# runs with and without es_store calls on the standby, and with es_store
# preloaded (its registry then exists from the standby's start).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsStoreTest;

sub run_case
{
	my ($name, $call_on_standby, $preload) = @_;

	my $primary = PostgreSQL::Test::Cluster->new("primary_$name");
	$primary->init(allows_streaming => 1);
	$primary->append_conf('postgresql.conf', 'max_prepared_transactions = 5');
	$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'es_store'")
	  if $preload;
	$primary->start;
	$primary->safe_psql('postgres', q{
		CREATE EXTENSION es_store;
		SELECT count(*) FROM es_store.append('rep', 'acct', 'a', 0,
			ARRAY['A1', 'A2', 'A3'], ARRAY['{}', '{}', '{}']::jsonb[]);
	});
	$primary->backup('base');
	my $standby = PostgreSQL::Test::Cluster->new("standby_$name");
	$standby->init_from_backup($primary, 'base', has_streaming => 1);
	$standby->start;

	# Prepared appends at positions 4 and 6, committed ones at 5 and 7.
	$primary->safe_psql('postgres', q{
		BEGIN;
		SELECT count(*) FROM es_store.append_event('rep', 'acct', 'p', NULL, 'Prepared4', '{}');
		PREPARE TRANSACTION 'es_p4';
	});
	$primary->safe_psql('postgres',
		q{SELECT count(*) FROM es_store.append_event('rep', 'acct', 'c', NULL, 'Committed5', '{}')});
	$primary->safe_psql('postgres', q{
		BEGIN;
		SELECT count(*) FROM es_store.append_event('rep', 'acct', 'q', NULL, 'Prepared6', '{}');
		PREPARE TRANSACTION 'es_p6';
	});
	$primary->safe_psql('postgres',
		q{SELECT count(*) FROM es_store.append_event('rep', 'acct', 'c', NULL, 'Committed7', '{}')});
	$primary->wait_for_catchup($standby);

	if ($call_on_standby)
	{
		my ($ret, $out, $err) = $standby->psql('postgres',
			q{\set VERBOSITY verbose
SELECT * FROM es_store.in_flight_appends()});
		like($err, qr/55000: cannot list in-flight appends during recovery/,
			"$name: in_flight_appends refuses on the standby with 55000");
		($ret, $out, $err) = $standby->psql('postgres', q{SELECT es_store.last_position()});
		like($err, qr/cannot read the global feed during recovery/,
			"$name: last_position refuses on the standby");
		is($standby->safe_psql('postgres',
				q{SELECT count(*) FROM es_store.read_aggregate('rep', 'acct', 'c')}),
			'2', "$name: aggregate reads work on the standby");
	}

	$primary->stop('immediate');
	$standby->promote;
	$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die "promotion did not finish";

	is($standby->safe_psql('postgres', 'SELECT es_store.last_position()'),
		'3', "$name: after promotion the feed holds at the first prepared append");
	is($standby->safe_psql('postgres',
			q{SELECT string_agg(lowest_position::text || ':' || prepared, ',' ORDER BY lowest_position)
			  FROM es_store.in_flight_appends()}),
		'4:true,6:true', "$name: both prepared appends are listed as in flight");

	# A consumer that checkpoints what it reads, page by page.
	my $consume = q{
		DO $$
		DECLARE cp bigint; last_seen bigint; ev record;
		BEGIN
			LOOP
				cp := es_store.get_checkpoint('promoted');
				last_seen := cp;
				FOR ev IN SELECT * FROM es_store.read_feed(cp, 2) LOOP
					INSERT INTO seen VALUES (ev.global_position);
					last_seen := ev.global_position;
				END LOOP;
				EXIT WHEN last_seen = cp;
				PERFORM es_store.save_checkpoint('promoted', last_seen, expected_position => cp);
			END LOOP;
		END $$;
		SELECT string_agg(p::text, ',' ORDER BY p) FROM seen;
	};
	$standby->safe_psql('postgres', 'CREATE TABLE seen (p bigint PRIMARY KEY)');
	is($standby->safe_psql('postgres', $consume), '1,2,3',
		"$name: the consumer stops below the first prepared append");
	$standby->safe_psql('postgres', q{COMMIT PREPARED 'es_p4'});
	is($standby->safe_psql('postgres', $consume), '1,2,3,4,5',
		"$name: after COMMIT PREPARED it gets position 4, then stops below 6");
	$standby->safe_psql('postgres', q{ROLLBACK PREPARED 'es_p6'});
	is($standby->safe_psql('postgres', $consume), '1,2,3,4,5,7',
		"$name: after ROLLBACK PREPARED the feed moves on, skipping nothing");
	is($standby->safe_psql('postgres', 'SELECT es_store.get_checkpoint(\'promoted\')'),
		'7', "$name: the checkpoint is at the last event");

	# New appends on the promoted node continue above every drawn position.
	cmp_ok($standby->safe_psql('postgres',
			q{SELECT global_position FROM es_store.append_event('rep', 'acct', 'new', 0, 'New', '{}')}),
		'>', 7, "$name: new positions are above the old primary's");
	check_log_invariants($standby);
	$standby->stop;
	return;
}

run_case('called', 1, 0);
run_case('not_called', 0, 0);
run_case('preloaded_called', 1, 1);

done_testing();
