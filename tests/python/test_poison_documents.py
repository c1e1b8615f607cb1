"""Poison documents (#32), against a real PostgreSQL: every lease that runs out is an
attempt; the one at the bound moves the document to FAILED with nothing enqueued,
the earlier ones enqueue its tasks again later each time; an operator retries it."""
import datetime
import subprocess
import uuid

import pytest

import docgate
from docgate import DocumentStatus
from docgate_harness import wait_for

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"  # tasks wait in the outbox, where the test reads them
QUEUE = "poison-test"


@pytest.fixture(autouse=True)
def undelivered_tasks_removed(database_url):
    yield
    sql(database_url, f"DELETE FROM docgate_tasks WHERE queue = '{QUEUE}'")


def sql(database_url, query):
    return subprocess.run(["psql", database_url, "-Atc", query], check=True, capture_output=True,
                          text=True).stdout.split()


def serving(start_docgate, database_url, *args):
    d = start_docgate(database_url, f"--broker-url={UNREACHABLE_BROKER}", "--lease-check-interval=50ms", *args)
    wait_for(lambda: d.health() == "SERVING", 30, what="docgate serving")
    return d, docgate.Client(f"127.0.0.1:{d.port}", timeout=10)


def take_and_lose(client, doc_id, holder, **kwargs):
    """Takes a 1 s lease and lets it run out: the document once the sweeper moved it."""
    doc = client.get_document(doc_id)
    taken = client.update_status(doc_id, DocumentStatus.PROCESSING, expected_version=doc.version, lease=1,
                                 lease_holder=holder, **kwargs).document
    wait_for(lambda: client.get_document(doc_id).version > taken.version, 10, interval=0.05,
             what=f"the lease of {holder} to run out")
    return taken, client.get_document(doc_id)


def test_attempts_are_counted_delays_grow_and_the_bound_fails_the_document(start_docgate, database_url):
    d, client = serving(start_docgate, database_url, "--lease-max-attempts=3", "--lease-backoff=2s",
                        "--lease-backoff-max=1h")
    doc_id = str(uuid.uuid4())
    task = docgate.CeleryTask("pipeline.process", args=[doc_id], queue=QUEUE, countdown=1)
    created = client.create_document("poison.pdf", id=doc_id, enqueue=[task])
    assert created.document.attempts == 0 and created.document.redelivery_time is None

    delays = []
    for attempt in (1, 2):
        taken, back = take_and_lose(client, doc_id, f"host:{attempt}")
        assert back.status == DocumentStatus.PENDING, back.status_detail
        assert back.attempts == attempt
        assert back.last_lease_holder == f"host:{attempt}"
        assert f"(attempt {attempt} of 3)" in back.status_detail
        delays.append((back.redelivery_time - back.update_time).total_seconds())
        # The task enqueued again is delayed by the backoff on top of its own countdown.
        waiting = client.list_document_tasks(doc_id).waiting
        assert [w.task.countdown for w in waiting] == [1] + [1 + 2 * 2 ** (n - 1) for n in range(1, attempt + 1)]
        assert waiting[-1].task_id not in {w.task_id for w in waiting[:-1]}, "a redelivery has a new task id"
    assert delays[0] == pytest.approx(2, abs=0.01) and delays[1] == pytest.approx(4, abs=0.01), delays

    dead_before = d.metric("docgate_documents_dead_lettered_total")
    taken, dead = take_and_lose(client, doc_id, "host:3")
    assert dead.status == DocumentStatus.FAILED
    assert dead.attempts == 3
    assert dead.status_detail.startswith("lease expired 3 times; last holder host:3"), dead.status_detail
    assert dead.redelivery_time is None
    assert len(client.list_document_tasks(doc_id).waiting) == 3, "the last expiry enqueues nothing"
    assert d.metric("docgate_documents_dead_lettered_total") == dead_before + 1
    assert "document dead-lettered" in d.output() and doc_id in d.output()

    # The holder whose lease ran out is told it lost the document, as for any expiry.
    with pytest.raises(docgate.errors.Aborted):
        client.renew_lease(doc_id, taken.version, 30)
    with pytest.raises(docgate.errors.Aborted):
        client.update_status(doc_id, DocumentStatus.COMPLETED, expected_version=taken.version)
    assert [d.id for d in client.list_documents(status=DocumentStatus.FAILED)].count(doc_id) == 1


