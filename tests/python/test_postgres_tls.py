"""docgate to PostgreSQL over TLS: libpq's sslmode and sslrootcert in the database URL."""
import subprocess
import uuid

import grpc
import pytest

from docgate_harness import wait_for


def test_verify_full_connects_over_tls_and_a_wrong_ca_is_refused(own_cluster, start_docgate, tmp_path):
    from docgate._pb import docgate_pb2
    urls = own_cluster.start(tls=True)
    ca = urls["DOCGATE_TEST_SSL_ROOT_CERT"]
    url = urls["DOCGATE_TEST_DATABASE_URL"]

    d = start_docgate(f"{url}?sslmode=verify-full&sslrootcert={ca}", "--pool-min-idle=2")
    wait_for(lambda: d.health() == "SERVING", 30, what="docgate serving over TLS")
    doc_id = str(uuid.uuid4())
    d.stub().CreateDocument(docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(id=doc_id, name="tls")),
                            timeout=10)
    assert d.stub().GetDocument(docgate_pb2.GetDocumentRequest(id=doc_id), timeout=10).document.name == "tls"
    # Every connection docgate holds is encrypted (the visibility watcher's too, once it runs).
    ssl = subprocess.run(["psql", urls["DOCGATE_TEST_ADMIN_URL"], "-Atc",
                          "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)"
                          " WHERE a.application_name LIKE 'docgate%'"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert ssl and set(ssl) == {"t"}, ssl

    # A CA that did not sign the server's certificate: no connection, and the log says
    # why without the password.
    other = tmp_path / "other-ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
                    "-keyout", str(tmp_path / "other.key"), "-out", str(other)], check=True, capture_output=True)
    refused = start_docgate(f"{url}?sslmode=verify-full&sslrootcert={other}")
    wait_for(lambda: "certificate verify failed" in refused.output(), 30, what="the TLS failure logged")
    # (The pool may log before the gRPC port answers: wait for it rather than ask once.)
    wait_for(lambda: refused.health() == "NOT_SERVING", 30, what="health NOT_SERVING")
    with pytest.raises(grpc.RpcError) as err:
        refused.stub().GetDocument(docgate_pb2.GetDocumentRequest(id=doc_id), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "docgate-dev-secret" not in refused.output()
