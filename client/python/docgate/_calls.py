"""Each docgate call as data: its method, its request, whether it may be retried, and
how its reply becomes the result. docgate.Client and docgate.aio.Client run the same
calls, one blocking and one on asyncio."""
from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

from docgate._ids import new_document_id
from docgate._pb import docgate_pb2
from docgate.types import (CeleryTask, Consistency, CreateResult, Document, DocumentStatus, DocumentTasks,
                           UpdateResult, WaitingTask)


@dataclasses.dataclass(frozen=True)
class Call:
    method: str                      # the DocumentService method
    request: Any
    retried: bool                    # UNAVAILABLE retried: reads, creates (id fixed first), renewals
    result: Callable[[Any], Any]     # the reply -> what the client returns
    waits: bool = False              # bounded by wait_timeout rather than timeout


def _millis(duration, seconds: float) -> None:
    duration.FromMilliseconds(int(seconds * 1000))


def create_document(name: str, body: bytes, source_uri: str, content_type: str,
                    attributes: Optional[Mapping[str, str]], id: Optional[str], enqueue: Sequence[CeleryTask]) -> Call:
    request = docgate_pb2.CreateDocumentRequest(document=docgate_pb2.Document(
        id=id or new_document_id(), name=name, body=body, source_uri=source_uri, content_type=content_type,
        attributes=dict(attributes or {})), enqueue=[t.to_proto() for t in enqueue])
    return Call("CreateDocument", request, True, lambda r: CreateResult(
        Document.from_proto(r.document), r.created, r.consistency_token, tuple(r.task_ids)))


def get_document(id: str, include_body: bool, consistency_token: str, consistency: Optional[Consistency]) -> Call:
    request = docgate_pb2.GetDocumentRequest(id=id, include_body=include_body, consistency_token=consistency_token,
                                             consistency=int(consistency or 0))
    return Call("GetDocument", request, True,
                lambda r: Document.from_proto(r.document, with_body=include_body, served_by=r.served_by))


def wait_visible(id: str, include_body: bool, consistency_token: str, consistency: Optional[Consistency]) -> Call:
    request = docgate_pb2.WaitVisibleRequest(id=id, include_body=include_body, consistency_token=consistency_token,
                                             consistency=int(consistency or 0))
    return Call("WaitVisible", request, True,
                lambda r: Document.from_proto(r.document, with_body=include_body, served_by=r.served_by), waits=True)


def update_status(id: str, status: DocumentStatus, detail: str, expected_version: int, enqueue: Sequence[CeleryTask],
                  lease: Optional[float], lease_holder: str, max_attempts: int = 0) -> Call:
    request = docgate_pb2.UpdateDocumentStatusRequest(id=id, status=int(status), status_detail=detail,
                                                      expected_version=expected_version,
                                                      enqueue=[t.to_proto() for t in enqueue],
                                                      lease_holder=lease_holder, max_attempts=max_attempts)
    if lease is not None:
        _millis(request.lease_duration, lease)
    return Call("UpdateDocumentStatus", request, False, lambda r: UpdateResult(
        Document.from_proto(r.document), r.consistency_token, tuple(r.task_ids)))


def renew_lease(id: str, version: int, lease: float) -> Call:
    request = docgate_pb2.RenewLeaseRequest(id=id, version=version)
    _millis(request.lease_duration, lease)
    return Call("RenewLease", request, True, lambda r: Document.from_proto(r.document))


def retry_document(id: str, reset_attempts: bool, expected_version: int, detail: str) -> Call:
    attempts = docgate_pb2.RESET_ATTEMPTS if reset_attempts else docgate_pb2.KEEP_ATTEMPTS
    request = docgate_pb2.RetryDocumentRequest(id=id, attempts=attempts, expected_version=expected_version,
                                               status_detail=detail)
    return Call("RetryDocument", request, False, lambda r: UpdateResult(
        Document.from_proto(r.document), r.consistency_token, tuple(r.task_ids)))


def list_document_tasks(id: str) -> Call:
    def tasks(r) -> DocumentTasks:
        return DocumentTasks(
            tuple(WaitingTask(w.task_id, CeleryTask.from_proto(w.task),
                              w.create_time.ToDatetime(tzinfo=datetime.timezone.utc)) for w in r.waiting),
            tuple(CeleryTask.from_proto(t) for t in r.remembered))
    return Call("ListDocumentTasks", docgate_pb2.ListDocumentTasksRequest(id=id), True, tasks)


def list_page(status: Optional[DocumentStatus], page_size: int, page_token: str) -> Call:
    """One page: (its documents, the next page's token or "")."""
    request = docgate_pb2.ListDocumentsRequest(status=int(status or 0), page_size=page_size, page_token=page_token)

    def page(r) -> Tuple[List[Document], str]:
        return [Document.from_proto(d) for d in r.documents], r.next_page_token
    return Call("ListDocuments", request, True, page)
