/*-------------------------------------------------------------------------
 *
 * tags.c
 *	  Events' tags (0.4.0): checking them as appends take them, their
 *	  hashes, the rows of es_store.event_tags, and the scopes an append
 *	  publishes in the registry for conditional appends (dcb.c).
 *
 * An event's tags are a one-dimensional text[] of non-empty tags, at most
 * es_store.max_event_tags of them, stored as given in events.tags (NULL
 * when there are none: an empty array is stored as NULL).  Each distinct
 * tag of an event also has a row (hash, position) in event_tags, written
 * in the append's transaction, so that a query over a tag finds its
 * events in position order.  The hash is hashtextextended(tag, 0) of the
 * tag's bytes, which is what PostgreSQL computes for a text under a
 * deterministic collation; a query checks each candidate against the
 * event's own tags, so two tags with one hash only cost a look.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "es_store.h"

/* Seed of an event type's scope hash: not a tag's (seed 0) */
#define ES_TYPE_SCOPE_SEED	UINT64CONST(0x6573747970650001)

int64
es_tag_hash(Datum tag)
{
	text	   *t = DatumGetTextPP(tag);

	return (int64) hash_bytes_extended((const unsigned char *) VARDATA_ANY(t),
									   VARSIZE_ANY_EXHDR(t), 0);
}

uint64
es_type_scope(Datum event_type)
{
	text	   *t = DatumGetTextPP(event_type);

	return hash_bytes_extended((const unsigned char *) VARDATA_ANY(t),
							   VARSIZE_ANY_EXHDR(t), ES_TYPE_SCOPE_SEED);
}

/*
 * 54000 when an event (place: which one, or the tags argument) has more
 * than es_store.max_event_tags tags.  The JSON forms check before they
 * build the array, as a huge one costs memory in proportion.
 */
void
es_check_tag_count(int n, const EsJsonPlace *place, const char *display)
{
	if (n > es_max_event_tags)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("event has too many tags in append to stream \"%s\"", display),
				 errdetail("%s has %d tags; the limit (es_store.max_event_tags) is %d.",
						   place->name, n, es_max_event_tags)));
}

/*
 * The tags of an event (place: which one, or the tags argument of every
 * event of a batch) of an append to the stream named display, checked: a
 * one-dimensional array (22023) of non-NULL (22004), non-empty (22023)
 * tags, at most es_store.max_event_tags of them (54000).  Returns the
 * array, or (Datum) 0 when it has no element.
 */
Datum
es_tags_checked(ArrayType *tags, const EsJsonPlace *place, const char *display)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(tags) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tags must be a one-dimensional array in append to stream \"%s\"",
						display)));
	if (ARR_ELEMTYPE(tags) != TEXTOID)
		elog(ERROR, "es_store tags must be a text array");
	n = ArrayGetNItems(ARR_NDIM(tags), ARR_DIMS(tags));
	if (n == 0)
		return (Datum) 0;
	es_check_tag_count(n, place, display);
	deconstruct_array(tags, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int k = 0; k < n; k++)
	{
		if (nulls[k])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a tag cannot be null in append to stream \"%s\"", display),
					 errdetail("Tag %d of %s is null.", k + 1, place->where)));
		if (VARSIZE_ANY_EXHDR(DatumGetPointer(elems[k])) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a tag cannot be empty in append to stream \"%s\"", display),
					 errdetail("Tag %d of %s is empty.", k + 1, place->where)));
	}
	pfree(elems);
	pfree(nulls);
	return PointerGetDatum(tags);
}

/* The tags of an event as text Datums; *n is 0 for (Datum) 0 */
Datum *
es_tags_elements(Datum tags, int *n)
{
	Datum	   *elems;

	if (tags == (Datum) 0)
	{
		*n = 0;
		return NULL;
	}
	deconstruct_array(DatumGetArrayTypeP(tags), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, NULL, n);
	return elems;
}

/*
 * Whether two events' tags are the same, in the same order ((Datum) 0 and
 * NULL: none).  A retry must repeat its tags as it gave them.
 */
