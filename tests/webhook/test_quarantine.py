"""A correctly signed body that is not a known event is accepted (2xx) and quarantined with
its reason, so it never blocks Customer.io's stream; it is counted by a structured log line."""

from __future__ import annotations

import json

import pytest

from tests.webhook.support import Topics, encode, event, nothing_published, pull, signed_headers

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b'"just a string"', "not_an_object"),
        (encode({**event(), "object_type": "pigeon"}), "unknown_object_type"),
        (encode({**event(), "metric": "exploded"}), "unknown_metric"),
        (encode({**event(), "timestamp": "yesterday"}), "invalid_timestamp"),
        (encode({k: v for k, v in event().items() if k != "data"}), "invalid_data"),
        (b'{"event_id": "\\ud800", "object_type": "email"}', "unknown_metric"),
        (encode({**event(), "data": {"subject": "\ud800"}}), "unencodable"),  # lone surrogate
        (b"", "invalid_json"),
    ],
)
def test_signed_but_unrecognised_is_202_and_quarantined_with_its_reason(
    client, topics: Topics, capsys, body: bytes, reason: str
) -> None:
    response = client.post("/", data=body, headers=signed_headers(body))
    assert response.status_code == 202
    assert response.json == {"status": "quarantined", "reason": reason}
    [message] = pull(topics.quarantine_subscription, expected=1)
    assert message.data == body  # the raw bytes, for inspection and replay
    assert message.attributes["cio_reason"] == reason
    assert message.attributes["cio_handler"] == "webhook"
    assert message.attributes["cio_retryable"] == "false"
    assert message.attributes["environment"] == "test"
    assert nothing_published(topics.events_subscription)
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    [line] = [entry for entry in lines if entry.get("decision") == "quarantined"]
    assert line["cio_reason"] == reason
    assert line["severity"] == "WARNING"


def test_logs_never_hold_the_key_or_the_body(client, capsys) -> None:
    secret_subject = "Your reset code is 918273"
    body = encode(event(subject=secret_subject, recipient="jane.doe@example.com"))
    headers = signed_headers(body)
    assert client.post("/", data=body, headers=headers).status_code == 200
    assert client.post("/", data=body + b" ", headers=headers).status_code == 401
    out = capsys.readouterr().out
    assert secret_subject not in out
    assert "jane.doe" not in out
    assert headers["X-CIO-Signature"] not in out
    from tests.webhook.support import KEY

    assert KEY not in out
    decisions = [json.loads(line)["decision"] for line in out.splitlines() if line.startswith("{")]
    assert decisions == ["accepted", "rejected"]
