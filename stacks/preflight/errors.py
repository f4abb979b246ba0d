"""Google client errors, sorted into what a check needs to know: missing, refused, unreachable.

The official clients raise `google.api_core` exceptions (Storage and the GAPIC clients), the
discovery client `googleapiclient.errors.HttpError`, and transports their own connection
errors; a check asks only these questions.
"""

from __future__ import annotations

import socket

from google.api_core import exceptions as core
from google.auth import exceptions as auth


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of an API error (gRPC codes are mapped to it by api_core), or None."""
    if isinstance(exc, core.RetryError) and exc.cause is not None:
        return status_code(exc.cause)
    if isinstance(exc, core.GoogleAPICallError):
        return exc.code if isinstance(exc.code, int) else None
    resp = getattr(exc, "resp", None)  # googleapiclient.errors.HttpError
    status = getattr(resp, "status", None)
    return int(status) if status is not None else None


def is_not_found(exc: BaseException) -> bool:
    return status_code(exc) == 404


def is_permission_denied(exc: BaseException) -> bool:
    return status_code(exc) == 403


def is_unreachable(exc: BaseException) -> bool:
    """The service did not answer at all (refused, timed out, name not resolved)."""
    if isinstance(exc, core.RetryError):
        return exc.cause is None or is_unreachable(exc.cause)
    if isinstance(exc, core.ServiceUnavailable | core.DeadlineExceeded | auth.TransportError):
        return True
    import httplib2
    import requests

    return isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.Timeout
        | httplib2.error.ServerNotFoundError
        | ConnectionError
        | TimeoutError
        | socket.gaierror,
    )


def describe(exc: BaseException, limit: int = 160) -> str:
    """A short reason without payload: the status (gRPC code or HTTP) and the first line."""
    if isinstance(exc, core.RetryError) and exc.cause is not None:
        return describe(exc.cause, limit)
    code = status_code(exc)
    grpc_code = getattr(exc, "grpc_status_code", None)
    message = getattr(exc, "message", None) or getattr(exc, "reason", None) or str(exc)
    text = str(message).strip()
    first = text.splitlines()[0] if text else ""
    if len(first) > limit:
        first = first[: limit - 3] + "..."
    if grpc_code is not None:
        label = str(getattr(grpc_code, "name", grpc_code))
    elif code:
        label = f"HTTP {code}"
    else:
        label = type(exc).__name__
    return f"{label}: {first}" if first else label
