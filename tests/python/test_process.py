"""docgate as an operator meets it: flags, start-up errors, secrets, outages, signals."""
import signal
import subprocess
import time
import uuid

import grpc
import pytest

from docgate_harness import wait_for


def test_help_lists_options_with_defaults(docgate_bin):
    out = subprocess.run([docgate_bin, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    for expected in ("--listen", "DOCGATE_POOL_MAX", "'16'", "--database-password-file", "--log-format"):
        assert expected in out.stdout


def test_version_names_the_release_and_the_revision(docgate_bin):
    import re
    out = subprocess.run([docgate_bin, "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    assert re.fullmatch(r"docgate \d+\.\d+\.\d+ \(([0-9a-f]{12}|unknown)\)\n", out.stdout), out.stdout


@pytest.mark.parametrize("args", [["--no-such-flag"], ["--pool-max=zero"], ["--log-format=xml"]])
def test_bad_flag_is_one_clear_line_and_nonzero_exit(docgate_bin, args):
    out = subprocess.run([docgate_bin, *args], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("docgate: ")


def test_unusable_listen_address_is_one_clear_line_and_nonzero_exit(docgate_bin, database_url):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([docgate_bin, f"--listen=127.0.0.1:{port}", "--metrics-listen="],
                             capture_output=True, text=True,
                             timeout=30, env={"DATABASE_URL": database_url})
    assert out.returncode != 0
    critical = [line for line in out.stderr.splitlines() if "critical" in line]
    assert len(critical) == 1, out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in critical[0]


def test_a_second_docgate_on_the_same_ports_is_refused_not_given_a_share_of_them(docgate_bin, database_url,
                                                                                start_docgate):
    """gRPC and libmicrohttpd would set SO_REUSEPORT, letting a second process bind a
    port docgate listens on and silently take part of its connections (a test run saw
    scrapes closed without an answer). docgate listens exclusively."""
    from docgate_harness import free_port
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    for listen, metrics in ((d.port, free_port()), (free_port(), d.metrics_port)):
        out = subprocess.run([docgate_bin, f"--listen=127.0.0.1:{listen}", f"--metrics-listen=127.0.0.1:{metrics}",
                              "--health-listen="], capture_output=True, text=True, timeout=30,
                             env={"DATABASE_URL": database_url})
        assert out.returncode != 0, out.stderr
        taken = listen if listen == d.port else metrics
        assert f"cannot listen on 127.0.0.1:{taken}" in out.stderr, out.stderr
    assert d.health() == "SERVING" and "docgate_build_info" in d.metrics_text()


def test_password_never_appears_in_logs_or_check_config(docgate_bin, database_url, start_docgate):
    password = database_url.split(":")[2].split("@")[0]
    assert len(password) >= 8

    out = subprocess.run([docgate_bin, "--check-config"], capture_output=True, text=True, timeout=30,
                         env={"DATABASE_URL": database_url})
    assert out.returncode == 0
    assert "database-url" in out.stdout
    assert password not in out.stdout + out.stderr

    # A working instance, with failing RPCs so that error paths log too.
    d = start_docgate(database_url, "--log-level=debug")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    from docgate._pb import docgate_pb2
    with pytest.raises(grpc.RpcError):
        d.stub().GetDocument(docgate_pb2.GetDocumentRequest(id=str(uuid.uuid4())), timeout=5)
    # And one whose password is wrong: connect errors get logged.
    wrong = database_url.replace(password, password + "-wrong")
    bad = start_docgate(wrong, "--log-level=debug")
    wait_for(lambda: "database" in bad.output(), 20, what="a connect failure logged")
    assert d.stop() == 0
    bad.stop()
    for log in (d.output(), bad.output()):
        assert password not in log


def test_database_down_at_start_then_up(own_cluster, start_docgate):
    urls = own_cluster.start()
    own_cluster.stop()
    d = start_docgate(urls["DOCGATE_TEST_DATABASE_URL"])
    assert wait_for(lambda: d.health(), 20, what="health answers") == "NOT_SERVING"
    from docgate._pb import docgate_pb2
    with pytest.raises(grpc.RpcError) as err:
        d.stub().CreateDocument(docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(name="x")),
                                timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert d.proc.poll() is None, "docgate must stay up while the database is down"

    own_cluster.start()  # returns once PostgreSQL accepts connections
    accepting = time.monotonic()
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING after PostgreSQL started")
    assert time.monotonic() - accepting < 2.0
    reply = d.stub().CreateDocument(docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(name="x")),
                                    timeout=10)
    assert reply.created


def test_sigterm_exits_zero(database_url, start_docgate):
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    assert d.stop(signal.SIGTERM) == 0
    assert "docgate stopped" in d.output()


def test_migrate_subcommand_is_idempotent(docgate_bin, database_url):
    for _ in range(2):
        out = subprocess.run([docgate_bin, "migrate"], capture_output=True, text=True, timeout=60,
                             env={"DATABASE_URL": database_url})
        assert out.returncode == 0, out.stderr
        assert "schema is at version 6" in out.stderr
