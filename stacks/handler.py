"""One handler: its identity's grants, source object, function, invoker and push subscription.

`Handlers` (stacks/handlers.py) owns what the handlers share (source bucket, accounts, the
build account's grants); each `HandlerFunction` owns everything of one manifest, and public
exposure is the manifest's flag (`trigger: http_public`), not bookkeeping in the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cio_shared import contract

from stacks import cdk
from stacks.claims import Claims
from stacks.config import Environment
from stacks.event_bus import EventBus
from stacks.manifests import PREVIOUS, HandlerManifest
from stacks.naming import days, seconds
from stacks.packaging import HandlerPackage
from stacks.secrets import Secrets

RUNTIME = "python312"


@dataclass(frozen=True)
class Shared:
    """What every handler of an environment uses."""

    env: Environment
    secrets: Secrets
    bus: EventBus
    bucket: cdk.StorageBucket
    build_account: cdk.DataGoogleServiceAccount
    push_account: cdk.DataGoogleServiceAccount
    ready: cdk.TerraformElement  # the build grants have settled
    claims: Claims | None = None  # the Firestore claims database, when a handler uses it


class HandlerFunction(cdk.Construct):
    """A Cloud Functions 2nd gen HTTP function for one manifest, and what it needs."""

    def __init__(
        self,
        scope: cdk.Construct,
        manifest: HandlerManifest,
        package: HandlerPackage,
        account: cdk.DataGoogleServiceAccount,
        share: float | None,
        shared: Shared,
    ) -> None:
        super().__init__(scope, manifest.name)
        self.manifest = manifest
        self.shared = shared
        self.env = shared.env
        self.secrets = shared.secrets
        self.bus = shared.bus
        self.public_invoker: cdk.CloudRunV2ServiceIamMember | None = None
        self.push_subscription: cdk.PubsubSubscription | None = None
        self.function = self._function(package, account, share)
        if manifest.public:
            self.public_invoker = self._invoker("allUsers", "public-invoker")
        else:
            self._invoker(f"serviceAccount:{shared.push_account.email}", "push-invoker")
        if manifest.topic is not None:
            self.push_subscription = self._push_subscription()

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
                # gunicorn's threads (WSGI handlers) or the blocking-call pool (ASGI ones,
                # cio_shared/delivery/blocking.py): functions-framework's default of 4 x cores
                # would otherwise cap the instance below its concurrency, and with it batching.
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
        if manifest.calls_track_api:
            variables[contract.DELIVERY_API] = env.customerio.api
        if share is not None:  # of the App API's budget or the Track API's, never both
            budget = (
                env.customerio.app_request_budget_per_second
                if manifest.calls_app_api
                else env.customerio.request_budget_per_second
            )
            per_instance = budget * share / env.scaling(manifest.name).max_instances
            variables[contract.RATE_LIMIT] = f"{per_instance:.3f}"
            variables[contract.RATE_LIMIT_MAX_WAIT] = str(env.customerio.rate_limit_max_wait_ms)
        if manifest.firestore:
            variables.update(self._claims().variables())
        return dict(sorted(variables.items()))

    def _claims(self) -> Claims:
        if self.shared.claims is None:
            raise ValueError(
                f"functions/{self.manifest.name}/handler.yaml: firestore: true, but the "
                "stack has no claims database"
            )
        return self.shared.claims

    def _topic_path(self, purpose: str) -> str:
        return contract.topic_path(self.env.project_id, self.env.resource_name(purpose))

    def _function(
        self, package: HandlerPackage, account: cdk.DataGoogleServiceAccount, share: float | None
    ) -> cdk.Cloudfunctions2Function:
        env, manifest, scope = self.env, self.manifest, self
        member = f"serviceAccount:{account.email}"
        grants: list[cdk.TerraformElement] = [
            self.secrets.grant_access(scope, logical, member) for logical in manifest.secret_names()
        ]
        if manifest.firestore:  # roles/datastore.user on the claims database only
            grants.append(self._claims().grant(scope, member))
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
            bucket=self.shared.bucket.name,
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
                "service_account": self.shared.build_account.name,
                "source": {
                    "storage_source": {"bucket": self.shared.bucket.name, "object": source.name}
                },
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
            depends_on=[*grants, self.shared.ready],
        )
        return function

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

    def _invoker(self, member: str, id_: str) -> cdk.CloudRunV2ServiceIamMember:
        return cdk.CloudRunV2ServiceIamMember(
            self,
            id_,
            project=self.env.project_id,
            location=self.env.region,
            name=self.function.name,
            role="roles/run.invoker",
            member=member,
        )

    def _push_subscription(self) -> cdk.PubsubSubscription:
        env, manifest, topic = self.env, self.manifest, str(self.manifest.topic)
        if topic not in self.bus.topics:
            raise ValueError(
                f"functions/{manifest.name}/handler.yaml: topic {topic!r} is not enabled in "
                f"environments/{env.name}.yaml"
            )
        uri = self.function.service_config.uri
        subscription = cdk.PubsubSubscription(
            self,
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
                    "service_account_email": self.shared.push_account.email,
                    "audience": uri,
                },
            },
            labels={"component": "event-bus", "handler": manifest.name},
        )
        self.bus.grant_agent_subscriber(self, subscription)
        return subscription
