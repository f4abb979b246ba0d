"""Handler configuration from environment variables, read once at instance start.

In the cloud the stack injects every variable (the credentials from Secret Manager); locally
they come from the shell. A missing or malformed variable fails the instance at start with a
message naming the variable, never at the first delivery. See functions/README.md for the table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cio_shared import contract
from cio_shared.common import EnvReader, SettingsError, project_id, topic_path
from cio_shared.contract import PIPELINES_URLS, TRACK_URLS

__all__ = ["PIPELINES_URLS", "TRACK_URLS", "Settings", "SettingsError"]

UNKNOWN_OUTCOME = "CIO_PIPELINES_UNKNOWN_OUTCOME"
DEFAULT_CLAIM_TTL_SECONDS = 45 * 24 * 3600  # as the transactional claims' default


@dataclass(frozen=True)
class Settings:
    """Kept out of repr (and so of str, logs and tracebacks that print it): the API keys.

    `delivery_api` is `track` (site id + Track API key, `track_url`) or `pipelines` (the
    Pipelines API key, `pipelines_url`); only the chosen API's credentials are required.
    """

    site_id: str
    track_api_key: str = field(repr=False)
    track_url: str
    dead_letter_topic: str
    source_topic: str = ""
    topic_actions: frozenset[str] = frozenset()
    project: str = "local-project"
    timeout_seconds: float = 5.0
    rate_limit_per_second: float = 0.0
    rate_limit_max_wait_ms: int = 2000
    rate_limit_adaptive: bool = True
    batch_enabled: bool = True
    batch_max_wait_ms: int = 25
    batch_max_items: int = 100
    http_pool_size: int = 32
    environment: str = "local"
    delivery_api: str = "track"
    pipelines_api_key: str = field(default="", repr=False)
    pipelines_url: str = ""
    # the Pipelines path's guards (pipelines_guard): Firestore database ("" = no ledger),
    # record lifetime, and what an unknown outcome does (retry | hold)
    firestore_database: str = ""
    claim_ttl_seconds: int = DEFAULT_CLAIM_TTL_SECONDS
    unknown_outcome: str = "retry"

    @property
    def connect_timeout(self) -> float:
        return min(3.05, self.timeout_seconds)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reader = EnvReader(env)
        project = reader.optional("GOOGLE_CLOUD_PROJECT") or project_id()
        api = (reader.optional(contract.DELIVERY_API) or "track").strip().lower()
        if api not in contract.DELIVERY_APIS:
            raise SettingsError(
                f"{contract.DELIVERY_API} must be one of {list(contract.DELIVERY_APIS)} "
                f"(got {api!r})"
            )
        track = api == "track"
        settings = cls(
            site_id=reader.required("CIO_SITE_ID") if track else "",
            track_api_key=reader.required("CIO_TRACK_API_KEY") if track else "",
            track_url=_base_url(reader, "CIO_TRACK_URL", TRACK_URLS) if track else "",
            dead_letter_topic=topic_path(project, reader.required(contract.DEAD_LETTER_TOPIC)),
            source_topic=_optional_topic(project, reader.optional(contract.SOURCE_TOPIC)),
            topic_actions=_actions(reader.optional(contract.TOPIC_ACTIONS)),
            timeout_seconds=reader.number("CIO_TIMEOUT_SECONDS", 5.0, minimum=0.1),
            rate_limit_per_second=reader.number("CIO_RATE_LIMIT_PER_SECOND", 0.0, minimum=0.0),
            rate_limit_max_wait_ms=int(
                reader.number(contract.RATE_LIMIT_MAX_WAIT, 2000, minimum=0)
            ),
            rate_limit_adaptive=reader.flag("CIO_RATE_LIMIT_ADAPTIVE", True),
            batch_enabled=reader.flag("CIO_BATCH_ENABLED", True),
            batch_max_wait_ms=int(reader.number("CIO_BATCH_MAX_WAIT_MS", 25, minimum=0)),
            batch_max_items=int(reader.number("CIO_BATCH_MAX_ITEMS", 100, minimum=1, maximum=1000)),
            http_pool_size=int(reader.number("CIO_HTTP_POOL_SIZE", 32, minimum=1)),
            environment=env.get("CIO_ENVIRONMENT", "local"),
            project=project,
            delivery_api=api,
            pipelines_api_key="" if track else reader.required(contract.PIPELINES_KEY_VARIABLE),
            pipelines_url="" if track else _base_url(reader, "CIO_PIPELINES_URL", PIPELINES_URLS),
            firestore_database="" if track else reader.optional(contract.FIRESTORE_DATABASE) or "",
            claim_ttl_seconds=int(
                reader.number(contract.CLAIM_TTL, DEFAULT_CLAIM_TTL_SECONDS, minimum=60)
            ),
            unknown_outcome=_unknown_outcome(reader),
        )
        return settings


def _unknown_outcome(reader: EnvReader) -> str:
    policy = (reader.optional(UNKNOWN_OUTCOME) or "retry").strip().lower()
    if policy not in contract.UNKNOWN_OUTCOME_POLICIES:
        raise SettingsError(
            f"{UNKNOWN_OUTCOME} must be one of {list(contract.UNKNOWN_OUTCOME_POLICIES)} "
            f"(got {policy!r})"
        )
    return policy


def _optional_topic(project: str, value: str | None) -> str:
    return topic_path(project, value) if value else ""


def _actions(value: str | None) -> frozenset[str]:
    """`CIO_TOPIC_ACTIONS` (from the manifest's `carries`), checked against the contract."""
    actions = frozenset(a.strip() for a in (value or "").split(",") if a.strip())
    unknown = sorted(actions - set(contract.MESSAGE_ACTIONS))
    if unknown:
        raise SettingsError(
            f"{contract.TOPIC_ACTIONS} names unknown action(s) {unknown}; "
            f"known: {list(contract.MESSAGE_ACTIONS)}"
        )
    return actions


def _base_url(reader: EnvReader, override_variable: str, urls: Mapping[str, str]) -> str:
    """The API's base URL: the override (local: the simulator), else the region's host."""
    override = reader.optional(override_variable)
    if override:
        if not override.startswith(("http://", "https://")):
            raise SettingsError(
                f"{override_variable} must start with http:// or https:// (got {override!r})"
            )
        return override.rstrip("/")
    region = reader.required("CIO_REGION").lower()
    if region not in urls:
        raise SettingsError(f"CIO_REGION must be one of {sorted(urls)} (got {region!r})")
    return urls[region]
