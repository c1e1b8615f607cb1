"""Locked down: TLS and mutual TLS on the gRPC port, certificates rotated in place,
bearer tokens with scopes, health for probes on a plaintext port, the per-connection
stream limit. Real docgate processes, real TLS handshakes."""
import hashlib
import json
import os
import subprocess
import uuid
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from certs import Authority
from docgate_harness import free_port, wait_for

FAST_RECONNECT = [("grpc.initial_reconnect_backoff_ms", 50), ("grpc.max_reconnect_backoff_ms", 250)]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")

    class Pki:
        ca = Authority(folder, "docgate")
        server_cert, server_key = ca.issue("server", server=True)
        client_cert, client_key = ca.issue("worker", server=False)
        other = Authority(folder, "other")  # signed nothing docgate trusts
        other_client_cert, other_client_key = other.issue("stranger", server=False)
    return Pki


def read(path):
    return open(path, "rb").read()


def tls_channel(port, ca, cert=None, key=None):
    creds = grpc.ssl_channel_credentials(read(ca), read(key) if key else None, read(cert) if cert else None)
    return grpc.secure_channel(f"127.0.0.1:{port}", creds, options=FAST_RECONNECT)


def create(channel, name="secure", metadata=(), timeout=10):
    from docgate._pb import docgate_pb2, docgate_pb2_grpc
    request = docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(id=str(uuid.uuid4()), name=name))
    return docgate_pb2_grpc.DocumentServiceStub(channel).CreateDocument(request, metadata=metadata, timeout=timeout)


def code_of(call):
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code()


def health(port, service="docgate.v1.DocumentService"):
    from docgate._pb import health_pb2, health_pb2_grpc
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        except grpc.RpcError:
            return None
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def start_tls_docgate(start_docgate, database_url, *args):
    """A docgate with TLS, once its plaintext health port says SERVING (the gRPC port
    listens by then: a TLS channel that found it closed would wait out gRPC's backoff)."""
    health_port = free_port()
    d = start_docgate(database_url, *args, f"--health-listen=127.0.0.1:{health_port}")
    wait_for(lambda: health(health_port) == "SERVING", 30, what="health SERVING on the plaintext port")
    d.health_port = health_port
    return d


def test_tls_serves_tls_clients_refuses_plaintext_and_probes_get_plaintext_health(start_docgate, database_url, pki):
    d = start_tls_docgate(start_docgate, database_url, f"--tls-cert={pki.server_cert}", f"--tls-key={pki.server_key}",
                          "--log-format=json")
    assert health(d.health_port, "liveness") == "SERVING"

    with tls_channel(d.port, pki.ca.cert) as channel:
        assert create(channel).created
    # A plaintext client gets no answer from the TLS port: the handshake fails.
    with grpc.insecure_channel(f"127.0.0.1:{d.port}") as plain:
        assert code_of(lambda: create(plain, timeout=3)) == grpc.StatusCode.UNAVAILABLE
    # A client that does not trust docgate's CA does not talk to it either.
    with tls_channel(d.port, pki.other.cert) as wrong_ca:
        assert code_of(lambda: create(wrong_ca, timeout=3)) == grpc.StatusCode.UNAVAILABLE
    # The plaintext port serves health and nothing else.
    with grpc.insecure_channel(f"127.0.0.1:{d.health_port}") as probes:
        assert code_of(lambda: create(probes, timeout=3)) == grpc.StatusCode.UNIMPLEMENTED
    # gRPC's own complaint about the failed handshakes is a line of the JSON log like
    # any other (a warning: the peer's fault), not a line of gRPC's format on stderr.
    wait_for(lambda: "Handshake failed" in d.output(), 10, what="the failed handshake logged")
    lines = [json.loads(line) for line in d.output().splitlines()]
    assert any(line["level"] == "warning" and line["msg"].startswith("grpc: Handshake failed") for line in lines)


def test_mutual_tls_needs_a_client_certificate_from_the_client_ca(start_docgate, database_url, pki):
    d = start_tls_docgate(start_docgate, database_url, f"--tls-cert={pki.server_cert}", f"--tls-key={pki.server_key}",
                          f"--tls-client-ca={pki.ca.cert}")
    with tls_channel(d.port, pki.ca.cert, pki.client_cert, pki.client_key) as channel:
        assert create(channel).created
    with tls_channel(d.port, pki.ca.cert) as no_cert:
        assert code_of(lambda: create(no_cert, timeout=3)) == grpc.StatusCode.UNAVAILABLE
    with tls_channel(d.port, pki.ca.cert, pki.other_client_cert, pki.other_client_key) as foreign_cert:
        assert code_of(lambda: create(foreign_cert, timeout=3)) == grpc.StatusCode.UNAVAILABLE


