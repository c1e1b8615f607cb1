"""Throwaway certificate authorities and certificates for TLS tests, made with the
openssl command (ECDSA P-256: quick to make)."""
import os
import subprocess
from pathlib import Path


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class Authority:
    """A CA in `folder`: ca.crt, and the certificates it issues beside it."""

    def __init__(self, folder: Path, name: str):
        self.folder = folder
        self.name = name
        folder.mkdir(parents=True, exist_ok=True)
        self.cert = folder / f"{name}-ca.crt"
        self.key = folder / f"{name}-ca.key"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                 "-subj", f"/CN={name} test CA", "-keyout", str(self.key), "-out", str(self.cert))

    def issue(self, name: str, *, server: bool):
        """(certificate path, key path) for `name`: a server certificate for 127.0.0.1
        and localhost, or a client certificate."""
        cert, key, csr = (self.folder / f"{name}.{ext}" for ext in ("crt", "key", "csr"))
        ext = self.folder / f"{name}.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n" if server
                       else "extendedKeyUsage=clientAuth\n")
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr))
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key), "-CAcreateserial",
                 "-days", "2", "-extfile", str(ext), "-out", str(cert))
        os.chmod(key, 0o600)
        return cert, key
