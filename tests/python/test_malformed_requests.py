"""Requests that do not parse: INVALID_ARGUMENT, counted and logged like any failure,
and the JSON log stays JSON (protobuf's own complaint goes into the call's status)."""
import json

import grpc

from docgate_harness import wait_for
from test_metrics import scrape, value

SERVICE = "/docgate.v1.DocumentService/"
NOT_PROTOBUF = [
    b"\xff",                    # a tag that never ends
    b"\x0a\x05ab",              # field 1 says 5 bytes and holds 2
    b"\x08",                    # field 1, a varint with no value
    b"\x0e",                    # wire type 6 does not exist
    b"\x0b\x08\x01",            # a group that never ends
]
PLACEHOLDER = b"PLACEHOLDER"


def not_utf8(message):
    """`message` serialized with its PLACEHOLDER string replaced by bytes that are not UTF-8."""
    raw = message.SerializeToString()
    assert PLACEHOLDER in raw
    return raw.replace(PLACEHOLDER, b"\xff\xfe" + b"x" * (len(PLACEHOLDER) - 2))


def bad_strings():
    """Per method, a request whose string field holds invalid UTF-8, and that field's name."""
    from docgate._pb import docgate_pb2 as pb
    text = PLACEHOLDER.decode()
    return {
        "CreateDocument": (not_utf8(pb.CreateDocumentRequest(document=pb.Document(name=text))),
                           "docgate.v1.Document.name"),
        "GetDocument": (not_utf8(pb.GetDocumentRequest(id=text)), "docgate.v1.GetDocumentRequest.id"),
        "WaitVisible": (not_utf8(pb.WaitVisibleRequest(id=text)), "docgate.v1.WaitVisibleRequest.id"),
        "UpdateDocumentStatus": (not_utf8(pb.UpdateDocumentStatusRequest(id="x", status_detail=text)),
                                 "docgate.v1.UpdateDocumentStatusRequest.status_detail"),
        "ListDocuments": (not_utf8(pb.ListDocumentsRequest(page_token=text)),
                          "docgate.v1.ListDocumentsRequest.page_token"),
    }


def call_raw(channel, method, payload):
    """Sends `payload` as the request bytes; returns the code, details and trailing metadata."""
    call = channel.unary_unary(SERVICE + method)  # no serializer: bytes go as they are
    try:
        _, state = call.with_call(payload, timeout=5)
        return grpc.StatusCode.OK, "", dict(state.trailing_metadata())
    except grpc.RpcError as e:
        return e.code(), e.details(), dict(e.trailing_metadata() or ())


def test_every_method_answers_unparseable_bytes_invalid_argument_counted_and_logged(database_url, start_docgate):
    d = start_docgate(database_url, "--log-format=json")
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    sent = {}
    for method, (payload, field) in bad_strings().items():
        cases = [(p, None) for p in NOT_PROTOBUF] + [(payload, field)]
        for raw, named_field in cases:
            code, details, trailers = call_raw(d.channel, method, raw)
            assert code == grpc.StatusCode.INVALID_ARGUMENT, (method, raw, code, details)
            assert details.startswith("request does not parse"), details
            if named_field:
                assert named_field in details and "UTF-8" in details, details
            assert trailers.get("x-request-id"), "a refused request has a request id like any other"
            sent[method] = sent.get(method, 0) + 1

    def counted():
        samples = scrape(d)
        return all(value(samples, "grpc_server_handled_total", grpc_method=m, grpc_code="InvalidArgument") == n
                   and value(samples, "grpc_server_started_total", grpc_method=m) == n for m, n in sent.items())

    wait_for(counted, 5, what="every refused request counted as started and handled InvalidArgument")
    # The server still serves well-formed calls after all this.
    from docgate._pb import docgate_pb2 as pb
    d.stub().CreateDocument(pb.CreateDocumentRequest(document=pb.Document(name="after garbage")), timeout=5)
    assert d.stop() == 0

    records = [json.loads(line) for line in d.output().splitlines()]  # raises on any line that is not JSON
    failed = [r["msg"] for r in records if "rpc failed" in r["msg"]]
    assert len(failed) == sum(sent.values())
    assert all("code=INVALID_ARGUMENT" in m and "request_id=" in m for m in failed)
    assert not any("libprotobuf" in r["msg"] for r in records)
