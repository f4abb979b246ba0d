"""The transactional message contract (version 1): what producers publish to the
transactional topic and the transactional handler sends through the App API once.

    {"schema_version": 1, "event_id": "01J...", "action": "send_email",
     "person": {"id": "42"}, "timestamp": 1767225600,
     "transactional_message_id": "password_reset", "to": "jane@example.com",
     "message_data": {"reset_link": "https://..."}, "idempotency_key": "reset-42-7"}

Unlike Track API events, Customer.io neither takes an idempotency key on `/v1/send/*` nor
deduplicates sends, so the handler claims `claim_key(message)` in Firestore before sending:
the producer's `idempotency_key` when given (derived from the business event, so the
producer's own retry is the same send), else the `event_id` (stable across redeliveries).
`schemas/transactional-v1.schema.json` is the export for producers in other languages
(`python -m cio_shared.messages transactional`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from cio_shared.messages.ids import ULID_PATTERN
from cio_shared.messages.models import Attributes, Person, Timestamp

TRANSACTIONAL_SCHEMA_ID = "cio.transactional.v1"
MAX_IDEMPOTENCY_KEY = 256
# The App API's path per action (Customer.io's App API reference: /v1/send/email, /push, /sms).
SEND_PATHS = {
    "send_email": "/v1/send/email",
    "send_push": "/v1/send/push",
    "send_sms": "/v1/send/sms",
}
# Customer.io takes a template's numeric id or its trigger name.
TemplateId = Annotated[int, Field(ge=1)] | Annotated[str, Field(min_length=1, max_length=255)]


class TransactionalMessage(BaseModel):
    """One transactional send: a template, its recipient, and the template's data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(description="Contract version; bumped on breaking change")
    event_id: Annotated[str, Field(pattern=ULID_PATTERN, description="ULID of this message")]
    action: Literal["send_email", "send_push", "send_sms"]
    person: Person = Field(description="The recipient's profile (exactly one identifier)")
    timestamp: Timestamp
    transactional_message_id: TemplateId = Field(
        description="The transactional template: its numeric id or trigger name"
    )
    to: Annotated[str, Field(min_length=1, max_length=1000)] | None = Field(
        default=None,
        description="send_email: the address(es); send_sms: the phone number; send_push: "
        "`all`, `last_used` or a device token (optional)",
    )
    message_data: Attributes = Field(description="Liquid data for the template")
    idempotency_key: Annotated[str, Field(min_length=1, max_length=MAX_IDEMPOTENCY_KEY)] | None = (
        Field(
            default=None,
            description="Derived from the business event (e.g. `reset-<user>-<request>`): "
            "messages with the same key are sent at most once",
        )
    )
    send_to_unsubscribed: bool | None = None
    disable_message_retention: bool | None = None
    language: Annotated[str, Field(min_length=2, max_length=10)] | None = None

    @model_validator(mode="after")
    def _recipient(self) -> TransactionalMessage:
        if self.action in ("send_email", "send_sms") and self.to is None:
            raise ValueError(f"{self.action} needs `to` (the address or phone number)")
        return self


_ADAPTER: TypeAdapter[TransactionalMessage] = TypeAdapter(TransactionalMessage)


def parse_transactional(data: bytes | str | dict[str, Any]) -> TransactionalMessage:
    """Validate one transactional message; raises `pydantic.ValidationError`."""
    if isinstance(data, dict):
        return _ADAPTER.validate_python(data)
    return _ADAPTER.validate_json(data)


def claim_key(message: TransactionalMessage) -> str:
    """The key a send is claimed under: the producer's idempotency key, else the event id."""
    return f"key:{message.idempotency_key}" if message.idempotency_key else f"id:{message.event_id}"


def claim_document_id(key: str) -> str:
    """A Firestore document id for a claim key: SHA-256 hex (keys may hold `/` or personal
    data; ids are shown in the console)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def send_request(message: TransactionalMessage) -> tuple[str, dict[str, Any]]:
    """The App API path and JSON body for `message` (sent as-is on every attempt)."""
    body: dict[str, Any] = {
        "transactional_message_id": message.transactional_message_id,
        "identifiers": message.person.identifiers(),
    }
    if message.to is not None:
        body["to"] = message.to
    if message.message_data:
        body["message_data"] = dict(message.message_data)
    for name in ("send_to_unsubscribed", "disable_message_retention", "language"):
        if (value := getattr(message, name)) is not None:
            body[name] = value
    return SEND_PATHS[message.action], body


def transactional_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": TRANSACTIONAL_SCHEMA_ID,
        "title": "Customer.io transactional message, version 1",
        **_ADAPTER.json_schema(),
    }


def transactional_schema_text() -> str:
    return json.dumps(transactional_schema(), indent=2, sort_keys=True) + "\n"
