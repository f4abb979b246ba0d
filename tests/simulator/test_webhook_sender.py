"""The reporting-webhook sender against a small local receiver: signatures verified here with
hmac, retries with backoff, and the backlog (later events wait for a failing one)."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cio_simulator.webhook_examples import event_errors, example_events
from cio_simulator.webhook_sender import RetryPolicy, send_events, sign

pytestmark = pytest.mark.integration

KEY = "whsec-test-key"
FAST = RetryPolicy(timeout=0.5, base_delay=0.01, max_delay=0.05, max_total_seconds=5)


@dataclass
class Received:
    body: bytes
    timestamp: str
    signature: str

    @property
    def event_id(self) -> str:
        return str(json.loads(self.body)["event_id"])


@dataclass
class Receiver:
    """Answers each POST with `script(event_id, attempt)` -> status (or a delay, then 200)."""

    script: Callable[[str, int], int | float] = lambda _id, _n: 200
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def answer(self, item: Received) -> int | float:
        self.received.append(item)
        attempt = sum(1 for r in self.received if r.event_id == item.event_id)
        return self.script(item.event_id, attempt)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            item = Received(body, self.headers["X-CIO-Timestamp"], self.headers["X-CIO-Signature"])
            outcome = state.answer(item)
            if isinstance(outcome, float):
                time.sleep(outcome)
                outcome = 200
            self.send_response(outcome)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/webhook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _events(count: int) -> list[dict]:
    return [example.payload for example in example_events()[:count]]


def test_every_event_is_signed_over_timestamp_and_raw_body(receiver: Receiver) -> None:
    events = _events(5)
    report = send_events(receiver.url, KEY, events, FAST)
    assert report.complete and report.sent == 5
    assert [r.event_id for r in receiver.received] == [e["event_id"] for e in events]
    for item in receiver.received:
        expected = hmac.new(
            KEY.encode(), b"v0:" + item.timestamp.encode() + b":" + item.body, hashlib.sha256
        ).hexdigest()
        assert hmac.compare_digest(item.signature, expected)
        assert abs(int(item.timestamp) - time.time()) < 60
        assert isinstance(json.loads(item.body), dict)  # one event per webhook, not a list
    assert sign(KEY, 1, b"{}") == hmac.new(KEY.encode(), b"v0:1:{}", hashlib.sha256).hexdigest()


def test_failed_event_is_retried_and_holds_back_later_ones(receiver: Receiver) -> None:
    events = _events(3)
    stuck = events[1]["event_id"]
    receiver.script = lambda event_id, attempt: 500 if event_id == stuck and attempt <= 2 else 200
    report = send_events(receiver.url, KEY, events, FAST)
    order = [r.event_id for r in receiver.received]
    assert order == [events[0]["event_id"], stuck, stuck, stuck, events[2]["event_id"]]
    assert [len(r.attempts) for r in report.results] == [1, 3, 1]
    assert [a.status for a in report.results[1].attempts] == [500, 500, 200]
    assert report.complete


def test_timeout_counts_as_a_failure_and_is_retried(receiver: Receiver) -> None:
    events = _events(2)
    first = events[0]["event_id"]
    receiver.script = lambda event_id, attempt: 1.0 if event_id == first and attempt == 1 else 200
    report = send_events(receiver.url, KEY, events, FAST)
    assert report.complete
    assert report.results[0].attempts[0].error == "timeout"
    assert report.results[0].attempts[1].status == 200


def test_gives_up_after_max_total_and_reports_the_backlog(receiver: Receiver) -> None:
    events = _events(4)
    receiver.script = lambda event_id, attempt: 410 if event_id == events[1]["event_id"] else 200
    policy = RetryPolicy(timeout=0.5, base_delay=0.02, max_delay=0.05, max_total_seconds=0.3)
    report = send_events(receiver.url, KEY, events, policy)
    assert not report.complete
    assert report.sent == 1 and report.backlogged == 2
    assert {r.event_id for r in receiver.received} == {events[0]["event_id"], events[1]["event_id"]}
    assert report.results[1].final_status == 410
    assert report.to_dict()["events"][1]["attempt_count"] >= 2


def test_listed_statuses_wait_longer_than_other_failures(receiver: Receiver) -> None:
    events = _events(2)
    statuses = {events[0]["event_id"]: 429, events[1]["event_id"]: 503}
    receiver.script = lambda event_id, attempt: statuses[event_id] if attempt == 1 else 200
    waits: list[float] = []
    policy = RetryPolicy(timeout=0.5, base_delay=0.01, slow_status_delay=0.2, max_total_seconds=5)
    report = send_events(receiver.url, KEY, events, policy, sleep=waits.append)
    assert report.complete
    assert waits == [0.2, 0.01]  # 429 is on Customer.io's list (an hour there), 503 is not


def test_connection_refused_is_retried_until_the_deadline() -> None:
    report = send_events(
        "http://127.0.0.1:9/nothing",
        KEY,
        _events(1),
        RetryPolicy(timeout=0.2, base_delay=0.01, max_delay=0.02, max_total_seconds=0.2),
    )
    assert not report.complete
    assert all(
        a.error and a.error.startswith("connection error") for a in report.results[0].attempts
    )


def test_examples_cover_every_object_type_and_validate() -> None:
    examples = example_events()
    assert {e.object_type for e in examples} == {
        "customer",
        "email",
        "push",
        "in_app",
        "sms",
        "slack",
        "webhook",
        "whatsapp",
    }
    assert len(examples) >= 60
    assert all(event_errors(e.payload) == [] for e in examples)
    assert len({e.payload["event_id"] for e in examples}) == len(examples)
    kept = example_events(unique_ids=False)
    assert kept[0].payload["event_id"] == "01E4C4CT6YDC7Y5M7FE1GWWPQJ"  # the document's own


def test_event_errors_name_what_is_wrong() -> None:
    event = dict(example_events()[1].payload)
    del event["data"]
    assert event_errors(event)
    assert event_errors({"object_type": "fax", "metric": "sent"}) == [
        "no schema for object_type 'fax' with metric 'sent'"
    ]


def test_cli_sends_the_examples(receiver: Receiver) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cio_simulator.cli",
            "send-webhooks",
            "--url",
            receiver.url,
            "--key",
            KEY,
            "--examples",
            "--backoff-base",
            "0.01",
            "--max-total",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["complete"] and report["sent"] == report["total"] == len(receiver.received)
