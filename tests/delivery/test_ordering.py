"""Per-person ordering on the identify topic, against Google's Pub/Sub emulator: the producer
publishes person operations with a hashed per-person ordering key, the subscription delivers
each person's operations in publish order, track messages stay unordered."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from cio_shared.common import google_clients
from cio_shared.messages import Person
from cio_shared.producer import ordering_key, publish, publish_identify, publish_track

from tests.delivery import harness as h

pytestmark = pytest.mark.integration


def test_ordering_key_is_a_stable_hash_of_the_person_without_the_email():
    key = ordering_key(Person(email="Jane.Doe@Example.com"))
    assert key == hashlib.sha256(b"email:jane.doe@example.com").hexdigest()[:32]
    assert key == ordering_key(Person(email="jane.doe@example.com")), "emails: case-insensitive"
    assert "jane" not in key and "@" not in key
    assert ordering_key(Person(id="42")) != ordering_key(Person(cio_id="42")), (
        "an id and a cio_id with the same text are different people"
    )
    assert ordering_key(Person(id="42")) != ordering_key(Person(id="43"))


def test_identify_topic_delivers_each_persons_operations_in_publish_order(pubsub_emulator_host):
    names = h.unique_names("identify")
    subscription = _pull_subscription(names, ordered=True)
    people: list[dict[str, str]] = [
        {"id": "ord-a"},
        {"email": "Ord.B@example.com"},
        {"cio_id": "a1b2c3"},
    ]
    expected: dict[str, list[str]] = {}
    for step in range(3):  # interleaved: a0 b0 c0 a1 b1 c1, then every person's suppress
        for person in people:
            if step < 2:
                event_id = publish_identify(person, {"step": step}, topic=names.source)
            else:
                event_id = publish("identify", person, {"action": "suppress"}, topic=names.source)
            expected.setdefault(ordering_key(Person(**person)), []).append(event_id)

    received = _pull(subscription, expected=9)
    by_key: dict[str, list[str]] = {}
    for message in received:
        by_key.setdefault(message.ordering_key, []).append(message.attributes["cio_event_id"])
    assert by_key == expected
    assert all(m.attributes["cio_action"] in ("identify", "suppress") for m in received)
    metadata = json.dumps([[m.ordering_key, dict(m.attributes)] for m in received]).lower()
    assert "example.com" not in metadata and "ord-a" not in metadata


def test_track_topic_messages_carry_no_ordering_key(pubsub_emulator_host):
    names = h.unique_names("track")
    subscription = _pull_subscription(names, ordered=False)
    ids = {
        publish_track({"id": f"t-{i}"}, "viewed", {"i": i}, topic=names.source) for i in range(3)
    }
    received = _pull(subscription, expected=3)
    assert {m.attributes["cio_event_id"] for m in received} == ids
    assert [m.ordering_key for m in received] == ["", "", ""]


def test_a_failed_ordered_publish_does_not_block_the_producers_retry(pubsub_emulator_host):
    from google.api_core.exceptions import NotFound

    names = h.unique_names("identify")
    # The topic does not exist yet: the publish fails for good and the client pauses the key.
    with pytest.raises(NotFound):
        publish("identify", {"id": "retry-1"}, {"action": "suppress"}, topic=names.source)
    subscription = _pull_subscription(names, ordered=True)
    # The producer resumed the key: its own retry (and the person's next message) goes through.
    retried = publish("identify", {"id": "retry-1"}, {"action": "suppress"}, topic=names.source)
    [message] = _pull(subscription, expected=1)
    assert message.attributes["cio_event_id"] == retried
    assert message.ordering_key == ordering_key(Person(id="retry-1"))


def test_a_publisher_without_ordering_is_refused_for_the_identify_topic(pubsub_emulator_host):
    from google.cloud import pubsub_v1

    with pytest.raises(ValueError, match="enable_message_ordering=True"):
        publish_identify(
            {"id": "x"}, {}, topic="cio-x-identify", publisher=pubsub_v1.PublisherClient()
        )


@pytest.mark.parametrize("api", h.APIS)
def test_push_delivers_a_persons_operations_in_order_through_an_outage(
    pubsub_emulator_host, tmp_path, api
):
    """End to end: producer -> ordered push subscription -> identify handler -> simulator.

    Customer.io is down when the operations arrive, so every one of them is retried. With
    ordering, a person's suppress waits until their identifies were delivered; without it the
    retries race and a suppress often lands first (Customer.io then ignores the identify).
    Through the Pipelines API (identify calls and `User Suppressed` events, whose timestamps
    no page says order anything) the ordered subscription is what keeps the order.
    """
    names = h.unique_names("identify")
    h.create_topics(names)
    people = [{"id": f"outage-{i}"} for i in range(12)]
    with (
        h.simulator(log_path=tmp_path / "simulator.log") as sim,
        h.handler("identify", h.handler_env(names, sim.url, api), tmp_path / "identify.log") as url,
    ):
        _push_subscription(names, url)
        sim.set_faults(outages=[[0, 2.0]], path_prefix=h.API_PATH_PREFIX[api])
        for step in range(3):
            for person in people:
                if step < 2:
                    publish_identify(
                        person, {"step": step}, timestamp=h.TS + step, topic=names.source
                    )
                else:
                    publish("identify", person, {"action": "suppress"}, topic=names.source)
        wanted = {p["id"] for p in people}
        assert h.wait_until(lambda: wanted <= _suppressed_ids(sim), timeout=60)
        state = sim.state()
        log = requests_log(sim, h.API_PATH_PREFIX[api])
    assert not [i for i in state["ignored"] if i["operation"] == "identify"], (
        "no identify reached Customer.io after the person's suppress"
    )
    assert sim_503s(log) > 0, "the outage made the handler retry"
    for person in people:
        delivered = [_label(op) for op in delivered_operations(log, person["id"])]
        # redelivery may repeat an operation, never reorder a person's operations
        assert _collapse(delivered) == ["identify:0", "identify:1", "suppress"], person


def _pull_subscription(names: h.Names, *, ordered: bool) -> str:
    from google.cloud import pubsub_v1

    google_clients.publisher().create_topic(name=names.source)
    subscription = f"projects/{h.PROJECT}/subscriptions/cio-{names.environment}-pull"
    pubsub_v1.SubscriberClient().create_subscription(
        request={"name": subscription, "topic": names.source, "enable_message_ordering": ordered}
    )
    return subscription


def _push_subscription(names: h.Names, endpoint: str) -> None:
    """As the stacks make the identify push subscription (`ordered: true`), minus the retry
    policy the emulator mishandles (see harness.create_push_subscription)."""
    from google.cloud import pubsub_v1

    pubsub_v1.SubscriberClient().create_subscription(
        request={
            "name": names.push_subscription,
            "topic": names.source,
            "push_config": {"push_endpoint": endpoint},
            "ack_deadline_seconds": 10,
            "enable_message_ordering": True,
            "dead_letter_policy": {
                "dead_letter_topic": names.dead_letter,
                "max_delivery_attempts": 50,
            },
        }
    )


def _pull(subscription: str, expected: int) -> list[Any]:
    """Pull and ack until `expected` messages arrived (bounded), in delivery order."""
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    received: list[Any] = []

    def pull_some() -> bool:
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": 100}, timeout=5
        )
        if response.received_messages:
            subscriber.acknowledge(
                request={
                    "subscription": subscription,
                    "ack_ids": [m.ack_id for m in response.received_messages],
                }
            )
        received.extend(m.message for m in response.received_messages)
        return len(received) >= expected

    assert h.wait_until(pull_some, timeout=20), f"pulled {len(received)} of {expected}"
    return received


def requests_log(sim: h.Simulator, prefix: str = "/api/v2") -> list[dict[str, Any]]:
    import requests

    answer = requests.get(f"{sim.url}/_admin/requests?path_prefix={prefix}", timeout=10)
    return sorted(answer.json()["requests"], key=lambda e: e["seq"])  # type: ignore[no-any-return]


def sim_503s(log: list[dict[str, Any]]) -> int:
    return sum(1 for e in log if e["status"] == 503)


def delivered_operations(log: list[dict[str, Any]], customer_id: str) -> list[dict[str, Any]]:
    """The person's operations in the order Customer.io accepted them (entity or batch)."""
    found = []
    for entry in log:
        if entry["status"] not in (200, 207) or not isinstance(entry["body"], dict):
            continue
        body = entry["body"]
        for op in body.get("batch", [body]):
            person = op.get("identifiers", {}).get("id") or op.get("userId")
            if person == customer_id:
                found.append(op)
    return found


def _label(op: dict[str, Any]) -> str:
    """Track API v2 operations and Pipelines calls alike: `identify:<step>` or `suppress`."""
    if op.get("action") == "identify" or op.get("type") == "identify":
        return f"identify:{(op.get('attributes') or op.get('traits'))['step']}"
    if op.get("event") == "User Suppressed":
        return "suppress"
    return str(op["action"])


def _collapse(labels: list[str]) -> list[str]:
    return [label for i, label in enumerate(labels) if i == 0 or labels[i - 1] != label]


def _suppressed_ids(sim: h.Simulator) -> set[str]:
    return {s.get("id") for s in sim.state()["suppressed"] if s.get("id")}
