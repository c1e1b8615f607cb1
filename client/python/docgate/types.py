"""What the client returns: plain dataclasses, with the protobuf at hand when wanted."""
from __future__ import annotations

import dataclasses
import datetime
import enum
import json
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple


class DocumentStatus(enum.IntEnum):
    PENDING = 1
    PROCESSING = 2
    COMPLETED = 3
    FAILED = 4


class Consistency(enum.IntEnum):
    """Where a read may be served from when docgate has read replicas."""
    # The primary: every committed write.
    STRONG = 1
    # A replica that has replayed the consistency_token's write (waited for a
    # little), else the primary. The default when a token is given.
    AT_LEAST_AS_FRESH = 2
    # Any healthy replica, possibly stale: an explicit opt-in.
    MINIMIZE_LATENCY = 3


def _time(ts: Any) -> Optional[datetime.datetime]:
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return ts.ToDatetime(tzinfo=datetime.timezone.utc)


@dataclasses.dataclass(frozen=True)
class Document:
    id: str
    name: str
    source_uri: str = ""
    content_type: str = ""
    # None when the call did not ask for the body (include_body=False, or a create).
    body: Optional[bytes] = None
    attributes: Dict[str, str] = dataclasses.field(default_factory=dict)
    status: Optional[DocumentStatus] = None
    status_detail: str = ""
    version: int = 0
    create_time: Optional[datetime.datetime] = None
    update_time: Optional[datetime.datetime] = None
    # Reads only: the source that served it, "primary" or "replica:HOST:PORT".
    served_by: str = ""
    # While PROCESSING under a lease: who holds it and when it runs out unless renewed.
    lease_holder: str = ""
    lease_expire_time: Optional[datetime.datetime] = None
    # Poison documents: how many times a lease on it ran out, the bound set by the
    # last move to PROCESSING (0: the server's), who held the lease that ran out last,
    # and when the tasks that expiry enqueued again are due (None when none are).
    attempts: int = 0
    max_attempts: int = 0
    last_lease_holder: str = ""
    redelivery_time: Optional[datetime.datetime] = None
    # The docgate.v1.Document it was made from.
    proto: Any = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def from_proto(cls, doc: Any, *, with_body: bool = False, served_by: str = "") -> "Document":
        return cls(
            id=doc.id,
            name=doc.name,
            source_uri=doc.source_uri,
            content_type=doc.content_type,
            body=bytes(doc.body) if with_body else None,
            attributes=dict(doc.attributes),
            status=DocumentStatus(doc.status) if doc.status else None,
            status_detail=doc.status_detail,
            version=doc.version,
            create_time=_time(doc.create_time),
            update_time=_time(doc.update_time),
            served_by=served_by,
            lease_holder=doc.lease_holder,
            lease_expire_time=_time(doc.lease_expire_time) if doc.HasField("lease_expire_time") else None,
            attempts=doc.attempts,
            max_attempts=doc.max_attempts,
            last_lease_holder=doc.last_lease_holder,
            redelivery_time=_time(doc.redelivery_time) if doc.HasField("redelivery_time") else None,
            proto=doc,
        )


@dataclasses.dataclass(frozen=True)
class CeleryTask:
    """A Celery task for docgate to deliver once the write it comes with has committed
    (create_document(..., enqueue=[...]), update_status(..., enqueue=[...])): at least
    once, always with the same task id, never for a write that did not take effect.
    An unmodified `celery worker` consuming `queue` runs it. `args` and `kwargs` must
    be JSON-serialisable (Celery's json serializer)."""
    task: str
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    queue: str = "celery"
    countdown: int = 0  # seconds after the commit

    def to_proto(self) -> Any:
        from docgate._pb import docgate_pb2
        return docgate_pb2.CeleryTask(task=self.task, queue=self.queue, args_json=json.dumps(list(self.args)),
                                      kwargs_json=json.dumps(dict(self.kwargs)), countdown_seconds=self.countdown)

    @classmethod
    def from_proto(cls, t: Any) -> "CeleryTask":
        return cls(task=t.task, args=json.loads(t.args_json or "[]"), kwargs=json.loads(t.kwargs_json or "{}"),
                   queue=t.queue or "celery", countdown=t.countdown_seconds)


@dataclasses.dataclass(frozen=True)
class WaitingTask:
    """A task in docgate's outbox: its write committed, the broker does not have it yet."""
    task_id: str
    task: CeleryTask
    create_time: Optional[datetime.datetime] = None


@dataclasses.dataclass(frozen=True)
class DocumentTasks:
    # In the outbox, oldest first.
    waiting: Tuple[WaitingTask, ...] = ()
    # What a lease expiry or retry_document enqueues again (with new ids).
    remembered: Tuple[CeleryTask, ...] = ()


@dataclasses.dataclass(frozen=True)
class CreateResult:
    document: Document
    # False when a document with this id and the same content already existed
    # (a retried create): the create is idempotent by id.
    created: bool
    # Pass to reads (consistency_token=...) to read this write, wherever they go.
    consistency_token: str
    # The Celery task id of each task of `enqueue`, in order; empty when nothing was
    # enqueued (created is False).
    task_ids: Tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class UpdateResult:
    document: Document
    consistency_token: str
    task_ids: Tuple[str, ...] = ()
