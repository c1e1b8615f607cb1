"""A Celery worker whose tasks own their documents through docgate.celery: the worker
code a user copies, plus what the tests observe (attempts, who holds what, the one
side effect per document).

The side effect is the next stage, enqueued with the move to COMPLETED (Done's
enqueue): fenced by the lease, so applied once per document however many workers
tried. "leased.effect" records it by task id in a Redis set (a redelivery has the
same id)."""
import os
import signal
import time

import redis
from celery import Celery

import docgate
import docgate.celery

app = Celery("docgate_leases", broker=os.environ["CELERY_BROKER_URL"], backend=os.environ["CELERY_RESULT_BACKEND"])
app.conf.update(worker_prefetch_multiplier=1, task_serializer="json", result_serializer="json",
                broker_connection_retry_on_startup=True)

client = docgate.Client(os.environ["DOCGATE_ADDRESS"], timeout=10, wait_timeout=30)
observed = redis.Redis.from_url(os.environ["OBSERVED_URL"])
LEASE_SECONDS = float(os.environ.get("LEASE_SECONDS", "2"))


@docgate.celery.document_task(app, client, lease=LEASE_SECONDS, name="leased.process")
def process(doc: docgate.Document) -> docgate.celery.Done:
    observed.rpush(f"attempts:{doc.id}", os.getpid())
    observed.set(f"holder:{doc.id}", os.getpid())
    time.sleep(3.0 if doc.name.startswith("slow") else 0.2)  # the work
    return docgate.celery.Done(detail=f"processed by {os.getpid()}",
                               enqueue=[docgate.CeleryTask("leased.effect", args=[doc.id])])


@docgate.celery.document_task(app, client, lease=LEASE_SECONDS, name="leased.flaky", autoretry_for=(ValueError,),
                              max_retries=2, default_retry_delay=0)
def flaky(doc: docgate.Document) -> str:
    """Fails twice with ValueError (retried), then succeeds; "fatal" documents raise KeyError (not retried)."""
    if doc.name.startswith("fatal"):
        raise KeyError("no such page")
    if observed.incr(f"flaky:{doc.id}") <= 2:
        raise ValueError("transient")
    return "third time"


POISON_MAX_ATTEMPTS = 4


@docgate.celery.document_task(app, client, lease=LEASE_SECONDS, name="leased.parse", max_attempts=POISON_MAX_ATTEMPTS)
def parse(doc: docgate.Document) -> docgate.celery.Done:
    """A parser that a "poison" document kills every time (as a PDF that runs it out of memory would)."""
    observed.rpush(f"tries:{doc.id}", time.time())
    if doc.attributes.get("poison") == "yes":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)  # the work
    return docgate.celery.Done(detail="parsed", enqueue=[docgate.CeleryTask("leased.effect", args=[doc.id])])


@app.task(name="leased.effect", bind=True)
def effect(self, document_id: str) -> None:
    observed.sadd(f"effects:{document_id}", self.request.id)
