"""The typed environment model: `environments/<env>.yaml` is validated here before any synth.

Every field has a default that suits a small environment, so a file states what differs.
Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from cio_shared import contract
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from stacks import locations

SECRET_NAMES = contract.SECRET_NAMES
ENV_NAME = re.compile(r"^[a-z][a-z0-9]{1,11}$")
PROJECT_ID = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"
LABEL_KEY = r"^[a-z][a-z0-9_-]{0,62}$"
LABEL_VALUE = r"^[a-z0-9_-]{0,63}$"
KMS_KEY = r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$"
PRINCIPAL = r"^(serviceAccount|user|group|domain|principal|principalSet):.+$"
KMS_KEY_LOCATION = re.compile(r"^projects/[^/]+/locations/([^/]+)/")
# Keys that were renamed: the old name fails with the new one, never silently ignored.
RENAMED = {
    "kms_key": "kms_keys: one key per location, e.g. {europe-west1: projects/P/locations/"
    "europe-west1/keyRings/R/cryptoKeys/K} (Secret Manager, BigQuery and Pub/Sub each need "
    "a key in their own location)",
    "transactional_topic": "handlers.<name>.enabled: a topic exists when a handler folder "
    "consumes it (functions/<name>/handler.yaml `topic:`); turn one off per environment with "
    "`handlers: {<name>: {enabled: false}}`",
}
RENAMED_BIGQUERY = {
    "table_expiration_days": "partition_expiration_days (rows are dropped per day "
    "partition; a table expiration would delete the whole table)",
}


def _as_text(value: object) -> object:
    """YAML reads `3` as a number; version numbers are kept as text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


VersionNumber = Annotated[str, BeforeValidator(_as_text), Field(pattern=r"^[1-9][0-9]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HandlerScaling(Strict):
    """How one handler scales; the product max_instances x concurrency bounds in-flight calls."""

    enabled: bool = Field(
        default=True,
        description="False: this environment gets neither the handler nor the topic it consumes.",
    )
    min_instances: Annotated[int, Field(ge=0, le=100)] = 0
    max_instances: Annotated[int, Field(ge=1, le=1000)] = 5
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 16
    cpu: Literal["0.167", "0.333", "0.583", "1", "2", "4"] = "1"
    memory: Annotated[str, Field(pattern=r"^[0-9]+(Mi|Gi)$")] = "512Mi"
    timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    request_share: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None,
        description="Fraction of the workspace request budget for this handler "
        "(default: an equal share among the handlers that call the Track API).",
    )
    app_request_share: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None,
        description="Fraction of the App API budget (customerio.app_request_budget_per_second) "
        "for this handler (default: an equal share among the handlers that call the App API). "
        "A separate budget: it never adds up with request_share.",
    )


class PubsubSettings(Strict):
    """Retry and dead-letter policy of the push subscriptions.

    Defaults: 10 s..600 s exponential backoff and 30 attempts, about 4 hours of retries
    before a message is dead-lettered (marked retryable and replayed after the fix).
    """

    min_backoff_seconds: Annotated[int, Field(ge=0, le=600)] = 10
    max_backoff_seconds: Annotated[int, Field(ge=0, le=600)] = 600
    max_delivery_attempts: Annotated[int, Field(ge=5, le=100)] = 30
    ack_deadline_seconds: Annotated[int, Field(ge=10, le=600)] = 120
    message_retention_days: Annotated[int, Field(ge=1, le=7)] = 7
    dead_letter_retention_days: Annotated[int, Field(ge=1, le=31)] = 14

    @model_validator(mode="after")
    def _backoff_order(self) -> PubsubSettings:
        if self.min_backoff_seconds > self.max_backoff_seconds:
            raise ValueError(
                f"min_backoff_seconds ({self.min_backoff_seconds}) must not exceed "
                f"max_backoff_seconds ({self.max_backoff_seconds})"
            )
        return self


