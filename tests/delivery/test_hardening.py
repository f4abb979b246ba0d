"""Issue 18: secrets stay out of settings' repr, non-finite numbers never reach Customer.io,
and the producer's attributes can never make the handler's own dead-letter publish fail."""

from __future__ import annotations

import base64
import io
import json

import pytest
from cio_shared.common import StructuredLogger
from cio_shared.delivery import DeliveryHandler, Settings
from cio_shared.delivery.decisions import from_status
from cio_shared.messages import build_message, parse_message
from cio_shared.webhooks import SignatureVerifier, WebhookSettings
from pydantic import ValidationError

from tests.delivery import harness as h
from tests.delivery.test_handler_decisions import RecordingDeadLetters, RecordingSender

TRACK_KEY = "track-key-7f3a9c0d1e2b"
SIGNING_KEY = "whsec-signing-4c8d2e1f"
PREVIOUS_KEY = "whsec-previous-9a0b1c2d"


def test_settings_never_show_the_track_api_key() -> None:
    settings = Settings.from_env(
        {
            "CIO_SITE_ID": "site-1",
            "CIO_TRACK_API_KEY": TRACK_KEY,
            "CIO_TRACK_URL": "http://127.0.0.1:9",
            "CIO_DEAD_LETTER_TOPIC": "cio-test-track-dead-letter",
        }
    )
    assert settings.track_api_key == TRACK_KEY
    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert TRACK_KEY not in text
        assert "site-1" in text  # the rest stays readable


def test_webhook_settings_never_show_the_signing_keys() -> None:
    settings = WebhookSettings.from_env(
        {"CIO_WEBHOOK_SIGNING_KEY": SIGNING_KEY, "CIO_WEBHOOK_SIGNING_KEY_PREVIOUS": PREVIOUS_KEY}
    )
    verifier = SignatureVerifier(settings.signing_key, settings.previous_signing_key)
    for text in (repr(settings), str(settings), repr(verifier), str(verifier)):
        assert SIGNING_KEY not in text and PREVIOUS_KEY not in text
    assert "max_body_bytes" in repr(settings)


def _with(attributes_json: str) -> bytes:
    message = h.event_message()
    text = json.dumps({**message, "attributes": "PLACEHOLDER"})
    return text.replace('"PLACEHOLDER"', attributes_json).encode()


@pytest.mark.parametrize(
    "attributes",
    ['{"total": 1e400}', '{"nested": [1, {"x": -1e999}]}', '{"x": 1e309}'],
)
def test_a_number_json_cannot_carry_is_schema_invalid(attributes: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_message(_with(attributes))
    assert [e["type"] for e in raised.value.errors()] == ["non_finite_number"]


def test_the_producer_refuses_nan_and_infinity_before_publishing() -> None:
    for value in (float("inf"), float("nan")):
        with pytest.raises(ValidationError, match="non_finite_number"):
            build_message({**h.event_message(), "attributes": {"v": value}})
    device = {"token": "t", "attributes": {"v": float("-inf")}}
    with pytest.raises(ValidationError, match="non_finite_number"):
        build_message({**h.event_message(), "action": "add_device", "device": device})


def test_large_but_finite_numbers_still_pass() -> None:
    message = parse_message(_with('{"big": 1e308, "int": 123456789012345678901234567890}'))
    assert message.attributes["big"] == 1e308  # type: ignore[union-attr]


def test_the_handler_dead_letters_1e400_as_schema_invalid_and_sends_nothing() -> None:
    stream = io.StringIO()
    sender = RecordingSender(from_status(200))
    dead_letters = RecordingDeadLetters()
    handler = DeliveryHandler(
        handler="track",
        topic="track",
        sender=sender,
        dead_letters=dead_letters,  # type: ignore[arg-type]
        source_topic="projects/p/topics/cio-test-track",
        logger=StructuredLogger("test", stream=stream),
    )
    data = _with('{"total": 1e400}')
    envelope = {"message": {"data": base64.b64encode(data).decode(), "messageId": "m-1"}}
    text, status = handler.handle(json.dumps(envelope).encode(), {})
    assert status == 200 and json.loads(text)["reason"] == "schema_invalid"
    assert sender.sent == []
    [(kept, attributes)] = dead_letters.published
    assert kept == data
    assert attributes["cio_detail"] == "event.attributes: non_finite_number"
    assert "Infinity" not in stream.getvalue()
