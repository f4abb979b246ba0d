"""Issue 14, `cio-doctor erase` as a process against the Customer.io simulator, the Pub/Sub
emulator (the identify handler behind an ordered push subscription) and bqemulator.

Person A (`erase-me`, email a.erase@example.com) has a profile, an update and events in
flight, rows in `webhook_events` and the ledger, dead letters and a quarantined webhook event,
each beside person B's. After the erasure nothing of A's is reachable, late messages do not
bring A back, and B's data is untouched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cio_doctor import pubsub_dlq
from cio_shared.contract import person_hash
from cio_shared.producer import publish_identify, publish_track
from google.cloud import bigquery

from tests.analytics.conftest import bigquery_endpoint
from tests.delivery import harness as h
from tests.support.bigquery_subscription import SCHEMA
from tests.toolkit.doctor import run
from tests.toolkit.simulator_fixture import SITE_ID, TRACK_KEY, Sim

pytestmark = pytest.mark.integration
__all__ = ["bigquery_endpoint"]  # the session fixture, shared with tests/analytics
PROJECT = "local-project"
A_ID, A_EMAIL = "erase-me", "a.erase@example.com"
B_ID = "keep-me"
LEDGER_SCHEMA = [
    bigquery.SchemaField("timestamp", "TIMESTAMP"),
    bigquery.SchemaField(
        "jsonPayload",
        "RECORD",
        fields=[
            bigquery.SchemaField(n, "STRING")
            for n in ("person_hash", "event_id", "action", "decision")
        ],
    ),
]


class World:
    """One environment's topics, subscriptions, tables and identify handler."""

    def __init__(self, env: str, sim: Sim) -> None:
        from google.cloud import pubsub_v1

        self.env, self.sim = env, sim
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        for purpose in ("identify", "track", "webhook-events"):
            h.create_topics(h.Names(env, purpose))
        self.publisher.create_topic(name=self.topic("webhook-quarantine"))
        self.pull_sub("webhook-quarantine", "webhook-quarantine")
        # the track push subscription while its handler is down: messages wait in flight
        self.pull_sub("track-push", "track")
        self.bq = bigquery.Client(
            project=PROJECT,
            credentials=_anonymous(),
            client_options={"api_endpoint": os.environ["BIGQUERY_API_ENDPOINT"]},
        )
        self.webhook_table = self._table("analytics", "webhook_events", _webhook_schema())
        self.ledger_table = self._table("ledger", "run_googleapis_com_stdout", LEDGER_SCHEMA)

    def topic(self, purpose: str) -> str:
        return f"projects/{PROJECT}/topics/cio-{self.env}-{purpose}"

    def sub(self, purpose: str) -> str:
        return f"projects/{PROJECT}/subscriptions/cio-{self.env}-{purpose}"

    def pull_sub(self, purpose: str, topic: str) -> None:
        self.subscriber.create_subscription(
            request={
                "name": self.sub(purpose),
                "topic": self.topic(topic),
                "ack_deadline_seconds": 60,
            }
        )

    def push_identify_to(self, url: str) -> None:
        h.create_push_subscription(h.Names(self.env, "identify"), url, max_attempts=5, ordered=True)

    def _table(self, purpose: str, name: str, schema: list[Any]) -> str:
        dataset = f"{PROJECT}.cio_{self.env}_{purpose}"
        self.bq.create_dataset(dataset)
        table = bigquery.Table(f"{dataset}.{name}", schema=schema)
        table.time_partitioning = bigquery.TimePartitioning(field="timestamp")
        self.bq.create_table(table)
        return f"{dataset}.{name}"

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        assert self.bq.insert_rows_json(table, rows, retry=None, timeout=30) == []

    def rows(self, table: str, column: str) -> list[Any]:
        sql = f"SELECT {column} AS v FROM `{table}` ORDER BY 1"
        return [r["v"] for r in self.bq.query(sql).result(timeout=30)]

    def dead_letter(self, purpose: str, payload: dict[str, Any], **attributes: str) -> None:
        data = json.dumps(payload).encode()
        self.publisher.publish(self.topic(purpose), data, **attributes).result(timeout=10)

    def drain(self, purpose: str) -> list[Any]:
        """Take every message the subscription holds (acknowledged)."""
        held = pubsub_dlq.pull(self.subscriber, self.sub(purpose), 100, wait=0.5)
        for message in held.messages:
            held.ack(message)
        return held.messages

    def people(self) -> dict[str, dict[str, Any]]:
        """People by id, else by lowercased email."""
        found = self.state()["people"]
        return {p["identifiers"].get("id") or p["identifiers"]["email"].lower(): p for p in found}

    def state(self) -> dict[str, Any]:
        return requests.get(f"{self.sim.url}/_admin/state", timeout=5).json()  # type: ignore[no-any-return]


