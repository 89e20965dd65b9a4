/*-------------------------------------------------------------------------
 *
 * es_errcodes.h
 *	  es_store's own SQLSTATEs, in the private class "SE".
 *
 * Clients tell these apart from PostgreSQL's codes: SE001 is an
 * optimistic-concurrency loss the application must resolve (reload and
 * decide), not a 40001 serialization failure a driver may retry blindly.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ES_ERRCODES_H
#define ES_ERRCODES_H

#include "utils/elog.h"

/* wrong expected version */
#define ERRCODE_ES_WRONG_EXPECTED_VERSION	MAKE_SQLSTATE('S','E','0','0','1')
/* event id already stored by a different append */
#define ERRCODE_ES_DUPLICATE_EVENT			MAKE_SQLSTATE('S','E','0','0','2')
/* the stream was forgotten (its tombstone takes no append) */
#define ERRCODE_ES_STREAM_DELETED			MAKE_SQLSTATE('S','E','0','0','3')
/* a checkpoint would move backwards */
#define ERRCODE_ES_CHECKPOINT_BACKWARDS		MAKE_SQLSTATE('S','E','0','0','4')
/* a checkpoint is not at the position the saver expected */
#define ERRCODE_ES_CHECKPOINT_MOVED			MAKE_SQLSTATE('S','E','0','0','5')
/* a snapshot covers a version its aggregate does not have */
#define ERRCODE_ES_SNAPSHOT_AHEAD			MAKE_SQLSTATE('S','E','0','0','6')
/* a consumer group's segment is held by another consumer (or by none) */
#define ERRCODE_ES_SEGMENT_NOT_HELD		MAKE_SQLSTATE('S','E','0','0','7')

/* an append's condition failed: an event its query matches came after its position */
#define ERRCODE_ES_CONDITION_FAILED		MAKE_SQLSTATE('S','E','0','0','8')

#endif							/* ES_ERRCODES_H */
