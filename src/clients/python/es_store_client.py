"""es_store_client: a small helper for es_store from Python with psycopg 3.

Appends with the right types (jsonb payloads, uuid ids, bigint results as
int), typed errors for every SE code, a command-retry helper, a consumer
loop (pages, the checkpoint in the same transaction, LISTEN wake-ups with a
polling fallback, clean shutdown) and wait-for-position.  Every function
takes a psycopg.Connection; none commits unless it says so.

    import psycopg, es_store_client as es
    with psycopg.connect(dsn) as conn:
        es.append(conn, ("bank", "account", "a-1"), 0, [es.Event("Opened", {"owner": "ann"})])
"""
from __future__ import annotations

import random
import select
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

__all__ = [
    "Event", "Key", "append", "append_aggregates", "read_aggregate", "read_feed",
    "retry_command", "consume", "wait_for_position", "get_checkpoint", "save_checkpoint",
    "EsStoreError",
    "WrongExpectedVersion", "DuplicateEvent", "CheckpointBackwards",
    "CheckpointMoved", "SnapshotAhead", "SegmentNotHeld", "StreamForgotten",
]

Key = tuple  # (bounded_context, aggregate_type, aggregate_id)


def _key(key: Key) -> tuple:
    """The key's parts as text: an aggregate id may be a uuid.UUID or an
    int (es_store's ids are text, which a uuid parameter does not match)."""
    return tuple(str(k) for k in key)


class EsStoreError(Exception):
    """An es_store error (SQLSTATE SExxx), with the original psycopg error."""
    sqlstate = ""

    def __init__(self, error: psycopg.Error):
        super().__init__(str(error).strip())
        self.error = error
        self.detail = error.diag.message_detail
        self.hint = error.diag.message_hint


class WrongExpectedVersion(EsStoreError):
    """SE001: another writer appended first; reload and decide again."""
    sqlstate = "SE001"


class DuplicateEvent(EsStoreError):
    """SE002: an event id is stored by another append."""
    sqlstate = "SE002"


class StreamForgotten(EsStoreError):
    """SE003: the aggregate was forgotten and keeps a tombstone (a delete
    does not raise it: a deleted aggregate takes appends again)."""
    sqlstate = "SE003"


class CheckpointBackwards(EsStoreError):
    """SE004: a checkpoint or segment position would move backwards."""
    sqlstate = "SE004"


class CheckpointMoved(EsStoreError):
    """SE005: another consumer saved the checkpoint first."""
    sqlstate = "SE005"


class SnapshotAhead(EsStoreError):
    """SE006: a snapshot of a version the aggregate does not have."""
    sqlstate = "SE006"


class SegmentNotHeld(EsStoreError):
    """SE007: the consumer no longer holds the group segment."""
    sqlstate = "SE007"


class ConditionFailed(EsStoreError):
    """SE008: an event the append condition's query matches came after the
    position the decision read up to; read again and decide again."""
    sqlstate = "SE008"


_ERRORS = {c.sqlstate: c for c in (WrongExpectedVersion, DuplicateEvent, StreamForgotten,
                                    CheckpointBackwards, CheckpointMoved, SnapshotAhead,
                                    SegmentNotHeld, ConditionFailed)}


def _typed(error: psycopg.Error) -> Exception:
    cls = _ERRORS.get(error.sqlstate or "")
    return cls(error) if cls else error


def _run(conn: psycopg.Connection, sql: str, params: Sequence[Any] = ()) -> list:
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    except psycopg.Error as e:
        raise _typed(e) from e


@dataclass
class Event:
    """An event to append: a type, a JSON payload (any value json can
    encode), optional metadata (a dict), and an id of your own for
    idempotent retries (a uuid.UUID; None: es_store generates one)."""
    event_type: str
    payload: Any
    metadata: Optional[dict] = None
    event_id: Optional[uuid.UUID] = None
    event_version: int = 1
    tags: Optional[list[str]] = None


def _event_doc(e: Event) -> dict:
    return {k: v for k, v in (("event_type", e.event_type), ("payload", e.payload),
                              ("metadata", e.metadata),
                              ("event_id", str(e.event_id) if e.event_id else None),
                              ("event_version", e.event_version), ("tags", e.tags))
            if v is not None}


@dataclass
class Appended:
    event_id: uuid.UUID
    aggregate_version: int
    global_position: int


