# es_store.citus_distribute() (issue 16): the per-aggregate tables
# distributed by aggregate id, and every function of one aggregate
# delegated to the node of its shard (force_delegation, src/distribute.c),
# so that it runs there, in the caller's transaction, also inside a
# transaction block, and draws in that node's position space.
#
# 1. The call: its refusals (a worker, a role that does not own the
#    extension, a store with events, a database without Citus), and that
#    it is idempotent.  Tags are stored with the events on the distributed
#    store (not queried); a writer role's call is delegated too.
# 2. Every delegated function, called through the coordinator inside a
#    transaction block over aggregates on both workers: appends of every
#    form, expected versions (SE001, also at a version taken), idempotent
#    retries (one waiting for its original on the worker), SE002 within
#    the aggregate, the aggregate reads, snapshots,
#    stream metadata, delete and forget with their feed markers; rollback
#    leaves nothing on either worker, commit leaves everything on both; a
#    consumer group of worker1's space.
# 3. What Citus does not delegate still works: append_aggregates over both
#    workers (drawn on the coordinator, space 0), read_event across shards,
#    appends from PL/pgSQL in the forms Citus delegates and those it does not.
# 4. The operations views, read by es_store_monitor: every checkpoint and
#    segment measured against its own space's safe position, with its
#    first unread event found on the workers.
# 5. A feed page read with one statement per worker (src/citus_feed.c):
#    the same rows as Citus's own statement for pages of every size, with
#    every filter and hidden events; Citus's statement where the workers
#    cannot read outside the caller's transaction (it has worked through
#    Citus: its own delete is seen) or a shard is on the coordinator.
# 6. What runs on the coordinator over the shards: aggregate_stats (with
#    a snapshot, of a deleted aggregate); the purge refuses (0A000).
#
# Skipped when Citus is not installed (test/citus_install.sh builds it);
# ES_REQUIRE_CITUS=1 makes the skip a failure.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EsStoreTest;

skip_without_citus();

my @nodes = citus_cluster();
my ($coord, $w1, $w2) = @nodes;
my @on1 = aggregates_on($coord, $w1, 10);
my @on2 = aggregates_on($coord, $w2, 10);
my $g1 = $w1->safe_psql('postgres', 'SELECT groupid FROM pg_dist_local_group');
my $g2 = $w2->safe_psql('postgres', 'SELECT groupid FROM pg_dist_local_group');
my ($first1, $first2) = (($g1 << 48) + 1, ($g2 << 48) + 1);


# 1. The call.
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM pg_dist_object o JOIN pg_proc p ON p.oid = o.objid
	WHERE o.classid = 'pg_proc'::regclass AND p.pronamespace = 'es_store'::regnamespace
	AND o.force_delegation AND o.distribution_argument_index IS NOT NULL}),
	'24', 'the recipe delegated the 24 functions of one aggregate');
is($coord->safe_psql('postgres', 'SELECT es_store.citus_distribute()'), '24',
	'a second call delegates them again and leaves the tables');
like(psql_error($w1, 'SELECT es_store.citus_distribute()'),
	qr/0A000: es_store.citus_distribute\(\) runs on a Citus coordinator\nDETAIL:  This node is a Citus worker/,
	'a worker refuses (0A000)');
like(psql_error($coord, 'SET ROLE es_store_admin; SELECT es_store.citus_distribute()'),
	qr/42501/, 'only the extension\'s owner distributes');
$coord->safe_psql('postgres', 'CREATE DATABASE filled');
$coord->safe_psql('filled', q{
	CREATE EXTENSION citus;
	CREATE EXTENSION es_store;
	SELECT es_store.append_event('bank', 'account', 'a', 0, 'Opened', '{}');});
like(psql_error($coord, 'SELECT es_store.citus_distribute()', 'filled'),
	qr/55000: es_store.citus_distribute\(\) distributes an empty store/,
	'a store with events refuses (55000)');
is($coord->safe_psql('filled', 'SELECT count(*) FROM pg_dist_partition'), '0', 'and distributed nothing');
$coord->safe_psql('postgres', 'CREATE DATABASE plain');
$coord->safe_psql('plain', 'CREATE EXTENSION es_store');
like(psql_error($coord, 'SELECT es_store.citus_distribute()', 'plain'),
	qr/0A000: .*\nDETAIL:  Citus is not installed in this database/,
	'a database without Citus refuses (0A000)');

