"""What the bootstrap reads: a few fields of environments/*.yaml and bootstrap/config.yaml.

Environment files are validated by the stacks' model (`stacks.config`, which imports no
cdktf), so defaults and rules live in one place; `environment_names` needs only the standard
library, for the workflows' matrix step.
The names derived here (pool, provider, service accounts) are the ones the workflows
authenticate with (`python -m bootstrap.ci identity <env>`), so they live in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENVIRONMENTS = REPO / "environments"
CONFIG = Path(__file__).resolve().parent / "config.yaml"
GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$")
POOL_ID = re.compile(r"^[a-z0-9-]{4,32}$")
# The reusable workflow whose deploy job applies (job_workflow_ref of the OIDC token), and
# the only ref it may deploy from.
DEPLOY_WORKFLOW = ".github/workflows/promote.yml"
DEPLOY_REF = "refs/heads/main"
NOT_A_DEPLOY = "none"  # the deploy attribute of every other token


class BootstrapConfigError(Exception):
    """A bootstrap input is missing or invalid; the message says which file and field."""


@dataclass(frozen=True)
class BootstrapConfig:
    github_repository: str
    workload_identity_pool: str = "github"
    workload_identity_provider: str = "github-actions"
    state_versions_kept: int = 50
    github_repository_id: str | None = None
    github_repository_owner_id: str | None = None

    def _id_checks(self) -> str:
        checks = ""
        if self.github_repository_id:
            checks += f" && assertion.repository_id == '{self.github_repository_id}'"
        if self.github_repository_owner_id:
            checks += f" && assertion.repository_owner_id == '{self.github_repository_owner_id}'"
        return checks

    def attribute_condition(self) -> str:
        """CEL on the GitHub token: only this repository (and, if known, its immutable id and
        its owner's, so a deleted and re-created repository or owner of the same name is not
        trusted)."""
        return f"assertion.repository == '{self.github_repository}'" + self._id_checks()

    def deploy_attribute(self) -> str:
        """CEL for `attribute.deploy`: the GitHub Environment of a job of promote.yml running
        on main (with the repository and owner ids when known), else 'none'. The deployer of
        environment X is bound to `attribute.deploy/X`, so a job on another branch, in another
        workflow or without that Environment gets no deployer token, while the planner's
        pull-request plans (refs/pull/N/merge) still use the same provider."""
        workflow = f"{self.github_repository}/{DEPLOY_WORKFLOW}@{DEPLOY_REF}"
        return (
            f"('environment' in assertion && assertion.ref == '{DEPLOY_REF}'"
            f" && assertion.job_workflow_ref == '{workflow}'{self._id_checks()})"
            f" ? assertion.environment : '{NOT_A_DEPLOY}'"
        )


@dataclass(frozen=True)
class TargetEnvironment:
    """The fields of one environment file that the bootstrap and the workflows need."""

    name: str
    project_id: str
    project_number: str
    region: str
    state_bucket: str
    name_prefix: str = "cio"
    owner: str = "platform"
    uses_kms: bool = False
    # purpose -> account id of the identities the handlers build, push and run as
    workload_accounts: dict[str, str] = field(default_factory=dict)

    def account_id(self, role: str) -> str:
        """`cio-<env>-planner` / `cio-<env>-deployer` (at most 30 characters)."""
        account = f"{self.name_prefix}-{self.name}-{role}"
        if len(account) > 30:
            raise BootstrapConfigError(
                f"service account id {account!r} is longer than 30 characters: "
                "shorten name_prefix or the environment name"
            )
        return account

    def account_email(self, role: str) -> str:
        return f"{self.account_id(role)}@{self.project_id}.iam.gserviceaccount.com"

    def pool_name(self, config: BootstrapConfig) -> str:
        return (
            f"projects/{self.project_number}/locations/global/workloadIdentityPools/"
            f"{config.workload_identity_pool}"
        )

    def provider_name(self, config: BootstrapConfig) -> str:
        """The `workload_identity_provider` input of google-github-actions/auth."""
        return f"{self.pool_name(config)}/providers/{config.workload_identity_provider}"


def _read_mapping(path: Path) -> dict[str, Any]:
    import yaml  # here, so `python -m bootstrap.ci matrix` runs on a bare Python

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BootstrapConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise BootstrapConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise BootstrapConfigError(f"{path}: expected a mapping at the top level")
    return data


def _required(data: dict[str, Any], key: str, path: Path) -> str:
    value = data.get(key)
    if value is None or str(value).strip() == "":
        raise BootstrapConfigError(f"{path}: {key}: required by the bootstrap but missing")
    return str(value)


def _optional_digits(data: dict[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not str(value).isdigit():
        raise BootstrapConfigError(
            f"{path}: {key} must be digits (GitHub's numeric id), got {value!r}"
        )
    return str(value)


def load_config(path: Path = CONFIG) -> BootstrapConfig:
    data = _read_mapping(path)
    repository = _required(data, "github_repository", path)
    if not GITHUB_REPOSITORY.match(repository):
        raise BootstrapConfigError(
            f"{path}: github_repository must be owner/name, got {repository!r}"
        )
    config = BootstrapConfig(
        github_repository=repository,
        workload_identity_pool=str(data.get("workload_identity_pool", "github")),
        workload_identity_provider=str(data.get("workload_identity_provider", "github-actions")),
        state_versions_kept=int(data.get("state_versions_kept", 50)),
        github_repository_id=_optional_digits(data, "github_repository_id", path),
        github_repository_owner_id=_optional_digits(data, "github_repository_owner_id", path),
    )
    for key in ("workload_identity_pool", "workload_identity_provider"):
        if not POOL_ID.match(getattr(config, key)):
            raise BootstrapConfigError(f"{path}: {key} must be 4-32 of a-z, 0-9 and -")
    return config


def load_environment(path: Path) -> TargetEnvironment:
    """The bootstrap's view of an environment file, validated by the stacks' own model."""
    from stacks.config import ConfigError
    from stacks.config import load_environment as load_validated
    from stacks.identities import workload_accounts
    from stacks.manifests import DEFAULT_FUNCTIONS, discover

    try:
        env = load_validated(path)
    except ConfigError as exc:
        raise BootstrapConfigError(str(exc)) from None
    if env.name == NOT_A_DEPLOY:
        raise BootstrapConfigError(
            f"{path}: an environment may not be named {NOT_A_DEPLOY!r}: that value marks "
            "tokens that may not deploy (BootstrapConfig.deploy_attribute)"
        )
    if env.project_number is None:
        raise BootstrapConfigError(
            f"{path}: project_number: required by the bootstrap (Workload Identity pool names "
            "use the number) but missing"
        )
    return TargetEnvironment(
        name=env.name,
        project_id=env.project_id,
        project_number=env.project_number,
        region=env.region,
        state_bucket=env.state_bucket,
        name_prefix=env.name_prefix,
        owner=env.owner,
        uses_kms=bool(env.kms_keys),
        workload_accounts=workload_accounts(env, discover(DEFAULT_FUNCTIONS)),
    )


def environment_names(folder: Path = ENVIRONMENTS) -> list[str]:
    """Every environment: one per `*.yaml` file in the folder, sorted."""
    return sorted(p.stem for p in folder.glob("*.yaml") if p.is_file())


def load_environments(folder: Path = ENVIRONMENTS) -> list[TargetEnvironment]:
    names = environment_names(folder)
    if not names:
        raise BootstrapConfigError(f"{folder}: no environment files (*.yaml)")
    return [load_environment(folder / f"{name}.yaml") for name in names]
