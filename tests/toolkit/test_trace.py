"""`cio-doctor trace` as a process: one scenario per verdict, against the Customer.io simulator,
the Pub/Sub emulator (dead letters) and the BigQuery emulator (the delivery ledger and the
webhook events, with the stacks' views).

The ledger rows are the real handler's decision lines (tests/analytics/test_ledger_views.py
runs a DeliveryHandler per decision) in Cloud Logging's export shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cio_shared.common import bigquery_client
from cio_shared.delivery.decisions import from_status

from tests.analytics.conftest import bigquery_endpoint
from tests.analytics.test_ledger_views import (
    create_ledger,
    decision_line,
    exported,
    webhook_row,
)
from tests.analytics.test_views import create_table_and_views
from tests.toolkit.doctor import Result, run
from tests.toolkit.simulator_fixture import Sim
from tests.toolkit.test_dlq import Bus, rejected

pytestmark = pytest.mark.integration
__all__ = ["bigquery_endpoint"]  # the session fixture, shared with tests/analytics

PROJECT = "local-project"  # bqemulator's project; the Pub/Sub emulator takes any
NOW = datetime.now(UTC).replace(microsecond=0)
PERSON = {"id": "42", "email": "jane@example.com"}


def ago(minutes: int) -> datetime:
    return NOW - timedelta(minutes=minutes)


@dataclass
class World:
    """What one scenario puts in each system."""

    decisions: list[tuple[Any, int, int]] = field(default_factory=list)  # outcome, attempt, min
    dead_letters: list[dict[str, str]] = field(default_factory=list)
    person: dict[str, Any] | None = None
    seed: dict[str, Any] = field(default_factory=dict)
    webhooks: list[tuple[str, int]] = field(default_factory=list)  # metric, minutes ago


EVENT = "01TRACEDEMQ000000000000001"


def build(world: World, env: str, sim: Sim, bus: Bus) -> None:
    client = bigquery_client(PROJECT)
    analytics, ledger = f"cio_{env}_analytics", f"cio_{env}_ledger"
    create_table_and_views(client, analytics)
    create_ledger(client, PROJECT, analytics, ledger)
    rows = [
        exported(decision_line(EVENT, ("id", "42"), outcome, attempt), ago(minutes), f"i{n}")
        for n, (outcome, attempt, minutes) in enumerate(world.decisions)
    ]
    if rows:
        assert client.insert_rows_json(f"{PROJECT}.{ledger}.run_googleapis_com_stdout", rows) == []
    hooks = [
        {**webhook_row(n, PERSON, metric, "d-1", 0), "timestamp": ago(minutes).isoformat()}
        for n, (metric, minutes) in enumerate(world.webhooks)
    ]
    if hooks:
        assert client.insert_rows_json(f"{PROJECT}.{analytics}.webhook_events", hooks) == []
    for attributes in world.dead_letters:
        message = {
            "schema_version": 1,
            "event_id": EVENT,
            "action": "event",
            "person": {"id": "42"},
        }
        bus.dead_letter("track", message, cio_event_id=EVENT, **attributes)
    # someone else's dead letter: never part of this person's trace
    bus.dead_letter("track", {"event_id": "01OTHER", "person": {"id": "7"}}, cio_reason="x")
    if world.person is not None or world.seed:
        sim.seed({"people": [world.person] if world.person else [], **world.seed})


def trace_env(env_dir: Path, sim: Sim) -> dict[str, str]:
    import os

    return {
        **sim.env(),
        "CIO_DOCTOR_ENV_DIR": str(env_dir),
        "PUBSUB_EMULATOR_HOST": os.environ["PUBSUB_EMULATOR_HOST"],
        "BIGQUERY_API_ENDPOINT": os.environ["BIGQUERY_API_ENDPOINT"],
    }


def trace(env: str, env_dir: Path, sim: Sim, *args: str) -> Result:
    command = ["trace", "--env", env, "--json", "--wait", "0.5", "--since", "24h", *args]
    return run(command, env=trace_env(env_dir, sim))


DELIVERED = [(from_status(429), 1, 50), (from_status(200), 2, 45)]
OPENED = [("sent", 40), ("delivered", 39), ("opened", 30)]


def message(state_minutes: dict[str, int]) -> dict[str, Any]:
    """The same message as Customer.io's App API shows it (metrics: name -> Unix time)."""
    metrics = {name: int(ago(minutes).timestamp()) for name, minutes in state_minutes.items()}
    first = min(metrics.values())
    return {
        "id": "m-1",
        "customer_id": "42",
        "campaign_id": 7,
        "created": first,
        "metrics": metrics,
    }


