"""The thin Track client and the senders against the real simulator (in-process, real HTTP)."""

from __future__ import annotations

import json
import threading

import pytest
from cio_shared.delivery.decisions import Decision
from cio_shared.delivery.rate_limit import TokenBucket
from cio_shared.delivery.senders import BatchSender, SingleSender, build_sender
from cio_shared.delivery.settings import Settings
from cio_shared.delivery.track_client import TrackClient, TrackResponse
from cio_simulator.config import FaultConfig, SimulatorConfig
from cio_simulator.server import Simulator

from tests.delivery import harness as h

pytestmark = pytest.mark.integration


def settings_for(url: str, **changes) -> Settings:
    env = {
        "CIO_SITE_ID": h.SITE_ID,
        "CIO_TRACK_API_KEY": h.TRACK_API_KEY,
        "CIO_TRACK_URL": url,
        "CIO_DEAD_LETTER_TOPIC": "cio-test-track-dead-letter",
        "CIO_TIMEOUT_SECONDS": "0.5",
        **changes,
    }
    return Settings.from_env(env)


def operation(**extra) -> bytes:
    op = {
        "type": "person",
        "identifiers": {"id": "c-1"},
        "action": "event",
        "name": "e",
        "id": h.event_message()["event_id"],
        "timestamp": h.TS,
        **extra,
    }
    return json.dumps(op).encode()


@pytest.fixture
def sim():
    with Simulator(SimulatorConfig()) as simulator:
        yield simulator


def test_entity_and_batch_reach_customerio(sim):
    client = TrackClient(settings_for(sim.url))
    assert client.send_entity(operation()).status == 200
    response = client.send_batch([operation(), operation(name="x" * 150), operation()])
    assert response.status == 207
    assert [(e.index, e.reason) for e in response.item_errors] == [(1, "limit")]
    assert len(sim.workspace.events) == 3


def test_wrong_credentials_are_a_status_not_an_exception(sim):
    client = TrackClient(settings_for(sim.url, CIO_TRACK_API_KEY="wrong"))
    assert client.send_entity(operation()).status == 401


@pytest.mark.parametrize(("kind", "reason"), [("timeout", "timeout"), ("drop", "connection_error")])
def test_transport_failures_become_retries(kind, reason):
    config = SimulatorConfig(faults=FaultConfig(rates={kind: 1.0}, timeout_hold_seconds=2))
    with Simulator(config) as simulator:
        sender = SingleSender(TrackClient(settings_for(simulator.url)), TokenBucket(0), 0)
        outcome = sender.send(operation())
    assert (outcome.decision, outcome.reason) == (Decision.RETRY, reason)
    assert "c-1" not in outcome.detail  # no payload in errors


def test_a_redirect_is_not_followed():
    """A 302 answers retry (unexpected_302): following it would turn the POST into a GET."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.command)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            seen.append(self.command)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        outcome = SingleSender(TrackClient(settings_for(url)), TokenBucket(0), 0).send(operation())
    finally:
        server.shutdown()
        server.server_close()
    assert (outcome.decision, outcome.reason, seen) == (Decision.RETRY, "unexpected_302", ["POST"])


def test_nothing_listening_is_a_connection_error():
    url = f"http://127.0.0.1:{h.free_port()}"
    outcome = SingleSender(TrackClient(settings_for(url)), TokenBucket(0), 0).send(operation())
    assert (outcome.decision, outcome.reason) == (Decision.RETRY, "connection_error")


def test_batch_sender_coalesces_and_maps_item_errors(sim):
    settings = settings_for(sim.url, CIO_BATCH_MAX_WAIT_MS="300")
    sender = build_sender(settings, TrackClient(settings))
    assert isinstance(sender, BatchSender)
    ops = [operation() for _ in range(8)] + [operation(name="y" * 150)]
    outcomes = [None] * len(ops)

    def run(i):
        outcomes[i] = sender.send(ops[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(ops))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert [o.decision for o in outcomes[:8]] == [Decision.DELIVERED] * 8
    assert (outcomes[8].decision, outcomes[8].reason, outcomes[8].status) == (
        Decision.DEAD_LETTER,
        "rejected_400",
        207,
    )
    assert sim.stats()["requests"] < len(ops)


class RefusingBatches:
    """A client whose batch endpoint refuses the whole request (or answers a 207 that names no
    item): the sender must isolate the bad operation."""

    def __init__(self, real: TrackClient, status: int = 400):
        self.real = real
        self.status = status

    def send_batch(self, bodies):
        return TrackResponse(self.status, [], f"HTTP {self.status}")

    def send_entity(self, body):
        return self.real.send_entity(body)


@pytest.mark.parametrize("status", [400, 413, 207])
def test_a_refused_batch_is_resent_one_by_one_so_neighbours_survive(sim, status):
    single = SingleSender(
        RefusingBatches(TrackClient(settings_for(sim.url)), status), TokenBucket(0), 0
    )  # type: ignore[arg-type]
    sender = BatchSender(single, max_items=10, max_wait=0)
    outcomes = sender._send_batch([operation(), operation(name="z" * 150), operation()])
    assert [o.decision for o in outcomes] == [
        Decision.DELIVERED,
        Decision.DEAD_LETTER,
        Decision.DELIVERED,
    ]
    assert outcomes[1].reason == "rejected_400" and outcomes[1].status == 400
