"""Status -> decision, push envelope parsing, settings, token bucket, coalescer."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from cio_shared.delivery.batching import Coalescer
from cio_shared.delivery.decisions import Decision, from_status
from cio_shared.delivery.push import EnvelopeError, parse_push
from cio_shared.delivery.rate_limit import TokenBucket
from cio_shared.delivery.settings import Settings, SettingsError

BASE_ENV = {
    "CIO_SITE_ID": "site",
    "CIO_TRACK_API_KEY": "key",
    "CIO_REGION": "eu",
    "CIO_DEAD_LETTER_TOPIC": "cio-dev-track-dead-letter",
    "GOOGLE_CLOUD_PROJECT": "proj",
}


@pytest.mark.parametrize(
    ("status", "decision", "reason"),
    [
        (200, Decision.DELIVERED, "ok"),
        (207, Decision.DELIVERED, "ok"),
        (429, Decision.RETRY, "rate_limited"),
        (500, Decision.RETRY, "server_error"),
        (503, Decision.RETRY, "server_error"),
        (401, Decision.RETRY, "unauthorized"),
        (403, Decision.RETRY, "forbidden"),
        (404, Decision.RETRY, "not_found"),
        (408, Decision.RETRY, "request_timeout"),
        (302, Decision.RETRY, "unexpected_302"),
        (400, Decision.DEAD_LETTER, "rejected_400"),
        (422, Decision.DEAD_LETTER, "rejected_422"),
        (413, Decision.DEAD_LETTER, "too_large"),
    ],
)
def test_status_decides(status, decision, reason):
    outcome = from_status(status)
    assert (outcome.decision, outcome.reason, outcome.status) == (decision, reason, status)
    assert outcome.retryable is (decision is Decision.RETRY)


def envelope(data: str, **extra):
    message = {
        "data": data,
        "messageId": "m1",
        "publishTime": "2026-01-01T00:00:00Z",
        "attributes": {"a": "b"},
    }
    return json.dumps(
        {"message": message, "subscription": "projects/p/subscriptions/s", **extra}
    ).encode()


def test_push_envelope_fields_are_read():
    push = parse_push(envelope(base64.b64encode(b'{"x":1}').decode(), deliveryAttempt=3))
    assert (push.data, push.message_id, push.delivery_attempt, push.attributes) == (
        b'{"x":1}',
        "m1",
        3,
        {"a": "b"},
    )
    assert push.data_error is None
    assert push.subscription == "projects/p/subscriptions/s"


def test_push_age_is_measured_from_publish_time():
    push = parse_push(envelope(""))
    published = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    assert push.age_ms(now=published + 1.5) == 1500.0
    assert parse_push(b'{"message": {"data": ""}}').age_ms() is None


def test_push_without_delivery_attempt_as_the_emulator_sends():
    assert parse_push(envelope("")).delivery_attempt is None


def test_bad_base64_keeps_the_raw_text_for_the_dead_letter():
    push = parse_push(envelope("%%%not base64"))
    assert push.data_error and push.data == b"%%%not base64"


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"message": 3}', b'{"message": {"data": 5}}', b"\xff\xfe"]
)
def test_non_envelopes_are_refused(body):
    with pytest.raises(EnvelopeError):
        parse_push(body)


def test_settings_from_env_pick_region_and_defaults():
    settings = Settings.from_env(BASE_ENV)
    assert settings.track_url == "https://track-eu.customer.io"
    assert settings.dead_letter_topic == "projects/proj/topics/cio-dev-track-dead-letter"
    assert settings.batch_enabled and settings.rate_limit_per_second == 0


def test_settings_track_url_override_wins_over_region():
    env = {**BASE_ENV, "CIO_TRACK_URL": "http://127.0.0.1:9/", "CIO_REGION": ""}
    assert Settings.from_env(env).track_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"CIO_TRACK_API_KEY": ""}, "CIO_TRACK_API_KEY is required"),
        ({"CIO_REGION": "asia"}, "CIO_REGION must be one of"),
        ({"CIO_BATCH_MAX_ITEMS": "lots"}, "CIO_BATCH_MAX_ITEMS must be a number"),
        ({"CIO_BATCH_MAX_ITEMS": "5000"}, "CIO_BATCH_MAX_ITEMS must be >= 1"),
        ({"CIO_BATCH_ENABLED": "maybe"}, "CIO_BATCH_ENABLED must be true or false"),
        ({"CIO_TRACK_URL": "ftp://x"}, "CIO_TRACK_URL must start with"),
    ],
)
def test_settings_errors_name_the_variable(change, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**BASE_ENV, **change})


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_token_bucket_spaces_requests_and_refuses_long_waits():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=1, clock=clock, sleep=clock.sleep)
    assert bucket.acquire(max_wait=0)  # the saved token
    assert bucket.acquire(max_wait=1)  # waits 0.1 s
    assert clock.now == pytest.approx(0.1)
    # reservations queue: 10 more tokens take a second; an 11th would wait over 1 s
    waits = [bucket.reserve(max_wait=1.0) for _ in range(10)]
    assert waits[-1] == pytest.approx(1.0)
    assert bucket.reserve(max_wait=1.0) is None


def test_token_bucket_rate_zero_is_unlimited():
    bucket = TokenBucket(rate=0)
    assert all(bucket.acquire(max_wait=0) for _ in range(1000))


def run_concurrently(coalescer, items):
    results = [None] * len(items)

    def worker(i):
        results[i] = coalescer.submit(items[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(items))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_coalescer_batches_concurrent_items_and_returns_each_its_own_result():
    sent = []
    lock = threading.Lock()

    def send(items):
        with lock:
            sent.append(list(items))
        return [item.upper() for item in items]

    coalescer = Coalescer(send, max_items=10, max_wait=0.2, max_bytes=10_000)
    items = [f"item-{i}".encode() for i in range(25)]
    results = run_concurrently(coalescer, items)
    assert results == [item.upper() for item in items]
    assert sorted(x for batch in sent for x in batch) == sorted(items)
    assert all(len(batch) <= 10 for batch in sent)
    assert len(sent) < len(items)  # coalesced


def test_coalescer_respects_the_byte_limit():
    sizes = []
    coalescer = Coalescer(
        lambda items: sizes.append(sum(len(i) + 1 for i in items)) or items,
        max_items=100,
        max_wait=0.2,
        max_bytes=350,
    )
    run_concurrently(coalescer, [b"x" * 99 for _ in range(12)])
    assert sizes and max(sizes) <= 350


def test_coalescer_lone_item_waits_at_most_max_wait():
    coalescer = Coalescer(lambda items: items, max_items=100, max_wait=0.05, max_bytes=1000)
    started = time.monotonic()
    assert coalescer.submit(b"a") == b"a"
    assert time.monotonic() - started < 5


def test_coalescer_send_failure_reaches_every_member():
    def send(items):
        raise OSError("boom")

    coalescer = Coalescer(send, max_items=5, max_wait=0.2, max_bytes=1000)
    errors = []

    def worker():
        try:
            coalescer.submit(b"x")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(errors) == 5


def test_coalescer_refuses_an_item_bigger_than_a_batch():
    coalescer = Coalescer(lambda items: items, max_items=5, max_wait=0, max_bytes=10)
    with pytest.raises(ValueError, match="exceeds the batch limit"):
        coalescer.submit(b"x" * 20)