class CustomerIoSettings(Strict):
    region: Literal["us", "eu"] = "us"
    api: Literal["track", "pipelines"] = Field(
        default="track",
        description="Where track and identify deliver: the Track API (existing workspaces) or "
        "the Pipelines API (Customer.io's recommendation for new integrations; README: which "
        "Customer.io API). Pipelines reads the pipelines-api-key secret instead of the site "
        "id and Track API key.",
    )
    request_budget_per_second: Annotated[int, Field(ge=1, le=3000)] = Field(
        default=100,
        description="Track API requests/s the whole environment may make to the workspace.",
    )
    app_request_budget_per_second: Annotated[int, Field(ge=1, le=100)] = Field(
        default=10,
        description="App API requests/s (transactional sends) the whole environment may make. "
        "Customer.io documents about 100/s for the workspace's transactional endpoints, shared "
        "with every other App API caller (other apps, scripts, cio-doctor), so the default "
        "takes a tenth; the limit of 100 is Customer.io's.",
    )
    call_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    batch_max_wait_ms: Annotated[int, Field(ge=0, le=5000)] = 25
    rate_limit_max_wait_ms: Annotated[int, Field(ge=0, le=60000)] = Field(
        default=10000,
        description="How long a delivery may wait for its instance's request budget before "
        "it answers retry. Under Customer.io throttling a longer wait holds deliveries instead "
        "of bouncing them through Pub/Sub: bench_delivery's throttled run with 10 s instead of "
        "2 s answered 5 instead of 16020 retries and used 3.2 instead of 26.2 ms of CPU per "
        "delivered event, with the same 429s and throughput (bench/README.md). Counted in "
        "each handler's timeout budget.",
    )


