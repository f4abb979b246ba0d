"""Simulator settings: credentials, region, rate limit and fault injection.

`FaultConfig` is what `--fault`, `--latency-ms`, `--outage` ... set on the command line and what
`POST /_admin/faults` replaces at run time; both go through `FaultConfig.from_dict`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")
_SPECIAL_FAULTS = ("timeout", "drop")


class ConfigError(ValueError):
    """A setting that cannot be understood; the message says which and why."""


def parse_duration(text: str) -> float:
    """`"5s"`, `"250ms"`, `"1.5"` (seconds) -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"duration {text!r} is not like 5s, 250ms or 1.5")
    value = float(match.group(1))
    return value / 1000.0 if match.group(2) == "ms" else value


def parse_outage(text: str) -> tuple[float, float]:
    """`"5s+3s"` -> (start 5.0, duration 3.0) seconds after the faults were set."""
    start, sep, duration = text.partition("+")
    if not sep:
        raise ConfigError(f"outage {text!r} is not like START+DURATION, e.g. 5s+3s")
    return parse_duration(start), parse_duration(duration)


def parse_fault(text: str) -> tuple[str, float]:
    """`"500:0.1"`, `"timeout:0.05"`, `"drop:0.02"` -> (kind, probability)."""
    kind, sep, rate_text = text.partition(":")
    kind = kind.strip().lower()
    if not sep:
        raise ConfigError(f"fault {text!r} is not like STATUS:RATE (500:0.1) or timeout:RATE")
    if kind not in _SPECIAL_FAULTS and not (kind.isdigit() and 400 <= int(kind) <= 599):
        raise ConfigError(f"fault kind {kind!r} must be an HTTP status 400-599, timeout or drop")
    try:
        rate = float(rate_text)
    except ValueError as exc:
        raise ConfigError(f"fault rate {rate_text!r} is not a number") from exc
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"fault rate {rate} must be between 0 and 1")
    return kind, rate


@dataclass
class FaultConfig:
    """What goes wrong, how often, and where.

    `rates` maps a kind (`"500"`, `"429"`, `"timeout"`, `"drop"`) to a probability; the kinds
    are drawn in one roll, so their sum should stay <= 1. `path_prefix` limits every fault
    (latency included) to matching paths. `outages` are (start, duration) windows in seconds
    counted from when this config was applied; inside one, every matching request gets 503.
    With `after_store`, an injected 5xx is answered after the request was processed and stored
    (what a real outage can do); otherwise an injected failure never changes state.
    """

    rates: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    timeout_hold_seconds: float = 10.0
    outages: list[tuple[float, float]] = field(default_factory=list)
    path_prefix: str = ""
    after_store: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        total = sum(self.rates.values())
        if total > 1.0 + 1e-9:
            raise ConfigError(f"fault rates add up to {total:.3f}, more than 1")
        if self.latency_ms < 0 or self.jitter_ms < 0 or self.timeout_hold_seconds < 0:
            raise ConfigError("latency, jitter and timeout hold must not be negative")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        """Build from the admin endpoint's JSON (same names as the CLI, see README)."""
        known = {
            "faults",
            "rates",
            "latency_ms",
            "jitter_ms",
            "timeout_hold_seconds",
            "timeout_hold",
            "outage",
            "outages",
            "path_prefix",
            "after_store",
            "seed",
        }
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown fault settings: {sorted(unknown)}; known: {sorted(known)}")
        rates: dict[str, float] = {}
        for token in data.get("faults", []):
            kind, rate = parse_fault(str(token))
            rates[kind] = rate
        for kind, rate in dict(data.get("rates", {})).items():
            rates[parse_fault(f"{kind}:{rate}")[0]] = float(rate)
        outages = [parse_outage(str(o)) for o in _as_list(data.get("outage"))]
        outages += [_outage_item(o) for o in data.get("outages", [])]
        hold = data.get("timeout_hold_seconds", data.get("timeout_hold", 10.0))
        return cls(
            rates=rates,
            latency_ms=float(data.get("latency_ms", 0.0)),
            jitter_ms=float(data.get("jitter_ms", 0.0)),
            timeout_hold_seconds=parse_duration(hold) if isinstance(hold, str) else float(hold),
            outages=outages,
            path_prefix=str(data.get("path_prefix", "")),
            after_store=bool(data.get("after_store", False)),
            seed=data.get("seed"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _outage_item(item: Any) -> tuple[float, float]:
    if isinstance(item, str):
        return parse_outage(item)
    if isinstance(item, list | tuple) and len(item) == 2:
        return float(item[0]), float(item[1])
    raise ConfigError(f"outage {item!r} is not like '5s+3s' or [5, 3]")


@dataclass
class SimulatorConfig:
    """Everything a simulator instance needs; defaults suit local runs and tests."""

    host: str = "127.0.0.1"
    port: int = 0
    site_id: str = "sim-site-id"
    track_api_key: str = "sim-track-api-key"
    app_api_key: str = "sim-app-api-key"
    pipelines_api_key: str = "sim-pipelines-api-key"
    region: str = "us"
    # The region whose hosts know the Pipelines key (None: this simulator's). A simulator that
    # plays the other region's host refuses the key with a 401, as a workspace's key is known
    # only in its own region (pipelines_api.authenticate).
    pipelines_key_region: str | None = None
    environment_id: int = 1
    rate_limit: float | None = None
    rate_burst: float | None = None
    app_rate_limit: float | None = None
    # Pipelines API requests/s (Customer.io documents 3000 requests per 3 seconds)
    pipelines_rate_limit: float | None = None
    validate_schemas: bool = True
    faults: FaultConfig = field(default_factory=FaultConfig)
    request_log_size: int = 10_000
    log_requests: bool = False

    def __post_init__(self) -> None:
        if self.region not in ("us", "eu"):
            raise ConfigError(f"region {self.region!r} must be us or eu")
        if self.pipelines_key_region not in (None, "us", "eu"):
            raise ConfigError(f"pipelines_key_region {self.pipelines_key_region!r}: us or eu")
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(f"host {self.host!r}: the simulator binds loopback addresses only")
        for name in ("rate_limit", "app_rate_limit", "pipelines_rate_limit"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive (or unset for no limit)")