def append(conn: psycopg.Connection, key: Key, expected_version: Optional[int],
           events: Sequence[Event]) -> list[Appended]:
    """Append events to the aggregate key in the connection's transaction.
    expected_version: None any, 0 no stream, -1 exists, N exactly N."""
    key = _key(key)
    if any(e.tags for e in events):
        # tags per event: the JSON form takes them
        doc = [dict(_event_doc(e), bounded_context=key[0], aggregate_type=key[1],
                    aggregate_id=key[2]) for e in events]
        rows = _run(conn, """
            SELECT event_id, aggregate_version, global_position
            FROM es_store.append_events(%s, %s)""", (expected_version, Jsonb(doc)))
        return [Appended(*r) for r in rows]
    rows = _run(conn, """
        SELECT event_id, aggregate_version, global_position
        FROM es_store.append(%s, %s, %s, %s, %s::text[], %s::jsonb[], %s::jsonb[], %s::uuid[], %s::integer[])""",
                (key[0], key[1], key[2], expected_version,
                 [e.event_type for e in events], [Jsonb(e.payload) for e in events],
                 [Jsonb(e.metadata) if e.metadata is not None else None for e in events],
                 [e.event_id for e in events], [e.event_version for e in events]))
    return [Appended(*r) for r in rows]


def append_aggregates(conn: psycopg.Connection,
                      entries: Sequence[tuple[Key, Optional[int], Sequence[Event]]]) -> list[tuple]:
    """Append to several aggregates (and check those given no events) in
    one call, in es_store's lock order: entries of (key, expected_version,
    events).  Returns (key, event_id, version, position) rows."""
    doc = []
    for key, expected, events in entries:
        key = _key(key)
        entry = {"bounded_context": key[0], "aggregate_type": key[1], "aggregate_id": key[2],
                 "expected_version": expected}
        if events:
            entry["events"] = [_event_doc(e) for e in events]
        doc.append(entry)
    return _run(conn, """
        SELECT bounded_context, aggregate_type, aggregate_id, event_id, aggregate_version, global_position
        FROM es_store.append_aggregates(%s)""", (Jsonb(doc),))


@dataclass
class StoredEvent:
    global_position: int
    bounded_context: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    event_id: uuid.UUID
    event_type: str
    event_version: int
    payload: Any
    metadata: dict
    correlation_id: Optional[str]
    causation_id: Optional[str]
    trace_id: Optional[str]
    created_at: Any
    payload_bytes: Optional[bytes] = None
    tags: Optional[list[str]] = None


# es_store.event's columns by name: a later release may add columns at
# the end, which SELECT * would hand to StoredEvent
_COLUMNS = ("global_position, bounded_context, aggregate_type, aggregate_id, aggregate_version, "
            "event_id, event_type, event_version, payload, metadata, correlation_id, "
            "causation_id, trace_id, created_at, payload_bytes, tags")


def read_aggregate(conn: psycopg.Connection, key: Key) -> list[StoredEvent]:
    return [StoredEvent(*r) for r in _run(
        conn, f"SELECT {_COLUMNS} FROM es_store.read_aggregate(%s, %s, %s)", _key(key))]


def read_feed(conn: psycopg.Connection, after: int, limit: int = 500) -> list[StoredEvent]:
    return [StoredEvent(*r) for r in _run(
        conn, f"SELECT {_COLUMNS} FROM es_store.read_feed(%s, %s)", (after, limit))]


def read_query(conn: psycopg.Connection, query: dict, after: int = 0,
               max_count: Optional[int] = None) -> tuple[list[StoredEvent], int]:
    """The events a query ({"items": [{"types": [...], "tags": [...]}]})
    matches after a position, up to the feed's safe position, and the
    position to pass to append_if: the one read up to (the last event's
    when max_count events came back)."""
    rows = _run(conn, f"""
        SELECT b.up_to, e.* FROM (SELECT es_store.last_position() AS up_to) b
        LEFT JOIN LATERAL (SELECT {_COLUMNS} FROM es_store.read_query(%s, %s, %s, b.up_to)) e ON true""",
                (Jsonb(query), after, max_count))
    events = [StoredEvent(*r[1:]) for r in rows if r[1] is not None]
    position = rows[0][0]
    if max_count is not None and len(events) == max_count:
        position = events[-1].global_position
    return events, position


