"""The outbox through a real redis-server and an unmodified Celery worker: tasks
written with the write, delivered after COMMIT, at least once, whatever crashes."""
import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import grpc
import pytest

from docgate_harness import Docgate, free_port, redis_answers, wait_for, workers

HERE = Path(__file__).resolve().parent
TASK = "outbox_e2e.extract"


def pb():
    from docgate._pb import docgate_pb2
    return docgate_pb2


class Redis:
    """A redis-server of the test's own that it may stop and start on the same port;
    durable (append-only file, fsync always), as a broker that must not lose tasks is."""

    def __init__(self):
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="docgate-redis-")
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", self.folder],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(lambda: redis_answers(self.port), 20, what="redis-server answers")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True,
                              check=True).stdout.strip()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self):
        if self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def redis():
    r = Redis()
    yield r
    r.close()


def task(doc_id):
    return pb().CeleryTask(task=TASK, queue="outbox", args_json=f'["{doc_id}"]')


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atc", sql], capture_output=True, text=True, check=True).stdout.strip()


def outbox_rows(admin):
    return int(psql(admin, "SELECT count(*) FROM docgate_waiting_tasks"))


def code_of(call):
    try:
        return grpc.StatusCode.OK, call()
    except grpc.RpcError as e:
        return e.code(), None


class Worker:
    """`celery worker` on the outbox queue (prefork, 4 processes), reading through `docgate_address`."""

    def __init__(self, redis, docgate_address):
        self.results = tempfile.NamedTemporaryFile(prefix="outbox-results-", delete=False).name
        self.log = tempfile.NamedTemporaryFile(prefix="outbox-worker-", suffix=".log", delete=False)
        env = {**os.environ, "CELERY_BROKER_URL": redis.url, "DOCGATE_ADDRESS": docgate_address,
               "OUTBOX_RESULTS": self.results}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "outbox_tasks", "worker", "-Q", "outbox", "--pool=prefork",
             "--concurrency=4", "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-n", f"outbox-{uuid.uuid4().hex[:6]}@%h"],
            cwd=HERE, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: " ready." in self.output() or self.proc.poll() is not None, 60, interval=0.1,
                 what="the Celery worker ready")
        assert self.proc.poll() is None, self.output()

    def output(self):
        return Path(self.log.name).read_text(errors="replace")

    def runs(self):
        """(task id, document id, found on the first read) for every run so far."""
        lines = Path(self.results).read_text().splitlines()
        return [tuple(line.split()) for line in lines if len(line.split()) == 3]

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # a warm shutdown can hang after its broker went away
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.unlink(self.results)
        os.unlink(self.log.name)


