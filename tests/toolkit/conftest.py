"""Fixtures for the toolkit tests: environment files and Pub/Sub topics on the emulator."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.toolkit.simulator_fixture import Sim, simulator_process


@pytest.fixture(scope="session")
def simulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """One simulator process for the toolkit tests (reset before each test by `sim`)."""
    yield from simulator_process(tmp_path_factory.mktemp("sim") / "simulator.log")


@pytest.fixture
def sim(simulator_server: Sim) -> Iterator[Sim]:
    """The module's simulator, reset before each test."""
    simulator_server.reset()
    yield simulator_server


@pytest.fixture
def env_dir(tmp_path: Path) -> Path:
    path = tmp_path / "environments"
    path.mkdir()
    return path


@pytest.fixture
def make_env(env_dir: Path) -> Callable[..., str]:
    """Write environments/<name>.yaml (a fresh name) and return the name."""

    def make(**overrides: object) -> str:
        name = "t" + secrets.token_hex(4)
        content = {
            "project_id": "doctor-test",
            "region": "europe-west1",
            "state_bucket": "unused",
            "customerio": {"region": "eu", "request_budget_per_second": 50},
            "handlers": {"track": {"max_instances": 2}, "identify": {}},
            "some_future_key": {"ignored": True},
            **overrides,
        }
        (env_dir / f"{name}.yaml").write_text(yaml.safe_dump(content))
        return name

    return make
