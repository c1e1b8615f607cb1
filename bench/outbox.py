#!/usr/bin/python3
"""The outbox: how soon a task reaches the broker after its commit, and what
enqueueing costs a create.

  1. commit -> broker with the in-process wake: sequential creates with one task
     each; the time from sending CreateDocument to the task being popped from
     Redis, next to the create's own latency (p50/p99).
  2. a task its own instance cannot deliver: an instance whose broker is
     unreachable commits tasks (and is then SIGKILLed); the others' polls
     (--outbox-poll-interval 1s, two instances) deliver them. Time from each
     create's reply to its task popped (p50/p99).
  3. create throughput, 64 calls in flight (bench/loadgen, 1 KiB bodies), without
     tasks and with one task each (the same run, alternating; nothing pops Redis
     meanwhile), the ratio of the medians, and CPU per create of docgate,
     PostgreSQL and redis-server.
  4. Redis down for --outage-seconds under creates with a task at full rate: the
     backlog, and how fast it drains once Redis is back; then the outbox's live and
     dead rows once its partitions have turned over.

    scripts/dev build && bench/outbox.py [--seconds 5] [--latency-creates 1000]

Everything runs on loopback: its own durable PostgreSQL, redis-server and docgate
processes.
"""
import argparse
import json
import statistics
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import free_port, terminate, wait_for  # noqa: E402

import grpc  # noqa: E402
import redis as redis_py  # noqa: E402
from docgate._pb import docgate_pb2, docgate_pb2_grpc  # noqa: E402  (the client package's stubs)

QUEUE = "bench"


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] * 1000 if values else float("nan")


class Instance:
    def __init__(self, binary, database_url, broker_url, *extra):
        self.broker_port = int(broker_url.rsplit(":", 1)[1].split("/")[0])
        self.port = free_port()
        env = {"DATABASE_URL": database_url, "PATH": os.environ.get("PATH", "")}
        self.proc = subprocess.Popen(
            [binary, f"--listen=127.0.0.1:{self.port}", "--metrics-listen=", f"--broker-url={broker_url}",
             "--log-level=error", *extra], env=env, stderr=subprocess.DEVNULL)
        self.stub = docgate_pb2_grpc.DocumentServiceStub(grpc.insecure_channel(f"127.0.0.1:{self.port}"))

        def serving():
            try:
                self.stub.ListDocuments(docgate_pb2.ListDocumentsRequest(page_size=1), timeout=1)
                return True
            except grpc.RpcError:
                return False
        wait_for(serving, 30, "docgate serving")


def request(with_task):
    doc_id = str(uuid.uuid4())
    tasks = [docgate_pb2.CeleryTask(task="bench.task", queue=QUEUE, args_json=f'["{doc_id}"]')] if with_task else []
    return docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(id=doc_id, name="bench"), enqueue=tasks)


class Popper:
    """Pops the bench queue and records when each task id arrived."""

    def __init__(self, port):
        import json
        self.arrived = {}
        self._redis = redis_py.Redis(port=port)
        self._stop = threading.Event()

        def run():
            while not self._stop.is_set():
                item = self._redis.brpop(QUEUE, timeout=0.2)
                if item:
                    self.arrived[json.loads(item[1])["headers"]["id"]] = time.monotonic()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def close(self):
        self._stop.set()
        self._thread.join()


def latency_in_process(instance, popper, n):
    sent, took = {}, []
    for _ in range(n):
        started = time.monotonic()
        reply = instance.stub.CreateDocument(request(True), timeout=10)
        took.append(time.monotonic() - started)
        sent[reply.task_ids[0]] = started
    wait_for(lambda: all(t in popper.arrived for t in sent), 30, "every task in Redis")
    return [popper.arrived[t] - s for t, s in sent.items()], took


def left_by_a_killed_instance(binary, database_url, redis_port, popper, n):
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens: this instance cannot deliver
    doomed = Instance(binary, database_url, dead_broker)
    committed = {}
    for _ in range(n):
        reply = doomed.stub.CreateDocument(request(True), timeout=10)
        committed[reply.task_ids[0]] = time.monotonic()
    doomed.proc.send_signal(signal.SIGKILL)
    doomed.proc.wait()
    wait_for(lambda: all(t in popper.arrived for t in committed), 30, "the killed instance's tasks in Redis")
    return [popper.arrived[t] - at for t, at in committed.items()]


