"""The v1 message contract producers publish and the delivery handlers accept.

- Models: `Person`, `IdentifyMessage`, `EventMessage`, `DeviceMessage`, `PersonMessage`,
  `MergeMessage` (`AnyMessage`), built with `build_message` and read with `parse_message`.
- Routing and the Track API: `TOPIC_ACTIONS` (which actions a topic carries), `to_operation`,
  `encode_operation`, `message_bytes`, `size_problem` and the byte limits.
- Event ids: `new_event_id`, `event_id_for_key` (idempotency keys), `is_ulid`.
- Transactional sends (the transactional topic, App API `/v1/send/*`): `TransactionalMessage`,
  `parse_transactional`, `send_request`, `claim_key`, `claim_document_id`, `SEND_PATHS`;
  `schemas/transactional-v1.schema.json` (`python -m cio_shared.messages transactional`).
- The JSON Schema: `json_schema`, `json_schema_text`; `schemas/event-v1.schema.json` is its
  export, regenerated with
  `python -m cio_shared.messages > functions/cio_shared/messages/schemas/event-v1.schema.json`.

Imports `cio_shared.contract` only.
"""

from cio_shared.messages.ids import ULID_PATTERN, event_id_for_key, is_ulid, new_event_id
from cio_shared.messages.models import (
    MAX_BATCH_BYTES,
    MAX_OPERATION_BYTES,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    SCHEMA_ID,
    SCHEMA_VERSION,
    TOPIC_ACTIONS,
    AnyMessage,
    Device,
    DeviceMessage,
    EventMessage,
    IdentifyMessage,
    MergeMessage,
    Person,
    PersonMessage,
    build_message,
    encode_operation,
    json_schema,
    json_schema_text,
    message_bytes,
    parse_message,
    size_problem,
    to_operation,
)
from cio_shared.messages.transactional import (
    SEND_PATHS,
    TRANSACTIONAL_SCHEMA_ID,
    TransactionalMessage,
    claim_document_id,
    claim_key,
    parse_transactional,
    send_request,
    transactional_schema,
    transactional_schema_text,
)

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_OPERATION_BYTES",
    "MAX_TIMESTAMP",
    "MIN_TIMESTAMP",
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "SEND_PATHS",
    "TOPIC_ACTIONS",
    "TRANSACTIONAL_SCHEMA_ID",
    "ULID_PATTERN",
    "AnyMessage",
    "Device",
    "DeviceMessage",
    "EventMessage",
    "IdentifyMessage",
    "MergeMessage",
    "Person",
    "PersonMessage",
    "TransactionalMessage",
    "build_message",
    "claim_document_id",
    "claim_key",
    "encode_operation",
    "event_id_for_key",
    "is_ulid",
    "json_schema",
    "json_schema_text",
    "message_bytes",
    "new_event_id",
    "parse_message",
    "parse_transactional",
    "send_request",
    "size_problem",
    "to_operation",
    "transactional_schema",
    "transactional_schema_text",
]
