"""Every delivery ends in exactly one decision; this module says which, from what happened.

- delivered: 2xx (ack).
- retry (Pub/Sub backs off and redelivers): 429, 5xx, 408, timeouts, connection errors;
  401/403 (a credentials problem is not the message's fault); 404/405/3xx (a misconfigured
  base URL); the instance's rate-limit wait over its bound (backlog stays in Pub/Sub).
- dead_lettered (can never succeed): 413 (too large); any other 4xx and per-item 207 errors
  (rejected for its content); an invalid envelope, base64, JSON, schema or topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Decision(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD_LETTER = "dead_lettered"


@dataclass(frozen=True)
class Outcome:
    """The decision for one delivery, with a short machine `reason` and a human `detail`.

    `detail` must never contain personal data: it is logged and put in dead-letter attributes.
    """

    decision: Decision
    reason: str
    status: int | None = None
    detail: str = ""

    @property
    def retryable(self) -> bool:
        return self.decision is Decision.RETRY


_TRANSIENT_4XX = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    429: "rate_limited",
}


def from_status(status: int, detail: str = "") -> Outcome:
    """Decision for a Customer.io HTTP status of one operation."""
    if 200 <= status < 300:
        return Outcome(Decision.DELIVERED, "ok", status, detail)
    if status in _TRANSIENT_4XX:
        return Outcome(Decision.RETRY, _TRANSIENT_4XX[status], status, detail)
    if status >= 500:
        return Outcome(Decision.RETRY, "server_error", status, detail)
    if status == 413:
        return Outcome(Decision.DEAD_LETTER, "too_large", status, detail)
    if 400 <= status < 500:
        return Outcome(Decision.DEAD_LETTER, f"rejected_{status}", status, detail)
    return Outcome(Decision.RETRY, f"unexpected_{status}", status, detail)


def transport_error(reason: str, detail: str) -> Outcome:
    """Timeouts and connection errors: retry (the event id makes a resend harmless)."""
    return Outcome(Decision.RETRY, reason, None, detail)


def permanent(reason: str, detail: str, status: int | None = None) -> Outcome:
    return Outcome(Decision.DEAD_LETTER, reason, status, detail)


def retry(reason: str, detail: str, status: int | None = None) -> Outcome:
    return Outcome(Decision.RETRY, reason, status, detail)