def _anonymous() -> Any:
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()  # type: ignore[no-untyped-call]


def _webhook_schema() -> list[Any]:
    return [bigquery.SchemaField.from_api_repr(field) for field in SCHEMA]


def _webhook_row(
    event_id: str, data: dict[str, Any], customer_id: str | None = None
) -> dict[str, Any]:
    row = {
        "event_id": event_id,
        "object_type": "email",
        "metric": "delivered",
        "timestamp": "2026-11-29T10:00:00Z",
        "data": json.dumps(data),
    }
    return row | ({"customer_id": customer_id} if customer_id else {})


def _ledger_row(hashed: str, event_id: str) -> dict[str, Any]:
    return {
        "timestamp": "2026-11-29T10:00:00Z",
        "jsonPayload": {
            "person_hash": hashed,
            "event_id": event_id,
            "action": "event",
            "decision": "delivered",
        },
    }


@pytest.fixture
def world(
    pubsub_emulator_host: str,
    bigquery_endpoint: str,
    sim: Sim,
    make_env: Callable[..., str],
    tmp_path: Path,
) -> Iterator[World]:
    env = make_env(project_id=PROJECT, bigquery={"location": "EU"})
    world = World(env, sim)
    names = h.Names(env, "identify")
    variables = h.handler_env(
        names, sim.url, CIO_SITE_ID=SITE_ID, CIO_TRACK_API_KEY=TRACK_KEY, CIO_BATCH_ENABLED="false"
    )
    with h.handler("identify", variables, tmp_path / "identify.log") as url:
        world.push_identify_to(url)
        world.handler_env = variables  # type: ignore[attr-defined]
        yield world


def _doctor(world: World, env_dir: Path, *args: str) -> Any:
    env = {
        **world.sim.env(),
        "CIO_DOCTOR_ENV_DIR": str(env_dir),
        "PUBSUB_EMULATOR_HOST": os.environ["PUBSUB_EMULATOR_HOST"],
        "BIGQUERY_API_ENDPOINT": os.environ["BIGQUERY_API_ENDPOINT"],
        "GOOGLE_CLOUD_PROJECT": PROJECT,
    }
    argv = ["erase", "--env", world.env, "--wait", "0.5", "--cio-wait", "20", *args]
    argv += [] if "--text" in args else ["--json"]
    argv = [a for a in argv if a != "--text"]
    return run(argv, env=env, timeout=120)