def test_2000_tasks_through_two_instances_a_killed_instance_and_a_restarted_broker(own_cluster, redis, docgate_bin):
    """2,000 creates with one task each through two instances, one SIGKILLed twice,
    the broker restarted once. Every task runs, with 2,000 distinct task ids, and
    every worker finds its document on its first read.

    The worker starts once the broker is back: kombu's Redis consumer takes a message
    with BRPOP and records it as unacknowledged in a second command, so a broker
    that goes away between the two loses that message on Celery's side (seen here
    once in three runs), whatever the producer did. docgate's side is what this
    test is about: its relay deletes a task only after Redis acknowledged the push
    (fsync'd: appendfsync always)."""
    urls = own_cluster.start()
    url = urls["DOCGATE_TEST_DATABASE_URL"]
    args = ("--pool-max=8", f"--broker-url={redis.url}", "--outbox-poll-interval=500ms")
    stable = Docgate(docgate_bin, url, *args)
    killed = Docgate(docgate_bin, url, *args)
    instances = {"killed": killed}
    worker = None
    try:
        for d in (stable, killed):
            wait_for(lambda: d.health() == "SERVING", 20, what="docgate SERVING")
        acknowledged, lock, started = {}, threading.Lock(), [0]
        total = 2000

        def producer(n):
            while True:
                with lock:
                    if started[0] >= total:
                        return
                    started[0] += 1
                doc_id = str(uuid.uuid4())  # chosen before the first try, kept across retries
                for attempt in range(200):
                    target = instances["killed"] if (n + attempt) % 2 == 0 else stable
                    code, reply = code_of(lambda: target.stub().CreateDocument(pb().CreateDocumentRequest(
                        document=pb().Document(id=doc_id, name="outbox"), enqueue=[task(doc_id)]), timeout=5))
                    if code == grpc.StatusCode.OK:
                        with lock:
                            acknowledged[doc_id] = reply.created
                        break
                    assert code == grpc.StatusCode.UNAVAILABLE, code
                    time.sleep(0.02)
                else:
                    raise AssertionError(f"{doc_id} never acknowledged")

        def kill_and_restart():
            old = instances["killed"]
            old.proc.send_signal(signal.SIGKILL)
            old.proc.wait(timeout=10)
            fresh = Docgate(docgate_bin, url, *args, port=old.port)
            wait_for(lambda: fresh.health() == "SERVING", 20, what="the killed instance back")
            instances["killed"] = fresh
            return old

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            producers = [pool.submit(producer, n) for n in range(8)]
            gone = []
            wait_for(lambda: len(acknowledged) >= 500, 120, what="500 creates")
            gone.append(kill_and_restart())
            wait_for(lambda: len(acknowledged) >= 1000, 120, what="1,000 creates")
            redis.stop()
            time.sleep(1)  # the broker stays down a moment under load
            redis.start()
            worker = Worker(redis, f"127.0.0.1:{stable.port}")  # from here on, tasks run as they come
            wait_for(lambda: len(acknowledged) >= 1500, 120, what="1,500 creates")
            gone.append(kill_and_restart())
            for p in producers:
                p.result(timeout=300)

        def every_document_ran():
            return {doc for _, doc, _ in worker.runs()} >= set(acknowledged)

        try:
            wait_for(every_document_ran, 120, interval=0.5, what="a task run for every acknowledged document")
        except AssertionError:
            admin = urls["DOCGATE_TEST_ADMIN_URL"].replace("/postgres?", "/docgate?")
            missing = set(acknowledged) - {doc for _, doc, _ in worker.runs()}
            _, queued = queued_tasks(redis)
            print(f"\n{len(missing)} documents without a run; outbox rows {outbox_rows(admin)};"
                  f" queued {len(missing & queued)}; unacked {redis.cli('HLEN', 'unacked')};"
                  f" worker tail: {worker.output()[-3000:]}")
            raise
        runs = worker.runs()
        task_ids = {t for t, _, _ in runs}
        not_found = [r for r in runs if r[2] != "True"]
        print(f"\noutbox e2e: {len(acknowledged)} documents, {len(runs)} runs, {len(task_ids)} distinct task ids,"
              f" {len(runs) - len(task_ids)} redeliveries")
        assert not not_found, f"{len(not_found)} tasks ran before their document was readable: {not_found[:3]}"
        assert len(task_ids) == len(acknowledged) == total
        admin = urls["DOCGATE_TEST_ADMIN_URL"].replace("/postgres?", "/docgate?")
        wait_for(lambda: outbox_rows(admin) == 0, 30, what="the outbox empty")
        for d in gone:
            os.unlink(d.log.name)
    finally:
        if worker is not None:
            worker.close()
        for d in (stable, instances["killed"]):
            d.stop()
            os.unlink(d.log.name)


