"""docgate.aio.Client: docgate.Client's calls on asyncio (grpc.aio), for FastAPI,
aiohttp and other event-loop services: the same methods, typed results and
exceptions, deadlines and retry rules, without a thread per call.

    import docgate.aio

    client = docgate.aio.Client("docgate:50051")
    async def handler(doc_id):
        doc = await client.wait_visible(doc_id)
        async for d in client.list_documents(status=docgate.DocumentStatus.PENDING):
            ...

The channel is opened at the first call, on the event loop that makes it, and
belongs to that loop: use one client per loop (and close() it when the loop ends).
"""
from __future__ import annotations

from typing import AsyncIterator, Mapping, Optional, Sequence, Tuple

import grpc
import grpc.aio

from docgate import _calls as calls
from docgate import errors
from docgate._pb import docgate_pb2_grpc, health_pb2, health_pb2_grpc
from docgate._retry import NO_RETRY, RetryPolicy, call_with_retry_async
from docgate.client import _CHANNEL_OPTIONS, call_metadata
from docgate.types import (CeleryTask, Consistency, CreateResult, Document, DocumentStatus, DocumentTasks,
                           UpdateResult)

__all__ = ["Client"]


class Client:
    """Takes the arguments of docgate.Client; its methods are coroutines (list_documents
    an async iterator) with docgate.Client's results, exceptions and rules: reads,
    creates and renewals retried on UNAVAILABLE within the deadline, status moves
    never."""

    def __init__(self, target: str, *, timeout: float = 10.0, wait_timeout: float = 30.0,
                 retry: RetryPolicy = RetryPolicy(), credentials: Optional[grpc.ChannelCredentials] = None,
                 auth_token: Optional[str] = None, caller: Optional[str] = None,
                 metadata: Sequence[Tuple[str, str]] = (), options: Sequence[Tuple[str, object]] = ()):
        self.target = target
        self.timeout = timeout
        self.wait_timeout = wait_timeout
        self.retry = retry
        self._credentials = credentials
        self._metadata = call_metadata(metadata, auth_token, caller)
        self._options = _CHANNEL_OPTIONS + tuple(options)
        self._channel: Optional[grpc.aio.Channel] = None
        self._stub_obj = None

    async def create_document(self, name: str, *, body: bytes = b"", source_uri: str = "", content_type: str = "",
                              attributes: Optional[Mapping[str, str]] = None, id: Optional[str] = None,
                              enqueue: Sequence[CeleryTask] = (), timeout: Optional[float] = None) -> CreateResult:
        """See docgate.Client.create_document."""
        return await self._run(calls.create_document(name, body, source_uri, content_type, attributes, id, enqueue),
                               timeout)

    async def get_document(self, id: str, *, include_body: bool = False, consistency_token: str = "",
                           consistency: Optional[Consistency] = None, timeout: Optional[float] = None) -> Document:
        """See docgate.Client.get_document."""
        return await self._run(calls.get_document(id, include_body, consistency_token, consistency), timeout)

    async def wait_visible(self, id: str, *, include_body: bool = False, consistency_token: str = "",
                           consistency: Optional[Consistency] = None, timeout: Optional[float] = None) -> Document:
        """See docgate.Client.wait_visible: the coroutine waits, holding no thread."""
        return await self._run(calls.wait_visible(id, include_body, consistency_token, consistency), timeout)

    async def update_status(self, id: str, status: DocumentStatus, *, detail: str = "", expected_version: int = 0,
                            enqueue: Sequence[CeleryTask] = (), lease: Optional[float] = None, lease_holder: str = "",
                            max_attempts: int = 0, timeout: Optional[float] = None) -> UpdateResult:
        """See docgate.Client.update_status (never retried)."""
        return await self._run(calls.update_status(id, status, detail, expected_version, enqueue, lease,
                                                   lease_holder, max_attempts), timeout)

    async def retry_document(self, id: str, *, reset_attempts: bool, expected_version: int = 0, detail: str = "",
                             timeout: Optional[float] = None) -> UpdateResult:
        """See docgate.Client.retry_document (never retried)."""
        return await self._run(calls.retry_document(id, reset_attempts, expected_version, detail), timeout)

    async def list_document_tasks(self, id: str, *, timeout: Optional[float] = None) -> DocumentTasks:
        """See docgate.Client.list_document_tasks."""
        return await self._run(calls.list_document_tasks(id), timeout)

    async def renew_lease(self, id: str, version: int, lease: float, *, timeout: Optional[float] = None) -> Document:
        """See docgate.Client.renew_lease."""
        return await self._run(calls.renew_lease(id, version, lease), timeout)

    async def list_documents(self, *, status: Optional[DocumentStatus] = None, page_size: int = 100,
                             timeout: Optional[float] = None) -> AsyncIterator[Document]:
        """See docgate.Client.list_documents: pages are fetched as the iteration goes."""
        token = ""
        while True:
            docs, token = await self._run(calls.list_page(status, page_size, token), timeout)
            for doc in docs:
                yield doc
            if not token:
                return

    async def health(self, service: str = "docgate.v1.DocumentService", *, timeout: Optional[float] = None) -> str:
        """"SERVING" or "NOT_SERVING", or raises, e.g. Unavailable."""
        stub = health_pb2_grpc.HealthStub(self._connect())
        reply = await self._call(stub.Check, health_pb2.HealthCheckRequest(service=service),
                                 self.timeout if timeout is None else timeout, NO_RETRY)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    async def close(self) -> None:
        """Closes the channel; a later call opens a new one."""
        channel, self._channel, self._stub_obj = self._channel, None, None
        if channel is not None:
            await channel.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def _connect(self) -> grpc.aio.Channel:
        if self._channel is None:
            if self._credentials is None:
                self._channel = grpc.aio.insecure_channel(self.target, options=self._options)
            else:
                self._channel = grpc.aio.secure_channel(self.target, self._credentials, options=self._options)
            self._stub_obj = docgate_pb2_grpc.DocumentServiceStub(self._channel)
        return self._channel

    async def _run(self, call: calls.Call, timeout: Optional[float]):
        self._connect()
        default = self.wait_timeout if call.waits else self.timeout
        reply = await self._call(getattr(self._stub_obj, call.method), call.request,
                                 default if timeout is None else timeout, self.retry if call.retried else NO_RETRY)
        return call.result(reply)

    async def _call(self, method, request, timeout: float, policy: RetryPolicy):
        try:
            return await call_with_retry_async(
                lambda left: method(request, timeout=left, metadata=self._metadata), timeout, policy)
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None
