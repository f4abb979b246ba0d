"""Send reporting webhooks the way Customer.io does (reporting-webhooks.openapi.json,
`info.description`, "Timeouts and failures" and "Securely verifying requests"):

- one event per POST, signed: HMAC-SHA256 keyed by the signing key over
  `v0:<X-CIO-Timestamp>:<raw body>`, hex digest in `X-CIO-Signature`;
- a 4-second timeout; a timeout, a connection error or any non-2xx answer is retried with
  exponential backoff; the listed statuses (400, 401, 402, 403, 404, 405, 410, 429, 500, 502,
  521) wait longer before the first retry (Customer.io: one hour);
- later events are held back (backlogged) until the failing one succeeds; Customer.io keeps
  trying for seven days, this sender for `max_total_seconds`, after which the failing event and
  everything behind it are reported as not delivered.

Delays are scaled down and configurable so tests run in well under a second.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

SLOW_RETRY_STATUSES = frozenset({400, 401, 402, 403, 404, 405, 410, 429, 500, 502, 521})
USER_AGENT = "Customer.io-Webhooks (cio-simulator)"


def sign(signing_key: str, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA256 of `v0:<timestamp>:<body>` keyed by the signing key."""
    message = b"v0:" + str(timestamp).encode() + b":" + body
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


@dataclass
class RetryPolicy:
    timeout: float = 4.0
    base_delay: float = 0.5
    slow_status_delay: float | None = None
    multiplier: float = 2.0
    max_delay: float = 30.0
    max_total_seconds: float = 120.0

    def delay(self, retry: int, status: int | None) -> float:
        """Seconds to wait before retry number `retry` (1-based) of an event."""
        first = self.base_delay
        if status in SLOW_RETRY_STATUSES and self.slow_status_delay is not None:
            first = self.slow_status_delay
        return float(min(self.max_delay, first * self.multiplier ** (retry - 1)))


@dataclass
class Attempt:
    status: int | None
    error: str | None
    elapsed_ms: float


@dataclass
class EventResult:
    event_id: str | None
    delivered: bool = False
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def final_status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None


@dataclass
class SendReport:
    results: list[EventResult]

    @property
    def complete(self) -> bool:
        return all(r.delivered for r in self.results)

    @property
    def sent(self) -> int:
        return sum(r.delivered for r in self.results)

    @property
    def backlogged(self) -> int:
        """Events never attempted because an earlier one did not get through."""
        return sum(not r.attempts for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "total": len(self.results),
            "backlogged": self.backlogged,
            "complete": self.complete,
            "events": [
                {**asdict(r), "final_status": r.final_status, "attempt_count": len(r.attempts)}
                for r in self.results
            ],
        }


def _post(session: requests.Session, url: str, key: str, body: bytes, timeout: float) -> Attempt:
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-CIO-Timestamp": str(timestamp),
        "X-CIO-Signature": sign(key, timestamp, body),
    }
    started = time.monotonic()
    try:
        response = session.post(url, data=body, headers=headers, timeout=timeout)
        status, error = response.status_code, None
    except requests.Timeout:
        status, error = None, "timeout"
    except requests.ConnectionError as exc:
        status, error = None, f"connection error: {type(exc).__name__}"
    return Attempt(status, error, round((time.monotonic() - started) * 1000, 3))


def send_events(
    url: str,
    signing_key: str,
    events: Sequence[dict[str, Any]],
    policy: RetryPolicy | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendReport:
    """POST each event in order, retrying the head of the line until it succeeds."""
    policy = policy or RetryPolicy()
    own_session = session is None
    http = session or requests.Session()
    deadline = time.monotonic() + policy.max_total_seconds
    results = [EventResult(event.get("event_id")) for event in events]
    bodies = [json.dumps(event, separators=(",", ":")).encode() for event in events]
    try:
        for result, body in zip(results, bodies, strict=True):
            while True:
                attempt = _post(http, url, signing_key, body, policy.timeout)
                result.attempts.append(attempt)
                if attempt.status is not None and 200 <= attempt.status < 300:
                    result.delivered = True
                    break
                wait = policy.delay(len(result.attempts), attempt.status)
                if time.monotonic() + wait > deadline:
                    return SendReport(results)
                sleep(wait)
    finally:
        if own_session:
            http.close()
    return SendReport(results)
