"""One environment's stack: state backend, secrets, event bus, handlers, analytics, monitoring."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stacks import cdk
from stacks.analytics import Analytics
from stacks.aspects import LabelAspect, RulesAspect
from stacks.config import Environment
from stacks.event_bus import EventBus
from stacks.handlers import Handlers
from stacks.manifests import HandlerManifest
from stacks.monitoring import Monitoring
from stacks.secrets import Secrets

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
        cdk.GoogleProvider(self, "google", project=env.project_id, region=env.region)
        cdk.GcsBackend(
            self,
            bucket=env.state_bucket,
            prefix=env.state_prefix or f"{env.name_prefix}/{env.name}",
        )
        agent = f"service-{self._project_number()}@gcp-sa-pubsub.iam.gserviceaccount.com"
        secrets = Secrets(self, env)
        bus = EventBus(self, env, agent)
        public_invokers: set[str] = set()
        if env.deploy_handlers:
            handlers = Handlers(
                self, env, manifests, tree.functions_dir, tree.build_dir / env.name, secrets, bus
            )
            public_invokers = handlers.public_invokers
            unconsumed = sorted(set(bus.event_topics) - {str(m.topic) for m in manifests})
            if unconsumed:
                raise ValueError(
                    f"environments/{env.name}.yaml: topic(s) {unconsumed} have no handler "
                    "consuming them, so published events would go nowhere; add a handler "
                    "folder for them or disable the topic"
                )
        Analytics(self, env, bus, tree.analytics_dir)
        Monitoring(self, env)
        labels = {"environment": env.name, "managed-by": "cdktf", "owner": env.owner, **env.labels}
        cdk.Aspects.of(self).add(LabelAspect(labels))
        self.rules = RulesAspect(public_invokers)
        cdk.Aspects.of(self).add(self.rules)

    def _project_number(self) -> str:
        if self.env.project_number:
            return self.env.project_number
        project = cdk.DataGoogleProject(self, "project", project_id=self.env.project_id)
        return str(project.number)
