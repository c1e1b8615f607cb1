"""The metrics port is shared by Prometheus and people: clients that connect and then
send their request slowly, or nothing at all, must not stop a scrape, and docgate
closes them within its header deadline."""
import os
import selectors
import socket
import threading
import time

from docgate_harness import Docgate, wait_for

HEADER_DEADLINE = 3.0  # seconds; server/observability/metrics_endpoint.cc
SLACK = 1.5            # the sweeper's tick, this test's own loop and a busy machine


class Loiterers:
    """`slow` connections that send one header line every 1.5 s and never end their
    request, and `idle` ones that send nothing. One that docgate closes is replaced at
    once, so that as many stay open all along; `lifetimes` says how long docgate let
    each one live."""

    def __init__(self, port, slow, idle):
        self.port, self.slow, self.idle = port, slow, idle
        self.selector = selectors.DefaultSelector()
        self.lifetimes = {"slow": [], "idle": []}
        self.errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        for _ in range(self.slow):
            self._open("slow")
        for _ in range(self.idle):
            self._open("idle")
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()

    def open_count(self):
        with self.lock:
            return len(self.selector.get_map())

    def _open(self, kind):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.setblocking(False)
        state = {"kind": kind, "opened": time.monotonic(), "next_line": time.monotonic(), "lines": 0}
        if kind == "slow":
            s.send(b"GET /metrics HTTP/1.1\r\n")
        with self.lock:
            self.selector.register(s, selectors.EVENT_READ, state)

    def _closed(self, s, state):
        with self.lock:
            self.selector.unregister(s)
            self.lifetimes[state["kind"]].append(time.monotonic() - state["opened"])
        s.close()
        if not self.stop.is_set():
            self._open(state["kind"])

    def _run(self):
        try:
            while not self.stop.is_set():
                for key, _ in self.selector.select(timeout=0.05):
                    try:
                        data = key.fileobj.recv(4096)
                    except OSError:
                        data = b""
                    if not data:  # docgate closed it (an answer here would be a bug: see below)
                        self._closed(key.fileobj, key.data)
                    else:
                        self.errors.append(f"a {key.data['kind']} connection was answered: {data[:80]!r}")
                now = time.monotonic()
                for key in list(self.selector.get_map().values()):
                    state = key.data
                    if state["kind"] == "slow" and now >= state["next_line"]:
                        state["next_line"] = now + 1.5
                        state["lines"] += 1
                        try:
                            key.fileobj.send(b"X-Slow-%d: yes\r\n" % state["lines"])
                        except OSError:
                            pass  # closed by docgate: the read above will see it
        except Exception as e:  # noqa: BLE001 -- reported by the test, not lost in a thread
            self.errors.append(repr(e))


def test_scrapes_answer_while_hundreds_of_slow_and_idle_clients_are_connected(database_url, start_docgate):
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    with Loiterers(d.metrics_port, slow=200, idle=200) as loiterers:
        # Ten rounds over more than a header deadline, so that some fall while the
        # first connections are being closed and replaced.
        rounds = []
        for _ in range(10):
            open_now = loiterers.open_count()
            for path in ("/metrics", "/status", "/status.json"):
                started = time.monotonic()
                page = d.http_get(path, timeout=1)
                took = time.monotonic() - started
                assert took <= 1.0, f"{path} took {took:.2f}s with {open_now} loiterers connected"
                assert page, f"{path} answered nothing"
            rounds.append(open_now)
            time.sleep(0.5)  # pacing between rounds, not a wait for state
        # Every first-generation connection has had its deadline by now; wait for each
        # to have been closed (as many as were opened at the start).
        wait_for(lambda: min(len(v) for v in loiterers.lifetimes.values()) >= 200, HEADER_DEADLINE + SLACK + 5,
                 what="docgate to close the first 200 slow and 200 idle connections")
    assert not loiterers.errors, loiterers.errors
    assert min(rounds) >= 350, f"loiterers connected during each round: {rounds}"
    for kind, lifetimes in loiterers.lifetimes.items():
        assert max(lifetimes) <= HEADER_DEADLINE + SLACK, \
            f"{kind} connections lived up to {max(lifetimes):.2f}s, past the {HEADER_DEADLINE}s header deadline"
    assert d.health() == "SERVING"


def lingering_on(port):
    """How many closed TCP connections of local port `port` linger, in FIN_WAIT2 or
    TIME_WAIT (/proc/net/tcp: states 05, 06): each refuses a bind without SO_REUSEADDR."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                local, state = row.split()[1], row.split()[3]
                count += state in ("05", "06") and int(local.rsplit(":", 1)[1], 16) == port
    return count


def test_a_restart_gets_its_metrics_port_back_at_once_after_serving_scrapes(database_url, start_docgate, docgate_bin):
    """docgate answers every page with "Connection: close" and closes first, so each
    scrape's connection lingers on the port's side for a minute (TIME_WAIT). The next
    docgate on the same port (systemd's Restart=, a container restarted in its pod)
    must still listen, not exit with "Address already in use"."""
    first = start_docgate(database_url)
    wait_for(lambda: first.health() == "SERVING", 20, what="SERVING")
    wait_for(lambda: first.http_get("/metrics") and lingering_on(first.metrics_port), 10,
             what="a scrape's connection, closed by docgate first, to linger (nothing to test otherwise)")
    assert first.stop() == 0, first.output()
    second = Docgate(docgate_bin, database_url, metrics_port=first.metrics_port)
    try:
        wait_for(lambda: second.health() == "SERVING" or second.proc.poll() is not None, 20,
                 what="the second docgate to serve or exit")
        assert second.proc.poll() is None, f"the restart did not start:\n{second.output()}"
        assert "docgate_build_info" in second.http_get("/metrics")
    finally:
        second.stop()
        os.unlink(second.log.name)
