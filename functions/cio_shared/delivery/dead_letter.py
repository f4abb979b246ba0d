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

# Pub/Sub's limits on a message's attributes (cloud.google.com/pubsub/quotas, resource limits).
PUBSUB_MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_KEY_BYTES = 256
MAX_ATTRIBUTE_BYTES = 1024  # one attribute value
# The `cio_` attributes a producer may set: the producer helper's, and the toolkit's replay
# marker. Every other `cio_` key is the dead letter's own (reason, source topic, ...), and
# `CloudPubSubDeadLetter*` are Pub/Sub's: a producer that sets them is forging a dead letter.
PRODUCER_ATTRIBUTES = frozenset({"cio_schema", "cio_event_id", "cio_action", "cio_replay_of"})
RESERVED_PREFIXES = ("cio_", "CloudPubSubDeadLetter", "goog")
# What a dead letter adds (the nine below plus cio_attributes_dropped): with at most this
# many producer attributes the handler's own dead-letter publish always fits in Pub/Sub's 100.
DEAD_LETTER_ATTRIBUTES = 10
MAX_PRODUCER_ATTRIBUTES = 80


def _clip(text: str, limit: int = MAX_ATTRIBUTE_BYTES) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", "ignore") + "..."


def _reserved(key: str) -> bool:
    return key.startswith(RESERVED_PREFIXES) and key not in PRODUCER_ATTRIBUTES


def attribute_problem(attributes: Mapping[str, str]) -> str | None:
    """Why a message's attributes break the contract, or None (the handler dead-letters such a
    message as `attributes_invalid`; the detail names keys, never values)."""
    reserved = sorted(k for k in attributes if _reserved(k))
    if reserved:
        shown = ", ".join(_clip(k, 64) for k in reserved[:5])
        more = f" (+{len(reserved) - 5} more)" if len(reserved) > 5 else ""
        return f"reserved attribute(s) set by the producer: {shown}{more}"
    if len(attributes) > MAX_PRODUCER_ATTRIBUTES:
        return (
            f"{len(attributes)} attributes; at most {MAX_PRODUCER_ATTRIBUTES} (Pub/Sub allows "
            f"{PUBSUB_MAX_ATTRIBUTES} and a dead letter adds {DEAD_LETTER_ATTRIBUTES})"
        )
    if any(len(k.encode("utf-8")) > MAX_ATTRIBUTE_KEY_BYTES for k in attributes):
        return f"an attribute key is over {MAX_ATTRIBUTE_KEY_BYTES} bytes"
    return None


def producer_attributes(original: Mapping[str, str]) -> tuple[dict[str, str], int]:
    """The producer's attributes a dead letter keeps, and how many it drops: never a reserved
    key, never more than MAX_PRODUCER_ATTRIBUTES (by key order), keys and values within
    Pub/Sub's sizes. So the handler's own dead-letter publish cannot be made to fail, and a
    forged `cio_source_topic` never reaches the toolkit's replay."""
    kept = {
        k: _clip(v)
        for k, v in sorted(original.items())
        if not _reserved(k) and len(k.encode("utf-8")) <= MAX_ATTRIBUTE_KEY_BYTES
    }
    kept = dict(list(kept.items())[:MAX_PRODUCER_ATTRIBUTES])
    return kept, len(original) - len(kept)


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
    # The producer's attributes (cio_schema, cio_event_id ...) stay, within the limits above;
    # ours replace any earlier dead letter's, so a replayed and again dead-lettered message
    # tells the latest story.
    attributes, dropped = producer_attributes(original)
    attributes.update(
        {
            "cio_reason": outcome.reason,
            "cio_detail": _clip(outcome.detail),
            "cio_status": "" if outcome.status is None else str(outcome.status),
            "cio_attempt": "" if attempt is None else str(attempt),
            "cio_retryable": "true" if outcome.retryable else "false",
            "cio_source_topic": source_topic,
            "cio_handler": handler,
            "cio_event_id": _clip(event_id or ""),
            "cio_message_id": message_id,
        }
    )
    if dropped:
        attributes["cio_attributes_dropped"] = str(dropped)
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
