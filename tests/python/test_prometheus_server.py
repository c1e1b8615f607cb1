"""A real Prometheus server scrapes docgate: what it stores is what happened.

Prometheus comes from Debian's `prometheus` package (scripts/dev installs it). It
scrapes every second; the test reads its HTTP query API, as a dashboard would.
"""
import os
import shutil
import subprocess
import urllib.request

import pytest

from docgate_harness import send_known_traffic, wait_for
from prometheus_server import PrometheusServer


@pytest.fixture
def prometheus():
    """configure(target) starts Prometheus scraping it; returns query(promql) -> float | None."""
    servers = []

    def configure(target):
        servers.append(PrometheusServer([target]))
        return servers[-1].value

    yield configure
    for server in servers:
        server.close()


def handled(method, code):
    return ('grpc_server_handled_total{grpc_type="unary",grpc_service="docgate.v1.DocumentService",'
            f'grpc_method="{method}",grpc_code="{code}"}}')


def test_prometheus_stores_exact_counts_and_pool_gauges_that_match_postgres(database_url, start_docgate,
                                                                               prometheus):
    d = start_docgate(database_url, "--pool-max=4")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    q = prometheus(f"127.0.0.1:{d.metrics_port}")
    wait_for(lambda: q('up{job="docgate"}') == 1, 30, interval=0.2, what="a first scrape")

    send_known_traffic(d.stub())  # 37 creates, 5 gets of missing ids

    # The last of the traffic is stored once a scrape after it has happened.
    wait_for(lambda: q(handled("GetDocument", "NotFound")) == 5, 30, interval=0.2, what="the traffic scraped")
    assert q(handled("CreateDocument", "OK")) == 37
    assert q('grpc_server_started_total{grpc_method="CreateDocument"}') == 37
    assert q(handled("GetDocument", "OK")) == 0
    assert q('sum(grpc_server_handled_total{grpc_code!="OK",grpc_method="CreateDocument"})') == 0
    assert q('grpc_server_handling_seconds_count{grpc_method="CreateDocument"}') == 37
    assert q("docgate_pool_acquire_seconds_count") >= 42  # one acquire per RPC, at least
    assert q("docgate_pool_acquire_timeouts_total") == 0
    assert q('docgate_build_info{version!="",revision!=""}') == 1

    def seen_by_postgres():
        out = subprocess.run(["psql", os.environ["DOCGATE_TEST_ADMIN_URL"], "-Atc",
                              "SELECT count(*) FROM pg_stat_activity WHERE datname = 'docgate'"
                              " AND application_name = 'docgate'"], capture_output=True, text=True, check=True)
        return int(out.stdout)

    # The pool is quiet now; Prometheus's view of it catches up within a scrape or two.
    wait_for(lambda: q("sum(docgate_pool_connections)") == seen_by_postgres(), 30, interval=0.2,
             what="pool gauges in Prometheus = pg_stat_activity")
    assert 1 <= q("sum(docgate_pool_connections)") <= q("docgate_pool_max_connections") == 4
    assert q("docgate_db_up") == 1
    assert q("docgate_circuit_open") == 0


def test_promtool_finds_nothing_wrong_with_the_metrics_page(database_url, start_docgate):
    from docgate._pb import docgate_pb2
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    d.stub().CreateDocument(docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(name="lint")), timeout=5)
    with urllib.request.urlopen(f"http://127.0.0.1:{d.metrics_port}/metrics", timeout=5) as r:
        page = r.read()
    assert b"docgate_build_info" in page and b"grpc_server_handled_total" in page
    check = subprocess.run([shutil.which("promtool") or "/usr/bin/promtool", "check", "metrics"], input=page,
                           capture_output=True)
    assert check.returncode == 0 and check.stdout == b"" and check.stderr == b"", check
