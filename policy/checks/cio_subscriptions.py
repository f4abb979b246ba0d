"""Pub/Sub subscriptions that deliver somewhere: dead letters and authenticated pushes."""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckResult
from cio_policy import StackDocument, StackResourceCheck, block

DELIVERY_CONFIGS = ("push_config", "bigquery_config", "cloud_storage_config")
MIN_ATTEMPTS, MAX_ATTEMPTS = 5, 100  # Pub/Sub's accepted range


class DeliverySubscriptionDeadLetters(StackResourceCheck):
    """A push or export subscription without a dead-letter policy retries a poison message
    until retention drops it: silently lost, and it delays everything behind it."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Pub/Sub push and export subscriptions dead-letter undeliverable "
            "messages (dead_letter_policy with max_delivery_attempts)",
            id="CKV_CIO_1",
            supported_resources=("google_pubsub_subscription",),
        )

    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        if not any(block(resource, key) for key in DELIVERY_CONFIGS):
            return CheckResult.UNKNOWN  # a pull subscription: its consumer decides
        self.evaluated_keys = ["dead_letter_policy"]
        policy = block(resource, "dead_letter_policy")
        if not policy.get("dead_letter_topic"):
            return self.fail("no dead_letter_policy.dead_letter_topic")
        attempts = policy.get("max_delivery_attempts")
        if not isinstance(attempts, int) or not MIN_ATTEMPTS <= attempts <= MAX_ATTEMPTS:
            return self.fail(
                f"dead_letter_policy.max_delivery_attempts must be set to "
                f"{MIN_ATTEMPTS}..{MAX_ATTEMPTS}, got {attempts!r}"
            )
        return CheckResult.PASSED


class PushSubscriptionOidc(StackResourceCheck):
    """Handlers accept only OIDC-authenticated pushes; a push without a token is refused."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Pub/Sub push subscriptions authenticate with an OIDC token "
            "(push_config.oidc_token.service_account_email)",
            id="CKV_CIO_10",
            supported_resources=("google_pubsub_subscription",),
        )

    def evaluate(
        self, stack: StackDocument, rtype: str, name: str, resource: dict[str, Any]
    ) -> CheckResult:
        push = block(resource, "push_config")
        if not push:
            return CheckResult.UNKNOWN
        self.evaluated_keys = ["push_config/[0]/oidc_token"]
        if not block(push, "oidc_token").get("service_account_email"):
            return self.fail("push_config has no oidc_token.service_account_email")
        return CheckResult.PASSED


dead_letters = DeliverySubscriptionDeadLetters()
oidc = PushSubscriptionOidc()
