"""Helpers for the webhook tests: Customer.io's reference document, independent signing,
the handler under functions-framework's test client, and Pub/Sub topics on the emulator."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import functions_framework
from google.api_core import exceptions
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

REPO = Path(__file__).resolve().parents[2]
HANDLER_SOURCE = REPO / "functions" / "webhook" / "main.py"
REPORTING_WEBHOOKS = "reporting-webhooks.openapi.json"
PROJECT = "local-project"
KEY = "whsec-current-0123456789abcdef"
PREVIOUS_KEY = "whsec-previous-fedcba9876543210"


def _reference_dir() -> Path:
    override = os.environ.get("CIO_SIM_REFERENCE_DIR")
    candidates = [
        Path(override) if override else None,
        REPO.parent / "shared" / "reference" / "customerio",
        Path("/work/shared/reference/customerio"),
        REPO / "simulator" / "cio_simulator" / "reference",
    ]
    for candidate in candidates:
        if candidate is not None and (candidate / REPORTING_WEBHOOKS).is_file():
            return candidate
    raise FileNotFoundError(f"{REPORTING_WEBHOOKS} not found in {candidates}")


@cache
def reporting_document() -> dict[str, Any]:
    return json.loads((_reference_dir() / REPORTING_WEBHOOKS).read_text(encoding="utf-8"))


def document_examples() -> dict[str, dict[str, Any]]:
    """Every complete example payload in the document (name -> payload)."""
    content = reporting_document()["webhooks"]["reportingWebhook"]["post"]["requestBody"]["content"]
    examples = content["application/json"]["examples"]
    return {name: example["value"] for name, example in examples.items()}


def example_payloads() -> dict[str, dict[str, Any]]:
    """Every example payload the document yields, by the simulator's extractor: the published
    examples, then one event per (object_type, metric) schema built from field examples."""
    from cio_simulator.webhook_examples import example_events

    payloads: dict[str, dict[str, Any]] = {}
    for example in example_events(unique_ids=False):
        name = example.name if example.name not in payloads else f"{example.name}-schema"
        payloads[name] = example.payload
    return payloads


def document_event_kinds() -> set[tuple[str, str]]:
    """(object_type, metric) for every event schema the document defines, from its enums.

    Channel events are schemas named `<object_type>_<metric>` with a `metric` enum; the
    subscription events (`person_*`) may name any channel as their object_type.
    """
    schemas = reporting_document()["components"]["schemas"]
    object_types = set(schemas["customer_event_common"]["properties"]["object_type"]["enum"])
    kinds: set[tuple[str, str]] = set()
    for name, schema in schemas.items():
        for metric in _metric_enum(schema):
            if name.startswith("person_"):
                kinds |= {(object_type, metric) for object_type in object_types}
            else:
                [object_type] = [o for o in object_types if name.startswith(f"{o}_")]
                kinds.add((object_type, metric))
    return kinds


def _metric_enum(schema: Mapping[str, Any]) -> list[str]:
    for part in [schema, *schema.get("allOf", [])]:
        metric = part.get("properties", {}).get("metric", {})
        if "enum" in metric:
            return list(metric["enum"])
    return []


def signature(key: str, timestamp: str, body: bytes) -> str:
    """Customer.io's documented signature, computed here without the handler's code."""
    message = b"v0:" + timestamp.encode() + b":" + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, key: str = KEY, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-CIO-Timestamp": ts, "X-CIO-Signature": signature(key, ts, body)}


def event(object_type: str = "email", metric: str = "sent", **data: Any) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex.upper()[:26],
        "object_type": object_type,
        "metric": metric,
        "timestamp": int(time.time()) - 60,
        "data": {"delivery_id": "RPILAgUBcRhIBqSfeiIwdIYJKxTY", "campaign_id": 7, **data},
    }


def encode(payload: Any) -> bytes:
    return json.dumps(payload).encode()


@dataclass
class Topics:
    """A fresh events topic and quarantine topic, each with a pull subscription."""

    events: str
    quarantine: str
    events_subscription: str
    quarantine_subscription: str

    def env(self) -> dict[str, str]:
        return {
            "CIO_WEBHOOK_EVENTS_TOPIC": self.events,
            "CIO_WEBHOOK_QUARANTINE_TOPIC": self.quarantine,
        }


def create_topics(create: bool = True) -> Topics:
    suffix = uuid.uuid4().hex[:10]
    topics = Topics(
        events=f"projects/{PROJECT}/topics/cio-test-webhook-events-{suffix}",
        quarantine=f"projects/{PROJECT}/topics/cio-test-webhook-quarantine-{suffix}",
        events_subscription=f"projects/{PROJECT}/subscriptions/events-{suffix}",
        quarantine_subscription=f"projects/{PROJECT}/subscriptions/quarantine-{suffix}",
    )
    if create:
        create_topic(topics.events, topics.events_subscription)
        create_topic(topics.quarantine, topics.quarantine_subscription)
    return topics


def create_topic(topic: str, subscription: str) -> None:
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    with suppress(exceptions.AlreadyExists):
        publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscription, topic=topic, ack_deadline_seconds=60)


def pull(subscription: str, expected: int, timeout: float = 10.0) -> list[Any]:
    """Pull and ack until `expected` (> 0) messages arrived, or for all of `timeout` when 0."""
    subscriber = pubsub_v1.SubscriberClient()
    received: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (expected == 0 or len(received) < expected):
        with warnings.catch_warnings():  # return_immediately is deprecated, not gone
            warnings.simplefilter("ignore", DeprecationWarning)
            response = subscriber.pull(
                request={
                    "subscription": subscription,
                    "max_messages": 100,
                    "return_immediately": True,
                },
                timeout=5,
            )
        messages = response.received_messages
        if messages:
            subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in messages])
            received.extend(m.message for m in messages)
        else:
            time.sleep(0.05)
    return received


def nothing_published(subscription: str, settle: float = 0.3) -> bool:
    """The handler publishes before it answers, so a short look after the answer suffices."""
    return not pull(subscription, expected=0, timeout=settle)


@contextmanager
def handler_client(env: Mapping[str, str]) -> Iterator[Any]:
    """The handler in this process under functions-framework's Flask app, with `env` set."""
    full = {
        "CIO_WEBHOOK_SIGNING_KEY": KEY,
        "CIO_ENVIRONMENT": "test",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
    }
    full.update(env)
    previous = {name: os.environ.get(name) for name in full}
    os.environ.update(full)
    try:
        app = functions_framework.create_app("handle", str(HANDLER_SOURCE))
        yield app.test_client()
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
