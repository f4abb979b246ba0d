"""The in-process simulator for the Pipelines API tests (test_pipelines, test_pipelines_guard)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cio_simulator import Simulator, SimulatorConfig

PIPELINES_KEY = "unit-pipelines-key"


@pytest.fixture
def pipelines_sim() -> Iterator[Simulator]:
    with Simulator(SimulatorConfig(pipelines_api_key=PIPELINES_KEY)) as simulator:
        yield simulator
