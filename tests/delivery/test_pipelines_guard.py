"""The Pipelines path's own guards (cio_shared.delivery.pipelines_guard), against the in-process
simulator and Google's Firestore emulator: delivered markers, per-trait identify watermarks,
the unknown-outcome policy, and Firestore trouble before sending as a retry."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests
from cio_shared.delivery import Decision, Outcome, Settings
from cio_shared.delivery.pipelines import PipelinesClient, encode_call
from cio_shared.delivery.pipelines_guard import (
    CallFacts,
    GuardedSender,
    fresh_traits,
    is_unknown,
)
from cio_shared.delivery.senders import build_sender
from cio_shared.delivery.settings import SettingsError
from cio_simulator import Simulator

from tests.delivery.test_pipelines import TS, env, message
from tests.support.firestore import firestore_available

pytestmark = pytest.mark.integration


@pytest.fixture
def sim(pipelines_sim: Simulator) -> Simulator:
    return pipelines_sim


@pytest.fixture
def guarded_env(sim: Simulator, firestore_emulator_host: str) -> dict[str, str]:
    """A fresh database name per test: nothing recorded by another test is seen."""
    return env(
        sim.url,
        CIO_BATCH_ENABLED="false",
        CIO_FIRESTORE_DATABASE=f"guard-{secrets.token_hex(4)}",
    )


def sender_for(variables: dict[str, str]) -> Any:
    settings = Settings.from_env(variables)
    return build_sender(settings, PipelinesClient(settings))


def deliver(sender: Any, operation: bytes, driver: str) -> Outcome:
    """`send` as under a WSGI server (threads), or `send_async` as under the ASGI one."""
    if driver == "coroutines":
        return asyncio.run(sender.send_async(operation))
    outcome: Outcome = sender.send(operation)
    return outcome


DRIVERS = pytest.mark.parametrize("driver", ["threads", "coroutines"])


@pytest.fixture(params=["threads", "coroutines"])
def send(request: pytest.FixtureRequest) -> Callable[[Any, Any], Outcome]:
    """Deliver a message through a sender, with each driver."""

    def send_message(sender: Any, msg: Any) -> Outcome:
        operation = encode_call(msg)
        assert isinstance(operation, bytes)
        return deliver(sender, operation, request.param)

    return send_message


def identify(attributes: dict[str, Any], at: int, person: dict[str, str] | None = None) -> Any:
    return message("identify", person=person, attributes=attributes, timestamp=at)


def state(sim: Simulator) -> dict[str, Any]:
    return dict(requests.get(f"{sim.url}/_admin/state", timeout=5).json())


def set_faults(sim: Simulator, **faults: Any) -> None:
    requests.post(f"{sim.url}/_admin/faults", json=faults, timeout=5).raise_for_status()


def requests_to(sim: Simulator, path: str) -> list[dict[str, Any]]:
    log = requests.get(f"{sim.url}/_admin/requests", timeout=5).json()["requests"]
    return [entry for entry in log if entry["path"] == path]


needs_firestore = pytest.mark.skipif(not firestore_available(), reason="no Firestore emulator")


@needs_firestore
def test_a_delivered_event_is_not_sent_again(
    sim: Simulator, guarded_env: dict[str, str], send: Callable[[Any, Any], Outcome]
) -> None:
    sender = sender_for(guarded_env)
    event = message("event", name="order_paid", attributes={"n": 1})
    assert send(sender, event).reason == "ok"
    again = send(sender, event)  # a Pub/Sub redelivery, or a replay, of the same event id
    assert (again.decision, again.reason) == (Decision.DELIVERED, "already_delivered")
    assert len(requests_to(sim, "/v1/track")) == 1
    assert [e["client_message_id"] for e in state(sim)["events"]] == [event.event_id]


@needs_firestore
def test_an_older_identify_never_overwrites_a_newer_one(
    sim: Simulator, guarded_env: dict[str, str], send: Callable[[Any, Any], Outcome]
) -> None:
    sender = sender_for(guarded_env)
    assert send(sender, identify({"plan": "gold"}, TS + 60)).reason == "ok"
    # the older one arrives later (a dead-letter replay): only its trait nobody newer set goes
    assert send(sender, identify({"plan": "silver", "city": "Lyon"}, TS)).reason == "ok"
    stale = send(sender, identify({"plan": "bronze"}, TS + 30))
    assert (stale.decision, stale.reason) == (Decision.DELIVERED, "stale_identify")
    assert send(sender, identify({"plan": "platinum"}, TS + 60)).reason == "ok"  # same second
    [person] = state(sim)["people"]
    assert person["attributes"] == {"plan": "platinum", "city": "Lyon"}
    sent = [entry["body"]["traits"] for entry in requests_to(sim, "/v1/identify")]
    assert sent == [{"plan": "gold"}, {"city": "Lyon"}, {"plan": "platinum"}]


@needs_firestore
def test_an_identify_by_email_keeps_its_email(
    sim: Simulator, guarded_env: dict[str, str], send: Callable[[Any, Any], Outcome]
) -> None:
    sender = sender_for(guarded_env)
    person = {"email": "Ada@example.com"}
    assert send(sender, identify({"plan": "gold"}, TS + 60, person)).reason == "ok"
    older = send(sender, identify({"plan": "silver", "tier": 2}, TS, person))
    assert older.reason == "ok"
    last = requests_to(sim, "/v1/identify")[-1]["body"]
    assert last["userId"] == "" and set(last["traits"]) == {"tier", "email"}
    assert send(sender, identify({"plan": "bronze"}, TS, person)).reason == "stale_identify"


def test_hold_dead_letters_an_unknown_outcome_and_resends_a_503(
    sim: Simulator, send: Callable[[Any, Any], Outcome]
) -> None:
    variables = env(sim.url, CIO_BATCH_ENABLED="false", CIO_PIPELINES_UNKNOWN_OUTCOME="hold")
    variables["CIO_TIMEOUT_SECONDS"] = "0.3"
    sender = sender_for(variables)
    assert isinstance(sender, GuardedSender) and sender.ledger is None
    set_faults(sim, faults=["timeout:1.0"], timeout_hold="1s")
    held = send(sender, message("event", name="x", attributes={}))
    assert (held.decision, held.reason) == (Decision.DEAD_LETTER, "outcome_unknown")
    assert "timeout" in held.detail
    set_faults(sim, faults=["503:1.0"])
    unavailable = send(sender, message("event", name="x", attributes={}))
    assert (unavailable.decision, unavailable.reason) == (Decision.RETRY, "server_error")
    with pytest.raises(SettingsError, match="CIO_PIPELINES_UNKNOWN_OUTCOME"):
        Settings.from_env({**variables, "CIO_PIPELINES_UNKNOWN_OUTCOME": "maybe"})


@DRIVERS
def test_firestore_trouble_before_sending_is_a_retry_after_sending_only_a_log(driver: str) -> None:
    class Broken:
        def read(self, calls: list[CallFacts]) -> Any:
            raise ConnectionError("firestore down")

        def write(self, delivered: Any) -> None:
            raise ConnectionError("firestore down")

    class Sent:
        calls = 0

        def send(self, operation: bytes) -> Outcome:
            Sent.calls += 1
            return Outcome(Decision.DELIVERED, "ok", 200)

    errors: list[str] = []
    guard = GuardedSender(Sent(), Broken(), on_error=lambda where, exc: errors.append(where))  # type: ignore[arg-type]
    operation = encode_call(message("event", name="x", attributes={}))
    assert isinstance(operation, bytes)
    outcome = deliver(guard, operation, driver)
    assert (outcome.decision, outcome.reason, outcome.detail, Sent.calls) == (
        Decision.RETRY,
        "guard_unavailable",
        "ConnectionError",
        0,
    )

    class ReadsFine(Broken):
        def read(self, calls: list[CallFacts]) -> Any:
            return [(False, {})] * len(calls)

    guard.ledger = ReadsFine()  # type: ignore[assignment]
    assert deliver(guard, operation, driver).reason == "ok"
    assert (Sent.calls, errors) == (1, ["ledger_write"])


def test_which_answers_leave_the_outcome_unknown() -> None:
    unknown = [Outcome(Decision.RETRY, "timeout"), Outcome(Decision.RETRY, "server_error", 500)]
    known = [
        Outcome(Decision.RETRY, "server_error", 503),
        Outcome(Decision.RETRY, "rate_limited", 429),
        Outcome(Decision.RETRY, "connection_error"),
        Outcome(Decision.DEAD_LETTER, "rejected_400", 400),
    ]
    assert all(is_unknown(o) for o in unknown) and not any(is_unknown(o) for o in known)
    facts = CallFacts.of(encode_call(identify({"a": 1, "b": 2}, TS)))  # type: ignore[arg-type]
    assert fresh_traits(facts, {"a": "2099-01-01T00:00:00Z"}) == ["b"]
    assert fresh_traits(facts, {"a": "2099-01-01T00:00:00Z", "b": "2099-01-01T00:00:00Z"}) == []
    event = CallFacts.of(encode_call(message("event", name="x", attributes={})))  # type: ignore[arg-type]
    assert fresh_traits(event, {}) is None


@DRIVERS
def test_concurrent_deliveries_share_the_ledgers_requests(driver: str) -> None:
    class Counting:
        reads: list[int] = []
        writes: list[int] = []

        def read(self, calls: list[CallFacts]) -> Any:
            Counting.reads.append(len(calls))
            return [(False, {})] * len(calls)

        def write(self, delivered: Any) -> None:
            Counting.writes.append(len(delivered))

    class Sent:
        def send(self, operation: bytes) -> Outcome:
            return Outcome(Decision.DELIVERED, "ok", 200)

    guard = GuardedSender(Sent(), Counting(), max_items=100, max_wait=0.3)  # type: ignore[arg-type]
    operations = [encode_call(message("event", name=f"e{i}", attributes={})) for i in range(8)]
    if driver == "threads":
        threads = [threading.Thread(target=guard.send, args=(op,)) for op in operations]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=5)
    else:

        async def all_at_once() -> list[Outcome]:
            return await asyncio.gather(*(guard.send_async(op) for op in operations))  # type: ignore[arg-type]

        assert {o.reason for o in asyncio.run(all_at_once())} == {"ok"}
    assert sum(Counting.reads) == sum(Counting.writes) == 8
    assert len(Counting.reads) <= 2 and len(Counting.writes) <= 2
