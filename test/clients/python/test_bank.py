"""The bank-account example on es_store_client (psycopg 3): open, deposit,
withdraw with no overdraft, transfers across two aggregates and an app
table in one transaction, a projection, concurrent workers, an idempotent
retry; the final balances are checked against the events.

    PGHOST=... PGPORT=... PGUSER=... python3 test/clients/python/test_bank.py
Exits non-zero on the first failed check.  Uses (and drops) a database of
its own.
"""
import os
import random
import sys
import threading
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "src", "clients", "python"))
import psycopg  # noqa: E402
import es_store_client as es  # noqa: E402

DB = "es_clients_py"
NS = uuid.UUID("6f1c2f7e-5d4e-4a3b-9c2d-1e0f9a8b7c6d")


class Overdraft(Exception):
    pass


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)
    print("ok: " + what)


def key(acc):
    return ("bank", "account", acc)


def balance_of(events):
    b = 0
    for e in events:
        amount = e.payload.get("amount", 0)
        b += amount if e.event_type in ("Opened", "Deposited", "TransferredIn") else -amount
    return b


def load(conn, acc):
    events = es.read_aggregate(conn, key(acc))
    return balance_of(events), (events[-1].aggregate_version if events else 0)


def open_account(conn, acc, initial):
    return es.append(conn, key(acc), 0, [es.Event("Opened", {"amount": initial})])


def deposit(conn, acc, amount):
    def cmd(c):
        _, version = load(c, acc)
        return es.append(c, key(acc), version, [es.Event("Deposited", {"amount": amount})])
    return es.retry_command(conn, cmd)


def withdraw(conn, acc, amount):
    def cmd(c):
        balance, version = load(c, acc)
        if balance < amount:
            raise Overdraft(acc)
        return es.append(c, key(acc), version, [es.Event("Withdrawn", {"amount": amount})])
    return es.retry_command(conn, cmd)


def transfer(conn, src, dst, amount, transfer_id):
    """Both accounts and the app's transfers row in one transaction; the
    event ids come from the transfer id, so a retry is idempotent."""
    def cmd(c):
        b_src, v_src = load(c, src)
        _, v_dst = load(c, dst)
        if b_src < amount:
            raise Overdraft(src)
        out_id = uuid.uuid5(NS, transfer_id + "/out")
        in_id = uuid.uuid5(NS, transfer_id + "/in")
        rows = es.append_aggregates(c, [
            (key(src), v_src, [es.Event("TransferredOut", {"amount": amount, "to": dst}, event_id=out_id)]),
            (key(dst), v_dst, [es.Event("TransferredIn", {"amount": amount, "from": src}, event_id=in_id)]),
        ])
        c.execute("INSERT INTO transfers (id, src, dst, amount) VALUES (%s, %s, %s, %s) "
                  "ON CONFLICT (id) DO NOTHING", (transfer_id, src, dst, amount))
        return rows
    return es.retry_command(conn, cmd, attempts=200)


def project(conn, events):
    with conn.cursor() as cur:
        for e in events:
            if e.aggregate_type != "account":
                continue
            amount = e.payload.get("amount", 0)
            sign = 1 if e.event_type in ("Opened", "Deposited", "TransferredIn") else -1
            cur.execute("INSERT INTO balances (account, balance, version) VALUES (%s, %s, %s) "
                        "ON CONFLICT (account) DO UPDATE SET balance = balances.balance + excluded.balance, "
                        "version = excluded.version", (e.aggregate_id, sign * amount, e.aggregate_version))


