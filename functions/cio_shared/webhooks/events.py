"""Recognise a Customer.io reporting-webhook event and turn it into a BigQuery row.

The known shapes come from Customer.io's reporting-webhook document (every `object_type` and
`metric` it lists; tests/webhook checks this catalog against the document). A signed body that
is not one of them is not an error to Customer.io: the handler quarantines it with the
`Unrecognised.reason` below and answers 2xx, so one odd event never stalls the stream.

The row (`to_row`) has exactly the columns of analytics/webhook_events.schema.json that the
BigQuery subscription fills from the message (the subscription's metadata columns are its own):
top-level fields as columns, `data` kept whole, a few ids copied out of `data` for clustering
and the funnel views, and any top-level field Customer.io adds later kept in `extra`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Subscription changes can name the channel that caused them as their object_type.
SUBSCRIPTION_METRICS = frozenset(
    {"subscribed", "unsubscribed", "cio_subscription_preferences_changed"}
)
_DELIVERY = ("attempted", "clicked", "drafted", "failed", "sent", "undeliverable")
METRICS_BY_OBJECT_TYPE: Mapping[str, frozenset[str]] = {
    "customer": SUBSCRIPTION_METRICS,
    "email": frozenset(
        {
            *_DELIVERY,
            "bounced",
            "converted",
            "delivered",
            "dropped",
            "opened",
            "spammed",
            "unsubscribed",
        }
    ),
    "push": frozenset({*_DELIVERY, "bounced", "converted", "delivered", "dropped", "opened"}),
    "sms": frozenset({*_DELIVERY, "bounced", "converted", "delivered", "replied"}),
    "whatsapp": frozenset(
        {*_DELIVERY, "bounced", "converted", "delivered", "dropped", "opened", "replied"}
    ),
    "slack": frozenset(_DELIVERY),
    "webhook": frozenset(_DELIVERY),
    "in_app": frozenset({*_DELIVERY, "converted", "opened"}),
}
TOP_LEVEL_FIELDS = ("event_id", "object_type", "metric", "timestamp", "data")
# Copied out of `data` into typed columns; `data` keeps the original values.
INTEGER_IDS = (
    "campaign_id",
    "broadcast_id",
    "newsletter_id",
    "action_id",
    "transactional_message_id",
)
STRING_IDS = ("delivery_id", "customer_id", "journey_id")

# Customer.io's document names the field `object_type_type` in its subscription-preferences
# event (its other events, and its prose, say `object_type`). Read it as object_type when
# object_type is absent; the original stays in `extra`.
DOCUMENTED_ALIAS = "object_type_type"
MAX_EVENT_ID_CHARS = 256  # Pub/Sub attribute values are limited to 1024 bytes
_EARLIEST = datetime(2010, 1, 1, tzinfo=UTC).timestamp()
_FUTURE_SLACK_SECONDS = 24 * 3600
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Unrecognised:
    """A signed body that is not a known event: quarantined with `reason` and `detail`.

    `detail` never holds body content (it is logged and put in message attributes).
    """

    reason: str
    detail: str
    event_id: str = ""


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    object_type: str
    metric: str
    timestamp: int
    data: dict[str, Any]
    extra: dict[str, Any]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


# Built once: `json.loads`/`json.dumps` with options build a new decoder/encoder per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def parse_event(body: bytes, now: float) -> WebhookEvent | Unrecognised:
    """The event in `body`, or why it is not a known event shape."""
    try:
        payload = _DECODER.decode(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return Unrecognised("invalid_json", f"body is not UTF-8 JSON: {type(exc).__name__}")
    if not isinstance(payload, dict):
        return Unrecognised("not_an_object", f"body is a JSON {type(payload).__name__}")
    if "object_type" not in payload and DOCUMENTED_ALIAS in payload:
        payload = {"object_type": payload[DOCUMENTED_ALIAS], **payload}
    event_id = payload.get("event_id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_EVENT_ID_CHARS:
        return Unrecognised("invalid_event_id", "event_id missing, empty, not a string or too long")
    problem = _shape_problem(payload, now)
    if problem is not None:
        return Unrecognised(problem[0], problem[1], event_id)
    return WebhookEvent(
        event_id=event_id,
        object_type=payload["object_type"],
        metric=payload["metric"],
        timestamp=payload["timestamp"],
        data=payload["data"],
        extra={k: v for k, v in payload.items() if k not in TOP_LEVEL_FIELDS},
    )


def _shape_problem(payload: Mapping[str, Any], now: float) -> tuple[str, str] | None:
    object_type, metric = payload.get("object_type"), payload.get("metric")
    if not isinstance(object_type, str) or object_type not in METRICS_BY_OBJECT_TYPE:
        return "unknown_object_type", f"object_type {_describe(object_type)} is not a known type"
    known = METRICS_BY_OBJECT_TYPE[object_type] | SUBSCRIPTION_METRICS
    if not isinstance(metric, str) or metric not in known:
        return "unknown_metric", f"metric {_describe(metric)} is not known for {object_type}"
    timestamp = payload.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        return "invalid_timestamp", "timestamp is not an integer (Unix seconds)"
    if not _EARLIEST <= timestamp <= now + _FUTURE_SLACK_SECONDS:
        return "timestamp_out_of_range", f"timestamp {timestamp} is before 2010 or in the future"
    if not isinstance(payload.get("data"), dict):
        return "invalid_data", "data is missing or not an object"
    return None


def _describe(value: Any) -> str:
    """A short, safe description of a field value for `detail` (no body content beyond it)."""
    if isinstance(value, str) and len(value) <= 40 and value.isprintable():
        return repr(value)
    return f"of type {type(value).__name__}"


def rfc3339(unix_seconds: int) -> str:
    """BigQuery reads integers in TIMESTAMP columns as microseconds, so send text instead."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix_seconds))


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and abs(value) <= _INT64_MAX else None


def _string(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def to_row(event: WebhookEvent) -> dict[str, Any]:
    """The message body the BigQuery subscription writes into `webhook_events`."""
    row: dict[str, Any] = {
        "event_id": event.event_id,
        "object_type": event.object_type,
        "metric": event.metric,
        "timestamp": rfc3339(event.timestamp),
        "data": event.data,
    }
    row.update({name: _integer(event.data.get(name)) for name in INTEGER_IDS})
    row.update({name: _string(event.data.get(name)) for name in STRING_IDS})
    row["extra"] = event.extra or None
    return row


def attributes(event: WebhookEvent, environment: str) -> dict[str, str]:
    """Message attributes: filter and route on these without parsing the body."""
    return {
        "object_type": event.object_type,
        "metric": event.metric,
        "event_id": event.event_id,
        "environment": environment,
    }


def encode_row(row: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON. Raises UnicodeEncodeError for lone surrogates (from `\\ud800`
    escapes), which neither Pub/Sub attributes nor BigQuery accept: the caller quarantines."""
    return _ENCODER.encode(row).encode("utf-8")
