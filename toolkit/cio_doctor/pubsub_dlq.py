"""Read dead-lettered messages without acknowledging them, and re-publish them.

`peek` pulls and then releases every message (ack deadline 0), so listing and inspecting
change nothing. `replay` re-publishes to the source topic and acknowledges a dead letter
only after its re-publish succeeded; a failed publish leaves it in the subscription.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cio_shared.common import redact

from cio_doctor.findings import CannotCheck

PUBSUB_SOURCE_SUB = "CloudPubSubDeadLetterSourceSubscription"
PUBSUB_DELIVERY_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"
REPLAY_ATTRIBUTE = "cio_replay_of"
# The `cio_` attributes the producer helper sets (cio_shared.producer), kept by a replay; the
# handlers accept these (and cio_replay_of) and dead-letter any other `cio_` key.
PRODUCER_ATTRIBUTES = frozenset({"cio_schema", "cio_event_id", "cio_action"})
MAX_DELIVERY_REASON = "max_delivery_attempts"
_PULL_BATCH = 100
DEFAULT_WAIT_S = 2.0
_PUBLISH_TIMEOUT_S = 30.0


@dataclass
class DeadLetter:
    subscription: str
    message_id: str
    ack_id: str
    publish_time: datetime
    data: bytes
    attributes: dict[str, str]
    ordering_key: str = ""

    @property
    def forwarded_by_pubsub(self) -> bool:
        """Pub/Sub dead-lettered it itself (max delivery attempts): it then adds its own
        attributes and keeps the producer's, so any `cio_*` on it came from the producer, not
        from a handler, and is ignored (handlers drop these keys from their own dead letters)."""
        return PUBSUB_SOURCE_SUB in self.attributes or PUBSUB_DELIVERY_COUNT in self.attributes

    def _ours(self, key: str) -> str | None:
        return None if self.forwarded_by_pubsub else self.attributes.get(key)

    @property
    def reason(self) -> str:
        if self.forwarded_by_pubsub:
            return MAX_DELIVERY_REASON
        return self.attributes.get("cio_reason") or "unknown"

    @property
    def attempts(self) -> str | None:
        if self.forwarded_by_pubsub:
            return self.attributes.get(PUBSUB_DELIVERY_COUNT)
        return self.attributes.get("cio_attempt") or None

    @property
    def retryable(self) -> bool:
        """Pub/Sub's own dead letters (max delivery attempts) are retryable by contract."""
        if self.forwarded_by_pubsub:
            return True
        return self.attributes.get("cio_retryable") == "true"

    def event_id(self) -> str | None:
        if self._ours("cio_event_id"):
            return self.attributes["cio_event_id"]
        try:
            body = json.loads(self.data)
        except ValueError:
            return None
        if isinstance(body, dict):
            value = body.get("id") or body.get("event_id")
            return str(value) if value is not None else None
        return None

    def age_seconds(self, now: datetime) -> int:
        return int((now - self.publish_time).total_seconds())

    def summary(self, now: datetime) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "subscription": self.subscription.rsplit("/", 1)[-1],
            "reason": self.reason,
            "status": self.attributes.get("cio_status") or None,
            "attempts": self.attempts,
            "retryable": self.retryable,
            "event_id": self.event_id(),
            "age_seconds": self.age_seconds(now),
            "bytes": len(self.data),
        }

    def detail(self) -> dict[str, Any]:
        """Attributes and payload for people to read: emails shortened, secret-named fields
        hidden (cio_shared.common.redact), as in the handlers' logs."""
        try:
            payload: Any = json.loads(self.data)
        except ValueError:
            payload = {"base64": base64.b64encode(self.data).decode()}
        return {
            "publish_time": self.publish_time.isoformat(),
            "ordering_key": self.ordering_key or None,
            "attributes": redact(dict(sorted(self.attributes.items()))),
            "payload": redact(payload),
        }


@dataclass
class Pulled:
    """Messages held from one subscription until `release` or `ack`."""

    subscriber: Any
    subscription: str
    messages: list[DeadLetter] = field(default_factory=list)

    def release(self, messages: Iterable[DeadLetter] | None = None) -> None:
        ack_ids = [m.ack_id for m in (self.messages if messages is None else messages)]
        for start in range(0, len(ack_ids), 500):
            self.subscriber.modify_ack_deadline(
                request={
                    "subscription": self.subscription,
                    "ack_ids": ack_ids[start : start + 500],
                    "ack_deadline_seconds": 0,
                }
            )

    def ack(self, message: DeadLetter) -> None:
        self.subscriber.acknowledge(
            request={"subscription": self.subscription, "ack_ids": [message.ack_id]}
        )


def _pull_batch(subscriber: Any, subscription: str, max_messages: int, wait: float) -> list[Any]:
    from google.api_core import exceptions

    try:
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": max_messages},
            timeout=wait,
            retry=None,
        )
    except exceptions.DeadlineExceeded:
        return []
    except exceptions.NotFound:
        raise CannotCheck(f"subscription {subscription} does not exist") from None
    except exceptions.GoogleAPICallError as exc:
        raise CannotCheck(f"cannot pull from {subscription}: {exc.code} {exc.message}") from None
    return list(response.received_messages)


