"""Customer.io's documented Track API limits, with the error messages its docs list.

Sources: track-api.openapi.json `info.description` ("Customer limits", "Track API Event
limits", "v2 API Limits") and the "Invalid API Requests" page of Customer.io's docs, which
lists the 400 messages (`id attribute cannot be an empty string`, `event name cannot be longer
than 100 bytes`, ...).
"""

from __future__ import annotations

import json
from typing import Any

ID_MAX_BYTES = 150
ATTRIBUTE_NAME_MAX_BYTES = 150
ATTRIBUTE_VALUE_MAX_BYTES = 1000
ATTRIBUTES_PER_REQUEST = 300
EVENT_NAME_MAX_BYTES = 100
EVENT_DATA_MAX_BYTES = 100_000
ENTITY_MAX_BYTES = 32 * 1024
BATCH_MAX_BYTES = 500 * 1024
BATCH_ITEM_MAX_BYTES = 32 * 1024


def _size(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return len(text.encode())


def identifier_error(kind: str, value: str) -> str | None:
    if value == "":
        return f"{kind} attribute cannot be an empty string"
    if kind == "id" and _size(value) > ID_MAX_BYTES:
        return f"id attribute cannot be longer than {ID_MAX_BYTES} bytes"
    return None


def attributes_error(attributes: dict[str, Any]) -> str | None:
    """The first documented limit the attributes of one identify call break, if any."""
    if len(attributes) > ATTRIBUTES_PER_REQUEST:
        return f"cannot identify more than {ATTRIBUTES_PER_REQUEST} attributes in one request"
    for name, value in attributes.items():
        if _size(name) > ATTRIBUTE_NAME_MAX_BYTES:
            return f"attribute name cannot be longer than {ATTRIBUTE_NAME_MAX_BYTES} bytes"
        if name == "id" and isinstance(value, str):
            problem = identifier_error("id", value)
            if problem:
                return problem
        if value is not None and _size(value) > ATTRIBUTE_VALUE_MAX_BYTES:
            limit = ATTRIBUTE_VALUE_MAX_BYTES
            return f"value for attribute '{name}' cannot be longer than {limit} bytes"
    return None


def event_error(name: Any, data: Any) -> str | None:
    """The first documented event limit broken by this name and data, if any."""
    if not isinstance(name, str) or not name.strip():
        return "event name must not be blank"
    if _size(name) > EVENT_NAME_MAX_BYTES:
        return f"event name cannot be longer than {EVENT_NAME_MAX_BYTES} bytes"
    if data is not None and not isinstance(data, dict):
        return 'event data must be a hash (e.g., send "data":{} instead of "data":"")'
    if data is not None and _size(data) > EVENT_DATA_MAX_BYTES:
        return f"event data cannot be longer than {EVENT_DATA_MAX_BYTES} bytes"
    return None


def body_size_error(size: int, limit: int, what: str) -> str | None:
    if size > limit:
        return f"{what} is {size} bytes; it must be {limit // 1024}kb or smaller"
    return None
