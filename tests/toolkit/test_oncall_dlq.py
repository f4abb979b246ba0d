"""Issue 12, on-call fixes: dead-letter subscriptions are read one by one (a missing one
neither hides the others nor lets "No findings." stand under a `not_checked` status), and a
replay keeps the producer's attributes. Against the real Pub/Sub emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.toolkit.doctor import run
from tests.toolkit.local_servers import http_server
from tests.toolkit.secret_manager_server import Store, secret_manager
from tests.toolkit.test_dlq import PROJECT, Bus, bus, doctor, rejected

pytestmark = pytest.mark.integration
__all__ = ["bus"]  # the fixture, shared with test_dlq


def _env(bus: Bus, env_dir: Path) -> dict[str, str]:
    import os

    return {
        "CIO_DOCTOR_ENV_DIR": str(env_dir),
        "PUBSUB_EMULATOR_HOST": os.environ["PUBSUB_EMULATOR_HOST"],
    }


def _without_identify_subscription(bus: Bus) -> None:
    bus.subscriber.delete_subscription(subscription=bus.sub("identify-dead-letter"))


def test_a_missing_subscription_does_not_hide_the_others(bus: Bus, env_dir: Path) -> None:
    _without_identify_subscription(bus)
    waiting = bus.dead_letter(
        "track", {"id": "01HZ0000000000000000000041"}, **rejected("429", "rejected_429", "true")
    )
    result = doctor(bus, env_dir, "list")
    assert result.code == 2, result.stdout + result.stderr
    summary, *unread = result.json["checks"]
    assert [m["message_id"] for m in summary["data"]["messages"]] == [waiting]
    rows = {r["subscription"]: r for r in summary["data"]["subscriptions"]}
    assert rows[f"cio-{bus.env}-track-dead-letter"]["read"] is True
    assert rows[f"cio-{bus.env}-identify-dead-letter"]["read"] is False
    assert "does not exist" in rows[f"cio-{bus.env}-identify-dead-letter"]["error"]
    assert [c["name"] for c in unread] == [f"subscription cio-{bus.env}-identify-dead-letter"]
    assert "does not exist" in unread[0]["error"]
    [finding] = result.json["findings"]
    assert finding["code"] == "dead_letters_retryable"
    # the next step names this environment and the reason, not placeholders
    assert (
        f"cio-doctor dlq replay --env {bus.env} --reason rejected_429 --dry-run"
        in (finding["next_step"])
    )

    inspected = doctor(bus, env_dir, "inspect", waiting)
    assert inspected.code == 1, inspected.stdout + inspected.stderr
    assert inspected.json["checks"][0]["data"]["message_id"] == waiting
    absent = doctor(bus, env_dir, "inspect", "424242")
    assert absent.code == 2
    error = absent.json["checks"][0]["error"]
    assert f"not found in the first 1000 messages of cio-{bus.env}-track-dead-letter" in error
    assert f"could not read cio-{bus.env}-identify-dead-letter" in error


def test_no_findings_is_never_printed_under_not_checked(bus: Bus, env_dir: Path) -> None:
    _without_identify_subscription(bus)
    result = run(["dlq", "list", "--env", bus.env, "--wait", "1.0"], env=_env(bus, env_dir))
    assert result.code == 2
    text = " ".join(result.stdout.split())
    assert "not_checked" in text
    assert "No findings." not in text
    assert "the result is incomplete, not healthy" in text


def test_the_p1_dead_letter_step_reads_each_subscription(
    bus: Bus, env_dir: Path, tmp_path: Path
) -> None:
    _without_identify_subscription(bus)
    waiting = bus.dead_letter(
        "track",
        {"id": "01HZ0000000000000000000042"},
        CloudPubSubDeadLetterSourceDeliveryCount="30",
        CloudPubSubDeadLetterSourceSubscription=f"cio-{bus.env}-track-push",
    )
    store = Store()
    for secret in ("site-id", "track-api-key", "app-api-key", "webhook-signing-key"):
        store.add(PROJECT, f"cio-{bus.env}-{secret}", "value")
    services = {
        f"/v2/projects/{PROJECT}/locations/europe-west1/services": lambda h: (200, {"services": []})
    }
    with secret_manager(store) as endpoint, http_server(services) as (cloud_run, _):
        result = run(
            [
                "incident", "P1", "--env", bus.env, "--out", str(tmp_path), "--wait", "1.0",
                "--observed-rps", "1", "--timeout", "2", "--json",
            ],
            env={
                **_env(bus, env_dir),
                "SECRETMANAGER_API_ENDPOINT": endpoint,
                "CLOUDRUN_API_ENDPOINT": cloud_run,
            },
        )  # fmt: skip
    assert result.code == 2
    checks = {c["name"]: c for c in result.json["checks"]}
    assert [m["message_id"] for m in checks["dead letters"]["data"]["messages"]] == [waiting]
    assert checks["dead letters"]["error"] is None
    missing = checks[f"dead letters: subscription cio-{bus.env}-identify-dead-letter"]
    assert "does not exist" in missing["error"]
    assert "dead_letters_retryable" in [f["code"] for f in result.json["findings"]]


def test_replay_keeps_the_producers_attributes(bus: Bus, env_dir: Path) -> None:
    """cio_schema, cio_event_id and cio_action are the producer helper's (the handlers accept
    them); the dead letter's own cio_* and Pub/Sub's attributes are dropped."""
    from cio_shared.producer import prepare

    message = prepare("track", {"id": "42"}, {"action": "event", "name": "signup"})
    producer = {
        "cio_schema": "cio.event.v1",
        "cio_event_id": message.event_id,
        "cio_action": "event",
        "origin": "shop",
    }
    handler_letter = bus.dead_letter(
        "track",
        json.loads(message.model_dump_json()),
        **producer,
        **rejected("503", "upstream_5xx", "true"),
    )
    pubsub_letter = bus.dead_letter(
        "track",
        json.loads(message.model_dump_json()),
        **producer,
        cio_reason="rejected_400",
        CloudPubSubDeadLetterSourceDeliveryCount="30",
        CloudPubSubDeadLetterSourceSubscription=f"cio-{bus.env}-track-push",
    )
    done = doctor(bus, env_dir, "replay", "--yes")
    assert done.code == 0, done.stdout + done.stderr
    replayed = {m.attributes["cio_replay_of"]: dict(m.attributes) for m in bus.drain("track-probe")}
    for original in (handler_letter, pubsub_letter):
        assert replayed[original] == {**producer, "cio_replay_of": original} | (
            {"schema": "track.v1"} if original == handler_letter else {}
        )


def test_the_kept_attributes_are_the_ones_the_handlers_accept() -> None:
    from cio_doctor.pubsub_dlq import PRODUCER_ATTRIBUTES, REPLAY_ATTRIBUTE
    from cio_shared.delivery.dead_letter import PRODUCER_ATTRIBUTES as ACCEPTED

    assert PRODUCER_ATTRIBUTES | {REPLAY_ATTRIBUTE} == ACCEPTED
