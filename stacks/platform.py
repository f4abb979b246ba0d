"""One environment's stack: state backend, secrets, event bus, handlers, analytics, monitoring."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stacks import cdk, service_agents
from stacks.analytics import Analytics
from stacks.aspects import LabelAspect, RulesAspect
from stacks.claims import Claims
from stacks.config import Environment
from stacks.erasure import ErasureAudit
from stacks.event_bus import EventBus
from stacks.handlers import Handlers
from stacks.ledger import Ledger
from stacks.manifests import HandlerManifest
from stacks.monitoring import Monitoring
from stacks.secrets import Secrets
from stacks.smoke import SmokeAccess, needs_smoke_access

PROVIDER_VERSION = "6.50.0"


@dataclass(frozen=True)
class SourceTree:
    """Where the stack reads handler folders and analytics files, and builds zips."""

    functions_dir: Path
    analytics_dir: Path
    build_dir: Path


class PlatformStack(cdk.TerraformStack):
    def __init__(
        self,
        scope: cdk.Construct,
        env: Environment,
        manifests: list[HandlerManifest],
        tree: SourceTree,
    ) -> None:
        super().__init__(scope, env.name)
        self.env = env
        manifests = [
            m.with_delivery_api(env.customerio.api) for m in manifests if env.enabled(m.name)
        ]
        cdk.GoogleProvider(self, "google", project=env.project_id, region=env.region)
        cdk.TimeProvider(self, "time")
        cdk.GcsBackend(
            self,
            bucket=env.state_bucket,
            prefix=env.state_prefix or f"{env.name_prefix}/{env.name}",
        )
        number = self._project_number()
        agent = service_agents.agent_email("pubsub", number)
        secrets = Secrets(self, env)
        bus = EventBus(self, env, agent, [str(m.topic) for m in manifests if m.topic])
        # the transactional claims: data, so created with the platform, before any handler
        self.claims = Claims(self, env) if any(m.firestore for m in manifests) else None
        public_invokers: set[str] = set()
        delivery: list[cdk.PubsubSubscription] = []
        ledger_services: list[str] = []
        if env.deploy_handlers:
            handlers = Handlers(
                self,
                env,
                manifests,
                tree.functions_dir,
                tree.build_dir / env.name,
                secrets,
                bus,
                self.claims,
            )
            public_invokers = handlers.public_invokers
            delivery += handlers.push_subscriptions.values()
            ledger_services = [env.resource_name(name) for name in handlers.push_subscriptions]
            self._handler_outputs(handlers)
        analytics = Analytics(self, env, bus, tree.analytics_dir)
        delivery.append(analytics.subscription)
        Ledger(self, env, analytics, tree.analytics_dir, ledger_services)
        ErasureAudit(self, env, analytics)
        Monitoring(
            self, env, [str(s.name_input) for s in delivery], transactional=self.claims is not None
        )
        if needs_smoke_access(env, manifests):  # after every topic and subscription
            SmokeAccess(self, env, secrets, bus, analytics)
        self._outputs(bus, number)
        labels = {"environment": env.name, "managed-by": "cdktf", "owner": env.owner, **env.labels}
        cdk.Aspects.of(self).add(LabelAspect(labels))
        self.rules = RulesAspect(public_invokers)
        cdk.Aspects.of(self).add(self.rules)

    def _handler_outputs(self, handlers: Handlers) -> None:
        for name, handler in handlers.handlers.items():
            if handler.manifest.public:
                cdk.TerraformOutput(
                    self,
                    f"{name}_url",
                    value=handler.function.service_config.uri,
                    description=f"Public URL of the {name} handler (Customer.io's webhook URL)",
                )

    def _outputs(self, bus: EventBus, project_number: str) -> None:
        cdk.TerraformOutput(
            self,
            "dead_letter_subscriptions",
            value=sorted(s.name for s in bus.dead_letter_subscriptions.values()),
            description="Pull subscriptions holding dead letters (cio-doctor dlq)",
        )
        users: dict[str, set[str]] = {}
        for use in self.env.cmek_requirements():
            member = f"serviceAccount:{service_agents.agent_email(use.service, project_number)}"
            users.setdefault(str(use.key), set()).add(member)
        if self.claims is not None and self.claims.kms_key:
            member = f"serviceAccount:{service_agents.agent_email('firestore', project_number)}"
            users.setdefault(self.claims.kms_key, set()).add(member)
        if users:
            # CMEK on topics, secrets and BigQuery works only once these Google-managed
            # identities may use each key; the keys' owners grant it (docs/deploy.md).
            cdk.TerraformOutput(
                self,
                "kms_key_users_required",
                value={key: sorted(members) for key, members in sorted(users.items())},
                description=f"Key -> members that need {service_agents.ENCRYPTER_DECRYPTER} on it",
            )

    def _project_number(self) -> str:
        if self.env.project_number:
            return self.env.project_number
        project = cdk.DataGoogleProject(self, "project", project_id=self.env.project_id)
        return str(project.number)
