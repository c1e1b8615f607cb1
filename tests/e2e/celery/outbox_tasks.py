"""The worker of the outbox tests: an unmodified Celery app whose task docgate
enqueues after the commit. It reads its document once, with no waiting (the outbox
delivers only committed work), and appends one line per run to the file named by
OUTBOX_RESULTS: task id, document id, whether the first read found it."""
import os

from celery import Celery

import docgate

app = Celery("docgate_outbox_e2e", broker=os.environ["CELERY_BROKER_URL"])
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=4, broker_connection_retry_on_startup=True,
                # A message a worker took but did not ack (its broker went away) comes back after 10 s.
                broker_transport_options={"visibility_timeout": 10})

client = docgate.Client(os.environ["DOCGATE_ADDRESS"], timeout=10)


@app.task(name="outbox_e2e.extract", bind=True)
def extract(self, document_id: str) -> None:
    try:
        client.get_document(document_id)
        found = True
    except docgate.NotFound:
        found = False
    with open(os.environ["OUTBOX_RESULTS"], "a") as f:  # one short append: atomic across processes
        f.write(f"{self.request.id} {document_id} {found}\n")
