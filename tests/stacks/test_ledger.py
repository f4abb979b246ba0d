"""The delivery ledger in every synthesized environment: the sink, its one grant, retention."""

from __future__ import annotations

import re

import pytest
from cio_shared import contract

from stacks.analytics import DAY_MS, TIME_TRAVEL_HOURS
from stacks.ledger import DELIVERY_DECISIONS
from tests.stacks.template import Template
from tests.stacks.test_synth import deployed, environment
from tests.support.environments import environment_names


@pytest.fixture(params=environment_names())
def env_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ledger_services(env_name: str) -> set[str]:
    """The delivery handlers' Cloud Run services: every deployed handler fed by a topic."""
    env = environment(env_name)
    if not env.deploy_handlers:
        return set()
    return {env.resource_name(m.name) for m in deployed(env_name) if m.topic}


def test_the_sink_routes_only_the_delivery_handlers_decision_lines(
    templates: dict[str, Template], env_name: str
) -> None:
    template, env = templates[env_name], environment(env_name)
    services = ledger_services(env_name)
    sinks = template.resources("google_logging_project_sink")
    if not services:
        assert not sinks, "no delivery handler, no sink"
        return
    (sink,) = sinks.values()
    dataset = env.dataset_name(contract.LEDGER_PURPOSE)
    assert sink["destination"] == (
        f"bigquery.googleapis.com/projects/{env.project_id}/datasets/{dataset}"
    )
    assert sink["unique_writer_identity"] is True
    assert sink["bigquery_options"] == {"use_partitioned_tables": True}
    routed = set(re.findall(r'"(cio-[a-z0-9-]+)"', sink["filter"]))
    assert routed == services, "the webhook handler logs decisions too, of another kind"
    assert "run.googleapis.com%2Fstdout" in sink["filter"]
    for decision in DELIVERY_DECISIONS:
        assert f'"{decision}"' in sink["filter"]


def test_the_sink_writer_may_edit_the_ledger_dataset_only(
    templates: dict[str, Template], env_name: str
) -> None:
    template = templates[env_name]
    sinks = template.resources("google_logging_project_sink")
    if not sinks:
        pytest.skip(f"{env_name} deploys no delivery handler")
    (address,) = sinks
    writer = f"${{google_logging_project_sink.{address}.writer_identity}}"
    grants = [
        (rtype, body)
        for rtype, _, body in template.all_resources()
        if body.get("member") == writer or writer in str(body.get("members", ""))
    ]
    assert len(grants) == 1, grants
    rtype, grant = grants[0]
    assert rtype == "google_bigquery_dataset_iam_member"
    assert grant["role"] == "roles/bigquery.dataEditor"
    assert "ledger_dataset" in grant["dataset_id"]


def test_ledger_retention_is_the_datasets_default_partition_expiration(
    templates: dict[str, Template], env_name: str
) -> None:
    template, env = templates[env_name], environment(env_name)
    expiration = env.bigquery.ledger_retention_days * DAY_MS
    dataset = template.one(
        "google_bigquery_dataset", dataset_id=env.dataset_name(contract.LEDGER_PURPOSE)
    )
    assert dataset["default_partition_expiration_ms"] == expiration
    assert dataset["location"] == env.bigquery.location
    table = template.one("google_bigquery_table", table_id=contract.LEDGER_TABLE)
    assert table["time_partitioning"] == {
        "type": "DAY",
        "field": "timestamp",
        "expiration_ms": expiration,
    }


def test_every_dataset_keeps_the_minimum_time_travel(
    templates: dict[str, Template], env_name: str
) -> None:
    """Erased rows stay recoverable for the time-travel window, then 7 days of fail-safe."""
    datasets = templates[env_name].resources("google_bigquery_dataset").values()
    assert {d["max_time_travel_hours"] for d in datasets} == {TIME_TRAVEL_HOURS}


def test_a_ledger_view_is_created_after_the_views_it_reads(
    templates: dict[str, Template], env_name: str
) -> None:
    template, env = templates[env_name], environment(env_name)
    ledger = env.dataset_name(contract.LEDGER_PURPOSE)
    views = {
        body["table_id"]: (address, body)
        for address, body in template.resources("google_bigquery_table").items()
        if "view" in body and "ledger_dataset" in body["dataset_id"]
    }
    assert set(views) == {
        "delivery_ledger",
        "delivery_by_event",
        "message_activity",
        "person_trace",
    }
    for name, (_, body) in views.items():
        for other, (other_address, _) in views.items():
            if f"{ledger}.{other}`" in body["view"]["query"]:
                assert f"google_bigquery_table.{other_address}" in body["depends_on"], (
                    name,
                    other,
                )
