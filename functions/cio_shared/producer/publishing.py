"""The producer helper application teams call: validate, assign the event id, publish.

    from cio_shared.producer import publish_track, publish_identify

    event_id = publish_track({"id": "42"}, "purchase", {"price": 29.99},
                             idempotency_key="order-1234-paid", timestamp=1767225600)
    publish_identify({"id": "42"}, {"plan": "premium"})

Each call validates the message against the v1 contract (raising `pydantic.ValidationError`
before anything is published), assigns the event id (a fresh ULID, or one derived from
`idempotency_key` + `timestamp` so the producer's own retry publishes the *same* event, which
Customer.io then deduplicates), publishes with the official Pub/Sub client and waits for the
server's ack. It returns the event id.

Topics: pass `topic=` (a full path or a short id completed with GOOGLE_CLOUD_PROJECT), or set
`CIO_TRACK_TOPIC` / `CIO_IDENTIFY_TOPIC`. `PUBSUB_EMULATOR_HOST` points the client at the
emulator.

Person operations (the identify topic) are published with an ordering key derived from the
person (`ordering_key`), through a publisher with message ordering enabled; the identify push
subscription enables ordering too, so a person's `suppress` or `delete` can no longer overtake
their earlier `identify`. Track messages carry no key: they need no order and keep Pub/Sub's
full throughput.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Mapping
from typing import Any

from cio_shared.common import google_clients
from cio_shared.messages import (
    SCHEMA_ID,
    TOPIC_ACTIONS,
    AnyMessage,
    Person,
    build_message,
    encode_operation,
    event_id_for_key,
    message_bytes,
    new_event_id,
    parse_message,
    size_problem,
)

TOPIC_ENV = {"track": "CIO_TRACK_TOPIC", "identify": "CIO_IDENTIFY_TOPIC"}
# Topics whose messages are published in per-person order (their push subscription is ordered).
ORDERED_TOPICS = frozenset({"identify"})
ORDERING_KEY_HEX_CHARS = 32
PUBLISH_TIMEOUT_SECONDS = 30.0

PersonLike = Person | Mapping[str, str] | str


def publish_track(
    person: PersonLike,
    name: str,
    data: Mapping[str, Any] | None = None,
    *,
    action: str = "event",
    timestamp: int | None = None,
    idempotency_key: str | None = None,
    topic: str | None = None,
    publisher: Any = None,
) -> str:
    """Publish a custom event (`action="event"`), page view (`"page"`) or screen view."""
    fields = {"action": action, "name": name, "attributes": dict(data or {})}
    return publish(
        "track", person, fields, timestamp=timestamp, idempotency_key=idempotency_key,
        topic=topic, publisher=publisher,
    )  # fmt: skip


def publish_identify(
    person: PersonLike,
    attributes: Mapping[str, Any] | None = None,
    *,
    timestamp: int | None = None,
    idempotency_key: str | None = None,
    topic: str | None = None,
    publisher: Any = None,
) -> str:
    """Add or update a person. `timestamp` (default: now) orders updates at Customer.io."""
    fields = {"action": "identify", "attributes": dict(attributes or {})}
    return publish(
        "identify", person, fields, timestamp=timestamp, idempotency_key=idempotency_key,
        topic=topic, publisher=publisher,
    )  # fmt: skip


def publish(
    topic_purpose: str,
    person: PersonLike,
    fields: Mapping[str, Any],
    *,
    timestamp: int | None = None,
    idempotency_key: str | None = None,
    topic: str | None = None,
    publisher: Any = None,
) -> str:
    """Publish any v1 action (devices, suppress, delete, merge ...) on `topic_purpose`."""
    message = prepare(
        topic_purpose, person, fields, timestamp=timestamp, idempotency_key=idempotency_key
    )
    path = resolve_topic(topic_purpose, topic)
    attributes = {
        "cio_schema": SCHEMA_ID,
        "cio_event_id": message.event_id,
        "cio_action": message.action,
    }
    if topic_purpose not in ORDERED_TOPICS:
        client = publisher or google_clients.publisher()
        client.publish(path, message_bytes(message), **attributes).result(
            timeout=PUBLISH_TIMEOUT_SECONDS
        )
        return message.event_id
    client = publisher or google_clients.ordered_publisher()
    _require_ordering(client)
    key = ordering_key(message.person)
    try:
        future = client.publish(path, message_bytes(message), ordering_key=key, **attributes)
        future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
    except Exception:
        _resume(client, path, key)
        raise
    return message.event_id


def ordering_key(person: Person) -> str:
    """The person's Pub/Sub ordering key: the first 32 hex characters of SHA-256 over
    `id:<id>`, `email:<lowercased email>` or `cio_id:<cio_id>`.

    Hashed because operators see ordering keys in Pub/Sub (console, dead letters, logs): no
    email lands in message metadata. Producers in other languages must derive the same key for
    their messages to be ordered with ours. A person addressed by different identifiers gets
    different keys (no order between them); a `merge` is keyed on its primary person.
    """
    [(kind, value)] = person.identifiers().items()
    if kind == "email":
        value = value.lower()
    digest = hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()
    return digest[:ORDERING_KEY_HEX_CHARS]


def ordering_key_of(data: bytes) -> str | None:
    """The ordering key a published message carries: its person's key for a person operation
    (identify topic), None for an event or for bytes that are not a valid message (those go
    unordered; they cannot be delivered anyway). Used to replay dead letters in order."""
    try:
        message = parse_message(data)
    except ValueError:
        return None
    if message.action not in TOPIC_ACTIONS["identify"]:
        return None
    return ordering_key(message.person)


def _require_ordering(client: Any) -> None:
    """A caller's own PublisherClient must have ordering enabled, or the key is refused."""
    options = getattr(client, "publisher_options", None)
    if options is not None and not options.enable_message_ordering:
        raise ValueError(
            "the identify topic is published with per-person ordering keys: create the "
            "publisher with PublisherClient(publisher_options=pubsub_v1.types.PublisherOptions("
            "enable_message_ordering=True)) or omit publisher="
        )


