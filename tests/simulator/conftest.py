"""Fixtures for the simulator's tests: a fresh in-process simulator per test, real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from cio_simulator import Simulator, SimulatorConfig

SITE_ID = "test-site"
TRACK_KEY = "test-track-key"
APP_KEY = "test-app-key"


@dataclass
class Client:
    """Plain requests against one simulator: Track API (Basic), App API (Bearer), admin."""

    url: str
    session: requests.Session

    def track(self, method: str, path: str, **kwargs: object) -> requests.Response:
        kwargs.setdefault("auth", (SITE_ID, TRACK_KEY))
        kwargs.setdefault("timeout", 5)
        return self.session.request(method, self.url + path, **kwargs)  # type: ignore[arg-type]

    def app(self, path: str, **kwargs: object) -> requests.Response:
        kwargs.setdefault("headers", {"Authorization": f"Bearer {APP_KEY}"})
        kwargs.setdefault("timeout", 5)
        return self.session.get(self.url + path, **kwargs)  # type: ignore[arg-type]

    def admin(self, method: str, path: str, **kwargs: object) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.request(method, f"{self.url}/_admin/{path}", **kwargs)  # type: ignore[arg-type]

    def state(self) -> dict:
        return self.admin("GET", "state").json()

    def person(self, key: str, value: str) -> dict | None:
        for person in self.state()["people"]:
            if person["identifiers"].get(key) == value:
                return person
        return None


def make_config(**overrides: object) -> SimulatorConfig:
    settings: dict[str, object] = {
        "site_id": SITE_ID,
        "track_api_key": TRACK_KEY,
        "app_api_key": APP_KEY,
    }
    settings.update(overrides)
    return SimulatorConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    sim = Simulator(make_config()).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def client(simulator: Simulator) -> Iterator[Client]:
    with requests.Session() as session:
        yield Client(simulator.url, session)
