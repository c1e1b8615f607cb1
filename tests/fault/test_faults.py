"""docgate on PostgreSQL's bad days: restarts, partitions, saturation, shutdown.

Each test runs its own PostgreSQL (and, where needed, a fault proxy in front of it),
and ends by checking that no docgate connection is idle in transaction and that
PostgreSQL saw no more than pool.max (+1 for the visibility watcher) of them.
Recovery times are printed (pytest -s) for bench/RESULTS.md.
"""
import signal
import subprocess
import threading
import time
import uuid

import grpc

from docgate_harness import wait_for, workers
from fault_proxy import FaultProxy

ALLOWED_UNDER_FAULT = {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def pb():
    from docgate._pb import docgate_pb2
    return docgate_pb2


def psql(admin_url, sql):
    out = subprocess.run(["psql", admin_url, "-Atc", sql], capture_output=True, text=True, check=True).stdout
    return out.strip()


def assert_connections_clean(admin_url, pool_max):
    def states():
        rows = psql(admin_url, "SELECT state FROM pg_stat_activity WHERE application_name = 'docgate'")
        return [s for s in rows.splitlines() if s]

    # A backend whose connection was reset leaves pg_stat_activity a moment later.
    try:
        wait_for(lambda: "idle in transaction" not in states() and len(states()) <= pool_max + 1, 5,
                 what="at most pool_max (+1 opening) docgate connections, none idle in transaction")
    except AssertionError:
        raise AssertionError(states()) from None


def threads_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Threads:")).split()[1])


def code_of(call):
    try:
        call()
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def test_immediate_restart_under_64_creators_loses_nothing(own_cluster, start_docgate):
    urls = own_cluster.start()
    d = start_docgate(urls["DOCGATE_TEST_DATABASE_URL"], "--pool-max=16")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    stub = d.stub()
    acknowledged, seen_codes, lock = set(), set(), threading.Lock()
    stop = threading.Event()

    def creator(_):
        while not stop.is_set():
            doc_id = str(uuid.uuid4())  # chosen before the first try, kept across retries
            while True:
                code = code_of(lambda: stub.CreateDocument(pb().CreateDocumentRequest(
                    document=pb().Document(id=doc_id, name="restart")), timeout=2))
                with lock:
                    seen_codes.add(code)
                if code == grpc.StatusCode.OK:
                    with lock:
                        acknowledged.add(doc_id)
                    break
                if stop.is_set() and code != grpc.StatusCode.UNAVAILABLE:
                    break
                time.sleep(0.02)  # client back-off before retrying the same id

    with workers(creator, 64, stop):
        wait_for(lambda: len(acknowledged) >= 200, 30, what="load running")
        own_cluster.stop()
        own_cluster.start()  # returns once PostgreSQL accepts connections
        accepting = time.monotonic()
        before = len(acknowledged)
        wait_for(lambda: len(acknowledged) > before + 64, 10, what="creates acknowledged after the restart")
        served_after = time.monotonic() - accepting

    print(f"\nrecovery: creates served again {served_after:.2f} s after PostgreSQL accepted connections")
    assert served_after < 2.0
    assert seen_codes <= ALLOWED_UNDER_FAULT, seen_codes
    admin = urls["DOCGATE_TEST_ADMIN_URL"].replace("/postgres?", "/docgate?")
    rows = int(psql(admin, "SELECT count(*) FROM documents WHERE name = 'restart'"))
    stored = set(psql(admin, "SELECT id FROM documents WHERE name = 'restart'").split())
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged ids are missing"
    assert rows == len(stored)  # no id twice
    assert_connections_clean(urls["DOCGATE_TEST_ADMIN_URL"], 16)


def test_partition_ends_every_rpc_by_its_deadline_and_heals(own_cluster, start_docgate):
    urls = own_cluster.start()
    port = int(urls["PGPORT"])
    proxy = FaultProxy(port)
    try:
        url = urls["DOCGATE_TEST_DATABASE_URL"].replace(f":{port}/", f":{proxy.port}/")
        d = start_docgate(url, "--pool-max=4")
        wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
        stub = d.stub()
        doc = stub.CreateDocument(pb().CreateDocumentRequest(document=pb().Document(name="p")), timeout=5).document
        threads_before = threads_of(d.proc.pid)

        late, codes, lock = [], set(), threading.Lock()
        stop = threading.Event()

        def reader(_):
            while not stop.is_set():
                started = time.monotonic()
                code = code_of(lambda: stub.GetDocument(pb().GetDocumentRequest(id=doc.id), timeout=0.5))
                took = time.monotonic() - started
                with lock:
                    codes.add(code)
                    if took > 0.5 + 0.15:
                        late.append(took)
                if code != grpc.StatusCode.OK:
                    time.sleep(0.05)  # client back-off

        with workers(reader, 8, stop):
            proxy.blackhole()
            cut = time.monotonic()
            wait_for(lambda: d.health() == "NOT_SERVING", 5, what="NOT_SERVING during the partition")
            not_serving_after = time.monotonic() - cut
            wait_for(lambda: time.monotonic() - cut >= 10, 15, what="10 s of partition")
            threads_during = threads_of(d.proc.pid)
            proxy.heal()
            healed = time.monotonic()
            wait_for(lambda: d.health() == "SERVING", 5, what="SERVING after the partition healed")
            stub.GetDocument(pb().GetDocumentRequest(id=doc.id), timeout=2)
            serving_after = time.monotonic() - healed

        print(f"\nrecovery: NOT_SERVING {not_serving_after:.2f} s into the partition;"
              f" serving {serving_after:.2f} s after it healed; threads {threads_before} -> {threads_during}")
        assert not late, f"RPCs ended after their deadline: {late[:5]}"
        assert codes <= ALLOWED_UNDER_FAULT, codes
        assert not_serving_after < 2.0
        assert serving_after < 2.0
        assert threads_during <= threads_before + 8
        assert_connections_clean(urls["DOCGATE_TEST_ADMIN_URL"], 4)
    finally:
        proxy.close()


def test_reset_connections_cost_no_read(own_cluster, start_docgate):
    urls = own_cluster.start()
    port = int(urls["PGPORT"])
    proxy = FaultProxy(port)
    try:
        d = start_docgate(urls["DOCGATE_TEST_DATABASE_URL"].replace(f":{port}/", f":{proxy.port}/"), "--pool-max=4")
        wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
        stub = d.stub()
        doc = stub.CreateDocument(pb().CreateDocumentRequest(document=pb().Document(name="r")), timeout=5).document
        for _ in range(3):
            proxy.reset()  # every open connection dies with a RST
            for _ in range(8):
                assert stub.GetDocument(pb().GetDocumentRequest(id=doc.id), timeout=5).document.id == doc.id
        proxy.delay(0.05)  # a slow network is only slow
        assert stub.GetDocument(pb().GetDocumentRequest(id=doc.id), timeout=5).document.id == doc.id
        proxy.heal()
        assert_connections_clean(urls["DOCGATE_TEST_ADMIN_URL"], 4)
    finally:
        proxy.close()


def test_saturated_pool_sheds_load_and_stays_healthy(own_cluster, start_docgate):
    urls = own_cluster.start()
    d = start_docgate(urls["DOCGATE_TEST_DATABASE_URL"], "--pool-max=4", "--acquire-timeout=2s")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    stub = d.stub()
    doc = stub.CreateDocument(pb().CreateDocumentRequest(document=pb().Document(name="hot")), timeout=5).document
    admin = urls["DOCGATE_TEST_ADMIN_URL"].replace("/postgres?", "/docgate?")
    # Hold the row lock from a separate session for the duration of the burst.
    locker = subprocess.Popen(["psql", admin, "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, text=True,
                              stdout=subprocess.DEVNULL)
    locker.stdin.write(f"BEGIN; SELECT 1 FROM documents WHERE id = '{doc.id}' FOR UPDATE;\n")
    locker.stdin.flush()
    try:
        wait_for(lambda: psql(admin, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                                     " WHERE a.application_name = 'psql' AND l.locktype = 'transactionid'") != "0",
                 10, what="the lock held")
        calls = [stub.UpdateDocumentStatus.future(pb().UpdateDocumentStatusRequest(
            id=doc.id, status=pb().PROCESSING), timeout=1.0) for _ in range(500)]
        codes = {}
        for c in calls:
            try:
                c.result()
                code = grpc.StatusCode.OK
            except grpc.RpcError as e:
                code = e.code()
            codes[code] = codes.get(code, 0) + 1
    finally:
        locker.stdin.write("ROLLBACK;\n")
        locker.stdin.close()
        locker.wait(timeout=10)
    print(f"\nsaturation: {codes}")
    assert set(codes) <= {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE}, codes
    # Healthy afterwards: reads and writes go through at once.
    fresh = stub.CreateDocument(pb().CreateDocumentRequest(document=pb().Document(name="after")), timeout=5)
    moved = stub.UpdateDocumentStatus(pb().UpdateDocumentStatusRequest(
        id=fresh.document.id, status=pb().PROCESSING), timeout=5)
    assert moved.document.status == pb().PROCESSING
    assert stub.GetDocument(pb().GetDocumentRequest(id=doc.id), timeout=5).document.id == doc.id
    assert_connections_clean(urls["DOCGATE_TEST_ADMIN_URL"], 4)


def test_sigterm_under_16_writers_answers_unavailable_never_cancelled_and_loses_nothing(database_url,
                                                                                      start_docgate):
    """A rolling deploy, ten times: SIGTERM while 16 writers create. Calls that arrive
    during the shutdown are UNAVAILABLE (clients retry them elsewhere), never
    CANCELLED (which clients do not retry); every acknowledged create is stored."""
    admin = None
    codes, acknowledged, exits = {}, set(), []
    for run in range(10):
        d = start_docgate(database_url, "--shutdown-grace=5s")
        wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
        stub = d.stub()
        lock, stop, served = threading.Lock(), threading.Event(), []

        def writer(_):
            while not stop.is_set():
                doc_id = str(uuid.uuid4())
                code = code_of(lambda: stub.CreateDocument(pb().CreateDocumentRequest(
                    document=pb().Document(id=doc_id, name=f"sigterm-{run}")), timeout=5))
                with lock:
                    codes[code] = codes.get(code, 0) + 1
                    if code == grpc.StatusCode.OK:
                        acknowledged.add(doc_id)
                        served.append(1)
                if code != grpc.StatusCode.OK:
                    time.sleep(0.005)

        with workers(writer, 16, stop):
            wait_for(lambda: len(served) > 100, 30, what="writes running")
            d.proc.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            assert d.proc.wait(timeout=10) == 0
            exits.append(time.monotonic() - sent)
            # The writers go on against the stopped server for a moment: still no CANCELLED.
            wait_for(lambda: time.monotonic() - sent > 0.2, 1)
        for line in d.output().splitlines():
            if "rpc failed" in line:
                assert "code=UNAVAILABLE" in line and "shutting down" in line, line
    print(f"\nSIGTERM under 16 writers x10: {{{', '.join(f'{c.name}: {n}' for c, n in codes.items())}}};"
          f" exit after {max(exits):.3f} s at most")
    assert grpc.StatusCode.CANCELLED not in codes, codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, codes
    admin = database_url  # the test database: the acknowledged rows must be there
    stored = set(psql(admin, "SELECT id FROM documents WHERE name LIKE 'sigterm-%'").split())
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged creates are missing"


def test_sigterm_lets_a_call_in_flight_finish(database_url, start_docgate):
    """A status move waiting on a row lock when SIGTERM comes: it runs to its end
    within the grace, and answers OK, before the process exits."""
    from docgate_harness import open_transaction
    d = start_docgate(database_url, "--shutdown-grace=10s")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    stub = d.stub()
    doc = stub.CreateDocument(pb().CreateDocumentRequest(document=pb().Document(name="in-flight")),
                              timeout=5).document
    with open_transaction(database_url, f"SELECT 1 FROM documents WHERE id = '{doc.id}' FOR UPDATE;",
                          "sigterm-lock") as commit:
        moving = stub.UpdateDocumentStatus.future(pb().UpdateDocumentStatusRequest(
            id=doc.id, status=pb().PROCESSING), timeout=10)
        wait_for(lambda: psql(database_url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                              " AND application_name = 'docgate'") == "1", 10, what="the move waiting on the lock")
        d.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: d.health() != "SERVING", 5, what="NOT_SERVING while draining")
        assert d.proc.poll() is None, "docgate must wait for the call in flight"
        # A new call meanwhile is refused, retryably.
        late = code_of(lambda: stub.GetDocument(pb().GetDocumentRequest(id=doc.id), timeout=5))
        assert late == grpc.StatusCode.UNAVAILABLE
        commit()
    assert moving.result().document.status == pb().PROCESSING
    assert d.proc.wait(timeout=10) == 0


def test_idle_docgate_exits_at_once_on_sigterm(database_url, start_docgate):
    """No call running, a client connected (as a Kubernetes probe or an idle worker
    is): SIGTERM ends the process within a second, not after gRPC's shutdown waits on
    the idle connection (it took 4-5 s)."""
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")  # leaves the channel connected
    d.proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    assert d.proc.wait(timeout=10) == 0
    took = time.monotonic() - sent
    print(f"\nidle exit after {took:.3f} s")
    assert took < 1.0
    assert "docgate stopped drained=true" in d.output()


def test_frozen_database_answers_no_write_as_not_done_that_is_then_committed(own_cluster, start_docgate):
    """PostgreSQL frozen (SIGSTOP) for 2 s under 16 writers. A create whose INSERT had
    reached PostgreSQL when its deadline came may still commit once PostgreSQL resumes:
    docgate must say UNAVAILABLE ("outcome unknown") for it, never DEADLINE_EXCEEDED
    or CANCELLED, which tell the client it was not written. A freeze that finds only
    statements not yet sent (a batch still setting its timeout) is tried again, up to
    four times, so that the case is always exercised."""
    urls = own_cluster.start()
    d = start_docgate(urls["DOCGATE_TEST_DATABASE_URL"], "--pool-max=8")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    stub = d.stub()
    admin = urls["DOCGATE_TEST_ADMIN_URL"].replace("/postgres?", "/docgate?")
    answers, lock, stop = [], threading.Lock(), threading.Event()

    def writer(n):
        while not stop.is_set():
            doc_id = str(uuid.uuid4())  # one attempt per id: a row that exists came from that attempt
            try:
                stub.CreateDocument(pb().CreateDocumentRequest(document=pb().Document(id=doc_id, name="frozen")),
                                    timeout=1.0 if n % 2 else 2.0)
                code, message = grpc.StatusCode.OK, ""
            except grpc.RpcError as e:
                code, message = e.code(), e.details() or ""
            with lock:
                answers.append((doc_id, code, message))
            if code != grpc.StatusCode.OK:
                time.sleep(0.02)  # client back-off

    def caught_in_flight():
        return any("outcome is unknown" in message for _, _, message in answers)

    freezes, served_after = 0, []
    with workers(writer, 16, stop):
        wait_for(lambda: len(answers) > 200, 30, what="writes running")
        while freezes < 4 and not caught_in_flight():
            freezes += 1
            with own_cluster.frozen():
                frozen_at = time.monotonic()
                wait_for(lambda: time.monotonic() - frozen_at >= 2, 5, what="2 s of freeze")
            thawed, before = time.monotonic(), len(answers)
            wait_for(lambda: sum(1 for a in answers[before:] if a[1] == grpc.StatusCode.OK) > 16, 15,
                     what="writes acknowledged after the thaw")
            served_after.append(time.monotonic() - thawed)

    # Statements that PostgreSQL resumed with finish by themselves; wait until none runs.
    wait_for(lambda: psql(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'docgate'"
                                 " AND state = 'active'") == "0", 10, what="resumed statements done")
    stored = set(psql(admin, "SELECT id FROM documents WHERE name = 'frozen'").split())
    by_code = {}
    for doc_id, code, _ in answers:
        by_code.setdefault(code, set()).add(doc_id)
    print(f"\nfrozen database ({freezes} freeze(s) of 2 s): "
          f"{{{', '.join(f'{c.name}: {len(ids)}' for c, ids in by_code.items())}}};"
          f" creates served again {max(served_after):.2f} s after the thaw at most")
    untrue = {code.name: len(by_code.get(code, set()) & stored)
              for code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
                           grpc.StatusCode.INVALID_ARGUMENT)}
    assert not any(untrue.values()), f"answered as not written, but committed: {untrue}"
    assert by_code.get(grpc.StatusCode.OK, set()) <= stored
    assert set(by_code) <= ALLOWED_UNDER_FAULT, set(by_code)
    assert caught_in_flight(), "no freeze caught a write in flight"
    assert max(served_after) < 5.0
    assert_connections_clean(urls["DOCGATE_TEST_ADMIN_URL"], 8)
