"""The chart's dashboard and alert rules against the real thing: a Prometheus that
scrapes a loaded docgate (with a streaming replica and a Redis broker) evaluates
every expression of the dashboard, each must return data; then the test drives
docgate into each alert's condition and sees the rendered rule fire. A metric
renamed in the server leaves an expression without data and fails this test."""
import json
import re
import subprocess
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from docgate_harness import Docgate, open_transaction, redis_server, wait_for, workers
from prometheus_server import PrometheusServer
from test_chart import CHART, render, tools  # noqa: F401  (a fixture, used by name)
from test_replicas import Replicated

DASHBOARD = CHART / "dashboards" / "docgate.json"
RATE_WINDOW = "15s"  # the alerts' (short, so that one phase's traffic leaves it before the next)
ALL_ALERTS = {"DocgateDatabaseDown", "DocgateCircuitOpen", "DocgatePoolSaturated", "DocgateAcquireWaitHigh",
              "DocgateWaitersNearLimit", "DocgateReplicaOutOfRotation", "DocgateReplicaLagging",
              "DocgateErrorRatioHigh", "DocgateDocumentsDeadLettered", "DocgatePrimaryMoved"}
TEST_VALUES = f"""
prometheusRule:
  enabled: true
  rateWindow: {RATE_WINDOW}
  alerts:
    databaseDown: {{for: 1s}}
    circuitOpen: {{for: 1s}}
    poolSaturated: {{for: 1s}}
    acquireWaitHigh: {{for: 1s, seconds: 1}}
    waitersNearLimit: {{for: 1s, ratio: 0.5}}
    replicaOutOfRotation: {{for: 1s}}
    replicaLagging: {{for: 1s, bytes: 1048576}}
    errorRatioHigh: {{for: 1s, ratio: 0.5, codes: "Unknown|Internal|Unavailable|DataLoss|ResourceExhausted"}}
    documentsDeadLettered: {{for: 1s, window: 5m}}
    primaryMoved: {{for: 1s, window: 5m}}
"""


def pb():
    from docgate._pb import docgate_pb2
    return docgate_pb2


def dashboard_expressions():
    """Every query of the dashboard, with Grafana's variables as "All" would set them."""
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":  # label_values(METRIC, LABEL): METRIC must have data
            found.append((variable["name"], re.match(r"label_values\((.*), \w+\)$", variable["definition"])[1]))
    return [(title, expr.replace("$namespace", ".*").replace("$instance", ".*")
             .replace("$__rate_interval", "1m")) for title, expr in found]


@pytest.fixture
def stack(tools, docgate_bin, tmp_path):  # noqa: F811  (the fixture imported above)
    """Primary + replica, Redis, docgate, and Prometheus with the chart's rules."""
    values = tmp_path / "values.yaml"
    values.write_text(TEST_VALUES)
    rule = next(o for o in render(tools, values)["objects"] if o["kind"] == "PrometheusRule")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(rule["spec"]))  # JSON is YAML to Prometheus
    replicated = Replicated(docgate_bin)
    try:
        with redis_server() as redis:
            d = Docgate(docgate_bin, both_hosts(replicated), f"--replica-url={replicated.replica_url}",
                        f"--broker-url={redis}/0", "--pool-max=3", "--max-waiters=20", "--acquire-timeout=30s",
                        "--max-replica-lag-bytes=1048576", "--replica-wait-max=1s")
            prometheus = None
            try:
                wait_for(lambda: d.health() == "SERVING", 30, what="docgate serving")
                prometheus = PrometheusServer([f"127.0.0.1:{d.metrics_port}"], rules_file=str(rules))
                wait_for(lambda: prometheus.value('up{job="docgate"}') == 1, 30, interval=0.2,
                         what="a first scrape")
                yield replicated, d, prometheus
            except BaseException:
                print(d.output()[-5000:])  # shown with the failure
                raise
            finally:
                if prometheus is not None:
                    prometheus.close()
                d.stop()
    finally:
        replicated.close()


