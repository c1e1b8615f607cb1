"""docgatectl against a real docgate: every subcommand, --json, exit codes."""
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from docgate_harness import wait_for


@pytest.fixture(scope="session")
def docgatectl(docgate_bin):
    path = os.environ.get("DOCGATECTL_BIN") or str(Path(docgate_bin).parents[1] / "client" / "cpp" / "docgatectl")
    assert os.access(path, os.X_OK), f"no docgatectl at {path} (scripts/dev build makes it)"
    return path


@pytest.fixture
def ctl(docgatectl, database_url, start_docgate):
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")

    def run(*args, stdin=None, expect=0):
        out = subprocess.run([docgatectl, "--addr", f"127.0.0.1:{d.port}", *args], input=stdin,
                             capture_output=True, timeout=60)
        assert out.returncode == expect, (out.returncode, out.stdout, out.stderr)
        return out

    return run


def as_json(out):
    return [json.loads(line) for line in out.stdout.decode().splitlines()]


def test_every_subcommand_with_json_output(ctl, tmp_path):
    body = tmp_path / "body.bin"
    body.write_bytes(b"\x00\x01 binary body")
    [created] = as_json(ctl("create", "--name", "ctl.bin", "--body-file", str(body), "--content-type",
                            "application/octet-stream", "--attr", "team=ops", "--attr", "k=v=w", "--json"))
    doc = created["document"]
    assert created["created"] is True and created["consistency_token"]
    assert doc["status"] == "PENDING" and doc["attributes"] == {"team": "ops", "k": "v=w"}
    doc_id = doc["id"]

    [got] = as_json(ctl("get", doc_id, "--body", "--json"))
    import base64
    assert base64.b64decode(got["body"]) == b"\x00\x01 binary body"
    [waited] = as_json(ctl("wait", doc_id, "--json"))
    assert waited["id"] == doc_id and "body" not in waited

    [moved] = as_json(ctl("update-status", doc_id, "PROCESSING", "--detail", "on it", "--expected-version", "1",
                          "--json"))
    assert moved["document"]["status"] == "PROCESSING" and moved["document"]["version"] == "2"

    listed = as_json(ctl("list", "--status", "PROCESSING", "--page-size", "1", "--json"))
    assert doc_id in [d["id"] for d in listed]
    assert len(as_json(ctl("list", "--limit", "1", "--json"))) == 1

    assert as_json(ctl("health", "--json")) == [{"status": "SERVING"}]
    assert as_json(ctl("health", "docgate.v1.DocumentService", "--json")) == [{"status": "SERVING"}]


def test_body_from_stdin_and_text_output(ctl):
    out = ctl("create", "--name", "stdin.txt", "--body-file", "-", stdin=b"from stdin")
    text = out.stdout.decode()
    assert 'name: "stdin.txt"' in text and "created: true" in text
    doc_id = text.split('id: "', 1)[1].split('"', 1)[0]
    assert "from stdin" in ctl("get", doc_id, "--body").stdout.decode()


def test_exit_codes_follow_the_grpc_code(ctl):
    missing = ctl("get", str(uuid.uuid4()), expect=5)  # NOT_FOUND
    assert b"NOT_FOUND" in missing.stderr
    late = ctl("wait", str(uuid.uuid4()), "--timeout", "300ms", expect=4)  # DEADLINE_EXCEEDED
    assert b"DEADLINE_EXCEEDED" in late.stderr
    ctl("get", "not-a-uuid", expect=3)  # INVALID_ARGUMENT
    ctl("update-status", str(uuid.uuid4()), "SHIPPED", expect=64)  # usage: no such status
    ctl("frobnicate", expect=64)


def test_unreachable_docgate_is_unavailable(docgatectl):
    out = subprocess.run([docgatectl, "--addr", "127.0.0.1:1", "--timeout", "1s", "health"], capture_output=True,
                         timeout=30)
    assert out.returncode == 14, out  # UNAVAILABLE


def test_create_and_update_status_can_enqueue_a_celery_task(docgatectl, database_url, start_docgate, tmp_path):
    import shutil
    import socket

    from docgate_harness import free_port
    port = free_port()
    redis = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
                              "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def redis_cli(*args):
        return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout.strip()

    try:
        wait_for(lambda: redis_cli("PING") == "PONG", 20, what="redis-server answers")
        d = start_docgate(database_url, f"--broker-url=redis://127.0.0.1:{port}/0")
        wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")

        def ctl(*args, expect=0):
            out = subprocess.run([docgatectl, "--addr", f"127.0.0.1:{d.port}", *args], capture_output=True,
                                 timeout=60)
            assert out.returncode == expect, (out.returncode, out.stdout, out.stderr)
            return out

        [created] = as_json(ctl("create", "--name", "ctl-task", "--enqueue", "pdf_tasks.extract_text", "--queue",
                                "pdf", "--args", '["one"]', "--kwargs", '{"page": 2}', "--json"))
        assert len(created["task_ids"]) == 1
        [moved] = as_json(ctl("update-status", created["document"]["id"], "PROCESSING", "--enqueue", "notify",
                              "--json"))
        assert len(moved["task_ids"]) == 1
        wait_for(lambda: redis_cli("LLEN", "pdf") == "1" and redis_cli("LLEN", "celery") == "1", 10,
                 what="both tasks delivered")
        assert created["task_ids"][0] in redis_cli("LINDEX", "pdf", "0")
        bad = ctl("create", "--name", "x", "--enqueue", "t", "--args", "{not json", expect=3)  # INVALID_ARGUMENT
        assert b"enqueue[0].args_json" in bad.stderr
        ctl("create", "--name", "x", "--queue", "q", expect=64)  # a usage error: --queue without --enqueue
    finally:
        redis.terminate()
        redis.wait(timeout=10)


