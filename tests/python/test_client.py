"""The Python client (client/python) against a real docgate: every method, every
exception type the server can produce here, retries across a restart, fork safety."""
import os
import threading
import time
import uuid

import grpc
import pytest

import docgate
from docgate import DocumentStatus
from docgate_harness import Docgate, free_port, wait_for


@pytest.fixture
def served(database_url, start_docgate):
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    with docgate.Client(f"127.0.0.1:{d.port}", timeout=5) as client:
        yield d, client


def test_create_get_update_and_list_return_typed_objects(served):
    _, client = served
    created = client.create_document("report.pdf", body=b"%PDF", content_type="application/pdf",
                                     source_uri="s3://b/report.pdf", attributes={"team": "billing"})
    doc = created.document
    assert created.created and created.consistency_token
    assert isinstance(doc, docgate.Document) and doc.status is DocumentStatus.PENDING and doc.version == 1
    assert uuid.UUID(doc.id).version == 7, "the client chooses a UUIDv7 before the first attempt"
    assert doc.body is None, "creates do not echo the body"

    got = client.get_document(doc.id, include_body=True)
    assert (got.name, got.body, got.content_type, got.attributes) == \
        ("report.pdf", b"%PDF", "application/pdf", {"team": "billing"})
    assert got.create_time is not None and got.create_time.tzinfo is not None
    assert client.get_document(doc.id).body is None
    assert got.proto.id == doc.id, "the protobuf is at hand when wanted"

    moved = client.update_status(doc.id, DocumentStatus.PROCESSING, expected_version=1)
    assert moved.document.status is DocumentStatus.PROCESSING and moved.document.version == 2
    assert moved.consistency_token
    done = client.update_status(doc.id, DocumentStatus.COMPLETED, detail="ok").document
    assert done.status_detail == "ok"

    again = client.create_document("report.pdf", body=b"%PDF", content_type="application/pdf",
                                   source_uri="s3://b/report.pdf", attributes={"team": "billing"}, id=doc.id)
    assert not again.created, "a repeated create with the same id and content is idempotent"

    assert client.wait_visible(doc.id).status is DocumentStatus.COMPLETED
    assert client.health() == "SERVING"


def test_list_documents_iterates_over_every_page(served):
    _, client = served
    tag = uuid.uuid4().hex
    ids = [client.create_document(f"{tag}-{i}").document.id for i in range(25)]
    listed = [d.id for d in client.list_documents(status=DocumentStatus.PENDING, page_size=7)]
    assert [i for i in listed if i in set(ids)] == ids, "all 25, in creation order, across 4 pages"
    for i in ids[:3]:
        client.update_status(i, DocumentStatus.PROCESSING)
    processing = {d.id for d in client.list_documents(status=DocumentStatus.PROCESSING)}
    assert set(ids[:3]) <= processing and not set(ids[3:]) & processing


def test_every_error_is_a_typed_exception_under_one_base(served, database_url):
    _, client = served
    doc = client.create_document("typed").document
    cases = [
        (docgate.NotFound, lambda: client.get_document(str(uuid.uuid4()))),
        (docgate.InvalidArgument, lambda: client.get_document("not-a-uuid")),
        (docgate.InvalidArgument, lambda: client.create_document("")),
        (docgate.AlreadyExists, lambda: client.create_document("other content", id=doc.id)),
        (docgate.Aborted, lambda: client.update_status(doc.id, DocumentStatus.PROCESSING, expected_version=7)),
        (docgate.FailedPrecondition, lambda: client.update_status(doc.id, DocumentStatus.COMPLETED)),
        (docgate.DeadlineExceeded, lambda: client.wait_visible(str(uuid.uuid4()), timeout=0.2)),
        (docgate.ResourceExhausted, lambda: client.create_document("big", body=b"x" * (5 * 1024 * 1024))),
    ]
    for expected, call in cases:
        with pytest.raises(expected) as err:
            call()
        assert isinstance(err.value, docgate.DocgateError)
        assert err.value.code == expected.code
    # The server's request id comes back with the error, to quote in a ticket.
    with pytest.raises(docgate.NotFound) as err:
        client.get_document(str(uuid.uuid4()))
    assert err.value.request_id and err.value.request_id in str(err.value)


def test_unavailable_and_cancelled_are_typed_too():
    nothing = docgate.Client(f"127.0.0.1:{free_port()}", timeout=0.5,
                             retry=docgate.RetryPolicy(max_attempts=2, initial_backoff=0.01))
    with pytest.raises(docgate.Unavailable):
        nothing.get_document(str(uuid.uuid4()))
    assert issubclass(docgate.Cancelled, docgate.DocgateError)
    assert docgate.errors.from_rpc_error(_FakeError(grpc.StatusCode.CANCELLED)).__class__ is docgate.Cancelled
    assert docgate.errors.from_rpc_error(_FakeError(grpc.StatusCode.INTERNAL)).__class__ is docgate.Internal


class _FakeError(grpc.RpcError):
    def __init__(self, code):
        self._code = code

    def code(self):
        return self._code

    def details(self):
        return "x"

    def trailing_metadata(self):
        return ()


def test_reads_and_creates_retry_across_a_docgate_restart(database_url, start_docgate, docgate_bin):
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    client = docgate.Client(f"127.0.0.1:{d.port}", timeout=20)
    doc = client.create_document("before restart").document
    assert d.stop() == 0

    # The same port, a new process, started a moment after the calls began.
    replacement = {}

    def restart_soon():
        replacement["d"] = Docgate(docgate_bin, database_url, port=d.port)

    timer = threading.Timer(0.5, restart_soon)
    timer.start()
    try:
        assert client.get_document(doc.id).name == "before restart"
        assert client.create_document("after restart").created
    finally:
        timer.join()
        replacement["d"].stop()
        os.unlink(replacement["d"].log.name)


def test_updates_are_not_retried():
    nothing = docgate.Client(f"127.0.0.1:{free_port()}", timeout=2,
                             retry=docgate.RetryPolicy(max_attempts=5, initial_backoff=0.5, max_backoff=0.5))
    started = time.monotonic()
    with pytest.raises(docgate.Unavailable):
        nothing.update_status(str(uuid.uuid4()), DocumentStatus.PROCESSING)
    assert time.monotonic() - started < 0.4, "one attempt, no backoff"


def test_a_client_made_before_fork_works_in_four_children(served):
    _, client = served
    client.create_document("parent used it too")  # the parent's own channel exists before the fork
    children = []
    for _ in range(4):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: use the inherited client, report, and leave at once
            os.close(read)
            status = 1
            try:
                made = client.create_document(f"from child {os.getpid()}")
                seen = client.get_document(made.document.id)
                os.write(write, seen.id.encode())
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        children.append((pid, read))
    ids = set()
    for pid, read in children:
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        with os.fdopen(read) as f:
            ids.add(f.read())
    assert len(ids) == 4 and all(uuid.UUID(i) for i in ids)
    assert client.get_document(ids.pop()).name.startswith("from child"), "and the parent's still works"
