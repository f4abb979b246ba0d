"""Decide, per request, which injected fault (if any) it gets.

One roll per request picks among the configured kinds by probability; an outage window
overrides the roll. Faults apply only to paths under `path_prefix` (all when empty) and never
to the admin endpoints.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

from cio_simulator.config import FaultConfig


@dataclass(frozen=True)
class FaultDecision:
    latency_seconds: float = 0.0
    kind: str | None = None  # "outage", "timeout", "drop", or an HTTP status like "500"

    @property
    def status(self) -> int | None:
        """The HTTP status to answer, for status faults and outages (503)."""
        if self.kind == "outage":
            return 503
        if self.kind is not None and self.kind.isdigit():
            return int(self.kind)
        return None


NO_FAULT = FaultDecision()


class FaultInjector:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.apply(config or FaultConfig())

    def apply(self, config: FaultConfig) -> None:
        """Replace the configuration; outage windows count from now."""
        with self._lock:
            self.config = config
            self.applied_at = time.monotonic()
            self._random = random.Random(config.seed)  # noqa: S311 - fault rolls, not secrets

    def in_outage(self, now: float | None = None) -> bool:
        elapsed = (now if now is not None else time.monotonic()) - self.applied_at
        return any(start <= elapsed < start + length for start, length in self.config.outages)

    def decide(self, path: str) -> FaultDecision:
        config = self.config
        if config.path_prefix and not path.startswith(config.path_prefix):
            return NO_FAULT
        with self._lock:
            jitter = self._random.uniform(0.0, config.jitter_ms) if config.jitter_ms else 0.0
            roll = self._random.random()
        latency = (config.latency_ms + jitter) / 1000.0
        kind: str | None = "outage" if self.in_outage() else _pick(config.rates, roll)
        if kind is not None:
            with self._lock:
                self.counts[kind] += 1
        return FaultDecision(latency, kind) if latency or kind else NO_FAULT


def _pick(rates: dict[str, float], roll: float) -> str | None:
    cumulative = 0.0
    for kind, rate in sorted(rates.items()):
        cumulative += rate
        if roll < cumulative:
            return kind
    return None
