"""Where settings come from: an environment file, environment variables, Secret Manager.

The environment file (`environments/<env>.yaml`) is read with `yaml.safe_load` for the few
fields the toolkit needs; the stacks' model validates it fully, and the toolkit must not
import the stacks. Credentials come from the environment variables of docs/design.md or, for
those unset, from the environment's Secret Manager secrets `<prefix>-<env>-<logical>`.
Secret values are wrapped in `Secret`, whose repr and str never show the value.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cio_doctor.findings import CannotCheck

REGION_HOSTS = {
    "us": ("https://track.customer.io", "https://api.customer.io"),
    "eu": ("https://track-eu.customer.io", "https://api-eu.customer.io"),
}
# logical secret -> environment variable (docs/design.md: Secrets, Local environment variables)
SECRET_ENV = {
    "site-id": "CIO_SITE_ID",
    "track-api-key": "CIO_TRACK_API_KEY",
    "app-api-key": "CIO_APP_API_KEY",
    "webhook-signing-key": "CIO_WEBHOOK_SIGNING_KEY",
    "pipelines-api-key": "CIO_PIPELINES_API_KEY",
}
DEFAULT_BUDGET_PER_SECOND = 100
_ENV_NAME = re.compile(r"^[a-z][a-z0-9]{1,11}$")


class ConfigError(CannotCheck):
    """Bad or missing configuration; the message names the file, variable or secret."""


class Secret:
    """A credential: usable via `reveal()`, never shown by print, repr, str or JSON."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret([redacted])"

    __str__ = __repr__


@dataclass(frozen=True)
class EnvFile:
    """The fields of environments/<env>.yaml the toolkit uses."""

    name: str
    project_id: str
    gcp_region: str = "europe-west1"
    prefix: str = "cio"
    cio_region: str = "us"
    delivery_api: str = "track"  # customerio.api: where track and identify deliver
    request_budget_per_second: int = DEFAULT_BUDGET_PER_SECOND
    handlers: tuple[str, ...] = ()
    # the event topics the deployed handlers consume (their manifests' `topic:`)
    event_topics: tuple[str, ...] = ("identify", "track")
    error_rate_threshold: float = 0.05
    # logical secret -> version still accepted during a rotation (previous_secret_versions)
    previous_versions: tuple[tuple[str, str], ...] = ()

    def resource(self, purpose: str) -> str:
        return f"{self.prefix}-{self.name}-{purpose}"


def environments_dir() -> Path:
    """`CIO_DOCTOR_ENV_DIR`, else ./environments, else the repository's environments/."""
    override = os.environ.get("CIO_DOCTOR_ENV_DIR")
    if override:
        return Path(override)
    local = Path.cwd() / "environments"
    if local.is_dir():
        return local
    return Path(__file__).resolve().parents[2] / "environments"


def _event_topics(functions: Path, settings: dict[str, Any]) -> tuple[str, ...]:
    """Topics of the handler manifests beside the environment files, less disabled handlers;
    the contract's two topics when no handler folders are at hand."""
    import yaml

    topics = set()
    for manifest in functions.glob("*/handler.yaml"):
        enabled = (settings.get(manifest.parent.name) or {}).get("enabled", True)
        topic = (yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}).get("topic")
        if topic and enabled:
            topics.add(str(topic))
    return tuple(sorted(topics)) or ("identify", "track")


