"""docgate.aio.Client against a real docgate: every method and every error
docgate.Client has, the same retry rules, and 1,000 concurrent calls on one event loop."""
import asyncio
import os
import threading
import time
import uuid

import pytest

import docgate
import docgate.aio
from docgate import DocumentStatus
from docgate_harness import Docgate, free_port, wait_for


def run(coroutine):
    return asyncio.run(coroutine)


@pytest.fixture
def served(database_url, start_docgate):
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    return d


@pytest.fixture
def address(served):
    return f"127.0.0.1:{served.port}"


def test_every_method_returns_what_the_blocking_client_returns(address):
    async def scenario():
        async with docgate.aio.Client(address, timeout=5) as client:
            assert await client.health() == "SERVING"
            tag = uuid.uuid4().hex
            created = await client.create_document(f"{tag}-0", body=b"%PDF", attributes={"team": "billing"})
            doc = created.document
            assert created.created and created.consistency_token and doc.status is DocumentStatus.PENDING
            got = await client.get_document(doc.id, include_body=True, consistency_token=created.consistency_token)
            assert (got.name, got.body, got.attributes) == (f"{tag}-0", b"%PDF", {"team": "billing"})
            assert got == docgate.Client(address).get_document(doc.id, include_body=True), "the same typed result"
            assert (await client.wait_visible(doc.id)).id == doc.id
            taken = (await client.update_status(doc.id, DocumentStatus.PROCESSING, expected_version=1, lease=30,
                                                lease_holder="aio")).document
            assert taken.lease_holder == "aio" and taken.version == 2
            renewed = await client.renew_lease(doc.id, taken.version, 60)
            assert renewed.lease_expire_time > taken.lease_expire_time
            moved = await client.update_status(doc.id, DocumentStatus.COMPLETED, expected_version=2, detail="ok")
            assert moved.document.status is DocumentStatus.COMPLETED and moved.consistency_token
            ids = [doc.id] + [(await client.create_document(f"{tag}-{i}")).document.id for i in range(1, 12)]
            listed = [d.id async for d in client.list_documents(page_size=5)]
            assert [i for i in listed if i in set(ids)] == ids, "every page, in creation order"
    run(scenario())


def test_a_waiter_waits_on_the_loop_for_a_commit_made_later(served, address):
    async def scenario():
        async with docgate.aio.Client(address, timeout=5) as client:
            doc_id = str(uuid.uuid4())
            waiting = asyncio.ensure_future(client.wait_visible(doc_id, timeout=10))
            while served.waiting() < 1:  # the loop is free while the call waits on the server
                await asyncio.sleep(0.01)
            assert not waiting.done()
            await client.create_document("later", id=doc_id)
            assert (await waiting).id == doc_id
    run(scenario())


def test_every_error_is_the_same_typed_exception(address):
    async def scenario():
        async with docgate.aio.Client(address, timeout=5) as client:
            doc = (await client.create_document("typed")).document
            cases = [
                (docgate.NotFound, client.get_document(str(uuid.uuid4()))),
                (docgate.InvalidArgument, client.get_document("not-a-uuid")),
                (docgate.InvalidArgument, client.create_document("")),
                (docgate.AlreadyExists, client.create_document("other content", id=doc.id)),
                (docgate.Aborted, client.update_status(doc.id, DocumentStatus.PROCESSING, expected_version=7)),
                (docgate.FailedPrecondition, client.update_status(doc.id, DocumentStatus.COMPLETED)),
                (docgate.Aborted, client.renew_lease(doc.id, doc.version, 30)),  # no lease to renew
                (docgate.DeadlineExceeded, client.wait_visible(str(uuid.uuid4()), timeout=0.2)),
                (docgate.ResourceExhausted, client.create_document("big", body=b"x" * (5 * 1024 * 1024))),
            ]
            for expected, call in cases:
                with pytest.raises(expected) as err:
                    await call
                assert isinstance(err.value, docgate.DocgateError) and err.value.code == expected.code
            with pytest.raises(docgate.NotFound) as err:
                await client.get_document(str(uuid.uuid4()))
            assert err.value.request_id
    run(scenario())


def test_unavailable_is_retried_for_reads_within_the_deadline_and_never_for_moves(database_url, docgate_bin):
    port = free_port()

    async def scenario():
        client = docgate.aio.Client(f"127.0.0.1:{port}", timeout=2,
                                    retry=docgate.RetryPolicy(max_attempts=5, initial_backoff=0.5, max_backoff=0.5))
        started = time.monotonic()
        with pytest.raises(docgate.Unavailable):
            await client.update_status(str(uuid.uuid4()), DocumentStatus.PROCESSING)
        assert time.monotonic() - started < 0.4, "one attempt, no backoff"
        # A read sent before docgate listens on the port succeeds once it does.
        patient = docgate.aio.Client(f"127.0.0.1:{port}", timeout=20)
        later = {}
        timer = threading.Timer(0.5, lambda: later.setdefault("d", Docgate(docgate_bin, database_url, port=port)))
        timer.start()
        try:
            assert (await patient.create_document("retried")).created
        finally:
            timer.join()
            later["d"].stop()
            os.unlink(later["d"].log.name)
        await client.close()
        await patient.close()
    run(scenario())


def test_a_thousand_concurrent_calls_on_one_event_loop(address):
    async def scenario():
        async with docgate.aio.Client(address, timeout=30, caller="aio-test") as client:
            tag = uuid.uuid4().hex
            created = await asyncio.gather(*(client.create_document(f"{tag}-{i}") for i in range(500)))
            reads = await asyncio.gather(*(client.get_document(c.document.id) for c in created))
            assert all(c.created for c in created)
            assert sorted(r.name for r in reads) == sorted(f"{tag}-{i}" for i in range(500))
    started = time.monotonic()
    run(scenario())
    assert threading.active_count() < 20, "no thread per call"
    print(f"1,000 calls on one loop in {time.monotonic() - started:.2f} s")
