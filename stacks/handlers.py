"""Handlers: each discovered manifest becomes a Cloud Functions 2nd gen HTTP function.

Pub/Sub-triggered handlers get an explicit push subscription (our retry, dead-letter and
ack settings, OIDC-authenticated); the public webhook handler is the only one anybody may
invoke.
"""

from __future__ import annotations

from pathlib import Path

from stacks import cdk, identities
from stacks.claims import Claims
from stacks.config import Environment
from stacks.event_bus import EventBus
from stacks.handler import HandlerFunction, Shared
from stacks.manifests import HandlerManifest
from stacks.packaging import build_package
from stacks.secrets import Secrets

BUILD_ROLES = ("roles/run.builder",)
IAM_SETTLE = "60s"


def request_shares(env: Environment, manifests: list[HandlerManifest]) -> dict[str, float]:
    """Each Track-API caller's share of the workspace budget (explicit, or an equal split)."""
    callers = [m.name for m in manifests if m.calls_track_api]
    return _split(callers, {n: env.scaling(n).request_share for n in callers})


def app_request_shares(env: Environment, manifests: list[HandlerManifest]) -> dict[str, float]:
    """Each App-API caller's share of the App API budget: its own split, never the Track API's."""
    callers = [m.name for m in manifests if m.calls_app_api]
    return _split(callers, {n: env.scaling(n).app_request_share for n in callers})


def _split(callers: list[str], configured: dict[str, float | None]) -> dict[str, float]:
    explicit = {n: v for n, v in configured.items() if v}
    rest = [n for n in callers if n not in explicit]
    remaining = max(0.0, 1.0 - sum(v for v in explicit.values() if v))
    shares = {n: float(v) for n, v in explicit.items() if v}
    shares.update({n: remaining / len(rest) for n in rest})
    return shares


class Handlers(cdk.Construct):
    """Source bucket, build identity, push identity, and one function per manifest."""

    def __init__(
        self,
        scope: cdk.Construct,
        env: Environment,
        manifests: list[HandlerManifest],
        functions_dir: Path,
        build_dir: Path,
        secrets: Secrets,
        bus: EventBus,
        claims: Claims | None = None,
    ) -> None:
        super().__init__(scope, "handlers")
        self.env = env
        self.secrets = secrets
        self.bus = bus
        self.bucket = cdk.StorageBucket(
            self,
            "sources",
            project=env.project_id,
            name=f"{env.resource_name('sources')}-{env.project_id}",
            location=env.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning={"enabled": True},
            force_destroy=not env.protected,
            lifecycle_rule=[
                cdk.storage_bucket.StorageBucketLifecycleRule(
                    action={"type": "Delete"}, condition={"num_newer_versions": 3}
                )
            ],
            labels={"component": "handlers"},
        )
        self.accounts = {
            purpose: cdk.DataGoogleServiceAccount(
                self, f"account-{purpose}", project=env.project_id, account_id=account
            )
            for purpose, account in identities.workload_accounts(env, manifests).items()
        }
        self.build_account = self.accounts[identities.BUILD]
        self.push_account = self.accounts[identities.PUSH]
        self._grant_build_roles()
        shares = request_shares(env, manifests)
        app_shares = app_request_shares(env, manifests)
        shared = Shared(
            env,
            secrets,
            bus,
            self.bucket,
            self.build_account,
            self.push_account,
            self.ready,
            claims,
        )
        self.handlers = {
            m.name: HandlerFunction(
                self,
                m,
                build_package(functions_dir / m.name, functions_dir / "cio_shared", build_dir),
                self.accounts[m.name],
                shares.get(m.name) if m.calls_track_api else app_shares.get(m.name),
                shared,
            )
            for m in manifests
        }

    def _grant_build_roles(self) -> None:
        """The dedicated build account's roles, instead of the default compute account.

        Cloud Functions copies the source into its own `gcf-v2-sources-<number>-<region>`
        bucket and the build reads it there (hashicorp/terraform-provider-google#20571), so a
        grant on our source bucket is not enough. Google's current page on build service
        accounts (https://cloud.google.com/run/docs/configuring/services/build-service-account)
        names one project role, `roles/run.builder` (logs, Artifact Registry, reading build
        sources); older pages list storage.objectAdmin, which could overwrite any bucket.
        IAM is eventually consistent: the provider's builder example waits 60 s before the
        function, and so do we (`ready`).
        """
        account = self.build_account
        grants = [
            cdk.ProjectIamMember(
                self,
                f"build-{role.split('/')[1].replace('.', '-')}",
                project=self.env.project_id,
                role=role,
                member=f"serviceAccount:{account.email}",
            )
            for role in BUILD_ROLES
        ]
        self.ready = cdk.Sleep(
            self, "build-grants-settle", create_duration=IAM_SETTLE, depends_on=grants
        )

    @property
    def public_invokers(self) -> set[str]:
        """Construct paths of the public invoker bindings (the rules aspect allows only these)."""
        return {h.public_invoker.node.path for h in self.handlers.values() if h.public_invoker}

    @property
    def push_subscriptions(self) -> dict[str, cdk.PubsubSubscription]:
        return {n: h.push_subscription for n, h in self.handlers.items() if h.push_subscription}