# 2. Every delegated function, through the coordinator, in one transaction
# over both workers.
my ($a1, $b1) = @on1;
my ($a2, $b2) = @on2;
my $id = '00000000-0000-4000-8000-00000000d001';
my $work = qq{
	SELECT global_position FROM es_store.append_event('bank', 'account', '$a1', 0, 'Opened', '{"n": 1}', event_id => '$id');
	SELECT global_position FROM es_store.append_event('bank', 'account', '$a1', 0, 'Opened', '{"n": 1}', event_id => '$id');
	SELECT count(*) FROM es_store.append('bank', 'account', '$a2', 0, ARRAY['A', 'B'], ARRAY['{}', '{}']::jsonb[]);
	SELECT global_position FROM es_store.append_at_version('bank', 'account', '$a2', 3, 'C', '{}');
	SELECT count(*) FROM es_store.append_stream('$b1', 0, ARRAY['S'], ARRAY['{}']::jsonb[]);
	SELECT global_position FROM es_store.append_event_bytes('bank', 'account', '$b2', 0, 'Bytes', '\\x0102');
	SELECT count(*) FROM es_store.append_bytes('bank', 'account', '$b2', 1, ARRAY['Bytes'], ARRAY['\\x03']::bytea[]);
	SELECT global_position FROM es_store.append_at_version_bytes('bank', 'account', '$b2', 3, 'Bytes', '\\x04');
	SELECT count(*) FROM es_store.append_stream_bytes('$b1', 1, ARRAY['S'], ARRAY['\\x05']::bytea[]);
	SELECT string_agg(event_type, ',' ORDER BY aggregate_version) FROM es_store.read_aggregate('bank', 'account', '$a2');
	SELECT string_agg(aggregate_version::text, ',') FROM es_store.read_aggregate_backward('bank', 'account', '$a2');
	SELECT count(*) FROM es_store.read_stream('$b1');
	SELECT es_store.aggregate_version('bank', 'account', '$b2');
	SELECT es_store.stream_version('$b1');
	SELECT es_store.aggregate_exists('bank', 'account', '$a1');
	SELECT es_store.count_events('bank', 'account', '$a2');
	SELECT saved FROM es_store.save_snapshot('bank', 'account', '$a2', 2, '{"s": 2}');
	SELECT saved FROM es_store.save_snapshot_bytes('bank', 'account', '$b2', 3, '\\x09');
	SELECT aggregate_version FROM es_store.load_snapshot('bank', 'account', '$a2');
	SELECT string_agg(event_type, ',') FROM es_store.load_aggregate('bank', 'account', '$a2');
	SELECT count(*) FROM es_store.set_stream_metadata('bank', 'account', '$a1', max_count => 10);
	SELECT max_count FROM es_store.get_stream_metadata('bank', 'account', '$a1');
	SELECT es_store.delete_snapshot('bank', 'account', '$b2');
};
my $outcome = join(', ',
	"SELECT (SELECT count(*) FROM es_store.events WHERE aggregate_id IN ('$a1', '$a2', '$b1', '$b2'))",
	"(SELECT count(*) FROM es_store.snapshots)",
	"(SELECT count(*) FROM es_store.aggregate_heads WHERE max_count IS NOT NULL)");
$coord->safe_psql('postgres', "BEGIN; $work ROLLBACK;");
is($coord->safe_psql('postgres', "$outcome"), '0|0|0',
	'rolled back: nothing on either worker');
my @got = split /\n/, $coord->safe_psql('postgres', "BEGIN; $work COMMIT;");
my ($p1, $retry) = @got[0, 1];
cmp_ok($p1, '>=', $first1, "the append to worker1's aggregate drew in its space ($p1)");
is($retry, $p1, 'its idempotent retry, delegated too, returns the stored position');
cmp_ok($got[3], '>=', $first2, "append_at_version on worker2's aggregate drew in worker2's space ($got[3])");
is(join('|', @got[2, 4 .. 22]),
	join('|', 2, 1, $got[5], 1, $got[7], 1, 'A,B,C', '3,2,1', 2, 3, 2, 't', 3, 't', 't', 2, 'C', 1, 10, 't'),
	'every delegated append, read, snapshot and metadata call returned what it does on one node');
cmp_ok($got[5], '>=', $first2, 'append_event_bytes drew on worker2');
cmp_ok($got[7], '>=', $first2, 'append_at_version_bytes drew on worker2');
is($coord->safe_psql('postgres', "$outcome"), '9|1|1', 'committed: all of it is there');
is($w1->safe_psql('postgres', q{SET citus.override_table_visibility TO off;
	SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = 'es_store' AND c.relname ~ '^snapshots_[0-9]+$'}) > 0 ? 'yes' : 'no',
	'yes', 'worker1 has shards of the snapshots');

