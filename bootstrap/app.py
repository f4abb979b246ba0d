"""The bootstrap CDKTF app: one stack `bootstrap-<env>` per environment, local state.

Run by a platform engineer with their own (owner-level) credentials, once per environment
and again when this file changes; see bootstrap/README.md. Synthesize with
`python -m bootstrap.app` (into cdktf.out/bootstrap), then `terraform init && terraform
apply` in cdktf.out/bootstrap/stacks/bootstrap-<env>.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bootstrap import roles
from bootstrap.apis import required_apis
from bootstrap.settings import (
    CONFIG,
    ENVIRONMENTS,
    REPO,
    BootstrapConfig,
    BootstrapConfigError,
    TargetEnvironment,
    load_config,
    load_environments,
)
from stacks import cdk, provider_lock
from stacks import cdk_bootstrap as cdkb
from stacks.identities import PUSH, SMOKE, describe
from stacks.service_agents import agent_email

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


class BootstrapStack(cdk.TerraformStack):
    """Everything one environment's CI needs before its first `terraform init`."""

    def __init__(
        self, scope: cdk.Construct, env: TargetEnvironment, config: BootstrapConfig, state: str
    ) -> None:
        super().__init__(scope, f"bootstrap-{env.name}")
        self.env = env
        self.config = config
        cdk.LocalBackend(self, path=state)
        cdk.GoogleProvider(self, "google", project=env.project_id, region=env.region)
        self.apis = self._apis()
        self._state_bucket()
        pool = self._identity_pool()
        self.planner = self._account("planner", "Plans (read-only) from pull requests and main")
        self.deployer = self._account("deployer", "Applies reviewed plans from GitHub Environments")
        self.smoke = self._account(
            SMOKE, "Smoke-checks a deployed environment (signed webhook to BigQuery)"
        )
        self._grant_project_roles()
        self._workload_accounts()
        self._allow_github(pool)

    @property
    def labels(self) -> dict[str, str]:
        return {
            "environment": self.env.name,
            "component": "bootstrap",
            "owner": self.env.owner,
            "managed-by": "terraform",
        }

    def _apis(self) -> list[cdk.TerraformElement]:
        apis = sorted(required_apis(kms=self.env.uses_kms))
        return [
            cdkb.ProjectService(
                self,
                f"api-{api.split('.')[0]}",
                project=self.env.project_id,
                service=api,
                disable_on_destroy=False,  # other workloads in the project may use it
            )
            for api in apis
        ]

    def _state_bucket(self) -> None:
        bucket = cdk.StorageBucket(
            self,
            "state-bucket",
            name=self.env.state_bucket,
            project=self.env.project_id,
            location=self.env.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=cdkb.StorageBucketVersioning(enabled=True),
            lifecycle_rule=[
                cdkb.StorageBucketLifecycleRule(
                    action=cdkb.StorageBucketLifecycleRuleAction(type="Delete"),
                    condition=cdkb.StorageBucketLifecycleRuleCondition(
                        num_newer_versions=self.config.state_versions_kept, with_state="ARCHIVED"
                    ),
                )
            ],
            labels=self.labels,
            force_destroy=False,
            lifecycle=cdk.TerraformResourceLifecycle(prevent_destroy=True),
            depends_on=self.apis,
        )
        self.state_bucket = bucket

    def _identity_pool(self) -> cdk.TerraformElement:
        pool = cdkb.IamWorkloadIdentityPool(
            self,
            "github-pool",
            project=self.env.project_id,
            workload_identity_pool_id=self.config.workload_identity_pool,
            display_name="GitHub Actions",
            description=f"GitHub Actions of {self.config.github_repository}",
            depends_on=self.apis,
        )
        cdkb.IamWorkloadIdentityPoolProvider(
            self,
            "github-provider",
            project=self.env.project_id,
            workload_identity_pool_id=pool.workload_identity_pool_id,
            workload_identity_pool_provider_id=self.config.workload_identity_provider,
            display_name="GitHub OIDC",
            # Only tokens minted for this repository are accepted at all.
            attribute_condition=self.config.attribute_condition(),
            attribute_mapping={
                "google.subject": "assertion.sub",
                "attribute.repository": "assertion.repository",
                "attribute.repository_id": "assertion.repository_id",
                "attribute.repository_owner_id": "assertion.repository_owner_id",
                "attribute.ref": "assertion.ref",
                # The deployer's own key: its Environment only for promote.yml on main.
                "attribute.deploy": self.config.deploy_attribute(),
            },
            oidc=cdkb.IamWorkloadIdentityPoolProviderOidc(issuer_uri=GITHUB_ISSUER),
        )
        return pool

    def _account(self, role: str, description: str) -> cdk.ServiceAccount:
        return cdk.ServiceAccount(
            self,
            role,
            project=self.env.project_id,
            account_id=self.env.account_id(role),
            display_name=f"CI {role} for {self.env.name}",
            description=description,
            depends_on=self.apis,
        )

    def _grant_project_roles(self) -> None:
        secrets_role = cdkb.ProjectIamCustomRole(
            self,
            "secrets-deployer-role",
            project=self.env.project_id,
            role_id=roles.SECRETS_ROLE_ID,
            title="Customer.io secrets deployer",
            description="Manage secrets and their IAM; no access to secret values",
            permissions=list(roles.SECRETS_ROLE_PERMISSIONS),
            depends_on=self.apis,
        )
        grants = [
            ("deployer", self.deployer, roles.deployer_roles()),
            ("planner", self.planner, roles.planner_roles()),
            (SMOKE, self.smoke, roles.SMOKE_PROJECT_ROLES),
        ]
        for who, account, granted in grants:
            for role in granted:
                condition = None
                if role == "roles/resourcemanager.projectIamAdmin":
                    condition = cdkb.ProjectIamMemberCondition(
                        title="only-the-stacks-grantable-roles",
                        description="The deployer may grant only the roles the stacks grant",
                        expression=roles.grant_condition(),
                    )
                is_custom = role == roles.SECRETS_ROLE
                cdk.ProjectIamMember(
                    self,
                    f"{who}-{role.rsplit('/', 1)[1].replace('.', '-')}",
                    project=self.env.project_id,
                    role=secrets_role.name if is_custom else role,
                    member=f"serviceAccount:{account.email}",
                    condition=condition,
                )
        # Read the state only: plans run with -lock=false (stacks/plan.py), so the planner,
        # which any branch of the repository may use, can neither overwrite nor delete the
        # state nor hold its lock.
        cdk.StorageBucketIamMember(
            self,
            "planner-state",
            bucket=self.state_bucket.name,
            role="roles/storage.objectViewer",
            member=f"serviceAccount:{self.planner.email}",
        )

    def _workload_accounts(self) -> None:
        """The accounts the handlers build, push and run as (stacks/identities.py).

        The deployer may act as exactly these (to attach them to functions and push
        subscriptions), never as any other account of the project.
        """
        for purpose, account_id in self.env.workload_accounts.items():
            account = cdk.ServiceAccount(
                self,
                f"workload-{purpose}",
                project=self.env.project_id,
                account_id=account_id,
                display_name=describe(purpose),
                depends_on=self.apis,
            )
            cdk.ServiceAccountIamMember(
                self,
                f"deployer-acts-as-{purpose}",
                service_account_id=account.name,
                role="roles/iam.serviceAccountUser",
                member=f"serviceAccount:{self.deployer.email}",
            )
            if purpose == PUSH:
                # Pub/Sub's agent mints the OIDC tokens of push requests for this account.
                agent = agent_email("pubsub", self.env.project_number)
                cdk.ServiceAccountIamMember(
                    self,
                    "push-token-creator",
                    service_account_id=account.name,
                    role="roles/iam.serviceAccountTokenCreator",
                    member=f"serviceAccount:{agent}",
                )

    def _allow_github(self, pool: cdk.TerraformElement) -> None:
        pool_name = f"{self.env.pool_name(self.config)}"
        repo_id = self.config.github_repository_id
        planners = (
            f"attribute.repository_id/{repo_id}"
            if repo_id
            else f"attribute.repository/{self.config.github_repository}"
        )
        # Any workflow and ref of the repository may plan (pull requests run on
        # refs/pull/N/merge; fork pull requests get no token at all): read-only.
        cdk.ServiceAccountIamMember(
            self,
            "planner-wif",
            service_account_id=self.planner.name,
            role="roles/iam.workloadIdentityUser",
            member=f"principalSet://iam.googleapis.com/{pool_name}/{planners}",
            depends_on=[pool],
        )
        # Only promote.yml's jobs on refs/heads/main in the GitHub Environment of this name
        # (required reviewers are configured there) may deploy: see deploy_attribute(). The
        # smoke account (it reads the webhook's signing key) is bound to the same principal set.
        deployers = (
            f"principalSet://iam.googleapis.com/{pool_name}/attribute.deploy/{self.env.name}"
        )
        for name, account in (("deployer", self.deployer), (SMOKE, self.smoke)):
            cdk.ServiceAccountIamMember(
                self,
                f"{name}-wif",
                service_account_id=account.name,
                role="roles/iam.workloadIdentityUser",
                member=deployers,
                depends_on=[pool],
            )
        for name, account in (
            ("planner", self.planner),
            ("deployer", self.deployer),
            (SMOKE, self.smoke),
        ):
            cdk.TerraformOutput(self, f"{name}-email", value=account.email)
        cdk.TerraformOutput(
            self, "workload-identity-provider", value=self.env.provider_name(self.config)
        )


