"""`cio-doctor incident` runbooks end to end: simulator, Pub/Sub emulator, local Secret Manager,
fake Cloud Run, local status page; reports written as Markdown and JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.toolkit.doctor import run
from tests.toolkit.local_servers import http_server
from tests.toolkit.secret_manager_server import Store, secret_manager
from tests.toolkit.simulator_fixture import APP_KEY, SITE_ID, Sim

pytestmark = pytest.mark.integration
PROJECT = "doctor-test"
STATUS_OK = {
    "status": {"indicator": "none", "description": "All Systems Operational"},
    "components": [],
    "incidents": [],
}


@pytest.fixture
def status_page() -> Iterator[str]:
    with http_server({"/summary.json": lambda h: (200, STATUS_OK)}) as (url, _):
        yield f"{url}/summary.json"


def _outputs(out: Path) -> tuple[str, dict]:
    [md] = out.glob("incident-*.md")
    [js] = out.glob("incident-*.json")
    return md.read_text(), json.loads(js.read_text())


def test_p1_outage_with_a_revoked_key_and_dead_letters(
    sim: Sim,
    pubsub_emulator_host: str,
    make_env: Callable[..., str],
    env_dir: Path,
    status_page: str,
    tmp_path: Path,
) -> None:
    from google.cloud import pubsub_v1

    env = make_env(project_id=PROJECT)
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    for topic in ("identify", "track"):
        dead = publisher.create_topic(
            name=f"projects/{PROJECT}/topics/cio-{env}-{topic}-dead-letter"
        )
        subscriber.create_subscription(
            name=f"projects/{PROJECT}/subscriptions/cio-{env}-{topic}-dead-letter", topic=dead.name
        )
    publisher.publish(
        f"projects/{PROJECT}/topics/cio-{env}-track-dead-letter",
        b"{}",
        CloudPubSubDeadLetterSourceDeliveryCount="30",
        CloudPubSubDeadLetterSourceSubscription=f"cio-{env}-track-push",
    ).result()
    store = Store()
    old = datetime.now(UTC) - timedelta(days=10)
    store.add(PROJECT, f"cio-{env}-site-id", SITE_ID, created=old)
    store.add(PROJECT, f"cio-{env}-track-api-key", "revoked-track-key-7", created=old)
    store.add(PROJECT, f"cio-{env}-app-api-key", APP_KEY, created=old)
    store.add(PROJECT, f"cio-{env}-webhook-signing-key", "whk", created=old)
    services = {
        f"/v2/projects/{PROJECT}/locations/europe-west1/services": lambda h: (200, {"services": []})
    }
    out = tmp_path / "reports"
    with secret_manager(store) as endpoint, http_server(services) as (cloud_run, _):
        result = run(
            [
                "incident",
                "P1",
                "--env",
                env,
                "--out",
                str(out),
                "--status-url",
                status_page,
                "--observed-rps",
                "5",
                "--wait",
                "1.0",
                "--json",
            ],
            env={
                "CIO_TRACK_URL": sim.url,
                "CIO_APP_URL": sim.url,
                "CIO_DOCTOR_ENV_DIR": str(env_dir),
                "SECRETMANAGER_API_ENDPOINT": endpoint,
                "CLOUDRUN_API_ENDPOINT": cloud_run,
                "PUBSUB_EMULATOR_HOST": pubsub_emulator_host,
            },
        )
    assert result.code == 1, result.stdout + result.stderr
    report = result.json
    assert report["priority"] == "P1"
    names = [c["name"] for c in report["checks"]]
    assert names[0].startswith("network: ")
    assert any(n.startswith("credentials: track GET") for n in names)
    assert "dead letters" in names
    codes = [f["code"] for f in report["findings"]]
    assert "http_401" in codes
    assert "dead_letters_retryable" in codes
    assert "revoked-track-key-7" not in result.stdout
    md, js = _outputs(out)
    assert js["findings"] == report["findings"]
    assert md.startswith("# Incident report: P1: complete outage")
    assert "## Findings (most severe first)" in md and "## Next steps" in md
    assert "`http_401`" in md and "revoked-track-key-7" not in md
    assert all(c["started_at"] and c["finished_at"] for c in js["checks"])
    # a rejected key is one finding, not a network finding saying the same thing again
    rejected = [f for f in report["findings"] if "401" in f["title"]]
    assert [f["code"] for f in rejected] == ["http_401"], rejected
    assert "network probes got 401 too" in rejected[0]["detail"]
    network = next(c for c in report["checks"] if c["name"].startswith("network: track"))
    assert network["data"]["credentials_rejected"] == "401, reported once under credentials"
    # next steps name the environment that was given, never a placeholder
    texts = [*report["runbook_next_steps"], *(f["next_step"] for f in report["findings"])]
    assert not [t for t in texts if "ENV" in t or "REASON" in t or "MESSAGE_ID" in t], texts
    assert any(
        f"cio-doctor dlq replay --env {env} --reason max_delivery_attempts" in t for t in texts
    )
    assert "--env ENV" not in md and f"--env {env}" in md


def test_p3_without_env_says_what_it_could_not_check(
    sim: Sim, status_page: str, tmp_path: Path
) -> None:
    sim.seed(
        {
            "people": [{"id": "9", "email": "p@example.com"}],
            "campaigns": [{"id": 5, "state": "paused"}],
        }
    )
    result = run(
        [
            "incident",
            "p3",
            "--user",
            "9",
            "--campaign",
            "5",
            "--out",
            str(tmp_path),
            "--status-url",
            status_page,
            "--observed-rps",
            "1",
            "--trace",
            str(tmp_path / "trace.jsonl"),
            "--json",
        ],
        env=sim.env(CIO_REGION="eu"),
    )
    assert result.code == 2, result.stdout + result.stderr
    errors = {c["name"]: c["error"] for c in result.json["checks"] if c["error"]}
    # without a budget the headroom is informational, not a check that could not run
    assert errors == {"dead letters": "the dead-letter check needs --env"}
    assert "campaign_paused" in [f["code"] for f in result.json["findings"]]
    assert "headroom_not_checked" in [f["code"] for f in result.json["findings"]]
    md, _ = _outputs(tmp_path)
    assert "could not check: the dead-letter check needs --env" in md
    traced = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert {"/v1/customers/9/attributes", "/v1/campaigns/5"} <= {
        line["request"]["url"].split("?")[0].removeprefix(sim.url) for line in traced
    }


def test_p4_webhook_capture_with_the_wrong_key(tmp_path: Path) -> None:
    capture = tmp_path / "rejected.http"
    capture.write_bytes(
        b"POST /webhook HTTP/1.1\nX-CIO-Timestamp: 1700000000\n"
        b"X-CIO-Signature: " + b"ab" * 32 + b'\n\n{"event_id":"x"}'
    )
    result = run(
        ["incident", "P4", "--capture", str(capture), "--out", str(tmp_path), "--json"],
        env={"CIO_WEBHOOK_SIGNING_KEY": "k"},
    )
    assert result.code == 2  # quarantine and secret steps need --env
    assert result.json["findings"][0]["code"] == "signature_wrong_key"


def test_unknown_priority_is_rejected() -> None:
    result = run(["incident", "P9", "--json"])
    assert result.code == 2
    assert "P1, P2, P3, P4" in result.json["error"]


def test_p2_error_rate_from_cloud_monitoring(
    sim: Sim,
    pubsub_emulator_host: str,
    make_env: Callable[..., str],
    env_dir: Path,
    status_page: str,
    tmp_path: Path,
) -> None:
    from google.cloud import pubsub_v1

    env = make_env(project_id=PROJECT, monitoring={"error_rate_threshold": 0.1})
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    for topic in ("identify", "track"):
        dead = publisher.create_topic(
            name=f"projects/{PROJECT}/topics/cio-{env}-{topic}-dead-letter"
        )
        subscriber.create_subscription(
            name=f"projects/{PROJECT}/subscriptions/cio-{env}-{topic}-dead-letter", topic=dead.name
        )
    series = {
        "timeSeries": [
            {
                "metric": {"labels": {"decision": decision}},
                "points": [{"value": {"doubleValue": rate}}],
            }
            for decision, rate in (("delivered", 6.0), ("retry", 3.5), ("dead_lettered", 0.5))
        ]
    }
    with http_server({f"/v3/projects/{PROJECT}/timeSeries": lambda h: (200, series)}) as (
        monitoring,
        recorder,
    ):
        result = run(
            [
                "incident",
                "P2",
                "--env",
                env,
                "--out",
                str(tmp_path),
                "--status-url",
                status_page,
                "--wait",
                "1.0",
                "--json",
            ],
            env=sim.env(
                CIO_DOCTOR_ENV_DIR=str(env_dir),
                MONITORING_API_ENDPOINT=monitoring,
                PUBSUB_EMULATOR_HOST=pubsub_emulator_host,
            ),
        )
    assert result.code == 1, result.stdout + result.stderr
    decisions = next(c for c in result.json["checks"] if c["name"].startswith("error rate"))
    assert decisions["data"]["error_rate"] == 0.4
    assert result.json["findings"][0]["code"] == "error_rate_high"
    headroom = next(c for c in result.json["checks"] if c["name"].endswith("headroom"))
    assert headroom["data"]["rate_limit"]["observed_per_second"] == 10.0
    assert "groupByFields" in recorder.requests[0]["path"]
