#!/usr/bin/python3
"""WaitVisible at scale: N concurrent waiters on instance A, then their creates,
half through A (woken in process) and half through B (woken by A's watcher).

Prints docgate A's RSS and threads before and during the wait, the wake latency
after commit (from CreateDocument's reply to the waiter's reply; p50/p99, same
and cross instance), and the database queries per second spent on waiting with
few and with N waiters (pg_stat_database transactions while only waiters exist).

    scripts/dev build && bench/wait_visible.py [--waiters 10000] [--tick 5ms]

Everything runs on loopback: its own throwaway PostgreSQL and two docgate processes.
"""
import argparse
import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import free_port, wait_for  # noqa: E402

import grpc  # noqa: E402
from docgate._pb import docgate_pb2, docgate_pb2_grpc  # noqa: E402  (the client package's stubs)


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Instance:
    def __init__(self, name, binary, database_url, tick):
        self.name = name
        self.port, self.metrics_port = free_port(), free_port()
        env = {"DATABASE_URL": database_url, "PATH": os.environ.get("PATH", "")}
        self.proc = subprocess.Popen(
            [binary, f"--listen=127.0.0.1:{self.port}", f"--metrics-listen=127.0.0.1:{self.metrics_port}",
             f"--visibility-tick={tick}", "--max-wait=120s", "--log-level=warn"],
            env=env, stderr=subprocess.DEVNULL)
        options = [("grpc.max_receive_message_length", 64 << 20)]
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=options)
        self.stub = docgate_pb2_grpc.DocumentServiceStub(self.channel)

    def metric(self, name):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith(name + " "):
                        return float(line.split()[1])
        except OSError:
            return None
        return None

    def stop(self):
        self.channel.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def transactions(admin_url):
    out = subprocess.run(["psql", admin_url, "-Atc",
                          "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'docgate'"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip())


def queries_per_second(admin_url, seconds=3.0):
    # Each watcher check is one autocommit transaction; the psql probes add one each.
    before = transactions(admin_url)
    time.sleep(seconds)  # a measurement window, not a wait for state
    return (transactions(admin_url) - before - 1) / seconds


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waiters", type=int, default=10000)
    parser.add_argument("--tick", default="5ms")
    parser.add_argument("--binary", default=str(ROOT / "build" / "server" / "docgate"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop what we started

    folder = tempfile.mkdtemp(prefix="docgate-bench-")
    os.chmod(folder, 0o755)
    cluster = ROOT / "scripts" / "pg-cluster"
    env_lines = subprocess.run([str(cluster), "start", folder], check=True, capture_output=True, text=True).stdout
    urls = dict(line.split("=", 1) for line in env_lines.splitlines())
    a = b = None
    try:
        a = Instance("A", args.binary, urls["DOCGATE_TEST_DATABASE_URL"], args.tick)
        b = Instance("B", args.binary, urls["DOCGATE_TEST_DATABASE_URL"], args.tick)
        # docgate serves metrics before it listens for gRPC: wait for the gRPC port itself.
        for inst in (a, b):
            try:
                grpc.channel_ready_future(inst.channel).result(timeout=30)
            except grpc.FutureTimeoutError:
                raise SystemExit(f"timed out waiting for docgate {inst.name} to listen")
        # Warm both pools and the schema.
        for inst in (a, b):
            inst.stub.CreateDocument(docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(name="warm")),
                                     timeout=30)

        rss_before, threads_before = proc_status(a.proc.pid, "VmRSS"), proc_status(a.proc.pid, "Threads")

        def start_waiters(n):
            ids = [str(uuid.uuid4()) for _ in range(n)]
            woken = {}
            lock = threading.Lock()
            futures = []
            for i in ids:
                f = a.stub.WaitVisible.future(docgate_pb2.WaitVisibleRequest(id=i), timeout=120)

                def done(fut, doc_id=i):
                    at = time.perf_counter()
                    with lock:
                        woken[doc_id] = (at, fut.code())
                f.add_done_callback(done)
                futures.append(f)
            return ids, futures, woken

        few_ids, few_futures, _ = start_waiters(10)
        wait_for(lambda: a.metric("docgate_wait_visible_waiters") == 10, 30, "10 waiters")
        qps_few = queries_per_second(urls["DOCGATE_TEST_ADMIN_URL"])
        for f in few_futures:
            f.cancel()
        wait_for(lambda: a.metric("docgate_wait_visible_waiters") == 0, 30, "no waiters")

        ids, futures, woken = start_waiters(args.waiters)
        wait_for(lambda: a.metric("docgate_wait_visible_waiters") == args.waiters, 120, f"{args.waiters} waiters")
        rss_during, threads_during = proc_status(a.proc.pid, "VmRSS"), proc_status(a.proc.pid, "Threads")
        qps_many = queries_per_second(urls["DOCGATE_TEST_ADMIN_URL"])

        committed = {}

        def create(index_and_id):
            index, doc_id = index_and_id
            inst = a if index % 2 == 0 else b
            inst.stub.CreateDocument(docgate_pb2.CreateDocumentRequest(
                document=docgate_pb2.Document(id=doc_id, name="bench")), timeout=60)
            committed[doc_id] = time.perf_counter()

        checks_before = (a.metric("docgate_visibility_check_seconds_count") or 0,
                         a.metric("docgate_visibility_check_seconds_sum") or 0)
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(create, enumerate(ids)))
        wait_for(lambda: len(woken) == len(ids), 120, "every waiter to return")
        elapsed = time.perf_counter() - started
        checks = (a.metric("docgate_visibility_check_seconds_count") or 0) - checks_before[0]
        check_seconds = (a.metric("docgate_visibility_check_seconds_sum") or 0) - checks_before[1]

        failures = sum(1 for _, code in woken.values() if code != grpc.StatusCode.OK)
        same = [(woken[i][0] - committed[i]) * 1000 for n, i in enumerate(ids) if n % 2 == 0]
        cross = [(woken[i][0] - committed[i]) * 1000 for n, i in enumerate(ids) if n % 2 == 1]
        print(f"waiters                      {args.waiters} (tick {args.tick})")
        print(f"docgate A RSS before/during  {rss_before / 1024:.1f} MiB / {rss_during / 1024:.1f} MiB"
              f"  ({(rss_during - rss_before) * 1024 / args.waiters:.0f} bytes per waiter)")
        print(f"docgate A threads before/during {threads_before} / {threads_during}")
        print(f"failed waits                 {failures}")
        print(f"creates + wake-ups           {len(ids)} in {elapsed:.2f} s")
        print(f"wake latency same instance   p50 {percentile(same, 50):.2f} ms  p90 {percentile(same, 90):.2f} ms"
              f"  p99 {percentile(same, 99):.2f} ms")
        print(f"wake latency cross instance  p50 {percentile(cross, 50):.2f} ms  p90 {percentile(cross, 90):.2f} ms"
              f"  p99 {percentile(cross, 99):.2f} ms")
        print(f"A's watcher during the burst {checks:.0f} checks, {check_seconds * 1000 / max(checks, 1):.1f} ms each"
              f" on average ({check_seconds / max(elapsed, 1e-9) * 100:.0f}% of the time)")
        print(f"waiting queries per second   {qps_few:.0f} with 10 waiters, {qps_many:.0f} with {args.waiters}"
              f"  (ratio {qps_many / max(qps_few, 1):.2f})")
        return 1 if failures else 0
    finally:
        for inst in (a, b):
            if inst is not None:
                inst.stop()
        subprocess.run([str(cluster), "stop", folder, "--immediate"], check=False)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
