"""Admin endpoints under `/_admin/` (no auth, loopback only): inspect, reset, seed, faults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cio_simulator.config import ConfigError, FaultConfig
from cio_simulator.http import ApiError, Request, Response, Router

if TYPE_CHECKING:
    from cio_simulator.server import Simulator


class AdminApi:
    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    def register(self, router: Router) -> None:
        router.add("GET", "/_admin/health", self.health)
        router.add("GET", "/_admin/state", self.state)
        router.add("GET", "/_admin/stats", self.stats)
        router.add("GET", "/_admin/requests", self.requests)
        router.add("POST", "/_admin/reset", self.reset)
        router.add("GET", "/_admin/faults", self.get_faults)
        router.add("POST", "/_admin/faults", self.set_faults)
        router.add("POST", "/_admin/seed", self.seed)

    def health(self, request: Request) -> Response:
        return Response(200, {"ok": True})

    def state(self, request: Request) -> Response:
        simulator = self.simulator
        return Response(
            200,
            {
                **simulator.workspace.snapshot(),
                "app": simulator.catalog.snapshot(),
                "stats": simulator.stats(),
                "faults": simulator.faults.config.to_dict(),
                "config": _public_config(simulator),
            },
        )

    def stats(self, request: Request) -> Response:
        return Response(200, self.simulator.stats())

    def requests(self, request: Request) -> Response:
        entries = self.simulator.recorder.entries(
            path_prefix=request.arg("path_prefix", "") or "",
            method=request.arg("method", "") or "",
            limit=request.int_arg("limit", 0, highest=1_000_000),
        )
        return Response(200, {"requests": entries})

    def reset(self, request: Request) -> Response:
        self.simulator.reset()
        return Response(200, {"reset": True})

    def get_faults(self, request: Request) -> Response:
        return Response(200, self.simulator.faults.config.to_dict())

    def set_faults(self, request: Request) -> Response:
        data = request.json()
        if not isinstance(data, dict):
            raise ApiError(400, message="fault settings must be a JSON object")
        try:
            config = FaultConfig.from_dict(data)
        except ConfigError as exc:
            raise ApiError(400, message=str(exc)) from exc
        self.simulator.faults.apply(config)
        return Response(200, config.to_dict())

    def seed(self, request: Request) -> Response:
        data = request.json()
        if not isinstance(data, dict):
            raise ApiError(400, message="seed data must be a JSON object")
        return Response(200, {"seeded": self.simulator.catalog.seed(data)})


def _public_config(simulator: Simulator) -> dict[str, Any]:
    config = simulator.config
    return {
        "url": simulator.url,
        "region": config.region,
        "environment_id": config.environment_id,
        "site_id": config.site_id,
        "rate_limit": config.rate_limit,
        "app_rate_limit": config.app_rate_limit,
        "validate_schemas": config.validate_schemas,
    }
