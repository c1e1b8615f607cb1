"""docgate.Client: typed calls, deadlines, retries, and a channel per process."""
from __future__ import annotations

import os
import threading
import weakref
from typing import Iterator, Mapping, Optional, Sequence, Tuple

import grpc

from docgate import _calls as calls
from docgate import errors
from docgate._pb import docgate_pb2_grpc, health_pb2, health_pb2_grpc
from docgate._retry import NO_RETRY, RetryPolicy, call_with_retry
from docgate.types import (CeleryTask, Consistency, CreateResult, Document, DocumentStatus, DocumentTasks,
                           UpdateResult)

# Keepalive the server accepts (it allows pings every 10 s, with or without calls):
# a ping every 30 s finds a dead connection (a NAT that forgot it, a crashed node)
# without drawing GOAWAY too_many_pings.
# Reconnection is quick (0.1 s, growing to 1 s) and names are looked up again at most
# every second, so a restarted or rescheduled docgate is found within about a second.
# (Not grpc.min_reconnect_backoff_ms: gRPC also uses it as the connect timeout.)
_CHANNEL_OPTIONS: Tuple[Tuple[str, object], ...] = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
    ("grpc.dns_min_time_between_resolutions_ms", 1_000),
    # A headless Service resolves to every docgate pod: spread calls over all of them.
    ("grpc.lb_policy_name", "round_robin"),
    # Bodies up to the server's default 4 MiB limit, with room for the other fields.
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    # This client retries itself, by its own rules.
    ("grpc.enable_retries", 0),
)

_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


def _forget_channels_in_child() -> None:
    # A forked child must not touch its parent's channel (gRPC's threads did not
    # come along) nor a lock some parent thread held at the fork.
    for client in list(_clients):
        client._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_channels_in_child)


def call_metadata(metadata: Sequence[Tuple[str, str]], auth_token: Optional[str],
                  caller: Optional[str]) -> Tuple[Tuple[str, str], ...]:
    """What every call sends: `metadata`, the bearer token, the caller's name."""
    return (tuple(metadata) + ((("authorization", f"Bearer {auth_token}"),) if auth_token else ())
            + ((("x-docgate-caller", caller),) if caller else ()))


def tls_credentials(root_certificates: Optional[str] = None, certificate_chain: Optional[str] = None,
                    private_key: Optional[str] = None) -> grpc.ChannelCredentials:
    """Channel credentials for a docgate serving TLS, from PEM files: the CA that
    signed docgate's certificate (None: the system's), and for mutual TLS this
    client's certificate chain and key."""
    def read(path: Optional[str]) -> Optional[bytes]:
        if path is None:
            return None
        with open(path, "rb") as f:
            return f.read()
    if (certificate_chain is None) != (private_key is None):
        raise ValueError("certificate_chain and private_key go together")
    return grpc.ssl_channel_credentials(read(root_certificates), read(private_key), read(certificate_chain))


