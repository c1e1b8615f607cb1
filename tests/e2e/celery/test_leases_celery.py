"""docgate.celery under a bad day (#22): real redis-server, an unmodified prefork
Celery worker, docgate delivering the tasks through its outbox. Worker processes are
SIGKILLed mid-task and one is frozen (SIGSTOP) past its lease: every document still
ends COMPLETED, none stays PROCESSING past its lease and the expiry delay, and each
document's one side effect is applied once, thanks to the fencing."""
import datetime
import importlib
import os
import random
import signal
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis as redis_py

import docgate
from docgate import DocumentStatus
from celery_worker import celery_worker
from docgate_harness import Docgate, wait_for
from test_celery_pipeline import redis  # noqa: F401  (the module's redis-server)

HERE = Path(__file__).resolve().parent
LEASE_SECONDS = 2.0
CHECK_INTERVAL_S = 0.2
CONCURRENCY = 8
# Past its lease's end a document is returned within the check interval; this much
# more covers a sweep's own time and the sampler's.
SLACK_S = 1.0
BACKOFF_S = 1  # the delay of a first redelivery, doubling after each


class LeasedPipeline:
    def __init__(self, docgate_process, worker, output, observed, app_module):
        self.docgate = docgate_process
        self.worker = worker
        self.worker_output = output  # () -> the worker's log so far
        self.observed = observed
        self.tasks = app_module
        self.client = docgate.Client(f"127.0.0.1:{docgate_process.port}", timeout=10)

    def children(self):
        """The prefork pool's processes (from /proc: no procps needed)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[1]) == self.worker.pid:
                found.append(int(stat.parent.name))
        return found


@pytest.fixture(scope="module")
def pipeline(docgate_bin, database_url, redis):  # noqa: F811
    d = Docgate(docgate_bin, database_url, "--pool-max=8", f"--broker-url={redis}/0",
                f"--lease-check-interval={int(CHECK_INTERVAL_S * 1000)}ms", "--outbox-poll-interval=200ms",
                f"--lease-backoff={BACKOFF_S}s")
    try:
        wait_for(lambda: d.health() == "SERVING", 20, what="docgate SERVING")
        env = {"CELERY_BROKER_URL": f"{redis}/0", "CELERY_RESULT_BACKEND": f"{redis}/1",
               "OBSERVED_URL": f"{redis}/2", "DOCGATE_ADDRESS": f"127.0.0.1:{d.port}",
               "LEASE_SECONDS": str(LEASE_SECONDS)}
        with celery_worker("leased_tasks", "leases", CONCURRENCY, env) as (worker, output):
            sys.path.insert(0, str(HERE))
            try:
                tasks = importlib.import_module("leased_tasks")
                yield LeasedPipeline(d, worker, output, redis_py.Redis.from_url(f"{redis}/2"), tasks)
                tasks.app.close()
            finally:
                sys.path.remove(str(HERE))
    finally:
        d.stop()
        os.unlink(d.log.name)


def create_with_task(client, name, task="leased.process", attributes=None):
    doc_id = str(uuid.uuid4())
    created = client.create_document(name, id=doc_id, enqueue=[docgate.CeleryTask(task, args=[doc_id])],
                                     attributes=attributes)
    return doc_id, created.task_ids[0]


class OverdueWatch:
    """Samples the PROCESSING documents named `prefix`* (the database is shared with
    other tests) and keeps every one seen past its lease's end plus the expiry delay."""

    def __init__(self, client, prefix):
        self.client, self.prefix, self.overdue, self.samples = client, prefix, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.1):
            now = datetime.datetime.now(datetime.timezone.utc)
            for doc in self.client.list_documents(status=DocumentStatus.PROCESSING, page_size=1000):
                if not doc.name.startswith(self.prefix):
                    continue
                if doc.lease_expire_time is None:
                    self.overdue.append((doc.id, "PROCESSING without a lease"))
                elif (now - doc.lease_expire_time).total_seconds() > CHECK_INTERVAL_S + SLACK_S:
                    self.overdue.append((doc.id, f"{(now - doc.lease_expire_time).total_seconds():.2f} s past"))
            self.samples += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


