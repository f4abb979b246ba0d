"""DeliveryHandler decisions for every kind of input, with recorded sender and dead letters.

The HTTP, Customer.io and Pub/Sub sides are exercised for real in test_integration.py; here the
sender answers what each case needs, so every branch of the decision logic is covered fast.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from cio_shared.common import StructuredLogger
from cio_shared.delivery import DeliveryHandler
from cio_shared.delivery.decisions import Outcome, from_status, transport_error

from tests.delivery import harness as h

TS = h.TS
TRACE = {"X-Cloud-Trace-Context": "0123456789abcdef0123456789abcdef/1;o=1"}


class RecordingSender:
    def __init__(self, outcome: Outcome):
        self.outcome = outcome
        self.sent: list[bytes] = []

    def send(self, operation: bytes) -> Outcome:
        self.sent.append(operation)
        return self.outcome


class RecordingDeadLetters:
    def __init__(self, fail: bool = False):
        self.fail = fail
        self.published: list[tuple[bytes, dict]] = []

    def publish(self, data, attributes):
        if self.fail:
            raise TimeoutError("publish timed out")
        self.published.append((data, dict(attributes)))
        return "dl-1"


def make(outcome=None, fail_dead_letter=False, topic="track"):
    stream = io.StringIO()
    handler = DeliveryHandler(
        handler=topic,
        topic=topic,
        sender=RecordingSender(outcome or from_status(200)),
        dead_letters=RecordingDeadLetters(fail_dead_letter),
        source_topic=f"projects/p/topics/cio-test-{topic}",
        logger=StructuredLogger("test", stream=stream),
    )
    return handler, stream


def event(**extra):
    return h.event_message(**{"person": {"email": "jane.doe@example.com"}, **extra})


def without_name(**extra):
    return {k: v for k, v in event(**extra).items() if k != "name" and v is not None}


def push_body(data: bytes | str, attempt: int | None = 2) -> bytes:
    encoded = data if isinstance(data, str) else base64.b64encode(data).decode()
    envelope = {
        "message": {"data": encoded, "messageId": "m-1", "attributes": {"origin": "shop"}},
        "subscription": "projects/p/subscriptions/cio-test-track-push",
    }
    if attempt is not None:
        envelope["deliveryAttempt"] = attempt
    return json.dumps(envelope).encode()


def run(handler, stream, body):
    text, status = handler.handle(body, TRACE)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1, "exactly one log line per delivery"
    return json.loads(text), status, lines[0]


def test_delivered_acks_and_logs_without_personal_data():
    handler, stream = make()
    message = event()
    body, status, log = run(handler, stream, push_body(json.dumps(message).encode()))
    assert (status, body["decision"], log["decision"]) == (200, "delivered", "delivered")
    assert log["event_id"] == message["event_id"] and log["severity"] == "INFO"
    assert log["logging.googleapis.com/trace"].endswith("0123456789abcdef0123456789abcdef")
    assert "jane.doe@example.com" not in stream.getvalue()
    assert "latency_ms" in log and log["attempt"] == 2
    sent = json.loads(handler.sender.sent[0])
    assert sent["id"] == message["event_id"] and sent["identifiers"] == {
        "email": "jane.doe@example.com"
    }


@pytest.mark.parametrize(
    "outcome",
    [from_status(429), from_status(500), from_status(401), transport_error("timeout", "read")],
)
def test_transient_trouble_answers_an_error_so_pubsub_redelivers(outcome):
    handler, stream = make(outcome)
    body, status, log = run(handler, stream, push_body(json.dumps(event()).encode()))
    assert status == 503 and body["decision"] == log["decision"] == "retry"
    assert log["severity"] == "WARNING" and not handler.dead_letters.published


def test_rejected_by_customerio_is_dead_lettered_with_reason_status_and_attempt():
    handler, stream = make(from_status(400, "HTTP 400"))
    raw = json.dumps(event()).encode()
    _body, status, log = run(handler, stream, push_body(raw, attempt=4))
    assert status == 200 and log["decision"] == "dead_lettered"
    data, attributes = handler.dead_letters.published[0]
    assert data == raw
    assert attributes["cio_reason"] == "rejected_400" and attributes["cio_status"] == "400"
    assert attributes["cio_attempt"] == "4" and attributes["cio_retryable"] == "false"
    assert attributes["cio_source_topic"] == "projects/p/topics/cio-test-track"
    assert attributes["cio_handler"] == "track" and attributes["origin"] == "shop"
    assert attributes["cio_message_id"] == "m-1"


def test_dead_letter_publish_failure_answers_retry_never_a_silent_ack():
    handler, stream = make(from_status(400), fail_dead_letter=True)
    _body, status, log = run(handler, stream, push_body(json.dumps(event()).encode()))
    assert (
        status == 503 and log["decision"] == "retry" and log["dead_letter_error"] == "TimeoutError"
    )


BAD_INPUTS = {
    "malformed_json": (push_body(b'{"schema_version": 1, "event_id": '), "invalid_json"),
    "not_utf8": (push_body(b"\xff\xfe\x00garbage"), "invalid_json"),
    "wrong_base64": (push_body("***not-base64***"), "invalid_base64"),
    "missing_fields": (
        push_body(json.dumps({"schema_version": 1, "action": "event"}).encode()),
        "schema_invalid",
    ),
    "unknown_type": (push_body(json.dumps(event(action="teleport")).encode()), "schema_invalid"),
    "empty_data": (push_body(b""), "invalid_json"),
    "json_array": (push_body(b"[1, 2]"), "schema_invalid"),
    "identify_on_track_topic": (
        push_body(json.dumps(without_name(action="identify")).encode()),
        "wrong_topic",
    ),
    "suppress_on_track_topic": (
        push_body(json.dumps(without_name(action="suppress", attributes=None)).encode()),
        "wrong_topic",
    ),
    "oversized": (
        push_body(json.dumps(event(attributes={"blob": "x" * 40_000})).encode()),
        "too_large",
    ),
    "huge_attribute_map": (
        push_body(json.dumps(event(attributes={f"k{i}": i for i in range(5000)})).encode()),
        "too_large",
    ),
    "not_an_envelope": (b"hello", "envelope_invalid"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_dead_lettered_once_and_acked(case):
    body_bytes, reason = BAD_INPUTS[case]
    handler, stream = make()
    _body, status, log = run(handler, stream, body_bytes)
    assert (status, log["decision"], log["reason"]) == (200, "dead_lettered", reason)
    assert not handler.sender.sent
    [(_, attributes)] = handler.dead_letters.published
    assert attributes["cio_reason"] == reason and attributes["cio_retryable"] == "false"
    assert "x" * 100 not in attributes["cio_detail"]


def test_schema_detail_names_fields_not_values():
    handler, stream = make()
    secret_email = "not-an-email-but-private"
    bad = event(person={"email": secret_email})
    _, _, log = run(handler, stream, push_body(json.dumps(bad).encode()))
    assert "person.email" in log["detail"] and secret_email not in stream.getvalue()


def test_unicode_attributes_are_sent_as_utf8():
    handler, stream = make()
    message = event(name="achat ✓", attributes={"ville": "Zürich", "emoji": "🚀", "名前": "太郎"})
    _, status, _ = run(handler, stream, push_body(json.dumps(message, ensure_ascii=False).encode()))
    assert status == 200
    assert json.loads(handler.sender.sent[0].decode("utf-8"))["attributes"]["名前"] == "太郎"


def test_identify_handler_sends_the_update_timestamp():
    handler, stream = make(topic="identify")
    message = without_name(action="identify")
    _, status, _ = run(handler, stream, push_body(json.dumps(message).encode()))
    assert status == 200
    assert json.loads(handler.sender.sent[0])["timestamp"] == TS


def test_a_bug_in_the_sender_retries_instead_of_losing_the_message():
    handler, stream = make()

    def explode(operation):
        raise KeyError("bug")

    handler.sender.send = explode
    _, status, log = run(handler, stream, push_body(json.dumps(event()).encode()))
    assert status == 503 and log["reason"] == "internal_error"


@pytest.mark.parametrize(
    ("outcome", "data", "attempt"),
    [
        (from_status(200), None, 2),
        (from_status(429), None, None),
        (from_status(400), None, 5),
        (transport_error("timeout", "read timed out"), None, 1),
        (None, "not base64 !", None),
    ],
    ids=["delivered", "retry", "dead_lettered", "transport_error", "envelope_invalid"],
)
def test_the_ledger_fields_keep_one_type_each_and_carry_no_personal_data(outcome, data, attempt):
    """Cloud Logging's BigQuery export fixes a column's type from the first lines it sees: a
    field that is sometimes null or a string and sometimes a number breaks the sink's writes."""
    from cio_shared import contract

    handler, stream = make(outcome)
    message = event()
    body = push_body(data if data is not None else json.dumps(message).encode(), attempt)
    _, _, log = run(handler, stream, body)
    json_types = {"string": str, "number": int | float}
    for field, kind in contract.LEDGER_LINE_FIELDS.items():
        if field in ("action", "person_hash") and data is not None:
            continue  # an unreadable message has neither
        value = log[field]
        assert isinstance(value, json_types[kind]) and not isinstance(value, bool), (field, value)
    if data is None:
        assert log["person_hash"] == contract.person_hash("email", "Jane.Doe@example.com")
    assert "jane.doe" not in stream.getvalue()
