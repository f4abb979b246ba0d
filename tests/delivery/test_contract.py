"""The v1 message contract: models, exported JSON Schema, ids, v2 operation mapping."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from cio_shared.messages import (
    EventMessage,
    IdentifyMessage,
    MergeMessage,
    build_message,
    event_id_for_key,
    is_ulid,
    json_schema_text,
    message_bytes,
    new_event_id,
    parse_message,
    to_operation,
)
from pydantic import ValidationError

SCHEMA_FILE = (
    Path(__file__).resolve().parents[2]
    / "functions/cio_shared/messages/schemas/event-v1.schema.json"
)
TS = 1_767_225_600


def fields(**extra):
    return {"event_id": new_event_id(), "person": {"id": "42"}, "timestamp": TS, **extra}


EXAMPLES = [
    fields(action="identify", attributes={"plan": "premium", "名前": "Jürgen 🚀"}),
    fields(action="event", name="purchase", attributes={"price": 29.99}),
    fields(action="page", name="/pricing"),
    fields(action="screen", name="Dashboard"),
    fields(action="add_device", device={"token": "tok-1", "platform": "ios", "last_used": TS}),
    fields(action="delete_device", device={"token": "tok-1"}),
    fields(action="suppress"),
    fields(action="unsuppress"),
    fields(action="delete"),
    fields(action="merge", secondary={"email": "old@example.com"}),
]


def test_exported_schema_file_is_in_sync_with_the_models():
    assert SCHEMA_FILE.read_text() == json_schema_text(), (
        "regenerate: python -m cio_shared.messages > <that file>"
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e["action"])
def test_every_action_validates_with_model_and_exported_schema(example):
    message = build_message(example)
    encoded = json.loads(message_bytes(message))
    jsonschema.validate(encoded, json.loads(SCHEMA_FILE.read_text()))
    assert parse_message(message_bytes(message)) == message


@pytest.mark.parametrize(
    "broken",
    [
        fields(action="event"),  # no name
        fields(action="teleport", name="x"),  # unknown action
        fields(action="identify", person={"id": "1", "email": "a@b.co"}),  # two identifiers
        fields(action="identify", person={}),  # none
        fields(action="identify", event_id="not-a-ulid"),
        fields(action="identify", timestamp=TS * 1000),  # milliseconds, not seconds
        fields(action="identify", surprise=True),  # unknown field
        fields(action="add_device", device={"platform": "ios"}),  # no token
    ],
)
def test_invalid_messages_fail_model_and_exported_schema(broken):
    with pytest.raises(ValidationError):
        build_message(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema_version": 1, **broken}, json.loads(SCHEMA_FILE.read_text()))


def test_wrong_schema_version_is_rejected():
    with pytest.raises(ValidationError):
        parse_message(json.dumps({**fields(action="suppress"), "schema_version": 2}))


def test_identify_maps_to_v2_identify_with_update_timestamp():
    message = build_message(fields(action="identify", attributes={"plan": "pro"}))
    assert isinstance(message, IdentifyMessage)
    assert to_operation(message) == {
        "type": "person",
        "identifiers": {"id": "42"},
        "action": "identify",
        "attributes": {"plan": "pro"},
        "timestamp": TS,
    }


def test_event_maps_to_v2_event_carrying_the_dedup_id():
    message = build_message(fields(action="event", name="purchase", attributes={"sku": "a"}))
    assert isinstance(message, EventMessage)
    op = to_operation(message)
    assert op["id"] == message.event_id
    assert (op["action"], op["name"], op["timestamp"]) == ("event", "purchase", TS)


def test_merge_maps_to_primary_and_secondary():
    message = build_message(fields(action="merge", secondary={"cio_id": "abc"}))
    assert isinstance(message, MergeMessage)
    assert to_operation(message) == {
        "type": "person",
        "action": "merge",
        "primary": {"id": "42"},
        "secondary": {"cio_id": "abc"},
    }


def test_derived_ids_are_stable_ulids_and_differ_by_key_and_time():
    first = event_id_for_key("order-1-paid", TS * 1000)
    assert first == event_id_for_key("order-1-paid", TS * 1000)
    assert is_ulid(first) and is_ulid(new_event_id())
    assert first != event_id_for_key("order-2-paid", TS * 1000)
    assert first != event_id_for_key("order-1-paid", TS * 1000 + 1)
    # the ULID's time part is the event time, so ids still sort by time
    assert first[:10] == event_id_for_key("other", TS * 1000)[:10]


def test_derived_id_rejects_empty_key():
    with pytest.raises(ValueError, match="non-empty"):
        event_id_for_key("", TS * 1000)