def test_writes_that_do_not_take_effect_enqueue_nothing(own_cluster, redis, start_docgate):
    urls = own_cluster.start()
    admin = urls["DOCGATE_TEST_ADMIN_URL"].replace("/postgres?", "/docgate?")
    d = start_docgate(urls["DOCGATE_TEST_DATABASE_URL"], f"--broker-url={redis.url}")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    stub = d.stub()

    def create(doc, tasks, **kw):
        return code_of(lambda: stub.CreateDocument(pb().CreateDocumentRequest(document=doc, enqueue=tasks),
                                                   timeout=kw.get("timeout", 5)))

    def move(doc_id, status, tasks, version=0):
        return code_of(lambda: stub.UpdateDocumentStatus(pb().UpdateDocumentStatusRequest(
            id=doc_id, status=status, expected_version=version, enqueue=tasks), timeout=5))

    first = str(uuid.uuid4())
    code, made = create(pb().Document(id=first, name="a"), [task(first)])
    assert code == grpc.StatusCode.OK and made.created and len(made.task_ids) == 1
    # Delivered, and forgotten by the outbox (a task pushed but not yet forgotten
    # when PostgreSQL stops is pushed again later: at least once, same id).
    wait_for(lambda: redis.cli("LLEN", "outbox") == "1" and outbox_rows(admin) == 0, 10,
             what="the one task delivered")

    refused = [
        create(pb().Document(id=first, name="a"), [task(first)]),              # retried: created=false
        create(pb().Document(id=first, name="different"), [task(first)]),      # ALREADY_EXISTS
        create(pb().Document(name=""), [task(first)]),                          # invalid document
        create(pb().Document(name="x"), [pb().CeleryTask(task="t", args_json="{not json")]),
        create(pb().Document(name="x"), [pb().CeleryTask(task="t", args_json='{"an": "object"}')]),
        create(pb().Document(name="x"), [pb().CeleryTask(task="bad name!")]),
        move(first, pb().COMPLETED, [task(first)]),                             # PENDING -> COMPLETED: refused
        move(first, pb().PROCESSING, [task(first)], version=7),                 # stale version
        move(str(uuid.uuid4()), pb().PROCESSING, [task(first)]),                # no such document
    ]
    codes = [c for c, _ in refused]
    assert codes[0] == grpc.StatusCode.OK and not refused[0][1].created and not refused[0][1].task_ids
    assert codes[1:] == [grpc.StatusCode.ALREADY_EXISTS] + [grpc.StatusCode.INVALID_ARGUMENT] * 4 + [
        grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED, grpc.StatusCode.NOT_FOUND], codes

    # The database down: the create fails, and nothing of it is enqueued later.
    own_cluster.stop()
    down = str(uuid.uuid4())
    assert create(pb().Document(id=down, name="down"), [task(down)])[0] == grpc.StatusCode.UNAVAILABLE
    own_cluster.start()
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING again")

    # A move that takes effect enqueues, once; the relay has delivered everything.
    code, moved = move(first, pb().PROCESSING, [task(first), task(first)])
    assert code == grpc.StatusCode.OK and len(moved.task_ids) == 2
    wait_for(lambda: set(moved.task_ids) <= set(queued_tasks(redis)[0]) and outbox_rows(admin) == 0, 10,
             what="the move's two tasks delivered")
    assert psql(admin, f"SELECT count(*) FROM documents WHERE id = '{down}'") == "0"
    # The broker holds the three tasks of the two writes that took effect (each at
    # least once), and nothing else.
    task_ids, documents = queued_tasks(redis)
    assert set(task_ids) == set(made.task_ids) | set(moved.task_ids) and documents == {first}


def test_a_broker_outage_fails_no_write_and_its_tasks_arrive_after(own_cluster, redis, start_docgate):
    urls = own_cluster.start()
    d = start_docgate(urls["DOCGATE_TEST_DATABASE_URL"], f"--broker-url={redis.url}")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    stub = d.stub()
    acknowledged, failed, lock, stop = set(), [], threading.Lock(), threading.Event()

    def writer(_):
        while not stop.is_set():
            doc_id = str(uuid.uuid4())
            code, reply = code_of(lambda: stub.CreateDocument(pb().CreateDocumentRequest(
                document=pb().Document(id=doc_id, name="outage"), enqueue=[task(doc_id)]), timeout=5))
            with lock:
                (acknowledged.add(doc_id) if code == grpc.StatusCode.OK else failed.append(code))

    with workers(writer, 8, stop):
        wait_for(lambda: len(acknowledged) > 100, 30, what="writes running")
        redis.stop()
        stopped = time.monotonic()
        wait_for(lambda: d.metric("docgate_broker_up") == 0, 10, what="the broker seen down")
        during = len(acknowledged)
        wait_for(lambda: time.monotonic() - stopped >= 10, 15, what="10 s of broker outage")
        backlog = d.metric("docgate_outbox_tasks")
        written_during = len(acknowledged) - during
        redis.start()
        restarted = time.monotonic()
        wait_for(lambda: d.metric("docgate_broker_up") == 1, 15, what="the broker seen back")

    wait_for(lambda: int(redis.cli("LLEN", "outbox")) >= len(acknowledged), 30, what="every task delivered")
    delivered_after = time.monotonic() - restarted
    task_ids, documents = queued_tasks(redis)
    print(f"\nbroker outage: {written_during} creates acknowledged during 10 s without Redis, backlog {backlog:.0f};"
          f" all {len(acknowledged)} tasks in Redis {delivered_after:.2f} s after it returned"
          f" ({len(task_ids) and sum(task_ids.values()) - len(task_ids)} delivered twice: a push the broker applied"
          f" as it stopped, unanswered)")
    assert failed == [], failed[:5]
    assert written_during > 0 and backlog > 0
    # At least once each, one task id per document (a push Redis applied as it was
    # stopped, without answering, is pushed again: the same id twice).
    assert documents == acknowledged
    assert len(task_ids) == len(acknowledged)


def queued_tasks(redis):
    """The messages waiting on the outbox queue: {task id: times queued}, {document ids}."""
    import base64
    import collections
    import json

    import redis as redis_py
    task_ids, documents = collections.Counter(), set()
    for raw in redis_py.Redis(port=redis.port).lrange("outbox", 0, -1):
        message = json.loads(raw)
        task_ids[message["headers"]["id"]] += 1
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        documents.add(args[0])
    return task_ids, documents


