"""Issue 12, on-call fixes for `cio-doctor incident`: the next steps name the environment that
was given (`--env <name>`, not `--env ENV`), and a rejected key (401) is one finding, not a
network finding plus a credentials finding saying the same thing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.toolkit.doctor import run
from tests.toolkit.local_servers import http_server
from tests.toolkit.secret_manager_server import Store, secret_manager
from tests.toolkit.simulator_fixture import APP_KEY, SITE_ID, Sim
from tests.toolkit.test_incident import status_page

pytestmark = pytest.mark.integration
PROJECT = "doctor-test"
__all__ = ["status_page"]  # the fixture, shared with test_incident


def test_p1_names_the_environment_and_reports_a_401_once(
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
    store.add(PROJECT, f"cio-{env}-track-api-key", "revoked-track-key-8", created=old)
    store.add(PROJECT, f"cio-{env}-app-api-key", APP_KEY, created=old)
    store.add(PROJECT, f"cio-{env}-webhook-signing-key", "whk", created=old)
    services = {
        f"/v2/projects/{PROJECT}/locations/europe-west1/services": lambda h: (200, {"services": []})
    }
    out = tmp_path / "reports"
    with secret_manager(store) as endpoint, http_server(services) as (cloud_run, _):
        result = run(
            [
                "incident", "P1", "--env", env, "--out", str(out), "--status-url", status_page,
                "--observed-rps", "5", "--wait", "1.0", "--json",
            ],
            env={
                "CIO_TRACK_URL": sim.url,
                "CIO_APP_URL": sim.url,
                "CIO_DOCTOR_ENV_DIR": str(env_dir),
                "SECRETMANAGER_API_ENDPOINT": endpoint,
                "CLOUDRUN_API_ENDPOINT": cloud_run,
                "PUBSUB_EMULATOR_HOST": pubsub_emulator_host,
            },
        )  # fmt: skip
    assert result.code == 1, result.stdout + result.stderr
    report = result.json
    rejected = [f for f in report["findings"] if "401" in f["title"]]
    assert [f["code"] for f in rejected] == ["http_401"], rejected
    assert "network probes got 401 too" in rejected[0]["detail"]
    network = next(c for c in report["checks"] if c["name"].startswith("network: track"))
    assert network["data"]["credentials_rejected"] == "401, reported once under credentials"

    texts = [s for s in report["runbook_next_steps"]] + [f["next_step"] for f in report["findings"]]
    assert not [t for t in texts if "ENV" in t or "REASON" in t or "MESSAGE_ID" in t], texts
    assert any(
        f"cio-doctor dlq replay --env {env} --reason max_delivery_attempts" in t for t in texts
    )
    [md] = out.glob("incident-*.md")
    assert "--env ENV" not in md.read_text() and f"--env {env}" in md.read_text()