def main():
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB}")
        admin.execute(f"CREATE DATABASE {DB}")
    try:
        run()
    except Failed as e:
        print("FAILED: %s" % e)
        sys.exit(1)
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def run():
    conn = psycopg.connect(dbname=DB)
    conn.execute("CREATE EXTENSION es_store")
    conn.execute("CREATE TABLE transfers (id text PRIMARY KEY, src text, dst text, amount int)")
    conn.execute("CREATE TABLE balances (account text PRIMARY KEY, balance bigint, version bigint)")
    conn.commit()

    accounts = ["a-%d" % i for i in range(1, 5)]
    with conn.transaction():
        for acc in accounts:
            r = open_account(conn, acc, 1000)
    check(isinstance(r[0].global_position, int) and isinstance(r[0].event_id, uuid.UUID),
          "positions come back as int, ids as uuid.UUID")
    deposit(conn, "a-1", 250)
    withdraw(conn, "a-2", 100)
    try:
        withdraw(conn, "a-3", 5000)
        check(False, "an overdraft is refused")
    except Overdraft:
        check(True, "an overdraft is refused, nothing appended")
    check(load(conn, "a-3") == (1000, 1), "a-3 unchanged by the refused withdrawal")
    conn.rollback()

    # typed errors
    try:
        with conn.transaction():
            es.append(conn, key("a-1"), 1, [es.Event("Deposited", {"amount": 1})])
        check(False, "a stale expected version fails")
    except es.WrongExpectedVersion as e:
        check(e.error.sqlstate == "SE001" and "current version is 2" in (e.detail or ""),
              "a stale expected version is WrongExpectedVersion (SE001) with its detail")
    dup = uuid.uuid4()
    with conn.transaction():
        es.append(conn, key("a-4"), None, [es.Event("Deposited", {"amount": 1}, event_id=dup)])
    try:
        with conn.transaction():
            es.append(conn, key("a-4"), None, [es.Event("Deposited", {"amount": 2}, event_id=dup)])
        check(False, "an id reused with other content fails")
    except es.DuplicateEvent:
        check(True, "an id reused with other content is DuplicateEvent (SE002)")

    # an aggregate id that is a uuid.UUID goes in as text
    acc_id = uuid.uuid4()
    with conn.transaction():
        es.append(conn, ("bank", "card", acc_id), 0, [es.Event("Issued", {})])
        check(es.read_aggregate(conn, ("bank", "card", acc_id))[0].aggregate_id == str(acc_id),
              "a uuid.UUID aggregate id is stored and read as text")
    # the checkpoint errors, typed
    with conn.transaction():
        es.save_checkpoint(conn, "typed", 5)
    for call, cls, what in (
            (lambda: es.save_checkpoint(conn, "typed", 4), es.CheckpointBackwards, "SE004"),
            (lambda: es.save_checkpoint(conn, "typed", 9, expected=3), es.CheckpointMoved, "SE005")):
        try:
            with conn.transaction():
                call()
            check(False, what + " is raised")
        except cls as e:
            check(e.error.sqlstate == what and e.hint, "%s is %s, with a hint" % (what, cls.__name__))
    # a forgotten aggregate's tombstone
    with conn.transaction():
        conn.execute("SELECT es_store.forget_aggregate('bank', 'card', %s)", (str(acc_id),))
    try:
        with conn.transaction():
            es.append(conn, ("bank", "card", acc_id), None, [es.Event("Issued", {})])
        check(False, "an append to a forgotten aggregate fails")
    except es.StreamForgotten:
        check(True, "an append to a forgotten aggregate is StreamForgotten (SE003)")

    # a transfer, and its retry with the same transfer id: the same result
    first = transfer(conn, "a-1", "a-2", 50, "t-first")
    again = transfer(conn, "a-1", "a-2", 50, "t-first")
    check([r[5] for r in first] == [r[5] for r in again], "a retried transfer returns the first positions")
    check(load(conn, "a-1")[0] == 1000 + 250 - 50, "the retry moved no money twice")
    conn.rollback()

    # concurrent workers: random transfers, each retried on SE001
    done = []
    errors = []

    def worker(n):
        # the writers notify the projection's channel at each commit
        c = psycopg.connect(dbname=DB, options="-c es_store.notify_channel=es_bank")
        rnd = random.Random(n)
        try:
            for i in range(40):
                src, dst = rnd.sample(accounts, 2)
                try:
                    transfer(c, src, dst, rnd.randint(1, 60), "t-%d-%d" % (n, i))
                    done.append(1)
                except Overdraft:
                    c.rollback()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()

    # the projection runs meanwhile, on its own connection, woken by NOTIFY
    stop = es.Stop()
    proj = psycopg.connect(dbname=DB)
    listen = psycopg.connect(dbname=DB, autocommit=True)
    pages = []
    pt = threading.Thread(target=lambda: pages.append(
        es.consume(proj, "balances", project, page=50, channel="es_bank", listen_conn=listen, poll=0.2, stop=stop)))
    pt.start()
    for t in threads:
        t.join()
    if errors:
        stop.set()
        pt.join()
    check(not errors, "the workers ran without unexpected errors " + "; ".join(errors[:3]))

    # wait for the projection to reach the last position written
    with conn.transaction():
        last = conn.execute("SELECT max(global_position) FROM es_store.read_feed(0, 100000)").fetchone()[0]
    check(es.wait_for_position(conn, "balances", last, timeout=30), "wait_for_position sees the projection reach the last write")
    stop.set()
    pt.join()
    proj.close()
    listen.close()

    with conn.transaction():
        from_events = {acc: load(conn, acc)[0] for acc in accounts}
        projected = dict(conn.execute("SELECT account, balance FROM balances").fetchall())
        transfers = conn.execute("SELECT count(*) FROM transfers").fetchone()[0]
        pairs = conn.execute("SELECT count(*) FROM es_store.read_feed(0, 100000) WHERE event_type = 'TransferredOut'").fetchone()[0]
    check(projected == from_events, "the projected balances equal the balances folded from the events: %s" % projected)
    check(sum(from_events.values()) == 4 * 1000 + 250 - 100 + 1, "no money was created or lost")
    check(min(from_events.values()) >= 0, "no account is overdrawn")
    check(transfers == pairs == len(done) + 1, "one transfers row and one event pair per transfer (%d)" % transfers)

    # Dynamic Consistency Boundary: a course defined once (a second
    # definition is ConditionFailed), then 5 students race for its 3 seats,
    # each command retried on SE008: exactly 3 get in, the others find it full
    course_q = {"items": [{"types": ["CourseDefined"], "tags": ["course:py"]}]}
    with conn.transaction():
        es.append_if(conn, [es.Event("CourseDefined", {"capacity": 3}, tags=["course:py"])], course_q)
    try:
        with conn.transaction():
            es.append_if(conn, [es.Event("CourseDefined", {"capacity": 9}, tags=["course:py"])], course_q)
        check(False, "a second definition fails")
    except es.ConditionFailed as e:
        check(e.error.sqlstate == "SE008" and e.error.diag.message_hint is not None,
              "a second definition is ConditionFailed (SE008), with a hint")
    outcomes = []

    def student(n):
        c = psycopg.connect(dbname=DB)

        def subscribe(cc):
            q = {"items": [{"tags": ["course:py"]}]}
            events, position = es.read_query(cc, q)
            capacity = next(e.payload["capacity"] for e in events if e.event_type == "CourseDefined")
            if sum(1 for e in events if e.event_type == "Subscribed") >= capacity:
                return "full"
            es.append_if(cc, [es.Event("Subscribed", {"student": n},
                                       tags=["course:py", "student:%d" % n])], q, position)
            return "in"
        try:
            outcomes.append(es.retry_command(c, subscribe))
        except Exception as e:  # noqa: BLE001
            outcomes.append(repr(e))
        finally:
            c.close()

    racers = [threading.Thread(target=student, args=(n,)) for n in range(5)]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    check(sorted(outcomes) == ["full", "full", "in", "in", "in"],
          "5 students race for 3 seats: 3 get in, 2 find the course full (%s)" % outcomes)
    with conn.transaction():
        seated, _ = es.read_query(conn, {"items": [{"types": ["Subscribed"], "tags": ["course:py"]}]})
    check(len(seated) == 3 and all("course:py" in e.tags for e in seated),
          "the course holds 3 subscriptions, read back with their tags")
    conn.close()
    print("bank example: %d transfers by 4 workers, projection in %d pages" % (len(done), pages[0] if pages else 0))


if __name__ == "__main__":
    main()
