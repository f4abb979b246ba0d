"""Publish a message that can never succeed to the handler's dead-letter topic.

The original bytes are kept as the data and the original attributes are kept, so the
troubleshooting toolkit can replay the message unchanged; the reason goes in `cio_*`
attributes (docs/design.md, "Dead-letter attributes"). The caller acks the delivery only after
`publish` returned: if it raises, the delivery is answered with an error and Pub/Sub retries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cio_shared.common import google_clients
from cio_shared.delivery.decisions import Outcome

MAX_ATTRIBUTE_BYTES = 1024  # Pub/Sub's limit for one attribute value


def _clip(text: str, limit: int = MAX_ATTRIBUTE_BYTES) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", "ignore") + "..."


def dead_letter_attributes(
    original: Mapping[str, str],
    outcome: Outcome,
    *,
    attempt: int | None,
    source_topic: str,
    handler: str,
    event_id: str | None = None,
    message_id: str = "",
) -> dict[str, str]:
    # The producer's attributes (cio_schema, cio_event_id ...) stay; ours replace any earlier
    # dead letter's, so a replayed and again dead-lettered message tells the latest story.
    attributes = {k: _clip(v) for k, v in original.items()}
    attributes.update(
        {
            "cio_reason": outcome.reason,
            "cio_detail": _clip(outcome.detail),
            "cio_status": "" if outcome.status is None else str(outcome.status),
            "cio_attempt": "" if attempt is None else str(attempt),
            "cio_retryable": "true" if outcome.retryable else "false",
            "cio_source_topic": source_topic,
            "cio_handler": handler,
            "cio_event_id": event_id or "",
            "cio_message_id": message_id,
        }
    )
    return attributes


class DeadLetterPublisher:
    def __init__(
        self,
        topic: str,
        publisher_factory: Callable[[], Any] = google_clients.publisher,
        timeout: float = 10.0,
    ) -> None:
        self.topic = topic
        self._publisher_factory = publisher_factory  # created lazily: after gunicorn's fork
        self.timeout = timeout

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> str:
        """Publish and wait for the server's ack; returns the dead letter's message id."""
        future = self._publisher_factory().publish(self.topic, data, **attributes)
        return str(future.result(timeout=self.timeout))
