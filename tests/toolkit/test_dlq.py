"""`cio-doctor dlq` against the real Pub/Sub emulator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.toolkit.doctor import run

pytestmark = pytest.mark.integration
PROJECT = "doctor-test"


class Bus:
    """The topics and subscriptions of one test environment on the emulator."""

    def __init__(self, env: str, project: str = PROJECT) -> None:
        from google.cloud import pubsub_v1

        self.env = env
        self.project = project
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        for topic in ("identify", "track"):
            source = self.publisher.create_topic(name=self.topic(topic)).name
            dead = self.publisher.create_topic(name=self.topic(f"{topic}-dead-letter")).name
            self.subscriber.create_subscription(name=self.sub(f"{topic}-dead-letter"), topic=dead)
            self.subscriber.create_subscription(name=self.sub(f"{topic}-probe"), topic=source)

    def topic(self, purpose: str) -> str:
        return f"projects/{self.project}/topics/cio-{self.env}-{purpose}"

    def sub(self, purpose: str) -> str:
        return f"projects/{self.project}/subscriptions/cio-{self.env}-{purpose}"

    def dead_letter(self, topic: str, payload: dict[str, Any], **attributes: str) -> str:
        data = json.dumps(payload).encode()
        return str(
            self.publisher.publish(self.topic(f"{topic}-dead-letter"), data, **attributes).result()
        )

    def drain(self, purpose: str) -> list[Any]:
        from google.api_core.exceptions import DeadlineExceeded

        try:
            response = self.subscriber.pull(
                request={"subscription": self.sub(purpose), "max_messages": 100},
                timeout=3,
                retry=None,
            )
        except DeadlineExceeded:
            return []
        if response.received_messages:
            self.subscriber.acknowledge(
                request={
                    "subscription": self.sub(purpose),
                    "ack_ids": [r.ack_id for r in response.received_messages],
                }
            )
        return [r.message for r in response.received_messages]


def rejected(status: str, reason: str, retryable: str) -> dict[str, str]:
    return {
        "cio_reason": reason,
        "cio_detail": "Customer.io answered " + status,
        "cio_status": status,
        "cio_attempt": "1",
        "cio_retryable": retryable,
        "cio_handler": "track",
        "schema": "track.v1",
    }


@pytest.fixture
def bus(pubsub_emulator_host: str, make_env: Callable[..., str], env_dir: Path) -> Bus:
    return Bus(make_env(project_id=PROJECT))


def doctor(bus: Bus, env_dir: Path, *args: str) -> Any:
    return run(
        ["dlq", *args, "--env", bus.env, "--json", "--wait", "1.0"],
        env={"CIO_DOCTOR_ENV_DIR": str(env_dir), "PUBSUB_EMULATOR_HOST": _host()},
    )


def _host() -> str:
    import os

    return os.environ["PUBSUB_EMULATOR_HOST"]


def _seed(bus: Bus) -> dict[str, str]:
    return {
        "429": bus.dead_letter(
            "track",
            {"id": "01HZ0000000000000000000001", "name": "a"},
            **rejected("429", "rejected_429", "true"),
        ),
        "400": bus.dead_letter(
            "track",
            {"id": "01HZ0000000000000000000002", "name": "b", "email": "jane@example.com"},
            **rejected("400", "rejected_400", "false"),
        ),
        "pubsub": bus.dead_letter(
            "identify",
            {"id": "01HZ0000000000000000000003"},
            CloudPubSubDeadLetterSourceDeliveryCount="30",
            CloudPubSubDeadLetterSourceSubscription="cio-x-identify-push",
        ),
    }


def test_empty_dead_letter_queues_are_healthy(bus: Bus, env_dir: Path) -> None:
    result = doctor(bus, env_dir, "list")
    assert result.code == 0, result.stderr
    assert result.json["checks"][0]["data"]["messages"] == []


def test_list_shows_reason_and_attempts_and_acks_nothing(bus: Bus, env_dir: Path) -> None:
    ids = _seed(bus)
    first = doctor(bus, env_dir, "list")
    assert first.code == 1, first.stderr
    rows = {m["message_id"]: m for m in first.json["checks"][0]["data"]["messages"]}
    assert rows[ids["429"]]["reason"] == "rejected_429"
    assert rows[ids["429"]]["retryable"] is True
    assert rows[ids["400"]]["retryable"] is False
    assert rows[ids["pubsub"]]["reason"] == "max_delivery_attempts"
    assert rows[ids["pubsub"]]["attempts"] == "30"
    assert set(first.finding_codes()) == {"dead_letters_retryable", "dead_letters_permanent"}
    again = doctor(bus, env_dir, "list")
    assert {m["message_id"] for m in again.json["checks"][0]["data"]["messages"]} == set(
        ids.values()
    )


def test_inspect_shows_one_dead_letter(bus: Bus, env_dir: Path) -> None:
    ids = _seed(bus)
    result = doctor(bus, env_dir, "inspect", ids["400"])
    assert result.code == 1, result.stderr
    data = result.json["checks"][0]["data"]
    assert data["attributes"]["cio_status"] == "400"
    assert data["payload"] == {
        "id": "01HZ0000000000000000000002",
        "name": "b",
        "email": "j***@example.com",
    }
    missing = doctor(bus, env_dir, "inspect", "999999")
    assert missing.code == 2
    assert "not found" in missing.json["checks"][0]["error"]


def test_replay_dry_run_then_replay_by_reason(bus: Bus, env_dir: Path) -> None:
    ids = _seed(bus)
    plan = doctor(bus, env_dir, "replay", "--reason", "rejected_429", "--dry-run")
    assert plan.code == 0, plan.stderr
    rows = plan.json["checks"][0]["data"]["would_replay"]
    assert [(r["message_id"], r["to_topic"]) for r in rows] == [(ids["429"], bus.topic("track"))]
    assert bus.drain("track-probe") == []

    refused = doctor(bus, env_dir, "replay", "--reason", "rejected_429")
    assert refused.code == 2
    assert "--yes" in refused.json["error"]

    done = doctor(bus, env_dir, "replay", "--reason", "rejected_429", "--yes")
    assert done.code == 0, done.stdout + done.stderr
    assert done.json["checks"][0]["data"]["published"] == 1
    [replayed] = bus.drain("track-probe")
    assert json.loads(replayed.data)["id"] == "01HZ0000000000000000000001"
    assert dict(replayed.attributes) == {"schema": "track.v1", "cio_replay_of": ids["429"]}
    left = doctor(bus, env_dir, "list").json["checks"][0]["data"]["messages"]
    assert {m["message_id"] for m in left} == {ids["400"], ids["pubsub"]}


def test_pubsub_dead_letters_go_back_to_the_topic_named_by_the_subscription(
    bus: Bus, env_dir: Path
) -> None:
    ids = _seed(bus)
    done = doctor(bus, env_dir, "replay", "--reason", "max_delivery_attempts", "--yes")
    assert done.code == 0, done.stderr
    [replayed] = bus.drain("identify-probe")
    assert replayed.attributes["cio_replay_of"] == ids["pubsub"]


def test_failed_republish_keeps_the_dead_letter(bus: Bus, env_dir: Path) -> None:
    attrs = {**rejected("503", "upstream_5xx", "true"), "cio_source_topic": bus.topic("track")}
    message_id = bus.dead_letter("track", {"id": "01HZ0000000000000000000009"}, **attrs)
    bus.publisher.delete_topic(topic=bus.topic("track"))  # the publish will fail
    result = doctor(bus, env_dir, "replay", "--yes")
    assert result.code == 1
    assert result.finding_codes() == ["replay_publish_failed"]
    left = doctor(bus, env_dir, "list").json["checks"][0]["data"]["messages"]
    assert [m["message_id"] for m in left] == [message_id]


def test_a_forged_source_topic_is_never_a_replay_target(bus: Bus, env_dir: Path) -> None:
    """Issue 18 item 3: a dead letter whose cio_source_topic names another project's topic,
    or another of the environment's topics, is refused and shown with full paths."""
    from google.cloud import pubsub_v1

    stolen = "projects/someone-else/topics/stolen"
    pubsub_v1.PublisherClient().create_topic(name=stolen)
    pubsub_v1.SubscriberClient().create_subscription(
        name="projects/someone-else/subscriptions/stolen-probe", topic=stolen
    )
    forged = {
        "other-project": bus.dead_letter(
            "track",
            {"id": "01HZ0000000000000000000021"},
            **{**rejected("503", "upstream_5xx", "true"), "cio_source_topic": stolen},
        ),
        "other-topic": bus.dead_letter(
            "track",
            {"id": "01HZ0000000000000000000022"},
            **{
                **rejected("503", "upstream_5xx", "true"),
                "cio_source_topic": f"cio-{bus.env}-webhook-events",
            },
        ),
    }
    plan = doctor(bus, env_dir, "replay", "--dry-run")
    rows = {r["message_id"]: r["to_topic"] for r in plan.json["checks"][0]["data"]["would_replay"]}
    assert stolen in rows[forged["other-project"]] and rows[forged["other-project"]].startswith(
        f"(none: cio_source_topic projects/someone-else/topics/stolen is not {bus.topic('track')}"
    )
    assert f"projects/{PROJECT}/topics/cio-{bus.env}-webhook-events" in rows[forged["other-topic"]]
    assert plan.finding_codes() == ["replay_refused"]
    done = doctor(bus, env_dir, "replay", "--yes")  # nothing planned: the plan is the answer
    assert "published" not in done.json["checks"][0]["data"]
    probe = pubsub_v1.SubscriberClient().pull(
        request={
            "subscription": "projects/someone-else/subscriptions/stolen-probe",
            "max_messages": 10,
        },
        timeout=3,
    )
    assert not probe.received_messages
    assert bus.drain("track-probe") == []


