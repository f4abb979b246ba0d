"""`publish_transactional`: a transactional send (App API `/v1/send/*`) through Pub/Sub.

    from cio_shared.producer import publish_transactional
    publish_transactional(
        "send_email", {"id": "42"}, "password_reset",
        to="jane@example.com", message_data={"link": "https://..."},
        idempotency_key="reset-42-req-7",
    )

Validates against the transactional contract (`pydantic.ValidationError` before anything is
published), assigns a fresh event id, publishes to the transactional topic (`topic=` or
`CIO_TRANSACTIONAL_TOPIC`) and waits for the server's ack. `idempotency_key` (derived from
the business event, e.g. the password-reset request's id) makes every message with that key
one send: the handler claims the key in Firestore before sending, so a producer's own retry,
a Pub/Sub redelivery and a replay send at most once. Without it, only redeliveries of this
one message are deduplicated (by its event id).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from cio_shared.common import google_clients
from cio_shared.messages import (
    TRANSACTIONAL_SCHEMA_ID,
    TransactionalMessage,
    new_event_id,
    parse_transactional,
)
from cio_shared.producer.publishing import PUBLISH_TIMEOUT_SECONDS, PersonLike, _person

TRANSACTIONAL_TOPIC_ENV = "CIO_TRANSACTIONAL_TOPIC"
TRANSACTIONAL_TOPIC = "transactional"


def prepare_transactional(
    action: str,
    person: PersonLike,
    template: int | str,
    *,
    to: str | None = None,
    message_data: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    timestamp: int | None = None,
    **options: Any,
) -> TransactionalMessage:
    """Build and validate the message (no I/O)."""
    fields: dict[str, Any] = {
        "schema_version": 1,
        "event_id": new_event_id(),
        "action": action,
        "person": _person(person),
        "timestamp": int(time.time()) if timestamp is None else timestamp,
        "transactional_message_id": template,
        "message_data": dict(message_data or {}),
        **options,
    }
    if to is not None:
        fields["to"] = to
    if idempotency_key is not None:
        fields["idempotency_key"] = idempotency_key
    return parse_transactional(fields)


def publish_transactional(
    action: str,
    person: PersonLike,
    template: int | str,
    *,
    to: str | None = None,
    message_data: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    timestamp: int | None = None,
    topic: str | None = None,
    publisher: Any = None,
    **options: Any,
) -> str:
    """Publish one send (`action`: send_email, send_push, send_sms); returns its event id.
    `options`: send_to_unsubscribed, disable_message_retention, language."""
    message = prepare_transactional(
        action,
        person,
        template,
        to=to,
        message_data=message_data,
        idempotency_key=idempotency_key,
        timestamp=timestamp,
        **options,
    )
    chosen = topic or os.environ.get(TRANSACTIONAL_TOPIC_ENV, "")
    if not chosen:
        raise ValueError(
            f"no topic for transactional: pass topic= or set {TRANSACTIONAL_TOPIC_ENV}"
        )
    path = google_clients.topic_path(google_clients.project_id(), chosen)
    attributes = {
        "cio_schema": TRANSACTIONAL_SCHEMA_ID,
        "cio_event_id": message.event_id,
        "cio_action": message.action,
    }
    data = message.model_dump_json(exclude_none=True).encode("utf-8")
    client = publisher or google_clients.publisher()
    client.publish(path, data, **attributes).result(timeout=PUBLISH_TIMEOUT_SECONDS)
    return message.event_id
