-- The two ways a checkpoint is read and saved (src/checkpoint_direct.c):
-- the primary key index and single-row routines, or the SQL statements when
-- that path does not apply.  Both must give the same results and errors.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
CREATE ROLE regress_cpp_a;
CREATE ROLE regress_cpp_b;
CREATE ROLE regress_cpp_member IN ROLE regress_cpp_a;
GRANT es_store_reader TO regress_cpp_a, regress_cpp_b, regress_cpp_member;
GRANT es_store_admin TO CURRENT_USER;

-- Each step as role, with its result or error, into a table.
CREATE TABLE steps (path text, n int, role name, call text, result text);
GRANT INSERT ON steps TO PUBLIC;
CREATE FUNCTION step(path text, n int, r name, call text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	res text;
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', r);
	BEGIN
		EXECUTE 'SELECT (' || call || ')::text' INTO res;
	EXCEPTION WHEN OTHERS THEN
		res := 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
	END;
	RESET ROLE;
	INSERT INTO steps VALUES (path, n, r, call, res);
END $$;

CREATE FUNCTION scenario(path text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	calls text[] := ARRAY[
		'regress_cpp_a|es_store.get_checkpoint(''p-1'')',
		'regress_cpp_a|es_store.save_checkpoint(''p-1'', 10)',
		'regress_cpp_a|es_store.save_checkpoint(''p-1'', 10)',
		'regress_cpp_a|es_store.save_checkpoint(''p-1'', 20)',
		'regress_cpp_a|es_store.get_checkpoint(''p-1'')',
		'regress_cpp_a|es_store.save_checkpoint(''p-1'', 15)',
		'regress_cpp_a|es_store.save_checkpoint(''p-1'', 30, 25)',
		'regress_cpp_a|es_store.save_checkpoint(''p-1'', 30, 20)',
		'regress_cpp_a|es_store.save_checkpoint(''p-1'', 25, 30)',
		'regress_cpp_a|es_store.save_checkpoint(''p-1'', 40, 0)',
		'regress_cpp_b|es_store.get_checkpoint(''p-1'')',
		'regress_cpp_b|es_store.save_checkpoint(''p-1'', 50)',
		'regress_cpp_member|es_store.save_checkpoint(''p-1'', 50)',
		'regress_cpp_member|es_store.get_checkpoint(''p-1'')',
		'regress_cpp_b|es_store.save_checkpoint(''p-2'', 5, 0)',
		'regress_cpp_b|es_store.save_checkpoint(''p-2'', 6, 0)',
		'regress_cpp_b|es_store.save_checkpoint(''p-2'', 7, 5)',
		'regress_cpp_b|es_store.save_checkpoint(''p-3'', 1, 4)',
		'regress_cpp_b|es_store.get_checkpoint(''p-3'')'];
	c text;
	i int := 0;
BEGIN
	-- a checkpoint without an owner (saved before 0.2.1): claimed by a save
	PERFORM es_store.reset_checkpoint('p-0', 3);
	FOREACH c IN ARRAY calls || ARRAY['regress_cpp_b|es_store.save_checkpoint(''p-0'', 4)',
									  'regress_cpp_a|es_store.get_checkpoint(''p-0'')'] LOOP
		i := i + 1;
		PERFORM step(path, i, split_part(c, '|', 1)::name, split_part(c, '|', 2));
	END LOOP;
	INSERT INTO steps SELECT path, 100 + row_number() OVER (ORDER BY name), NULL, name,
		position || ' ' || coalesce(owner::text, '-')
	FROM es_store.checkpoints;
	DELETE FROM es_store.checkpoints;
END $$;

SELECT scenario('direct');
-- A trigger on the table turns the direct path off.
CREATE FUNCTION keep_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER keep_row BEFORE UPDATE ON es_store.checkpoints
	FOR EACH ROW EXECUTE FUNCTION keep_row();
SELECT scenario('sql');
DROP TRIGGER keep_row ON es_store.checkpoints;

SELECT n, role, call, result FROM steps WHERE path = 'direct' ORDER BY n;
SELECT count(*) AS differences FROM (
	(SELECT n, role, call, result FROM steps WHERE path = 'direct'
	 EXCEPT SELECT n, role, call, result FROM steps WHERE path = 'sql')
	UNION ALL
	(SELECT n, role, call, result FROM steps WHERE path = 'sql'
	 EXCEPT SELECT n, role, call, result FROM steps WHERE path = 'direct')) d;

-- An update that is not HOT (its page is full, and the open transaction
-- keeps every old version) adds an index entry: the checkpoint stays
-- findable, once, through the index.
SELECT count(es_store.save_checkpoint('fill-' || g || repeat('x', 200), 1))
FROM generate_series(1, 60) g;
BEGIN;
SELECT count(es_store.save_checkpoint('fill-7' || repeat('x', 200), g)) FROM generate_series(2, 400) g;
SELECT es_store.get_checkpoint('fill-7' || repeat('x', 200));
SELECT pg_stat_get_xact_tuples_updated('es_store.checkpoints'::regclass)
	 - pg_stat_get_xact_tuples_hot_updated('es_store.checkpoints'::regclass) > 0 AS some_not_hot;
COMMIT;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*), max(position) FROM es_store.checkpoints WHERE name = 'fill-7' || repeat('x', 200);
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT es_store.get_checkpoint('fill-7' || repeat('x', 200));
DELETE FROM es_store.checkpoints;

DROP TABLE steps;
DROP FUNCTION scenario(text);
DROP FUNCTION step(text, int, name, text);
DROP FUNCTION keep_row();
REVOKE es_store_admin FROM CURRENT_USER;
DROP ROLE regress_cpp_member, regress_cpp_a, regress_cpp_b;
