"""When Pub/Sub does not confirm, the handler answers 502 (on Customer.io's retry list) so the
event comes back; that is the one case where a retry is right. The failures here are real: a
topic that does not exist yet on the emulator, and a Pub/Sub endpoint where nothing listens."""

from __future__ import annotations

import json

import pytest

from tests.support.processes import FUNCTIONS, free_port, function_server
from tests.webhook.support import (
    KEY,
    PROJECT,
    create_topic,
    create_topics,
    encode,
    event,
    handler_client,
    pull,
    signed_headers,
)

pytestmark = pytest.mark.integration


def test_a_missing_topic_is_502_and_the_retry_lands_once_it_exists(pubsub_emulator_host, capsys):
    topics = create_topics(create=False)
    payload = event()
    body = encode(payload)
    with handler_client(topics.env()) as client:
        failed = client.post("/", data=body, headers=signed_headers(body))
        assert failed.status_code == 502
        assert failed.json == {"error": "publish_failed"}
        create_topic(topics.events, topics.events_subscription)
        retried = client.post("/", data=body, headers=signed_headers(body))
        assert retried.status_code == 200
    [message] = pull(topics.events_subscription, expected=1)
    assert message.attributes["event_id"] == payload["event_id"]
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    assert [(entry["decision"], entry["status"]) for entry in lines] == [
        ("retry", 502),
        ("accepted", 200),
    ]
    assert "NotFound" in lines[0]["cio_detail"]


def test_a_missing_quarantine_topic_is_502_too(pubsub_emulator_host):
    topics = create_topics(create=False)
    body = b"not an event"
    with handler_client(topics.env()) as client:
        assert client.post("/", data=body, headers=signed_headers(body)).status_code == 502
        create_topic(topics.quarantine, topics.quarantine_subscription)
        assert client.post("/", data=body, headers=signed_headers(body)).status_code == 202


def test_pubsub_unreachable_is_502_within_the_publish_timeout(tmp_path):
    """The real server, its Pub/Sub client pointed at a port where nothing listens."""
    env = {
        "CIO_WEBHOOK_SIGNING_KEY": KEY,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{free_port()}",
        "CIO_WEBHOOK_PUBLISH_TIMEOUT_SECONDS": "0.5",
    }
    body = encode(event())
    log = tmp_path / "webhook.log"
    with function_server(FUNCTIONS / "webhook" / "main.py", "handle", env=env, log_path=log) as url:
        import requests

        response = requests.post(url, data=body, headers=signed_headers(body), timeout=10)
    assert response.status_code == 502
    decisions = [
        json.loads(line)["decision"]
        for line in log.read_text().splitlines()
        if line.startswith("{") and "decision" in line
    ]
    # (the server runner's readiness probe is a GET: rejected with 405)
    assert [d for d in decisions if d != "rejected"] == ["retry"]
