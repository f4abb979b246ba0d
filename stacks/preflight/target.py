"""What the checks look at: the environment file, the deployed handlers, the bootstrap's names."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from stacks.config import Environment
from stacks.manifests import PREVIOUS, HandlerManifest, ManifestError, discover

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = REPO / "functions"


def _bootstrap_importable() -> None:
    """`bootstrap/` is not an installed package, but `stacks` already runs from its checkout
    (environments/, functions/), so the checkout's root goes on the path when it is missing."""
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))


class TargetError(Exception):
    """A handler manifest or bootstrap/config.yaml is invalid; the message says which."""


@dataclass(frozen=True)
class SecretRead:
    """One secret version a deployed handler reads: `version` None means `latest`."""

    logical: str
    secret_id: str
    version: str | None
    pinned_by: str  # the environment-file key that pins it ("" for latest)
    handlers: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    env: Environment
    manifests: tuple[HandlerManifest, ...]
    pool_id: str
    provider_id: str
    env_file: str
    project_number: str | None = None
    apis: frozenset[str] = field(default_factory=frozenset)

    @property
    def project_id(self) -> str:
        return self.env.project_id

    def deployed(self) -> tuple[HandlerManifest, ...]:
        return self.manifests if self.env.deploy_handlers else ()

    def public_handlers(self) -> list[str]:
        return [m.name for m in self.deployed() if m.public]

    def secret_reads(self) -> list[SecretRead]:
        """Every (secret, version) a deployed handler reads, as the stack wires it."""
        readers: dict[tuple[str, str | None, str], set[str]] = {}
        key: tuple[str, str | None, str]
        for manifest in self.deployed():
            for reference in manifest.secrets.values():
                logical = reference.removesuffix(PREVIOUS)
                if reference.endswith(PREVIOUS):
                    version = self.env.previous_secret_versions.get(logical)
                    if version is None:
                        continue  # no rotation in progress: the variable stays unset
                    key = (logical, version, "previous_secret_versions")
                else:
                    pinned = self.env.secret_versions.get(logical)
                    key = (logical, pinned, "secret_versions" if pinned else "")
                readers.setdefault(key, set()).add(manifest.name)
        return [
            SecretRead(logical, self.env.resource_name(logical), version, by, tuple(sorted(names)))
            for (logical, version, by), names in sorted(
                readers.items(), key=lambda item: (item[0][0], item[0][2], item[0][1] or "")
            )
        ]


def load_target(env: Environment, env_dir: Path | None) -> Target:
    """The target of one environment; raises TargetError on a bad manifest or bootstrap config."""
    _bootstrap_importable()
    from bootstrap.apis import required_apis
    from bootstrap.settings import BootstrapConfigError, load_config

    try:
        config = load_config()
        manifests = tuple(
            m.with_delivery_api(env.customerio.api)
            for m in discover(FUNCTIONS)
            if env.enabled(m.name)
        )
    except (BootstrapConfigError, ManifestError) as exc:
        raise TargetError(str(exc)) from None
    env_file = (env_dir or REPO / "environments") / f"{env.name}.yaml"
    try:
        shown = str(env_file.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        shown = str(env_file)
    return Target(
        env=env,
        manifests=manifests,
        pool_id=config.workload_identity_pool,
        provider_id=config.workload_identity_provider,
        env_file=shown,
        project_number=env.project_number,
        apis=frozenset(required_apis(kms=bool(env.kms_keys))),
    )
