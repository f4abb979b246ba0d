"""A thin Track API v2 client: one pooled `requests.Session` per instance, no hidden retries.

Why not the official `customerio` package (3.2.0): it always builds https Track URLs (no
simulator), retries 5xx itself with almost no backoff (we want Pub/Sub's backoff and one
decision per delivery), its `APIClient(url=)` never retries over http, and its exceptions carry
the request payload (personal data) into logs. Here every call is one HTTP request with connect
and read timeouts, and the caller sees the status code and nothing of the payload in errors.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from cio_shared.delivery.settings import Settings

ENTITY_PATH = "/api/v2/entity"
BATCH_PATH = "/api/v2/batch"


class TransportError(Exception):
    """The request got no HTTP answer (timeout, refused, reset). `reason` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ItemError:
    index: int
    reason: str
    field: str = ""


@dataclass(frozen=True)
class TrackResponse:
    status: int
    item_errors: list[ItemError] = field(default_factory=list)
    summary: str = ""
    retry_after: float | None = None  # seconds, from a 429's or 503's Retry-After header


class TrackClient:
    """Created once per instance (at import of the handler), shared by all request threads."""

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.track_url
        self.timeout = (settings.connect_timeout, settings.timeout_seconds)
        self.session = requests.Session()
        self.session.auth = (settings.site_id, settings.track_api_key)
        self.session.headers.update(
            {"Content-Type": "application/json", "User-Agent": "cio-gcp-handlers/1"}
        )
        adapter = HTTPAdapter(
            pool_connections=1, pool_maxsize=settings.http_pool_size, max_retries=0
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def send_entity(self, body: bytes) -> TrackResponse:
        """POST one encoded v2 operation to /api/v2/entity."""
        return self._post(ENTITY_PATH, body)

    def send_batch(self, bodies: list[bytes]) -> TrackResponse:
        """POST encoded v2 operations as one /api/v2/batch; a 207 lists per-item errors."""
        return self._post(BATCH_PATH, b'{"batch":[' + b",".join(bodies) + b"]}")

    def _post(self, path: str, body: bytes) -> TrackResponse:
        try:
            response = self.session.post(self.base_url + path, data=body, timeout=self.timeout)
        except requests.Timeout as exc:
            raise TransportError("timeout", f"{path}: {type(exc).__name__}") from None
        except requests.ConnectionError as exc:
            raise TransportError("connection_error", f"{path}: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise TransportError("request_error", f"{path}: {type(exc).__name__}") from None
        status = response.status_code
        errors = _item_errors(response) if status == 207 else []
        retry_after = (
            retry_after_seconds(response.headers.get("Retry-After"))
            if status in (429, 503)
            else None
        )
        return TrackResponse(status, errors, _summary(response), retry_after)

    def close(self) -> None:
        self.session.close()


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: delay-seconds or an HTTP date; None if absent or
    malformed (RFC 9110, section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _item_errors(response: requests.Response) -> list[ItemError]:
    try:
        payload: Any = response.json()
    except ValueError:
        return []
    errors = payload.get("errors", []) if isinstance(payload, dict) else []
    found = []
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, dict) and isinstance(item.get("batch_index"), int):
            found.append(
                ItemError(
                    item["batch_index"],
                    str(item.get("reason", "invalid"))[:100],
                    str(item.get("field", ""))[:100],
                )
            )
    return found


def _summary(response: requests.Response) -> str:
    """A short, payload-free description of an error answer (error reasons and fields only)."""
    if response.status_code < 400:
        return ""
    try:
        payload = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if isinstance(errors, list):
        parts = [
            f"{e.get('reason', '')}:{e.get('field', '')}" for e in errors[:5] if isinstance(e, dict)
        ]
        return f"HTTP {response.status_code} " + json.dumps(parts)[:300]
    return f"HTTP {response.status_code}"