def test_500_documents_with_20_workers_killed_mid_task_all_complete_once(pipeline):
    client, observed = pipeline.client, pipeline.observed
    killed = []

    def kill_mid_task(stop):
        rng = random.Random(21)
        while len(killed) < 20 and not stop.is_set():
            holders = {int(observed.get(f"holder:{d.id}") or 0)
                       for d in client.list_documents(status=DocumentStatus.PROCESSING, page_size=1000)}
            busy = sorted(holders & set(pipeline.children()))
            if busy:
                victim = rng.choice(busy)
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
            stop.wait(0.25)

    stop = threading.Event()
    with OverdueWatch(client, "leased-") as watch:
        killer = threading.Thread(target=kill_mid_task, args=(stop,), daemon=True)
        killer.start()
        with ThreadPoolExecutor(16) as producers:
            ids = [doc_id for doc_id, _ in producers.map(lambda i: create_with_task(client, f"leased-{i}.pdf"),
                                                          range(500))]
        try:
            wait_for(lambda: len(killed) == 20, 120, interval=0.2, what="20 workers killed mid-task")
            try:
                wait_for(lambda: all(d.status is DocumentStatus.COMPLETED for d in
                                     client.list_documents(page_size=1000) if d.id in set(ids)),
                         180, interval=0.5, what="every document COMPLETED")
            except AssertionError:
                left = [(d.id, d.status.name, d.version, d.status_detail, d.lease_holder)
                        for d in client.list_documents(page_size=1000)
                        if d.id in set(ids) and d.status is not DocumentStatus.COMPLETED]
                raise AssertionError(f"{len(left)} documents not COMPLETED, e.g. {left[:5]}; outbox backlog "
                                     f"{pipeline.docgate.metric('docgate_outbox_tasks')}; worker log tail:\n"
                                     + pipeline.worker_output()[-3000:]) from None
        finally:
            stop.set()
            killer.join(timeout=10)
    # The next stage, enqueued with each completion, has run once per document.
    wait_for(lambda: all(observed.scard(f"effects:{i}") >= 1 for i in ids), 60, interval=0.5,
             what="every side effect applied")
    applied = {i: observed.scard(f"effects:{i}") for i in ids}
    assert [i for i, n in applied.items() if n != 1] == [], "a side effect applied more than once"
    retried = [i for i in ids if observed.llen(f"attempts:{i}") > 1]
    assert len(retried) >= 10, f"only {len(retried)} documents were worked on twice: did the kills land mid-task?"
    assert watch.samples > 10 and watch.overdue == [], watch.overdue[:5]
    assert pipeline.docgate.metric("docgate_leases_expired_total") >= 10


def test_a_frozen_worker_past_its_lease_is_fenced_off_and_changes_nothing(pipeline):
    client, observed = pipeline.client, pipeline.observed
    doc_id, first_task = create_with_task(client, "slow-zombie.pdf")
    zombie = int(wait_for(lambda: observed.get(f"holder:{doc_id}"), 30, what="a worker holding the document"))
    os.kill(zombie, signal.SIGSTOP)  # a long GC pause, a partition: it still thinks it holds the lease
    try:
        done = wait_for(lambda: (lambda d: d if d.status is DocumentStatus.COMPLETED else None)(
            client.get_document(doc_id)), 30, what="another worker to take over and finish")
        assert int(observed.get(f"holder:{doc_id}")) != zombie
    finally:
        os.kill(zombie, signal.SIGCONT)
    outcome = pipeline.tasks.app.AsyncResult(first_task)
    outcome.get(timeout=30, propagate=False)
    assert outcome.failed() and "LeaseLost" in repr(outcome.result), repr(outcome.result)
    after = client.get_document(doc_id)
    assert (after.status, after.version, after.status_detail) == (done.status, done.version, done.status_detail)
    wait_for(lambda: observed.scard(f"effects:{doc_id}") == 1, 30, what="the side effect")
    assert observed.llen(f"attempts:{doc_id}") == 2


def test_celery_retries_claim_again_and_a_failure_is_recorded(pipeline):
    client = pipeline.client
    flaky_id, _ = create_with_task(client, "flaky.pdf", task="leased.flaky")
    fatal_id, _ = create_with_task(client, "fatal.pdf", task="leased.flaky")
    done = wait_for(lambda: (lambda d: d if d.status is DocumentStatus.COMPLETED else None)(
        client.get_document(flaky_id)), 60, what="the flaky document done on its third try")
    assert done.version == 7  # created; (PROCESSING, PENDING) twice; PROCESSING; COMPLETED
    failed = wait_for(lambda: (lambda d: d if d.status is DocumentStatus.FAILED else None)(
        client.get_document(fatal_id)), 60, what="the fatal document FAILED")
    assert failed.status_detail == "KeyError: 'no such page'"


