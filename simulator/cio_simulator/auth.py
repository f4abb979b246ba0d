"""Track API Basic auth (site id : track API key) and App API bearer auth."""

from __future__ import annotations

import base64
import binascii
import hmac

from cio_simulator.http import ApiError

UNAUTHORIZED_TRACK = "Unauthorized request"
UNAUTHORIZED_APP = "Unauthorized"


def check_basic(header: str | None, site_id: str, api_key: str) -> None:
    """ApiError 401 unless the header carries exactly these Basic credentials."""
    if not header or not header.startswith("Basic "):
        raise _unauthorized_track("missing Basic credentials (site id and track API key)")
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _unauthorized_track("malformed Basic credentials") from exc
    user, _, password = decoded.partition(":")
    if not (hmac.compare_digest(user, site_id) and hmac.compare_digest(password, api_key)):
        raise _unauthorized_track("wrong site id or track API key")


def check_bearer(header: str | None, app_api_key: str) -> None:
    if not header or not header.startswith("Bearer "):
        raise ApiError(
            401,
            {"meta": {"error": UNAUTHORIZED_APP}},
            "missing bearer App API key",
            outcome="unauthorized",
        )
    if not hmac.compare_digest(header[7:].strip(), app_api_key):
        raise ApiError(
            401, {"meta": {"error": UNAUTHORIZED_APP}}, "wrong App API key", outcome="unauthorized"
        )


def _unauthorized_track(detail: str) -> ApiError:
    return ApiError(
        401,
        {"meta": {"error": UNAUTHORIZED_TRACK}},
        detail,
        headers={"WWW-Authenticate": 'Basic realm="Customer.io Track API"'},
        outcome="unauthorized",
    )
