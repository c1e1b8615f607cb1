"""Logs: every JSON line parses, whatever the message holds; an outage does not flood them."""
import json
import re
import urllib.parse

import grpc

from docgate_harness import wait_for

# A database name that libpq's error message repeats: quotes, a newline, non-ASCII.
AWKWARD_NAME = 'döc"gate\nline2 ✓'


def unreachable_database(database_url):
    """The test server, with a database that does not exist: every connect fails."""
    base = database_url.rsplit("/", 1)[0]
    return f"{base}/{urllib.parse.quote(AWKWARD_NAME, safe='')}"


def failed_rpc_lines(d):
    return [line for line in d.output().splitlines() if "rpc failed" in line]


def test_every_json_line_parses_including_quotes_newlines_and_non_ascii(database_url, start_docgate):
    from docgate._pb import docgate_pb2
    password = database_url.split(":")[2].split("@")[0]
    d = start_docgate(unreachable_database(database_url), "--log-format=json")
    wait_for(lambda: "connect failed" in d.output(), 20, what="a connect failure logged")
    try:
        d.stub().CreateDocument(docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(name="x")),
                                timeout=5, metadata=[("x-request-id", "req-json-1")])
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNAVAILABLE
    wait_for(lambda: failed_rpc_lines(d), 5, what="the failed RPC logged")
    assert d.stop() == 0

    records = [json.loads(line) for line in d.output().splitlines()]  # raises on any line that is not JSON
    assert len(records) >= 4  # start, connect failure, failed RPC, stop
    for r in records:
        assert set(r) >= {"time", "level", "msg"}, r
    assert any(AWKWARD_NAME in r["msg"] for r in records), "the awkward name must survive escaping intact"
    rpc = next(r for r in records if "rpc failed" in r["msg"])
    assert "request_id=req-json-1" in rpc["msg"] and "code=UNAVAILABLE" in rpc["msg"]
    assert password not in d.output()


def test_an_outage_is_logged_in_a_few_lines_that_count_the_rest(database_url, start_docgate):
    from docgate._pb import docgate_pb2
    d = start_docgate(unreachable_database(database_url))
    wait_for(lambda: "connect failed" in d.output(), 20, what="a connect failure logged")
    stub = d.stub()
    calls = 0

    def fail_once():
        nonlocal calls
        calls += 1
        try:
            stub.CreateDocument(docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(name="x")),
                                timeout=5)
            raise AssertionError("the database is unreachable: the create cannot succeed")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE

    for _ in range(300):
        fail_once()
    # A line written after the burst says how many it stands for.
    counted = re.compile(r"similar_failures_not_logged=(\d+)")
    after_burst = len(failed_rpc_lines(d))

    def counting_line():
        fail_once()
        return any(counted.search(line) for line in failed_rpc_lines(d)[after_burst:])

    wait_for(counting_line, 10, what="a line counting the failures not logged")
    lines = failed_rpc_lines(d)
    not_logged = sum(int(m.group(1)) for m in map(counted.search, lines) if m)
    assert len(lines) < 100, f"{len(lines)} lines for {calls} failures: the outage floods the log"
    assert len(lines) + not_logged <= calls
    assert len(lines) + not_logged >= 300, "every failure is either logged or counted"