def test_a_document_that_kills_its_worker_every_time_is_failed_after_its_bound_with_growing_delays(pipeline):
    """One document among 200 SIGKILLs the prefork child that parses it. The 199 others
    complete once each; the poisoned one is tried exactly max_attempts times, each
    later than the last by more (the backoff doubles), then FAILED, nothing enqueued."""
    client, observed, tasks = pipeline.client, pipeline.observed, pipeline.tasks
    dead_before = pipeline.docgate.metric("docgate_documents_dead_lettered_total")
    with ThreadPoolExecutor(16) as producers:
        ids = list(producers.map(lambda i: create_with_task(
            client, f"parse-{i}.pdf", task="leased.parse", attributes={"poison": "yes" if i == 77 else "no"})[0],
            range(200)))
    poison = ids[77]
    healthy = set(ids) - {poison}
    dead = wait_for(lambda: (lambda d: d if d.status is DocumentStatus.FAILED else None)(
        client.get_document(poison)), 90, interval=0.2, what="the poisoned document FAILED")
    wait_for(lambda: all(d.status is DocumentStatus.COMPLETED for d in client.list_documents(page_size=1000)
                         if d.id in healthy), 60, interval=0.5, what="the 199 others COMPLETED")
    wait_for(lambda: all(observed.scard(f"effects:{i}") == 1 for i in healthy), 60, interval=0.5,
             what="each healthy document's next stage run")
    assert [i for i in healthy if observed.llen(f"tries:{i}") != 1] == [], "a healthy document was parsed twice"

    n = tasks.POISON_MAX_ATTEMPTS
    assert dead.attempts == n and dead.max_attempts == n, dead
    assert dead.status_detail.startswith(f"lease expired {n} times; last holder "), dead.status_detail
    assert dead.last_lease_holder in dead.status_detail and dead.redelivery_time is None
    tries = [float(t) for t in observed.lrange(f"tries:{poison}", 0, -1)]
    assert len(tries) == n, f"tried {len(tries)} times, not {n}"
    gaps = [b - a for a, b in zip(tries, tries[1:])]
    # Each gap: the lease running out, then that attempt's delay (1 s, 2 s, 4 s).
    for attempt, gap in enumerate(gaps, start=1):
        assert gap >= LEASE_SECONDS + BACKOFF_S * 2 ** (attempt - 1) - 0.1, (attempt, gaps)
    assert gaps == sorted(gaps) and gaps[-1] - gaps[0] > 2, f"the delays between attempts do not grow: {gaps}"
    assert pipeline.docgate.metric("docgate_documents_dead_lettered_total") == dead_before + 1
    # The last expiry enqueued nothing: nothing waits, and no try came after it.
    assert client.list_document_tasks(poison).waiting == ()
    assert observed.llen(f"tries:{poison}") == n


def test_a_worker_killed_before_its_claim_loses_nothing(pipeline):
    """The window between Celery's delivery and the claim (the 500-document test's
    killer can land in it): the run holds no lease yet, so no expiry would enqueue the
    task again. Its task names a document not yet written, which holds the run in
    wait_visible, before its claim; every pool process is then SIGKILLed."""
    client, docgate_process = pipeline.client, pipeline.docgate
    later_id = str(uuid.uuid4())
    client.create_document("carrier.pdf", enqueue=[docgate.CeleryTask("leased.process", args=[later_id])])
    wait_for(lambda: docgate_process.waiting() >= 1, 30, interval=0.1, what="the run waiting before its claim")
    killed = pipeline.children()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not set(killed) & set(pipeline.children()) and len(pipeline.children()) == CONCURRENCY, 30,
             interval=0.1, what="the pool's processes replaced")
    client.create_document("later.pdf", id=later_id)
    try:
        done = wait_for(lambda: (lambda d: d if d.status is DocumentStatus.COMPLETED else None)(
            client.get_document(later_id)), 30, interval=0.2, what="the document COMPLETED")
    except AssertionError:
        raise AssertionError(f"the task of a run killed before its claim was not delivered again: "
                             f"{client.get_document(later_id)}; worker log tail:\n"
                             + pipeline.worker_output()[-3000:]) from None
    assert pipeline.observed.llen(f"attempts:{later_id}") == 1, "worked on more than once"
    assert done.attempts == 0  # no lease ran out: Celery, not docgate, delivered it again
