"""The producer helper: validation, id assignment, topic resolution, what it publishes."""

from __future__ import annotations

import json
import time

import pytest
from cio_shared.delivery.dead_letter import dead_letter_attributes
from cio_shared.delivery.decisions import from_status
from cio_shared.messages import is_ulid, parse_message
from cio_shared.producer import prepare, publish_identify, publish_track, resolve_topic
from pydantic import ValidationError

TS = 1_767_225_600


class Recorder:
    def __init__(self):
        self.calls = []

    def publish(self, topic, data, **attributes):
        self.calls.append((topic, data, attributes))
        return self

    def result(self, timeout=None):
        return "server-id"


def test_publish_track_validates_assigns_id_and_publishes_json(monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    recorder = Recorder()
    event_id = publish_track(
        {"id": "42"}, "purchase", {"price": 9}, topic="cio-dev-track", publisher=recorder
    )
    [(topic, data, attributes)] = recorder.calls
    assert topic == "projects/proj/topics/cio-dev-track"
    message = parse_message(data)
    assert message.event_id == event_id and is_ulid(event_id)
    assert attributes == {
        "cio_schema": "cio.event.v1",
        "cio_event_id": event_id,
        "cio_action": "event",
    }
    assert json.loads(data)["attributes"] == {"price": 9}


def test_idempotency_key_makes_a_producer_retry_the_same_event():
    first = prepare(
        "track", "42", {"action": "event", "name": "paid"}, timestamp=TS, idempotency_key="o-1"
    )
    again = prepare(
        "track", "42", {"action": "event", "name": "paid"}, timestamp=TS, idempotency_key="o-1"
    )
    other = prepare(
        "track", "42", {"action": "event", "name": "paid"}, timestamp=TS, idempotency_key="o-2"
    )
    assert first.event_id == again.event_id != other.event_id


def test_without_a_key_every_publish_is_a_new_event():
    one = prepare("track", "42", {"action": "event", "name": "paid"}, timestamp=TS)
    two = prepare("track", "42", {"action": "event", "name": "paid"}, timestamp=TS)
    assert one.event_id != two.event_id


def test_identify_defaults_its_update_time_to_now(monkeypatch):
    monkeypatch.setenv("CIO_IDENTIFY_TOPIC", "projects/p/topics/cio-dev-identify")
    recorder = Recorder()
    publish_identify({"email": "a@example.com"}, {"plan": "pro"}, publisher=recorder)
    [(topic, data, _)] = recorder.calls
    assert topic == "projects/p/topics/cio-dev-identify"
    assert abs(parse_message(data).timestamp - time.time()) < 60


@pytest.mark.parametrize(
    ("topic", "fields", "kwargs", "error"),
    [
        ("track", {"action": "identify"}, {}, "does not go to the track topic"),
        ("orders", {"action": "event", "name": "x"}, {}, "unknown topic"),
        (
            "track",
            {"action": "event", "name": "x"},
            {"idempotency_key": "k"},
            "needs the event's timestamp",
        ),
        (
            "track",
            {"action": "event", "name": "x", "attributes": {"b": "x" * 40_000}},
            {},
            "too large",
        ),
    ],
)
def test_misuse_is_refused_before_publishing(topic, fields, kwargs, error):
    with pytest.raises(ValueError, match=error):
        prepare(topic, "42", fields, **kwargs)


def test_invalid_content_is_a_validation_error_naming_the_field():
    with pytest.raises(ValidationError, match="person"):
        prepare("track", {"id": "1", "email": "a@b.co"}, {"action": "event", "name": "x"})


def test_a_topic_is_required(monkeypatch):
    monkeypatch.delenv("CIO_TRACK_TOPIC", raising=False)
    with pytest.raises(ValueError, match="set CIO_TRACK_TOPIC"):
        resolve_topic("track")


def test_dead_letter_keeps_producer_attributes_and_replaces_earlier_reasons():
    original = {"cio_schema": "cio.event.v1", "cio_reason": "rejected_400", "origin": "x" * 2000}
    attributes = dead_letter_attributes(
        original, from_status(429), attempt=None, source_topic="t", handler="track"
    )
    assert attributes["cio_schema"] == "cio.event.v1"
    assert attributes["cio_reason"] == "rate_limited" and attributes["cio_retryable"] == "true"
    assert attributes["cio_attempt"] == "" and len(attributes["origin"].encode()) <= 1024