# expected versions and event ids, delegated inside a transaction block
like(psql_error($coord, "BEGIN; SELECT * FROM es_store.append_event('bank', 'account', '$a1', 0, 'Again', '{}');"),
	qr/SE001: wrong expected version for stream "bank\/account\/$a1".*while executing command on localhost:${\ $w1->port}/s,
	'a stale expected version is SE001, from the aggregate\'s worker');
like(psql_error($coord, "BEGIN; SELECT * FROM es_store.append_at_version('bank', 'account', '$a2', 2, 'Taken', '{}');"),
	qr/SE001: wrong expected version for stream "bank\/account\/$a2"/,
	'append_at_version at a version taken is SE001');
like(psql_error($coord, "BEGIN; SELECT * FROM es_store.append_event('bank', 'account', '$a1', 1, 'Other', '{}', event_id => '$id');"),
	qr/SE002: duplicate event id $id in append to stream "bank\/account\/$a1"/,
	'the same event id with other content in its aggregate is SE002 (before: XX000, a multi-shard look refused in a delegated call)');

# a retry that waits for its original: it advances the head after the
# original committed, finds its event stored, and takes its advance back
# (the head's undo by stream id, on the shard)
my $rid = '00000000-0000-4000-8000-00000000d002';
my $retry_sql = "SELECT global_position FROM es_store.append_event('bank', 'account', '$on1[2]', NULL, 'Once', '{}', event_id => '$rid')";
my $orig = $coord->background_psql('postgres');
$orig->query_safe('BEGIN');
my $op = $orig->query_safe($retry_sql);
my $again = $coord->background_psql('postgres', on_error_stop => 0);
$again->query_until(qr/started/, "\\echo started\nBEGIN;\n$retry_sql;\n");
ok($w1->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'}),
	'a concurrent retry waits for its original on the worker');
$orig->query_safe('COMMIT');
my $ap = $again->query('COMMIT');
like($ap, qr/^$op$/m, 'then returns the original\'s position');
is($again->{stderr}, '', 'without an error');
$orig->quit;
$again->quit;
is($coord->safe_psql('postgres', "SELECT es_store.aggregate_version('bank', 'account', '$on1[2]')"), '1',
	'and took its advance of the head back');

# tags on a distributed store: stored with the events, on the worker,
# returned by every read, with no row in any node's event_tags (before:
# refused, 0A000); queries over them refuse
is($coord->safe_psql('postgres', qq{
	SELECT max(aggregate_version) FROM es_store.append('bank', 'tagged', '$on1[3]', 0, ARRAY['Tagged', 'Tagged'],
		ARRAY['{}', '{}']::jsonb[], tags => ARRAY['t:1', 'u']);
	SELECT string_agg(array_to_string(tags, '+'), ',' ORDER BY aggregate_version)
	FROM es_store.read_aggregate('bank', 'tagged', '$on1[3]');
	SELECT string_agg(array_to_string(tags, '+'), ',' ORDER BY global_position)
	FROM es_store.read_feed($first1 - 1, 10000) WHERE aggregate_type = 'tagged';}),
	"2\nt:1+u,t:1+u\nt:1+u,t:1+u", 'a delegated append with tags stores them; the aggregate and the feed read them');
is(join(',', map { $_->safe_psql('postgres', 'SELECT count(*) FROM es_store.event_tags') } ($coord, $w1, $w2)), '0,0,0',
	'no node has event_tags rows');
like(psql_error($coord, q{SELECT * FROM es_store.read_query('{"items": [{"tags": ["u"]}]}')}), qr/0A000/,
	'queries over tags refuse on a distributed store (0A000)');

# a delegated call connects to the worker as the calling role (README,
# Security): a writer appends, delegated, like the superuser
$coord->safe_psql('postgres', 'CREATE ROLE app LOGIN; GRANT es_store_writer TO app');
cmp_ok($coord->safe_psql('postgres',
	"SET ROLE app; SELECT global_position FROM es_store.append_event('bank', 'account', '$on1[4]', 0, 'ByApp', '{}')"),
	'>=', $first1, "a role in es_store_writer appends through delegation, in worker1's space");