def test_a_subscription_outside_the_environment_is_refused(bus: Bus, env_dir: Path) -> None:
    outside = "projects/someone-else/subscriptions/cio-x-track-dead-letter"
    from cio_doctor import dlq
    from cio_doctor.config import EnvFile
    from cio_doctor.findings import CannotCheck
    from cio_doctor.pubsub_dlq import DeadLetter

    target = dlq.target_for(EnvFile(name=bus.env, project_id=PROJECT))
    message = DeadLetter(outside, "1", "a", __import__("datetime").datetime.now(), b"{}", {})
    with pytest.raises(CannotCheck, match="not in this environment's project doctor-test"):
        target.source_topic(message)


def test_pubsub_forwarded_dead_letters_ignore_producer_cio_attributes(
    bus: Bus, env_dir: Path
) -> None:
    """End to end on the emulator: a push subscription whose endpoint never answers, so Pub/Sub
    dead-letters the message itself. It keeps the producer's attributes (a forged
    cio_source_topic, cio_reason, cio_retryable) and adds its own; the toolkit reads Pub/Sub's,
    and the replay goes to the topic the dead-letter subscription belongs to."""
    from google.cloud import pubsub_v1

    from tests.support.processes import free_port

    stolen = "projects/someone-else/topics/stolen-2"
    pubsub_v1.PublisherClient().create_topic(name=stolen)
    pubsub_v1.SubscriberClient().create_subscription(
        name="projects/someone-else/subscriptions/stolen-2-probe", topic=stolen
    )
    bus.subscriber.create_subscription(
        request={
            "name": bus.sub("track-push"),
            "topic": bus.topic("track"),
            "push_config": {"push_endpoint": f"http://127.0.0.1:{free_port()}/"},
            "ack_deadline_seconds": 10,
            "dead_letter_policy": {
                "dead_letter_topic": bus.topic("track-dead-letter"),
                "max_delivery_attempts": 5,
            },
        }
    )
    forged = {
        "cio_source_topic": stolen,
        "cio_reason": "rejected_400",
        "cio_retryable": "false",
        "origin": "shop",
    }
    bus.publisher.publish(
        bus.topic("track"), b'{"id": "01HZ0000000000000000000031"}', **forged
    ).result()
    bus.drain("track-probe")
    deadline = __import__("time").monotonic() + 60
    rows: list[dict[str, Any]] = []
    while not rows and __import__("time").monotonic() < deadline:
        rows = doctor(bus, env_dir, "list").json["checks"][0]["data"]["messages"]
    [row] = rows
    inspected = doctor(bus, env_dir, "inspect", row["message_id"]).json["checks"][0]["data"]
    attributes = inspected["attributes"]
    # what the emulator does, as Google documents: the original attributes stay, its own added
    assert attributes["cio_source_topic"] == stolen and attributes["origin"] == "shop"
    assert "CloudPubSubDeadLetterSourceDeliveryCount" in attributes
    assert (row["reason"], row["retryable"]) == ("max_delivery_attempts", True)
    bus.subscriber.delete_subscription(subscription=bus.sub("track-push"))
    done = doctor(bus, env_dir, "replay", "--yes")
    assert done.code == 0, done.stdout + done.stderr
    [outcome] = done.json["checks"][0]["data"]["replayed"]
    assert outcome["topic"] == bus.topic("track")
    [replayed] = bus.drain("track-probe")
    assert dict(replayed.attributes) == {"origin": "shop", "cio_replay_of": row["message_id"]}
    probe = pubsub_v1.SubscriberClient().pull(
        request={
            "subscription": "projects/someone-else/subscriptions/stolen-2-probe",
            "max_messages": 10,
        },
        timeout=3,
    )
    assert not probe.received_messages