def test_a_certificate_rotated_in_place_is_served_without_a_restart(start_docgate, database_url, pki, tmp_path):
    # cert-manager writes the new pair over the old files; here, from a CA clients
    # did not trust before, so that which certificate is served is plain to see.
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(read(pki.server_cert))
    key.write_bytes(read(pki.server_key))
    d = start_tls_docgate(start_docgate, database_url, f"--tls-cert={cert}", f"--tls-key={key}",
                          "--credentials-reload-interval=1s")
    with tls_channel(d.port, pki.ca.cert) as old_trust:
        assert create(old_trust).created

    rotated = Authority(tmp_path / "rotated", "rotated")
    new_cert, new_key = rotated.issue("server", server=True)
    for source, target in ((new_key, key), (new_cert, cert)):  # each file replaced at once, as a rename does
        staged = target.with_suffix(".new")
        staged.write_bytes(read(source))
        os.replace(staged, target)

    def served_by_new_certificate():
        with tls_channel(d.port, rotated.cert) as channel:
            try:
                return create(channel, timeout=3).created
            except grpc.RpcError:
                return False
    wait_for(served_by_new_certificate, 30, what="the rotated certificate served")
    assert d.proc.poll() is None, "the same process, no restart"
    with tls_channel(d.port, pki.ca.cert) as old_trust:
        assert code_of(lambda: create(old_trust, timeout=3)) == grpc.StatusCode.UNAVAILABLE


def token_line(name, token, scopes):
    return f"{name} {hashlib.sha256(token.encode()).hexdigest()} {scopes}\n"