class BigQuerySettings(Strict):
    location: str = Field(default="EU", description="Dataset location: EU, US or a region.")
    partition_expiration_days: Annotated[int, Field(ge=1)] | None = Field(
        default=400,
        description="Days a partition of webhook_events is kept (None: forever).",
    )
    partitioning: Literal["DAY", "HOUR", "MONTH"] = "DAY"
    ledger_retention_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        default=30,
        description="Days the delivery ledger (the handlers' decision lines, routed by a log "
        "sink into cio_<env>_ledger) keeps a partition: the ledger dataset's default partition "
        "expiration, so it also covers tables the sink creates itself.",
    )
    readers: list[Annotated[str, Field(pattern=PRINCIPAL)]] = Field(
        default_factory=list,
        description="Read the reporting views (no personal data) in cio_<env>_reporting.",
    )
    raw_readers: list[Annotated[str, Field(pattern=PRINCIPAL)]] = Field(
        default_factory=list,
        description="Read the raw webhook events (personal data) in cio_<env>_analytics: "
        "a separate, named group, kept small.",
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return _reject_renamed(data, RENAMED_BIGQUERY)

    @field_validator("location")
    @classmethod
    def _known_location(cls, value: str) -> str:
        return _known(value, locations.bigquery_locations(), "BigQuery location")


class MonitoringSettings(Strict):
    notification_channels: list[
        Annotated[str, Field(pattern=r"^projects/[^/]+/notificationChannels/[^/]+$")]
    ] = Field(default_factory=list)
    error_rate_threshold: Annotated[float, Field(gt=0, le=1)] = 0.05
    latency_p99_ms_threshold: Annotated[int, Field(gt=0)] = 5000
    oldest_unacked_seconds_threshold: Annotated[int, Field(gt=0)] = 1800


def _reject_renamed(data: Any, renamed: dict[str, str]) -> Any:
    if isinstance(data, dict):
        for old, new in renamed.items():
            if old in data:
                raise ValueError(f"{old}: renamed; use {new}")
    return data


def _known(value: str, allowed: frozenset[str], what: str) -> str:
    problem = locations.unknown_location(value, allowed, what)
    if problem:
        raise ValueError(problem)
    return value


@dataclass(frozen=True)
class CmekUse:
    """Which Cloud KMS key one encrypted service uses, and the location that key must be in."""

    service: Literal["secretmanager", "bigquery", "pubsub"]
    location: str
    key: str | None


class Environment(Strict):
    """One environment: everything that differs between dev, staging and prod."""

    name: str = Field(description="Environment name; set from the file name.")
    project_id: Annotated[str, Field(pattern=PROJECT_ID)]
    project_number: Annotated[str, Field(pattern=r"^[0-9]{6,20}$")] | None = Field(
        default=None,
        description="GCP project number; when absent it is read with a data source at plan time.",
    )
    region: str = "europe-west1"
    name_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,10}$")] = "cio"
    owner: Annotated[str, Field(pattern=LABEL_VALUE)] = "platform"
    labels: dict[
        Annotated[str, Field(pattern=LABEL_KEY)], Annotated[str, Field(pattern=LABEL_VALUE)]
    ] = Field(default_factory=dict)
    protected: bool = Field(
        default=False, description="Deletion protection and prevent_destroy (production)."
    )
    state_bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")]
    state_prefix: str | None = None
    kms_keys: dict[str, Annotated[str, Field(pattern=KMS_KEY)]] = Field(
        default_factory=dict,
        description="Optional CMEK: Cloud KMS location -> key in that location. With any key "
        "set, every encrypted service needs one: Secret Manager a key per replica location "
        "(`global` with automatic replication), BigQuery one matching the dataset location "
        "(EU -> europe, US -> us), Pub/Sub one in `region`.",
    )
    secret_replica_locations: list[str] = Field(
        default_factory=list,
        description="User-managed replication locations; empty means automatic replication.",
    )
    secret_versions: dict[str, VersionNumber] = Field(
        default_factory=dict,
        description="Secret -> the version number the handlers run (pinned, so a rotation "
        "rolls a new revision: add a version, bump this number, deploy).",
    )
    previous_secret_versions: dict[str, VersionNumber] = Field(
        default_factory=dict,
        description="Secret -> version number still accepted during a key rotation "
        "(e.g. webhook-signing-key: '3'); handlers see it as their `...@previous` variable.",
    )
    deploy_handlers: bool = Field(
        default=True,
        description="False for the first deploy: platform and empty secrets only, "
        "handlers once the secret values are added.",
    )
    customerio: CustomerIoSettings = Field(default_factory=CustomerIoSettings)
    pubsub: PubsubSettings = Field(default_factory=PubsubSettings)
    handlers: dict[str, HandlerScaling] = Field(
        default_factory=dict, description="Per-handler scaling, keyed by handler folder name."
    )
    bigquery: BigQuerySettings = Field(default_factory=BigQuerySettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    publishers: list[Annotated[str, Field(pattern=PRINCIPAL)]] = Field(
        default_factory=list,
        description="Principals allowed to publish to the identify and track topics.",
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return _reject_renamed(data, RENAMED)

    @field_validator("region")
    @classmethod
    def _function_region(cls, value: str) -> str:
        return _known(value, locations.function_regions(), "Cloud Functions 2nd gen region")

    @field_validator("secret_replica_locations")
    @classmethod
    def _secret_locations(cls, value: list[str]) -> list[str]:
        for location in value:
            _known(location, locations.regions(), "Secret Manager location")
        return value

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Environment:
        if not ENV_NAME.match(self.name):
            raise ValueError(
                f"environment name {self.name!r} (the file name) must be 2-12 lowercase "
                "letters or digits, starting with a letter"
            )
        for handler, scaling in self.handlers.items():
            where = f"handlers.{handler}"
            if scaling.min_instances > scaling.max_instances:
                raise ValueError(f"{where}: min_instances exceeds max_instances")
            if self.protected and scaling.min_instances < 1:
                raise ValueError(
                    f"{where}.min_instances: a protected (production) environment needs at "
                    "least 1 warm instance so a cold start never delays delivery"
                )
            cio = self.customerio
            budget = (
                cio.call_timeout_seconds
                + cio.batch_max_wait_ms / 1000
                + cio.rate_limit_max_wait_ms / 1000
            )
            if scaling.timeout_seconds <= budget:
                raise ValueError(
                    f"{where}.timeout_seconds ({scaling.timeout_seconds}) must exceed the "
                    "Customer.io call timeout plus the batching and rate-limit waits "
                    f"({budget:g} s)"
                )
            if self.pubsub.ack_deadline_seconds < scaling.timeout_seconds:
                raise ValueError(
                    f"pubsub.ack_deadline_seconds ({self.pubsub.ack_deadline_seconds}) must be "
                    f">= {where}.timeout_seconds ({scaling.timeout_seconds}), or Pub/Sub "
                    "redelivers while the handler is still working"
                )
        for key in ("secret_versions", "previous_secret_versions"):
            unknown = sorted(set(getattr(self, key)) - set(SECRET_NAMES))
            if unknown:
                raise ValueError(f"{key}: unknown secret(s) {unknown}; known: {list(SECRET_NAMES)}")
        self._check_kms_keys()
        # Two budgets, each split on its own: the Track API's and the App API's.
        for key, budget_key in (
            ("request_share", "customerio.request_budget_per_second"),
            ("app_request_share", "customerio.app_request_budget_per_second"),
        ):
            shares = [getattr(s, key) for s in self.handlers.values() if getattr(s, key)]
            if sum(shares) > 1.0 + 1e-9:
                raise ValueError(
                    f"handlers.*.{key} add up to {sum(shares):g}; they split one budget "
                    f"({budget_key}) and must not exceed 1"
                )
        return self

    def _check_kms_keys(self) -> None:
        """Each key sits in the location it is listed under; each encrypted service has one.

        Secret Manager: https://cloud.google.com/secret-manager/docs/cmek (a replica's key is
        in the replica's location; automatic replication takes a `global` key). BigQuery:
        https://cloud.google.com/bigquery/docs/customer-managed-encryption (the key's location
        matches the dataset's: EU -> europe, US -> us).
        """
        for location, key in self.kms_keys.items():
            _known(location, locations.kms_locations(), "Cloud KMS location")
            match = KMS_KEY_LOCATION.match(key)
            if match and match[1] != location:
                raise ValueError(
                    f"kms_keys.{location}: the key is in location {match[1]!r}; list it under "
                    f"`{match[1]}:` or use a key ring in {location!r}"
                )
        if not self.kms_keys:
            return
        missing = [use for use in self.cmek_requirements() if use.key is None]
        if missing:
            needs = "; ".join(f"{u.service} needs a key in {u.location!r}" for u in missing)
            raise ValueError(
                f"kms_keys: {needs}. Add `{missing[0].location}: projects/<kms-project>/"
                f"locations/{missing[0].location}/keyRings/<ring>/cryptoKeys/<key>` "
                "(a key ring's location is fixed when it is created)"
            )

    def cmek_requirements(self) -> list[CmekUse]:
        """The key each encrypted service uses (empty without CMEK)."""
        if not self.kms_keys:
            return []
        secret_locations = self.secret_replica_locations or ["global"]
        wanted: list[tuple[Literal["secretmanager", "bigquery", "pubsub"], str]] = [
            *(("secretmanager", loc) for loc in secret_locations),
            ("bigquery", locations.kms_location_for_bigquery(self.bigquery.location)),
            ("pubsub", self.region),
        ]
        return [CmekUse(service, loc, self.kms_keys.get(loc)) for service, loc in wanted]

    def kms_key_for(self, service: str, location: str) -> str | None:
        for use in self.cmek_requirements():
            if use.service == service and use.location == location:
                return use.key
        return None

    def scaling(self, handler: str) -> HandlerScaling:
        return self.handlers.get(handler) or HandlerScaling()

    def enabled(self, handler: str) -> bool:
        return self.scaling(handler).enabled

    def resource_name(self, purpose: str) -> str:
        """`cio-<env>-<purpose>`, the name of every resource."""
        return f"{self.name_prefix}-{self.name}-{purpose}"

    def dataset_name(self, purpose: str) -> str:
        """BigQuery names allow no dashes: `cio_<env>_<purpose>`."""
        return self.resource_name(purpose).replace("-", "_")


class ConfigError(Exception):
    """An environment file is missing, unreadable or invalid; the message says where and why."""


def _describe(error: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid environment file ({error.error_count()} problem(s))"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see environments/schema.json)"
        elif item["type"] == "missing":
            message = "required key is missing"
        lines.append(f"  - {key}: {message}" if key else f"  - {message}")
    return "\n".join(lines)


def load_environment(path: Path) -> Environment:
    """Read and validate one environment file; its name is the file's stem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    if "name" in raw and raw["name"] != path.stem:
        raise ConfigError(f"{path}: name: {raw['name']!r} differs from the file name {path.stem!r}")
    try:
        return Environment.model_validate({**raw, "name": path.stem})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def environment_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.yaml") if p.is_file())


def load_all(folder: Path) -> list[Environment]:
    files = environment_files(folder)
    if not files:
        raise ConfigError(f"{folder}: no environment files (*.yaml)")
    return [load_environment(p) for p in files]


DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "environments"


def load_environments(
    names: Sequence[str] | None = None, folder: Path | None = None
) -> list[Environment]:
    """Every environment file, or just the named ones (validated before any synth)."""
    folder = folder or DEFAULT_FOLDER
    if not names:
        return load_all(folder)
    return [load_environment(folder / f"{name}.yaml") for name in names]


def editor_schema(model: type[BaseModel], title: str) -> dict[str, object]:
    """The model's JSON Schema for editors; `name` comes from the file or folder name."""
    schema = model.model_json_schema()
    schema["properties"].pop("name", None)
    schema["required"] = [r for r in schema.get("required", []) if r != "name"]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = title
    return schema


def json_schema() -> dict[str, object]:
    return editor_schema(Environment, "Customer.io platform environment")
