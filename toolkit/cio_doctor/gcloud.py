"""Create Google clients with an error an on-call engineer can act on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cio_doctor.findings import CannotCheck


def google_client(factory: Callable[[], Any], service: str) -> Any:
    """`factory()`, turning missing application default credentials into `CannotCheck`."""
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return factory()
    except DefaultCredentialsError:
        raise CannotCheck(
            f"no Google credentials for {service}: run `gcloud auth application-default login` "
            "(or set GOOGLE_APPLICATION_CREDENTIALS)"
        ) from None


def google_error(exc: BaseException) -> str:
    """A short reason from a google.api_core error, without any payload."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None) or str(exc).splitlines()[0][:200]
    return f"{getattr(code, 'name', code) or type(exc).__name__}: {message}"
