"""Handler discovery: every `functions/<name>/handler.yaml` is a handler to deploy.

The stacks read manifests as data and never import handler code (docs/design.md).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from cio_shared import contract
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stacks.config import SECRET_NAMES, editor_schema

MANIFEST = "handler.yaml"
# functions-framework's ASGI decorators; a public handler must not be served by them.
ASGI_MODULE = "functions_framework.aio"
DEFAULT_FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"
SECRETS = SECRET_NAMES
PREVIOUS = "@previous"  # `<secret>@previous`: the version pinned in the environment file
ENV_VAR = r"^[A-Z][A-Z0-9_]*$"
HANDLER_NAME = re.compile(r"^[a-z][a-z0-9-]{1,14}$")
TOPIC_NAME = r"^[a-z][a-z0-9-]{1,20}$"
# service accounts `cio-<env>-<name>` the platform itself uses (bootstrap and stacks/identities)
RESERVED_NAMES = frozenset({"build", "push", "smoke", "planner", "deployer"})
RESERVED_ENV = frozenset((*contract.INJECTED_VARIABLES, *contract.FIRESTORE_VARIABLES))
Action = Literal[contract.MESSAGE_ACTIONS]  # type: ignore[valid-type]


class HandlerManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The folder name.")
    entry_point: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    description: str = ""
    trigger: Literal["pubsub_push", "http_public"]
    topic: Annotated[str, Field(pattern=TOPIC_NAME)] | None = Field(
        default=None,
        description="pubsub_push only: the event topic it consumes; the stack creates it "
        "(`<prefix>-<env>-<topic>`), its dead-letter topic and the push subscription.",
    )
    carries: list[Action] = Field(
        default_factory=list,
        description="pubsub_push only: the message actions the topic carries (the handler "
        "refuses others as schema_invalid); injected as CIO_TOPIC_ACTIONS.",
    )
    calls_track_api: bool = False
    calls_app_api: bool = Field(
        default=False,
        description="Calls Customer.io's App API (transactional sends): takes a share of the "
        "environment's App API budget (customerio.app_request_budget_per_second), injected as "
        "CIO_RATE_LIMIT_PER_SECOND; never a share of the Track API budget.",
    )
    firestore: bool = Field(
        default=False,
        description="Uses the environment's Firestore claims database: the stack creates "
        "`<prefix>-<env>-claims` with its TTL policy, grants roles/datastore.user on that "
        "database only, and injects CIO_FIRESTORE_DATABASE and CIO_CLAIM_TTL_SECONDS.",
    )
    ordered: bool = Field(
        default=False,
        description="Deliver messages with the same ordering key (the person) one at a time, "
        "in publish order: the push subscription enables message ordering.",
    )
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="env var -> secret (`<secret>` is the latest version; `<secret>@previous` "
        "the version named in the environment's previous_secret_versions, for rotation)",
    )
    publishes: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> HandlerManifest:
        if self.name in RESERVED_NAMES:
            raise ValueError(
                f"folder name {self.name!r} is taken by a platform account "
                f"(cio-<env>-{self.name}); choose another name (reserved: {sorted(RESERVED_NAMES)})"
            )
        if not HANDLER_NAME.match(self.name):
            raise ValueError(
                f"folder name {self.name!r} must be 2-15 lowercase letters, digits or dashes "
                "(it becomes part of resource and service-account names)"
            )
        if self.trigger == "pubsub_push" and self.topic is None:
            raise ValueError("topic: a pubsub_push handler names the topic it consumes")
        if self.trigger == "pubsub_push" and not self.carries:
            raise ValueError(
                "carries: a pubsub_push handler lists the message actions its topic carries "
                f"(any of {list(contract.MESSAGE_ACTIONS)})"
            )
        if self.trigger == "http_public" and (self.topic is not None or self.carries):
            raise ValueError("topic, carries: only pubsub_push handlers consume a topic")
        if self.calls_track_api and self.calls_app_api:
            raise ValueError(
                "calls_track_api, calls_app_api: a handler takes a share of one budget "
                "(CIO_RATE_LIMIT_PER_SECOND); split the work into two handlers"
            )
        names = [*self.secrets, *self.publishes, *self.env]
        for var in names:
            if not re.match(ENV_VAR, var):
                raise ValueError(f"{var!r} is not an environment variable name (A-Z, 0-9, _)")
            if var in RESERVED_ENV:
                raise ValueError(f"{var} is set by the stack; do not set it in the manifest")
        for var, secret in self.secrets.items():
            if secret.removesuffix(PREVIOUS) not in SECRETS:
                raise ValueError(
                    f"secrets.{var}: unknown secret {secret!r}; known: {list(SECRETS)}"
                )
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"variables set twice: {sorted(duplicates)}")
        return self

    def with_delivery_api(self, api: str) -> HandlerManifest:
        """The manifest as an environment delivering through `api` (`customerio.api`) deploys
        it: a Track API caller then reads the Pipelines key instead of the Track credentials,
        and uses the claims database for the Pipelines path's guards (delivered markers and
        identify timestamps: cio_shared.delivery.pipelines_guard)."""
        if not self.calls_track_api:
            return self
        update: dict[str, object] = {"secrets": contract.delivery_secrets(self.secrets, api)}
        if api == "pipelines":  # the path's guards live in the claims database
            update["firestore"] = True
        return self.model_copy(update=update)

    def secret_names(self) -> list[str]:
        """The secrets this handler reads (and is granted), without version suffixes."""
        return sorted({secret.removesuffix(PREVIOUS) for secret in self.secrets.values()})

    @property
    def public(self) -> bool:
        return self.trigger == "http_public"


def manifest_schema() -> dict[str, object]:
    """functions/handler.schema.json: what editors check `handler.yaml` files against."""
    return editor_schema(HandlerManifest, "Customer.io platform handler manifest")


class ManifestError(Exception):
    """A handler manifest is invalid; the message names the file and the key."""


def load_manifest(path: Path) -> HandlerManifest:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: expected a mapping of keys")
    try:
        manifest = HandlerManifest.model_validate({**raw, "name": path.parent.name})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(manifest)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise ManifestError(f"{path}: {problems}") from None
    main = path.parent / "main.py"
    if manifest.public and main.exists() and _served_by_asgi(main):
        raise ManifestError(
            f"{main}: trigger http_public with functions_framework.aio: functions-framework's "
            "ASGI server (uvicorn's httptools parser) sets no request-line or header-size "
            "limit, and a public URL needs them (docs/security.md); use @functions_framework.http"
        )
    return manifest


def _served_by_asgi(main: Path) -> bool:
    """Whether `main.py` imports functions-framework's ASGI decorators (ASGI_MODULE)."""
    for node in ast.walk(ast.parse(main.read_text(encoding="utf-8"), str(main))):
        if isinstance(node, ast.Import) and any(
            alias.name.startswith(ASGI_MODULE) for alias in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            names = {f"{node.module}.{alias.name}" for alias in node.names}
            if node.module.startswith(ASGI_MODULE) or ASGI_MODULE in names:
                return True
    return False


def discover(functions_dir: Path) -> list[HandlerManifest]:
    """All handlers, sorted by name, so synth output is stable."""
    return [load_manifest(p) for p in sorted(functions_dir.glob(f"*/{MANIFEST}"))]