def _seed(world: World) -> None:
    identify = world.topic("identify")
    publish_identify({"id": A_ID}, {"email": A_EMAIL, "plan": "pro"}, topic=identify)
    publish_identify({"id": B_ID}, {"email": "b.keep@example.com"}, topic=identify)
    assert h.wait_until(lambda: {A_ID, B_ID} <= set(world.people()), timeout=20)
    # in flight: an update ordered before the erasure, and events held on the track topic
    publish_identify({"id": A_ID}, {"plan": "team"}, topic=identify)
    for name in ("viewed", "purchased"):
        publish_track({"id": A_ID}, name, {"sku": "x"}, topic=world.topic("track"))
    a_id, a_email, b_id = (
        person_hash("id", A_ID),
        person_hash("email", A_EMAIL),
        person_hash("id", B_ID),
    )
    world.insert(
        world.webhook_table,
        [
            _webhook_row("wa1", {"identifiers": {"id": A_ID}}, customer_id=A_ID),
            _webhook_row("wa2", {"identifiers": {"email": A_EMAIL}, "recipient": A_EMAIL}),
            _webhook_row("wb1", {"identifiers": {"id": B_ID}}, customer_id=B_ID),
        ],
    )
    world.insert(
        world.ledger_table,
        [_ledger_row(a_id, "la1"), _ledger_row(a_email, "la2"), _ledger_row(b_id, "lb1")],
    )
    event = {
        "schema_version": 1,
        "action": "event",
        "timestamp": h.TS,
        "name": "x",
        "attributes": {},
    }
    world.dead_letter(
        "track-dead-letter",
        {**event, "event_id": "01HZ0000000000000000000001", "person": {"id": A_ID}},
        cio_reason="rejected_400",
    )
    world.dead_letter(
        "track-dead-letter",
        {**event, "event_id": "01HZ0000000000000000000002", "person": {"id": B_ID}},
        cio_reason="rejected_400",
    )
    world.dead_letter(
        "identify-dead-letter",
        {
            **event,
            "action": "identify",
            "event_id": "01HZ0000000000000000000003",
            "person": {"email": A_EMAIL.upper()},
        },
        cio_reason="rejected_400",
    )
    world.dead_letter(
        "webhook-quarantine", {"event_id": "q-a", "metric": "opened", "data": {"customer_id": A_ID}}
    )
    world.dead_letter(
        "webhook-quarantine", {"event_id": "q-b", "metric": "opened", "data": {"customer_id": B_ID}}
    )


