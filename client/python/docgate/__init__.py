"""docgate: the Python client.

    import docgate
    client = docgate.Client("docgate:50051")      # safe at import time, before fork
    created = client.create_document("invoice.pdf", body=b"...")
    doc = client.wait_visible(created.document.id)
    # Or let docgate hand the task to Celery after the commit:
    client.create_document("scan.pdf", enqueue=[docgate.CeleryTask("pdf_tasks.extract_text", args=["..."])])
    client.update_status(doc.id, docgate.DocumentStatus.PROCESSING)

With TLS and a bearer token:

    client = docgate.Client("docgate:50051", auth_token=os.environ["DOCGATE_AUTH_TOKEN"],
                            credentials=docgate.tls_credentials("/etc/docgate/ca.crt"))

Every failure is a docgate.DocgateError subclass named after its gRPC code.
"""
from docgate._retry import RetryPolicy
from docgate.client import Client, tls_credentials
from docgate.errors import (Aborted, AlreadyExists, Cancelled, DataLoss, DeadlineExceeded, DocgateError,
                            FailedPrecondition, Internal, InvalidArgument, NotFound, OutOfRange, PermissionDenied,
                            ResourceExhausted, Unauthenticated, Unavailable, Unimplemented, Unknown)
from docgate.types import (CeleryTask, Consistency, CreateResult, Document, DocumentStatus, DocumentTasks,
                           UpdateResult, WaitingTask)

__version__ = "0.1.0"

__all__ = [
    "Client", "tls_credentials", "RetryPolicy", "CeleryTask", "Consistency", "Document", "DocumentStatus", "CreateResult", "UpdateResult",
    "DocumentTasks", "WaitingTask",
    "DocgateError", "Aborted", "AlreadyExists", "Cancelled", "DataLoss", "DeadlineExceeded", "FailedPrecondition",
    "Internal", "InvalidArgument", "NotFound", "OutOfRange", "PermissionDenied", "ResourceExhausted",
    "Unauthenticated", "Unavailable", "Unimplemented", "Unknown",
]
