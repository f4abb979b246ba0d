"""The adaptive request budget (issue 16): on 429 an instance cuts its rate multiplicatively and
pauses for Retry-After, then recovers additively toward its configured share; and a batch stays
open while its request waits for the budget. Clocks are fake where timing matters; the
simulator is real (in-process) where a 429 comes from it."""

from __future__ import annotations

import json
import threading
import time

import pytest
from cio_shared.delivery.batching import Coalescer
from cio_shared.delivery.decisions import Decision
from cio_shared.delivery.rate_limit import TokenBucket
from cio_shared.delivery.senders import build_sender
from cio_shared.delivery.settings import Settings
from cio_shared.delivery.track_client import TrackClient, retry_after_seconds
from cio_simulator.config import SimulatorConfig
from cio_simulator.server import Simulator

from tests.delivery import harness as h


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_429_cuts_the_rate_once_per_burst_and_it_recovers_additively():
    clock = FakeClock()
    bucket = TokenBucket(
        rate=100, clock=clock, sleep=clock.sleep, adaptive=True, decrease=0.5, increase=0.1
    )
    bucket.throttled(retry_after=None)
    assert bucket.rate == pytest.approx(50)
    bucket.throttled(retry_after=None)  # same burst (within the cooldown): counted, no cut
    assert (bucket.rate, bucket.throttles, bucket.decreases) == (pytest.approx(50), 2, 1)
    clock.now += 2.0
    bucket.throttled(retry_after=None)
    assert bucket.rate == pytest.approx(0.5 * (50 + 2.0 * 10))
    clock.now += 100.0
    assert bucket.acquire(max_wait=1)
    assert bucket.rate == pytest.approx(100)  # never above the configured share


def test_retry_after_pauses_the_instance_and_voids_earlier_reservations():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=1, clock=clock, sleep=clock.sleep, adaptive=True)
    assert bucket.acquire(max_wait=0)
    wait = bucket.reserve(max_wait=5)
    assert wait == pytest.approx(0.1)
    bucket.throttled(retry_after=2)
    # the next token comes only after the pause, at the reduced rate
    started = clock.now
    assert bucket.acquire(max_wait=5)
    assert clock.now - started >= 2.0
    # a caller whose bound is shorter than the pause answers retry (held back, as today)
    bucket.throttled(retry_after=None)  # within the cooldown: no new pause
    clock.now += 5
    bucket.throttled(retry_after=3)
    assert not bucket.acquire(max_wait=1)


def test_a_fixed_bucket_ignores_429s():
    bucket = TokenBucket(rate=10, adaptive=False)
    bucket.throttled(retry_after=5)
    assert bucket.rate == 10
    assert bucket.acquire(max_wait=0)


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert retry_after_seconds(date, now=1445412480 - 5) == pytest.approx(5)
    assert retry_after_seconds(date, now=1445412480 + 5) == 0.0


def test_the_batch_stays_open_while_its_request_waits_for_the_budget():
    sent: list[list[bytes]] = []
    gate = threading.Event()

    def admit() -> bool:
        return gate.wait(2)

    coalescer: Coalescer[bytes] = Coalescer(
        lambda items: sent.append(list(items)) or items,
        max_items=100,
        max_wait=0.01,
        max_bytes=10_000,
        admit=admit,
        refuse=lambda items: [b"refused"] * len(items),
    )
    results: list[bytes] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(coalescer.submit(b"%d" % i)))
        for i in range(20)
    ]
    threads[0].start()
    time.sleep(0.05)  # the leader's window is over; it waits for the token
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.1)
    gate.set()
    for thread in threads:
        thread.join(5)
    assert [len(batch) for batch in sent] == [20]  # all joined the waiting leader's batch
    assert sorted(results) == sorted(b"%d" % i for i in range(20))


def test_a_batch_the_budget_refuses_answers_every_member_with_refuse():
    coalescer: Coalescer[bytes] = Coalescer(
        lambda items: items,
        max_items=10,
        max_wait=0.01,
        max_bytes=1000,
        admit=lambda: False,
        refuse=lambda items: [b"refused"] * len(items),
    )
    assert coalescer.submit(b"x") == b"refused"


@pytest.mark.integration
def test_a_429_from_customerio_slows_the_instance_and_the_delivery_retries():
    config = SimulatorConfig(rate_limit=1, rate_burst=1)
    with Simulator(config) as sim:
        settings = Settings.from_env(
            {
                "CIO_SITE_ID": h.SITE_ID,
                "CIO_TRACK_API_KEY": h.TRACK_API_KEY,
                "CIO_TRACK_URL": sim.url,
                "CIO_DEAD_LETTER_TOPIC": "cio-test-track-dead-letter",
                "CIO_RATE_LIMIT_PER_SECOND": "100",
                "CIO_RATE_LIMIT_MAX_WAIT_MS": "0",
                "CIO_BATCH_ENABLED": "false",
            }
        )
        sender = build_sender(settings, TrackClient(settings))
        op = {
            "type": "person",
            "identifiers": {"id": "c-1"},
            "action": "event",
            "name": "e",
            "timestamp": h.TS,
        }
        first = sender.send(json.dumps({**op, "id": h.event_message()["event_id"]}).encode())
        second = sender.send(json.dumps({**op, "id": h.event_message()["event_id"]}).encode())
        third = sender.send(json.dumps({**op, "id": h.event_message()["event_id"]}).encode())
    assert first.decision is Decision.DELIVERED
    assert (second.decision, second.reason, second.status) == (Decision.RETRY, "rate_limited", 429)
    # the simulator's Retry-After (1 s) pauses the instance: held back, answered retry locally
    assert (third.decision, third.reason) == (Decision.RETRY, "local_rate_limit")
    bucket = sender.bucket  # type: ignore[union-attr]
    assert bucket.rate == pytest.approx(80, rel=0.05)
    assert bucket.decreases == 1
