"""Celery tasks that own a document while they work, with no status bookkeeping of
your own: the claim under a lease, its renewal while the task runs, the final move,
and a lost lease, handled.

    import docgate, docgate.celery

    client = docgate.Client("docgate:50051")           # at import time, before fork

    @docgate.celery.document_task(app, client, lease=30, name="pdf.extract")
    def extract(doc: docgate.Document) -> docgate.celery.Done:
        text = ...                                      # the work, on doc
        return docgate.celery.Done(detail="12 pages",
                                   enqueue=[docgate.CeleryTask("pdf.index", args=[doc.id])])

    # Producers enqueue it with the document (docgate.CeleryTask("pdf.extract", args=[doc_id])),
    # so that a lease that runs out can enqueue it again.

What a run does:
  1. waits for the document (wait_visible); a redelivery whose document is COMPLETED
     or FAILED, or that another worker holds (PROCESSING), returns at once;
  2. claims it: PENDING -> PROCESSING under a lease, at the version it saw (another
     worker claiming it first makes this run return);
  3. renews the lease every lease/3 seconds from a background thread while the
     function runs;
  4. on return: COMPLETED, with Done's detail and tasks (the next stage, enqueued in
     the same commit); on Celery's Retry (self.retry, or an exception autoretry_for
     will retry): back to PENDING, for the retry to claim; on any other exception:
     FAILED with the exception's summary; the exception goes on to Celery.
A worker that dies holding the lease (SIGKILL, out of memory) costs the document an
attempt: docgate enqueues the task again after a delay that doubles each time, and
the expiry that reaches the bound (`max_attempts`, else the server's, default 5)
moves the document to FAILED ("lease expired N times; last holder H") with nothing
enqueued: a document that kills its worker every time is not redelivered forever.
A worker that dies before its claim (between Celery's delivery and the move to
PROCESSING) holds no lease, so docgate has nothing to expire: document_task turns on
Celery's reject_on_worker_lost, and Celery delivers that message again. The same
redelivery of a worker that died holding the lease finds the document PROCESSING and
returns at once; the lease's expiry enqueues it, after its delay, as above (a copy
that comes later, behind a queue, while that delayed one waits, returns too).
The claim's version is the fencing token: if this worker stalled past its lease
(a GC pause, SIGSTOP, a partition), docgate already returned the document to
PENDING and enqueued the task again; every later renewal and the final move name
the old version and are refused (Aborted), so this run writes nothing and raises
LeaseLost. Side effects that must happen once belong in the final move (Done's
detail and enqueue), which is fenced; or check lease_lost() / current_lease().check()
before doing them elsewhere.
"""
import dataclasses
import datetime
import functools
import os
import socket
import threading
from typing import Any, Callable, Optional, Sequence

from docgate.errors import Aborted, FailedPrecondition
from docgate.types import CeleryTask, Document, DocumentStatus

__all__ = ["document_task", "Done", "Lease", "LeaseLost", "current_lease"]

_MAX_DETAIL = 4096


class LeaseLost(Exception):
    """This worker's lease ran out (or the document moved on) before it finished:
    another worker may have taken the document over, and nothing this run still had
    to write was written."""


@dataclasses.dataclass(frozen=True)
class Done:
    """What the final move (to COMPLETED) writes with it: a status detail, and tasks
    docgate enqueues after that commit (the next stage)."""
    detail: str = ""
    enqueue: Sequence[CeleryTask] = ()
    result: Any = None  # the Celery task's return value


class Lease:
    """The lease a run holds: the document as claimed (its version is the fencing
    token), and whether the lease was lost."""

    def __init__(self, client, document: Document, seconds: float):
        self.client = client
        self.document = document
        self.version = document.version
        self.seconds = seconds
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"docgate-lease-{document.id}", daemon=True)

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def check(self) -> None:
        """Raises LeaseLost when a renewal was refused: stop, the document is not yours."""
        if self.lost:
            raise LeaseLost(f"the lease on {self.document.id} (version {self.version}) was lost")

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.client.renew_lease(self.document.id, self.version, self.seconds)
            except Aborted:
                self._lost.set()
                return
            except Exception:  # noqa: BLE001  (docgate unreachable now: try again at the next tick)
                continue

    def __enter__(self) -> "Lease":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


_current = threading.local()


def current_lease() -> Optional[Lease]:
    """The lease of the document_task running on this thread, if any."""
    return getattr(_current, "lease", None)


def _holder(request) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{getattr(request, 'id', '') or ''}"[:255]


def _summary(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:_MAX_DETAIL]


