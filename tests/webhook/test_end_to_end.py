"""End to end: the simulator, acting as Customer.io, signs and sends a stream of webhook events
to the handler running under the real functions-framework server; a subscription on the Pub/Sub
emulator receives every event once, with the right attributes. Then a real publish failure (the
topic does not exist yet) makes the handler answer 502, the simulator holds back the events
behind it, and its retry lands once the topic exists."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cio_simulator.webhook_examples import example_events
from cio_simulator.webhook_sender import RetryPolicy, send_events

from tests.support.processes import FUNCTIONS, function_server
from tests.webhook.support import KEY, PROJECT, Topics, create_topic, create_topics, pull

pytestmark = pytest.mark.integration

FAST = RetryPolicy(timeout=4.0, base_delay=0.05, slow_status_delay=0.05, max_total_seconds=30)


@contextmanager
def webhook_server(topics: Topics, log: Path) -> Iterator[str]:
    env = {
        **topics.env(),
        "CIO_WEBHOOK_SIGNING_KEY": KEY,
        "CIO_ENVIRONMENT": "e2e",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "PUBSUB_EMULATOR_HOST": os.environ["PUBSUB_EMULATOR_HOST"],
    }
    with function_server(FUNCTIONS / "webhook" / "main.py", "handle", env=env, log_path=log) as url:
        yield url


def decisions(log: Path) -> Counter[str]:
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return Counter(entry["decision"] for entry in entries if "decision" in entry)


def test_every_event_arrives_once_with_its_attributes(pubsub_emulator_host, tmp_path) -> None:
    topics = create_topics()
    events = [example.payload for example in example_events()]  # each with its own ULID
    log = tmp_path / "webhook.log"
    with webhook_server(topics, log) as url:
        report = send_events(url, KEY, events, FAST)
    assert report.complete, report.to_dict()
    assert all(len(result.attempts) == 1 for result in report.results)
    messages = pull(topics.events_subscription, expected=len(events))
    assert Counter(m.attributes["event_id"] for m in messages) == Counter(
        e["event_id"] for e in events
    )
    assert pull(topics.events_subscription, expected=0, timeout=0.5) == []  # and nothing more
    by_id: dict[str, Any] = {e["event_id"]: e for e in events}
    for message in messages:
        sent = by_id[message.attributes["event_id"]]
        assert message.attributes["metric"] == sent["metric"]
        assert message.attributes["object_type"] == sent.get(
            "object_type", sent.get("object_type_type")
        )
        assert message.attributes["environment"] == "e2e"
        assert json.loads(message.data)["data"] == sent["data"]
    assert decisions(log)["accepted"] == len(events)


def test_a_publish_failure_is_retried_by_customer_io_and_then_lands(
    pubsub_emulator_host, tmp_path
) -> None:
    topics = create_topics(create=False)  # the events topic does not exist yet
    create_topic(topics.quarantine, topics.quarantine_subscription)
    events = [example.payload for example in example_events()[:5]]
    log = tmp_path / "webhook.log"
    waits: list[float] = []

    def backoff(seconds: float) -> None:
        """Customer.io's wait before a retry: the outage ends while it waits."""
        waits.append(seconds)
        if len(waits) == 2:
            create_topic(topics.events, topics.events_subscription)

    with webhook_server(topics, log) as url:
        report = send_events(url, KEY, events, FAST, sleep=backoff)
    assert report.complete, report.to_dict()
    first, *rest = report.results
    assert [a.status for a in first.attempts] == [502, 502, 200]
    assert all([a.status for a in r.attempts] == [200] for r in rest)  # held back, then sent once
    messages = pull(topics.events_subscription, expected=len(events))
    assert sorted(m.attributes["event_id"] for m in messages) == sorted(
        e["event_id"] for e in events
    )
    assert pull(topics.events_subscription, expected=0, timeout=0.5) == []
    assert decisions(log)["retry"] == 2


def test_an_odd_event_is_quarantined_and_never_stalls_the_stream(
    pubsub_emulator_host, tmp_path
) -> None:
    topics = create_topics()
    good = [example.payload for example in example_events()[:4]]
    odd = {**good[0], "event_id": "01ODDEVENT0000000000000000", "object_type": "carrier_pigeon"}
    stream = [good[0], good[1], odd, good[2], good[3]]
    log = tmp_path / "webhook.log"
    with webhook_server(topics, log) as url:
        report = send_events(url, KEY, stream, FAST)
    assert report.complete
    assert [r.final_status for r in report.results] == [200, 200, 202, 200, 200]
    assert all(len(r.attempts) == 1 for r in report.results)  # no retry, no backlog
    events = pull(topics.events_subscription, expected=4)
    assert sorted(m.attributes["event_id"] for m in events) == sorted(e["event_id"] for e in good)
    [quarantined] = pull(topics.quarantine_subscription, expected=1)
    assert quarantined.attributes["cio_reason"] == "unknown_object_type"
    assert json.loads(quarantined.data) == odd
    assert decisions(log)["quarantined"] == 1
