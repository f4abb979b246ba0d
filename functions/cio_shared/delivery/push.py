"""Parse a Pub/Sub push delivery (the JSON envelope Pub/Sub POSTs to a push endpoint).

    {"message": {"data": "<base64>", "attributes": {...}, "messageId": "...",
                 "publishTime": "..."}, "subscription": "projects/.../subscriptions/...",
     "deliveryAttempt": 3}

`deliveryAttempt` is present only when the subscription has a dead-letter policy (and the
emulator never sends it). Field names also accept the snake_case variants Pub/Sub documents.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class EnvelopeError(ValueError):
    """The body is not a Pub/Sub push envelope at all."""


@dataclass(frozen=True)
class PushMessage:
    data: bytes
    message_id: str = ""
    publish_time: str = ""
    subscription: str = ""
    delivery_attempt: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    # Set when `data` is not valid base64: `data` then holds the raw text, for the dead letter.
    data_error: str | None = None

    def age_ms(self, now: float | None = None) -> float | None:
        """Milliseconds since Pub/Sub accepted the message (backlog and retry delay included)."""
        if not self.publish_time:
            return None
        try:
            published = datetime.fromisoformat(self.publish_time).timestamp()
        except ValueError:
            return None
        return round(((time.time() if now is None else now) - published) * 1000, 1)


def parse_push(body: bytes) -> PushMessage:
    try:
        envelope: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise EnvelopeError("request body is not JSON") from None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise EnvelopeError("request body has no 'message' object")
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise EnvelopeError("message.attributes is not an object")
    raw = message.get("data", "")
    if not isinstance(raw, str):
        raise EnvelopeError("message.data is not a string")
    data, data_error = _decode(raw)
    attempt = envelope.get("deliveryAttempt", envelope.get("delivery_attempt"))
    return PushMessage(
        data=data,
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
        publish_time=str(message.get("publishTime") or message.get("publish_time") or ""),
        subscription=str(envelope.get("subscription") or ""),
        delivery_attempt=attempt
        if isinstance(attempt, int) and not isinstance(attempt, bool)
        else None,
        attributes={str(k): str(v) for k, v in attributes.items()},
        data_error=data_error,
    )


def _decode(raw: str) -> tuple[bytes, str | None]:
    try:
        return base64.b64decode(raw, validate=True), None
    except (binascii.Error, ValueError):
        return raw.encode("utf-8", "replace"), "message.data is not valid base64"