def released_migrations(up_to):
    """(version, name, SQL) of docgate's schema migrations 1..up_to, as server/db/migrations.cc holds them."""
    import re
    source = (HERE.parents[2] / "server" / "db" / "migrations.cc").read_text()
    found = [(int(v), name, sql) for v, name, sql in
             re.findall(r'\{(\d+), "(\w+)",\s*R"sql\((.*?)\)sql"\}', source, re.DOTALL)]
    assert [v for v, _, _ in found][:up_to] == list(range(1, up_to + 1)), "migrations.cc not as this test reads it"
    return found[:up_to]


def test_a_schema_4_outbox_with_waiting_tasks_moves_to_the_latest_schema_with_nothing_lost(own_cluster, redis,
                                                                                          start_docgate):
    """A database left by docgate of schema 4 with tasks waiting in docgate_outbox (its
    broker was down), a lease that ran out with its tasks in docgate_requeue: docgate
    of schema 5 migrates it at start, delivers every waiting task with its id, re-
    enqueues the lease's tasks, and goes on delivering what an instance of the earlier
    version (in a rolling upgrade) still writes to docgate_outbox."""
    urls = own_cluster.start()
    url = urls["DOCGATE_TEST_DATABASE_URL"]
    psql(url, "CREATE TABLE docgate_schema_migrations ("
              " version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
    for version, name, sql in released_migrations(4):
        psql(url, sql + f"; INSERT INTO docgate_schema_migrations (version, name) VALUES ({version}, '{name}')")
    waiting = 300
    psql(url, "INSERT INTO documents (id, name) SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,"
              f" 'waiting' FROM generate_series(1, {waiting}) AS i;"
              " INSERT INTO docgate_outbox (task_id, document_id, task, queue, args, kwargs, created_at)"
              f" SELECT gen_random_uuid(), id, '{TASK}', 'outbox', jsonb_build_array(id::text), '{{}}',"
              " now() - interval '1 minute' FROM documents")
    waiting_ids = set(psql(url, "SELECT task_id FROM docgate_outbox").split())
    leased = str(uuid.uuid4())
    psql(url, f"INSERT INTO documents (id, name, status, version, lease_holder, lease_expires_at) VALUES ('{leased}',"
              " 'leased', 2, 2, 'worker-1:42', now() - interval '1 second');"
              f" INSERT INTO docgate_requeue VALUES ('{leased}', jsonb_build_array(jsonb_build_object('task', '{TASK}',"
              f" 'queue', 'outbox', 'args', jsonb_build_array('{leased}'), 'kwargs', '{{}}'::jsonb, 'countdown_s', 0)))")

    d = start_docgate(url, f"--broker-url={redis.url}", "--lease-check-interval=200ms")
    wait_for(lambda: d.health() == "SERVING", 30, what="SERVING")
    assert psql(url, "SELECT max(version) FROM docgate_schema_migrations") == "6"
    wait_for(lambda: waiting_ids <= set(queued_tasks(redis)[0]), 20,
             what=f"the {waiting} tasks that waited in docgate_outbox delivered with their ids")
    wait_for(lambda: leased in queued_tasks(redis)[1], 20, what="the lease that ran out re-enqueued from docgate_requeue")
    # Schema 6 counts that expiry as the document's first attempt (#32).
    assert psql(url, f"SELECT attempts || ' ' || last_lease_holder FROM documents WHERE id = '{leased}'") == \
        "1 worker-1:42"
    assert psql(url, "SELECT count(*) FROM docgate_outbox") == "0"

    # An instance of the earlier version, still running, writes to docgate_outbox.
    late = str(uuid.uuid4())
    psql(url, f"INSERT INTO documents (id, name) VALUES ('{late}', 'late');"
              " INSERT INTO docgate_outbox (task_id, document_id, task, queue, args, kwargs)"
              f" VALUES (gen_random_uuid(), '{late}', '{TASK}', 'outbox', '[\"{late}\"]', '{{}}')")
    wait_for(lambda: late in queued_tasks(redis)[1], 20, what="a task written to docgate_outbox after the migration")
    wait_for(lambda: outbox_rows(url) == 0 and psql(url, "SELECT count(*) FROM docgate_outbox") == "0", 20,
             what="both outboxes empty")
    task_ids, documents = queued_tasks(redis)
    assert len(documents) == waiting + 2 and len(task_ids) == waiting + 2, (len(documents), len(task_ids))
