-- The extension is created by pg_regress (--load-extension=es_store).
SELECT extname, extversion, extrelocatable, n.nspname AS schema
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE extname = 'es_store';

-- The tables, with their constraints.
SELECT conrelid::regclass AS table_name, conname, contype
FROM pg_constraint
WHERE connamespace = 'es_store'::regnamespace AND contype IN ('p', 'u')
ORDER BY 1, 2;

-- The event rows: es_store.event's columns in its order, then stream_id
-- (src/scan.c copies the first fourteen as they are stored).
SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
	   a.attnotnull, t.attname AS event_type_column
FROM pg_attribute a
LEFT JOIN pg_attribute t ON t.attrelid = 'es_store.event'::regclass AND t.attnum = a.attnum
WHERE a.attrelid = 'es_store.events'::regclass AND a.attnum > 0
ORDER BY a.attnum;

-- pg_dump dumps the rows of every table and the sequence.
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension
WHERE extname = 'es_store' ORDER BY 1;