def _eta(request) -> Optional[datetime.datetime]:
    eta = getattr(request, "eta", None)
    if isinstance(eta, str):
        eta = datetime.datetime.fromisoformat(eta)
    if isinstance(eta, datetime.datetime) and eta.tzinfo is None:
        eta = eta.replace(tzinfo=datetime.timezone.utc)
    return eta if isinstance(eta, datetime.datetime) else None


def _before_its_redelivery(request, doc: Document) -> bool:
    """Whether this run is an earlier copy of a document's task (Celery's redelivery of
    a killed worker's message, behind a queue) while the lease expiry's own redelivery,
    due at doc.redelivery_time, waits: that one claims it, so the backoff holds. Its
    ETA is the redelivery time plus the task's countdown; an earlier copy's is before."""
    if doc.redelivery_time is None:
        return False
    eta = _eta(request)
    return eta is None or eta < doc.redelivery_time - datetime.timedelta(milliseconds=1)


def _claim(client, task, document_id: str, seconds: float, max_attempts: int) -> Optional[Document]:
    """The document under this run's lease; None when the run has nothing to do."""
    doc = client.wait_visible(document_id)
    if doc.status is not DocumentStatus.PENDING:
        return None  # done, failed, or another worker's (whose lease, if it dies, re-enqueues it)
    if _before_its_redelivery(task.request, doc):
        return None
    try:
        return client.update_status(doc.id, DocumentStatus.PROCESSING, expected_version=doc.version, lease=seconds,
                                    lease_holder=_holder(task.request), max_attempts=max_attempts).document
    except (Aborted, FailedPrecondition):
        return None  # another worker claimed it first


def _finish(client, lease: Lease, status: DocumentStatus, detail: str = "", enqueue: Sequence[CeleryTask] = ()):
    try:
        client.update_status(lease.document.id, status, detail=detail, expected_version=lease.version,
                             enqueue=enqueue)
    except Aborted as e:
        raise LeaseLost(f"the lease on {lease.document.id} (version {lease.version}) ran out before the move to "
                        f"{status.name}: another worker may have it, and nothing was written") from e


def _will_retry(task, error: BaseException) -> bool:
    """Whether Celery's autoretry_for is about to retry the task for `error`."""
    kinds = tuple(getattr(task, "autoretry_for", ()) or ())
    if not kinds or not isinstance(error, kinds):
        return False
    max_retries = getattr(task, "max_retries", None)
    return max_retries is None or task.request.retries < max_retries


def _run(task, client, seconds: float, max_attempts: int, fn: Callable, document_id: str, args, kwargs):
    from celery.exceptions import Retry  # imported here: docgate itself does not need Celery

    doc = _claim(client, task, document_id, seconds, max_attempts)
    if doc is None:
        return None
    with Lease(client, doc, seconds) as lease:
        _current.lease = lease
        try:
            outcome = fn(doc, *args, **kwargs)
        except Retry:
            _finish(client, lease, DocumentStatus.PENDING, detail="retrying")
            raise
        except Exception as error:
            if _will_retry(task, error):
                _finish(client, lease, DocumentStatus.PENDING, detail="retrying: " + _summary(error))
            else:
                _finish(client, lease, DocumentStatus.FAILED, detail=_summary(error))
            raise
        finally:
            _current.lease = None
    done = outcome if isinstance(outcome, Done) else Done(result=outcome)
    _finish(client, lease, DocumentStatus.COMPLETED, detail=done.detail, enqueue=done.enqueue)
    return done.result


def document_task(app, client, *, lease: float = 30.0, max_attempts: int = 0,
                  **task_options) -> Callable[[Callable], Any]:
    """Makes `fn(doc, *args, **kwargs)` a Celery task of `app` whose first argument is
    a document id (as docgate.CeleryTask(name, args=[doc_id, ...]) sends it): see the
    module's documentation. `lease`: seconds (1 to 86400), renewed every third of it.
    `max_attempts`: how many leases may run out on a document before it is FAILED
    (0: the server's bound).
    `task_options` go to app.task (name, queue, autoretry_for, ...); acks_late and
    reject_on_worker_lost are on unless given (both are needed for a worker that dies
    before its claim to lose nothing). The client may be made at import time: it works in every child of
    Celery's prefork pool."""
    def decorate(fn: Callable) -> Any:
        def run(self, document_id: str, *args, **kwargs):
            return _run(self, client, lease, max_attempts, fn, document_id, args, kwargs)

        # Celery names the task and checks call arguments by this function; the
        # document id stands first, as producers send it.
        functools.update_wrapper(run, fn, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
        return app.task(bind=True, **{"acks_late": True, "reject_on_worker_lost": True, **task_options})(run)

    return decorate