def append_if(conn: psycopg.Connection, events: Sequence[Event], query: Optional[dict] = None,
              after: int = 0, key: Optional[Key] = None,
              expected_version: Optional[int] = None) -> list[Appended]:
    """Append events (of the aggregate key, or of none) only if no event
    query matches came after the position (ConditionFailed otherwise)."""
    doc = [_event_doc(e) for e in events]
    if key is not None:
        k = _key(key)
        doc = [dict(d, bounded_context=k[0], aggregate_type=k[1], aggregate_id=k[2]) for d in doc]
    rows = _run(conn, """
        SELECT event_id, aggregate_version, global_position
        FROM es_store.append_if(%s, %s, %s, %s)""",
                (Jsonb(doc), Jsonb(query) if query is not None else None, after, expected_version))
    return [Appended(*r) for r in rows]


def get_checkpoint(conn: psycopg.Connection, name: str) -> int:
    """The position saved under name (0 when none was)."""
    return _run(conn, "SELECT es_store.get_checkpoint(%s)", (name,))[0][0]


def save_checkpoint(conn: psycopg.Connection, name: str, position: int,
                    expected: Optional[int] = None) -> None:
    """Save position under name in the connection's transaction; with
    expected, only if the saved position is expected (CheckpointMoved)."""
    _run(conn, "SELECT es_store.save_checkpoint(%s, %s, expected_position => %s)",
         (name, position, expected))


def retry_command(conn: psycopg.Connection, command: Callable[[psycopg.Connection], Any],
                  attempts: int = 10) -> Any:
    """Run command(conn) in a transaction and commit; on SE001 (another
    writer won the race) or SE008 (an append condition failed: another
    command decided first) roll back and run it again, from a fresh load,
    up to attempts times.  The command loads what it needs, decides, and
    appends with the versions it loaded.  Give its events ids of their own
    to make a retry after a lost connection safe: a retry of a committed
    append returns its first result."""
    for attempt in range(attempts):
        try:
            with conn.transaction():
                return command(conn)
        except (WrongExpectedVersion, ConditionFailed):
            if attempt == attempts - 1:
                raise
            # back off a little, at random, so that racers do not meet again
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))


class Stop:
    """Set it to end a consume loop cleanly, after the current page."""

    def __init__(self):
        self.stopped = False

    def set(self):
        self.stopped = True


def consume(conn: psycopg.Connection, name: str,
            handle: Callable[[psycopg.Connection, list[StoredEvent]], None],
            page: int = 500, channel: Optional[str] = None,
            listen_conn: Optional[psycopg.Connection] = None,
            poll: float = 2.0, stop: Optional[Stop] = None) -> int:
    """The consumer loop: one transaction per page, on conn (which must not
    be in autocommit mode): read the page after checkpoint name, save the
    checkpoint past it (compare-and-set, so a competing consumer gets
    SE005 and moves on), handle(conn, events) writes the read model, commit.
    When caught up, wait for a NOTIFY on channel (listen_conn, autocommit)
    or poll seconds.  Returns the pages handled when stop is set."""
    if listen_conn is not None and channel:
        listen_conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    pages = 0
    while not (stop and stop.stopped):
        try:
            with conn.transaction():
                cp = _run(conn, "SELECT es_store.get_checkpoint(%s)", (name,))[0][0]
                events = read_feed(conn, cp, page)
                if events:
                    _run(conn, "SELECT es_store.save_checkpoint(%s, %s, expected_position => %s)",
                         (name, events[-1].global_position, cp))
                    handle(conn, events)
        except CheckpointMoved:
            continue                       # another consumer took this page
        if events:
            pages += 1
            continue
        _wait(listen_conn, poll)
    return pages


def _wait(listen_conn: Optional[psycopg.Connection], seconds: float) -> None:
    if listen_conn is None:
        time.sleep(seconds)
        return
    pgconn = listen_conn.pgconn
    ready, _, _ = select.select([pgconn.socket], [], [], seconds)
    if ready:
        pgconn.consume_input()
        while pgconn.notifies() is not None:
            pass


def wait_for_position(conn: psycopg.Connection, name: str, position: int,
                      timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Wait until checkpoint name has reached position (the global position
    of your own append), so that its read model shows your write; False on
    timeout.  Compare with your append's position, not last_position(): the
    feed's safe position can sit below events already committed."""
    deadline = time.monotonic() + timeout
    while True:
        with conn.transaction():
            cp = _run(conn, "SELECT es_store.get_checkpoint(%s)", (name,))[0][0]
        if cp >= position:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
