"""Shared test harness: the docgate binary, the test PostgreSQL, docgate processes.

The fixtures are re-exported by tests/python/conftest.py and tests/fault/conftest.py.

scripts/dev test sets DOCGATE_BIN, DOCGATE_TEST_DATABASE_URL, DOCGATE_TEST_ADMIN_URL and
runs pytest with the interpreter of a venv where the client package is installed (its
stubs, docgate._pb, are what the tests use too). Under CI a missing harness fails; locally it skips.
"""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["docgate_bin", "database_url", "start_docgate", "own_cluster", "loadgen_bin"]


@contextlib.contextmanager
def workers(target, count, stop):
    """`count` threads running target(i) until `stop` is set. Leaving the block sets
    it and joins them, so that a wait that fails inside fails the test instead of
    hanging it on threads that never stop; a worker's own error is raised when the
    block ended without one."""
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(target, i) for i in range(count)]
        try:
            yield
        finally:
            stop.set()
    for f in futures:
        f.result()


KNOWN_CREATES = 37
KNOWN_MISSING_GETS = 5


def send_known_traffic(stub):
    """KNOWN_CREATES creates that succeed, then KNOWN_MISSING_GETS gets of ids that
    do not exist (each NOT_FOUND): traffic whose metrics a test can predict."""
    import uuid
    from docgate._pb import docgate_pb2
    for i in range(KNOWN_CREATES):
        stub.CreateDocument(docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(name=f"known-{i}")),
                            timeout=5)
    for _ in range(KNOWN_MISSING_GETS):
        with pytest.raises(grpc.RpcError) as err:
            stub.GetDocument(docgate_pb2.GetDocumentRequest(id=str(uuid.uuid4())), timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def redis_answers(port):
    """Whether a redis-server answers PING on `port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server():
    """A throwaway redis-server on a free loopback port, nothing persisted; yields its
    redis:// URL (without a database number) once it answers."""
    port = free_port()
    folder = tempfile.mkdtemp(prefix="docgate-redis-")
    proc = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
                             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: redis_answers(port), 20, what="redis-server answers")
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def open_transaction(database_url, sql, name):
    """A psql session named `name` that runs `sql` after BEGIN and stays in that
    transaction (holding its locks, its rows uncommitted). Yields commit(); when the
    block ends without it, the transaction is rolled back."""
    psql = subprocess.Popen(["psql", database_url, "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, text=True,
                            env={**os.environ, "PGAPPNAME": name})

    def idle_in_transaction():
        out = subprocess.run(["psql", database_url, "-Atc", "SELECT count(*) FROM pg_stat_activity WHERE"
                              f" application_name = '{name}' AND state = 'idle in transaction'"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip() == "1"

    def commit():
        psql.stdin.write("COMMIT;\n")
        psql.stdin.close()
        assert psql.wait(timeout=30) == 0

    try:
        psql.stdin.write(f"BEGIN;\n{sql}\n")
        psql.stdin.flush()
        wait_for(idle_in_transaction, 10, what=f"the transaction of {name} open")
        yield commit
    finally:
        if not psql.stdin.closed:
            psql.stdin.close()  # end of input: psql exits, the server rolls back
        try:
            psql.wait(timeout=10)
        finally:
            if psql.poll() is None:
                psql.kill()


def _harness(name):
    value = os.environ.get(name)
    if not value:
        if os.environ.get("CI"):
            pytest.fail(f"CI=true but {name} is not set: run scripts/dev test")
        pytest.skip(f"{name} not set (run through scripts/dev test)")
    return value


@pytest.fixture(scope="session")
def docgate_bin():
    return _harness("DOCGATE_BIN")


@pytest.fixture(scope="session")
def loadgen_bin(docgate_bin):
    """bench/loadgen, built next to docgate (build/server/docgate -> build/bench/loadgen)."""
    path = Path(docgate_bin).resolve().parents[1] / "bench" / "loadgen"
    if not path.exists():
        pytest.fail(f"{path} is missing: scripts/dev build makes it")
    return str(path)


@pytest.fixture(scope="session")
def database_url():
    return _harness("DOCGATE_TEST_DATABASE_URL")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout, interval=0.02, what="condition"):
    """Polls `condition` until it is truthy or `timeout` seconds pass; returns its value."""
    give_up = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Docgate:
    """A docgate process on a free loopback port, its stderr captured to a file."""

    def __init__(self, binary, database_url, *extra_args, env=None, port=None, metrics_port=None):
        self.port = port or free_port()
        self.metrics_port = metrics_port or free_port()
        self.answered = False  # health has answered once
        self.stopped = False  # by stop(), not by itself
        self.log = tempfile.NamedTemporaryFile(prefix="docgate-", suffix=".log", delete=False)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCGATE_") and k != "DATABASE_URL"}
        full_env["DATABASE_URL"] = database_url
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [binary, f"--listen=127.0.0.1:{self.port}", f"--metrics-listen=127.0.0.1:{self.metrics_port}",
             *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        # Tests poll a process that is still starting: reconnect quickly, not after gRPC's
        # default backoff (1 s, growing), which would add seconds to every start.
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=[
            ("grpc.initial_reconnect_backoff_ms", 50),
            ("grpc.max_reconnect_backoff_ms", 250), ("grpc.dns_min_time_between_resolutions_ms", 50)])

    def stub(self):
        from docgate._pb import docgate_pb2_grpc
        return docgate_pb2_grpc.DocumentServiceStub(self.channel)

    def health(self, service="docgate.v1.DocumentService"):
        """SERVING / NOT_SERVING as a string, or None while the port does not answer.
        A process that exited before it ever answered (a bad flag, a port taken) fails
        the test with its output, rather than leaving it to time out waiting."""
        from docgate._pb import health_pb2, health_pb2_grpc
        try:
            reply = health_pb2_grpc.HealthStub(self.channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1)
        except grpc.RpcError:
            if not self.answered and self.proc.poll() is not None:
                raise AssertionError(f"docgate exited with code {self.proc.returncode} before it answered "
                                     f"health:\n{self.output()[-4000:]}") from None
            return None
        self.answered = True
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def metrics_text(self):
        """The /metrics page, or "" while it does not answer."""
        try:
            return self.http_get("/metrics")
        except OSError:
            return ""

    def http_get(self, path, timeout=2):
        """A page of the metrics port (/metrics, /status, /status.json) as text."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=timeout) as r:
            return r.read().decode()

    def metric(self, name):
        """The value of an unlabelled metric from /metrics, or None."""
        for line in self.metrics_text().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def waiting(self):
        return self.metric("docgate_wait_visible_waiters") or 0

    def output(self):
        return Path(self.log.name).read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        self.stopped = True
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture
def start_docgate(docgate_bin):
    started = []

    def start(database_url, *args, env=None):
        d = Docgate(docgate_bin, database_url, *args, env=env)
        started.append(d)
        return d

    yield start
    for d in started:
        if not d.stopped and d.proc.poll() is not None:
            # It ended by itself (a crash, a sanitizer's report): what it said goes
            # into the test's report before its log is removed.
            print(f"docgate (pid {d.proc.pid}) exited with code {d.proc.returncode} during the test; "
                  f"its output:\n{d.output()[-8000:]}")
        d.stop()
        os.unlink(d.log.name)


@pytest.fixture
def own_cluster():
    """A PostgreSQL cluster of this test's own, which it may stop and start."""
    folder = tempfile.mkdtemp(prefix="docgate-pg-")
    os.chmod(folder, 0o755)
    script = str(ROOT / "scripts" / "pg-cluster")

    class Cluster:
        def start(self, tls=False):
            # Made on the first start; with `tls`, TLS is on from then on.
            env = {**os.environ, "PG_CLUSTER_SSL": "1" if tls else "0"}
            out = subprocess.run([script, "start", folder], check=True, capture_output=True, text=True,
                                 env=env).stdout
            return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

        def stop(self):
            subprocess.run([script, "stop", folder, "--immediate"], check=True)

        def processes(self):
            """The postmaster's pid and its children's (every backend and helper)."""
            with open(os.path.join(folder, "data", "postmaster.pid")) as f:
                postmaster = int(f.readline())
            children = []
            for entry in os.listdir("/proc"):
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        # pid (comm) state ppid ...: comm may hold spaces, so split after it.
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == postmaster:
                            children.append(int(entry))
                except (ValueError, IndexError, OSError):
                    continue  # not a process, or gone meanwhile
            return [postmaster, *children]

        @contextlib.contextmanager
        def frozen(self):
            """PostgreSQL stopped dead (SIGSTOP on the postmaster and its children) for
            the block: connections stay open, nothing answers."""
            pids = self.processes()
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            try:
                yield
            finally:
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)

    cluster = Cluster()
    yield cluster
    subprocess.run([script, "stop", folder, "--immediate"], check=False)
    subprocess.run(["rm", "-rf", folder], check=False)