# delete and forget, delegated, with their markers in the workers' spaces
my $spaces = q{SELECT string_agg(group_id || ':' || safe_position, ',' ORDER BY group_id) FROM es_store.position_spaces()};
my %from = map { split /:/ } split /,/, $coord->safe_psql('postgres', $spaces);
@got = split /\n/, $coord->safe_psql('postgres', qq{
	BEGIN;
	SELECT global_position FROM es_store.delete_aggregate('bank', 'account', '$a2');
	SELECT global_position FROM es_store.forget_aggregate('bank', 'account', '$b2');
	SELECT global_position FROM es_store.forget_aggregate('', 'acct', '$b1', keep_tombstone => false);
	COMMIT;
	SELECT es_store.aggregate_version('bank', 'account', '$a2');
	SELECT count(*) FROM es_store.events WHERE aggregate_id IN ('$b1', '$b2') AND stream_id <> 0;
	SELECT count(*) FROM es_store.aggregate_heads WHERE aggregate_id = '$b1';
});
cmp_ok($got[0], '>=', $first2, "the delete's marker is in worker2's space ($got[0])");
cmp_ok($got[2], '>=', $first1, "the forget's marker of worker1's stream is in worker1's ($got[2])");
is(join(',', @got[3 .. 5]), '0,0,0', 'deleted reads as absent, forgotten events and the untombstoned head are gone');
is($coord->safe_psql('postgres', qq{
	SELECT string_agg(event_type, ',' ORDER BY global_position) FROM es_store.read_feed($from{$g2}, 100)
	WHERE event_type LIKE '\$%'}), '$deleted,$forgotten', "worker2's feed carries its markers");

# A consumer group of worker1's space: each segment's holder moves its
# position to the space's start with its first save, then reads its
# segment; together the segments are the space's feed, once each.
my $start1 = $first1 - 1;
$coord->safe_psql('postgres', "SELECT es_store.create_consumer_group('space1', 2)");
my @claimed = map { scalar $coord->safe_psql('postgres', "SELECT segment || ':' || position FROM es_store.claim_segment('space1', 'c$_')") } (0, 1);
is(join(',', sort @claimed), '0:0,1:0', 'two consumers claim the two segments, at position 0');
my @parts;
for my $c (0, 1)
{
	my ($seg) = split /:/, $claimed[$c];
	push @parts, $coord->safe_psql('postgres', qq{
		BEGIN;
		SELECT es_store.save_segment_position('space1', 'c$c', $seg, $start1);
		SELECT string_agg(global_position::text, ',' ORDER BY global_position)
			FROM es_store.read_feed($start1, 1000, segment => $seg, segment_count => 2);
		SELECT es_store.save_segment_position('space1', 'c$c', $seg,
			(SELECT coalesce(max(global_position), $start1) FROM es_store.read_feed($start1, 1000, segment => $seg, segment_count => 2)));
		COMMIT;});
}
my $whole1 = $coord->safe_psql('postgres', "SELECT string_agg(global_position::text, ',' ORDER BY global_position) FROM es_store.read_feed($start1, 1000)");
like($whole1, qr/^\d+(,\d+)+$/, "worker1's space has events ($whole1)");
is(join(',', sort { $a <=> $b } grep { /^\d+$/ } map { split /[,\s]+/ } @parts), $whole1,
	"the group's two segments read worker1's space feed, once each");
is($coord->safe_psql('postgres', "SELECT string_agg(position::text, ',' ORDER BY segment) FROM es_store.group_segments WHERE group_name = 'space1'")
	  =~ /^(\d+),(\d+)$/ && $1 > $start1 && $2 > $start1 ? 'saved' : 'not saved',
	'saved', "both segments saved positions in worker1's space");

