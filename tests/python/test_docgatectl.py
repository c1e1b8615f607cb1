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
