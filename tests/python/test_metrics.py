"""The gRPC server metrics count every RPC by method and code, as go-grpc-prometheus does."""
import re
import urllib.request
import uuid

import grpc
import pytest

from docgate_harness import open_transaction, send_known_traffic, wait_for

SAMPLE = re.compile(r'^(\w+)(?:\{([^}]*)\})? (\S+)$')


def scrape(d):
    with urllib.request.urlopen(f"http://127.0.0.1:{d.metrics_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            labels = frozenset(tuple(kv.split("=", 1)) for kv in re.findall(r'\w+="[^"]*"', m.group(2) or ""))
            samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def value(samples, name, **labels):
    wanted = {(k, f'"{v}"') for k, v in labels.items()}
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def test_counts_match_known_traffic_by_method_and_code(database_url, start_docgate):
    from docgate._pb import docgate_pb2
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    stub = d.stub()
    send_known_traffic(stub)  # 37 creates, 5 gets of missing ids
    with pytest.raises(grpc.RpcError):
        stub.WaitVisible(docgate_pb2.WaitVisibleRequest(id=str(uuid.uuid4())), timeout=0.2)
    # The client's deadline fires on its own clock, a moment before the server ends the
    # call; and one scrape collects the families one after another. Wait until the call
    # is counted as handled (its last count), then read everything from a fresh scrape.
    wait_for(lambda: value(scrape(d), "grpc_server_handled_total", grpc_method="WaitVisible") == 1, 5,
             what="the WaitVisible call ended on the server")

    samples = scrape(d)
    common = {"grpc_type": "unary", "grpc_service": "docgate.v1.DocumentService"}
    assert value(samples, "grpc_server_started_total", grpc_method="CreateDocument", **common) == 37
    assert value(samples, "grpc_server_handled_total", grpc_method="CreateDocument", grpc_code="OK", **common) == 37
    assert value(samples, "grpc_server_handled_total", grpc_method="GetDocument", grpc_code="NotFound", **common) == 5
    assert value(samples, "grpc_server_handled_total", grpc_method="GetDocument", grpc_code="OK", **common) == 0
    assert value(samples, "grpc_server_handling_seconds_count", grpc_method="CreateDocument", **common) == 37
    assert value(samples, "grpc_server_handled_total", grpc_method="WaitVisible",
                 grpc_code="DeadlineExceeded", **common) == 1
    assert value(samples, "docgate_wait_visible_timeouts_total") == 1
    # One create at a time: 37 batches of one. The 5 gets: 5 batches of one as well.
    assert value(samples, "docgate_batch_size_count", grpc_method="CreateDocument") == 37
    assert value(samples, "docgate_batch_size_sum", grpc_method="CreateDocument") == 37
    assert value(samples, "docgate_batch_size_count", grpc_method="GetDocument") == 5
    # No series carries an id or any other high-cardinality label.
    assert not any(k == "id" for (_, labels) in samples for (k, _) in labels)


def test_pool_gauges_agree_with_pg_stat_activity(database_url, start_docgate):
    import os
    import subprocess
    from docgate._pb import docgate_pb2
    d = start_docgate(database_url, "--pool-max=6")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    stub = d.stub()
    futures = [stub.CreateDocument.future(docgate_pb2.CreateDocumentRequest(
        document=docgate_pb2.Document(name=f"g{i}")), timeout=10) for i in range(50)]
    for f in futures:
        f.result()

    def seen_by_postgres(app):
        out = subprocess.run(["psql", os.environ["DOCGATE_TEST_ADMIN_URL"], "-Atc",
                              "SELECT count(*) FROM pg_stat_activity WHERE datname = 'docgate'"
                              f" AND application_name = '{app}'"], capture_output=True, text=True, check=True)
        return int(out.stdout.strip())

    def pooled():
        samples = scrape(d)
        return value(samples, "docgate_pool_connections", state="idle") + \
            value(samples, "docgate_pool_connections", state="in_use")

    # Closed backends leave pg_stat_activity a moment later: agree within a deadline.
    wait_for(lambda: pooled() == seen_by_postgres("docgate"), 5, what="pool gauges = pg_stat_activity")
    samples = scrape(d)
    assert 1 <= pooled() <= 6
    assert value(samples, "docgate_pool_max_connections") == 6
    assert value(samples, "docgate_pool_connections_opened_total") >= pooled()
    assert value(samples, "docgate_db_up") == 1
    assert value(samples, "docgate_circuit_open") == 0
    assert seen_by_postgres("docgate-visibility") <= 1  # the watcher's own, named apart


def test_a_statement_timeout_counts_as_a_class_57_database_error(database_url, start_docgate):
    from docgate._pb import docgate_pb2
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    stub = d.stub()
    doc = stub.CreateDocument(docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(name="locked")),
                              timeout=5).document
    assert value(scrape(d), "docgate_db_errors_total", sqlstate_class="57") == 0
    # Another session holds the row: the update waits until PostgreSQL's statement timeout.
    with open_transaction(database_url, f"SELECT 1 FROM documents WHERE id = '{doc.id}' FOR UPDATE;", "lock-holder"):
        with pytest.raises(grpc.RpcError) as err:
            stub.UpdateDocumentStatus(docgate_pb2.UpdateDocumentStatusRequest(
                id=doc.id, status=docgate_pb2.PROCESSING), timeout=1)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The client's own deadline may fire a moment before the server has counted.
    wait_for(lambda: value(scrape(d), "docgate_db_errors_total", sqlstate_class="57") == 1, 5,
             what="one class 57 error counted")
    assert value(scrape(d), "grpc_server_handled_total", grpc_method="UpdateDocumentStatus", grpc_code="OK") == 0, \
        "the update was cancelled in the database, not applied after the client gave up"
    assert value(scrape(d), "docgate_db_errors_total", sqlstate_class="08") == 0