# 3. Not delegated: append_aggregates over both workers, read_event.
my $multi = $coord->safe_psql('postgres', qq{
	SELECT string_agg(global_position::text, ',' ORDER BY global_position) FROM es_store.append_aggregates(
		'[{"bounded_context": "bank", "aggregate_type": "account", "aggregate_id": "$on1[5]", "expected_version": 0,
		   "events": [{"event_type": "Opened", "payload": {}}]},
		  {"bounded_context": "bank", "aggregate_type": "account", "aggregate_id": "$on2[5]", "expected_version": 0,
		   "events": [{"event_type": "Opened", "payload": {}}]}]')});
like($multi, qr/^\d+,\d+$/, "append_aggregates over both workers appends to both ($multi)");
my ($m1, $m2) = split /,/, $multi;
cmp_ok($m2, '<', 1 << 48, 'drawn on the coordinator, in space 0');
is($coord->safe_psql('postgres', "SELECT count(*) FROM es_store.read_feed(0, 100) WHERE global_position IN ($m1, $m2)"),
	'2', "space 0's feed has both");
is($coord->safe_psql('postgres', "SELECT aggregate_id FROM es_store.read_event('$id')"), $a1,
	'read_event finds an event across the shards');
# PL/pgSQL: Citus delegates a query of the function's shape that the
# function runs (SELECT ... INTO ... FROM f(...)), not an expression
# (PERFORM f(...), x := (f(...)).col), which draws on the coordinator
is($coord->safe_psql('postgres', qq{
	DO \$\$
	DECLARE p bigint;
	BEGIN
		PERFORM es_store.append_event('bank', 'account', '$on1[6]', 0, 'Opened', '{}');
		SELECT global_position INTO p FROM es_store.append_event('bank', 'account', '$on1[7]', 0, 'Opened', '{}');
		p := (es_store.append_event('bank', 'account', '$on1[8]', 0, 'Opened', '{}')).global_position;
	END
	\$\$;
	SELECT string_agg(aggregate_id || ':' || (global_position >> 48), ',' ORDER BY aggregate_id)
	FROM es_store.events WHERE aggregate_id IN ('$on1[6]', '$on1[7]', '$on1[8]')}),
	join(',', sort("$on1[6]:0", "$on1[7]:$g1", "$on1[8]:0")),
	'from PL/pgSQL, SELECT INTO FROM the function is delegated (worker1\'s space); PERFORM and := draw in space 0');

# 4. The operations views on the distributed store, as the monitor role
# (before 0.4.0's es_store.oldest_unread_at, Citus refused their join of
# the coordinator's checkpoints with the distributed events).
my %space = map { my ($g, $s) = split /:/; ($g => $s) } split /\n/,
	$coord->safe_psql('postgres', "SELECT group_id || ':' || safe_position FROM es_store.position_spaces()");
$coord->safe_psql('postgres', qq{
	SELECT es_store.save_checkpoint('ops0', 0);
	SELECT es_store.save_checkpoint('ops1', $start1);
	SELECT es_store.save_checkpoint('ops2', $space{$g2});});
is($coord->safe_psql('postgres', q{
	SET ROLE es_store_monitor;
	SELECT string_agg(name || ':' || safe_position || ':' || positions_behind || ':' || (oldest_unread_at IS NOT NULL)
					  || ':' || (time_behind IS NOT NULL), ',' ORDER BY name)
	FROM es_store.consumer_status WHERE name LIKE 'ops%'}),
	join(',', "ops0:$space{0}:$space{0}:true:true",
		 "ops1:$space{$g1}:" . ($space{$g1} - $start1) . ':true:true',
		 "ops2:$space{$g2}:0:false:false"),
	"consumer_status: each checkpoint against its own space's safe position, first unread event found on its worker");
is($coord->safe_psql('postgres', q{
	SET ROLE es_store_monitor;
	SELECT string_agg(segment || ':' || safe_position || ':' || positions_behind, ',' ORDER BY segment)
	FROM es_store.group_status WHERE group_name = 'space1'}),
	join(',', map { "$_:$space{$g1}:" . ($space{$g1} - (split /,/, $coord->safe_psql('postgres',
		"SELECT position FROM es_store.group_segments WHERE group_name = 'space1' AND segment = $_"))[0]) } (0, 1)),
	"group_status: worker1's group against worker1's space");
# both segments caught up with worker1's space, then an event there: its
# segment has a first unread event, found on worker1, the other none
$coord->safe_psql('postgres', q{
	SELECT es_store.save_segment_position('space1', s.consumer, s.segment,
		(SELECT p.safe_position FROM es_store.position_spaces() p WHERE p.group_id = s.position >> 48))
	FROM es_store.group_segments s WHERE s.group_name = 'space1'});
$coord->safe_psql('postgres', qq{SELECT global_position FROM es_store.append_event('bank', 'account', '$on1[9]', 0, 'Opened', '{}')});
my $unread = $coord->safe_psql('postgres', q{
	SELECT string_agg(s.segment || ':' || EXISTS (SELECT 1 FROM es_store.read_feed(s.position, 1,
		segment => s.segment, segment_count => 2)), ',' ORDER BY s.segment)
	FROM es_store.group_segments s WHERE s.group_name = 'space1'});
like($unread, qr/^(0:true,1:false|0:false,1:true)$/, "one segment of worker1's space has unread events ($unread)");
is($coord->safe_psql('postgres', q{
	SET ROLE es_store_monitor;
	SELECT string_agg(segment || ':' || (oldest_unread_at IS NOT NULL), ',' ORDER BY segment)
	FROM es_store.group_status WHERE group_name = 'space1'}), $unread,
	"group_status: a first unread event for exactly the segments with unread events in worker1's space");
like(psql_error($coord, 'SET ROLE es_store_reader; SELECT es_store.oldest_unread_at(0, 10)'),
	qr/42501/, 'oldest_unread_at is for the monitor and the admin only');

# 5. The feed page of one statement per worker.  Space 0 gets events on
# both workers (coordinator-drawn), some of them hidden: a deleted
# aggregate, a stream truncated to its last 2.
my @mixed = aggregates_on($coord, $w1, 6, 'mix');
push @mixed, aggregates_on($coord, $w2, 6, 'mix');
for my $i (0 .. $#mixed)
{
	# one type that array quoting must carry (quotes, a comma, braces)
	my $type = $i == 3 ? 'kön "to",{x}' : $i % 2 ? 'loan' : 'account';
	$coord->safe_psql('postgres', qq{
		SELECT (es_store.append_event('bank', '$type', '$mixed[$i]', NULL, 'E' || (g % 3),
				CAST('{"g": ' || g || '}' AS jsonb))).global_position FROM generate_series(1, 5) g});
}
$coord->safe_psql('postgres', qq{
	SELECT count(*) FROM es_store.delete_aggregate('bank', 'account', '$mixed[0]');
	SELECT count(*) FROM es_store.set_stream_metadata('bank', 'account', '$mixed[6]', max_count => 2);});
# what a session's last feed read ran on the workers: the last statement
# of its connection to each (src/remote.c), asked in the same session
# ($session, or a new one) once the workers have no other es_store
# connection than its own
my $ran_sql = q{SELECT string_agg(CASE WHEN result LIKE '%citus_node_feed_page%' THEN 'page'
						   WHEN result LIKE '%citus_node_feed_state%' THEN 'state' ELSE result END, ',' ORDER BY nodeport)
	FROM run_command_on_workers($$SELECT string_agg(query, ';') FROM pg_stat_activity
		WHERE application_name = 'es_store'$$)};
my $wait_connections = sub {
	my ($want) = @_;
	for (1 .. 200)
	{
		return if join(',', map { $_->safe_psql('postgres',
			q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'es_store'}) } ($w1, $w2)) eq "$want,$want";
		select(undef, undef, undef, 0.05);
	}
	diag("the workers still have es_store connections of other sessions");
};
my $ran_on_workers = sub {
	my ($sql, $session) = @_;
	$wait_connections->($session ? 1 : 0);
	return $session->query_safe("$sql; $ran_sql") =~ s/.*\n//sr if $session;
	my @out = split /\n/, $coord->safe_psql('postgres', "$sql; $ran_sql");
	return $out[-1];
};
# a page as a string, read alone (the workers' statements) or in a
# transaction block that has worked through Citus (Citus's statement)
my $page = sub {
	my ($args, $citus) = @_;
	my $sql = "SELECT string_agg(global_position || ':' || aggregate_id || ':' || event_type || ':' || payload::text
		|| ':' || aggregate_version, ',' ORDER BY global_position) FROM es_store.read_feed($args)";
	return $coord->safe_psql('postgres', $sql) unless $citus;
	my @out = split /\n/, $coord->safe_psql('postgres',
		"BEGIN; SELECT count(*) FROM es_store.read_aggregate('bank', 'account', '$mixed[1]'); $sql; COMMIT;"), -1;
	return $out[1] // '';
};
my @cases = map { my $n = $_; map { "$_, $n" } (0, 3, 17) } (1, 4, 25, 1000);
push @cases, "0, 1000, aggregate_types => ARRAY['loan']", "0, 1000, aggregate_types => ARRAY['kön \"to\",{x}', 'loan']", "5, 7, event_types => ARRAY['E1', 'E2']",
	"0, 1000, bounded_contexts => ARRAY['bank'], segment => 1, segment_count => 3",
	"0, 1000, bounded_contexts => ARRAY['none']", "0, 6, segment => 0, segment_count => 2";
