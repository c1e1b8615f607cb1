"""Consistency tokens are bound to the database cluster that issued them, and a
position the primary has not reached is refused: INVALID_ARGUMENT, as the API says
of a token this server did not issue."""
import base64
import struct
import subprocess

import grpc
import pytest

from docgate_harness import wait_for


def pb():
    from docgate._pb import docgate_pb2
    return docgate_pb2


def mint(kind, lsn, binding=0):
    """A token spelled as docgate spells them, made without docgate: what an attacker
    can do, since the seal is a checksum and not a secret."""
    payload = kind + struct.pack(">Q", lsn)
    h = 0xcbf29ce484222325 ^ 0x646f636761746531
    for byte in (struct.pack(">Q", binding) if binding else b"") + payload:
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return base64.urlsafe_b64encode(payload + struct.pack(">Q", h)).decode().rstrip("=")


def code_and_details(call):
    try:
        call()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def reads_with(stub, doc_id, token):
    """GetDocument and WaitVisible with `token`: each one's code and details."""
    return [code_and_details(lambda: stub.GetDocument(pb().GetDocumentRequest(id=doc_id, consistency_token=token),
                                                      timeout=5)),
            code_and_details(lambda: stub.WaitVisible(pb().WaitVisibleRequest(id=doc_id, consistency_token=token),
                                                      timeout=5))]


@pytest.fixture
def served(database_url, start_docgate):
    d = start_docgate(database_url)
    wait_for(lambda: d.health() == "SERVING", 20, what="SERVING")
    created = d.stub().CreateDocument(pb().CreateDocumentRequest(document=pb().Document(name="t")), timeout=5)
    return d, created


def test_a_token_from_another_cluster_is_invalid_argument(served, own_cluster, start_docgate):
    d, created = served
    other_urls = own_cluster.start()
    other = start_docgate(other_urls["DOCGATE_TEST_DATABASE_URL"])
    wait_for(lambda: other.health() == "SERVING", 20, what="the other cluster's docgate SERVING")
    foreign = other.stub().CreateDocument(pb().CreateDocumentRequest(document=pb().Document(
        id=created.document.id, name="t")), timeout=5)
    assert foreign.consistency_token != created.consistency_token
    for code, details in reads_with(d.stub(), created.document.id, foreign.consistency_token):
        assert code == grpc.StatusCode.INVALID_ARGUMENT, details
        assert details.startswith("consistency_token:"), details
    # Each cluster's own token is fine where it was issued.
    assert all(c == grpc.StatusCode.OK for c, _ in reads_with(d.stub(), created.document.id,
                                                                 created.consistency_token))
    assert all(c == grpc.StatusCode.OK for c, _ in reads_with(other.stub(), created.document.id,
                                                                 foreign.consistency_token))


def test_a_minted_token_beyond_the_primarys_position_is_invalid_argument(served, database_url):
    d, created = served
    system_identifier = int(subprocess.run(["psql", database_url, "-Atc",
                                            "SELECT system_identifier FROM pg_control_system()"],
                                           capture_output=True, text=True, check=True).stdout)
    far = 0xFFFFFFFF_00000000
    for token in (mint(b"D", far, system_identifier), mint(b"C", far)):
        for code, details in reads_with(d.stub(), created.document.id, token):
            assert code == grpc.StatusCode.INVALID_ARGUMENT, details
            assert "has not reached" in details, details
    # A position the primary has passed asks for nothing it lacks: served, for both
    # spellings (docgate 0.1's tokens keep working through a rolling upgrade). That
    # these pass also shows the minting above spells tokens as docgate does.
    for token in (mint(b"D", 1, system_identifier), mint(b"C", 1)):
        assert all(c == grpc.StatusCode.OK for c, _ in reads_with(d.stub(), created.document.id, token))


def test_a_token_from_another_instance_on_the_same_cluster_is_accepted(served, database_url, start_docgate):
    d, _ = served
    other = start_docgate(database_url)
    wait_for(lambda: other.health() == "SERVING", 20, what="a second instance SERVING")
    for i in range(20):  # each newer than anything the first instance has seen itself
        made = other.stub().CreateDocument(pb().CreateDocumentRequest(document=pb().Document(name=f"x{i}")),
                                           timeout=5)
        assert all(c == grpc.StatusCode.OK for c, _ in reads_with(d.stub(), made.document.id,
                                                                     made.consistency_token))