def state_path(outdir: Path, env: str) -> str:
    """bootstrap/state/bootstrap-<env>.tfstate, relative to the stack's folder (portable)."""
    state = REPO / "bootstrap" / "state" / f"bootstrap-{env}.tfstate"
    stack_dir = outdir.resolve() / "stacks" / f"bootstrap-{env}"
    return os.path.relpath(state, stack_dir)


def build(outdir: Path, config_path: Path = CONFIG, environments: Path = ENVIRONMENTS) -> list[str]:
    """Synthesize every environment's bootstrap stack; returns the stack names."""
    config = load_config(config_path)
    app = cdk.App(outdir=str(outdir))
    stacks = [
        BootstrapStack(app, env, config, state_path(outdir, env.name))
        for env in load_environments(environments)
    ]
    app.synth()
    for stack in stacks:
        provider_lock.write_beside(outdir / "stacks" / stack.node.id / "cdk.tf.json")
    return [s.node.id for s in stacks]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bootstrap.app", description=__doc__.split("\n\n")[0]
    )
    # The cdktf CLI (bootstrap/cdktf.json) passes its output folder in CDKTF_OUTDIR.
    default_out = os.environ.get("CDKTF_OUTDIR") or REPO / "cdktf.out" / "bootstrap"
    parser.add_argument("--out", type=Path, default=Path(default_out))
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--environments", type=Path, default=ENVIRONMENTS)
    args = parser.parse_args(argv)
    try:
        names = build(args.out, args.config, args.environments)
    except BootstrapConfigError as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 2
    for name in names:
        print(f"synthesized {args.out / 'stacks' / name / 'cdk.tf.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
