"""The Pipelines API destination (`https://cdp.customer.io/v1`, EU `cdp-eu`): mapping and client.

The producers' v1 messages do not change; this module maps each to one Pipelines call
(pipelines-api.openapi.json, and its semantic events for person operations):

| message | Pipelines call |
|---|---|
| `identify` | `identify`: `userId`, `traits` (by email: empty `userId`, `traits.email`) |
| `event` | `track`: `event` = name, `properties` = attributes |
| `page`, `screen` | `page` / `screen`: `name`, `properties` |
| `add_device` | `track` `Device Created or Updated`, `context.device` {token, type} |
| `delete_device` | `track` `Device Deleted`, `context.device.token` |
| `suppress`, `unsuppress` | `track` `User Suppressed`, `User Unsuppressed` |
| `delete` | `track` `User Deleted` |

Every call carries `timestamp` (ISO 8601, from the message's Unix seconds) and our event id as
`messageId`. Customer.io's schema says `messageId` "is set by Customer.io" (pipelines-api.openapi
.json `common_fields`, https://docs.customer.io/integrations/api/cdp/) and `timestamp` is
"mostly useful when you backfill"; no page of theirs says it deduplicates on a client's
`messageId` or orders identify calls by `timestamp`, so nothing here relies on either: the
path's own guards are in `pipelines_guard` (README, "Which Customer.io API").

What the contract has and the Pipelines API cannot express is refused before sending, as a
permanent `unsupported_on_pipelines` (never sent, never silently changed): a person addressed by
`cio_id`; events and person operations addressed by `email` (only `identify` may identify by
email, documented for identify alone); `merge` (the documented `alias` is for destinations such
as Mixpanel, not a Customer.io merge).

Requests are sent with `X-Strict-Mode: 1`: without it the API answers 200 to calls it does not
process (oversize, invalid, even a wrong key); with it a refusal is a 400 or 401 and maps to the
same decisions as the Track API's. Sizes are checked before sending (32 KB a call, 500 KB a
batch, read in decimal as for the Track API). `context` applies to every call of a `/v1/batch`
request, so a call with its own `context` (the device events) is never batched.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from cio_shared.delivery.decisions import Outcome, permanent
from cio_shared.delivery.settings import Settings
from cio_shared.delivery.track_client import TrackClient, TrackResponse
from cio_shared.messages import (
    AnyMessage,
    DeviceMessage,
    EventMessage,
    IdentifyMessage,
    MergeMessage,
    PersonMessage,
)

BATCH_PATH = "/v1/batch"
STRICT_HEADER = "X-Strict-Mode"
# Customer.io: "A request is limited to 32KB. A batch request is limited to 500KB total and
# 32KB per call in the request." Decimal reading, as for the Track API's limits.
MAX_CALL_BYTES = 32_000
MAX_BATCH_BYTES = 500_000
# Customer.io's semantic event names (semantic events documentation, pipelines-api.openapi.json).
SEMANTIC_EVENTS = {
    "add_device": "Device Created or Updated",
    "delete_device": "Device Deleted",
    "suppress": "User Suppressed",
    "unsuppress": "User Unsuppressed",
    "delete": "User Deleted",
}
UNSUPPORTED = "unsupported_on_pipelines"
# Every encoded call starts with its type; a call with its own `context` starts with
# `{"type":"track","context":` (encode_call writes the keys in this order).
_CONTEXT_PREFIX = b'{"type":"track","context":'


def iso_timestamp(seconds: int) -> str:
    """Unix seconds -> ISO 8601 in UTC (`2026-01-01T00:00:00Z`)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_call(message: AnyMessage) -> dict[str, Any] | Outcome:
    """The Pipelines call for `message`, or a permanent Outcome when it has none."""
    if refused := _unsupported(message):
        return refused
    person = message.person
    call: dict[str, Any]
    if isinstance(message, IdentifyMessage):
        traits = dict(message.attributes)
        if person.id is None:
            traits["email"] = person.email  # empty userId: Customer.io identifies by email
        call = {"type": "identify", "userId": person.id or "", "traits": traits}
    elif isinstance(message, EventMessage):
        if message.action == "event":
            call = {"type": "track", "userId": person.id, "event": message.name}
        else:
            call = {"type": message.action, "userId": person.id, "name": message.name}
        call["properties"] = dict(message.attributes)
    elif isinstance(message, DeviceMessage):
        call = _device_call(message)
    elif isinstance(message, PersonMessage):
        call = {"type": "track", "userId": person.id, "event": SEMANTIC_EVENTS[message.action]}
    else:  # pragma: no cover - merge is refused above; the union is exhaustive
        raise TypeError(type(message).__name__)
    call["timestamp"] = iso_timestamp(message.timestamp)
    call["messageId"] = message.event_id
    return call