def test_a_worker_sets_its_own_bound_at_the_move_to_processing(start_docgate, database_url):
    d, client = serving(start_docgate, database_url, "--lease-backoff=0s")
    doc_id = client.create_document("own-bound.pdf", enqueue=[docgate.CeleryTask("pipeline.process",
                                                                                  queue=QUEUE)]).document.id
    _, dead = take_and_lose(client, doc_id, "w", max_attempts=1)
    assert dead.status == DocumentStatus.FAILED and dead.attempts == 1 and dead.max_attempts == 1
    with pytest.raises(docgate.errors.InvalidArgument, match="max_attempts"):
        client.update_status(doc_id, DocumentStatus.PENDING, max_attempts=2)  # without a lease
    with pytest.raises(docgate.errors.InvalidArgument, match="max_attempts"):
        client.update_status(doc_id, DocumentStatus.PROCESSING, lease=5, max_attempts=1001)


def test_an_operator_retries_a_failed_document_resetting_or_keeping_its_attempts(start_docgate, database_url):
    d, client = serving(start_docgate, database_url, "--lease-max-attempts=1", "--lease-backoff=0s")
    task = docgate.CeleryTask("pipeline.process", args=["x"], queue=QUEUE)
    doc_id = client.create_document("retried.pdf", enqueue=[task]).document.id
    with pytest.raises(docgate.errors.FailedPrecondition, match="PENDING"):
        client.retry_document(doc_id, reset_attempts=True)
    take_and_lose(client, doc_id, "w1")
    assert client.list_document_tasks(doc_id).remembered == (task,)

    kept = client.retry_document(doc_id, reset_attempts=False)
    assert kept.document.status == DocumentStatus.PENDING and kept.document.attempts == 1
    assert kept.document.status_detail == "retried by an operator"
    assert len(kept.task_ids) == 1 and kept.task_ids[0] in {w.task_id for w in client.list_document_tasks(doc_id).waiting}
    # Attempts kept at the bound: the next expiry ends it again.
    _, dead = take_and_lose(client, doc_id, "w2")
    assert dead.status == DocumentStatus.FAILED and dead.attempts == 2

    with pytest.raises(docgate.errors.Aborted):
        client.retry_document(doc_id, reset_attempts=True, expected_version=dead.version - 1)
    reset = client.retry_document(doc_id, reset_attempts=True, expected_version=dead.version, detail="fixed parser")
    assert reset.document.attempts == 0 and reset.document.status_detail == "fixed parser"
    with pytest.raises(docgate.errors.NotFound):
        client.retry_document(str(uuid.uuid4()), reset_attempts=True)
    with pytest.raises(docgate.errors.NotFound):
        client.list_document_tasks(str(uuid.uuid4()))


def test_retry_says_what_to_do_with_the_attempts(start_docgate, database_url):
    from docgate._pb import docgate_pb2
    d, client = serving(start_docgate, database_url)
    doc_id = client.create_document("unset.pdf").document.id
    with pytest.raises(Exception) as err:
        d.stub().RetryDocument(docgate_pb2.RetryDocumentRequest(id=doc_id), timeout=10)
    assert "attempts: required" in err.value.details()


def test_an_earlier_copy_of_the_task_leaves_the_document_to_its_delayed_redelivery(start_docgate, database_url):
    """Celery delivers a killed worker's message again (document_task's
    reject_on_worker_lost). Behind a queue, that copy can come after the lease ran out,
    while the expiry's delayed redelivery waits: docgate.celery leaves the document to
    the delayed one (its ETA is the redelivery time), so the backoff holds; a claim
    clears the redelivery time."""
    from types import SimpleNamespace

    import docgate.celery

    d, client = serving(start_docgate, database_url, "--lease-backoff=10m")
    doc_id = str(uuid.uuid4())
    client.create_document("copied.pdf", id=doc_id, enqueue=[docgate.CeleryTask("pipeline.process", queue=QUEUE)])
    _, back = take_and_lose(client, doc_id, "host:1")
    assert back.status == DocumentStatus.PENDING and back.redelivery_time is not None

    def run(eta):
        return SimpleNamespace(request=SimpleNamespace(eta=eta, id=str(uuid.uuid4())))

    for early in (None, (back.redelivery_time - datetime.timedelta(seconds=5)).isoformat()):
        assert docgate.celery._claim(client, run(early), doc_id, 30, 0) is None, early
        assert client.get_document(doc_id).version == back.version, "an earlier copy claimed the document"
    claimed = docgate.celery._claim(client, run(back.redelivery_time.isoformat()), doc_id, 30, 0)
    assert claimed is not None and claimed.status == DocumentStatus.PROCESSING
    assert claimed.redelivery_time is None and client.get_document(doc_id).redelivery_time is None
