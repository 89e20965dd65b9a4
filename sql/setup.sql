-- The extension is created by pg_regress (--load-extension=es_store).
SELECT extname, extversion, extrelocatable, n.nspname AS schema
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE extname = 'es_store';

-- The tables, with their constraints.
SELECT conrelid::regclass AS table_name, conname, contype
FROM pg_constraint
WHERE connamespace = 'es_store'::regnamespace AND contype IN ('p', 'u')
ORDER BY 1, 2;

-- pg_dump dumps the rows of every table and the sequence.
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension
WHERE extname = 'es_store' ORDER BY 1;