def _unsupported(message: AnyMessage) -> Outcome | None:
    if isinstance(message, MergeMessage):
        return permanent(
            UNSUPPORTED,
            "merge has no Pipelines API call (alias does not merge people in Customer.io); "
            "deliver merges through an environment with customerio.api: track",
        )
    if message.person.cio_id is not None:
        return permanent(
            UNSUPPORTED, "the Pipelines API addresses people by userId (or email), not cio_id"
        )
    if message.person.id is None and not isinstance(message, IdentifyMessage):
        return permanent(
            UNSUPPORTED,
            f"{message.action} by email: the Pipelines API documents email-only addressing for "
            "identify alone; publish it with the person's id",
        )
    return None


def _device_call(message: DeviceMessage) -> dict[str, Any]:
    device: dict[str, Any] = {"token": message.device.token}
    if message.device.platform:
        device["type"] = message.device.platform
    properties = dict(message.device.attributes or {})
    if message.device.last_used is not None:
        properties["last_used"] = message.device.last_used
    call: dict[str, Any] = {
        "type": "track",
        "context": {"device": device},
        "userId": message.person.id,
        "event": SEMANTIC_EVENTS[message.action],
    }
    if properties:
        call["properties"] = properties
    return call


def encode_call(message: AnyMessage) -> bytes | Outcome:
    """The compact JSON sent for `message` (key order kept: type first), or why none is."""
    call = to_call(message)
    if isinstance(call, Outcome):
        return call
    encoded = json.dumps(call, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    body = encoded.encode()
    if len(body) > MAX_CALL_BYTES:
        return permanent(
            "too_large", f"call is {len(body)} bytes; the Pipelines API limit is {MAX_CALL_BYTES}"
        )
    return body


def has_context(call: bytes) -> bool:
    """A call with its own `context` (device events): `/v1/batch` would apply it to all."""
    return call.startswith(_CONTEXT_PREFIX)


def call_type(call: bytes) -> str:
    """`identify`, `track`, `page`, `screen` or `group`: the endpoint of a single call."""
    start = len(b'{"type":"')
    return call[start : call.index(b'"', start)].decode()


class PipelinesClient(TrackClient):
    """The Track client's transport (one pooled session, one request per call, no retries),
    with the Pipelines API's Basic auth (the key, blank password), strict mode and paths.

    `send_entity` posts one call to `/v1/<type>`, `send_batch` posts `/v1/batch`; the senders
    use either client alike."""

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.pipelines_url
        self.timeout = (settings.connect_timeout, settings.timeout_seconds)
        self.session = requests.Session()
        self.session.auth = (settings.pipelines_api_key, "")
        self.session.headers.update(
            {
                "Content-Type": "application/json",
                "User-Agent": "cio-gcp-handlers/1",
                STRICT_HEADER: "1",
            }
        )
        adapter = HTTPAdapter(
            pool_connections=1, pool_maxsize=settings.http_pool_size, max_retries=0
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def send_entity(self, body: bytes) -> TrackResponse:
        return self._post(f"/v1/{call_type(body)}", body)

    def send_batch(self, bodies: list[bytes]) -> TrackResponse:
        return self._post(BATCH_PATH, b'{"batch":[' + b",".join(bodies) + b"]}")