def load_env_file(env: str) -> EnvFile:
    """Read `env` (a name like `dev`, or a path to a YAML file)."""
    import yaml

    path = Path(env) if env.endswith((".yaml", ".yml")) else environments_dir() / f"{env}.yaml"
    name = path.stem
    if not _ENV_NAME.match(name):
        raise ConfigError(f"environment name {name!r} must be 2-12 lowercase letters or digits")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no environment file {path}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read environment file ({type(exc).__name__})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("project_id"), str):
        raise ConfigError(f"{path}: needs a top-level project_id")
    cio: dict[str, Any] = _mapping(raw, "customerio")
    region = str(cio.get("region", "us"))
    if region not in REGION_HOSTS:
        raise ConfigError(f"{path}: customerio.region must be us or eu, not {region!r}")
    handlers: dict[str, Any] = _mapping(raw, "handlers")
    previous: dict[str, Any] = _mapping(raw, "previous_secret_versions")
    monitoring: dict[str, Any] = _mapping(raw, "monitoring")
    try:
        return EnvFile(
            name=name,
            project_id=raw["project_id"],
            gcp_region=str(raw.get("region", "europe-west1")),
            prefix=str(raw.get("name_prefix", "cio")),
            cio_region=region,
            delivery_api=str(cio.get("api", "track")),
            request_budget_per_second=int(
                cio.get("request_budget_per_second", DEFAULT_BUDGET_PER_SECOND)
            ),
            handlers=tuple(sorted(handlers)),
            event_topics=_event_topics(path.parent.parent / "functions", handlers),
            previous_versions=tuple(sorted((str(k), str(v)) for k, v in previous.items())),
            error_rate_threshold=float(monitoring.get("error_rate_threshold", 0.05)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: a value has the wrong type ({exc})") from None


def _mapping(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


@dataclass
class Settings:
    """Everything a command needs to reach Customer.io; credentials load on first use."""

    env: EnvFile | None
    region: str
    track_url: str
    app_url: str
    timeout: float = 10.0
    _secrets: dict[str, Secret] = field(default_factory=dict, repr=False)
    sources: dict[str, str] = field(default_factory=dict)

    def secret(self, logical: str) -> Secret:
        """The credential `logical` (see SECRET_ENV) from the environment or Secret Manager."""
        if logical not in self._secrets:
            loaded = self._load(logical)
            if loaded is None:
                raise ConfigError(
                    f"no {logical} credential: set environment variable {SECRET_ENV[logical]} "
                    "or use --env to read it from Secret Manager"
                )
            self._secrets[logical] = loaded
        return self._secrets[logical]

    def _load(self, logical: str) -> Secret | None:
        value = os.environ.get(SECRET_ENV[logical])
        if value:
            self.sources[logical] = f"env:{SECRET_ENV[logical]}"
            return Secret(value)
        if self.env is None:
            return None
        secret_id = self.env.resource(logical)
        self.sources[logical] = f"secret-manager:{secret_id}"
        return Secret(access_secret(self.env.project_id, secret_id))

    def track_auth(self) -> tuple[str, str]:
        return self.secret("site-id").reveal(), self.secret("track-api-key").reveal()

    def previous_secret(self, logical: str) -> Secret | None:
        """The version still accepted during a rotation: `<VAR>_PREVIOUS`, else the env file's
        previous_secret_versions read from Secret Manager."""
        value = os.environ.get(f"{SECRET_ENV[logical]}_PREVIOUS")
        if value:
            return Secret(value)
        version = dict(self.env.previous_versions).get(logical) if self.env else None
        if self.env is None or version is None:
            return None
        return Secret(access_secret(self.env.project_id, self.env.resource(logical), version))

    def app_token(self) -> str:
        return self.secret("app-api-key").reveal()


def access_secret(project: str, secret_id: str, version: str = "latest") -> str:
    """Read one secret version through cio_shared's client factory (ADC, or a local server)."""
    from cio_shared.common import secret_manager_client

    from cio_doctor.gcloud import google_client, google_error

    name = f"projects/{project}/secrets/{secret_id}/versions/{version}"
    client = google_client(secret_manager_client, "Secret Manager")
    try:
        response = client.access_secret_version(request={"name": name}, timeout=10)
    except Exception as exc:
        raise ConfigError(f"cannot read secret {name}: {google_error(exc)}") from None
    return str(response.payload.data.decode("utf-8"))


def settings(env: str | None, region: str | None = None, timeout: float = 10.0) -> Settings:
    """Combine --env, CIO_REGION, CIO_TRACK_URL and CIO_APP_URL into Settings."""
    env_file = load_env_file(env) if env else None
    chosen = region or os.environ.get("CIO_REGION") or (env_file.cio_region if env_file else "us")
    chosen = chosen.lower()
    if chosen not in REGION_HOSTS:
        raise ConfigError(f"region must be us or eu, not {chosen!r}")
    track, app = REGION_HOSTS[chosen]
    return Settings(
        env=env_file,
        region=chosen,
        track_url=(os.environ.get("CIO_TRACK_URL") or track).rstrip("/"),
        app_url=(os.environ.get("CIO_APP_URL") or app).rstrip("/"),
        timeout=timeout,
    )


def describe(s: Settings) -> dict[str, Any]:
    """The non-secret settings, for reports."""
    return {
        "environment": s.env.name if s.env else None,
        "project_id": s.env.project_id if s.env else None,
        "region": s.region,
        "track_url": s.track_url,
        "app_url": s.app_url,
        "credential_sources": dict(s.sources),
    }
