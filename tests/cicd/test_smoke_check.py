"""scripts/smoke_check.py as a process against a stand-in deployment:
- the real Pub/Sub emulator holding the dev stack's topics and subscriptions (the BigQuery
  subscription with its bigquery_config and a dead-letter policy), reached through a proxy that
  only adds the `bigquery_config.state` the emulator does not report (tests/cicd/smoke_doubles);
- the real webhook handler under functions-framework as the public function, publishing to
  the emulator;
- bqemulator as BigQuery, filled by a stand-in for the BigQuery subscription;
- the local Secret Manager of tests/toolkit holding the signing key's versions.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import AlreadyExists, NotFound
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, pubsub_v1

from tests.analytics.bqemulator import bigquery_emulator
from tests.cicd.smoke_doubles import (
    PubsubStateProxy,
    State,
    SubscriptionStandIn,
    create_table,
    write_root,
)
from tests.cicd.support import REPO, Stacks
from tests.support.processes import FUNCTIONS, free_port, function_server
from tests.toolkit.secret_manager_server import Store, secret_manager

SCRIPT = REPO / "scripts" / "smoke_check.py"
PROJECT = "acme-cio-dev"
KEY = "smoke-test-key-3f9a1c7e5b"  # the version the webhook runs (pinned "1")
ROTATED_KEY = "rotated-key-not-deployed-8d2e"  # a newer version, `latest`, not deployed
BQ_SUB = f"projects/{PROJECT}/subscriptions/cio-dev-webhook-events-bq"
DEAD_LETTERS = f"projects/{PROJECT}/subscriptions/cio-dev-webhook-events-dead-letter"
TABLE = f"{PROJECT}.cio_dev_analytics.webhook_events"
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dev_names(synthesized_stacks: Stacks) -> dict[str, list[str]]:
    resources = synthesized_stacks["dev"]["resource"]
    return {
        kind: sorted(r["name"] for r in resources[f"google_pubsub_{kind}"].values())
        for kind in ("topic", "subscription")
    }


@pytest.fixture(scope="module")
def bigquery_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with bigquery_emulator(tmp_path_factory.mktemp("smoke-bigquery"), PROJECT) as endpoint:
        create_table(bigquery_client(endpoint), TABLE)
        yield endpoint


def bigquery_client(endpoint: str) -> Any:
    return bigquery.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )


@pytest.fixture(scope="module")
def secret_endpoint() -> Iterator[str]:
    store = Store()
    store.add(PROJECT, "cio-dev-webhook-signing-key", KEY)
    store.add(PROJECT, "cio-dev-webhook-signing-key", ROTATED_KEY)
    with secret_manager(store) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def state_proxy(pubsub_emulator_host: str) -> Iterator[tuple[PubsubStateProxy, str]]:
    proxy = PubsubStateProxy(pubsub_emulator_host)
    with proxy.serving() as endpoint:
        yield proxy, endpoint


def dev_yaml(pin: str = "1") -> str:
    """The repository's dev.yaml with the signing key's version pinned to `pin`."""
    data = yaml.safe_load((REPO / "environments/dev.yaml").read_text())
    data.setdefault("secret_versions", {})["webhook-signing-key"] = pin
    return yaml.safe_dump(data)


@pytest.fixture
def deployment(tmp_path: Path, synthesized_stacks: Stacks, pubsub_emulator_host: str) -> Path:
    """A root with the synthesized dev stack, its topics and subscriptions in the emulator."""
    stack = synthesized_stacks["dev"]
    root = write_root(tmp_path / "root", stack, dev_yaml())
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topics = stack["resource"]["google_pubsub_topic"]
    for topic in topics.values():
        with contextlib.suppress(AlreadyExists):  # created by an earlier test of this session
            publisher.create_topic(name=f"projects/{PROJECT}/topics/{topic['name']}")
    by_ref = {f"${{google_pubsub_topic.{key}.id}}": t["name"] for key, t in topics.items()}
    for sub in stack["resource"]["google_pubsub_subscription"].values():
        path = f"projects/{PROJECT}/subscriptions/{sub['name']}"
        request: dict[str, Any] = {
            "name": path,
            "topic": f"projects/{PROJECT}/topics/{by_ref[sub['topic']]}",
        }
        if "bigquery_config" in sub:  # as declared; 5 attempts (the minimum) keeps tests quick
            request["bigquery_config"] = {"table": sub["bigquery_config"]["table"]}
            dead_letter = by_ref[sub["dead_letter_policy"]["dead_letter_topic"]]
            request["dead_letter_policy"] = {
                "dead_letter_topic": f"projects/{PROJECT}/topics/{dead_letter}",
                "max_delivery_attempts": 5,
            }
        try:
            subscriber.get_subscription(subscription=path)
        except NotFound:
            subscriber.create_subscription(request=request)
    return root


@pytest.fixture(scope="module")
def webhook_url(
    tmp_path_factory: pytest.TempPathFactory, pubsub_emulator_host: str
) -> Iterator[str]:
    log = tmp_path_factory.mktemp("webhook") / "webhook.log"
    env = {
        "CIO_WEBHOOK_SIGNING_KEY": KEY,
        "CIO_ENVIRONMENT": "dev",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "PUBSUB_EMULATOR_HOST": pubsub_emulator_host,
    }
    with function_server(FUNCTIONS / "webhook" / "main.py", "handle", env=env, log_path=log) as url:
        yield url


def smoke(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "CIO_WEBHOOK_SIGNING_KEY"}
    full_env.update({"GOOGLE_CLOUD_PROJECT": PROJECT, **(env or {})})
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--env", "dev", "--root", str(root), *args],
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    for key in (KEY, ROTATED_KEY):  # whatever happened, no key is ever printed
        assert key not in result.stdout + result.stderr
    return result


@pytest.fixture
def stand_in_env(
    bigquery_endpoint: str, secret_endpoint: str, state_proxy: tuple[PubsubStateProxy, str]
) -> dict[str, str]:
    proxy, endpoint = state_proxy
    proxy.states[BQ_SUB] = State.ACTIVE
    return {
        "PUBSUB_EMULATOR_HOST": endpoint,
        "BIGQUERY_API_ENDPOINT": bigquery_endpoint,
        "SECRETMANAGER_API_ENDPOINT": secret_endpoint,
    }


def run_with_stand_in(
    deployment: Path, webhook_url: str, env: dict[str, str], mode: str, *args: str
) -> subprocess.CompletedProcess[str]:
    with SubscriptionStandIn(BQ_SUB, TABLE, bigquery_client(env["BIGQUERY_API_ENDPOINT"]), mode):
        return smoke(
            deployment,
            "--public-url",
            f"cio-dev-webhook={webhook_url}",
            "--wait-seconds",
            "60",
            "--poll-seconds",
            "0.5",
            *args,
            env=env,
        )


def test_healthy_deployment_passes(
    deployment: Path, webhook_url: str, dev_names, stand_in_env: dict[str, str]
) -> None:
    started = time.monotonic()
    result = run_with_stand_in(deployment, webhook_url, stand_in_env, "write")
    assert result.returncode == 0, result.stdout + result.stderr
    # every topic and subscription, the unsigned request, the state, the signed event, the row
    total = len(dev_names["topic"]) + len(dev_names["subscription"]) + 4
    assert f"smoke dev: {total}/{total} checks passed" in result.stdout
    assert "ok   subscription cio-dev-webhook-events-bq state: ACTIVE" in result.stdout
    assert "the JSON column `data` holds an object" in result.stdout
    accepted = re.search(r"signed event: (smoke-[0-9A-Z]{26}) accepted \(200\)", result.stdout)
    assert accepted, result.stdout
    event_id = accepted[1]
    client = bigquery_client(stand_in_env["BIGQUERY_API_ENDPOINT"])
    sql = f"SELECT data, extra FROM `{TABLE}` WHERE event_id = '{event_id}'"
    [row] = list(client.query(sql).result())
    assert row["data"]["smoke_check"]["event_id"] == event_id
    assert row["extra"] == {"smoke_check": {"event_id": event_id}}
    assert time.monotonic() - started < 60


def test_a_dead_lettered_event_is_reported_with_its_reason_and_other_dead_letters_stay(
    deployment: Path, webhook_url: str, stand_in_env: dict[str, str]
) -> None:
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    foreign = publisher.publish(
        f"projects/{PROJECT}/topics/cio-dev-webhook-events-dead-letter",
        b'{"event_id":"a-real-dead-letter"}',
        event_id="a-real-dead-letter",
    ).result()
    result = run_with_stand_in(deployment, webhook_url, stand_in_env, "reject", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    [row_check] = [c for c in report["checks"] if c["name"] == f"{TABLE} row"]
    assert row_check["status"] == "fail"
    assert "was dead-lettered to cio-dev-webhook-events-dead-letter" in row_check["detail"]
    assert (
        "CloudPubSubDeadLetterSourceSubscription=cio-dev-webhook-events-bq" in row_check["detail"]
    )
    assert "CloudPubSubDeadLetterSourceDeliveryCount=5" in row_check["detail"]
    assert "`to_row`" in row_check["fix"] and "replay" in row_check["fix"]
    # the real dead letter was handed back, the smoke message was acked
    left = subscriber.pull(subscription=DEAD_LETTERS, max_messages=100, timeout=10)
    ids = [m.message.message_id for m in left.received_messages]
    assert foreign in ids
    assert not any(b"smoke-" in m.message.data for m in left.received_messages)
    subscriber.acknowledge(
        subscription=DEAD_LETTERS, ack_ids=[m.ack_id for m in left.received_messages]
    )


def test_a_subscription_that_is_not_active_is_a_finding_with_the_fix(
    deployment: Path,
    webhook_url: str,
    stand_in_env: dict[str, str],
    state_proxy: tuple[PubsubStateProxy, str],
) -> None:
    state_proxy[0].states[BQ_SUB] = State.PERMISSION_DENIED
    result = run_with_stand_in(deployment, webhook_url, stand_in_env, "write")
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(
        line for line in result.stdout.splitlines() if "cio-dev-webhook-events-bq state" in line
    )
    assert line.startswith("FAIL subscription cio-dev-webhook-events-bq state: PERMISSION_DENIED")
    assert "roles/bigquery.dataEditor" in line


def test_unreachable_bigquery_means_could_not_check(
    deployment: Path, webhook_url: str, stand_in_env: dict[str, str]
) -> None:
    env = {**stand_in_env, "BIGQUERY_API_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    result = smoke(
        deployment,
        "--public-url",
        f"cio-dev-webhook={webhook_url}",
        "--wait-seconds",
        "3",
        env=env,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"SKIP {TABLE} row: cannot query {TABLE}" in result.stdout
    assert "could not run" in result.stdout


def test_a_key_the_webhook_does_not_run_is_reported_without_showing_it(
    deployment: Path, webhook_url: str, stand_in_env: dict[str, str]
) -> None:
    (deployment / "environments" / "dev.yaml").write_text(dev_yaml(pin="2"))
    result = smoke(
        deployment, "--public-url", f"cio-dev-webhook={webhook_url}", "--json", env=stand_in_env
    )
    assert result.returncode == 1, result.stdout + result.stderr
    [signed] = [
        c for c in json.loads(result.stdout)["checks"] if c["name"].endswith("signed event")
    ]
    assert "refused (401)" in signed["detail"] and "secret_versions" in signed["fix"]


def test_missing_subscription_and_open_webhook_are_reported(
    deployment: Path, dev_names, stand_in_env: dict[str, str]
) -> None:
    gone = dev_names["subscription"][0]
    pubsub_v1.SubscriberClient().delete_subscription(
        subscription=f"projects/{PROJECT}/subscriptions/{gone}"
    )

    class Open(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Open)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        env = {**stand_in_env, "CIO_WEBHOOK_SIGNING_KEY": KEY}  # the local-run key source
        result = smoke(
            deployment, "--public-url", f"cio-dev-webhook={url}", "--wait-seconds", "2", env=env
        )
    finally:
        server.shutdown()
    assert result.returncode == 1
    assert f"FAIL subscription {gone}: does not exist -- fix: re-apply the stack" in result.stdout
    assert "FAIL cio-dev-webhook unsigned request: answered 200, expected 401" in result.stdout
    assert "neither in the table nor dead-lettered after 2s" in result.stdout


def test_without_synth_output_it_says_so(tmp_path: Path) -> None:
    result = smoke(tmp_path)
    assert result.returncode == 2
    assert "run `make synth` first" in result.stderr


def test_make_smoke_runs_this_script_with_its_arguments() -> None:
    result = subprocess.run(
        ["make", "-n", "smoke", "ENV=staging", "SMOKE_ARGS=--json --wait-seconds 60"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    command = ".venv/bin/python scripts/smoke_check.py --env staging --json --wait-seconds 60"
    assert command in result.stdout.splitlines()
