"""The --config file (#21): reloaded on SIGHUP and when it changes, under load, with
no failed call; PostgreSQL sees the new pool size at once; a file that fails
validation changes nothing."""
import json
import re
import signal
import subprocess
import threading
import time
import uuid

import grpc

from docgate._pb import docgate_pb2
from docgate_harness import wait_for, workers

THREADS = 8


def pool_config(size, acquire="5s", statement="30s", level="info"):
    # min_idle = max: the pool holds exactly `size` connections, whatever the load.
    return {"pool": {"max": size, "min_idle": size}, "acquire_timeout": acquire, "statement_timeout": statement,
            "log_level": level}


def connections(database_url, application_name):
    """docgate's sessions as PostgreSQL lists them."""
    out = subprocess.run(["psql", database_url, "-Atc",
                          f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{application_name}'"],
                         check=True, capture_output=True, text=True).stdout
    return int(out)


def reloads(dg, result):
    m = re.search(rf'^docgate_config_reloads_total\{{result="{result}"\}} (\S+)$', dg.metrics_text(), re.M)
    return float(m.group(1)) if m else 0


def named_url(database_url, name):
    return database_url + ("&" if "?" in database_url else "?") + f"application_name={name}"


class SteadyLoad:
    """THREADS clients creating and reading documents back until stopped; every
    failed call is kept."""

    def __init__(self, stub):
        self.stub, self.calls, self.failures = stub, 0, []
        self.stop, self.lock = threading.Event(), threading.Lock()

    def run(self, _):
        while not self.stop.is_set():
            try:
                doc = self.stub.CreateDocument(docgate_pb2.CreateDocumentRequest(
                    document=docgate_pb2.Document(id=str(uuid.uuid4()), name="reload")), timeout=10).document
                self.stub.GetDocument(docgate_pb2.GetDocumentRequest(id=doc.id), timeout=10)
                with self.lock:
                    self.calls += 2
            except grpc.RpcError as e:
                with self.lock:
                    self.failures.append(f"{e.code().name}: {e.details()}")


def test_twenty_reloads_under_load_fail_no_call_and_postgres_sees_each_pool_size(
        start_docgate, database_url, tmp_path):
    name = f"docgate-reload-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "docgate.json"
    config.write_text(json.dumps(pool_config(16)))
    dg = start_docgate(named_url(database_url, name), f"--config={config}", "--credentials-reload-interval=1h")
    wait_for(lambda: dg.health() == "SERVING", 30, what="docgate serving")
    # The pool's connections, and at most the visibility watcher's own.
    wait_for(lambda: connections(database_url, name) in (16, 17), 10, what="16 connections")
    load = SteadyLoad(dg.stub())
    slowest = 0.0
    with workers(load.run, THREADS, load.stop):
        wait_for(lambda: load.calls > 100, 30, what="load running")
        for i in range(20):
            size = 4 if i % 2 == 0 else 16
            config.write_text(json.dumps(pool_config(size, acquire=f"{4 + i % 2}s", statement=f"{20 + i}s",
                                                     level="warn" if i % 2 == 0 else "info")))
            asked = time.monotonic()
            dg.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: connections(database_url, name) in (size, size + 1), 2,
                     what=f"PostgreSQL to see {size} connections after reload {i + 1}")
            slowest = max(slowest, time.monotonic() - asked)
            wait_for(lambda: reloads(dg, "applied") == i + 1, 5, what=f"reload {i + 1} counted")
        calls_before_invalid = load.calls
        # A file that fails validation: refused whole, the running configuration stays.
        config.write_text(json.dumps({**pool_config(2), "pool": {"max": 0}}))
        dg.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: reloads(dg, "invalid") == 1, 5, what="the invalid file counted")
        wait_for(lambda: load.calls > calls_before_invalid + 50, 30, what="load going on")
        assert connections(database_url, name) in (16, 17)
    assert load.failures == [], load.failures[:5]
    assert "pool.max: must be at least 1" in dg.output()
    assert "the configuration in effect stays" in dg.output()
    assert reloads(dg, "applied") == 20
    assert dg.proc.poll() is None
    print(f"{load.calls} calls, none failed; PostgreSQL saw each new size within {slowest * 1000:.0f} ms")


def test_a_changed_file_is_reloaded_without_a_signal(start_docgate, database_url, tmp_path):
    name = f"docgate-watch-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "docgate.json"
    config.write_text(json.dumps(pool_config(3)))
    dg = start_docgate(named_url(database_url, name), f"--config={config}", "--credentials-reload-interval=1s")
    wait_for(lambda: dg.health() == "SERVING", 30, what="docgate serving")
    wait_for(lambda: connections(database_url, name) in (3, 4), 10, what="3 connections")
    config.write_text(json.dumps(pool_config(5)))
    wait_for(lambda: connections(database_url, name) in (5, 6), 5, what="5 connections after the file changed")
    assert reloads(dg, "applied") == 1
    assert re.search(r"^docgate_pool_max_connections 5$", dg.metrics_text(), re.M)


def test_an_invalid_config_file_stops_the_start_with_the_reason(docgate_bin, database_url, tmp_path):
    config = tmp_path / "docgate.json"
    config.write_text('{"pool": {"max": 4}, "admision": {}}')
    run = subprocess.run([docgate_bin, f"--config={config}"], env={"DATABASE_URL": database_url},
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    assert "admision" in run.stderr and str(config) in run.stderr
