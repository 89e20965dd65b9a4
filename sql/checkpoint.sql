-- Named checkpoints.
-- Start from an empty store, so this file runs on its own.
DROP EXTENSION es_store;
CREATE EXTENSION es_store;
\set VERBOSITY default
SELECT es_store.get_checkpoint('projection-a') AS unknown_is_zero;
SELECT es_store.save_checkpoint('projection-a', 10);
SELECT es_store.get_checkpoint('projection-a');
-- Forward, and the same position again.
SELECT es_store.save_checkpoint('projection-a', 25);
SELECT es_store.save_checkpoint('projection-a', 25);
SELECT es_store.get_checkpoint('projection-a');
-- Checkpoints are independent.
SELECT es_store.save_checkpoint('projection-b', 3);
SELECT name, position FROM es_store.checkpoints ORDER BY name;

-- SE004: never backwards, and nothing changes.
SELECT es_store.save_checkpoint('projection-a', 24);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.get_checkpoint('projection-a');

-- Saved in the caller's transaction: rolled back with it.
BEGIN;
SELECT es_store.save_checkpoint('projection-a', 40);
SELECT es_store.get_checkpoint('projection-a');
ROLLBACK;
SELECT es_store.get_checkpoint('projection-a');
BEGIN;
SELECT es_store.save_checkpoint('projection-c', 1);
ROLLBACK;
SELECT es_store.get_checkpoint('projection-c');

-- Compare-and-set: the save happens only from the expected position.
SELECT es_store.save_checkpoint('cas', 5, expected_position => 0);
SELECT es_store.save_checkpoint('cas', 9, expected_position => 5);
SELECT es_store.get_checkpoint('cas');
-- SE005: another consumer moved it.
SELECT es_store.save_checkpoint('cas', 12, expected_position => 5);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_checkpoint('cas-new', 3, expected_position => 2);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_checkpoint('projection-a', 30, expected_position => 0);
\echo :LAST_ERROR_SQLSTATE
-- SE004 still applies when the expected position is right.
SELECT es_store.save_checkpoint('cas', 7, expected_position => 9);
\echo :LAST_ERROR_SQLSTATE
SELECT name, position FROM es_store.checkpoints WHERE name LIKE 'cas%' ORDER BY name;

