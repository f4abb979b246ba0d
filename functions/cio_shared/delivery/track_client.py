"""A thin Track API v2 client: one connection pool per instance, no hidden retries.

Why not the official `customerio` package (3.2.0): it always builds https Track URLs (no
simulator), retries 5xx itself with almost no backoff (we want Pub/Sub's backoff and one
decision per delivery), its `APIClient(url=)` never retries over http, and its exceptions carry
the request payload (personal data) into logs. Here every call is one HTTP request with connect
and read timeouts, and the caller sees the status code and nothing of the payload in errors.

The requests go through urllib3 (what `requests` runs on) directly: `requests.Session.post`
cost about 1 ms of CPU per call more than the same call on a urllib3 pool (it prepares the
request, merges proxy and environment settings, runs hooks and cookies every time), which is
most of what a batch of ~20 deliveries spent on its HTTP call. The instance's `requests.Session`
stays the configuration (Basic auth and headers; `PipelinesClient` sets its own), read once
into the pool's default headers. Redirects are not followed: a 3xx is an unexpected answer
(retry), where `requests` would have followed a 302 to the POST with a GET.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import certifi
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, ProxyError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

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
    """Created once per instance (at import of the handler), shared by all request threads.

    Subclasses set `base_url`, `timeout` (connect, read) and `session` (auth, headers)."""

    _pool_lock = threading.Lock()
    _pool: urllib3.PoolManager | None = None

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

    def _connections(self) -> urllib3.PoolManager:
        """The pool, built at first use from the session's auth and headers."""
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    headers = {
                        name: value
                        for name, value in self.session.headers.items()
                        if isinstance(value, str)
                    }
                    if isinstance(self.session.auth, tuple):
                        user, password = self.session.auth
                        headers.update(urllib3.make_headers(basic_auth=f"{user}:{password}"))
                    adapter = self.session.get_adapter(self.base_url)
                    self._pool = urllib3.PoolManager(
                        num_pools=1,
                        maxsize=getattr(adapter, "_pool_maxsize", 10),
                        headers=headers,
                        ca_certs=certifi.where(),  # the bundle requests verified with
                        retries=False,
                    )
        return self._pool

    def _post(self, path: str, body: bytes) -> TrackResponse:
        connect, read = self.timeout
        try:
            response = self._connections().request(
                "POST",
                self.base_url + path,
                body=body,
                timeout=urllib3.Timeout(connect=connect, read=read),
                retries=False,
                redirect=False,
            )
        except NewConnectionError as exc:  # (a ConnectTimeoutError too, for compatibility)
            raise TransportError("connection_error", f"{path}: {type(exc).__name__}") from None
        except Urllib3Timeout as exc:
            raise TransportError("timeout", f"{path}: {type(exc).__name__}") from None
        except (ProtocolError, SSLError, ProxyError, ConnectionError) as exc:  # as requests
            raise TransportError("connection_error", f"{path}: {type(exc).__name__}") from None
        except (HTTPError, OSError) as exc:
            raise TransportError("request_error", f"{path}: {type(exc).__name__}") from None
        status = response.status
        payload = _json(response.data) if status == 207 or status >= 400 else None
        retry_after = (
            retry_after_seconds(response.headers.get("Retry-After"))
            if status in (429, 503)
            else None
        )
        errors = _item_errors(payload) if status == 207 else []
        return TrackResponse(status, errors, _summary(status, payload), retry_after)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.clear()
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


class _NotJson:
    """An answer body that is not JSON."""


_NOT_JSON = _NotJson()


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:  # UnicodeDecodeError included
        return _NOT_JSON


def _item_errors(payload: Any) -> list[ItemError]:
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


def _summary(status: int, payload: Any) -> str:
    """A short, payload-free description of an error answer (error reasons and fields only)."""
    if status < 400:
        return ""
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if isinstance(errors, list):
        parts = [
            f"{e.get('reason', '')}:{e.get('field', '')}" for e in errors[:5] if isinstance(e, dict)
        ]
        return f"HTTP {status} " + json.dumps(parts)[:300]
    return f"HTTP {status}"