SCENARIOS: dict[str, tuple[World, int]] = {
    "never_published": (World(person=PERSON), 1),
    "dead_lettered": (
        World(
            decisions=[(from_status(400), 1, 30)],
            dead_letters=[rejected("400", "rejected_400", "false")],
            person=PERSON,
        ),
        1,
    ),
    "retrying": (World(decisions=[(from_status(401), n, 40 - n) for n in (1, 2, 3)]), 1),
    "person_missing": (World(decisions=DELIVERED), 1),
    "person_suppressed": (
        World(
            decisions=DELIVERED,
            person=PERSON,
            seed={"esp_suppressions": [{"type": "bounces", "email": PERSON["email"]}]},
        ),
        1,
    ),
    "message_bounced": (
        World(
            decisions=DELIVERED,
            person=PERSON,
            webhooks=[("sent", 40), ("bounced", 39)],
            seed={"messages": [message({"sent": 40, "bounced": 39})]},
        ),
        1,
    ),
    "person_unsubscribed": (World(decisions=DELIVERED, person={**PERSON, "unsubscribed": True}), 1),
    "no_message": (World(decisions=DELIVERED, person=PERSON), 1),
    "ok": (
        World(
            decisions=DELIVERED,
            person=PERSON,
            webhooks=OPENED,
            seed={"messages": [message(dict(OPENED))]},
        ),
        0,
    ),
}


@pytest.fixture
def scenario_env(
    bigquery_endpoint: str, pubsub_emulator_host: str, make_env: Callable[..., str]
) -> tuple[str, Bus]:
    env = make_env(project_id=PROJECT)
    return env, Bus(env, PROJECT)


@pytest.mark.parametrize("verdict", sorted(SCENARIOS))
def test_one_scenario_per_verdict(
    verdict: str, scenario_env: tuple[str, Bus], env_dir: Path, sim: Sim
) -> None:
    env, bus = scenario_env
    world, code = SCENARIOS[verdict]
    build(world, env, sim, bus)
    result = trace(env, env_dir, sim, "--person", "42")
    assert result.json["verdict"] == verdict, result.stdout + result.stderr
    assert result.code == code, result.stdout + result.stderr
    verdict_check = result.json["checks"][-1]
    assert verdict_check["findings"][0]["code"] == verdict
    assert "jane@example.com" not in result.stdout  # personal data shortened
    timeline = verdict_check["data"]["timeline"]
    assert [row["at"] for row in timeline] == sorted(row["at"] for row in timeline)
    assert len([r for r in timeline if r["source"] == "ledger"]) == len(world.decisions)
    if world.person is not None:  # Customer.io's attribute timestamps join the timeline
        assert any(r["what"] == "attribute email set" for r in timeline), timeline


def test_an_event_trace_finds_its_person_and_dead_letter_and_never_consumes_it(
    scenario_env: tuple[str, Bus], env_dir: Path, sim: Sim
) -> None:
    env, bus = scenario_env
    world, _ = SCENARIOS["dead_lettered"]
    build(world, env, sim, bus)
    result = trace(env, env_dir, sim, "--event-id", EVENT)
    assert result.json["verdict"] == "dead_lettered"
    finding = result.json["checks"][-1]["findings"][0]
    assert "rejected_400" in finding["title"]
    assert f"cio-doctor dlq replay --env {env} --reason rejected_400" in finding["next_step"]
    waiting = next(c for c in result.json["checks"] if c["name"] == "dead letters")
    assert [m["event_id"] for m in waiting["data"]["waiting"]] == [EVENT]
    time.sleep(0.5)
    again = trace(env, env_dir, sim, "--event-id", EVENT)  # peeked, released, still there
    assert again.json["verdict"] == "dead_lettered"


def test_the_text_report_shows_the_timeline_and_the_verdict(
    scenario_env: tuple[str, Bus], env_dir: Path, sim: Sim
) -> None:
    env, bus = scenario_env
    build(SCENARIOS["ok"][0], env, sim, bus)
    result = run(
        ["trace", "--env", env, "--person", "42", "--wait", "0.5"],
        env=trace_env(env_dir, sim),
    )
    text = " ".join(result.stdout.split())
    assert result.code == 0, result.stdout + result.stderr
    assert "nothing wrong: the message was opened" in text
    assert "delivered (ok, Customer.io 200), attempt 2" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say what to trace"),
        (("--person", "42", "--since", "yesterday"), "--since takes a duration"),
        (("--person", "42", "--id-type", "phone"), "--id-type must be"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    args: tuple[str, ...], message: str, make_env: Callable[..., str], env_dir: Path
) -> None:
    result = run(
        ["trace", "--env", make_env(), "--json", *args],
        env={"CIO_DOCTOR_ENV_DIR": str(env_dir)},
    )
    assert result.code == 2
    assert message in result.json["error"]