-- Errors.
SELECT es_store.get_checkpoint(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_checkpoint(NULL, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_checkpoint('projection-a', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_checkpoint('projection-a', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_checkpoint('projection-a', 1, expected_position => -1);
\echo :LAST_ERROR_SQLSTATE

-- Names: not empty, at most 1024 bytes.
SELECT es_store.save_checkpoint('', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.get_checkpoint(repeat('n', 1025));
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_checkpoint(repeat('n', 1024), 1);
SELECT es_store.get_checkpoint(repeat('n', 1024));

-- Owners: a checkpoint belongs to the role that first saved it.  Another
-- role can neither read it nor move it (before 0.2.1 a read-only consumer
-- could save anyone's checkpoint at 2^63-1, and nothing could move it
-- back).  Members of the owner can; an administrator can reset it.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_cp_orders, regress_cp_other, regress_cp_orders_2, regress_cp_admin;
RESET client_min_messages;
CREATE ROLE regress_cp_orders IN ROLE es_store_reader;
CREATE ROLE regress_cp_other IN ROLE es_store_reader;
CREATE ROLE regress_cp_orders_2 IN ROLE regress_cp_orders;
CREATE ROLE regress_cp_admin IN ROLE es_store_admin;
SET ROLE regress_cp_orders;
SELECT es_store.save_checkpoint('orders-view', 10);
SELECT es_store.get_checkpoint('orders-view');
SET ROLE regress_cp_other;
SELECT es_store.get_checkpoint('orders-view');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_checkpoint('orders-view', 9223372036854775807);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.save_checkpoint('orders-view', 11, expected_position => 10);
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.reset_checkpoint('orders-view', 0);
\echo :LAST_ERROR_SQLSTATE
-- A member of the owner role reads and saves it.
SET ROLE regress_cp_orders_2;
SELECT es_store.get_checkpoint('orders-view');
SELECT es_store.save_checkpoint('orders-view', 12, expected_position => 10);
RESET ROLE;
SELECT name, position, owner FROM es_store.checkpoints WHERE name = 'orders-view';
-- A new checkpoint belongs to the session's current role (SET ROLE), not to
-- the group roles that role is a member of.
SET ROLE regress_cp_orders_2;
SELECT es_store.save_checkpoint('orders-2-view', 1);
RESET ROLE;
SELECT name, owner FROM es_store.checkpoints WHERE name = 'orders-2-view';
-- The administrator moves it back (SE004 does not apply), gives it to
-- another role, and deletes it; each returns the position it had.
SET ROLE regress_cp_admin;
SELECT es_store.reset_checkpoint('orders-view', 5);
SELECT es_store.get_checkpoint('orders-view');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.reset_checkpoint('orders-view', 5, owner => 'regress_cp_other');
SET ROLE regress_cp_other;
SELECT es_store.get_checkpoint('orders-view');
SET ROLE regress_cp_orders;
SELECT es_store.get_checkpoint('orders-view');
\echo :LAST_ERROR_SQLSTATE
SET ROLE regress_cp_admin;
SELECT es_store.reset_checkpoint('orders-view');
SELECT es_store.reset_checkpoint('orders-view') IS NULL AS already_gone;
SELECT es_store.reset_checkpoint('new-one', 7) IS NULL AS created;
SELECT es_store.reset_checkpoint('orders-view', NULL, 'regress_cp_other');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.reset_checkpoint('orders-view', 1, 'regress_cp_nobody');
\echo :LAST_ERROR_SQLSTATE
SELECT es_store.reset_checkpoint('orders-view', -1);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- A checkpoint without an owner (saved before 0.2.1, or created by a
-- reset) is claimed by the next save.
SELECT name, position, owner FROM es_store.checkpoints WHERE name = 'new-one';
SET ROLE regress_cp_other;
SELECT es_store.save_checkpoint('new-one', 8);
SET ROLE regress_cp_orders;
SELECT es_store.get_checkpoint('new-one');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT name, position, owner FROM es_store.checkpoints WHERE name = 'new-one';
-- A superuser reads and saves any checkpoint.
SELECT es_store.save_checkpoint('new-one', 9);
-- The caller is the role that calls the function, not the session's: one
-- role's code run by another acts with its own rights, not the runner's
-- (before 0.2.1 the session's role counted, so a function or an index
-- expression of regress_cp_other, run by regress_cp_orders or by a
-- superuser's ANALYZE, moved regress_cp_orders' checkpoints).
CREATE SCHEMA regress_cp;
GRANT USAGE, CREATE ON SCHEMA regress_cp TO regress_cp_orders, regress_cp_other;
SET ROLE regress_cp_orders;
SELECT es_store.save_checkpoint('orders-owned', 5);
SET ROLE regress_cp_other;
CREATE FUNCTION regress_cp.move() RETURNS void LANGUAGE sql SECURITY DEFINER
	AS $$ SELECT es_store.save_checkpoint('orders-owned', 1000000) $$;
GRANT EXECUTE ON FUNCTION regress_cp.move() TO regress_cp_orders;
-- an index expression that saves the checkpoint when regress.trap is on
CREATE FUNCTION regress_cp.sneak(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF current_setting('regress.trap', true) = 'on' THEN
		PERFORM es_store.save_checkpoint('orders-owned', 2000000);
	END IF;
	RETURN i;
END $$;
CREATE TABLE regress_cp.bait (i int);
INSERT INTO regress_cp.bait SELECT generate_series(1, 10);
CREATE INDEX ON regress_cp.bait (regress_cp.sneak(i));
SET ROLE regress_cp_orders;
SELECT regress_cp.move();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SET regress.trap = 'on';
ANALYZE regress_cp.bait;
\echo :LAST_ERROR_SQLSTATE
RESET regress.trap;
SELECT name, position, owner FROM es_store.checkpoints WHERE name = 'orders-owned';
-- A function of the owner itself, run by another role, may save it.
SET ROLE regress_cp_orders;
CREATE FUNCTION regress_cp.advance() RETURNS void LANGUAGE sql SECURITY DEFINER
	AS $$ SELECT es_store.save_checkpoint('orders-owned', 6) $$;
GRANT EXECUTE ON FUNCTION regress_cp.advance() TO regress_cp_other;
SET ROLE regress_cp_other;
SELECT regress_cp.advance();
RESET ROLE;
SELECT name, position, owner FROM es_store.checkpoints WHERE name = 'orders-owned';
DROP SCHEMA regress_cp CASCADE;
-- The checkpoint functions are SECURITY INVOKER (they must know their
-- caller) and become the extension's owner themselves.
SELECT p.proname, p.prosecdef FROM pg_proc p
WHERE p.pronamespace = 'es_store'::regnamespace AND p.proname LIKE '%checkpoint' ORDER BY 1;

DROP ROLE regress_cp_orders_2, regress_cp_orders, regress_cp_other, regress_cp_admin;
-- The checkpoint of a dropped role: only a superuser or an administrator
-- can use it now.
SELECT name, owner, es_store.get_checkpoint(name) FROM es_store.checkpoints
WHERE owner IN ('regress_cp_orders', 'regress_cp_orders_2', 'regress_cp_other') ORDER BY name;