def test_erasure_reaches_every_copy_and_spares_the_other_person(
    world: World, env_dir: Path, tmp_path: Path
) -> None:
    _seed(world)

    plan = _doctor(world, env_dir, "--person", A_ID)
    assert plan.code == 1, plan.stdout + plan.stderr
    check, _windows = plan.json["checks"]
    assert check["data"]["dry_run"] is True
    assert {t["table"].rsplit(".", 1)[-1]: t["found"] for t in check["data"]["bigquery"]} == {
        "webhook_events": 2,
        "run_googleapis_com_stdout": 2,
    }
    found = {s["subscription"]: s["found"] for s in check["data"]["subscriptions"]}
    assert found[f"cio-{world.env}-track-dead-letter"] == 1
    assert found[f"cio-{world.env}-identify-dead-letter"] == 1
    assert found[f"cio-{world.env}-webhook-quarantine"] == 1
    assert A_ID in world.people(), "a dry run changes nothing"
    assert len(world.rows(world.webhook_table, "event_id")) == 3

    first = _doctor(world, env_dir, "--person", A_ID, "--yes")
    assert first.code == 1, first.stdout + first.stderr  # settle time still running
    check, _windows = first.json["checks"]
    assert check["data"]["status"] == "pending"
    assert [p.split(":")[0] for p in check["data"]["pending"]] == ["settle"]
    assert check["data"]["customerio"]["verified_at"]
    assert A_ID not in world.people() and B_ID in world.people()

    # late messages: the held track events and a new identify reach Customer.io after the
    # erasure; the suppression keeps A out
    late = world.drain("track-push")
    assert len(late) == 2
    track_env = {**world.handler_env, "CIO_DEAD_LETTER_TOPIC": world.topic("track-dead-letter")}  # type: ignore[attr-defined]
    with h.handler("track", track_env, tmp_path / "track.log") as url:
        for message in late:
            answer = h.push(url, h.envelope(message.data, message.message_id))
            assert answer.json()["decision"] == "delivered"
    publish_identify({"id": A_ID}, {"plan": "again"}, topic=world.topic("identify"))

    def ignored() -> list[dict[str, Any]]:
        return [i for i in world.state()["ignored"] if i["reason"] == "identifier is suppressed"]

    assert h.wait_until(lambda: len(ignored()) >= 3, timeout=20), world.state()["ignored"]
    assert A_ID not in world.people()

    done = _doctor(world, env_dir, "--person", A_ID, "--yes", "--settle-minutes", "0")
    assert done.code == 0, done.stdout + done.stderr
    check, _windows = done.json["checks"]
    assert check["data"]["status"] == "complete" and check["data"]["pending"] == []
    assert check["data"]["customerio"]["published"] == 1, "a rerun continues; no second suppress"
    assert check["data"]["removed_so_far"][f"cio-{world.env}-track-dead-letter"] == 1
    assert check["data"]["removed_so_far"]["bigquery.webhook_events"] == 2
    assert check["data"]["removed_so_far"]["bigquery.ledger"] == 2
    [windows] = [
        c["data"]["windows"] for c in done.json["checks"] if c["name"] == "residual windows"
    ]
    assert [w["fail_safe_days"] for w in windows if "fail_safe_days" in w] == [7, 7]
    assert any("Cloud Logging" in w["copy"] for w in windows)
    print(json.dumps(done.json, indent=2))

    # what remains is B's only
    assert world.rows(world.webhook_table, "event_id") == ["wb1"]
    assert world.rows(world.ledger_table, "jsonPayload.event_id") == ["lb1"]
    assert [json.loads(m.data)["person"] for m in world.drain("track-dead-letter")] == [
        {"id": B_ID}
    ]
    assert world.drain("identify-dead-letter") == []
    assert [json.loads(m.data)["event_id"] for m in world.drain("webhook-quarantine")] == ["q-b"]
    assert world.people()[B_ID]["attributes"]["email"] == "b.keep@example.com"

    audit = [
        dict(r)
        for r in world.bq.query(
            f"SELECT * FROM `{PROJECT}.cio_{world.env}_erasure.erasure_audit` ORDER BY run_at"
        ).result(timeout=30)
    ]
    assert [r["status"] for r in audit] == ["pending", "complete"]
    assert audit[0]["pending"] == ["settle"]
    text = json.dumps(audit, default=str).lower()
    assert (
        A_ID not in text
        and "example.com" not in text
        and "erase" not in text.replace("erasure", "")
    )


def test_delete_mode_unsuppresses_the_identifier_once_the_request_is_complete(
    world: World, env_dir: Path
) -> None:
    """`--mode delete`: suppressed while anything of the person may still arrive, then the
    identifier is released (Customer.io: unsuppressing does not recreate the profile)."""
    email = "C.Delete@example.com"
    publish_identify({"email": email}, {"plan": "pro"}, topic=world.topic("identify"))
    assert h.wait_until(lambda: email.lower() in world.people(), timeout=20), world.state()

    shown = _doctor(world, env_dir, "--person", email, "--mode", "delete", "--text")
    assert shown.code == 1, shown.stdout + shown.stderr
    assert "C***@example.com" in shown.stdout and "C.Delete" not in shown.stdout

    done = _doctor(
        world, env_dir, "--person", email, "--mode", "delete", "--yes", "--settle-minutes", "0"
    )
    assert done.code == 0, done.stdout + done.stderr
    check, _windows = done.json["checks"]
    assert check["data"]["status"] == "complete" and check["data"]["customerio"]["unsuppressed_at"]
    assert email.lower() not in world.people()

    def suppressed() -> str:
        return json.dumps(world.state()["suppressed"]).lower()

    assert h.wait_until(lambda: email.lower() not in suppressed(), timeout=20), suppressed()
    assert email.lower() not in world.people(), "unsuppressing does not bring the profile back"

    switched = _doctor(world, env_dir, "--person", email, "--mode", "suppress", "--yes")
    assert switched.code == 2
    assert "continue it with --mode delete" in switched.json["checks"][0]["error"]
