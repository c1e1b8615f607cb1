"""Exceptions made from gRPC status codes, all under DocgateError."""
from __future__ import annotations

from typing import Dict, Optional, Type

import grpc


class DocgateError(Exception):
    """A call failed. `code` is the gRPC status code, `details` the server's message,
    `request_id` the id to quote when asking about this call (None if none came back)."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, details: str = "", *, request_id: Optional[str] = None):
        super().__init__(details if request_id is None else f"{details} (request_id={request_id})")
        self.details = details
        self.request_id = request_id


class Cancelled(DocgateError):
    code = grpc.StatusCode.CANCELLED


class Unknown(DocgateError):
    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(DocgateError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(DocgateError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(DocgateError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DocgateError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(DocgateError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(DocgateError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(DocgateError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(DocgateError):
    code = grpc.StatusCode.ABORTED


class OutOfRange(DocgateError):
    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(DocgateError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(DocgateError):
    code = grpc.StatusCode.INTERNAL


class Unavailable(DocgateError):
    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(DocgateError):
    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(DocgateError):
    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: Dict[grpc.StatusCode, Type[DocgateError]] = {
    cls.code: cls for cls in DocgateError.__subclasses__()
}


def from_rpc_error(error: grpc.RpcError) -> DocgateError:
    """The typed exception for a failed call (raise it `from` the original)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else None) or str(code)
    request_id = None
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == "x-request-id":
            request_id = value
    return _BY_CODE.get(code, Unknown)(details, request_id=request_id)
