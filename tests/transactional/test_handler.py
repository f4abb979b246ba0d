"""The transactional handler's decisions against the Firestore emulator and the simulator.

Each test runs the handler in-process (its claims in the real emulator, its sends to the
simulator as a process) and counts the simulator's sends per idempotency key.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cio_shared.messages import new_event_id
from cio_shared.producer import prepare_transactional
from cio_shared.transactional import TransactionalHandler, build_handler

from tests.delivery.harness import TS, Simulator, envelope, simulator

pytestmark = pytest.mark.integration
APP_KEY = "sim-app-api-key"


class FakeFuture:
    def __init__(self, value: str) -> None:
        self.value = value

    def result(self, timeout: float | None = None) -> str:
        return self.value


class DeadLetters:
    def __init__(self) -> None:
        self.published: list[tuple[bytes, dict[str, str]]] = []

    def publish(self, topic: str, data: bytes, **attributes: str) -> FakeFuture:
        self.published.append((data, attributes))
        return FakeFuture(str(len(self.published)))


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with simulator() as running:
        yield running


def make_handler(sim: Simulator, **env: str) -> tuple[TransactionalHandler, DeadLetters]:
    handler = build_handler(
        "transactional",
        "transactional",
        env={
            "CIO_APP_API_KEY": APP_KEY,
            "CIO_APP_URL": sim.url,
            "CIO_DEAD_LETTER_TOPIC": "cio-local-transactional-dead-letter",
            "GOOGLE_CLOUD_PROJECT": "local-project",
            "CIO_FIRESTORE_DATABASE": "(default)",
            "CIO_TIMEOUT_SECONDS": "1",
            **env,
        },
    )
    # each test its own collection, so keys of other tests never collide
    handler.claims.collection = f"claims-{uuid.uuid4().hex[:8]}"
    dead = DeadLetters()
    handler._publisher_factory = lambda: dead
    return handler, dead


def message(key: str | None, **overrides: Any) -> bytes:
    fields: dict[str, Any] = {"to": "jane@example.com", "message_data": {"key": key or "-"}}
    fields.update(overrides)
    built = prepare_transactional(
        overrides.pop("action", "send_email"),
        {"id": "42"},
        "password_reset",
        idempotency_key=key,
        timestamp=TS,
        **{k: v for k, v in fields.items() if k != "action"},
    )
    return built.model_dump_json(exclude_none=True).encode()


def deliver(handler: TransactionalHandler, data: bytes) -> tuple[dict[str, Any], int]:
    body, status = handler.handle(envelope(data, message_id=new_event_id()), {})
    return json.loads(body), status


def sends(sim: Simulator) -> Counter[str]:
    answer = requests.get(f"{sim.url}/_admin/transactional", timeout=10).json()
    return Counter(s["body"].get("message_data", {}).get("key", "") for s in answer["sends"])


def configure(sim: Simulator, **settings: Any) -> None:
    requests.post(f"{sim.url}/_admin/transactional", json=settings, timeout=10).raise_for_status()


@pytest.fixture(autouse=True)
def clean(sim: Simulator, firestore_emulator_host: str) -> Iterator[None]:
    sim.reset()
    yield
    sim.reset()


def test_a_redelivery_of_a_sent_message_is_acked_without_a_second_send(sim: Simulator) -> None:
    handler, _ = make_handler(sim)
    data = message("reset-1")
    first, status = deliver(handler, data)
    assert (status, first["decision"], first["reason"]) == (200, "delivered", "ok")
    again, status = deliver(handler, data)
    assert (status, again["decision"], again["reason"]) == (200, "delivered", "already_sent")
    # the producer's own retry: a new message (new event id), same idempotency key
    retried, _ = deliver(handler, message("reset-1"))
    assert retried["reason"] == "already_sent"
    assert sends(sim) == Counter({"reset-1": 1})
    from cio_shared.messages import claim_document_id

    record = handler.claims.lookup(claim_document_id("key:reset-1"))
    assert record is not None and record["state"] == "sent"
    assert record["delivery_id"].startswith("sim-")
    assert record["expire_at"] is not None


def test_without_a_key_the_event_id_is_claimed(sim: Simulator) -> None:
    handler, _ = make_handler(sim)
    data = message(None, message_data={"key": "no-key"})
    assert deliver(handler, data)[0]["reason"] == "ok"
    assert deliver(handler, data)[0]["reason"] == "already_sent"
    assert sends(sim) == Counter({"no-key": 1})


@pytest.mark.parametrize(
    ("fault", "reason"), [("429", "rate_limited"), ("500", "server_error"), ("503", "server_error")]
)
def test_429_and_5xx_retry_and_the_retry_sends(sim: Simulator, fault: str, reason: str) -> None:
    handler, _ = make_handler(sim)
    sim.set_faults(rates={fault: 1.0}, path_prefix="/v1/send")
    answer, status = deliver(handler, message("k-" + fault))
    assert (status, answer["decision"], answer["reason"]) == (503, "retry", reason)
    sim.set_faults(rates={})
    assert deliver(handler, message("k-" + fault))[0]["reason"] == "ok"
    assert sends(sim) == Counter({"k-" + fault: 1})


def test_refusals_are_dead_lettered_with_the_reason(sim: Simulator) -> None:
    handler, dead = make_handler(sim)
    configure(sim, templates=["welcome"])  # password_reset no longer exists: 404
    answer, status = deliver(handler, message("k-404"))
    assert (status, answer["decision"], answer["reason"]) == (200, "dead_lettered", "rejected_404")
    (data, attributes), *_ = dead.published
    assert attributes["cio_reason"] == "rejected_404" and attributes["cio_status"] == "404"
    assert json.loads(data)["idempotency_key"] == "k-404"
    invalid, _ = deliver(handler, b'{"schema_version": 1, "action": "send_email"}')
    assert invalid["reason"] == "schema_invalid"
    assert sends(sim) == Counter()


def test_an_unknown_outcome_is_resent_once_under_policy_retry(sim: Simulator) -> None:
    handler, _ = make_handler(sim)
    configure(sim, slow_after_accept={"rate": 1.0, "seconds": 3})
    answer, status = deliver(handler, message("slow"))
    assert (status, answer["reason"]) == (503, "outcome_unknown")
    configure(sim)
    assert deliver(handler, message("slow"))[0]["reason"] == "ok"
    assert deliver(handler, message("slow"))[0]["reason"] == "already_sent"
    assert sends(sim) == Counter({"slow": 2})  # the one duplicate policy `retry` accepts


def test_an_unknown_outcome_is_held_under_policy_hold(sim: Simulator) -> None:
    handler, dead = make_handler(sim, CIO_TRANSACTIONAL_UNKNOWN_OUTCOME="hold")
    configure(sim, slow_after_accept={"rate": 1.0, "seconds": 3})
    answer, status = deliver(handler, message("held"))
    assert (status, answer["decision"], answer["reason"]) == (
        200,
        "dead_lettered",
        "outcome_unknown",
    )
    configure(sim)
    again, _ = deliver(handler, message("held"))
    assert again["reason"] == "outcome_unknown"
    assert sends(sim) == Counter({"held": 1})
    assert [a["cio_reason"] for _, a in dead.published] == ["outcome_unknown"] * 2


def test_a_firestore_outage_means_retry_never_send(sim: Simulator) -> None:
    handler, _ = make_handler(sim)

    class Down:
        def collection(self, name: str) -> Any:
            raise ConnectionError("firestore unavailable")

    handler.claims._client = Down()
    answer, status = deliver(handler, message("outage"))
    assert (status, answer["decision"], answer["reason"]) == (503, "retry", "claims_unavailable")
    assert sends(sim) == Counter()
