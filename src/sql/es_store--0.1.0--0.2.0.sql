/* src/sql/es_store--0.1.0--0.2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION es_store UPDATE TO '0.2.0'" to load this file. \quit

-- The gap-safe feed: read_feed gains filters, segments and an upper bound,
-- and reads only up to the safe position (see registry.c).

-- Versions are kept by the append code; the CHECK constraints cost a parse
-- of their expression on every append.
ALTER TABLE es_store.aggregate_heads DROP CONSTRAINT aggregate_heads_version_check;
ALTER TABLE es_store.events DROP CONSTRAINT events_aggregate_version_check;

ALTER TABLE es_store.aggregate_heads ADD COLUMN key_hash bigint;
UPDATE es_store.aggregate_heads SET key_hash = pg_catalog.hashtextextended(
		CAST(pg_catalog.length(bounded_context) AS pg_catalog.text) OPERATOR(pg_catalog.||) ':'
		OPERATOR(pg_catalog.||) bounded_context
		OPERATOR(pg_catalog.||) CAST(pg_catalog.length(aggregate_type) AS pg_catalog.text)
		OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) aggregate_type
		OPERATOR(pg_catalog.||) aggregate_id, 0);
ALTER TABLE es_store.aggregate_heads ALTER COLUMN key_hash SET NOT NULL;

-- Room on every page for the next versions of its head rows (see the
-- install script); pages written from now on keep it.
ALTER TABLE es_store.aggregate_heads SET (fillfactor = 80);

DROP FUNCTION es_store.read_feed(bigint, integer);

CREATE FUNCTION es_store.read_feed(
	after_position		bigint DEFAULT 0,
	max_count			integer DEFAULT 1000,
	bounded_contexts	text[] DEFAULT NULL,
	aggregate_types		text[] DEFAULT NULL,
	event_types			text[] DEFAULT NULL,
	segment				integer DEFAULT 0,
	segment_count		integer DEFAULT 1,
	up_to_position		bigint DEFAULT NULL)
RETURNS SETOF es_store.event
AS 'MODULE_PATHNAME', 'es_read_feed'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY DEFINER ROWS 1000;
COMMENT ON FUNCTION es_store.read_feed(bigint, integer, text[], text[], text[], integer, integer, bigint)
	IS 'a page of the global feed after a position, up to the safe position, optionally filtered or segmented';

CREATE OR REPLACE FUNCTION es_store.last_position()
RETURNS bigint
AS 'MODULE_PATHNAME', 'es_last_position'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION es_store.last_position()
	IS 'the feed''s safe position: no event at or below it can still appear';

REVOKE ALL ON FUNCTION es_store.read_feed(bigint, integer, text[], text[], text[], integer, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION es_store.read_feed(bigint, integer, text[], text[], text[], integer, integer, bigint)
	TO es_store_writer, es_store_reader;

-- save_checkpoint gains a compare-and-set form for competing consumers.
DROP FUNCTION es_store.save_checkpoint(text, bigint);
CREATE FUNCTION es_store.save_checkpoint(
	name				text,
	global_position		bigint,
	expected_position	bigint DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'es_save_checkpoint'
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION es_store.save_checkpoint(text, bigint, bigint)
	IS 'save a named checkpoint in the caller''s transaction; never backwards; compare-and-set with expected_position';
REVOKE ALL ON FUNCTION es_store.save_checkpoint(text, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION es_store.save_checkpoint(text, bigint, bigint)
	TO es_store_writer, es_store_reader;

-- What holds the feed back.
CREATE FUNCTION es_store.in_flight_appends(
	OUT pid				integer,
	OUT lowest_position	bigint,
	OUT prepared		boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'es_in_flight_appends'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER ROWS 10;
COMMENT ON FUNCTION es_store.in_flight_appends()
	IS 'transactions of this database that appended and have not ended: what holds the feed back';

REVOKE ALL ON FUNCTION es_store.in_flight_appends() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION es_store.in_flight_appends() TO es_store_writer, es_store_reader;
