"""What the handler publishes fits the BigQuery table's schema, field by field, for every event
shape in Customer.io's reporting-webhook document; and the handler knows exactly those shapes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cio_shared.webhooks import (
    METRICS_BY_OBJECT_TYPE,
    SUBSCRIPTION_METRICS,
    Unrecognised,
    WebhookEvent,
    encode_row,
    parse_event,
    to_row,
)

from tests.webhook.support import (
    document_event_kinds,
    encode,
    event,
    example_payloads,
    reporting_document,
)

REPO = Path(__file__).resolve().parents[2]
SCHEMA: list[dict[str, Any]] = json.loads(
    (REPO / "analytics" / "webhook_events.schema.json").read_text()
)
METADATA = {"subscription_name", "message_id", "publish_time", "attributes"}
NOW = time.time()


def known_kinds() -> set[tuple[str, str]]:
    return {
        (object_type, metric)
        for object_type, metrics in METRICS_BY_OBJECT_TYPE.items()
        for metric in metrics | SUBSCRIPTION_METRICS
    }


def test_the_handler_knows_exactly_the_documented_object_types_and_metrics() -> None:
    # The document's `push_drafted` schema ("Push drafted") has metric enum ["attempted"], a
    # slip; the handler also accepts push/drafted rather than quarantine a real event.
    assert known_kinds() == document_event_kinds() | {("push", "drafted")}
    assert set(METRICS_BY_OBJECT_TYPE) == {
        "customer", "email", "push", "sms", "in_app", "slack", "webhook", "whatsapp",
    }  # fmt: skip


def _published_row(payload: dict[str, Any]) -> dict[str, Any]:
    parsed = parse_event(encode(payload), NOW)
    assert isinstance(parsed, WebhookEvent), parsed
    return json.loads(encode_row(to_row(parsed)))  # exactly the bytes that are published


def _fits(row: dict[str, Any]) -> None:
    """Each published field has a column of a type BigQuery accepts it in; REQUIRED are set."""
    columns = {field["name"]: field for field in SCHEMA}
    assert set(row) == set(columns) - METADATA
    for name, value in row.items():
        field = columns[name]
        if value is None:
            assert field["mode"] == "NULLABLE", name
            continue
        kind = field["type"]
        if kind == "STRING":
            assert isinstance(value, str), name
        elif kind == "INTEGER":
            assert isinstance(value, int) and not isinstance(value, bool), name
            assert -(2**63) <= value < 2**63, name
        elif kind == "TIMESTAMP":
            assert isinstance(value, str) and value.endswith("Z"), name
            datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        elif kind == "JSON":
            assert isinstance(value, dict | list), name
        else:
            pytest.fail(f"column {name} has a type the handler does not produce: {kind}")


@pytest.mark.parametrize("name", sorted(example_payloads()))
def test_every_example_fits_the_schema(name: str) -> None:
    payload = example_payloads()[name]
    row = _published_row(payload)
    _fits(row)
    assert row["data"] == payload["data"]
    assert row["event_id"] == payload["event_id"]


@pytest.mark.parametrize("kind", sorted(document_event_kinds()), ids="-".join)
def test_every_documented_kind_fits_the_schema(kind: tuple[str, str]) -> None:
    _fits(_published_row(event(*kind)))


def test_ids_copied_from_data_are_typed_and_data_keeps_the_originals() -> None:
    payload = event(
        campaign_id="12", broadcast_id=True, newsletter_id=2.0, action_id=2**70,
        transactional_message_id="welcome", delivery_id=5, customer_id=None, journey_id=["x"],
    )  # fmt: skip
    row = _published_row(payload)
    _fits(row)
    assert (row["campaign_id"], row["broadcast_id"], row["newsletter_id"]) == (12, None, 2)
    assert (row["action_id"], row["transactional_message_id"]) == (None, None)
    assert (row["delivery_id"], row["customer_id"], row["journey_id"]) == ("5", None, None)
    assert row["data"] == payload["data"]


def test_new_top_level_fields_are_kept_in_extra() -> None:
    payload = {**event(), "workspace_id": 99, "region": "eu"}
    row = _published_row(payload)
    _fits(row)
    assert row["extra"] == {"workspace_id": 99, "region": "eu"}


def test_timestamps_are_rfc3339_in_utc_not_integers() -> None:
    payload = {**event(), "timestamp": 1613063089}
    row = _published_row(payload)
    assert row["timestamp"] == "2021-02-11T17:04:49Z"
    parsed = datetime.strptime(row["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert parsed.timestamp() == 1613063089


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b'{"a": NaN}', "invalid_json"),
        (b'{"a": 1e999}', "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (encode({**event(), "event_id": ""}), "invalid_event_id"),
        (encode({**event(), "event_id": 7}), "invalid_event_id"),
        (encode({**event(), "event_id": "x" * 257}), "invalid_event_id"),
        (encode({**event(), "object_type": "fax"}), "unknown_object_type"),
        (encode({**event(), "metric": "teleported"}), "unknown_metric"),
        (encode({**event("slack", "opened")}), "unknown_metric"),
        (encode({**event(), "timestamp": "1613063089"}), "invalid_timestamp"),
        (encode({**event(), "timestamp": True}), "invalid_timestamp"),
        (encode({**event(), "timestamp": 1613063089.5}), "invalid_timestamp"),
        (encode({**event(), "timestamp": 0}), "timestamp_out_of_range"),
        (encode({**event(), "timestamp": int(NOW) + 7 * 86400}), "timestamp_out_of_range"),
        (encode({**event(), "data": None}), "invalid_data"),
        (encode({k: v for k, v in event().items() if k != "data"}), "invalid_data"),
    ],
)
def test_unrecognised_shapes_have_a_reason(body: bytes, reason: str) -> None:
    parsed = parse_event(body, NOW)
    assert isinstance(parsed, Unrecognised)
    assert parsed.reason == reason
    assert "@" not in parsed.detail


def test_subscription_changes_may_name_a_channel_as_object_type() -> None:
    assert isinstance(parse_event(encode(event("email", "unsubscribed")), NOW), WebhookEvent)
    assert isinstance(parse_event(encode(event("push", "subscribed")), NOW), WebhookEvent)


def test_the_documents_object_type_type_field_is_read_as_object_type() -> None:
    """The document's subscription-preferences event names the field `object_type_type`."""
    schemas = reporting_document()["components"]["schemas"]
    documented = schemas["person_cio_subscription_preferences_changed"]["properties"]
    assert "object_type_type" in documented and "object_type" not in documented
    payload = event("customer", "cio_subscription_preferences_changed")
    payload["object_type_type"] = payload.pop("object_type")
    row = _published_row(payload)
    assert row["object_type"] == "customer"
    assert row["extra"] == {"object_type_type": "customer"}
