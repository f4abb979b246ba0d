"""`cio-doctor webhook replay`: a captured event to the real webhook handler (functions-framework
on the Pub/Sub emulator), and quarantined events acknowledged only once accepted."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import FUNCTIONS, function_server
from tests.toolkit.doctor import run
from tests.toolkit.local_servers import http_server

pytestmark = pytest.mark.integration
PROJECT = "doctor-test"
KEY = "replay-signing-key"


def _event(ts: int) -> bytes:
    return json.dumps(
        {
            "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ",
            "object_type": "email",
            "metric": "delivered",
            "timestamp": ts,
            "data": {"customer_id": "42", "delivery_id": "d1"},
        }
    ).encode()


def _topic_with_probe(name: str) -> str:
    from google.cloud import pubsub_v1

    topic = pubsub_v1.PublisherClient().create_topic(name=f"projects/{PROJECT}/topics/{name}").name
    sub = f"projects/{PROJECT}/subscriptions/{name}-probe"
    pubsub_v1.SubscriberClient().create_subscription(name=sub, topic=topic)
    return sub


def _drain(sub: str) -> list[Any]:
    from google.cloud import pubsub_v1

    client = pubsub_v1.SubscriberClient()
    response = client.pull(request={"subscription": sub, "max_messages": 10}, timeout=5)
    return [r.message for r in response.received_messages]


def test_replay_a_stale_capture_to_the_real_handler(
    pubsub_emulator_host: str, tmp_path: Path
) -> None:
    events = _topic_with_probe("cio-rp-webhook-events")
    _topic_with_probe("cio-rp-webhook-quarantine")
    ts = int(time.time()) - 9 * 86400
    body = _event(ts)
    signature = hmac.new(KEY.encode(), b"v0:%d:" % ts + body, hashlib.sha256).hexdigest()
    capture = tmp_path / "captured.http"
    capture.write_bytes(
        f"POST / HTTP/1.1\nX-CIO-Timestamp: {ts}\nX-CIO-Signature: {signature}\n\n".encode() + body
    )
    handler_env = {
        "CIO_WEBHOOK_SIGNING_KEY": KEY,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "CIO_ENVIRONMENT": "rp",
        "CIO_WEBHOOK_EVENTS_TOPIC": f"projects/{PROJECT}/topics/cio-rp-webhook-events",
        "CIO_WEBHOOK_QUARANTINE_TOPIC": f"projects/{PROJECT}/topics/cio-rp-webhook-quarantine",
        "PUBSUB_EMULATOR_HOST": pubsub_emulator_host,
    }
    with function_server(
        FUNCTIONS / "webhook" / "main.py",
        "handle",
        env=handler_env,
        log_path=tmp_path / "handler.log",
    ) as url:
        stale = run(
            ["webhook", "verify", "--request", str(capture), "--json"],
            env={"CIO_WEBHOOK_SIGNING_KEY": KEY},
        )
        assert stale.finding_codes() == ["signature_stale_timestamp"]
        replayed = run(
            ["webhook", "replay", "--url", url, "--request", str(capture), "--json"],
            env={"CIO_WEBHOOK_SIGNING_KEY": KEY},
        )
        assert replayed.code == 0, replayed.stdout + replayed.stderr
        assert replayed.json["checks"][0]["data"]["sent"][0]["status"] == 200
        wrong = run(
            ["webhook", "replay", "--url", url, "--body", "-", "--json"],
            env={"CIO_WEBHOOK_SIGNING_KEY": "another-key"},
            stdin=body,
        )
        assert wrong.code == 1
        assert wrong.finding_codes() == ["replay_rejected"]
    [published] = _drain(events)
    assert json.loads(published.data)["event_id"] == "01E4C4CT6YDC7Y5M7FE1GWWPQJ"


def test_replay_quarantined_events_acks_only_accepted_ones(
    pubsub_emulator_host: str, make_env: Callable[..., str], env_dir: Path
) -> None:
    from google.cloud import pubsub_v1

    env = make_env(project_id=PROJECT)
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.create_topic(name=f"projects/{PROJECT}/topics/cio-{env}-webhook-quarantine")
    sub = f"projects/{PROJECT}/subscriptions/cio-{env}-webhook-quarantine"
    pubsub_v1.SubscriberClient().create_subscription(name=sub, topic=topic.name)
    ts = int(time.time())
    good = publisher.publish(topic.name, _event(ts), cio_reason="unknown_metric").result()
    bad = publisher.publish(topic.name, b'{"poison": true}', cio_reason="not_an_event").result()

    def answer(handler: Any) -> tuple[int, Any]:
        request = received[-1]
        expected = hmac.new(
            KEY.encode(),
            b"v0:" + request["headers"]["X-CIO-Timestamp"].encode() + b":" + request["body"],
            hashlib.sha256,
        ).hexdigest()
        assert request["headers"]["X-CIO-Signature"] == expected
        return (500, {}) if b"poison" in request["body"] else (200, {"status": "accepted"})

    with http_server({"/hook": answer}) as (url, recorder):
        received = recorder.requests
        common = [
            "webhook",
            "replay",
            "--url",
            f"{url}/hook",
            "--quarantine",
            "--env",
            env,
            "--json",
        ]
        environment = {
            "CIO_WEBHOOK_SIGNING_KEY": KEY,
            "CIO_DOCTOR_ENV_DIR": str(env_dir),
            "PUBSUB_EMULATOR_HOST": pubsub_emulator_host,
        }
        refused = run(common, env=environment)
        assert refused.code == 2
        assert "--yes" in refused.json["checks"][0]["error"]
        assert received == []
        result = run([*common, "--yes"], env=environment)
    assert result.code == 1, result.stdout + result.stderr
    sent = {row["event"]: row["status"] for row in result.json["checks"][0]["data"]["sent"]}
    assert sent == {good: 200, bad: 500}
    left = run(
        [
            "dlq",
            "list",
            "--subscription",
            "webhook-quarantine",
            "--env",
            env,
            "--json",
            "--wait",
            "1.0",
        ],
        env=environment,
    )
    assert [m["message_id"] for m in left.json["checks"][0]["data"]["messages"]] == [bad]
