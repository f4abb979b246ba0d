"""`cio-doctor transactional` as a process against Google's Firestore emulator.

Claims are written the way the handler writes them (`cio_shared.transactional.ClaimStore`),
then looked up by idempotency key, event id and delivery_id; exit codes 0 / 1 / 2.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cio_shared.messages import claim_document_id
from cio_shared.transactional import ClaimStore, firestore_client

from tests.support.firestore import firestore_available, firestore_emulator
from tests.toolkit.doctor import run

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not firestore_available(), reason="Firestore emulator not installed"),
]
PROJECT = "doctor-project"
DATABASE = "(default)"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = Path(tmp_path_factory.mktemp("firestore")) / "emulator.log"
    with firestore_emulator(log_path=log) as host:
        yield host


@pytest.fixture
def store(emulator: str, monkeypatch: pytest.MonkeyPatch) -> ClaimStore:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator)
    return ClaimStore(
        lambda: firestore_client(PROJECT, DATABASE),
        ttl_seconds=3600,
        lease_seconds=30,
        resend_unknown=True,
    )


def doctor(emulator: str, *args: str) -> object:
    return run(
        ["transactional", *args, "--project", PROJECT, "--database", DATABASE, "--json"],
        env={"FIRESTORE_EMULATOR_HOST": emulator},
    )


def test_a_sent_message_is_found_by_key_and_by_delivery_id(
    emulator: str, store: ClaimStore
) -> None:
    key = f"reset-{uuid.uuid4().hex}"
    doc = claim_document_id(f"key:{key}")
    store.claim(doc, {"event_id": "01JD0000000000000000000000", "action": "send_email"})
    delivery = f"dlv-{uuid.uuid4().hex[:12]}"
    store.record(doc, "sent", delivery_id=delivery, status=200)

    by_key = doctor(emulator, key)
    assert by_key.code == 0, by_key.stdout + by_key.stderr  # type: ignore[attr-defined]
    (check,) = by_key.json["checks"]  # type: ignore[attr-defined]
    assert check["data"]["found_by"] == "idempotency_key"
    assert check["data"]["claim"]["delivery_id"] == delivery
    assert check["data"]["claim"]["state"] == "sent"

    by_delivery = doctor(emulator, delivery)
    assert by_delivery.code == 0  # type: ignore[attr-defined]
    assert by_delivery.json["checks"][0]["data"]["found_by"] == "delivery_id"  # type: ignore[attr-defined]


def test_an_unknown_outcome_is_a_finding(emulator: str, store: ClaimStore) -> None:
    key = f"reset-{uuid.uuid4().hex}"
    doc = claim_document_id(f"key:{key}")
    store.claim(doc, {"action": "send_email"})
    store.record(doc, "unknown", unknown_reason="read_timeout")
    result = doctor(emulator, key)
    assert result.code == 1, result.stdout + result.stderr  # type: ignore[attr-defined]
    assert result.finding_codes() == ["outcome_unknown"]  # type: ignore[attr-defined]


def test_a_missing_claim_is_a_finding(emulator: str) -> None:
    result = doctor(emulator, f"never-{uuid.uuid4().hex}")
    assert result.code == 1  # type: ignore[attr-defined]
    assert result.finding_codes() == ["claim_not_found"]  # type: ignore[attr-defined]


def test_an_unreachable_firestore_cannot_be_checked() -> None:
    result = run(
        ["transactional", "k", "--project", PROJECT, "--database", DATABASE, "--json"],
        env={"FIRESTORE_EMULATOR_HOST": "127.0.0.1:9"},
        timeout=120,
    )
    assert result.code == 2, result.stdout + result.stderr
    assert result.json["status"] == "not_checked"