def throughput(loadgen, instance, seconds, with_task, cpu, in_flight=64):
    """Creates/s with `in_flight` calls open (bench/loadgen: 1 KiB bodies), and CPU µs per create."""
    cmd = [loadgen, "--target", "docgate", "--addr", f"127.0.0.1:{instance.port}", "--scenario", "create",
           "--concurrency", str(in_flight), "--duration", str(seconds), "--warmup", "1"]
    cmd += ["--enqueue", QUEUE] if with_task else []
    for name, pid in cpu.items():
        cmd += ["--cpu", f"{name}:{pid}:tree" if name == "postgres" else f"{name}:{pid}"]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    if out["errors"]:
        raise SystemExit(f"creates failed: {out['errors']}")
    return out


def answers(port):
    try:
        return redis_py.Redis(port=port, socket_timeout=1).ping()
    except redis_py.RedisError:
        return False


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atc", sql], check=True, capture_output=True, text=True).stdout.strip()


def waiting(url):
    return int(psql(url, "SELECT count(*) FROM docgate_waiting_tasks"))


def outbox_rows(url):
    """Live and dead rows in the outbox's partitions, as PostgreSQL counts them (and the live ones by a scan)."""
    stats = psql(url, "SELECT coalesce(sum(n_live_tup), 0), coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables"
                      " WHERE relname LIKE 'docgate_tasks_%'").split("|")
    return int(psql(url, "SELECT count(*) FROM docgate_tasks")), int(stats[1])


def redis_port_of(instance):
    return instance.broker_port


def outage_drain(loadgen, instance, redis_restart, url, seconds):
    """Creates with a task at full rate for `seconds` with Redis down, then Redis back:
    the backlog, and how fast it drains."""
    load = subprocess.Popen([loadgen, "--target", "docgate", "--addr", f"127.0.0.1:{instance.port}", "--scenario",
                             "create", "--concurrency", "64", "--duration", str(seconds), "--warmup", "0",
                             "--enqueue", QUEUE], stdout=subprocess.PIPE, text=True)
    redis_restart(stop=True)
    out, _ = load.communicate(timeout=seconds + 120)
    result = json.loads(out)
    if result["errors"]:
        raise SystemExit(f"creates failed while Redis was down: {result['errors']}")
    backlog = waiting(url)
    redis_restart(stop=False)
    back = time.monotonic()
    # The relay retries on its backoff (up to 5 s): the drain counts from its first push.
    wait_for(lambda: redis_py.Redis(port=redis_port_of(instance)).llen(QUEUE) > 0, 30, "the first task delivered")
    first = time.monotonic()
    wait_for(lambda: waiting(url) == 0, 300, "the backlog drained")
    return result["ok"], backlog, first - back, time.monotonic() - first


