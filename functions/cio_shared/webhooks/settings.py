"""Webhook handler configuration from environment variables, read once at instance start.

In the cloud the stack injects the signing keys from Secret Manager as environment variables
(no API call on the hot path); locally they come from the shell. A missing key or a malformed
number fails the instance at start with a message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cio_shared.common import EnvReader, SettingsError, project_id, topic_path
from cio_shared.webhooks.signature import DEFAULT_MAX_AGE_SECONDS, DEFAULT_MAX_FUTURE_SECONDS

# Ten times Gmail's 102 KB clipping point, so far above a reporting event even with *Body
# Content* on (a sent event then carries the message body), and small enough that concurrency
# x cap fits in an instance: equal to cio_shared.contract.WEBHOOK_DEFAULT_MAX_BODY_BYTES, which
# the stacks' readiness rule reads (this package does not import the contract; a test checks).
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
PUBSUB_MAX_MESSAGE_BYTES = 10_000_000
# Customer.io waits 4 s; leave room for the request itself and a cold connection.
DEFAULT_PUBLISH_TIMEOUT_SECONDS = 2.5


class WebhookSettingsError(SettingsError):
    """A configuration variable is missing or malformed (the message names it, not its value)."""


@dataclass(frozen=True)
class WebhookSettings:
    """The signing keys are kept out of repr (and so of str, logs and tracebacks)."""

    signing_key: str = field(repr=False)
    previous_signing_key: str = field(repr=False)
    events_topic: str
    quarantine_topic: str
    environment: str = "local"
    max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS
    max_future_seconds: int = DEFAULT_MAX_FUTURE_SECONDS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    publish_timeout_seconds: float = DEFAULT_PUBLISH_TIMEOUT_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebhookSettings:
        env = os.environ if env is None else env
        reader = EnvReader(env, WebhookSettingsError)
        # Stripped: a secret version added with `echo` ends in a newline that Customer.io's key
        # does not have, and would fail every signature.
        key = reader.required("CIO_WEBHOOK_SIGNING_KEY", "the handler cannot verify any webhook")
        environment = env.get("CIO_ENVIRONMENT") or "local"
        project = project_id()
        settings = cls(
            signing_key=key,
            previous_signing_key=reader.optional("CIO_WEBHOOK_SIGNING_KEY_PREVIOUS") or "",
            events_topic=_topic(env, "CIO_WEBHOOK_EVENTS_TOPIC", project, environment, "events"),
            quarantine_topic=_topic(
                env, "CIO_WEBHOOK_QUARANTINE_TOPIC", project, environment, "quarantine"
            ),
            environment=environment,
            max_age_seconds=reader.integer(
                "CIO_WEBHOOK_MAX_AGE_SECONDS", DEFAULT_MAX_AGE_SECONDS, minimum=0
            ),
            max_future_seconds=reader.integer(
                "CIO_WEBHOOK_MAX_FUTURE_SECONDS", DEFAULT_MAX_FUTURE_SECONDS, minimum=0
            ),
            max_body_bytes=reader.integer(
                "CIO_WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=0
            ),
            publish_timeout_seconds=reader.number(
                "CIO_WEBHOOK_PUBLISH_TIMEOUT_SECONDS", DEFAULT_PUBLISH_TIMEOUT_SECONDS, minimum=0
            ),
        )
        if settings.max_body_bytes > PUBSUB_MAX_MESSAGE_BYTES - 64 * 1024:
            raise WebhookSettingsError(
                "CIO_WEBHOOK_MAX_BODY_BYTES must stay below Pub/Sub's 10 MB message limit"
            )
        if not 0 < settings.publish_timeout_seconds < 4:
            raise WebhookSettingsError(
                "CIO_WEBHOOK_PUBLISH_TIMEOUT_SECONDS must be under Customer.io's 4 s timeout"
            )
        return settings


def _topic(env: Mapping[str, str], name: str, project: str, environment: str, purpose: str) -> str:
    return topic_path(project, env.get(name) or f"cio-{environment}-webhook-{purpose}")