class Client:
    """A docgate client. Cheap to make and safe to make at import time: the channel
    is opened at the first call, once per process, so a client made before Celery
    (or anything else) forks works in every child. Thread-safe.

    `timeout`: the default deadline of every call but wait_visible, in seconds,
    retries included. `wait_timeout`: wait_visible's default. `retry`: how
    UNAVAILABLE is retried for reads and creates. `credentials`: grpc channel
    credentials for TLS, e.g. docgate.tls_credentials(...) (plaintext when None).
    `auth_token`: the bearer token docgate's --auth-tokens-file knows this client
    by. `caller`: who this client is for docgate's fair admission and per-caller
    metrics, sent as x-docgate-caller (with tokens on, the token's name is used
    instead). `metadata`: sent with every call.
    """

    def __init__(self, target: str, *, timeout: float = 10.0, wait_timeout: float = 30.0,
                 retry: RetryPolicy = RetryPolicy(), credentials: Optional[grpc.ChannelCredentials] = None,
                 auth_token: Optional[str] = None, caller: Optional[str] = None,
                 metadata: Sequence[Tuple[str, str]] = (),
                 options: Sequence[Tuple[str, object]] = ()):
        self.target = target
        self.timeout = timeout
        self.wait_timeout = wait_timeout
        self.retry = retry
        self._credentials = credentials
        self._metadata = call_metadata(metadata, auth_token, caller)
        self._options = _CHANNEL_OPTIONS + tuple(options)
        self._reset_after_fork()
        _clients.add(self)

    # -- the API -----------------------------------------------------------------

    def create_document(self, name: str, *, body: bytes = b"", source_uri: str = "", content_type: str = "",
                        attributes: Optional[Mapping[str, str]] = None, id: Optional[str] = None,
                        enqueue: Sequence[CeleryTask] = (), timeout: Optional[float] = None) -> CreateResult:
        """Creates a document. The id is chosen here (a UUIDv7) unless given, before
        the first attempt, so that retries after UNAVAILABLE are idempotent. The tasks
        of `enqueue` are delivered to the broker after the create commits, and only if
        it created the document (a retry that finds it enqueues nothing again)."""
        return self._run(calls.create_document(name, body, source_uri, content_type, attributes, id, enqueue), timeout)

    def get_document(self, id: str, *, include_body: bool = False, consistency_token: str = "",
                     consistency: Optional[Consistency] = None, timeout: Optional[float] = None) -> Document:
        """The document. With a write's consistency_token the read sees that write,
        from a replica that has replayed it or the primary; `consistency` chooses
        otherwise (see Consistency). Document.served_by says which source answered."""
        return self._run(calls.get_document(id, include_body, consistency_token, consistency), timeout)

    def wait_visible(self, id: str, *, include_body: bool = False, consistency_token: str = "",
                     consistency: Optional[Consistency] = None, timeout: Optional[float] = None) -> Document:
        """The document once it is committed and visible (for example a row another
        process inserts in a transaction it has not committed yet). Raises
        DeadlineExceeded if it does not appear within `timeout` (default wait_timeout).
        With a consistency_token, a replica that has replayed it may answer."""
        return self._run(calls.wait_visible(id, include_body, consistency_token, consistency), timeout)

    def update_status(self, id: str, status: DocumentStatus, *, detail: str = "", expected_version: int = 0,
                      enqueue: Sequence[CeleryTask] = (), lease: Optional[float] = None, lease_holder: str = "",
                      max_attempts: int = 0, timeout: Optional[float] = None) -> UpdateResult:
        """Moves a document to `status`. Never retried: after UNAVAILABLE the update
        may or may not have happened; read the document to find out (or pass
        expected_version, and a repeat is refused with Aborted instead of applied twice).
        `lease` (seconds, 1 to 86400; a move to PROCESSING only): the document returns
        to PENDING, its tasks enqueued again, unless renewed (renew_lease) in time; the
        result's version is the fencing token later moves and renewals name. Each lease
        that runs out is an attempt; the one that reaches `max_attempts` (with `lease`;
        0: the server's bound, default 5) moves the document to FAILED instead."""
        return self._run(calls.update_status(id, status, detail, expected_version, enqueue, lease, lease_holder,
                                             max_attempts), timeout)

    def retry_document(self, id: str, *, reset_attempts: bool, expected_version: int = 0, detail: str = "",
                       timeout: Optional[float] = None) -> UpdateResult:
        """For operators: a FAILED document back to PENDING, its attempts reset to 0 or
        kept (say which), and the tasks it remembers enqueued again with new ids
        (result.task_ids). FailedPrecondition when it is not FAILED. Never retried."""
        return self._run(calls.retry_document(id, reset_attempts, expected_version, detail), timeout)

    def list_document_tasks(self, id: str, *, timeout: Optional[float] = None) -> DocumentTasks:
        """For operators: the document's tasks waiting in the outbox (not yet with the
        broker) and those it remembers for a redelivery."""
        return self._run(calls.list_document_tasks(id), timeout)

    def renew_lease(self, id: str, version: int, lease: float, *, timeout: Optional[float] = None) -> Document:
        """Extends the lease taken at `version` to `lease` seconds from now. Idempotent,
        so retried like a read. Aborted when the lease was lost (it ran out, or the
        document moved on): stop, and write nothing more for this document."""
        return self._run(calls.renew_lease(id, version, lease), timeout)

    def list_documents(self, *, status: Optional[DocumentStatus] = None, page_size: int = 100,
                       timeout: Optional[float] = None) -> Iterator[Document]:
        """Every document (of one status, if given), oldest first, fetched a page at a
        time as the iterator advances. `timeout` applies to each page."""
        token = ""
        while True:
            docs, token = self._run(calls.list_page(status, page_size, token), timeout)
            yield from docs
            if not token:
                return

    def health(self, service: str = "docgate.v1.DocumentService", *, timeout: Optional[float] = None) -> str:
        """"SERVING" or "NOT_SERVING" (grpc.health.v1), or raises, e.g. Unavailable."""
        stub = health_pb2_grpc.HealthStub(self._connection()[0])
        reply = self._call(stub.Check, health_pb2.HealthCheckRequest(service=service), timeout, NO_RETRY)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    # -- life cycle ----------------------------------------------------------------

    def close(self) -> None:
        """Closes this process's channel; a later call opens a new one."""
        with self._lock:
            channel, self._channel_obj, self._stub_obj = self._channel_obj, None, None
        if channel is not None:
            channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._channel_obj: Optional[grpc.Channel] = None
        self._stub_obj = None

    def _connection(self) -> Tuple[grpc.Channel, "docgate_pb2_grpc.DocumentServiceStub"]:
        """This process's channel and stub, made at the first call."""
        if self._pid != os.getpid():  # forked without os.register_at_fork (not CPython)
            self._reset_after_fork()
        with self._lock:
            if self._channel_obj is None:
                if self._credentials is None:
                    self._channel_obj = grpc.insecure_channel(self.target, options=self._options)
                else:
                    self._channel_obj = grpc.secure_channel(self.target, self._credentials, options=self._options)
                self._stub_obj = docgate_pb2_grpc.DocumentServiceStub(self._channel_obj)
            return self._channel_obj, self._stub_obj

    def _stub(self) -> "docgate_pb2_grpc.DocumentServiceStub":
        return self._connection()[1]

    def _run(self, call: calls.Call, timeout: Optional[float]):
        default = self.wait_timeout if call.waits else self.timeout
        method = getattr(self._stub(), call.method)
        reply = self._call(method, call.request, default if timeout is None else timeout,
                           self.retry if call.retried else NO_RETRY)
        return call.result(reply)

    def _call(self, method, request, timeout: Optional[float], policy: RetryPolicy):
        total = self.timeout if timeout is None else timeout
        try:
            return call_with_retry(lambda left: method(request, timeout=left, metadata=self._metadata), total,
                                   policy)
        except grpc.RpcError as error:
            raise errors.from_rpc_error(error) from None
