"""scripts/smoke_check.py against a stand-in deployment: the real Pub/Sub emulator holding
the dev stack's topics and subscriptions, and the real webhook handler under
functions-framework as the public function."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.api_core.exceptions import AlreadyExists, NotFound
from google.cloud import pubsub_v1

from tests.cicd.support import REPO, Stacks
from tests.support.processes import FUNCTIONS, function_server

SCRIPT = REPO / "scripts" / "smoke_check.py"
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dev_names(synthesized_stacks: Stacks) -> dict[str, list[str]]:
    resources = synthesized_stacks["dev"]["resource"]
    return {
        kind: sorted(r["name"] for r in resources[f"google_pubsub_{kind}"].values())
        for kind in ("topic", "subscription")
    }


@pytest.fixture
def deployment(tmp_path: Path, synthesized_stacks: Stacks, pubsub_emulator_host: str) -> Path:
    """A root with the synthesized dev stack, its topics and subscriptions in the emulator."""
    root = tmp_path / "root"
    (root / "cdktf.out" / "stacks" / "dev").mkdir(parents=True)
    (root / "environments").mkdir()
    (root / "environments" / "dev.yaml").write_text((REPO / "environments/dev.yaml").read_text())
    stack = synthesized_stacks["dev"]
    (root / "cdktf.out/stacks/dev/cdk.tf.json").write_text(json.dumps(stack))
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    project = "projects/acme-cio-dev"
    topics = stack["resource"]["google_pubsub_topic"]
    for topic in topics.values():
        path = f"{project}/topics/{topic['name']}"
        with contextlib.suppress(AlreadyExists):  # created by an earlier test of this session
            publisher.create_topic(name=path)
    by_ref = {f"${{google_pubsub_topic.{key}.id}}": t["name"] for key, t in topics.items()}
    for sub in stack["resource"]["google_pubsub_subscription"].values():
        path = f"{project}/subscriptions/{sub['name']}"
        try:
            subscriber.get_subscription(subscription=path)
        except NotFound:
            subscriber.create_subscription(
                name=path, topic=f"{project}/topics/{by_ref[sub['topic']]}"
            )
    return root


@pytest.fixture(scope="module")
def webhook_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("webhook") / "webhook.log"
    env = {
        "CIO_WEBHOOK_SIGNING_KEY": "smoke-test-key",
        "CIO_ENVIRONMENT": "dev",
        "GOOGLE_CLOUD_PROJECT": "acme-cio-dev",
    }
    with function_server(FUNCTIONS / "webhook" / "main.py", "handle", env=env, log_path=log) as url:
        yield url


def smoke(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--env", "dev", "--root", str(root), *args],
        env={**os.environ, "GOOGLE_CLOUD_PROJECT": "acme-cio-dev"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_healthy_deployment_passes(deployment: Path, webhook_url: str, dev_names) -> None:
    result = smoke(deployment, "--public-url", f"cio-dev-webhook={webhook_url}")
    assert result.returncode == 0, result.stdout + result.stderr
    total = len(dev_names["topic"]) + len(dev_names["subscription"]) + 1
    assert f"smoke dev: {total}/{total} checks passed" in result.stdout


def test_missing_subscription_and_open_webhook_are_reported(
    deployment: Path, dev_names, pubsub_emulator_host: str
) -> None:
    gone = dev_names["subscription"][0]
    pubsub_v1.SubscriberClient().delete_subscription(
        subscription=f"projects/acme-cio-dev/subscriptions/{gone}"
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
        result = smoke(deployment, "--public-url", f"cio-dev-webhook={url}")
    finally:
        server.shutdown()
    assert result.returncode == 1
    assert f"FAIL subscription {gone} does not exist" in result.stdout
    assert "FAIL cio-dev-webhook: unsigned request answered 200, expected 401" in result.stdout


def test_without_synth_output_it_says_so(tmp_path: Path) -> None:
    result = smoke(tmp_path)
    assert result.returncode == 2
    assert "run `make synth` first" in result.stderr
