"""The status page (/status, /status.json on the metrics port) in a real browser:
Debian's Chromium, headless, renders it against a docgate under load and with its
database stopped; every figure on it is checked against /metrics. Screenshots are
kept in the build tree (test-artifacts/), never committed."""
import json
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import urllib.request
import uuid
from html.parser import HTMLParser
from pathlib import Path

import grpc
import pytest

from docgate_harness import wait_for, workers
from test_metrics import scrape, value


@pytest.fixture(scope="module")
def artifacts(docgate_bin):
    folder = Path(docgate_bin).resolve().parents[1] / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    """browse(url, *flags) -> stdout of headless Chromium."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is missing: scripts/dev installs Debian's chromium")
    profile = tempfile.mkdtemp(prefix="docgate-chromium-")

    def browse(url, *flags):
        # No sandbox: tests may run as root. /tmp instead of /dev/shm: a minimal machine may have none.
        out = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                              "--hide-scrollbars", "--no-first-run", f"--user-data-dir={profile}", *flags, url],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    yield browse
    shutil.rmtree(profile, ignore_errors=True)


class Figures(HTMLParser):
    """Every element's data-key -> data-value, and the page's text, tags and links."""

    def __init__(self, page):
        super().__init__()
        self.figures, self.tags, self.links, self.text, self.refresh = {}, set(), [], [], None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if "data-key" in a:
            assert a["data-key"] not in self.figures, f"{a['data-key']} twice on the page"
            self.figures[a["data-key"]] = float(a["data-value"])
        self.links += [a[k] for k in ("src", "href") if k in a]
        if tag == "meta" and a.get("http-equiv") == "refresh":
            self.refresh = int(a["content"])

    def handle_data(self, data):
        self.text.append(data)


def expected(key, samples):
    """What /metrics says `key` of the page must be, read here independently of the
    server's own mapping; a figure this does not know fails the test (a new one must
    be checked), and so does a metric the server no longer exports."""
    def one(name, **labels):
        assert any(n == name for n, _ in samples), f"{name} is not on /metrics"
        return value(samples, name, **labels)

    simple = {
        "database.up": ("docgate_db_up", {}), "database.circuit_open": ("docgate_circuit_open", {}),
        "pool.max": ("docgate_pool_max_connections", {}),
        "pool.busy": ("docgate_pool_connections", {"state": "in_use"}),
        "pool.idle": ("docgate_pool_connections", {"state": "idle"}),
        "pool.longest_wait_seconds": ("docgate_pool_longest_wait_seconds", {}),
        "pool.opened_total": ("docgate_pool_connections_opened_total", {}),
        "pool.acquire_timeouts_total": ("docgate_pool_acquire_timeouts_total", {}),
        "waiters.count": ("docgate_wait_visible_waiters", {}),
        "waiters.limit": ("docgate_wait_visible_max_waiters", {}),
        "outbox.broker_up": ("docgate_broker_up", {}), "outbox.backlog": ("docgate_outbox_tasks", {}),
        "outbox.oldest_task_seconds": ("docgate_outbox_oldest_task_seconds", {}),
        "leases.active": ("docgate_leases_active", {}),
        "leases.dead_lettered_total": ("docgate_documents_dead_lettered_total", {}),
        "database.primary.timeline": ("docgate_primary_timeline", {}),
        "database.primary.since": ("docgate_primary_since_timestamp_seconds", {}),
        "database.primary.changes_total": ("docgate_primary_changes_total", {}),
    }
    if key in simple:
        name, labels = simple[key]
        return one(name, **labels)
    if key == "pool.open":
        return one("docgate_pool_connections")
    if key == "pool.waiting":
        return one("docgate_caller_queued") + one("docgate_pool_pending_acquires")
    if m := re.fullmatch(r"pool\.closed_total\.(\w+)", key):
        return one("docgate_pool_connections_closed_total", reason=m[1])
    if m := re.fullmatch(r"callers\.(.+)\.(in_flight|queued|refused_total|held_to_share)", key):
        name = {"in_flight": "docgate_caller_in_flight", "queued": "docgate_caller_queued",
                "refused_total": "docgate_caller_refused_total",
                "held_to_share": "docgate_caller_held_to_share"}[m[2]]
        return one(name, caller=m[1])
    if m := re.fullmatch(r"replicas\.(.+)\.(in_rotation|replay_lag_bytes)", key):
        return one(f"docgate_replica_{m[2]}", replica=m[1])
    if m := re.fullmatch(r"errors\.by_code\.(\w+)", key):  # the whole life of these short tests
        return one("grpc_server_handled_total", grpc_code=m[1])
    pytest.fail(f"the page shows {key}, which this test does not know how to check")


COUNTERS = re.compile(r".*(_total(\..*)?|errors\.by_code\..*)$")


def page_figures(browse, d):
    return Figures(browse(f"http://127.0.0.1:{d.metrics_port}/status", "--dump-dom"))


def status_json(d):
    with urllib.request.urlopen(f"http://127.0.0.1:{d.metrics_port}/status.json", timeout=5) as r:
        assert r.headers["Content-Type"] == "application/json"
        return json.load(r)


def flat(status):
    """status.json flattened to the page's data-keys (lists by their items' name)."""
    out = {}

    def walk(prefix, v):
        if isinstance(v, dict):
            for k, item in v.items():
                walk(f"{prefix}{k}.", item)
        elif isinstance(v, list):
            for item in v:
                if isinstance(item, dict) and "name" in item:
                    walk(f"{prefix}{item['name']}.", {k: x for k, x in item.items() if k != "name"})
        elif isinstance(v, bool) or isinstance(v, (int, float)):
            out[prefix[:-1]] = float(v)
    walk("", status)
    return out


def assert_matches_quiet_metrics(browse, d):
    """Once nothing moves, page, JSON and /metrics agree exactly. A scrape before and
    one after the page must be the same for the comparison to be fair, and a background
    task (the lease sweeper, the outbox relay) may take a connection for a moment in
    between: retried until all agree, for a minute, then the last difference is the
    failure."""
    last = {}

    def same():
        before = scrape(d)
        figures = page_figures(browse, d).figures
        status = flat(status_json(d))
        after = scrape(d)
        if any(expected(k, before) != expected(k, after) for k in figures):
            return None
        last["differ"] = {k: (shown, expected(k, before), status.get(k)) for k, shown in figures.items()
                          if shown != pytest.approx(expected(k, before), abs=1e-9) or status.get(k) != shown}
        return None if last["differ"] else figures
    try:
        return wait_for(same, 60, interval=0.5, what="a quiet moment in which page, JSON and /metrics agree")
    except AssertionError as e:
        raise AssertionError(f"{e}; last (page, /metrics, JSON) that differed: {last.get('differ')}") from None


def load(stub, stop, i):
    from docgate._pb import docgate_pb2
    while not stop.is_set():
        made = stub.CreateDocument(docgate_pb2.CreateDocumentRequest(
            document=docgate_pb2.Document(name=f"status-{i}")), timeout=10)
        stub.GetDocument(docgate_pb2.GetDocumentRequest(id=made.document.id), timeout=10)
        try:
            stub.GetDocument(docgate_pb2.GetDocumentRequest(id=str(uuid.uuid4())), timeout=10)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND


def test_the_status_page_under_load_shows_what_metrics_say(database_url, start_docgate, browser, artifacts):
    d = start_docgate(database_url, "--pool-max=2", "--max-waiters=50")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    stop = threading.Event()
    stub = d.stub()
    with workers(lambda i: load(stub, stop, i), 8, stop):
        wait_for(lambda: value(scrape(d), "grpc_server_handled_total", grpc_code="NotFound") >= 50, 30,
                 what="load under way")
        before = scrape(d)
        page = page_figures(browser, d)
        browser(f"http://127.0.0.1:{d.metrics_port}/status", "--window-size=1280,1600",
                f"--screenshot={artifacts / 'status-under-load.png'}")
        after = scrape(d)
        for key, shown in page.figures.items():
            low, high = sorted((expected(key, before), expected(key, after)))
            if COUNTERS.match(key):
                assert low <= shown <= high, (key, shown, low, high)
        f = page.figures
        assert 0 <= f["pool.busy"] <= f["pool.max"] == 2 and f["pool.open"] == f["pool.busy"] + f["pool.idle"]
        assert f["database.up"] == 1 and f["waiters.limit"] == 50
        assert f["errors.by_code.NotFound"] >= 50
    # Self-contained and self-refreshing: no script, nothing fetched from elsewhere.
    assert "script" not in page.tags and page.refresh == 5
    assert all(not re.match(r"\w+:", link) and not link.startswith("//") for link in page.links), page.links
    text = " ".join(page.text)
    assert "Database reachable" in text and "NotFound" in text and "no document has this id" in text
    figures = assert_matches_quiet_metrics(browser, d)
    assert figures["callers.anonymous.in_flight"] == 0 and figures["pool.waiting"] == 0
    assert (artifacts / "status-under-load.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_status_page_shows_a_stopped_database_and_hides_secrets(own_cluster, start_docgate, browser, artifacts):
    from docgate._pb import docgate_pb2
    env = own_cluster.start()
    url = env["DOCGATE_TEST_DATABASE_URL"]
    assert "docgate-dev-secret" in url
    d = start_docgate(url, "--pool-max=2", "--broker-url=redis://:broker-secret@127.0.0.1:1/0")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    own_cluster.stop()
    wait_for(lambda: status_json(d)["database"]["up"] is False, 30, what="the database seen down")
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as err:
            d.stub().CreateDocument(docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(name="x")),
                                    timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    wait_for(lambda: status_json(d)["database"]["circuit_open"], 30, what="the circuit open")
    shot = artifacts / "status-database-down.png"
    browser(f"http://127.0.0.1:{d.metrics_port}/status", "--window-size=1280,1600", f"--screenshot={shot}")
    page = page_figures(browser, d)
    text = " ".join(page.text)
    assert "Database unreachable" in text and "circuit open" in text
    assert page.figures["database.up"] == 0 and page.figures["database.circuit_open"] == 1
    assert page.figures["errors.by_code.Unavailable"] >= 3
    assert "docgate-dev-secret" not in text and "broker-secret" not in text
    assert "docgate-dev-secret" not in json.dumps(status_json(d)) and "broker-secret" not in json.dumps(status_json(d))
    assert_matches_quiet_metrics(browser, d)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_status_page_counts_dead_lettered_documents(database_url, start_docgate, browser, artifacts):
    import docgate
    d = start_docgate(database_url, "--lease-max-attempts=1", "--lease-check-interval=50ms")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    client = docgate.Client(f"127.0.0.1:{d.port}", timeout=10)
    doc = client.create_document("poison.pdf").document
    client.update_status(doc.id, docgate.DocumentStatus.PROCESSING, lease=1, lease_holder="doomed:1")
    wait_for(lambda: client.get_document(doc.id).status == docgate.DocumentStatus.FAILED, 15, interval=0.05,
             what="the document dead-lettered")
    browser(f"http://127.0.0.1:{d.metrics_port}/status", "--window-size=1280,1600",
            f"--screenshot={artifacts / 'status-dead-lettered.png'}")
    # Not assert_matches_quiet_metrics: the sweeper, every 50 ms here, makes the pool
    # move between any two scrapes. The counter itself is still once it has counted.
    assert page_figures(browser, d).figures["leases.dead_lettered_total"] == 1
    assert status_json(d)["leases"]["dead_lettered_total"] == 1
    assert value(scrape(d), "docgate_documents_dead_lettered_total") == 1


def test_only_the_three_paths_are_served_and_bytes_that_do_not_parse_change_nothing(database_url, start_docgate):
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    for path in ("/", "/status/x", "/statusx", "/metrics/../x", "/status.json/"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{d.metrics_port}{path}", timeout=5)
        assert err.value.code == 404, path
    for junk in (b"\x00\xff\xfe garbage\r\n\r\n", b"GET /status HTTP/1.1\r\nHost: " + b"x" * 100000 + b"\r\n\r\n",
                 b"POST /status HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", b"GET /status"):
        reply = b""
        with socket.create_connection(("127.0.0.1", d.metrics_port), timeout=15) as s:
            try:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                reply = s.recv(100)
            except OSError:
                pass  # the server answered and closed before all of it was sent: as good
        assert not reply.startswith(b"HTTP/1.1 200"), (junk[:20], reply)
    assert d.proc.poll() is None
    assert status_json(d)["database"]["up"] is True and "docgate_db_up 1" in d.metrics_text()