bool
es_tags_equal(Datum a, Datum b)
{
	Datum	   *ea;
	Datum	   *eb;
	int			na;
	int			nb;
	bool		same;

	if (a == (Datum) 0 || b == (Datum) 0)
		return a == b;
	ea = es_tags_elements(a, &na);
	eb = es_tags_elements(b, &nb);
	same = na == nb;
	for (int k = 0; same && k < na; k++)
		same = es_text_equal(ea[k], eb[k]);
	pfree(ea);
	pfree(eb);
	return same;
}

/*
 * Each event's distinct tag hashes into b->tag_hashes and b->ntag_hashes,
 * once per batch (es_batch_validate): the registry's scopes, and the
 * event_tags rows written by direct.c or es_tags_store, are made of them.
 */
void
es_batch_hash_tags(EsBatch *b)
{
	b->tag_hashes = palloc0(sizeof(int64 *) * b->nevents);
	b->ntag_hashes = palloc0(sizeof(int) * b->nevents);
	for (int i = 0; i < b->nevents; i++)
	{
		int			ntags;
		Datum	   *elems = es_tags_elements(b->tags[i], &ntags);
		int64	   *h;
		int			n = 0;

		CHECK_FOR_INTERRUPTS();
		if (ntags == 0)
			continue;
		h = palloc(sizeof(int64) * ntags);
		for (int k = 0; k < ntags; k++)
		{
			int64		hash = es_tag_hash(elems[k]);
			bool		seen = false;

			for (int j = 0; j < n && !seen; j++)
				seen = h[j] == hash;
			if (!seen)
				h[n++] = hash;
		}
		pfree(elems);
		b->tag_hashes[i] = h;
		b->ntag_hashes[i] = n;
	}
}

/*
 * The event_tags rows of an appended batch through SQL, where direct.c
 * does not write them: one per distinct tag hash of each event with tags.
 * None on a store whose events are distributed over Citus: event_tags
 * stays a table of the coordinator, which a delegated append, on its
 * worker, does not reach, and queries over tags refuse there (dcb.c); the
 * tags are the events' own.  The caller is connected to SPI.
 */
void
es_tags_store(const EsBatch *b, const EsAppendResult *r)
{
	int			cap = 0;
	int			n = 0;
	Datum	   *hashes;
	Datum	   *positions;
	Datum		values[2];
	int			rc;

	if (!b->has_tags || es_citus_events_distributed(es_extension_schema()))
		return;
	for (int i = 0; i < b->nevents; i++)
		cap += b->ntag_hashes[i];
	hashes = palloc(sizeof(Datum) * cap);
	positions = palloc(sizeof(Datum) * cap);
	for (int i = 0; i < b->nevents; i++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int k = 0; k < b->ntag_hashes[i]; k++)
		{
			hashes[n] = Int64GetDatum(b->tag_hashes[i][k]);
			positions[n] = Int64GetDatum(r->positions[i]);
			n++;
		}
	}
	values[0] = PointerGetDatum(construct_array(hashes, n, INT8OID, 8,
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(positions, n, INT8OID, 8,
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	rc = SPI_execute_plan(es_plan(ES_PLAN_INSERT_TAGS), values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "es_store tag insert failed: %s", SPI_result_code_string(rc));
}

/*
 * The scopes the batch's events are in, for the registry (registry.c
 * es_registry_publish): each event's type and each of its distinct tags,
 * as hashes.  Sets *n; a hash repeated across events is left in
 * (publishing one twice costs nothing).
 */
uint64 *
es_batch_scopes(const EsBatch *b, int *n)
{
	int			cap = b->nevents;
	uint64	   *scopes;
	int			k = 0;

	Assert(!b->has_tags || b->tag_hashes != NULL);
	for (int i = 0; b->has_tags && i < b->nevents; i++)
		cap += b->ntag_hashes[i];
	scopes = palloc(sizeof(uint64) * cap);
	for (int i = 0; i < b->nevents; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (i == 0 || !es_text_equal(b->event_types[i], b->event_types[i - 1]))
			scopes[k++] = es_type_scope(b->event_types[i]);
		for (int t = 0; b->has_tags && t < b->ntag_hashes[i]; t++)
			scopes[k++] = (uint64) b->tag_hashes[i][t];
	}
	*n = k;
	return scopes;
}
