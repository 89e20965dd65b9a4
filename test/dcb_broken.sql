-- test/dcb_broken.sql: a deliberately broken conditional append, for
-- test/t/017_dcb_stress.pl only (never part of the product).  It checks
-- the condition the way a store without es_store's wait does: it looks
-- for a committed matching event after the position with its own
-- snapshot, then appends without a condition.  An append of a matching
-- event still in flight is invisible to the look, so two racers can both
-- pass it; the stress test must catch that.
CREATE FUNCTION dcb_broken_append_if(events jsonb, query jsonb, after bigint)
RETURNS SETOF es_store.append_result LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM es_store.read_query(query, after)) THEN
		RAISE EXCEPTION 'append condition failed' USING ERRCODE = 'SE008';
	END IF;
	-- the window between the look and the append, as wide as a round trip
	PERFORM pg_sleep(0.002);
	RETURN QUERY SELECT * FROM es_store.append_if(events);
END $$;
