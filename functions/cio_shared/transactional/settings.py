"""The transactional handler's configuration, read once at instance start.

The table of variables: functions/transactional/README.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cio_shared import contract
from cio_shared.common import EnvReader, SettingsError, project_id, topic_path

DAY = 86_400
# Pub/Sub keeps a message 7 days at most, a dead letter 31 days at most, and a replay after
# that is a new publish of the same bytes: 45 days outlasts every way a message comes back.
DEFAULT_CLAIM_TTL_SECONDS = 45 * DAY


@dataclass(frozen=True)
class Settings:
    """Kept out of repr: the App API key."""

    app_api_key: str = field(repr=False)
    app_url: str
    dead_letter_topic: str
    source_topic: str = ""
    project: str = "local-project"
    database: str = "(default)"
    claim_ttl_seconds: int = DEFAULT_CLAIM_TTL_SECONDS
    unknown_outcome: str = "retry"
    timeout_seconds: float = 5.0
    rate_limit_per_second: float = 0.0
    rate_limit_max_wait_ms: int = 2000
    environment: str = "local"

    @property
    def connect_timeout(self) -> float:
        return min(3.05, self.timeout_seconds)

    @property
    def lease_seconds(self) -> float:
        """How long a claim in `sending` is trusted to be an attempt still running: the
        longest attempt (token wait + connect + read timeout) plus a margin. A `sending`
        claim older than this was left by an instance that died mid-send: outcome unknown."""
        return self.rate_limit_max_wait_ms / 1000 + self.connect_timeout + self.timeout_seconds + 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        reader = EnvReader(env)
        project = reader.optional(contract.PROJECT) or project_id()
        source = reader.optional(contract.SOURCE_TOPIC)
        policy = (reader.optional("CIO_TRANSACTIONAL_UNKNOWN_OUTCOME") or "retry").lower()
        if policy not in contract.UNKNOWN_OUTCOME_POLICIES:
            raise SettingsError(
                "CIO_TRANSACTIONAL_UNKNOWN_OUTCOME must be one of "
                f"{list(contract.UNKNOWN_OUTCOME_POLICIES)} (got {policy!r})"
            )
        return cls(
            app_api_key=reader.required("CIO_APP_API_KEY"),
            app_url=_app_url(reader),
            dead_letter_topic=topic_path(project, reader.required(contract.DEAD_LETTER_TOPIC)),
            source_topic=topic_path(project, source) if source else "",
            project=project,
            database=reader.optional(contract.FIRESTORE_DATABASE) or "(default)",
            claim_ttl_seconds=int(
                reader.number(contract.CLAIM_TTL, DEFAULT_CLAIM_TTL_SECONDS, minimum=60)
            ),
            unknown_outcome=policy,
            timeout_seconds=reader.number(contract.CALL_TIMEOUT, 5.0, minimum=0.1),
            rate_limit_per_second=reader.number(contract.RATE_LIMIT, 0.0, minimum=0.0),
            rate_limit_max_wait_ms=int(
                reader.number(contract.RATE_LIMIT_MAX_WAIT, 2000, minimum=0)
            ),
            environment=env.get(contract.ENVIRONMENT, "local"),
        )


def _app_url(reader: EnvReader) -> str:
    override = reader.optional("CIO_APP_URL")
    if override:
        if not override.startswith(("http://", "https://")):
            raise SettingsError(
                f"CIO_APP_URL must start with http:// or https:// (got {override!r})"
            )
        return override.rstrip("/")
    region = reader.required(contract.REGION).lower()
    if region not in contract.APP_URLS:
        raise SettingsError(
            f"{contract.REGION} must be one of {sorted(contract.APP_URLS)} (got {region!r})"
        )
    return contract.APP_URLS[region]


__all__ = ["Settings", "SettingsError"]