def test_bearer_tokens_and_their_scopes(start_docgate, database_url, tmp_path):
    from docgate._pb import docgate_pb2, docgate_pb2_grpc
    tokens = tmp_path / "tokens"
    tokens.write_text("# who may call docgate\n" + token_line("ingest", "w-secret", "read,write")
                      + token_line("dashboards", "r-secret", "read"))
    d = start_docgate(database_url, f"--auth-tokens-file={tokens}", "--credentials-reload-interval=1s")
    wait_for(lambda: d.health() == "SERVING", 30, what="docgate serving")  # health asks no token
    writer, reader = [("authorization", "Bearer w-secret")], [("authorization", "Bearer r-secret")]
    stub = docgate_pb2_grpc.DocumentServiceStub(d.channel)

    created = create(d.channel, metadata=writer)
    assert created.created
    get = docgate_pb2.GetDocumentRequest(id=created.document.id)
    assert stub.GetDocument(get, metadata=reader, timeout=10).document.name == "secure"
    assert code_of(lambda: stub.GetDocument(get, timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
    assert code_of(lambda: stub.GetDocument(get, metadata=[("authorization", "Bearer w-secreT")],
                                            timeout=10)) == grpc.StatusCode.UNAUTHENTICATED
    assert code_of(lambda: create(d.channel, metadata=[("authorization", "w-secret")])) == \
        grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as denied:
        create(d.channel, metadata=reader)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'dashboards' lacks the write scope" in denied.value.details()
    for rpc in (lambda md: stub.WaitVisible(docgate_pb2.WaitVisibleRequest(id=created.document.id), metadata=md,
                                            timeout=10),
                lambda md: stub.ListDocuments(docgate_pb2.ListDocumentsRequest(page_size=1), metadata=md, timeout=10)):
        rpc(reader)
        assert code_of(lambda: rpc(())) == grpc.StatusCode.UNAUTHENTICATED
    update = docgate_pb2.UpdateDocumentStatusRequest(id=created.document.id, status=docgate_pb2.PROCESSING)
    assert code_of(lambda: stub.UpdateDocumentStatus(update, metadata=reader, timeout=10)) == \
        grpc.StatusCode.PERMISSION_DENIED
    stub.UpdateDocumentStatus(update, metadata=writer, timeout=10)

    # Refusals are counted like any failed call, and no token reaches the log.
    assert handled(d, "GetDocument", "Unauthenticated") == 2
    assert handled(d, "CreateDocument", "PermissionDenied") == 1
    assert "secret" not in d.output()

    # The secret rotated in place: the new token works, the old one no longer does.
    staged = tmp_path / "tokens.new"
    staged.write_text(token_line("ingest", "w-secret-2", "read,write"))
    os.replace(staged, tokens)
    wait_for(lambda: try_or_none(lambda: create(d.channel, metadata=[("authorization", "Bearer w-secret-2")])), 30,
             what="the new token accepted")
    assert code_of(lambda: create(d.channel, metadata=writer)) == grpc.StatusCode.UNAUTHENTICATED


def test_sighup_reloads_the_tokens_at_once_and_does_not_stop_docgate(start_docgate, database_url, tmp_path):
    """Many tools send SIGHUP to ask for a reload: docgate re-reads its tokens file then
    (not at its next look, an hour away here) and goes on serving; a file that does not
    parse changes nothing."""
    import signal
    tokens = tmp_path / "tokens"
    tokens.write_text(token_line("ingest", "old-secret", "read,write"))
    d = start_docgate(database_url, f"--auth-tokens-file={tokens}", "--credentials-reload-interval=1h")
    wait_for(lambda: d.health() == "SERVING", 30, what="docgate serving")
    assert create(d.channel, metadata=[("authorization", "Bearer old-secret")]).created
    tokens.write_text(token_line("ingest", "new-secret", "read,write"))
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: try_or_none(lambda: create(d.channel, metadata=[("authorization", "Bearer new-secret")])), 10,
             what="the new token accepted after SIGHUP")
    tokens.write_text("not a token line\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "tokens file not reloaded" in d.output(), 10, what="the refusal logged")
    assert create(d.channel, metadata=[("authorization", "Bearer new-secret")]).created
    assert d.proc.poll() is None and d.health() == "SERVING"


def handled(d, method, code):
    prefix = f'grpc_server_handled_total{{grpc_code="{code}",grpc_method="{method}",'
    return sum(float(line.split()[-1]) for line in d.metrics_text().splitlines() if line.startswith(prefix))


def test_one_connection_cannot_open_more_calls_than_the_stream_limit(start_docgate, database_url):
    from docgate._pb import docgate_pb2, docgate_pb2_grpc
    d = start_docgate(database_url, "--max-concurrent-streams=2")
    wait_for(lambda: d.health() == "SERVING", 30, what="docgate serving")
    ids = [str(uuid.uuid4()) for _ in range(4)]
    pool = futures.ThreadPoolExecutor(4)

    def wait(channel, doc_id):
        return docgate_pb2_grpc.DocumentServiceStub(channel).WaitVisible(
            docgate_pb2.WaitVisibleRequest(id=doc_id), timeout=30)

    # Three waits on one connection (the health check opened it and learned the
    # limit): two are served, the third waits its turn at the client.
    crowded = [pool.submit(wait, d.channel, doc_id) for doc_id in ids[:3]]
    wait_for(lambda: d.waiting() == 2, 10, what="two waiters")
    # Another connection is not held back: the server had room, the connection did not.
    with grpc.insecure_channel(f"127.0.0.1:{d.port}") as other:
        writer = docgate_pb2_grpc.DocumentServiceStub(other)

        def create_with_id(doc_id):
            writer.CreateDocument(docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(id=doc_id, name="x")),
                                  timeout=10)
        elsewhere = pool.submit(wait, other, ids[3])
        wait_for(lambda: d.waiting() == 3, 10, what="the other connection's waiter")
        assert d.waiting() == 3 and not any(f.done() for f in crowded)
        create_with_id(ids[3])
        assert elsewhere.result(timeout=10).document.id == ids[3]
        # The first two end: the third call gets its stream, and waits on the server.
        create_with_id(ids[0])
        create_with_id(ids[1])
        wait_for(lambda: d.waiting() == 1, 10, what="the third call waiting on the server")
        create_with_id(ids[2])
        assert sorted(f.result(timeout=10).document.id for f in crowded) == sorted(ids[:3])


def test_docgatectl_and_the_python_client_speak_mutual_tls_with_a_token(start_docgate, database_url, pki, tmp_path,
                                                                        docgate_bin):
    import docgate
    tokens = tmp_path / "tokens"
    tokens.write_text(token_line("ops", "ops-secret", "read,write"))
    d = start_tls_docgate(start_docgate, database_url, f"--tls-cert={pki.server_cert}", f"--tls-key={pki.server_key}",
                          f"--tls-client-ca={pki.ca.cert}", f"--auth-tokens-file={tokens}")
    client = docgate.Client(f"127.0.0.1:{d.port}", auth_token="ops-secret", credentials=docgate.tls_credentials(
        str(pki.ca.cert), str(pki.client_cert), str(pki.client_key)))
    created = client.create_document("via-python")
    assert client.get_document(created.document.id).name == "via-python"
    anonymous = docgate.Client(f"127.0.0.1:{d.port}", credentials=docgate.tls_credentials(
        str(pki.ca.cert), str(pki.client_cert), str(pki.client_key)))
    with pytest.raises(docgate.Unauthenticated):
        anonymous.get_document(created.document.id)

    ctl = os.environ.get("DOCGATECTL_BIN") or str(Path(docgate_bin).parents[1] / "client" / "cpp" / "docgatectl")
    token_file = tmp_path / "token"
    token_file.write_text("ops-secret\n")  # as `echo` writes it
    tls = ["--addr", f"127.0.0.1:{d.port}", "--tls-ca", str(pki.ca.cert), "--tls-cert", str(pki.client_cert),
           "--tls-key", str(pki.client_key)]
    got = subprocess.run([ctl, *tls, "--auth-token-file", str(token_file), "get", created.document.id],
                         capture_output=True, text=True, timeout=30)
    assert got.returncode == 0, got.stderr
    assert "via-python" in got.stdout
    env = {**os.environ, "DOCGATE_AUTH_TOKEN": "ops-secret"}
    made = subprocess.run([ctl, *tls, "create", "--name", "via-ctl"], capture_output=True, text=True, timeout=30,
                          env=env)
    assert made.returncode == 0, made.stderr
    no_token = subprocess.run([ctl, *tls, "get", created.document.id], capture_output=True, text=True, timeout=30,
                              env={k: v for k, v in os.environ.items() if k != "DOCGATE_AUTH_TOKEN"})
    assert no_token.returncode == 16, no_token.stderr  # UNAUTHENTICATED


def try_or_none(call):
    try:
        return call()
    except Exception:  # noqa: BLE001 (starting up: any failure means not yet)
        return None