def _resume(client: Any, topic: str, key: str) -> None:
    """After a failed ordered publish the client pauses the key and refuses every later
    publish on it; resume so the caller's own retry (and the person's next message) can go.
    Nothing to resume when the key was not paused (e.g. our wait timed out while the client
    still retries): the client then says so with RuntimeError / ValueError, ignored here."""
    resume = getattr(client, "resume_publish", None)
    if resume is not None:
        with contextlib.suppress(RuntimeError, ValueError):
            resume(topic, key)


def prepare(
    topic_purpose: str,
    person: PersonLike,
    fields: Mapping[str, Any],
    *,
    timestamp: int | None = None,
    idempotency_key: str | None = None,
) -> AnyMessage:
    """Build and validate the message (no I/O): the part of `publish` worth testing alone."""
    if topic_purpose not in TOPIC_ACTIONS:
        raise ValueError(
            f"unknown topic {topic_purpose!r}; expected one of {sorted(TOPIC_ACTIONS)}"
        )
    action = fields.get("action")
    if action not in TOPIC_ACTIONS[topic_purpose]:
        allowed = sorted(TOPIC_ACTIONS[topic_purpose])
        raise ValueError(
            f"action {action!r} does not go to the {topic_purpose} topic (allowed: {allowed})"
        )
    if idempotency_key is not None and timestamp is None:
        raise ValueError(
            "idempotency_key needs the event's timestamp too: a retry must reproduce the same "
            "event, including when it happened"
        )
    ts = int(time.time()) if timestamp is None else timestamp
    event_id = event_id_for_key(idempotency_key, ts * 1000) if idempotency_key else new_event_id()
    message = build_message(
        {**fields, "event_id": event_id, "person": _person(person), "timestamp": ts}
    )
    if problem := size_problem(encode_operation(message)):
        raise ValueError(f"message too large for the Track API: {problem}")
    return message


def resolve_topic(topic_purpose: str, topic: str | None = None) -> str:
    chosen = topic or os.environ.get(TOPIC_ENV.get(topic_purpose, ""), "")
    if not chosen:
        raise ValueError(
            f"no topic for {topic_purpose}: pass topic= or set {TOPIC_ENV.get(topic_purpose)}"
        )
    return google_clients.topic_path(google_clients.project_id(), chosen)


def _person(person: PersonLike) -> dict[str, Any]:
    if isinstance(person, Person):
        return person.identifiers()
    if isinstance(person, str):
        return {"id": person}
    return dict(person)