def postmaster_pid(folder):
    with open(Path(folder) / "data" / "postmaster.pid") as f:
        return int(f.readline())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5, help="each throughput run")
    parser.add_argument("--runs", type=int, default=3, help="throughput runs of each kind, alternating")
    parser.add_argument("--latency-creates", type=int, default=1000)
    parser.add_argument("--left-tasks", type=int, default=200)
    parser.add_argument("--outage-seconds", type=float, default=60, help="Redis down under full create load")
    parser.add_argument("--smoke", action="store_true", help="tiny numbers: does it run")
    parser.add_argument("--binary", default=str(ROOT / "build" / "server" / "docgate"))
    parser.add_argument("--loadgen", default=str(ROOT / "build" / "bench" / "loadgen"))
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.runs, args.latency_creates, args.left_tasks, args.outage_seconds = 1, 1, 50, 20, 2

    folder = tempfile.mkdtemp(prefix="docgate-bench-pg-")
    os.chmod(folder, 0o755)
    redis_dir = tempfile.mkdtemp(prefix="docgate-bench-redis-")
    cluster = ROOT / "scripts" / "pg-cluster"
    redis_port = free_port()
    redis_cmd = [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(redis_port),
                 "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", redis_dir]
    redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)

    def redis_restart(stop):
        nonlocal redis
        if stop:
            terminate(redis)
        else:
            redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
            wait_for(lambda: answers(redis_port), 20, "redis-server back")

    instances, popper = [], None
    try:
        env_lines = subprocess.run([str(cluster), "start", folder], check=True, capture_output=True, text=True,
                                   env={**os.environ, "PG_CLUSTER_DURABLE": "1"}).stdout
        database_url = dict(line.split("=", 1) for line in env_lines.splitlines())["DOCGATE_TEST_DATABASE_URL"]
        broker = f"redis://127.0.0.1:{redis_port}/0"
        wait_for(lambda: answers(redis_port), 20, "redis-server")
        popper = Popper(redis_port)
        main_instance = Instance(args.binary, database_url, broker)
        poller = Instance(args.binary, database_url, broker, "--outbox-poll-interval=1s")
        instances = [main_instance, poller]

        in_process, create_only = latency_in_process(main_instance, popper, args.latency_creates)
        left = left_by_a_killed_instance(args.binary, database_url, redis_port, popper, args.left_tasks)
        # Nothing pops while creates are counted (a consumer's work is not the
        # relay's): the tasks pile up on the list, emptied after each run.
        popper.close()
        popper = None
        cpu = {"docgate": main_instance.proc.pid, "postgres": postmaster_pid(folder), "redis": redis.pid}
        plain, tasked = [], []
        for _ in range(args.runs):
            plain.append(throughput(args.loadgen, main_instance, args.seconds, False, cpu))
            tasked.append(throughput(args.loadgen, main_instance, args.seconds, True, cpu))
            redis_py.Redis(port=redis_port).delete(QUEUE)
        during, backlog, reconnected_in, drained_in = outage_drain(args.loadgen, main_instance, redis_restart, database_url,
                                                   args.outage_seconds)
        redis_py.Redis(port=redis_port).delete(QUEUE)
        wait_for(lambda: outbox_rows(database_url)[0] <= backlog // 2 + 1000, 30, "the outage's partition truncated")
        live, dead = outbox_rows(database_url)

        print(f"create alone (1 client)               p50 {percentile(create_only, 50):.2f} ms"
              f"  p99 {percentile(create_only, 99):.2f} ms  ({len(create_only)} creates)")
        print(f"create sent -> task in Redis          p50 {percentile(in_process, 50):.2f} ms"
              f"  p99 {percentile(in_process, 99):.2f} ms  (in-process wake)")
        print(f"left by its instance -> in Redis      p50 {percentile(left, 50):.0f} ms"
              f"  p99 {percentile(left, 99):.0f} ms  ({len(left)} tasks; others poll every 1 s)")
        for label, runs in (("no task ", plain), ("one task", tasked)):
            rates = " / ".join(f"{r['throughput']:.0f}" for r in runs)
            cpu_text = ", ".join(f"{k} {v:.0f}" for k, v in sorted(runs[-1]["cpu_us_per_op"].items()))
            print(f"creates/s, 64 in flight, {label}     {rates}  (CPU µs per create, last run: {cpu_text})")
        median = lambda runs: statistics.median(r["throughput"] for r in runs)  # noqa: E731
        print(f"with a task / without (medians)       {median(tasked) / median(plain):.2f}")
        print(f"Redis down {args.outage_seconds:.0f} s under load         {during} creates acknowledged, backlog"
              f" {backlog}; first push {reconnected_in:.2f} s after Redis was back (the relay's backoff),"
              f" drained in {drained_in:.2f} s from then ({backlog / max(drained_in, 1e-3):.0f} tasks/s)")
        print(f"outbox rows after the run             {live} live, {dead} dead (docgate_tasks_0 and _1)")
    finally:
        if popper is not None:
            popper.close()
        for i in instances:
            terminate(i.proc)
        terminate(redis)
        subprocess.run([str(cluster), "stop", folder, "--immediate"], check=False)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(redis_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
