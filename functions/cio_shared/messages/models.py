"""The message contract: what producers publish to the identify and track topics (version 1).

One JSON object per Pub/Sub message (UTF-8), discriminated by `action`:

    {"schema_version": 1, "event_id": "01J...", "action": "event",
     "person": {"id": "42"}, "timestamp": 1767225600,
     "name": "purchase", "attributes": {"price": 29.99}}

The pydantic models below are the single source; `schemas/event-v1.schema.json` is generated
from them for producers in other languages
(`python -m cio_shared.messages > functions/cio_shared/messages/schemas/event-v1.schema.json`),
and a test keeps the two in sync. Pub/Sub topic schemas are
deliberately not used: they accept only Avro or protobuf, and Avro's JSON encoding rejects
ordinary producer JSON. Validation happens in the producer helper and again in the handlers.

Every message maps to one Customer.io Track API v2 person operation (`to_operation`), the
payload of `/api/v2/entity` and one item of `/api/v2/batch`.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, model_validator
from pydantic_core import PydanticCustomError

from cio_shared.contract import EVENT_ACTIONS, PERSON_ACTIONS, person_hash
from cio_shared.messages.ids import ULID_PATTERN

SCHEMA_VERSION = 1
SCHEMA_ID = "cio.event.v1"
# Unix seconds, 2000-01-01 .. 2100-01-01: catches milliseconds passed as seconds.
MIN_TIMESTAMP = 946_684_800
MAX_TIMESTAMP = 4_102_444_800

# Customer.io's documented v2 limits (32kb per operation, 500kb per batch), read in decimal
# so that both readings of "kb" are respected.
MAX_OPERATION_BYTES = 32_000
MAX_BATCH_BYTES = 500_000

# Which topic carries which actions: person state on identify, behaviour on track.
TOPIC_ACTIONS: dict[str, frozenset[str]] = {
    "track": frozenset(EVENT_ACTIONS),
    "identify": frozenset(PERSON_ACTIONS),
}

Timestamp = Annotated[int, Field(ge=MIN_TIMESTAMP, le=MAX_TIMESTAMP, description="Unix seconds")]


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_non_finite(v) for v in value)
    return False


def _finite_only(value: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or Infinity, yet a number too large for a double (`1e400`) parses as
    inf: refuse it here instead of sending `Infinity` (not JSON) to Customer.io."""
    if _non_finite(value):
        raise PydanticCustomError(
            "non_finite_number",
            "a number is NaN or infinite (e.g. 1e400 overflows a double); JSON cannot carry it",
        )
    return value


Attributes = Annotated[dict[str, Any], Field(default_factory=dict), AfterValidator(_finite_only)]


class Person(BaseModel):
    """Exactly one identifier, as Customer.io accepts: `id`, `email` or `cio_id`."""

    # The exported schema says "exactly one" as one property (omit the others, don't send null).
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"minProperties": 1, "maxProperties": 1}
    )

    id: Annotated[str, Field(min_length=1, max_length=150)] | None = None
    email: (
        Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")] | None
    ) = None
    cio_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Person:
        given = [name for name in ("id", "email", "cio_id") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"person needs exactly one of id, email, cio_id (got {len(given)})")
        return self

    def identifiers(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def ledger_hash(self) -> str:
        """The hashed id the delivery ledger carries instead of the identifier (on the hot
        path: read the one set field directly, no model dump)."""
        kind = "id" if self.id is not None else "email" if self.email is not None else "cio_id"
        return person_hash(kind, str(getattr(self, kind)))


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(description="Contract version; bumped on breaking change")
    event_id: Annotated[
        str, Field(pattern=ULID_PATTERN, description="ULID; Customer.io dedupes on it")
    ]
    person: Person
    timestamp: Timestamp


class IdentifyMessage(_Common):
    """Add or update a person; `timestamp` orders updates (an older one never wins)."""

    action: Literal["identify"]
    attributes: Attributes


class EventMessage(_Common):
    """A custom event, page view or screen view attributed to a person."""

    action: Literal["event", "page", "screen"]
    name: Annotated[str, Field(min_length=1, max_length=255)]
    attributes: Attributes


class Device(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: Annotated[str, Field(min_length=1, max_length=4096)]
    platform: Literal["ios", "android"] | None = None
    last_used: Timestamp | None = None
    attributes: Annotated[dict[str, Any], AfterValidator(_finite_only)] | None = None


class DeviceMessage(_Common):
    action: Literal["add_device", "delete_device"]
    device: Device


class PersonMessage(_Common):
    """Suppress, unsuppress or delete the person."""

    action: Literal["suppress", "unsuppress", "delete"]


class MergeMessage(_Common):
    """Merge `secondary` into `person` (the primary), then delete `secondary`."""

    action: Literal["merge"]
    secondary: Person


Message = Annotated[
    IdentifyMessage | EventMessage | DeviceMessage | PersonMessage | MergeMessage,
    Field(discriminator="action"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Message)

AnyMessage = IdentifyMessage | EventMessage | DeviceMessage | PersonMessage | MergeMessage


def parse_message(data: bytes | str | dict[str, Any]) -> AnyMessage:
    """Validate one message; raises `ValueError` (json) or `pydantic.ValidationError`."""
    if isinstance(data, dict):
        return _ADAPTER.validate_python(data)  # type: ignore[no-any-return]
    return _ADAPTER.validate_json(data)  # type: ignore[no-any-return]


def build_message(fields: dict[str, Any]) -> AnyMessage:
    return parse_message({"schema_version": SCHEMA_VERSION, **fields})


def message_bytes(message: AnyMessage) -> bytes:
    return message.model_dump_json(exclude_none=True).encode("utf-8")


def to_operation(message: AnyMessage) -> dict[str, Any]:
    """The Track API v2 person operation for `message` (sent as-is on every attempt)."""
    if isinstance(message, MergeMessage):
        return {
            "type": "person",
            "action": "merge",
            "primary": message.person.identifiers(),
            "secondary": message.secondary.identifiers(),
        }
    op: dict[str, Any] = {
        "type": "person",
        "identifiers": message.person.identifiers(),
        "action": message.action,
    }
    if isinstance(message, IdentifyMessage):
        op["attributes"] = dict(message.attributes)
        op["timestamp"] = message.timestamp
    elif isinstance(message, EventMessage):
        op["id"] = message.event_id
        op["name"] = message.name
        op["timestamp"] = message.timestamp
        if message.attributes:
            op["attributes"] = dict(message.attributes)
    elif isinstance(message, DeviceMessage):
        op["device"] = message.device.model_dump(exclude_none=True)
    return op


def encode_operation(message: AnyMessage) -> bytes:
    """The compact UTF-8 JSON of `to_operation(message)`, as sent to Customer.io."""
    operation = to_operation(message)
    return json.dumps(
        operation, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def size_problem(operation: bytes) -> str | None:
    """Why an encoded operation is too large for the Track API, or None."""
    if len(operation) > MAX_OPERATION_BYTES:
        return f"operation is {len(operation)} bytes; the limit is {MAX_OPERATION_BYTES}"
    return None


def json_schema() -> dict[str, Any]:
    schema = _ADAPTER.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Customer.io event message, version 1",
        **schema,
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