def test_unknown_subscription_cannot_be_checked(bus: Bus, env_dir: Path) -> None:
    result = doctor(bus, env_dir, "list", "--subscription", "nothing-here")
    assert result.code == 2
    # reported as its own check (issue 12: one missing subscription must not hide the others)
    assert "does not exist" in result.json["checks"][-1]["error"]


def test_replay_publishes_only_what_the_plan_showed(bus: Bus, env_dir: Path) -> None:
    """A dead letter that arrives while the engineer reads the plan is left alone."""
    from cio_doctor import dlq
    from cio_doctor.config import EnvFile

    env = EnvFile(name=bus.env, project_id=PROJECT)
    target = dlq.target_for(env, wait=1.0)
    subs = dlq.subscriptions(target, env, [])
    first = bus.dead_letter(
        "track", {"id": "01HZ0000000000000000000011"}, **rejected("429", "rate_limited", "true")
    )
    _, planned = dlq.plan_replay(target, subs, [], 100)
    assert planned == {first}
    late = bus.dead_letter(
        "track", {"id": "01HZ0000000000000000000012"}, **rejected("429", "rate_limited", "true")
    )
    report = dlq.replay_report(target, subs, planned, 100)
    assert [r["message_id"] for r in report.checks[0].data["replayed"]] == [first]
    left = doctor(bus, env_dir, "list").json["checks"][0]["data"]["messages"]
    assert [m["message_id"] for m in left] == [late]


