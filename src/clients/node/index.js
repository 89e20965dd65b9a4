'use strict';
/**
 * es-store-client: es_store from Node.js on node-postgres (pg).
 *
 * Appends with the right types (payloads sent as JSON text and cast to
 * jsonb, so that arrays and strings stay JSON; ids as uuid; positions and
 * versions back as numbers, exact up to 2^53, es_store's version limit),
 * an error class per SE code, a command-retry helper, a consumer loop
 * (pages, the checkpoint in the same transaction, LISTEN wake-ups with a
 * polling fallback, clean shutdown) and waitForPosition.  Every function
 * takes a pg.Client (or a pool client) and none commits unless it says so.
 */

/** @typedef {[string, string, string]} Key  [bounded_context, aggregate_type, aggregate_id] */
/**
 * @typedef {object} Event
 * @property {string} eventType
 * @property {*} payload        any JSON value
 * @property {object} [metadata]
 * @property {string} [eventId]  a uuid of your own, for idempotent retries
 * @property {number} [eventVersion]
 * @property {string[]} [tags]
 */

class EsStoreError extends Error {
  constructor(err) {
    super(err.message);
    this.name = this.constructor.name;
    this.code = err.code;
    this.detail = err.detail;
    this.hint = err.hint;
    this.cause = err;
  }
}
class WrongExpectedVersion extends EsStoreError {}
class DuplicateEvent extends EsStoreError {}
class StreamForgotten extends EsStoreError {}
class CheckpointBackwards extends EsStoreError {}
class CheckpointMoved extends EsStoreError {}
class SnapshotAhead extends EsStoreError {}
class SegmentNotHeld extends EsStoreError {}
class ConditionFailed extends EsStoreError {}

const ERRORS = {
  SE001: WrongExpectedVersion, SE002: DuplicateEvent, SE003: StreamForgotten,
  SE004: CheckpointBackwards, SE005: CheckpointMoved, SE006: SnapshotAhead,
  SE007: SegmentNotHeld, SE008: ConditionFailed,
};

/** The typed error for a pg error of an SE code, else the error itself. */
function typed(err) {
  const Cls = err && ERRORS[err.code];
  return Cls ? new Cls(err) : err;
}

async function query(client, text, values) {
  try {
    return await client.query(text, values);
  } catch (err) {
    throw typed(err);
  }
}

/** A bigint column (a string in node-postgres) as a number: exact up to 2^53. */
function num(v) {
  if (v === null || v === undefined) return v;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`es_store value ${v} is past 2^53`);
  return n;
}

const json = (v) => (v === undefined ? null : JSON.stringify(v));

/**
 * Append events to one aggregate in the client's transaction.
 * expectedVersion: null any, 0 no stream, -1 exists, N exactly N.
 * @param {import('pg').ClientBase} client
 * @param {Key} key
 * @param {number|null} expectedVersion
 * @param {Event[]} events
 * @returns {Promise<{eventId: string, aggregateVersion: number, globalPosition: number}[]>}
 */
async function append(client, key, expectedVersion, events) {
  if (events.some((e) => e.tags && e.tags.length)) {
    // tags per event: the JSON form takes them
    const doc = events.map((e) => ({
      ...eventDoc(e), bounded_context: String(key[0]), aggregate_type: String(key[1]), aggregate_id: String(key[2]),
    }));
    const j = await query(client,
      'SELECT event_id, aggregate_version, global_position FROM es_store.append_events($1, $2::jsonb)',
      [expectedVersion, JSON.stringify(doc)]);
    return j.rows.map(toAppended);
  }
  const r = await query(client,
    `SELECT event_id, aggregate_version, global_position
       FROM es_store.append($1, $2, $3, $4, $5::text[], $6::jsonb[], $7::jsonb[], $8::uuid[], $9::integer[])`,
    [String(key[0]), String(key[1]), String(key[2]), expectedVersion,
      events.map((e) => e.eventType), events.map((e) => json(e.payload)),
      events.map((e) => (e.metadata ? json(e.metadata) : null)),
      events.map((e) => e.eventId || null), events.map((e) => e.eventVersion || 1)]);
  return r.rows.map(toAppended);
}