my @mismatched = grep { $page->($_, 0) ne $page->($_, 1) } @cases;
is(join(' | ', @mismatched), '', 'every page read on the workers is the one Citus\'s statement reads (' . scalar(@cases) . ' pages)');
like($page->('0, 1000', 0), qr/^\d+:/, 'space 0 has events');
is(scalar(() = $page->("0, 1000, aggregate_types => ARRAY['kön \"to\",{x}']", 0) =~ /:mix-/g), 5,
	'a filter value with quotes, a comma and braces reaches the workers whole');
unlike($page->('0, 1000', 0), qr/:$mixed[0]:/, 'a deleted aggregate\'s events are hidden');
is(scalar(() = $page->('0, 1000', 0) =~ /:$mixed[6]:/g), 2, 'a stream truncated to its last 2 shows 2');
is($ran_on_workers->('SELECT count(*) FROM es_store.read_feed(0, 1000)'), 'page,page',
	'a page read alone ran one statement on each worker');
is($ran_on_workers->(qq{BEGIN; SELECT count(*) FROM es_store.read_aggregate('bank', 'account', '$mixed[1]');
	SELECT count(*) FROM es_store.read_feed(0, 1000); COMMIT}), 'state,state',
	'in a transaction that has worked through Citus, Citus\'s statement reads it');
