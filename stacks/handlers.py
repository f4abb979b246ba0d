"""Handlers: each discovered manifest becomes a Cloud Functions 2nd gen HTTP function.

Pub/Sub-triggered handlers get an explicit push subscription (our retry, dead-letter and
ack settings, OIDC-authenticated); the public webhook handler is the only one anybody may
invoke.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stacks import cdk
from stacks.config import Environment
from stacks.event_bus import EventBus
from stacks.manifests import PREVIOUS, HandlerManifest
from stacks.naming import days, seconds
from stacks.packaging import HandlerPackage, build_package
from stacks.secrets import Secrets

RUNTIME = "python312"
SERVICE_ACCOUNT_ID_MAX = 30


class HandlerNameError(ValueError):
    pass


def account_id(env: Environment, purpose: str) -> str:
    value = env.resource_name(purpose)
    if len(value) > SERVICE_ACCOUNT_ID_MAX:
        raise HandlerNameError(
            f"service account id {value!r} is longer than {SERVICE_ACCOUNT_ID_MAX} characters: "
            "shorten name_prefix, the environment name or the handler folder name"
        )
    return value


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
        self.build_account = self._build_identity()
        self.push_account = cdk.ServiceAccount(
            self,
            "push-identity",
            project=env.project_id,
            account_id=account_id(env, "push"),
            display_name="Pub/Sub push to the Customer.io handlers (OIDC)",
        )
        # Pub/Sub's agent mints the OIDC tokens of push requests for this account.
        cdk.ServiceAccountIamMember(
            self,
            "push-token-creator",
            service_account_id=self.push_account.name,
            role="roles/iam.serviceAccountTokenCreator",
            member=f"serviceAccount:{bus.pubsub_agent}",
        )
        shares = request_shares(env, manifests)
        for manifest in manifests:
            package = build_package(
                functions_dir / manifest.name, functions_dir / "cio_shared", build_dir
            )
            self._handler(manifest, package, shares.get(manifest.name))

    def _build_identity(self) -> cdk.ServiceAccount:
        """A dedicated account for the 2nd gen builds, instead of the default compute one."""
        account = cdk.ServiceAccount(
            self,
            "build-identity",
            project=self.env.project_id,
            account_id=account_id(self.env, "build"),
            display_name="Cloud Build for the Customer.io handlers",
        )
        member = f"serviceAccount:{account.email}"
        for role in ("roles/logging.logWriter", "roles/artifactregistry.writer"):
            cdk.ProjectIamMember(
                self,
                f"build-{role.split('/')[1].replace('.', '-')}",
                project=self.env.project_id,
                role=role,
                member=member,
            )
        cdk.StorageBucketIamMember(
            self,
            "build-source-reader",
            bucket=self.bucket.name,
            role="roles/storage.objectViewer",
            member=member,
        )
        return account

    def _environment_variables(
        self, manifest: HandlerManifest, share: float | None
    ) -> dict[str, str]:
        env = self.env
        variables = dict(manifest.env)
        variables.update(
            {
                "CIO_ENVIRONMENT": env.name,
                "CIO_REGION": env.customerio.region,
                "GOOGLE_CLOUD_PROJECT": env.project_id,
                "CIO_TIMEOUT_SECONDS": f"{env.customerio.call_timeout_seconds:g}",
                "CIO_BATCH_MAX_WAIT_MS": str(env.customerio.batch_max_wait_ms),
                # functions-framework's gunicorn threads (default 4 x cores) would otherwise
                # cap the instance below its configured concurrency, and with it batching.
                "THREADS": str(env.scaling(manifest.name).concurrency),
            }
        )
        for var, purpose in manifest.publishes.items():
            variables[var] = f"projects/{env.project_id}/topics/{env.resource_name(purpose)}"
        if share is not None:
            per_instance = env.customerio.request_budget_per_second * share
            per_instance /= env.scaling(manifest.name).max_instances
            variables["CIO_RATE_LIMIT_PER_SECOND"] = f"{per_instance:.3f}"
        return dict(sorted(variables.items()))

    def _handler(
        self, manifest: HandlerManifest, package: HandlerPackage, share: float | None
    ) -> None:
        env = self.env
        scope = cdk.Construct(self, manifest.name)
        account = cdk.ServiceAccount(
            scope,
            "identity",
            project=env.project_id,
            account_id=account_id(env, manifest.name),
            display_name=f"Customer.io handler {manifest.name}",
        )
        member = f"serviceAccount:{account.email}"
        grants: list[cdk.TerraformElement] = [
            self.secrets.grant_access(scope, logical, member) for logical in manifest.secret_names()
        ]
        for var, purpose in sorted(manifest.publishes.items()):
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
                "service_account": self.build_account.id,
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
            depends_on=grants,
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
        """Secrets as env vars: `latest`, or the pinned previous version during a rotation."""
        variables = []
        for var, reference in sorted(manifest.secrets.items()):
            logical = reference.removesuffix(PREVIOUS)
            version = "latest"
            if reference.endswith(PREVIOUS):
                pinned = self.env.previous_secret_versions.get(logical)
                if pinned is None:
                    continue  # no rotation in progress: the variable stays unset
                version = pinned
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
