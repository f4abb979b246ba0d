"""Issue 12, on-call fixes for `cio-doctor webhook`: lags in days and hours, a lag beyond
Customer.io's seven days of retries is not called a backlog, a signing key with whitespace is
rated by what the handler does with it (it strips it), and a replayed event the handler
quarantined again is not reported as healthy."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import FUNCTIONS, function_server
from tests.toolkit.doctor import run
from tests.toolkit.test_webhook_verify import EVENTS, _body, _capture, _sign

pytestmark = pytest.mark.integration
KEY = "whsec-test-key-0123456789"
PROJECT = "doctor-test"


def _verify(path: Path, key: str = KEY) -> Any:
    result = run(
        ["webhook", "verify", "--request", str(path), "--json"],
        env={"CIO_WEBHOOK_SIGNING_KEY": key},
    )
    return result


def _events_check(result: Any) -> dict[str, Any]:
    return next(c for c in result.json["checks"] if c["name"] == "events")


def test_a_lag_beyond_seven_days_is_shown_in_days_and_not_called_a_backlog(
    tmp_path: Path,
) -> None:
    now = int(time.time())
    body = json.dumps(EVENTS).encode()  # the document's examples: timestamp 0
    path = _capture(
        tmp_path, body, {"X-CIO-Timestamp": str(now), "X-CIO-Signature": _sign(KEY, now, body)}
    )
    result = _verify(path)
    assert result.code == 1, result.stdout + result.stderr
    assert result.finding_codes() == ["event_older_than_retries"]
    [finding] = result.json["findings"]
    assert finding["severity"] == "low"
    assert "min" not in finding["title"]
    assert re.search(r"up to \d+ d \d+ h before the delivery", finding["title"])
    assert "not a delivery backlog" in finding["title"]
    assert re.fullmatch(r"\d+ d \d+ h", _events_check(result)["data"]["lag"]["max"])


def test_a_backlog_within_the_retry_window_says_hours(tmp_path: Path) -> None:
    now = int(time.time())
    body = _body(EVENTS, now - 3 * 3600 - 20 * 60 + 5)  # _body subtracts 5 s
    path = _capture(
        tmp_path, body, {"X-CIO-Timestamp": str(now), "X-CIO-Signature": _sign(KEY, now, body)}
    )
    result = _verify(path)
    assert result.finding_codes() == ["delivery_backlog"]
    assert "up to 3 h 20 min after" in result.json["findings"][0]["title"]


def test_key_whitespace_is_low_because_the_handler_strips_the_key(
    pubsub_emulator_host: str, tmp_path: Path
) -> None:
    """The handler reads CIO_WEBHOOK_SIGNING_KEY stripped: with a trailing newline in the
    secret it still accepts the request, so the finding is a tidy-up, not a high."""
    from google.cloud import pubsub_v1

    now = int(time.time())
    body = json.dumps({**EVENTS[0], "timestamp": now}).encode()  # one event per request
    path = _capture(
        tmp_path, body, {"X-CIO-Timestamp": str(now), "X-CIO-Signature": _sign(KEY, now, body)}
    )
    verified = _verify(path, key=KEY + "\n")
    assert verified.code == 1
    [finding] = verified.json["findings"]
    assert (finding["code"], finding["severity"]) == ("signature_key_whitespace", "low")
    assert "the handler strips it" in finding["title"]

    publisher = pubsub_v1.PublisherClient()
    for purpose in ("events", "quarantine"):
        publisher.create_topic(name=f"projects/{PROJECT}/topics/cio-ws-webhook-{purpose}")
    handler_env = {
        "CIO_WEBHOOK_SIGNING_KEY": KEY + "\n",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "CIO_ENVIRONMENT": "ws",
        "PUBSUB_EMULATOR_HOST": pubsub_emulator_host,
    }
    with function_server(
        FUNCTIONS / "webhook" / "main.py", "handle", env=handler_env, log_path=tmp_path / "h.log"
    ) as url:
        import requests

        raw = path.read_bytes().split(b"\r\n\r\n", 1)[1]
        answer = requests.post(
            url,
            data=raw,
            headers={"X-CIO-Timestamp": str(now), "X-CIO-Signature": _sign(KEY, now, raw)},
            timeout=10,
        )
    assert answer.status_code == 200, answer.text


def test_an_event_quarantined_again_is_not_healthy(
    pubsub_emulator_host: str,
    make_env: Callable[..., str],
    env_dir: Path,
    tmp_path: Path,
) -> None:
    from google.cloud import pubsub_v1

    env = make_env(project_id=PROJECT)
    publisher = pubsub_v1.PublisherClient()
    events = publisher.create_topic(name=f"projects/{PROJECT}/topics/cio-{env}-webhook-events")
    quarantine = publisher.create_topic(
        name=f"projects/{PROJECT}/topics/cio-{env}-webhook-quarantine"
    )
    sub = f"projects/{PROJECT}/subscriptions/cio-{env}-webhook-quarantine"
    pubsub_v1.SubscriberClient().create_subscription(name=sub, topic=quarantine.name)
    unknown = {**EVENTS[0], "metric": "teleported", "timestamp": int(time.time())}
    original = publisher.publish(
        quarantine.name, json.dumps(unknown).encode(), cio_reason="unknown_metric"
    ).result()
    handler_env = {
        "CIO_WEBHOOK_SIGNING_KEY": KEY,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "CIO_ENVIRONMENT": env,
        "CIO_WEBHOOK_EVENTS_TOPIC": events.name,
        "CIO_WEBHOOK_QUARANTINE_TOPIC": quarantine.name,
        "PUBSUB_EMULATOR_HOST": pubsub_emulator_host,
    }
    doctor_env = {
        "CIO_WEBHOOK_SIGNING_KEY": KEY,
        "CIO_DOCTOR_ENV_DIR": str(env_dir),
        "PUBSUB_EMULATOR_HOST": pubsub_emulator_host,
    }
    with function_server(
        FUNCTIONS / "webhook" / "main.py", "handle", env=handler_env, log_path=tmp_path / "h.log"
    ) as url:
        result = run(
            ["webhook", "replay", "--url", url, "--quarantine", "--env", env, "--yes", "--json"],
            env=doctor_env,
        )
    assert result.code == 1, result.stdout + result.stderr
    assert result.json["status"] == "findings"
    [row] = result.json["checks"][0]["data"]["sent"]
    assert (row["status"], row["outcome"]) == (202, "quarantined")
    [finding] = result.json["findings"]
    assert finding["code"] == "replay_quarantined_again"
    assert "unknown_metric" in finding["detail"] or "teleported" in finding["detail"]
    assert f"--env {env}" in finding["next_step"]
    left = run(
        ["dlq", "list", "-s", "webhook-quarantine", "--env", env, "--json", "--wait", "1"],
        env=doctor_env,
    )
    # the handler's new copy replaced the original: one event in quarantine, not two
    ids = [m["message_id"] for m in left.json["checks"][0]["data"]["messages"]]
    assert len(ids) == 1 and ids != [original]