function toAppended(x) {
  return { eventId: x.event_id, aggregateVersion: num(x.aggregate_version), globalPosition: num(x.global_position) };
}

/** An event as es_store's JSON forms take it. */
function eventDoc(ev) {
  const o = { event_type: ev.eventType, payload: ev.payload === undefined ? null : ev.payload };
  if (ev.metadata) o.metadata = ev.metadata;
  if (ev.eventId) o.event_id = ev.eventId;
  if (ev.eventVersion) o.event_version = ev.eventVersion;
  if (ev.tags && ev.tags.length) o.tags = ev.tags;
  return o;
}

/**
 * Append to several aggregates, and check those given no events, in one
 * call and es_store's lock order (no deadlock between such calls).
 * @param {import('pg').ClientBase} client
 * @param {{key: Key, expectedVersion: number|null, events?: Event[]}[]} entries
 */
async function appendAggregates(client, entries) {
  const doc = entries.map(({ key, expectedVersion, events }) => {
    const e = {
      bounded_context: String(key[0]), aggregate_type: String(key[1]), aggregate_id: String(key[2]),
      expected_version: expectedVersion === undefined ? null : expectedVersion,
    };
    if (events && events.length) {
      e.events = events.map(eventDoc);
    }
    return e;
  });
  const r = await query(client,
    `SELECT bounded_context, aggregate_type, aggregate_id, event_id, aggregate_version, global_position
       FROM es_store.append_aggregates($1::jsonb)`, [JSON.stringify(doc)]);
  return r.rows.map((x) => ({
    key: [x.bounded_context, x.aggregate_type, x.aggregate_id], eventId: x.event_id,
    aggregateVersion: num(x.aggregate_version), globalPosition: num(x.global_position),
  }));
}

function toEvent(x) {
  return {
    globalPosition: num(x.global_position), boundedContext: x.bounded_context,
    aggregateType: x.aggregate_type, aggregateId: x.aggregate_id,
    aggregateVersion: num(x.aggregate_version), eventId: x.event_id, eventType: x.event_type,
    eventVersion: x.event_version, payload: x.payload, metadata: x.metadata,
    correlationId: x.correlation_id, causationId: x.causation_id, traceId: x.trace_id,
    createdAt: x.created_at, payloadBytes: x.payload_bytes, tags: x.tags === undefined ? null : x.tags,
  };
}

/** The events of one aggregate, in version order. */
async function readAggregate(client, key) {
  const r = await query(client, 'SELECT * FROM es_store.read_aggregate($1, $2, $3)', key.map(String));
  return r.rows.map(toEvent);
}

/** A page of the global feed after position. */
async function readFeed(client, after, limit = 500) {
  const r = await query(client, 'SELECT * FROM es_store.read_feed($1, $2)', [after, limit]);
  return r.rows.map(toEvent);
}

/**
 * The events a query ({items: [{types: [...], tags: [...]}]}) matches after
 * a position, up to the feed's safe position, and the position to pass to
 * appendIf: the one read up to (the last event's when maxCount came back).
 * @returns {Promise<{events: object[], position: number}>}
 */
async function readQuery(client, q, after = 0, maxCount = null) {
  const r = await query(client,
    `SELECT b.up_to, e.* FROM (SELECT es_store.last_position() AS up_to) b
       LEFT JOIN LATERAL es_store.read_query($1::jsonb, $2, $3, b.up_to) e ON true`,
    [JSON.stringify(q), after, maxCount]);
  const events = r.rows.filter((x) => x.global_position !== null).map(toEvent);
  let position = num(r.rows[0].up_to);
  if (maxCount !== null && events.length === maxCount) position = events[events.length - 1].globalPosition;
  return { events, position };
}

/**
 * Append events (of the aggregate key, or of none when key is null) only if
 * no event q matches came after the position: ConditionFailed otherwise.
 */
