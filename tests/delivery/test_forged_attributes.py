"""Issue 18 item 3 at the handler, end to end on the Pub/Sub emulator: a producer message with
~92 attributes (a forged cio_source_topic among them) and a bad body. Before, the handler's own
dead-letter publish went over Pub/Sub's 100 attributes, it answered 503 until Pub/Sub
dead-lettered the message itself, forged attribute and all. Now the handler dead-letters it at
once with its reason, and the dead letter carries none of the forged keys."""

from __future__ import annotations

import pytest
from cio_shared.delivery.dead_letter import (
    MAX_PRODUCER_ATTRIBUTES,
    PUBSUB_MAX_ATTRIBUTES,
    attribute_problem,
    producer_attributes,
)

from tests.delivery import harness as h

pytestmark = pytest.mark.integration


def forged_attributes(count: int = 92) -> dict[str, str]:
    attributes = {f"k{i:03d}": "v" * 1024 for i in range(count - 3)}
    attributes.update(
        {
            "cio_source_topic": "projects/someone-else/topics/stolen",
            "cio_reason": "rejected_429",
            "CloudPubSubDeadLetterSourceDeliveryCount": "30",
        }
    )
    return attributes


def test_attribute_rules() -> None:
    assert attribute_problem({"origin": "shop", "cio_schema": "v1", "cio_replay_of": "1"}) is None
    assert "cio_source_topic" in str(attribute_problem({"cio_source_topic": "x"}))
    too_many = {f"k{i}": "v" for i in range(MAX_PRODUCER_ATTRIBUTES + 1)}
    assert "at most 80" in str(attribute_problem(too_many))
    kept, dropped = producer_attributes(forged_attributes())
    assert len(kept) == MAX_PRODUCER_ATTRIBUTES and dropped == 12
    assert not [k for k in kept if k.startswith(("cio_", "CloudPubSub"))]


def test_a_forged_attribute_flood_is_dead_lettered_by_the_handler(
    pubsub_emulator_host, tmp_path
) -> None:
    from google.cloud import pubsub_v1

    names = h.unique_names("track")
    h.create_topics(names)
    # no Customer.io behind it: nothing here may be sent
    env = h.handler_env(names, "http://127.0.0.1:9")
    with h.handler("track", env, tmp_path / "track.log") as url:
        h.create_push_subscription(names, url, max_attempts=5)
        pubsub_v1.PublisherClient().publish(
            names.source, b"{not json", **forged_attributes()
        ).result()
        [dead] = h.pull_dead_letters(names, expected=1)
    attributes = dict(dead.attributes)
    assert attributes["cio_reason"] == "attributes_invalid"
    assert "cio_source_topic" in attributes["cio_detail"]
    assert attributes["cio_source_topic"] == names.source  # the handler's, not the producer's
    assert "CloudPubSubDeadLetterSourceDeliveryCount" not in attributes  # not Pub/Sub's doing
    assert attributes["cio_attributes_dropped"] == "12"
    assert len(attributes) <= PUBSUB_MAX_ATTRIBUTES
    assert dead.data == b"{not json"
    log = (tmp_path / "track.log").read_text()
    assert '"decision": "dead_lettered"' in log and '"decision": "retry"' not in log