def pull(
    subscriber: Any,
    subscription: str,
    limit: int,
    wait: float = DEFAULT_WAIT_S,
    hold_seconds: int = 0,
) -> Pulled:
    """Pull up to `limit` distinct messages and hold them (not acknowledged).

    An empty subscription is known only after a pull has waited `wait` seconds for nothing.
    `hold_seconds` extends each batch's lease at once, so a long scan does not see the
    messages it already holds come back (erasure scans a whole backlog).
    """
    held = Pulled(subscriber, subscription)
    seen: set[str] = set()
    while len(held.messages) < limit:
        want = min(_PULL_BATCH, limit - len(held.messages))
        batch = _pull_batch(subscriber, subscription, want, wait)
        fresh = [r for r in batch if r.message.message_id not in seen]
        # a message seen before came back: release the duplicate delivery's ack id too
        repeats = [r for r in batch if r.message.message_id in seen]
        if repeats:
            subscriber.modify_ack_deadline(
                request={
                    "subscription": subscription,
                    "ack_ids": [r.ack_id for r in repeats],
                    "ack_deadline_seconds": 0,
                }
            )
        if not fresh:
            break
        if hold_seconds:
            subscriber.modify_ack_deadline(
                request={
                    "subscription": subscription,
                    "ack_ids": [r.ack_id for r in fresh],
                    "ack_deadline_seconds": hold_seconds,
                }
            )
        for received in fresh:
            seen.add(received.message.message_id)
            held.messages.append(_dead_letter(subscription, received))
    return held


def _dead_letter(subscription: str, received: Any) -> DeadLetter:
    message = received.message
    publish_time = message.publish_time
    if publish_time.tzinfo is None:
        publish_time = publish_time.replace(tzinfo=UTC)
    return DeadLetter(
        subscription=subscription,
        message_id=message.message_id,
        ack_id=received.ack_id,
        publish_time=publish_time,
        data=bytes(message.data),
        attributes=dict(message.attributes),
        ordering_key=message.ordering_key,
    )


def peek(
    subscriber: Any, subscription: str, limit: int, wait: float = DEFAULT_WAIT_S
) -> list[DeadLetter]:
    """Read up to `limit` messages and release them at once: nothing is acknowledged."""
    held = pull(subscriber, subscription, limit, wait)
    held.release()
    return held.messages


def replay_attributes(message: DeadLetter) -> dict[str, str]:
    """The original attributes, without the dead-letter ones, plus where the replay came from.

    The producer helper's own `cio_*` (PRODUCER_ATTRIBUTES: schema, event id, action) stay:
    the handlers accept them, and the replay is the same message again. Every other `cio_*`
    is the dead letter's (reason, source topic, ...) or, on a dead letter Pub/Sub forwarded
    itself, could only have been forged by the producer; both go, as do Pub/Sub's
    `CloudPubSubDeadLetter*` and the reserved `goog*`.
    """
    kept = {
        k: v
        for k, v in message.attributes.items()
        if k in PRODUCER_ATTRIBUTES or not k.startswith(("cio_", "CloudPubSubDeadLetter", "goog"))
    }
    kept[REPLAY_ATTRIBUTE] = message.message_id
    return kept


@dataclass
class ReplayOutcome:
    message_id: str
    reason: str
    topic: str
    published_id: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "reason": self.reason,
            "topic": self.topic,
            "published_as": self.published_id,
            "error": self.error,
        }


def replay(
    publisher: Any,
    held: Pulled,
    selected: Callable[[DeadLetter], bool],
    topic_for: Callable[[DeadLetter], str],
    ordering_key_for: Callable[[bytes], str | None] = lambda _data: None,
) -> list[ReplayOutcome]:
    """Re-publish the selected held messages one by one; ack each only once published.

    A person operation is re-published with its person's ordering key (`publisher` must then
    have ordering enabled), so it is ordered against that person's later messages again.
    """
    outcomes: list[ReplayOutcome] = []
    skipped: list[DeadLetter] = []
    for message in held.messages:
        if not selected(message):
            skipped.append(message)
            continue
        topic = topic_for(message)
        outcome = ReplayOutcome(message.message_id, message.reason, topic)
        key = ordering_key_for(message.data)
        ordering = {"ordering_key": key} if key else {}
        try:
            future = publisher.publish(
                topic, message.data, **ordering, **replay_attributes(message)
            )
            outcome.published_id = str(future.result(timeout=_PUBLISH_TIMEOUT_S))
        except Exception as exc:  # any publish failure keeps the dead letter where it is
            outcome.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            skipped.append(message)
            if key:
                # the client pauses a key after a failed publish: let the next one through
                with contextlib.suppress(RuntimeError, ValueError):
                    publisher.resume_publish(topic, key)
        else:
            held.ack(message)
        outcomes.append(outcome)
    held.release(skipped)
    return outcomes
