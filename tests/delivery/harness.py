"""Real local plumbing for the delivery tests: simulator process, handler under
functions-framework, Pub/Sub emulator topics and subscriptions, push envelopes."""

from __future__ import annotations

import base64
import json
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.processes import FUNCTIONS, free_port, function_server, running

PROJECT = "local-project"
TS = 1_767_225_600
SITE_ID = "sim-site-id"
TRACK_API_KEY = "sim-track-api-key"
PIPELINES_API_KEY = "sim-pipelines-api-key"
# The two destinations (environment `customerio.api`) the delivery tests run against.
APIS = ("track", "pipelines")
# The simulator paths each destination's handler calls (fault and request-log prefixes).
API_PATH_PREFIX = {"track": "/api/v2", "pipelines": "/v1/"}
SIMULATOR = Path(sys.executable).parent / "cio-simulator"


@dataclass
class Simulator:
    url: str

    def state(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/_admin/state", timeout=10).json()  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/_admin/stats", timeout=10).json()  # type: ignore[no-any-return]

    def events(self) -> dict[str, dict[str, Any]]:
        return {e["id"]: e for e in self.state()["events"] if e.get("id")}

    def sent_event_ids(self, api: str = "track") -> list[str]:
        """The event id of every stored event, repeats included: the Track API's `id`, or the
        `messageId` we sent the Pipelines API (which sets its own and deduplicates on neither)."""
        key = "client_message_id" if api == "pipelines" else "id"
        return [e[key] for e in self.state()["events"] if e.get(key)]

    def set_faults(self, **faults: Any) -> None:
        requests.post(f"{self.url}/_admin/faults", json=faults, timeout=10).raise_for_status()

    def reset(self) -> None:
        requests.post(f"{self.url}/_admin/reset", timeout=10).raise_for_status()


@contextmanager
def simulator(*args: str, log_path: Path | None = None) -> Iterator[Simulator]:
    port = free_port()
    argv = [str(SIMULATOR), "--port", str(port), *args]
    with running(argv, port, log_path=log_path):
        yield Simulator(f"http://127.0.0.1:{port}")


@dataclass
class Names:
    """Pub/Sub names for one test, following docs/design.md with a unique environment."""

    environment: str
    topic: str

    @property
    def source(self) -> str:
        return f"projects/{PROJECT}/topics/cio-{self.environment}-{self.topic}"

    @property
    def dead_letter(self) -> str:
        return f"{self.source}-dead-letter"

    @property
    def dead_letter_subscription(self) -> str:
        return f"projects/{PROJECT}/subscriptions/cio-{self.environment}-{self.topic}-dead-letter"

    @property
    def push_subscription(self) -> str:
        return f"projects/{PROJECT}/subscriptions/cio-{self.environment}-{self.topic}-push"


def unique_names(topic: str) -> Names:
    return Names(f"t{uuid.uuid4().hex[:8]}", topic)


def create_topics(names: Names) -> None:
    """Source topic, dead-letter topic and its pull subscription (emulator)."""
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    publisher.create_topic(name=names.source)
    publisher.create_topic(name=names.dead_letter)
    subscriber.create_subscription(name=names.dead_letter_subscription, topic=names.dead_letter)


def create_push_subscription(
    names: Names,
    endpoint: str,
    max_attempts: int = 10,
    ack_deadline: int = 10,
    ordered: bool = False,
) -> None:
    """The explicit push subscription with a dead-letter policy, as the stacks make it.

    No retry policy here: the emulator (as shipped on this machine) stops redelivering some
    nacked messages when one is set (seen: 10 of 500 stuck after 2-3 attempts for 90 s, with
    and without a dead-letter policy). Without one it redelivers about once a second, which
    also keeps the tests short. The stacks set the retry policy on real Pub/Sub.
    """
    from google.cloud import pubsub_v1

    pubsub_v1.SubscriberClient().create_subscription(
        request={
            "name": names.push_subscription,
            "topic": names.source,
            "push_config": {"push_endpoint": endpoint},
            "ack_deadline_seconds": ack_deadline,
            "enable_message_ordering": ordered,
            "dead_letter_policy": {
                "dead_letter_topic": names.dead_letter,
                "max_delivery_attempts": max_attempts,
            },
        }
    )


def pull_dead_letters(names: Names, expected: int, timeout: float = 30.0) -> list[Any]:
    """Pull (and ack) dead letters until `expected` arrived or `timeout` passed."""
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    received: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while len(received) < expected and time.monotonic() < deadline:
        response = subscriber.pull(
            request={"subscription": names.dead_letter_subscription, "max_messages": 500}, timeout=5
        )
        if response.received_messages:
            subscriber.acknowledge(
                request={
                    "subscription": names.dead_letter_subscription,
                    "ack_ids": [m.ack_id for m in response.received_messages],
                }
            )
        for m in response.received_messages:
            received[m.message.message_id] = m.message
        if not response.received_messages:
            time.sleep(0.2)
    return list(received.values())


def handler_env(
    names: Names, track_url: str, api: str = "track", **overrides: str
) -> dict[str, str]:
    """A delivery handler's variables; `api="pipelines"` delivers through the Pipelines API."""
    if api == "pipelines":
        overrides = {
            "CIO_DELIVERY_API": "pipelines",
            "CIO_PIPELINES_API_KEY": PIPELINES_API_KEY,
            "CIO_PIPELINES_URL": track_url,
            **overrides,
        }
    return {
        "CIO_SITE_ID": SITE_ID,
        "CIO_TRACK_API_KEY": TRACK_API_KEY,
        "CIO_TRACK_URL": track_url,
        "CIO_REGION": "us",
        "CIO_DEAD_LETTER_TOPIC": names.dead_letter,
        "CIO_ENVIRONMENT": names.environment,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "CIO_TIMEOUT_SECONDS": "2",
        "THREADS": "32",
        **overrides,
    }


@contextmanager
def handler(topic: str, env: Mapping[str, str], log_path: Path | None = None) -> Iterator[str]:
    with function_server(
        FUNCTIONS / topic / "main.py", "handle", env=env, log_path=log_path
    ) as url:
        yield url


def event_message(name: str = "purchase", **extra: Any) -> dict[str, Any]:
    """A valid v1 track event as a dict (a fresh event id each call)."""
    from cio_shared.messages import new_event_id

    return {
        "schema_version": 1,
        "event_id": new_event_id(),
        "action": "event",
        "person": {"id": "p-1"},
        "timestamp": TS,
        "name": name,
        "attributes": {"sku": "a-1"},
        **extra,
    }


def envelope(
    data: bytes | str, message_id: str = "1", attempt: int | None = None, **attributes: str
) -> bytes:
    """A push delivery exactly as Pub/Sub sends it (data base64-encoded)."""
    encoded = data if isinstance(data, str) else base64.b64encode(data).decode()
    body: dict[str, Any] = {
        "message": {
            "data": encoded,
            "attributes": attributes,
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": "2026-11-23T10:00:00.000Z",
        },
        "subscription": f"projects/{PROJECT}/subscriptions/cio-test-push",
    }
    if attempt is not None:
        body["deliveryAttempt"] = attempt
    return json.dumps(body).encode()


def push(url: str, body: bytes) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)


def wait_until(predicate: Any, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
