"""Group commit (issue 16): concurrent webhook requests share Publish calls, each still answers
only after its own message is confirmed. A fake Publish RPC makes the interleavings exact; the
emulator test shows the same with real Pub/Sub."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from cio_shared.webhooks import publish as publish_module
from cio_shared.webhooks.publish import PublishError, publish_grouped

from tests.webhook.support import create_topics, pull


class FakeClient:
    """Publish blocks until released (the first call), records every call."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self.fail = fail

    def publish(self, *, topic: str, messages: list[Any], retry: Any, timeout: float) -> Any:
        self.calls.append(len(messages))
        self.entered.set()
        if len(self.calls) == 1:
            self.release.wait(5)
        if self.fail:
            raise RuntimeError("unavailable")
        first = sum(self.calls[:-1])
        return SimpleNamespace(message_ids=[str(first + i) for i in range(len(messages))])


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeClient:
    client = FakeClient()
    monkeypatch.setattr(publish_module, "_client", lambda host: client)
    monkeypatch.setattr(publish_module, "_topics", {})
    return client


def concurrently(count: int, topic: str, timeout: float = 2.0) -> list[Any]:
    results: list[Any] = [None] * count

    def one(i: int) -> None:
        try:
            results[i] = publish_grouped(topic, b"%d" % i, {"n": str(i)}, timeout)
        except PublishError as exc:
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    return [threads, results]


def test_alone_a_request_sends_at_once(fake: FakeClient):
    fake.release.set()
    started = time.monotonic()
    published = publish_grouped("projects/p/topics/t", b"x", {}, 2.0)
    assert time.monotonic() - started < 0.5  # no timer
    assert (published.message_id, published.call_messages, fake.calls) == ("0", 1, [1])


def test_requests_that_arrive_during_a_call_share_the_next_one(fake: FakeClient):
    first = concurrently(1, "projects/p/topics/t")
    assert fake.entered.wait(2)
    rest = concurrently(9, "projects/p/topics/t")
    time.sleep(0.2)  # all nine queue behind the call in flight
    fake.release.set()
    for thread in first[0] + rest[0]:
        thread.join(5)
    assert fake.calls == [1, 9]
    results = first[1] + rest[1]
    assert sorted(int(r.message_id) for r in results) == list(range(10))  # each its own id
    assert [r.call_messages for r in rest[1]] == [9] * 9


def test_a_failed_call_fails_every_request_in_it(fake: FakeClient):
    fake.fail = True
    fake.release.set()
    threads, results = concurrently(3, "projects/p/topics/t")
    for thread in threads:
        thread.join(5)
    assert all(isinstance(r, PublishError) for r in results)


def test_a_request_out_of_time_while_queued_fails_and_is_never_sent(fake: FakeClient):
    first = concurrently(1, "projects/p/topics/t", timeout=3.0)
    assert fake.entered.wait(2)
    late = concurrently(1, "projects/p/topics/t", timeout=0.2)
    late[0][0].join(2)
    assert isinstance(late[1][0], PublishError)
    fake.release.set()
    first[0][0].join(5)
    assert fake.calls == [1]  # the late request's message never went out
    assert first[1][0].message_id == "0"


@pytest.mark.integration
def test_concurrent_requests_on_the_emulator_store_every_event_once(pubsub_emulator_host):
    topics = create_topics()
    count = 24
    results: list[Any] = [None] * count

    def one(i: int) -> None:
        results[i] = publish_grouped(topics.events, b'{"n":%d}' % i, {"n": str(i)}, 2.5)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len({r.message_id for r in results}) == count
    calls = sum(1 / r.call_messages for r in results)
    assert calls <= count
    messages = pull(topics.events_subscription, expected=count)
    assert sorted(int(m.attributes["n"]) for m in messages) == list(range(count))
