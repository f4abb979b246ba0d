"""A fake live project (REST fakes, the gRPC Secret Manager and Monitoring) and a runner that
calls `cio-platform preflight` as a process against it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap.apis import required_apis
from tests.preflight.fake_google import REST_FAKES, ROLE, World, refusing
from tests.preflight.monitoring_server import monitoring
from tests.preflight.rest_server import Route, serve
from tests.toolkit.secret_manager_server import Store, secret_manager

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "cio-platform"
PROJECT = "acme-cio-qa"
NUMBER = "555555555555"
KMS_PROJECT = "acme-security"
CHANNEL = f"projects/{PROJECT}/notificationChannels/4444"
POOL = f"projects/{NUMBER}/locations/global/workloadIdentityPools/github"
AGENTS = {
    "secretmanager": f"serviceAccount:service-{NUMBER}@gcp-sa-secretmanager.iam.gserviceaccount"
    ".com",
    "pubsub": f"serviceAccount:service-{NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com",
    "bigquery": f"serviceAccount:bq-{NUMBER}@bigquery-encryption.iam.gserviceaccount.com",
}


def key_name(location: str) -> str:
    return f"projects/{KMS_PROJECT}/locations/{location}/keyRings/cio/cryptoKeys/cio-qa"


# Secret Manager uses the `global` key (automatic replication), BigQuery EU the `europe` one,
# Pub/Sub the region's.
KEY_USERS = {
    "global": ["secretmanager"],
    "europe": ["bigquery"],
    "europe-west1": ["pubsub"],
}


def environment(**overrides: Any) -> dict[str, Any]:
    """The `qa` environment file: CMEK, a notification channel, two pinned secrets."""
    data: dict[str, Any] = {
        "project_id": PROJECT,
        "project_number": NUMBER,
        "region": "europe-west1",
        "state_bucket": "acme-cio-tfstate-qa",
        "kms_keys": {location: key_name(location) for location in KEY_USERS},
        "secret_versions": {"site-id": 1, "track-api-key": 2},
        "monitoring": {"notification_channels": [CHANNEL]},
    }
    data.update(overrides)
    return data


def green_world() -> World:
    return World(
        project_id=PROJECT,
        project_number=NUMBER,
        enabled_apis=set(required_apis(kms=True)),
        buckets={"acme-cio-tfstate-qa": True},
        keys={key_name(location): "ENABLED" for location in KEY_USERS},
        grants={
            key_name(location): {AGENTS[service] for service in services}
            for location, services in KEY_USERS.items()
        },
        channels={CHANNEL: {"display_name": "platform on-call", "type_": "email"}},
        pools={
            POOL: {"state": "ACTIVE", "displayName": "GitHub Actions"},
            f"{POOL}/providers/github-actions": {"state": "ACTIVE"},
        },
    )


def green_store() -> Store:
    store = Store()
    store.add(PROJECT, "cio-qa-site-id", "site")
    store.add(PROJECT, "cio-qa-track-api-key", "old", state=2)  # DISABLED
    store.add(PROJECT, "cio-qa-track-api-key", "track")
    store.add(PROJECT, "cio-qa-webhook-signing-key", "signing")
    store.add(PROJECT, "cio-qa-app-api-key", "app")  # the transactional handler's
    return store


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.stdout)
        return loaded

    def lines(self, status: str) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith(status)]


@dataclass
class FakeProject:
    world: World
    store: Store
    env: dict[str, Any]
    env_dir: Path
    calls: list[str]

    def endpoints(self, stack: ExitStack) -> str:
        def routes(service: str, fake: Callable[[World], list[Route]]) -> list[Route]:
            return (refusing if service in self.world.refused else fake)(self.world)

        pairs = [
            f"{service}={stack.enter_context(serve(routes(service, fake), self.calls))}"
            for service, fake in REST_FAKES.items()
        ]
        pairs.append(f"secretmanager={stack.enter_context(secret_manager(self.store))}")
        pairs.append(
            f"monitoring={stack.enter_context(monitoring(self.world.channels, self.calls))}"
        )
        return ",".join(pairs)

    def run(self, *args: str, endpoints: str | None = None, env: str = "qa") -> Run:
        """`cio-platform preflight qa` against the fakes (every server stopped afterwards)."""
        (self.env_dir / f"{env}.yaml").write_text(yaml.safe_dump(self.env), encoding="utf-8")
        with ExitStack() as stack:
            overrides = endpoints if endpoints is not None else self.endpoints(stack)
            argv = [str(CLI), "preflight", env, "--env-dir", str(self.env_dir)]
            if overrides:
                argv += ["--endpoints", overrides]
            result = subprocess.run(
                [*argv, *args],
                check=False,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=60,
                env={"PATH": "/usr/bin:/bin", "HOME": str(self.env_dir)},
            )
        return Run(result.returncode, result.stdout, result.stderr)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[FakeProject]:
    env_dir = tmp_path / "environments"
    env_dir.mkdir()
    yield FakeProject(green_world(), green_store(), environment(), env_dir, [])


@pytest.fixture
def without(project: FakeProject) -> Callable[[str, str], None]:
    """Remove one service agent's grant from the key of a location."""

    def remove(location: str, service: str) -> None:
        project.world.grants[key_name(location)].discard(AGENTS[service])

    return remove


__all__ = ["AGENTS", "CHANNEL", "KMS_PROJECT", "NUMBER", "POOL", "PROJECT", "ROLE", "key_name"]
