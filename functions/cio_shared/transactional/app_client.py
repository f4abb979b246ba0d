"""The thin App API client for transactional sends: one request per call, no retries.

`send` tells a send that certainly did not happen (`sent=False`: the connection was never
made) from one whose outcome is unknown (`unknown=True`: the request may have left, then the
answer timed out or the connection broke). Only the second can produce a duplicate.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from cio_shared.transactional.settings import Settings


@dataclass(frozen=True)
class SendResult:
    status: int | None = None
    delivery_id: str = ""
    unknown: bool = False  # the request may have reached Customer.io
    error: str = ""  # transport: connect_timeout, connection_error, timeout, connection_lost
    detail: str = ""


class AppClient:
    def __init__(self, settings: Settings, pool_size: int = 32) -> None:
        self.settings = settings
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {
                "Authorization": f"Bearer {settings.app_api_key}",
                "Content-Type": "application/json",
                "User-Agent": "cio-gcp-transactional/1",
            }
        )

    def send(self, path: str, body: dict[str, Any]) -> SendResult:
        timeouts = (self.settings.connect_timeout, self.settings.timeout_seconds)
        try:
            answer = self.session.post(self.settings.app_url + path, json=body, timeout=timeouts)
        except requests.ConnectTimeout:
            return SendResult(error="connect_timeout", detail="connect timed out")
        except requests.ReadTimeout:
            return SendResult(unknown=True, error="timeout", detail="no answer within the timeout")
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                return SendResult(error="connection_error", detail="connection refused")
            return SendResult(unknown=True, error="connection_lost", detail=type(exc).__name__)
        delivery_id = ""
        if 200 <= answer.status_code < 300:
            try:
                delivery_id = str(answer.json().get("delivery_id") or "")
            except ValueError:
                delivery_id = ""
        return SendResult(status=answer.status_code, delivery_id=delivery_id)


def _never_connected(exc: BaseException) -> bool:
    """A refused or unresolvable connection: nothing was sent."""
    text = repr(exc)
    return "NewConnectionError" in text or "NameResolutionError" in text


class TokenBucket:
    """This instance's share of the App API budget (requests/s; 0 = unlimited)."""

    def __init__(self, rate: float, clock: Any = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate / 10)
        self.tokens = self.capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self, max_wait_s: float) -> bool:
        if self.rate <= 0:
            return True
        with self._lock:
            now = self._clock()
            self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
            self._last = now
            self.tokens -= 1
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
            if wait > max_wait_s:
                self.tokens += 1
                return False
        if wait:
            time.sleep(wait)
        return True
