"""docgate on a highly available PostgreSQL (#33): Patroni and etcd from Debian's
packages, two nodes on loopback in synchronous mode, driven through Patroni's REST
API. Two docgate instances: one reaches the primary through a libpq multi-host URL
(target_session_attrs=read-write), the other through one address that moves (a TCP
proxy the test repoints, as a Kubernetes Service or a virtual IP would). Under 16
writers (creates with a Celery task each), 8 readers with the writes' tokens (each
reading through the other instance) and a Celery worker draining the outbox, each
event (a planned switchover, a killed primary, the old primary rejoining) must
lose no acknowledged write and no task, and every answer must be true."""
import collections
import json
import random
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis as redis_py

import docgate
from docgate_harness import Docgate, redis_server, wait_for

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "celery"))
sys.path.insert(0, str(HERE.parent.parent / "fault"))
from celery_worker import celery_worker  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from patroni_cluster import DOCGATE_PASSWORD, PatroniCluster  # noqa: E402

WRITERS, READERS = 16, 8
# Outcomes that say "not done, try again": true whatever happened on the server.
RETRYABLE = (docgate.Unavailable, docgate.DeadlineExceeded)


class Load:
    """Writers and readers against two docgate instances, keeping every acknowledged
    write (id, token, task id, when) and every answer that was not true."""

    def __init__(self, instances):
        self.clients = [docgate.Client(f"127.0.0.1:{d.port}", timeout=5) for d in instances]
        self.acked = []  # (id, token, task id, monotonic time, instance)
        self.untrue = []
        self.retried = collections.Counter()
        # FAILED_PRECONDITION "cannot tell": a token of a create that found its row
        # (a position alone) past the switch point. True, and said so: counted.
        self.untellable = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(i,), daemon=True) for i in range(WRITERS)]
        self._threads += [threading.Thread(target=self._read, args=(i,), daemon=True) for i in range(READERS)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def acked_since(self, when):
        with self._lock:
            return [a for a in self.acked if a[3] >= when]

    def _write(self, i):
        client = self.clients[i % 2]
        while not self._stop.is_set():
            doc_id = str(uuid.uuid4())
            while not self._stop.is_set():  # the same id until acknowledged: creates are idempotent by id
                try:
                    created = client.create_document(f"ha-{doc_id}", id=doc_id, timeout=5,
                                                     enqueue=[docgate.CeleryTask("ha_e2e.index", args=[doc_id])])
                except RETRYABLE as e:
                    self.retried[type(e).__name__] += 1
                    time.sleep(0.05)
                    continue
                except docgate.DocgateError as e:
                    self.untrue.append(("create", doc_id, repr(e)))
                    break
                if not created.task_ids and created.created:
                    self.untrue.append(("create", doc_id, "created with no task id"))
                with self._lock:
                    # A retried create that finds its own earlier commit answers
                    # created=False with the same document: still acknowledged, and
                    # its task was written by that commit.
                    self.acked.append((doc_id, created.consistency_token,
                                       created.task_ids[0] if created.task_ids else None, time.monotonic(), i % 2))
                break

    def _read(self, i):
        rng = random.Random(i)
        while not self._stop.is_set():
            with self._lock:
                pick = self.acked[rng.randrange(len(self.acked))] if self.acked else None
            if pick is None:
                time.sleep(0.01)
                continue
            doc_id, token, _, _, written_through = pick
            try:
                doc = self.clients[1 - written_through].get_document(doc_id, consistency_token=token, timeout=5)
                if doc.id != doc_id:
                    self.untrue.append(("read", doc_id, f"answered {doc.id}"))
            except RETRYABLE as e:
                self.retried[type(e).__name__] += 1
                time.sleep(0.05)
            except docgate.FailedPrecondition as e:
                if "cannot tell" not in str(e):
                    self.untrue.append(("read", doc_id, repr(e)))
                self.untellable += 1
            except docgate.DocgateError as e:
                self.untrue.append(("read", doc_id, repr(e)))


@pytest.fixture(scope="module")
def ha(docgate_bin):
    with PatroniCluster(nodes=2, synchronous=True) as cluster, redis_server() as redis_url:
        # As the README asks: docgate may read timeline history files, which tell a
        # token's fate across a failover.
        cluster.leader().psql("GRANT EXECUTE ON FUNCTION pg_read_file(text) TO docgate", database="docgate")
        proxy = FaultProxy(cluster.leader().pg_port)
        moving_url = f"postgresql://docgate:{DOCGATE_PASSWORD}@127.0.0.1:{proxy.port}/docgate"
        args = ["--pool-max=8", f"--broker-url={redis_url}/0", "--outbox-poll-interval=50ms"]
        instances = [Docgate(docgate_bin, cluster.url, *args), Docgate(docgate_bin, moving_url, *args)]
        try:
            for d in instances:
                wait_for(lambda: d.health() == "SERVING", 60, what=f"docgate SERVING\n{d.output()[-2000:]}")
            env = {"CELERY_BROKER_URL": f"{redis_url}/0", "OBSERVED_URL": f"{redis_url}/2"}
            with celery_worker("ha_tasks", "ha", 4, env, folder=HERE) as (worker, worker_output):
                cluster.proxy, cluster.instances = proxy, instances
                cluster.observed = redis_py.Redis.from_url(f"{redis_url}/2")
                cluster.worker_output = worker_output
                yield cluster
        finally:
            for d in instances:
                d.stop()
            proxy.close()


def follow_leader(cluster, old, deadline_s):
    """Waits for a new leader (not `old`); repoints the moving address at it. Returns
    (leader, monotonic time it was first seen as the primary)."""
    leader = wait_for(lambda: (lambda n: n if n is not None and n is not old else None)(cluster.leader()),
                      deadline_s, interval=0.05, what="a new leader\n" + old.log_tail())
    seen = time.monotonic()
    cluster.proxy.repoint(leader.pg_port)
    return leader, seen


def primary_seen(d):
    return json.loads(d.http_get("/status.json"))["database"]["primary"]


def check_primary_shown(cluster, before, leader, event):
    """Both instances' status pages say the primary moved: a later timeline, one more
    move, and (through the multi-host URL) the new leader's address."""
    def moved():
        now = [primary_seen(d) for d in cluster.instances]
        return all(n["timeline"] > b["timeline"] and n["changes_total"] > b["changes_total"]
                   for n, b in zip(now, before)) and now
    now = wait_for(moved, 30, interval=0.2, what=f"{event}: the status pages showing the move")
    assert now[0]["address"] == f"127.0.0.1:{leader.pg_port}", (event, now[0])


def check_nothing_lost(cluster, load, event):
    """Every acknowledged write is on the primary now and its task ran; no answer was untrue."""
    assert load.untrue == [], f"{event}: untrue answers {load.untrue[:5]}"
    ids = [a[0] for a in load.acked]
    assert len(ids) > 100, f"{event}: only {len(ids)} writes acknowledged"
    present = set(cluster.leader().psql(
        "SELECT id FROM documents WHERE name LIKE 'ha-%'", database="docgate").split())
    lost = [i for i in ids if i not in present]
    assert lost == [], f"{event}: {len(lost)} acknowledged writes lost, e.g. {lost[:3]}"
    def not_run():
        return set(ids) - {d.decode() for d in cluster.observed.smembers("ran")}
    wait_for(lambda: not not_run(), 60, interval=0.5,
             what=f"{event}: every acknowledged write's task run (missing {len(not_run())})")


def report(event, load, promoted_at):
    after = load.acked_since(promoted_at)
    first = min(a[3] for a in after) - promoted_at if after else float("nan")
    print(f"\n{event}: {len(load.acked)} acknowledged, lost 0, untrue 0, tasks lost 0; first acknowledged write "
          f"{first * 1000:.0f} ms after the new primary was seen; retried {dict(load.retried)}; "
          f"tokens that could not be told {load.untellable}")
    return first


def test_a_planned_switchover_loses_nothing_and_answers_only_truth(ha):
    ha.wait_synchronous()
    old = ha.leader()
    target = next(n for n in ha.nodes if n is not old)
    before = [primary_seen(d) for d in ha.instances]
    with Load(ha.instances) as load:
        wait_for(lambda: len(load.acked) > 200, 30, what="writes flowing")
        ha.switchover(to=target)
        _, seen = follow_leader(ha, old, 30)
        wait_for(lambda: len(load.acked_since(seen)) > 200, 60, interval=0.05, what="writes after the switchover")
    check_nothing_lost(ha, load, "switchover")
    check_primary_shown(ha, before, target, "switchover")
    report("switchover", load, seen)


def test_a_killed_primary_is_replaced_with_nothing_lost(ha):
    ha.wait_synchronous()
    old = ha.leader()
    before = [primary_seen(d) for d in ha.instances]
    with Load(ha.instances) as load:
        wait_for(lambda: len(load.acked) > 200, 30, what="writes flowing")
        old.kill()
        new, seen = follow_leader(ha, old, 60)
        wait_for(lambda: len(load.acked_since(seen)) > 200, 60, interval=0.05, what="writes after the failover")
    check_nothing_lost(ha, load, "killed primary")
    check_primary_shown(ha, before, new, "killed primary")
    report("killed primary", load, seen)
    ha.killed = old


def test_the_old_primary_rejoins_as_a_standby_under_load(ha):
    old = ha.killed
    leader = ha.leader()
    with Load(ha.instances) as load:
        wait_for(lambda: len(load.acked) > 200, 30, what="writes flowing")
        started = time.monotonic()
        old.start()
        ha.wait_synchronous(timeout=120)
        rejoined = time.monotonic() - started
        wait_for(lambda: len(load.acked_since(time.monotonic() - 1)) > 50, 30, what="writes after the rejoin")
    assert ha.leader() is leader, "the rejoining node took the lead"
    check_nothing_lost(ha, load, "rejoin")
    print(f"\nrejoin: {old.name} back as the synchronous standby in {rejoined:.1f} s; {len(load.acked)} acknowledged")
