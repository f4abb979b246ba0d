"""No loss, no duplicate under faults: a couple of thousand events through the real path.

producer helper -> emulator topic -> emulator push subscription (dead-letter policy, 10 attempts)
-> track handler (functions-framework, batching on) -> simulator injecting 429s, 5xx (some
after storing), timeouts and a short outage. At the end every event is either stored at the
simulator exactly once or in the dead-letter subscription with a reason. Bounded: read timeout
1 s, outage 3 s, cap of two minutes.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from cio_shared import google_clients
from cio_shared.producer import publish_track

from tests.delivery import harness as h

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EVENTS = int(os.environ.get("NO_LOSS_EVENTS", "2000"))
POISON = 20  # valid JSON that breaks the contract: must be dead-lettered by the handler
CAP_SECONDS = 120
FAULTS = {
    "faults": ["429:0.04", "500:0.04", "503:0.02", "timeout:0.02"],
    "outage": "3s+3s",
    "timeout_hold": "2s",
    "after_store": True,  # a 5xx after the event was stored: the redelivery must dedupe
    "latency_ms": 5,
    "seed": 20261123,
}


def dead_letter_event_id(message) -> str | None:
    if message.attributes.get("cio_event_id"):
        return str(message.attributes["cio_event_id"])
    try:
        return str(json.loads(message.data)["event_id"])
    except (ValueError, KeyError, TypeError):
        return None


def test_no_event_is_lost_or_duplicated_under_faults(pubsub_emulator_host, tmp_path):
    names = h.unique_names("track")
    h.create_topics(names)
    with h.simulator(log_path=tmp_path / "simulator.log") as sim:
        env = h.handler_env(names, sim.url, CIO_TIMEOUT_SECONDS="1", CIO_BATCH_MAX_WAIT_MS="10")
        with h.handler("track", env, tmp_path / "track.log") as url:
            h.create_push_subscription(names, url, max_attempts=10, ack_deadline=10)
            sim.set_faults(**FAULTS)
            started = time.monotonic()
            publisher = google_clients.publisher()
            ids = [
                publish_track(
                    {"id": f"user-{i % 97}"},
                    "order_paid",
                    {"n": i},
                    topic=names.source,
                    publisher=publisher,
                )
                for i in range(EVENTS)
            ]
            for i in range(POISON):
                publisher.publish(
                    names.source, json.dumps({"schema_version": 1, "n": i}).encode()
                ).result()

            dead: dict[str, object] = {}
            stored: dict[str, dict] = {}

            def settled() -> bool:
                for message in h.pull_dead_letters(names, expected=10**6, timeout=0.5):
                    dead[message.message_id] = message
                stored.update(sim.events())
                dead_ids = {dead_letter_event_id(m) for m in dead.values()}
                return set(ids) <= set(stored) | dead_ids and len(dead) >= POISON

            h.wait_until(settled, timeout=CAP_SECONDS, interval=1.0)
            duration = time.monotonic() - started
            stats = sim.stats()
            state_events = [e["id"] for e in sim.state()["events"] if e.get("id")]

    dead_ids = [dead_letter_event_id(m) for m in dead.values()]
    lost = set(ids) - set(stored) - set(dead_ids)
    duplicated = len(state_events) - len(set(state_events))
    reasons = [
        m.attributes.get("cio_reason")
        or f"max_attempts({m.attributes['CloudPubSubDeadLetterSourceDeliveryCount']})"
        for m in dead.values()
    ]
    figures = {
        "events": EVENTS,
        "poison": POISON,
        "injected_faults": stats["injected_faults"],
        "requests": stats["requests"],
        "delivered": len(set(ids) & set(stored)),
        "dead_lettered": len(dead),
        "dead_letter_reasons": {r: reasons.count(r) for r in sorted(set(reasons))},
        "redeliveries_absorbed_by_dedup": stats["duplicate_events"],
        "lost": len(lost),
        "duplicated": duplicated,
        "duration_s": round(duration, 1),
    }
    print("\nno-loss figures:", json.dumps(figures))
    (tmp_path / "figures.json").write_text(json.dumps(figures))
    assert sum(stats["injected_faults"].values()) > 0, "the run must actually inject faults"
    assert not lost, f"{len(lost)} events lost"
    assert duplicated == 0
    assert all(r for r in reasons), "every dead letter says why"
    assert reasons.count("schema_invalid") == POISON
