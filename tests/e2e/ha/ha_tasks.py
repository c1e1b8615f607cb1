"""The Celery worker of the HA tests: an unmodified app whose one task, enqueued by
docgate with each create, records its document's id in a Redis set: a create the
writer retried (created=False, its task ids unknown to it) is checked like any other."""
import os

import redis
from celery import Celery

app = Celery("docgate_ha_e2e", broker=os.environ["CELERY_BROKER_URL"])
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=8, broker_connection_retry_on_startup=True)
ran = redis.Redis.from_url(os.environ["OBSERVED_URL"])


@app.task(name="ha_e2e.index", bind=True)
def index(self, document_id: str) -> None:
    ran.sadd("ran", document_id)