def test_replayed_person_operations_keep_their_ordering_key(bus: Bus, env_dir: Path) -> None:
    """A replayed identify is ordered against the person's later messages again; an event
    or an invalid payload goes unordered."""
    from cio_shared.producer import ordering_key, prepare

    message = prepare("identify", {"email": "Jane@Example.com"}, {"action": "identify"})
    bus.dead_letter(
        "identify", json.loads(message.model_dump_json()), **rejected("503", "upstream_5xx", "true")
    )
    bus.dead_letter("identify", {"not": "a message"}, **rejected("503", "upstream_5xx", "true"))
    done = doctor(bus, env_dir, "replay", "--yes")
    assert done.code == 0, done.stdout + done.stderr
    replayed = bus.drain("identify-probe")
    keys = sorted(m.ordering_key for m in replayed)
    assert keys == sorted(["", ordering_key(message.person)])
    assert all("jane" not in m.ordering_key.lower() for m in replayed)


def test_held_unknown_outcomes_are_their_own_finding_and_replay_without_warning(
    bus: Bus, env_dir: Path
) -> None:
    held = bus.dead_letter(
        "track",
        {"id": "01HZ0000000000000000000009", "name": "h"},
        **rejected("500", "outcome_unknown", "false"),
    )
    listed = doctor(bus, env_dir, "list")
    assert listed.finding_codes() == ["dead_letters_outcome_unknown"]
    assert "--reason outcome_unknown" in listed.json["findings"][0]["next_step"]
    plan = doctor(bus, env_dir, "replay", "--reason", "outcome_unknown", "--dry-run")
    assert plan.code == 0, plan.stdout + plan.stderr  # no replaying_permanent_failures
    rows = plan.json["checks"][0]["data"]["would_replay"]
    assert [r["message_id"] for r in rows] == [held]
