"""What the smoke check expects, read from the synthesized stack (`cdk.tf.json`) and the
environment file, never from a second list kept here: topics, subscriptions, public functions,
the webhook's signing-key secret and version, the BigQuery subscription, its table and the
pull subscription that holds its dead letters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

FUNCTION_NAME = re.compile(r"^\$\{google_cloudfunctions2_function\.([^.]+)\.name\}$")
TOPIC_ID = re.compile(r"^\$\{google_pubsub_topic\.([^.]+)\.id\}$")
SECRET_ID = re.compile(r"^\$\{google_secret_manager_secret\.([^.]+)\.secret_id\}$")
SIGNING_KEY_VARIABLE = "CIO_WEBHOOK_SIGNING_KEY"
SIGNING_KEY_SECRET = "webhook-signing-key"  # noqa: S105 (logical name, docs/design.md)


@dataclass(frozen=True)
class Webhook:
    function: str  # cio-<env>-webhook
    secret_id: str  # cio-<env>-webhook-signing-key
    version: str  # what the function runs: `latest` or a pinned number


@dataclass(frozen=True)
class BigQuerySink:
    subscription: str  # cio-<env>-webhook-events-bq
    table: str  # <project>.cio_<env>_analytics.webhook_events
    dead_letter_subscription: str | None  # pull subscription on its dead-letter topic


@dataclass(frozen=True)
class Expectations:
    project: str
    region: str
    topics: list[str]
    subscriptions: list[str]
    public_functions: list[str]
    webhook: Webhook | None
    sink: BigQuerySink | None


def _webhook(resources: dict[str, Any], env_file: dict[str, Any]) -> Webhook | None:
    """The function that runs with the signing key, its secret and the version it reads.

    A `secret_versions` pin in the environment file wins over the stack's reference (which is
    `latest` unless the stack pins a number)."""
    secrets = resources.get("google_secret_manager_secret", {})
    pins = env_file.get("secret_versions") or {}
    for function in resources.get("google_cloudfunctions2_function", {}).values():
        service = function.get("service_config") or {}
        if isinstance(service, list):
            service = service[0] if service else {}
        for variable in service.get("secret_environment_variables") or []:
            if variable.get("key") != SIGNING_KEY_VARIABLE:
                continue
            reference = SECRET_ID.match(str(variable.get("secret", "")))
            secret_id = (
                secrets[reference[1]]["secret_id"]
                if reference and reference[1] in secrets
                else str(variable.get("secret"))
            )
            version = str(pins.get(SIGNING_KEY_SECRET) or variable.get("version") or "latest")
            return Webhook(function["name"], secret_id, version)
    return None


def _sink(resources: dict[str, Any]) -> BigQuerySink | None:
    topics = resources.get("google_pubsub_topic", {})
    subscriptions = resources.get("google_pubsub_subscription", {}).values()

    def topic_name(reference: str) -> str | None:
        match = TOPIC_ID.match(reference)
        return topics[match[1]]["name"] if match and match[1] in topics else None

    for subscription in subscriptions:
        config = subscription.get("bigquery_config")
        if not config:
            continue
        policy = subscription.get("dead_letter_policy") or {}
        dead_letter_topic = topic_name(str(policy.get("dead_letter_topic", "")))
        holder = next(
            (
                s["name"]
                for s in subscriptions
                if dead_letter_topic and topic_name(str(s.get("topic", ""))) == dead_letter_topic
            ),
            None,
        )
        return BigQuerySink(subscription["name"], str(config["table"]), holder)
    return None


def expectations(stack: dict[str, Any], env_file: dict[str, Any]) -> Expectations:
    resources = stack.get("resource", {})
    functions = resources.get("google_cloudfunctions2_function", {})
    public = []
    for binding in resources.get("google_cloud_run_v2_service_iam_member", {}).values():
        match = FUNCTION_NAME.match(str(binding.get("name", "")))
        if binding.get("member") == "allUsers" and match and match[1] in functions:
            public.append(functions[match[1]]["name"])
    return Expectations(
        project=env_file["project_id"],
        region=env_file.get("region", "europe-west1"),
        topics=sorted(t["name"] for t in resources.get("google_pubsub_topic", {}).values()),
        subscriptions=sorted(
            s["name"] for s in resources.get("google_pubsub_subscription", {}).values()
        ),
        public_functions=sorted(public),
        webhook=_webhook(resources, env_file),
        sink=_sink(resources),
    )


def function_url(expected: Expectations, name: str) -> str:
    """The documented URL of a 2nd gen function: https://REGION-PROJECT.cloudfunctions.net/NAME."""
    return f"https://{expected.region}-{expected.project}.cloudfunctions.net/{name}"