def both_hosts(replicated):
    """The primary's URL naming the standby too, as an HA install's would: libpq keeps
    the host that accepts writes."""
    host = re.search(r"@([^/]+)/", replicated.primary_url)[1]
    url = replicated.primary_url.replace(host, f"{host},127.0.0.1:{replicated.replica_port}")
    return url + ("&" if "?" in url else "?") + "target_session_attrs=read-write"


def load(client, stop, i):
    from docgate import CeleryTask, DeadlineExceeded, DocumentStatus, NotFound
    while not stop.is_set():
        made = client.create_document(f"monitoring-{i}", body=b"x" * 100,
                                      enqueue=[CeleryTask(task="monitoring.noop", queue="monitoring")])
        client.get_document(made.document.id, consistency_token=made.consistency_token)
        client.update_status(made.document.id, DocumentStatus.PROCESSING, lease=60)
        next(iter(client.list_documents(page_size=5)), None)
        with pytest.raises(NotFound):
            client.get_document(str(uuid.uuid4()))
        with pytest.raises(DeadlineExceeded):
            client.wait_visible(str(uuid.uuid4()), timeout=0.05)


def firing(prometheus, *names, timeout=60):
    """Waits for the alerts `names` to fire; returns them."""
    wait_for(lambda: set(names) <= prometheus.alerts(), timeout, interval=0.25, what=f"{names} firing")
    return set(names)


def test_every_dashboard_query_has_data_and_every_alert_fires_when_its_condition_holds(stack):
    from docgate import Client
    replicated, d, prometheus = stack
    client = Client(f"127.0.0.1:{d.port}", timeout=30)
    stop = threading.Event()
    with workers(lambda i: load(client, stop, i), 3, stop):
        wait_for(lambda: (prometheus.value('sum(docgate_reads_total{source!="primary"})') or 0) > 0, 60,
                 interval=0.25, what="load scraped, replica reads included")
    load_ended = time.monotonic()
    assert prometheus.alerts("pending") | prometheus.alerts() == set(), "alerts fire on a healthy docgate"
    # The status page shows the replica and the broker as the metrics do.
    with urllib.request.urlopen(f"http://127.0.0.1:{d.metrics_port}/status.json", timeout=5) as r:
        status = json.load(r)
    assert [(r["name"], r["in_rotation"]) for r in status["replicas"]] == [
        (f"127.0.0.1:{replicated.replica_port}", True)]
    assert status["outbox"]["enabled"] and status["outbox"]["broker_up"]

    seen = saturate_and_wait(d, replicated, prometheus, load_ended)
    wait_for(lambda: prometheus.value("sum(docgate_db_errors_total)"), 30, interval=0.25,
             what="the statements' errors scraped")
    empty = [(title, expr) for title, expr in dashboard_expressions() if not prometheus.series(expr)]
    assert not empty, f"dashboard queries without data: {empty}"
    seen |= waiters_near_the_limit(d, prometheus)
    seen |= lagging_replica(replicated, prometheus)
    seen |= dead_lettered(client, prometheus)
    seen |= database_down(d, replicated, prometheus)
    seen |= primary_moved(d, replicated, prometheus)
    assert seen == ALL_ALERTS


def saturate_and_wait(d, replicated, prometheus, load_ended):
    """A row lock holds every connection; calls queue behind it for seconds. Then the
    blocked statements' backends are killed: they fail with a SQLSTATE, and the queue
    moves on."""
    from docgate import Client, DocumentStatus, Unavailable
    client = Client(f"127.0.0.1:{d.port}", timeout=60)

    def blocked_update():
        with pytest.raises(Unavailable):  # never retried: it may have happened
            client.update_status(locked, DocumentStatus.PROCESSING)

    locked = client.create_document("locked").document.id
    others = [client.create_document(f"queued-{i}").document.id for i in range(30)]
    with open_transaction(replicated.primary_url, f"SELECT 1 FROM documents WHERE id = '{locked}' FOR UPDATE;",
                          "monitoring-lock") as commit, ThreadPoolExecutor(len(others) + 3) as pool:
        blocked = [pool.submit(blocked_update) for _ in range(3)]
        wait_for(lambda: prometheus.value('sum(docgate_pool_connections{state="in_use"})') == 3, 30,
                 interval=0.25, what="the three connections blocked on the lock")
        queued = [pool.submit(client.update_status, doc, DocumentStatus.PROCESSING) for doc in others]
        seen = firing(prometheus, "DocgatePoolSaturated")
        # Released once the load's own short waits have left the alert's rate window.
        wait_for(lambda: time.monotonic() - load_ended > 16 and prometheus.value(
            "max(docgate_pool_longest_wait_seconds)") > 2, 60, interval=0.25, what="calls waiting seconds")
        killed = subprocess.run(["psql", replicated.primary_url, "-qAtc", "SELECT count(pg_terminate_backend(pid))"
                                 " FROM pg_stat_activity WHERE application_name = 'docgate'"
                                 " AND wait_event_type = 'Lock'"], check=True, capture_output=True, text=True)
        assert killed.stdout.strip() == "3"
        for call in blocked + queued:
            call.result(timeout=60)  # the queued ones all done, after waiting
        commit()
    return seen | firing(prometheus, "DocgateAcquireWaitHigh")


