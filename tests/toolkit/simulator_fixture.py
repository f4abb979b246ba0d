"""The Customer.io simulator as a process, seeded per test through its admin endpoints."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.processes import free_port, running

APP_KEY = "doctor-app-key"
SITE_ID = "doctor-site"
TRACK_KEY = "doctor-track-key"


@dataclass
class Sim:
    url: str

    def seed(self, data: dict[str, Any]) -> None:
        response = requests.post(f"{self.url}/_admin/seed", json=data, timeout=5)
        response.raise_for_status()

    def faults(self, **settings: Any) -> None:
        response = requests.post(f"{self.url}/_admin/faults", json=settings, timeout=5)
        response.raise_for_status()

    def reset(self) -> None:
        requests.post(f"{self.url}/_admin/reset", timeout=5).raise_for_status()

    def state(self) -> dict[str, Any]:
        return dict(requests.get(f"{self.url}/_admin/state", timeout=5).json())

    def requests_seen(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.url}/_admin/requests", timeout=5).json()["requests"]

    def env(self, **overrides: str) -> dict[str, str]:
        """The toolkit's environment variables pointing at this simulator."""
        return {
            "CIO_APP_URL": self.url,
            "CIO_TRACK_URL": self.url,
            "CIO_APP_API_KEY": APP_KEY,
            "CIO_SITE_ID": SITE_ID,
            "CIO_TRACK_API_KEY": TRACK_KEY,
            **overrides,
        }


def simulator_process(log: Path, *extra: str) -> Iterator[Sim]:
    """`extra`: more command-line options (e.g. `--region eu`)."""
    port = free_port()
    argv = [
        str(Path(sys.executable).parent / "cio-simulator"),
        "--port",
        str(port),
        "--app-api-key",
        APP_KEY,
        "--site-id",
        SITE_ID,
        "--track-api-key",
        TRACK_KEY,
        "--timeout-hold",
        "3s",
        *extra,
    ]
    with running(argv, port, log_path=log):
        yield Sim(f"http://127.0.0.1:{port}")
