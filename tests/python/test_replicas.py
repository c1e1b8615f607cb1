"""Read replicas: consistency tokens hold across instances and a lagging replica.

The replica is real: pg_basebackup -R of a throwaway primary, streaming, with
recovery_min_apply_delay = 500ms so that its lag is something a test can see.
"""
import os
import re
import subprocess
import tempfile
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from docgate_harness import ROOT, wait_for

APPLY_DELAY = "500ms"
SCRIPT = str(ROOT / "scripts" / "pg-cluster")


def _env_of(output):
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


class Replicated:
    """A primary and one delayed streaming replica, each its own cluster."""

    def __init__(self, docgate_bin):
        self.folder = tempfile.mkdtemp(prefix="docgate-repl-")
        os.chmod(self.folder, 0o755)
        self.primary_dir = os.path.join(self.folder, "primary")
        self.replica_dir = os.path.join(self.folder, "replica")
        primary = _env_of(subprocess.run([SCRIPT, "start", self.primary_dir], check=True, capture_output=True,
                                         text=True).stdout)
        self.primary_url = primary["DOCGATE_TEST_DATABASE_URL"]
        # The schema exists before the copy, as in any deployment that adds a replica.
        subprocess.run([docgate_bin, "migrate"], check=True, capture_output=True,
                       env={**os.environ, "DATABASE_URL": self.primary_url})
        replica = _env_of(subprocess.run([SCRIPT, "replica", self.primary_dir, self.replica_dir, APPLY_DELAY],
                                         check=True, capture_output=True, text=True).stdout)
        self.replica_url = replica["DOCGATE_TEST_DATABASE_URL"]
        self.replica_admin_url = replica["DOCGATE_TEST_ADMIN_URL"]
        self.replica_port = replica["PGPORT"]

    def replica_sql(self, sql):
        subprocess.run(["psql", self.replica_admin_url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True,
                       capture_output=True)

    def stop_replica(self):
        subprocess.run([SCRIPT, "stop", self.replica_dir, "--immediate"], check=True)

    def start_replica(self):
        subprocess.run([SCRIPT, "start", self.replica_dir], check=True, capture_output=True)

    def close(self):
        for d in (self.replica_dir, self.primary_dir):
            subprocess.run([SCRIPT, "stop", d, "--immediate"], check=False)
        subprocess.run(["rm", "-rf", self.folder], check=False)


@pytest.fixture(scope="module")
def replicated(docgate_bin):
    r = Replicated(docgate_bin)
    yield r
    r.close()


def metric_samples(d, name):
    """{labels text: value} of every sample of `name` on d's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{d.metrics_port}/metrics", timeout=2) as reply:
        text = reply.read().decode()
    samples = {}
    for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        samples[m.group(1) or ""] = float(m.group(2))
    return samples


def start_with_replica(start_docgate, replicated, *extra):
    d = start_docgate(replicated.primary_url, f"--replica-url={replicated.replica_url}", "--replica-wait-max=3s",
                      *extra)
    wait_for(lambda: d.health() == "SERVING", 30, what="docgate serving")
    in_rotation = lambda: metric_samples(d, "docgate_replica_in_rotation").get(
        f'{{replica="127.0.0.1:{replicated.replica_port}"}}') == 1
    wait_for(in_rotation, 30, what="the replica in rotation")
    return d


def create(stub):
    from docgate._pb import docgate_pb2
    reply = stub.CreateDocument(docgate_pb2.CreateDocumentRequest(
        document=docgate_pb2.Document(id=str(uuid.uuid4()), name="replicated")), timeout=10)
    return reply.document.id, reply.consistency_token


def test_a_token_reads_its_write_from_a_lagging_replica(start_docgate, replicated):
    from docgate._pb import docgate_pb2
    d = start_with_replica(start_docgate, replicated)
    stub = d.stub()
    doc_id, token = create(stub)

    # The lag is real: a replica that may be stale does not have the document yet.
    with pytest.raises(grpc.RpcError) as stale:
        stub.GetDocument(docgate_pb2.GetDocumentRequest(id=doc_id, consistency=docgate_pb2.MINIMIZE_LATENCY),
                         timeout=10)
    assert stale.value.code() == grpc.StatusCode.NOT_FOUND

    # With the token the same read waits for the replica to replay the write.
    reply = stub.GetDocument(docgate_pb2.GetDocumentRequest(id=doc_id, consistency_token=token), timeout=10)
    assert reply.document.id == doc_id
    assert reply.served_by == f"replica:127.0.0.1:{replicated.replica_port}"

    other_id, other_token = create(stub)
    waited = stub.WaitVisible(docgate_pb2.WaitVisibleRequest(id=other_id, consistency_token=other_token),
                              timeout=10)
    assert waited.document.id == other_id
    assert waited.served_by.startswith("replica:")
    strong_wait = stub.WaitVisible(docgate_pb2.WaitVisibleRequest(id=other_id, consistency_token=other_token,
                                                                  consistency=docgate_pb2.STRONG), timeout=10)
    assert strong_wait.served_by == "primary"

    # The Python client passes the choice and says who answered.
    import docgate
    with docgate.Client(f"127.0.0.1:{d.port}") as client:
        third = client.create_document("through the client")
        read = client.get_document(third.document.id, consistency_token=third.consistency_token)
        assert read.served_by.startswith("replica:")
        with pytest.raises(docgate.InvalidArgument):
            client.get_document(third.document.id, consistency=docgate.Consistency.AT_LEAST_AS_FRESH)

    # STRONG, or no token at all, reads the primary.
    strong = stub.GetDocument(docgate_pb2.GetDocumentRequest(id=doc_id, consistency=docgate_pb2.STRONG), timeout=10)
    assert strong.served_by == "primary"

    reads = metric_samples(d, "docgate_reads_total")
    # The token reads and WaitVisible; the stale miss served nothing.
    assert reads[f'{{source="replica:127.0.0.1:{replicated.replica_port}"}}'] == 3
    assert reads['{source="primary"}'] >= 1
    assert f'{{replica="127.0.0.1:{replicated.replica_port}"}}' in metric_samples(d, "docgate_replica_replay_lag_bytes")


def test_at_least_as_fresh_needs_a_token(start_docgate, replicated):
    from docgate._pb import docgate_pb2
    d = start_with_replica(start_docgate, replicated)
    with pytest.raises(grpc.RpcError) as err:
        d.stub().GetDocument(docgate_pb2.GetDocumentRequest(id=str(uuid.uuid4()),
                                                            consistency=docgate_pb2.AT_LEAST_AS_FRESH), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "consistency_token" in err.value.details()


def test_reads_with_tokens_survive_a_stopped_replica_and_use_it_again(start_docgate, replicated):
    from docgate._pb import docgate_pb2
    d = start_with_replica(start_docgate, replicated)
    stub = d.stub()
    replicated.stop_replica()
    try:
        for _ in range(20):  # the first may find the replica gone mid-read: the primary answers
            doc_id, token = create(stub)
            reply = stub.GetDocument(docgate_pb2.GetDocumentRequest(id=doc_id, consistency_token=token), timeout=10)
            assert reply.document.id == doc_id
        assert reply.served_by == "primary"
        wait_for(lambda: metric_samples(d, "docgate_replica_in_rotation")[
            f'{{replica="127.0.0.1:{replicated.replica_port}"}}'] == 0, 5, what="the gauge showing the replica out")
        fallbacks = metric_samples(d, "docgate_replica_fallbacks_total")
        assert sum(fallbacks.values()) >= 20
    finally:
        replicated.start_replica()

    def served_by_replica():
        doc_id, token = create(stub)
        reply = stub.GetDocument(docgate_pb2.GetDocumentRequest(id=doc_id, consistency_token=token), timeout=10)
        return reply.served_by.startswith("replica:")
    wait_for(served_by_replica, 30, interval=0.2, what="reads served by the restarted replica")


def test_a_replica_that_falls_too_far_behind_leaves_rotation_and_returns(start_docgate, replicated):
    from docgate._pb import docgate_pb2
    d = start_with_replica(start_docgate, replicated, "--max-replica-lag-bytes=4096")
    stub = d.stub()
    label = f'{{replica="127.0.0.1:{replicated.replica_port}"}}'
    replicated.replica_sql("SELECT pg_wal_replay_pause()")
    try:
        # Writes the paused replica cannot replay: its lag passes 4 KiB of WAL.
        for _ in range(20):
            doc_id, token = create(stub)
        wait_for(lambda: metric_samples(d, "docgate_replica_in_rotation")[label] == 0, 10,
                 what="the lagging replica out of rotation")
        assert metric_samples(d, "docgate_replica_replay_lag_bytes")[label] > 4096
        # Reads that may be stale go to the primary too: a replica this far behind is not used.
        reply = stub.GetDocument(docgate_pb2.GetDocumentRequest(id=doc_id, consistency=docgate_pb2.MINIMIZE_LATENCY),
                                 timeout=10)
        assert reply.served_by == "primary"
        reply = stub.GetDocument(docgate_pb2.GetDocumentRequest(id=doc_id, consistency_token=token), timeout=10)
        assert reply.served_by == "primary"
    finally:
        replicated.replica_sql("SELECT pg_wal_replay_resume()")
    wait_for(lambda: metric_samples(d, "docgate_replica_in_rotation")[label] == 1, 10,
             what="the replica back in rotation once it caught up")
    reply = stub.GetDocument(docgate_pb2.GetDocumentRequest(id=doc_id, consistency_token=token), timeout=10)
    assert reply.served_by.startswith("replica:")


def test_a_thousand_create_then_read_sequences_across_two_instances_never_miss(start_docgate, replicated):
    from docgate._pb import docgate_pb2
    writer = start_with_replica(start_docgate, replicated).stub()
    reader = start_with_replica(start_docgate, replicated).stub()

    def sequence(_):
        doc_id, token = create(writer)
        try:
            reply = reader.GetDocument(docgate_pb2.GetDocumentRequest(id=doc_id, consistency_token=token), timeout=10)
        except grpc.RpcError as e:
            return e.code().name
        assert reply.document.id == doc_id
        return reply.served_by.split(":")[0]

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(sequence, range(1000)))
    misses = [o for o in outcomes if o not in ("replica", "primary")]
    assert misses == []
    # The replica lags 500 ms and reads wait up to 3 s for it: it serves them.
    assert outcomes.count("replica") > 900, {o: outcomes.count(o) for o in set(outcomes)}


def test_an_old_primary_back_on_the_old_timeline_serves_no_read(start_docgate, docgate_bin):
    """#33: roles change at a failover. docgate's URL names both nodes (the standby
    first; libpq keeps the one that takes writes) and --replica-url names the first
    primary. The primary stops, the standby is promoted (timeline 2, and docgate may
    not read its history: no grant), and the old primary starts again on its own,
    unrewound: a server on timeline 1 whose WAL runs on past the switch point. Its
    position says nothing of timeline 2's tokens: it serves no read, and reads are
    the new primary's."""
    from docgate._pb import docgate_pb2
    r = Replicated(docgate_bin)
    try:
        old_host = re.search(r"@([^/?]+)", r.primary_url)[1]
        both = r.primary_url.replace(old_host, f"127.0.0.1:{r.replica_port},{old_host}")
        both += ("&" if "?" in both else "?") + "target_session_attrs=read-write"
        d = start_docgate(both, f"--replica-url={r.primary_url}", "--replica-wait-max=1s")
        wait_for(lambda: d.health() == "SERVING", 30, what="docgate serving")
        label = f'{{replica="{old_host}"}}'
        wait_for(lambda: metric_samples(d, "docgate_replica_in_rotation").get(label) == 1, 30,
                 what="the primary, as --replica-url, in rotation")
        stub = d.stub()
        subprocess.run([SCRIPT, "stop", r.primary_dir, "--immediate"], check=True, capture_output=True)
        r.replica_sql("SELECT pg_promote()")

        def created():
            try:
                return create(stub)
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.UNAVAILABLE, e
                return None
        wait_for(created, 60, interval=0.2, what="writes on the promoted standby")
        subprocess.run([SCRIPT, "start", r.primary_dir], check=True, capture_output=True)
        # WAL of timeline 1 well past anything timeline 2 has written yet.
        subprocess.run(["psql", r.primary_url, "-qAtc", "CREATE TABLE old_timeline_filler AS"
                        " SELECT repeat('x', 1000) AS x FROM generate_series(1, 5000)"], check=True,
                       capture_output=True)
        wait_for(lambda: "is on timeline 1, before the primary's 2" in d.output(), 30,
                 what="the old primary answering, and found on the old timeline")
        assert metric_samples(d, "docgate_replica_in_rotation").get(label) == 0
        doc_id, token = create(stub)
        for consistency in (docgate_pb2.CONSISTENCY_UNSPECIFIED, docgate_pb2.MINIMIZE_LATENCY):
            reply = stub.GetDocument(docgate_pb2.GetDocumentRequest(id=doc_id, consistency_token=token,
                                                                    consistency=consistency), timeout=10)
            assert reply.document.id == doc_id and reply.served_by == "primary", reply
    finally:
        r.close()
