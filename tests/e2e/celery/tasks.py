"""A Celery worker that processes documents through docgate: the pattern to copy.

The client is made here, at import time, in the worker's parent process, before the
prefork pool forks its children: docgate.Client opens its channel lazily, once per
process, so each child gets its own. No connection pool, no fork hook, no retry loop
around "not found": wait_visible waits for the producer's commit.
"""
import os

from celery import Celery

import docgate

app = Celery("docgate_e2e", broker=os.environ["CELERY_BROKER_URL"], backend=os.environ["CELERY_RESULT_BACKEND"])
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=4, task_serializer="json", result_serializer="json",
                broker_connection_retry_on_startup=True)

client = docgate.Client(os.environ["DOCGATE_ADDRESS"], timeout=10, wait_timeout=60)
CLIENT_MADE_IN_PID = os.getpid()


@app.task(name="process_document")
def process_document(document_id: str) -> dict:
    doc = client.wait_visible(document_id)  # the producer's commit may still be on its way
    if doc.status is docgate.DocumentStatus.COMPLETED:
        return {"pid": os.getpid(), "client_made_in_pid": CLIENT_MADE_IN_PID}  # a redelivered task
    client.update_status(doc.id, docgate.DocumentStatus.PROCESSING, expected_version=doc.version)
    client.update_status(doc.id, docgate.DocumentStatus.COMPLETED, detail="processed")
    return {"pid": os.getpid(), "client_made_in_pid": CLIENT_MADE_IN_PID}
