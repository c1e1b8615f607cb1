"""Tokens across timelines (#33): a failover to an asynchronous standby that had not
received the newest commits. The primary acknowledges creates while its standby's WAL
receiver is frozen (SIGSTOP), is killed, and the standby is promoted: the writes it
never received are lost, as asynchronous replication allows. Each acknowledged write's
token must then be answered truly through docgate: the document (the write survived)
or DATA_LOSS (it did not, and the primary indeed lacks it), never NOT_FOUND or
INVALID_ARGUMENT; WaitVisible answers DATA_LOSS at once instead of waiting."""
import os
import signal
import time
import uuid

import pytest

import docgate
from docgate_harness import Docgate, wait_for
from patroni_cluster import PatroniCluster

BODY = 96 * 1024  # random bytes: 300 of them outgrow what loopback sockets buffer
WRITES = 300


def walreceiver_pid(standby):
    pid = standby.psql("SELECT pid FROM pg_stat_wal_receiver")
    return int(pid) if pid else None


@pytest.fixture(scope="module")
def async_ha(docgate_bin):
    with PatroniCluster(nodes=2, synchronous=False) as cluster:
        # What the README asks of an HA install: docgate may read timeline history files.
        cluster.leader().psql("GRANT EXECUTE ON FUNCTION pg_read_file(text) TO docgate", database="docgate")
        dg = Docgate(docgate_bin, cluster.url, "--pool-max=4")
        try:
            wait_for(lambda: dg.health() == "SERVING", 60, what=f"docgate SERVING\n{dg.output()[-2000:]}")
            yield cluster, dg
        finally:
            dg.stop()


def test_a_write_lost_in_an_asynchronous_failover_is_answered_data_loss(async_ha):
    cluster, dg = async_ha
    client = docgate.Client(f"127.0.0.1:{dg.port}", timeout=10)
    old = cluster.leader()
    standby = next(n for n in cluster.nodes if n is not old)
    kept = client.create_document("async-kept", id=str(uuid.uuid4()))
    at = old.psql("SELECT pg_current_wal_lsn()")
    wait_for(lambda: standby.psql(f"SELECT pg_last_wal_replay_lsn() >= '{at}'") == "t", 30, interval=0.1,
             what="the first write replayed on the standby")
    receiver = wait_for(lambda: walreceiver_pid(standby), 30, interval=0.1, what="the standby's WAL receiver")
    os.kill(receiver, signal.SIGSTOP)
    try:
        acked = [client.create_document(f"async-{i}", id=str(uuid.uuid4()), body=os.urandom(BODY))
                 for i in range(WRITES)]
        old.kill()
    finally:
        os.kill(receiver, signal.SIGCONT)
    new = wait_for(lambda: (lambda n: n if n is not None and n is not old else None)(cluster.leader()), 90,
                   interval=0.1, what=f"{standby.name} promoted\n{standby.log_tail()}")
    present = set(new.psql("SELECT id FROM documents WHERE name LIKE 'async-%'", database="docgate").split())
    lost = [a for a in acked if a.document.id not in present]
    assert lost, "every write reached the standby: the test froze nothing (raise WRITES or BODY)"
    assert kept.document.id in present

    answers = {"ok": 0, "data_loss": 0}
    untrue = []
    for a in [kept] + acked:
        doc_id = a.document.id
        # The first reads after the failover may find docgate reconnecting: UNAVAILABLE, retried.
        answer = wait_for(lambda: read_with_token(client, doc_id, a.consistency_token), 60, interval=0.1,
                          what=f"an answer for {doc_id}")
        if answer == "ok" and doc_id in present or answer == "data_loss" and doc_id not in present:
            answers[answer] += 1
        else:
            untrue.append((doc_id, answer, doc_id in present))
    assert untrue == [], (f"untrue answers (id, answer, present on the primary): {untrue[:5]}\n"
                          "docgate said:\n" + "\n".join(
                              line for line in dg.output().splitlines() if "INTERNAL" in line or "warn" in line)[-4000:])
    assert answers["data_loss"] == len(lost), answers

    started = time.monotonic()
    with pytest.raises(docgate.DataLoss) as waited:
        client.wait_visible(lost[-1].document.id, consistency_token=lost[-1].consistency_token, timeout=20)
    assert time.monotonic() - started < 5, "WaitVisible waited for a write that cannot appear"
    assert "lost in a failover" in str(waited.value)
    # A token of the new primary's own timeline reads as always.
    fresh = client.create_document("async-after", id=str(uuid.uuid4()))
    assert client.get_document(fresh.document.id, consistency_token=fresh.consistency_token).id == fresh.document.id
    print(f"\nasynchronous failover: {WRITES} acknowledged while the standby was frozen, {len(lost)} lost; "
          f"tokens answered: {answers['ok']} documents, {answers['data_loss']} DATA_LOSS, 0 untrue")


def read_with_token(client, doc_id, token):
    """'ok', 'data_loss', or the error's name for anything else; None while UNAVAILABLE."""
    try:
        client.get_document(doc_id, consistency_token=token, timeout=10)
        return "ok"
    except docgate.DataLoss:
        return "data_loss"
    except docgate.Unavailable:
        return None
    except docgate.DocgateError as e:
        return f"{type(e).__name__}: {e}"