def waiters_near_the_limit(d, prometheus):
    ids = [str(uuid.uuid4()) for _ in range(12)]  # of --max-waiters=20: over the test's 0.5
    stub = d.stub()
    calls = [stub.WaitVisible.future(pb().WaitVisibleRequest(id=i), timeout=60) for i in ids]
    seen = firing(prometheus, "DocgateWaitersNearLimit")
    for i in ids:  # each waiter sees its document and ends
        stub.CreateDocument(pb().CreateDocumentRequest(document=pb().Document(id=i, name="waited")), timeout=10)
    assert all(c.result().document.id == i for c, i in zip(calls, ids))
    return seen


def lagging_replica(replicated, prometheus):
    replicated.replica_sql("SELECT pg_wal_replay_pause()")
    try:
        subprocess.run(["psql", replicated.primary_url, "-qAtc", "CREATE TABLE monitoring_filler AS"
                        " SELECT repeat('x', 1000) AS x FROM generate_series(1, 4000)"], check=True,
                       capture_output=True)
        return firing(prometheus, "DocgateReplicaLagging", "DocgateReplicaOutOfRotation")
    finally:
        replicated.replica_sql("SELECT pg_wal_replay_resume()")


def dead_lettered(client, prometheus):
    """A worker that takes a document with a bound of one attempt and dies: its lease
    runs out, the document is dead-lettered, the alert fires."""
    from docgate import DocumentStatus
    doc = client.create_document("poison.pdf").document
    client.update_status(doc.id, DocumentStatus.PROCESSING, lease=1, lease_holder="doomed:1", max_attempts=1)
    wait_for(lambda: client.get_document(doc.id).status == DocumentStatus.FAILED, 30, interval=0.1,
             what="the document dead-lettered")
    return firing(prometheus, "DocgateDocumentsDeadLettered")


def primary_moved(d, replicated, prometheus):
    """With the primary down, the standby is promoted: docgate's URL names both
    (target_session_attrs=read-write), so its connections find the primary there, on
    a new timeline."""
    before = prometheus.value("max(docgate_primary_timeline)")
    replicated.replica_sql("SELECT pg_promote()")
    seen = firing(prometheus, "DocgatePrimaryMoved")
    assert prometheus.value("max(docgate_primary_timeline)") == before + 1
    primary = json.loads(d.http_get("/status.json"))["database"]["primary"]
    assert primary["address"] == f"127.0.0.1:{replicated.replica_port}" and primary["changes_total"] == 1, primary
    return seen


def database_down(d, replicated, prometheus):
    subprocess.run(["scripts/pg-cluster", "stop", replicated.primary_dir, "--immediate"], check=True,
                   cwd=CHART.parents[1])
    stub = d.stub()

    def fail_a_call():
        with pytest.raises(grpc.RpcError) as err:
            stub.CreateDocument(pb().CreateDocumentRequest(document=pb().Document(name="down")), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        return {"DocgateDatabaseDown", "DocgateCircuitOpen", "DocgateErrorRatioHigh"} <= prometheus.alerts()
    wait_for(fail_a_call, 60, interval=0.2, what="the database-down alerts firing")
    return prometheus.alerts() & {"DocgateDatabaseDown", "DocgateCircuitOpen", "DocgateErrorRatioHigh"}