def test_enqueue_without_a_broker_is_failed_precondition(ctl):
    out = ctl("create", "--name", "x", "--enqueue", "t", expect=9)  # FAILED_PRECONDITION
    assert b"--broker-url" in out.stderr


def test_caller_names_who_calls_for_fair_admission(docgatectl, database_url, start_docgate, tmp_path):
    config = tmp_path / "docgate.json"
    config.write_text(json.dumps({"admission": {"callers": {"ops": {}}}}))
    d = start_docgate(database_url, f"--config={config}")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    out = subprocess.run([docgatectl, "--addr", f"127.0.0.1:{d.port}", "--caller", "ops", "list", "--limit", "1"],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 'docgate_caller_wait_seconds_count{caller="ops"} 1' in d.metrics_text()


def test_lease_renew_and_get_show_the_lease(ctl):
    [created] = as_json(ctl("create", "--name", "leased-by-ctl", "--json"))
    doc_id = created["document"]["id"]
    [taken] = as_json(ctl("lease", doc_id, "--version", "1", "--duration", "30s", "--holder", "ops-shell", "--json"))
    assert taken["status"] == "PROCESSING" and taken["version"] == "2" and taken["lease_holder"] == "ops-shell"
    [renewed] = as_json(ctl("renew", doc_id, "--version", "2", "--duration", "2m", "--json"))
    assert renewed["lease_expire_time"] > taken["lease_expire_time"]
    [shown] = as_json(ctl("get", doc_id, "--json"))
    assert shown["lease_holder"] == "ops-shell" and shown["lease_expire_time"] == renewed["lease_expire_time"]
    text = ctl("get", doc_id).stdout.decode()
    assert 'lease_holder: "ops-shell"' in text and "lease_expire_time" in text
    lost = ctl("renew", doc_id, "--version", "1", "--duration", "30s", expect=10)  # ABORTED: not its version
    assert b"ABORTED" in lost.stderr
    ctl("lease", doc_id, "--duration", "30s", expect=64)  # a usage error: no --version


def test_an_operator_finds_a_dead_lettered_document_sees_its_tasks_and_retries_it(docgatectl, database_url,
                                                                                 start_docgate):
    d = start_docgate(database_url, "--broker-url=redis://127.0.0.1:1/0", "--lease-max-attempts=1",
                      "--lease-check-interval=50ms")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")

    def ctl(*args, expect=0):
        out = subprocess.run([docgatectl, "--addr", f"127.0.0.1:{d.port}", *args], capture_output=True, timeout=60)
        assert out.returncode == expect, (out.returncode, out.stdout, out.stderr)
        return out
    try:
        [created] = as_json(ctl("create", "--name", "poison-by-ctl", "--enqueue", "pdf.extract", "--queue",
                                "ctl-poison", "--args", '["a"]', "--json"))
        doc_id = created["document"]["id"]
        ctl("lease", doc_id, "--version", "1", "--duration", "1s", "--holder", "worker-7:4242")
        wait_for(lambda: as_json(ctl("get", doc_id, "--json"))[0]["status"] == "FAILED", 15, interval=0.1,
                 what="the document dead-lettered")
        [failed] = as_json(ctl("get", doc_id, "--json"))
        assert failed["attempts"] == 1 and failed["last_lease_holder"] == "worker-7:4242"
        brief = ctl("list", "--status", "FAILED", "--brief").stdout.decode().splitlines()
        [line] = [b for b in brief if b.startswith(doc_id)]
        assert "FAILED" in line and "attempts=1" in line and "last_holder=worker-7:4242" in line
        assert 'detail="lease expired 1 times; last holder worker-7:4242' in line

        [tasks] = as_json(ctl("tasks", doc_id, "--json"))
        assert [t["task"]["task"] for t in tasks["waiting"]] == ["pdf.extract"]  # the create's, undelivered
        assert [(t["task"], t["args_json"]) for t in tasks["remembered"]] == [("pdf.extract", '["a"]')]

        usage = ctl("retry", doc_id, expect=64)
        assert b"--reset-attempts" in usage.stderr
        [retried] = as_json(ctl("retry", doc_id, "--reset-attempts", "--expected-version", failed["version"],
                                "--json"))
        assert retried["document"]["status"] == "PENDING" and retried["document"].get("attempts", 0) == 0
        assert len(retried["task_ids"]) == 1
        [tasks] = as_json(ctl("tasks", doc_id, "--json"))
        assert retried["task_ids"][0] in [t["task_id"] for t in tasks["waiting"]]
        assert b"FAILED_PRECONDITION" in ctl("retry", doc_id, "--keep-attempts", expect=9).stderr
    finally:
        subprocess.run(["psql", database_url, "-qAtc", "DELETE FROM docgate_tasks WHERE queue = 'ctl-poison'"],
                       check=True)
