'use strict';
// The bank-account example on es-store-client (node-postgres): open,
// deposit, withdraw with no overdraft, transfers across two aggregates and
// an app table in one transaction, a projection woken by NOTIFY, concurrent
// workers, an idempotent retry; the final balances are checked against the
// events.  PGHOST/PGPORT/PGUSER from the environment; uses (and drops) a
// database of its own.  Exits non-zero on the first failed check.
const path = require('path');
const crypto = require('crypto');
const clientDir = path.join(__dirname, '..', '..', '..', 'src', 'clients', 'node');
// pg as npm installs it beside the helper, else as the system has it
// (Debian's node-pg); the helper itself needs nothing but a client
let pg;
let pgFrom;
try {
  pg = require(path.join(clientDir, 'node_modules', 'pg'));
  pgFrom = 'npm';
} catch (err) {
  pg = require('pg');
  pgFrom = 'the system (' + require.resolve('pg') + ')';
}
const { Client } = pg;
const es = require(clientDir);

const DB = 'es_clients_node';
class Failed extends Error {}
class Overdraft extends Error {}
function check(cond, what) {
  if (!cond) throw new Failed(what);
  console.log('ok: ' + what);
}
const key = (acc) => ['bank', 'account', acc];
const credit = new Set(['Opened', 'Deposited', 'TransferredIn']);
// a uuid from a name (version 5 style, from SHA-1), for idempotent transfers
function nameUuid(name) {
  const h = crypto.createHash('sha1').update('es-bank/' + name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

async function load(c, acc) {
  const events = await es.readAggregate(c, key(acc));
  let balance = 0;
  for (const e of events) balance += (credit.has(e.eventType) ? 1 : -1) * (e.payload.amount || 0);
  return { balance, version: events.length ? events[events.length - 1].aggregateVersion : 0 };
}

async function connect(db, options) {
  const c = new Client({ database: db, options });
  await c.connect();
  return c;
}

function transfer(c, src, dst, amount, id) {
  return es.retryCommand(c, async (t) => {
    const a = await load(t, src);
    const b = await load(t, dst);
    if (a.balance < amount) throw new Overdraft(src);
    const rows = await es.appendAggregates(t, [
      { key: key(src), expectedVersion: a.version,
        events: [{ eventType: 'TransferredOut', payload: { amount, to: dst }, eventId: nameUuid(id + '/out') }] },
      { key: key(dst), expectedVersion: b.version,
        events: [{ eventType: 'TransferredIn', payload: { amount, from: src }, eventId: nameUuid(id + '/in') }] },
    ]);
    await t.query('INSERT INTO transfers (id, src, dst, amount) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING',
      [id, src, dst, amount]);
    return rows;
  }, 200);
}

async function project(c, events) {
  for (const e of events) {
    if (e.aggregateType !== 'account') continue;
    const amount = (credit.has(e.eventType) ? 1 : -1) * (e.payload.amount || 0);
    await c.query(`INSERT INTO balances (account, balance) VALUES ($1, $2)
                   ON CONFLICT (account) DO UPDATE SET balance = balances.balance + excluded.balance`,
    [e.aggregateId, amount]);
  }
}

async function run() {
  const conn = await connect(DB);
  await conn.query('CREATE EXTENSION es_store');
  await conn.query('CREATE TABLE transfers (id text PRIMARY KEY, src text, dst text, amount int)');
  await conn.query('CREATE TABLE balances (account text PRIMARY KEY, balance bigint)');
  const accounts = ['a-1', 'a-2', 'a-3', 'a-4'];
  let opened;
  for (const acc of accounts) opened = await es.append(conn, key(acc), 0, [{ eventType: 'Opened', payload: { amount: 1000 } }]);
  check(typeof opened[0].globalPosition === 'number' && typeof opened[0].aggregateVersion === 'number',
    'positions and versions come back as numbers');

  // payloads that node-postgres would turn into SQL arrays or leave unquoted
  const odd = await es.append(conn, ['bank', 'odd', 'o-1'], null, [
    { eventType: 'ArrayPayload', payload: [1, [2, 3]] }, { eventType: 'StringPayload', payload: 'just text' }]);
  const back = await es.readAggregate(conn, ['bank', 'odd', 'o-1']);
  check(odd.length === 2 && JSON.stringify(back[0].payload) === '[1,[2,3]]' && back[1].payload === 'just text',
    'a JSON array and a JSON string go in and come back as JSON');

  await es.retryCommand(conn, async (t) => {
    const { version } = await load(t, 'a-1');
    return es.append(t, key('a-1'), version, [{ eventType: 'Deposited', payload: { amount: 250 } }]);
  });
  try {
    await es.append(conn, key('a-1'), 1, [{ eventType: 'Deposited', payload: { amount: 1 } }]);
    check(false, 'a stale expected version fails');
  } catch (err) {
    check(err instanceof es.WrongExpectedVersion && err.code === 'SE001' && /current version is 2/.test(err.detail),
      'a stale expected version is WrongExpectedVersion (err.code SE001) with its detail');
  }
  const dup = crypto.randomUUID();
  await es.append(conn, key('a-4'), null, [{ eventType: 'Deposited', payload: { amount: 1 }, eventId: dup }]);
  try {
    await es.append(conn, key('a-4'), null, [{ eventType: 'Deposited', payload: { amount: 2 }, eventId: dup }]);
    check(false, 'an id reused with other content fails');
  } catch (err) {
    check(err instanceof es.DuplicateEvent, 'an id reused with other content is DuplicateEvent (SE002)');
  }
  try {
    await es.retryCommand(conn, async (t) => {
      const { balance } = await load(t, 'a-3');
      if (balance < 5000) throw new Overdraft('a-3');
    });
    check(false, 'an overdraft is refused');
  } catch (err) {
    check(err instanceof Overdraft, 'an overdraft is refused, nothing appended');
  }

  // the checkpoint errors, typed
  await conn.query("SELECT es_store.save_checkpoint('typed', 5)");
  for (const [sql, Cls, code] of [
    ["SELECT es_store.save_checkpoint('typed', 4)", es.CheckpointBackwards, 'SE004'],
    ["SELECT es_store.save_checkpoint('typed', 9, expected_position => 3)", es.CheckpointMoved, 'SE005']]) {
    try {
      await conn.query(sql);
      check(false, code + ' is raised');
    } catch (err) {
      const t = es.typed(err);
      check(t instanceof Cls && t.code === code && t.hint, `${code} is ${Cls.name}, with a hint`);
    }
  }

  const first = await transfer(conn, 'a-1', 'a-2', 50, 't-first');
  const again = await transfer(conn, 'a-1', 'a-2', 50, 't-first');
  check(JSON.stringify(first.map((r) => r.globalPosition)) === JSON.stringify(again.map((r) => r.globalPosition)),
    'a retried transfer returns the first positions');
  check((await load(conn, 'a-1')).balance === 1000 + 250 - 50, 'the retry moved no money twice');

  // the projection, woken by the writers' NOTIFY
  const proj = await connect(DB);
  const listen = await connect(DB);
  const stop = new AbortController();
  const projection = es.consume(proj, 'balances', project,
    { page: 50, channel: 'es_bank', listenClient: listen, poll: 200, signal: stop.signal });

  let done = 0;
  const workers = [0, 1, 2, 3].map(async (n) => {
    const c = await connect(DB, '-c es_store.notify_channel=es_bank');
    let seed = n + 1;
    const rnd = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
    try {
      for (let i = 0; i < 40; i++) {
        const src = accounts[Math.floor(rnd() * 4)];
        let dst = accounts[Math.floor(rnd() * 4)];
        if (dst === src) dst = accounts[(accounts.indexOf(src) + 1) % 4];
        try {
          await transfer(c, src, dst, 1 + Math.floor(rnd() * 60), `t-${n}-${i}`);
          done++;
        } catch (err) {
          if (!(err instanceof Overdraft)) throw err;
        }
      }
    } finally {
      await c.end();
    }
  });
  await Promise.all(workers);
  const last = num((await conn.query('SELECT max(global_position) AS p FROM es_store.read_feed(0, 100000)')).rows[0].p);
  check(await es.waitForPosition(conn, 'balances', last, 30000), 'waitForPosition sees the projection reach the last write');
  stop.abort();
  const pages = await projection;
  await proj.end();
  await listen.end();

  const fromEvents = {};
  for (const acc of accounts) fromEvents[acc] = (await load(conn, acc)).balance;
  const projected = {};
  for (const r of (await conn.query('SELECT account, balance FROM balances')).rows) projected[r.account] = Number(r.balance);
  const transfers = Number((await conn.query('SELECT count(*) AS n FROM transfers')).rows[0].n);
  const pairs = Number((await conn.query(
    "SELECT count(*) AS n FROM es_store.read_feed(0, 100000) WHERE event_type = 'TransferredOut'")).rows[0].n);
  check(accounts.every((a) => projected[a] === fromEvents[a]),
    'the projected balances equal the balances folded from the events: ' + JSON.stringify(projected));
  check(Object.values(fromEvents).reduce((x, y) => x + y, 0) === 4 * 1000 + 250 + 1, 'no money was created or lost');
  check(Math.min(...Object.values(fromEvents)) >= 0, 'no account is overdrawn');
  check(transfers === pairs && pairs === done + 1, `one transfers row and one event pair per transfer (${transfers})`);

  // Dynamic Consistency Boundary: a course defined once (a second definition
  // is ConditionFailed), then 5 students race for its 3 seats, each command
  // retried on SE008: exactly 3 get in, the others find it full
  const courseQ = { items: [{ types: ['CourseDefined'], tags: ['course:js'] }] };
  await conn.query('BEGIN');
  await es.appendIf(conn, [{ eventType: 'CourseDefined', payload: { capacity: 3 }, tags: ['course:js'] }], courseQ);
  await conn.query('COMMIT');
  try {
    await es.appendIf(conn, [{ eventType: 'CourseDefined', payload: { capacity: 9 }, tags: ['course:js'] }], courseQ);
    check(false, 'a second definition fails');
  } catch (err) {
    check(err instanceof es.ConditionFailed && err.code === 'SE008' && err.hint,
      'a second definition is ConditionFailed (err.code SE008), with a hint');
  }
  const outcomes = await Promise.all([0, 1, 2, 3, 4].map(async (n) => {
    const c = await connect(DB);
    try {
      return await es.retryCommand(c, async (cc) => {
        const q = { items: [{ tags: ['course:js'] }] };
        const { events, position } = await es.readQuery(cc, q);
        const capacity = events.find((e) => e.eventType === 'CourseDefined').payload.capacity;
        if (events.filter((e) => e.eventType === 'Subscribed').length >= capacity) return 'full';
        await es.appendIf(cc, [{ eventType: 'Subscribed', payload: { student: n }, tags: ['course:js', `student:${n}`] }],
          q, position);
        return 'in';
      });
    } finally {
      await c.end();
    }
  }));
  check(JSON.stringify(outcomes.sort()) === JSON.stringify(['full', 'full', 'in', 'in', 'in']),
    `5 students race for 3 seats: 3 get in, 2 find the course full (${outcomes})`);
  const seated = (await es.readQuery(conn, { items: [{ types: ['Subscribed'], tags: ['course:js'] }] })).events;
  check(seated.length === 3 && seated.every((e) => e.tags.includes('course:js')),
    'the course holds 3 subscriptions, read back with their tags');
  await conn.end();
  console.log(`bank example: ${done} transfers by 4 workers, projection in ${pages} pages (pg from ${pgFrom})`);
}

function num(v) { return v === null ? null : Number(v); }

(async () => {
  const admin = await connect('postgres');
  await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin.query(`CREATE DATABASE ${DB}`);
  let code = 0;
  try {
    await run();
  } catch (err) {
    console.log('FAILED: ' + (err instanceof Failed ? err.message : err.stack));
    code = 1;
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
    await admin.end();
  }
  process.exit(code);
})();
