"""A real Celery pipeline through docgate: redis-server, a prefork worker with
concurrency 4, and the client made at import time in the worker's parent.

What used to break without docgate (the seed incidents): documents "not found" right
after they were committed, connection pools inherited across fork, pools exhausted.
"""
import gc
import importlib
import os
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from celery_worker import celery_worker
from docgate_harness import Docgate, open_transaction, redis_server, wait_for

HERE = Path(__file__).resolve().parent
POOL_MAX = 6
CONCURRENCY = 4


@pytest.fixture(scope="module")
def redis():
    with redis_server() as url:
        yield url


class Pipeline:
    def __init__(self, docgate_process, worker, worker_log, tasks):
        self.docgate = docgate_process
        self.worker = worker
        self.worker_log = worker_log
        self.tasks = tasks
        self.client = tasks.client


@pytest.fixture(scope="module")
def pipeline(docgate_bin, database_url, redis):
    """One docgate, one worker and one Celery app for the module: an app bound to a
    broker that has gone away retries it for minutes."""
    d = Docgate(docgate_bin, database_url, f"--pool-max={POOL_MAX}")
    try:
        wait_for(lambda: d.health() == "SERVING", 20, what="docgate SERVING")
        env = {"CELERY_BROKER_URL": f"{redis}/0", "CELERY_RESULT_BACKEND": f"{redis}/1",
               "DOCGATE_ADDRESS": f"127.0.0.1:{d.port}"}
        with celery_worker("tasks", "e2e", CONCURRENCY, env) as (worker, worker_output):
            sys.path.insert(0, str(HERE))
            tasks = importlib.import_module("tasks")  # the producer's side of the same app
            yield Pipeline(d, worker, worker_output, tasks)
            gc.collect()  # results unsubscribe from redis as they go: while it still runs
            tasks.app.close()
            sys.path.remove(str(HERE))
    finally:
        d.stop()
        os.unlink(d.log.name)


class ConnectionSampler:
    """Counts docgate's PostgreSQL connections, as PostgreSQL sees them, all run long."""

    def __init__(self, admin_url):
        self.admin_url = admin_url
        self.most = {"docgate": 0, "docgate-visibility": 0}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        query = ("SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = 'docgate'"
                 " AND application_name IN ('docgate', 'docgate-visibility') GROUP BY 1")
        with subprocess.Popen(["psql", self.admin_url, "-At", "-F", " ", "-q"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) as psql:
            while not self._stop.is_set():
                psql.stdin.write(query + ";\n\\echo END\n")
                psql.stdin.flush()
                for line in iter(psql.stdout.readline, "END\n"):
                    app, count = line.split()
                    self.most[app] = max(self.most[app], int(count))
                self.samples += 1
                self._stop.wait(0.02)
            psql.stdin.close()

    def __enter__(self):
        self._thread.start()
        wait_for(lambda: self.samples > 0, 10, what="a first sample")
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


def results_of(async_results, timeout=120):
    outcomes = []
    for r in async_results:
        r.get(timeout=timeout, propagate=False)
        outcomes.append(r)
    return outcomes


def test_500_documents_all_completed_with_no_miss_and_a_bounded_pool(pipeline):
    client, process = pipeline.client, pipeline.tasks.process_document

    def produce(i):
        doc = client.create_document(f"e2e-{i}.pdf", body=os.urandom(256), content_type="application/pdf").document
        return doc.id, process.delay(doc.id)

    with ConnectionSampler(os.environ["DOCGATE_TEST_ADMIN_URL"]) as sampler:
        with ThreadPoolExecutor(16) as producers:
            produced = list(producers.map(produce, range(500)))
        outcomes = results_of([r for _, r in produced])

    failures = [(r.id, repr(r.result)) for r in outcomes if r.failed()]
    assert failures == [], f"{len(failures)} tasks failed, e.g. {failures[:3]}\n{pipeline.worker_log()[-3000:]}"
    for doc_id, _ in produced:
        assert client.get_document(doc_id).status is pipeline.tasks.docgate.DocumentStatus.COMPLETED

    # The client was made at import time in the worker's parent and used in its children.
    made_in = {r.result["client_made_in_pid"] for r in outcomes}
    used_in = {r.result["pid"] for r in outcomes}
    assert made_in == {pipeline.worker.pid}
    assert pipeline.worker.pid not in used_in and len(used_in) >= 2, used_in

    assert sampler.samples >= 5
    assert 1 <= sampler.most["docgate"] <= POOL_MAX, sampler.most
    assert sampler.most["docgate-visibility"] <= 1, sampler.most


def test_the_seed_race_a_producer_that_commits_after_enqueueing(pipeline, database_url):
    """The producer inserts in a transaction and enqueues before it commits: the
    workers run before the rows exist. wait_visible waits for the commit."""
    client, process = pipeline.client, pipeline.tasks.process_document
    ids = [str(uuid.uuid4()) for _ in range(40)]
    rows = ", ".join(f"('{i}', 'seed-race-{n}')" for n, i in enumerate(ids))
    insert = f"INSERT INTO documents (id, name) VALUES {rows};"
    with open_transaction(database_url, insert, "seed-producer") as commit:
        with pytest.raises(pipeline.tasks.docgate.NotFound):
            client.get_document(ids[0])  # the race is real: not committed, not visible
        results = [process.delay(i) for i in ids]
        # Every worker process is now waiting for a row that is not committed yet.
        wait_for(lambda: pipeline.docgate.waiting() >= CONCURRENCY, 30, what="the workers waiting")
        assert not any(r.ready() for r in results)
        commit()

    outcomes = results_of(results)
    failures = [repr(r.result) for r in outcomes if r.failed()]
    assert failures == []
    for i in ids:
        assert client.get_document(i).status is pipeline.tasks.docgate.DocumentStatus.COMPLETED