is($ran_on_workers->('SELECT count(*) FROM es_store.read_feed(0, 10001)'), 'state,state',
	'a page of more than 10,000 events is read by Citus\'s statement');
is($page->('0, 10001', 0), $page->('0, 1000', 0), '... the same rows');
my $seen = $coord->safe_psql('postgres', qq{
	BEGIN;
	SELECT count(*) FROM es_store.delete_aggregate('bank', 'loan', '$mixed[1]');
	SELECT count(*) FROM es_store.read_feed(0, 1000) WHERE aggregate_id = '$mixed[1]';
	ROLLBACK;});
is((split /\n/, $seen)[1], '0',
	'a transaction that deleted an aggregate on its worker no longer reads its events (before: the workers\' statement read them)');

# a shard group on the coordinator: Citus's statement reads the page
my $port0 = $coord->port;
my ($shard) = aggregates_on($coord, $w1, 1, 'mix');
my $shardid = $coord->safe_psql('postgres', "SELECT get_shard_id_for_distribution_column('es_store.events', '$shard')");
my $whole = $page->('0, 1000', 0);
$coord->safe_psql('postgres', qq{
	SELECT citus_set_node_property('localhost', $port0, 'shouldhaveshards', true);
	SELECT citus_move_shard_placement($shardid, 'localhost', ${\ $w1->port}, 'localhost', $port0,
		shard_transfer_mode => 'block_writes');});
is($page->('0, 1000', 0), $whole, 'with a shard on the coordinator, the page is the same');
is($ran_on_workers->('SELECT count(*) FROM es_store.read_feed(0, 1000)'), 'state,state',
	'... read by Citus\'s statement');
$coord->safe_psql('postgres', qq{
	SELECT citus_move_shard_placement($shardid, 'localhost', $port0, 'localhost', ${\ $w1->port},
		shard_transfer_mode => 'block_writes');
	SELECT citus_set_node_property('localhost', $port0, 'shouldhaveshards', false);});
is($page->('0, 1000', 0), $whole, 'moved back to worker1, the page is the same');
is($ran_on_workers->('SELECT count(*) FROM es_store.read_feed(0, 1000)'), 'page,page',
	'... read on the workers again');

# one session across two moves between the workers: each worker's kept
# plan (src/citus_feed.c) is made again for the shards it is sent
my $session = $coord->background_psql('postgres');
my $whole_sql = "SELECT string_agg(global_position || ':' || aggregate_id || ':' || event_type || ':' || payload::text
	|| ':' || aggregate_version, ',' ORDER BY global_position) FROM es_store.read_feed(0, 1000)";
is($session->query_safe($whole_sql), $whole, 'a session reads the page');
for my $move ([ $w1, $w2 ], [ $w2, $w1 ])
{
	$coord->safe_psql('postgres', sprintf(q{
		SELECT citus_move_shard_placement(%d, 'localhost', %d, 'localhost', %d, shard_transfer_mode => 'block_writes')},
		$shardid, $move->[0]->port, $move->[1]->port));
	is($session->query_safe($whole_sql), $whole,
		'after a move to ' . $move->[1]->name . ', the same session reads the same page');
	is($ran_on_workers->('SELECT count(*) FROM es_store.read_feed(0, 1000)', $session), 'page,page',
		'... on the workers');
}
$session->quit;

# Under another client_encoding, both ways read the text as stored
# (before: the workers' binary answers, and Citus's, were decoded as if in
# the client's encoding), and with the workers' sessions writing dates day
# first, the workers' statements read the time as stored (their
# connections ask for ISO dates)
my $encoded = q{SELECT string_agg(encode(convert_to(aggregate_type || event_type || payload::text, 'UTF8'), 'hex')
	|| created_at::text, ',' ORDER BY global_position) FROM es_store.read_feed(0, 1000)
	WHERE aggregate_type LIKE 'k%'};
my $as_stored = $coord->safe_psql('postgres', $encoded);
like($as_stored, qr/^6bc3b66e/, 'the stored type is UTF-8 (kön)');
my $latin1 = sub {
	my ($citus) = @_;
	my @out = split /\n/, $coord->safe_psql('postgres', "SET client_encoding = 'LATIN1'; BEGIN; "
		. ($citus ? "SELECT count(*) FROM es_store.read_aggregate('bank', 'account', '$mixed[1]'); " : '')
		. "$encoded; COMMIT;");
	return $out[-1];
};
is($latin1->(1), $as_stored, 'Citus\'s statement under LATIN1: the text as stored');
# the workers' sessions write dates day first unless told otherwise
# (which Citus's own text results would misread: the workers' statements
# only are read so)
$_->safe_psql('postgres', q{SET citus.enable_ddl_propagation = off;
	ALTER DATABASE postgres SET DateStyle = 'SQL, DMY'}) for ($w1, $w2);
