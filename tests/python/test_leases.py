"""Leases with fencing (#22), against a real PostgreSQL: a move to PROCESSING takes a
lease, the holder renews it, one that runs out returns the document to PENDING with
its tasks enqueued again (once, whatever the number of instances), and the holder
that was too late writes nothing."""
import re
import subprocess
import uuid

import pytest

import docgate
from docgate import DocumentStatus
from docgate_harness import wait_for

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"  # tasks wait in the outbox, where the test reads them


@pytest.fixture(autouse=True)
def undelivered_tasks_removed(database_url):
    """The tasks these tests leave in the outbox (their broker is unreachable) are
    removed after each, so that no later test's relay delivers them."""
    yield
    sql(database_url, "DELETE FROM docgate_tasks WHERE task = 'pipeline.process' AND queue = 'leases-test'")


def serving(start_docgate, database_url, *args):
    d = start_docgate(database_url, *args)
    wait_for(lambda: d.health() == "SERVING", 30, what="docgate serving")
    return d, docgate.Client(f"127.0.0.1:{d.port}", timeout=10)


def sql(database_url, query):
    return subprocess.run(["psql", database_url, "-Atc", query], check=True, capture_output=True,
                          text=True).stdout.split()


def outbox_tasks(database_url, doc_id):
    return sql(database_url, f"SELECT task || '/' || args::text FROM docgate_waiting_tasks WHERE document_id = '{doc_id}'"
                             " ORDER BY created_at")


def aborted(call):
    with pytest.raises(docgate.errors.Aborted) as err:
        call()
    return str(err.value)


def counter(d, name):
    m = re.search(rf"^{name} (\S+)$", d.metrics_text(), re.M)
    return float(m.group(1)) if m else 0


def test_a_lease_is_taken_renewed_and_ended_by_the_holders_move(start_docgate, database_url):
    d, client = serving(start_docgate, database_url)
    doc = client.create_document("leased.txt").document
    taken = client.update_status(doc.id, DocumentStatus.PROCESSING, expected_version=doc.version, lease=30,
                                 lease_holder="worker-1").document
    assert taken.version == doc.version + 1
    assert taken.lease_holder == "worker-1"
    first_expiry = taken.lease_expire_time
    assert 25 < (first_expiry - taken.update_time).total_seconds() <= 30
    renewed = client.renew_lease(doc.id, taken.version, 60)
    assert renewed.version == taken.version, "a renewal is not a new version: the fencing token stays"
    assert renewed.lease_expire_time > first_expiry
    assert client.renew_lease(doc.id, taken.version, 60).version == taken.version  # idempotent
    assert counter(d, "docgate_leases_renewed_total") == 2
    done = client.update_status(doc.id, DocumentStatus.COMPLETED, expected_version=taken.version).document
    assert done.lease_holder == "" and done.lease_expire_time is None
    assert "at version" in aborted(lambda: client.renew_lease(doc.id, taken.version, 30))  # moved on
    assert "without a lease" in aborted(lambda: client.renew_lease(doc.id, done.version, 30))


def test_a_lease_that_runs_out_returns_the_document_and_its_tasks_and_fences_the_late_holder(
        start_docgate, database_url):
    d, client = serving(start_docgate, database_url, f"--broker-url={UNREACHABLE_BROKER}",
                        "--lease-check-interval=100ms")
    doc_id = str(uuid.uuid4())
    task = docgate.CeleryTask("pipeline.process", args=[doc_id], queue="leases-test")
    client.create_document("expiring.txt", id=doc_id, enqueue=[task])
    assert len(outbox_tasks(database_url, doc_id)) == 1
    taken = client.update_status(doc_id, DocumentStatus.PROCESSING, expected_version=1, lease=1,
                                 lease_holder="slow-worker").document
    back = wait_for(lambda: (lambda doc: doc if doc.status is DocumentStatus.PENDING else None)(
        client.get_document(doc_id)), 5, what="the document back to PENDING")
    assert back.version == taken.version + 1
    assert "slow-worker" in back.status_detail and "ran out" in back.status_detail
    assert back.lease_holder == "" and back.lease_expire_time is None
    tasks = outbox_tasks(database_url, doc_id)
    assert len(tasks) == 2 and tasks[0] == tasks[1], tasks  # the create's task, enqueued again
    assert counter(d, "docgate_leases_expired_total") == 1
    assert counter(d, "docgate_leases_requeued_tasks_total") == 1
    # The late holder: its renewal and its final move are refused, and write nothing.
    aborted(lambda: client.renew_lease(doc_id, taken.version, 30))
    aborted(lambda: client.update_status(doc_id, DocumentStatus.COMPLETED, expected_version=taken.version))
    assert client.get_document(doc_id).version == back.version


def test_a_lease_run_out_but_not_yet_swept_already_refuses_its_holder(start_docgate, database_url):
    _, client = serving(start_docgate, database_url, "--lease-check-interval=1h")
    doc = client.create_document("unswept.txt").document
    taken = client.update_status(doc.id, DocumentStatus.PROCESSING, lease=1).document
    wait_for(lambda: sql(database_url, f"SELECT lease_expires_at < now() FROM documents WHERE id = '{doc.id}'")
             == ["t"], 10, what="the lease's time to pass on the database clock")
    assert "lease ran out" in aborted(lambda: client.renew_lease(doc.id, taken.version, 30))
    assert "lease ran out" in aborted(
        lambda: client.update_status(doc.id, DocumentStatus.COMPLETED, expected_version=taken.version))
    assert "lease ran out" in aborted(lambda: client.update_status(doc.id, DocumentStatus.FAILED))
    still = client.get_document(doc.id)
    assert still.status is DocumentStatus.PROCESSING and still.version == taken.version


def test_two_instances_expire_each_lease_once(start_docgate, database_url):
    args = (f"--broker-url={UNREACHABLE_BROKER}", "--lease-check-interval=50ms")
    _, a = serving(start_docgate, database_url, *args)
    _, b = serving(start_docgate, database_url, *args)
    ids = [str(uuid.uuid4()) for _ in range(50)]
    for i, doc_id in enumerate(ids):
        client = a if i % 2 else b
        client.create_document(f"twice-{i}.txt", id=doc_id,
                               enqueue=[docgate.CeleryTask("pipeline.process", args=[doc_id], queue="leases-test")])
        client.update_status(doc_id, DocumentStatus.PROCESSING, lease=1)
    wait_for(lambda: all(a.get_document(i).status is DocumentStatus.PENDING for i in ids), 10,
             what="every lease expired")
    for doc_id in ids:
        assert a.get_document(doc_id).version == 3
        assert len(outbox_tasks(database_url, doc_id)) == 2, doc_id  # created + enqueued again once


def test_lease_requests_are_validated(start_docgate, database_url):
    _, client = serving(start_docgate, database_url)
    doc = client.create_document("invalid-lease.txt").document
    with pytest.raises(docgate.errors.InvalidArgument, match="lease_duration"):
        client.update_status(doc.id, DocumentStatus.PROCESSING, lease=0.5)
    with pytest.raises(docgate.errors.InvalidArgument, match="lease_duration"):
        client.update_status(doc.id, DocumentStatus.FAILED, lease=10)
    with pytest.raises(docgate.errors.NotFound):
        client.renew_lease(str(uuid.uuid4()), 2, 10)
    with pytest.raises(docgate.errors.InvalidArgument, match="version"):
        client.renew_lease(doc.id, 0, 10)