async function appendIf(client, events, q = null, after = 0, key = null, expectedVersion = null) {
  const doc = events.map((e) => (key
    ? { ...eventDoc(e), bounded_context: String(key[0]), aggregate_type: String(key[1]), aggregate_id: String(key[2]) }
    : eventDoc(e)));
  const r = await query(client,
    'SELECT event_id, aggregate_version, global_position FROM es_store.append_if($1::jsonb, $2::jsonb, $3, $4)',
    [JSON.stringify(doc), q === null ? null : JSON.stringify(q), after, expectedVersion]);
  return r.rows.map(toAppended);
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/**
 * Run command(client) in a transaction and commit; on SE001 (another writer
 * appended first) or SE008 (an append condition failed) roll back and
 * run it again from a fresh load, up to attempts times, with a random
 * back-off.  Give the command's events ids of their own to make a retry
 * after a lost connection safe.
 */
async function retryCommand(client, command, attempts = 10) {
  for (let attempt = 0; ; attempt++) {
    await client.query('BEGIN');
    try {
      const result = await command(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK');
      if (!(err instanceof WrongExpectedVersion || err instanceof ConditionFailed) ||
          attempt >= attempts - 1) throw err;
      await sleep(Math.random() * 2 * (attempt + 1));
    }
  }
}

/**
 * The consumer loop: one transaction per page on client: read the page
 * after checkpoint name, save the checkpoint past it (compare-and-set: a
 * competing consumer gets SE005 and moves on), handle(client, events)
 * writes the read model, commit.  When caught up, wait for a NOTIFY on
 * channel (listenClient) or poll ms.  Ends when signal aborts, after the
 * current page; resolves to the number of pages handled.
 */
async function consume(client, name, handle, {
  page = 500, channel = null, listenClient = null, poll = 2000, signal = null,
} = {}) {
  let wake = null;
  if (listenClient && channel) {
    listenClient.on('notification', () => { if (wake) wake(); });
    await listenClient.query(`LISTEN "${channel.replace(/"/g, '""')}"`);
  }
  const stopped = () => signal && signal.aborted;
  let pages = 0;
  while (!stopped()) {
    let events = [];
    await client.query('BEGIN');
    try {
      const cp = num((await query(client, 'SELECT es_store.get_checkpoint($1) AS cp', [name])).rows[0].cp);
      events = await readFeed(client, cp, page);
      if (events.length) {
        await query(client, 'SELECT es_store.save_checkpoint($1, $2, expected_position => $3)',
          [name, events[events.length - 1].globalPosition, cp]);
        await handle(client, events);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      if (err instanceof CheckpointMoved) continue;
      throw err;
    }
    if (events.length) { pages++; continue; }
    await new Promise((res) => {
      const done = () => {
        clearTimeout(t);
        wake = null;
        if (signal) signal.removeEventListener('abort', done);
        res();
      };
      const t = setTimeout(done, poll);
      wake = done;
      if (signal) signal.addEventListener('abort', done, { once: true });
    });
  }
  return pages;
}

/**
 * Wait until checkpoint name has reached position (your append's global
 * position), so that its read model shows your write; false on timeout.
 * Compare with your own append's position, not last_position(): the feed's
 * safe position can sit below events already committed.
 */
async function waitForPosition(client, name, position, timeoutMs = 10000, intervalMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const cp = num((await query(client, 'SELECT es_store.get_checkpoint($1) AS cp', [name])).rows[0].cp);
    if (cp >= position) return true;
    if (Date.now() >= deadline) return false;
    await sleep(intervalMs);
  }
}

module.exports = {
  append, appendAggregates, readAggregate, readFeed, readQuery, appendIf, retryCommand, consume,
  waitForPosition, typed,
  EsStoreError, WrongExpectedVersion, DuplicateEvent, StreamForgotten, CheckpointBackwards,
  CheckpointMoved, SnapshotAhead, SegmentNotHeld, ConditionFailed,
};
