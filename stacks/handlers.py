"""Handlers: each discovered manifest becomes a Cloud Functions 2nd gen HTTP function.

Pub/Sub-triggered handlers get an explicit push subscription (our retry, dead-letter and
ack settings, OIDC-authenticated); the public webhook handler is the only one anybody may
invoke.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cio_shared import contract

from stacks import cdk, identities
from stacks.config import Environment
from stacks.event_bus import EventBus
from stacks.manifests import PREVIOUS, HandlerManifest
from stacks.naming import days, seconds
from stacks.packaging import HandlerPackage, build_package
from stacks.secrets import Secrets

RUNTIME = "python312"
BUILD_ROLES = ("roles/run.builder",)
IAM_SETTLE = "60s"


def request_shares(env: Environment, manifests: list[HandlerManifest]) -> dict[str, float]:
    """Each Track-API caller's share of the workspace budget (explicit, or an equal split)."""
    callers = [m.name for m in manifests if m.calls_track_api]
    explicit = {n: env.scaling(n).request_share for n in callers if env.scaling(n).request_share}
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
    ) -> None:
        super().__init__(scope, "handlers")
        self.env = env
        self.secrets = secrets
        self.bus = bus
        self.functions: dict[str, cdk.Cloudfunctions2Function] = {}
        self.push_subscriptions: dict[str, cdk.PubsubSubscription] = {}
        self.public_invokers: set[str] = set()
        self.public_handlers: set[str] = set()
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
        for manifest in manifests:
            package = build_package(
                functions_dir / manifest.name, functions_dir / "cio_shared", build_dir
            )
            self._handler(manifest, package, shares.get(manifest.name))

    def _grant_build_roles(self) -> None:
        """The dedicated build account's roles, instead of the default compute account.

        Cloud Functions copies the source into its own `gcf-v2-sources-<number>-<region>`
        bucket and the build reads it there (hashicorp/terraform-provider-google#20571), so a
        grant on our source bucket is not enough. Google's current page on build service
        accounts (https://cloud.google.com/run/docs/configuring/services/build-service-account)
        names one project role, `roles/run.builder` (logs, Artifact Registry, reading build
        sources); older pages list storage.objectAdmin, which could overwrite any bucket.
        IAM is eventually consistent: the provider's builder example waits 60 s before the
        function, and so do we (`grants_settled`).
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
        self.grants_settled = cdk.Sleep(
            self, "build-grants-settle", create_duration=IAM_SETTLE, depends_on=grants
        )

    def _environment_variables(
        self, manifest: HandlerManifest, share: float | None
    ) -> dict[str, str]:
        env = self.env
        variables = dict(manifest.env)
        variables.update(
            {
                contract.ENVIRONMENT: env.name,
                contract.REGION: env.customerio.region,
                contract.PROJECT: env.project_id,
                contract.CALL_TIMEOUT: f"{env.customerio.call_timeout_seconds:g}",
                contract.BATCH_MAX_WAIT: str(env.customerio.batch_max_wait_ms),
                # functions-framework's gunicorn threads (default 4 x cores) would otherwise
                # cap the instance below its configured concurrency, and with it batching.
                contract.THREADS: str(env.scaling(manifest.name).concurrency),
            }
        )
        for var, purpose in manifest.publishes.items():
            variables[var] = self._topic_path(purpose)
        if manifest.topic:
            variables[contract.SOURCE_TOPIC] = self._topic_path(manifest.topic)
            variables[contract.DEAD_LETTER_TOPIC] = self._topic_path(
                contract.dead_letter_of(manifest.topic)
            )
            variables[contract.TOPIC_ACTIONS] = ",".join(sorted(manifest.carries))
        if share is not None:
            per_instance = env.customerio.request_budget_per_second * share
            per_instance /= env.scaling(manifest.name).max_instances
            variables[contract.RATE_LIMIT] = f"{per_instance:.3f}"
        return dict(sorted(variables.items()))

    def _topic_path(self, purpose: str) -> str:
        return contract.topic_path(self.env.project_id, self.env.resource_name(purpose))

    def _handler(
        self, manifest: HandlerManifest, package: HandlerPackage, share: float | None
    ) -> None:
        env = self.env
        scope = cdk.Construct(self, manifest.name)
        account = self.accounts[manifest.name]
        member = f"serviceAccount:{account.email}"
        grants: list[cdk.TerraformElement] = [
            self.secrets.grant_access(scope, logical, member) for logical in manifest.secret_names()
        ]
        publishes = dict(manifest.publishes)
        if manifest.topic:  # dead-lettering is the handler's own publish
            publishes[contract.DEAD_LETTER_TOPIC] = contract.dead_letter_of(manifest.topic)
        for var, purpose in sorted(publishes.items()):
            if purpose not in self.bus.topics:
                raise ValueError(
                    f"functions/{manifest.name}/handler.yaml: publishes.{var}: no topic "
                    f"{purpose!r}; known: {sorted(self.bus.topics)}"
                )
            grants.append(
                cdk.PubsubTopicIamMember(
                    scope,
                    f"publish-{purpose}",
                    project=env.project_id,
                    topic=self.bus.topics[purpose].name,
                    role="roles/pubsub.publisher",
                    member=member,
                )
            )
        source = cdk.StorageBucketObject(
            scope,
            "source",
            bucket=self.bucket.name,
            name=package.object_name,
            source=cdk.TerraformAsset(
                scope, "asset", path=str(package.path.resolve()), type=cdk.AssetType.FILE
            ).path,
        )
        scaling = env.scaling(manifest.name)
        function = cdk.Cloudfunctions2Function(
            scope,
            "function",
            project=env.project_id,
            location=env.region,
            name=env.resource_name(manifest.name),
            description=manifest.description or f"Customer.io handler {manifest.name}",
            build_config={
                "runtime": RUNTIME,
                "entry_point": manifest.entry_point,
                # the build config takes the account's full resource id, not its email
                "service_account": self.build_account.name,
                "source": {"storage_source": {"bucket": self.bucket.name, "object": source.name}},
            },
            service_config={
                "min_instance_count": scaling.min_instances,
                "max_instance_count": scaling.max_instances,
                "max_instance_request_concurrency": scaling.concurrency,
                "available_cpu": scaling.cpu,
                "available_memory": scaling.memory,
                "timeout_seconds": scaling.timeout_seconds,
                "ingress_settings": "ALLOW_ALL" if manifest.public else "ALLOW_INTERNAL_ONLY",
                "all_traffic_on_latest_revision": True,
                "service_account_email": account.email,
                "environment_variables": self._environment_variables(manifest, share),
                "secret_environment_variables": self._secret_variables(manifest),
            },
            labels={"component": "handlers", "handler": manifest.name},
            depends_on=[*grants, self.grants_settled],
        )
        self.functions[manifest.name] = function
        if manifest.public:
            invoker = self._invoker(scope, function, "allUsers", "public-invoker")
            self.public_invokers.add(invoker.node.path)
            self.public_handlers.add(manifest.name)
        else:
            self._invoker(
                scope, function, f"serviceAccount:{self.push_account.email}", "push-invoker"
            )
        if manifest.topic is not None:
            self._push_subscription(scope, manifest, function)

    def _secret_variables(self, manifest: HandlerManifest) -> list[Any]:
        """Secrets as env vars at the numeric versions pinned in the environment file.

        An instance reads these when it starts, so `latest` would keep a revoked key in warm
        instances; a pinned number changes the revision, and a deploy rolls every instance.
        `<secret>@previous` is the version still accepted during a rotation.
        """
        variables = []
        for var, reference in sorted(manifest.secrets.items()):
            logical = reference.removesuffix(PREVIOUS)
            pins = (
                self.env.previous_secret_versions
                if reference.endswith(PREVIOUS)
                else self.env.secret_versions
            )
            version = pins.get(logical)
            if version is None:
                continue  # no rotation in progress (readiness refuses a missing main pin)
            variables.append(
                cdk.cloudfunctions2_function.Cloudfunctions2FunctionServiceConfigSecretEnvironmentVariables(
                    key=var,
                    project_id=self.env.project_id,
                    secret=self.secrets.by_logical[logical].secret_id,
                    version=version,
                )
            )
        return variables

    def _invoker(
        self, scope: cdk.Construct, function: cdk.Cloudfunctions2Function, member: str, id_: str
    ) -> cdk.CloudRunV2ServiceIamMember:
        return cdk.CloudRunV2ServiceIamMember(
            scope,
            id_,
            project=self.env.project_id,
            location=self.env.region,
            name=function.name,
            role="roles/run.invoker",
            member=member,
        )

    def _push_subscription(
        self, scope: cdk.Construct, manifest: HandlerManifest, function: cdk.Cloudfunctions2Function
    ) -> None:
        env, topic = self.env, str(manifest.topic)
        if topic not in self.bus.topics:
            raise ValueError(
                f"functions/{manifest.name}/handler.yaml: topic {topic!r} is not enabled in "
                f"environments/{env.name}.yaml"
            )
        uri = function.service_config.uri
        subscription = cdk.PubsubSubscription(
            scope,
            "push",
            project=env.project_id,
            name=env.resource_name(f"{topic}-push"),
            topic=self.bus.topics[topic].id,
            ack_deadline_seconds=env.pubsub.ack_deadline_seconds,
            message_retention_duration=days(env.pubsub.message_retention_days),
            expiration_policy={"ttl": ""},
            retry_policy={
                "minimum_backoff": seconds(env.pubsub.min_backoff_seconds),
                "maximum_backoff": seconds(env.pubsub.max_backoff_seconds),
            },
            dead_letter_policy=self.bus.dead_letter_policy(topic),
            enable_message_ordering=manifest.ordered,
            push_config={
                "push_endpoint": uri,
                "oidc_token": {
                    "service_account_email": self.push_account.email,
                    "audience": uri,
                },
            },
            labels={"component": "event-bus", "handler": manifest.name},
        )
        self.bus.grant_agent_subscriber(scope, subscription)
        self.push_subscriptions[manifest.name] = subscription
