"""Verify Customer.io reporting-webhook signatures.

Customer.io signs `v0:<X-CIO-Timestamp>:<raw body>` with HMAC-SHA256 keyed by the webhook
signing key and sends the hex digest in `X-CIO-Signature`. We verify on the raw bytes (never a
re-serialized body), compare in constant time, and accept either of two keys so a key can be
rotated without losing events.

Replay protection is a timestamp window plus `event_id` deduplication downstream. Customer.io
does not document whether a retry (hours or days later) carries a fresh timestamp, so the
default window covers its whole seven-day retry period: a tight window could reject every
retry and stall the stream for a week.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from enum import StrEnum

TIMESTAMP_HEADER = "X-CIO-Timestamp"
SIGNATURE_HEADER = "X-CIO-Signature"
VERSION = b"v0"

SEVEN_DAYS = 7 * 24 * 3600
DEFAULT_MAX_AGE_SECONDS = SEVEN_DAYS + 24 * 3600  # the retry period plus a day of slack
DEFAULT_MAX_FUTURE_SECONDS = 300  # clock skew between Customer.io and us
_MAX_TIMESTAMP_DIGITS = 12
# A hex HMAC-SHA256 digest, as Customer.io sends it (either case, surrounding spaces allowed).
_SIGNATURE_SHAPE = re.compile(r"\s*[0-9A-Fa-f]{64}\s*")


class Rejection(StrEnum):
    """Why a request was not verified (answered 401; the codes are logged)."""

    NO_KEY = "signing_key_not_configured"
    MISSING_TIMESTAMP = "missing_timestamp"
    MISSING_SIGNATURE = "missing_signature"
    MALFORMED_SIGNATURE = "malformed_signature"
    MALFORMED_TIMESTAMP = "malformed_timestamp"
    STALE_TIMESTAMP = "timestamp_too_old"
    FUTURE_TIMESTAMP = "timestamp_in_future"
    BAD_SIGNATURE = "bad_signature"


@dataclass(frozen=True)
class Verdict:
    """`rejection` is None when verified; `key_slot` then says which key matched."""

    rejection: Rejection | None
    key_slot: str = ""

    @property
    def ok(self) -> bool:
        return self.rejection is None


def sign(key: str | bytes, timestamp: str | int, body: bytes) -> str:
    """The hex signature Customer.io would send for `body` at `timestamp`."""
    key_bytes = key.encode("utf-8") if isinstance(key, str) else key
    message = b":".join([VERSION, str(timestamp).encode("ascii"), body])
    return hmac.digest(key_bytes, message, hashlib.sha256).hex()  # one-shot, in C


@dataclass(frozen=True)
class SignatureVerifier:
    """Checks the timestamp window, then the signature against both keys.

    An empty `previous` means no rotation is under way. Both keys are tried even after a match,
    so the time taken does not tell which key (or whether any) matched.
    """

    current: str = field(repr=False)
    previous: str = field(default="", repr=False)
    max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS
    max_future_seconds: int = DEFAULT_MAX_FUTURE_SECONDS

    def precheck(
        self, timestamp: str | None, signature: str | None, now: float
    ) -> Rejection | None:
        """Everything that can be refused without the body: a key is configured, the signature
        is a 64-digit hex digest, the timestamp lies in the window. The webhook handler calls
        this before reading a byte of the body (anyone can send a body; only Customer.io sends
        well-formed headers with a current timestamp)."""
        if not any(key for _, key in self._slots()):
            return Rejection.NO_KEY
        if not signature:
            return Rejection.MISSING_SIGNATURE
        if not _SIGNATURE_SHAPE.fullmatch(signature):
            return Rejection.MALFORMED_SIGNATURE
        return self.check_timestamp(timestamp, now)

    def verify(
        self, timestamp: str | None, signature: str | None, body: bytes, now: float
    ) -> Verdict:
        keys = [(slot, key) for slot, key in self._slots() if key]
        rejection = self.precheck(timestamp, signature, now)
        if rejection is not None:
            return Verdict(rejection)
        assert timestamp is not None and signature is not None  # precheck refused them missing
        provided = signature.strip().lower().encode("utf-8", "replace")
        matched = ""
        for slot, key in keys:
            expected = sign(key, timestamp.strip(), body).encode("ascii")
            if hmac.compare_digest(expected, provided) and not matched:
                matched = slot
        return Verdict(None, matched) if matched else Verdict(Rejection.BAD_SIGNATURE)

    def check_timestamp(self, timestamp: str | None, now: float) -> Rejection | None:
        """None when `timestamp` (Unix seconds, ASCII digits) lies inside the window."""
        if not timestamp:
            return Rejection.MISSING_TIMESTAMP
        timestamp = timestamp.strip()
        digits = timestamp.isascii() and timestamp.isdigit()
        if not digits or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
            return Rejection.MALFORMED_TIMESTAMP
        age = now - int(timestamp)
        if age > self.max_age_seconds:
            return Rejection.STALE_TIMESTAMP
        if -age > self.max_future_seconds:
            return Rejection.FUTURE_TIMESTAMP
        return None

    def _slots(self) -> tuple[tuple[str, str], ...]:
        return (("current", self.current), ("previous", self.previous))