is($latin1->(0), $as_stored, 'the workers\' statements under LATIN1, with the workers writing dates day first: as stored');
$_->safe_psql('postgres', q{SET citus.enable_ddl_propagation = off;
	ALTER DATABASE postgres RESET DateStyle}) for ($w1, $w2);
# Citus's delegated calls garble it unless its binary protocol is off
# (README, Scaling): the advice holds
is($coord->safe_psql('postgres', qq{
	SET client_encoding = 'LATIN1'; SET citus.enable_binary_protocol = off;
	SELECT string_agg(encode(convert_to(aggregate_type, 'UTF8'), 'hex'), ',')
	FROM es_store.read_aggregate('bank', convert_from('\\x6bc3b66e2022746f222c7b787d', 'UTF8'), '$mixed[3]')}),
	join(',', ('6bc3b66e2022746f222c7b787d') x 5),
	'a delegated read under LATIN1 with citus.enable_binary_protocol = off: the text as stored');

# the workers' page function refuses what the coordinator never sends
for my $bad ([ q{'{1}', 0, 1, NULL, NULL, NULL, 0, 1, 1}, qr/22023: shards must be pairs/ ],
			 [ q{'{1,NULL}', 0, 1, NULL, NULL, NULL, 0, 1, 1}, qr/22004: shards must not contain NULL/ ],
			 [ q{'{1,2}', NULL, 1, NULL, NULL, NULL, 0, 1, 1}, qr/22004/ ],
			 [ q{'{1,2}', 0, 1, NULL, NULL, NULL, 0, 0, 1}, qr/22023: segment_count and max_count must be at least 1/ ])
{
	like(psql_error($w1, "SELECT count(*) FROM es_store.citus_node_feed_page($bad->[0])"), $bad->[1],
		"citus_node_feed_page($bad->[0]) on a worker");
}
like(psql_error($coord, q{SELECT count(*) FROM es_store.citus_node_feed_page('{1,2}', 0, 1, NULL, NULL, NULL, 0, 1, 1)}),
	qr/0A000: es_store.citus_node_feed_page\(\) runs on a Citus worker/, '... and the coordinator refuses it');

# a worker whose page function answers in other columns (another
# es_store version there): 55000, not a page
my $sig = 'bigint[], bigint, bigint, text[], text[], text[], bigint, bigint, bigint';
$w1->safe_psql('postgres', qq{
	SET citus.enable_ddl_propagation = off;
	ALTER FUNCTION es_store.citus_node_feed_page($sig) RENAME TO citus_node_feed_page_kept;
	CREATE FUNCTION es_store.citus_node_feed_page($sig) RETURNS TABLE (global_position bigint)
		LANGUAGE sql AS 'SELECT 1::bigint';});
like(psql_error($coord, 'SELECT count(*) FROM es_store.read_feed(0, 1000)'),
	qr/55000: Citus worker localhost:\d+ answered a feed page in other columns than es_store.event's/,
	'a worker answering in other columns: 55000');
$w1->safe_psql('postgres', qq{
	SET citus.enable_ddl_propagation = off;
	DROP FUNCTION es_store.citus_node_feed_page($sig);
	ALTER FUNCTION es_store.citus_node_feed_page_kept($sig) RENAME TO citus_node_feed_page;});
is($page->('0, 1000', 0), $whole, '... and the page again once it answers as the coordinator\'s');

# 6. aggregate_stats, not delegated, over the shards (before its snapshot
# was found by the head's key, Citus refused the statement: "complex
# joins are only supported when ..."); the purge refuses.
$coord->safe_psql('postgres', qq{
	SELECT count(*) FROM es_store.save_snapshot('bank', 'account', '$mixed[2]', 3, '{"s": 1}');});
is($coord->safe_psql('postgres', qq{
	SELECT event_count || ':' || first_version || ':' || current_version || ':' || snapshot_version
	FROM es_store.aggregate_stats('bank', 'account', '$mixed[2]')}), '5:1:5:3',
	'aggregate_stats on a distributed store: its events, versions and snapshot');
is($coord->safe_psql('postgres', qq{
	SELECT event_count || ':' || current_version || ':' || (deleted_at IS NOT NULL)
	FROM es_store.aggregate_stats('bank', 'account', '$mixed[0]')}), '0:0:true',
	'... of a deleted aggregate');
like(psql_error($coord, 'SELECT * FROM es_store.purge()'),
	qr/0A000: es_store.purge\(\) does not run on a store distributed over Citus yet/,
	'the purge refuses on a distributed store (0A000), before any work');

$_->stop for reverse @nodes;
done_testing();
