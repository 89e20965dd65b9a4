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
