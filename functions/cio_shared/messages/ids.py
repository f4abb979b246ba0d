"""Event ids: ULIDs, fresh or derived from a producer's idempotency key.

Customer.io deduplicates events by their `id` (a ULID). A producer that retries its own
publish must therefore produce the *same* id, so when it passes an idempotency key the id is
derived from the key and the event's timestamp instead of being random: the ULID's time part is
the event time (milliseconds), its 80 random bits are the first bytes of SHA-256 over the key.
"""

from __future__ import annotations

import hashlib
import re

from ulid import ULID

ULID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"
_ULID_RE = re.compile(ULID_PATTERN)
_NAMESPACE = b"cio-event-v1\x00"


def new_event_id() -> str:
    """A fresh ULID (time-ordered, random)."""
    return str(ULID())


def event_id_for_key(idempotency_key: str, timestamp_ms: int) -> str:
    """The same ULID for the same key and event time, on every call and every machine."""
    if not idempotency_key:
        raise ValueError("idempotency_key must be a non-empty string")
    if not 0 <= timestamp_ms < 2**48:
        raise ValueError(f"timestamp_ms {timestamp_ms} is outside the ULID time range")
    digest = hashlib.sha256(_NAMESPACE + idempotency_key.encode("utf-8")).digest()
    return str(ULID.from_bytes(timestamp_ms.to_bytes(6, "big") + digest[:10]))


def is_ulid(value: str) -> bool:
    return bool(_ULID_RE.match(value))
