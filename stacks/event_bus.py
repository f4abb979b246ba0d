"""Pub/Sub topics: the event contract topics, their dead-letter topics, and webhook topics."""

from __future__ import annotations

from collections.abc import Sequence

from cio_shared.contract import dead_letter_of

from stacks import cdk
from stacks.config import Environment
from stacks.naming import days, lifecycle


class EventBus(cdk.Construct):
    """Topics by purpose (`track`, `track-dead-letter`, `webhook-events`, ...)."""

    def __init__(
        self,
        scope: cdk.Construct,
        env: Environment,
        pubsub_agent: str,
        event_topics: Sequence[str],
    ) -> None:
        """`event_topics`: the topics the environment's handlers consume (their manifests)."""
        super().__init__(scope, "event-bus")
        self.env = env
        self.pubsub_agent = pubsub_agent
        self.topics: dict[str, cdk.PubsubTopic] = {}
        self.dead_letter_subscriptions: dict[str, cdk.PubsubSubscription] = {}
        self.event_topics = sorted(set(event_topics))
        for purpose in self.event_topics:
            self._topic(purpose, "event-bus")
            self._dead_letter(purpose)
            for index, member in enumerate(env.publishers):
                cdk.PubsubTopicIamMember(
                    self,
                    f"{purpose}-publisher-{index}",
                    project=env.project_id,
                    topic=self.topics[purpose].name,
                    role="roles/pubsub.publisher",
                    member=member,
                )
        self._topic("webhook-events", "webhooks")
        self._dead_letter("webhook-events")
        self._topic("webhook-quarantine", "webhooks")
        self.quarantine_subscription = self._pull_subscription("webhook-quarantine")

    def _topic(self, purpose: str, component: str) -> cdk.PubsubTopic:
        topic = cdk.PubsubTopic(
            self,
            f"topic-{purpose}",
            project=self.env.project_id,
            name=self.env.resource_name(purpose),
            kms_key_name=self.env.kms_key_for("pubsub", self.env.region),
            message_retention_duration=days(self.env.pubsub.message_retention_days),
            labels={"component": component},
            lifecycle=lifecycle(self.env),
        )
        self.topics[purpose] = topic
        return topic

    def _pull_subscription(self, purpose: str) -> cdk.PubsubSubscription:
        """A pull subscription that keeps messages for inspection and replay."""
        return cdk.PubsubSubscription(
            self,
            f"sub-{purpose}",
            project=self.env.project_id,
            name=self.env.resource_name(purpose),
            topic=self.topics[purpose].id,
            ack_deadline_seconds=60,
            message_retention_duration=days(min(self.env.pubsub.dead_letter_retention_days, 31)),
            retain_acked_messages=False,
            expiration_policy={"ttl": ""},
            labels={"component": "dead-letters"},
        )

    def _dead_letter(self, source: str) -> None:
        purpose = dead_letter_of(source)
        topic = self._topic(purpose, "dead-letters")
        self.dead_letter_subscriptions[source] = self._pull_subscription(purpose)
        # Pub/Sub's service agent forwards undeliverable messages: it must publish here.
        cdk.PubsubTopicIamMember(
            self,
            f"{purpose}-agent-publisher",
            project=self.env.project_id,
            topic=topic.name,
            role="roles/pubsub.publisher",
            member=f"serviceAccount:{self.pubsub_agent}",
        )

    def dead_letter_policy(self, source: str) -> dict[str, object]:
        return {
            "dead_letter_topic": self.topics[dead_letter_of(source)].id,
            "max_delivery_attempts": self.env.pubsub.max_delivery_attempts,
        }

    def grant_agent_subscriber(
        self, scope: cdk.Construct, subscription: cdk.PubsubSubscription
    ) -> None:
        """Dead-lettering also needs the agent to acknowledge on the source subscription."""
        cdk.PubsubSubscriptionIamMember(
            scope,
            "agent-subscriber",
            project=self.env.project_id,
            subscription=subscription.name,
            role="roles/pubsub.subscriber",
            member=f"serviceAccount:{self.pubsub_agent}",
        )
