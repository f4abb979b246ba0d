"""What the post-deploy smoke check may read, granted on exactly those resources.

`scripts/smoke_check.py` runs as `<prefix>-<env>-smoke`, an account the bootstrap creates and
binds to GitHub like the deployer (promote.yml on main, in the GitHub Environment of the
same name), with one project-level role: `roles/bigquery.jobUser` (run its query). The stack
looks the account up and grants, per resource:

- `roles/pubsub.viewer` on every topic and subscription of the stack: the check gets each
  one (they exist) and reads the BigQuery subscription's `bigquery_config.state`;
- `roles/secretmanager.secretAccessor` on the webhook's signing-key secret only (it signs
  its test event as Customer.io does);
- `roles/bigquery.dataViewer` on the raw analytics dataset (the event's row in
  `webhook_events`);
- `roles/pubsub.subscriber` on the webhook events' dead-letter pull subscription only (pull
  the test event if it was dead-lettered, and ack only that one).

Only where the webhook is deployed: without it the smoke check has nothing to sign for.
"""

from __future__ import annotations

from collections.abc import Sequence

from stacks import cdk, identities
from stacks.analytics import Analytics
from stacks.config import Environment
from stacks.event_bus import EventBus
from stacks.manifests import HandlerManifest
from stacks.secrets import Secrets

SIGNING_KEY = "webhook-signing-key"  # the logical secret name (docs/design.md)
WEBHOOK_EVENTS = "webhook-events"


def needs_smoke_access(env: Environment, manifests: Sequence[HandlerManifest]) -> bool:
    """A deployed public handler reads the signing key: the webhook the smoke check signs for."""
    return env.deploy_handlers and any(
        m.public and SIGNING_KEY in m.secret_names() for m in manifests if env.enabled(m.name)
    )


class SmokeAccess(cdk.Construct):
    """The smoke account's grants. Build it after every topic and subscription of `stack`:
    it grants viewer on those it finds there."""

    def __init__(
        self,
        stack: cdk.Construct,
        env: Environment,
        secrets: Secrets,
        bus: EventBus,
        analytics: Analytics,
    ) -> None:
        super().__init__(stack, "smoke")
        self.env = env
        topics = [c for c in stack.node.find_all() if isinstance(c, cdk.PubsubTopic)]
        subscriptions = [c for c in stack.node.find_all() if isinstance(c, cdk.PubsubSubscription)]
        self.account = cdk.DataGoogleServiceAccount(
            self, "account", project=env.project_id, account_id=identities.smoke_account_id(env)
        )
        member = f"serviceAccount:{self.account.email}"
        for topic in sorted(topics, key=lambda t: str(t.name_input)):
            cdk.PubsubTopicIamMember(
                self,
                f"viewer-topic-{self._purpose(topic.name_input)}",
                project=env.project_id,
                topic=topic.name,
                role="roles/pubsub.viewer",
                member=member,
            )
        for subscription in sorted(subscriptions, key=lambda s: str(s.name_input)):
            cdk.PubsubSubscriptionIamMember(
                self,
                f"viewer-subscription-{self._purpose(subscription.name_input)}",
                project=env.project_id,
                subscription=subscription.name,
                role="roles/pubsub.viewer",
                member=member,
            )
        cdk.PubsubSubscriptionIamMember(
            self,
            "dead-letter-subscriber",
            project=env.project_id,
            subscription=bus.dead_letter_subscriptions[WEBHOOK_EVENTS].name,
            role="roles/pubsub.subscriber",
            member=member,
        )
        secrets.grant_access(self, SIGNING_KEY, member)
        cdk.BigqueryDatasetIamMember(
            self,
            "events-reader",
            project=env.project_id,
            dataset_id=analytics.dataset.dataset_id,
            role="roles/bigquery.dataViewer",
            member=member,
        )

    def _purpose(self, name: object) -> str:
        """`cio-dev-track-push` -> `track-push`: construct ids alike in every environment."""
        return str(name).removeprefix(self.env.resource_name(""))
