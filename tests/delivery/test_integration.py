"""The real handlers under functions-framework, the real simulator as a process and Google's
Pub/Sub emulator: producer helper -> topic -> push subscription -> handler -> Track API."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from cio_shared.producer import publish, publish_identify, publish_track

from tests.delivery import harness as h

pytestmark = pytest.mark.integration
TS = h.TS


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    log = tmp_path_factory.mktemp("sim") / "simulator.log"
    with h.simulator(log_path=log) as simulator:
        yield simulator


def test_producer_to_customerio_through_the_emulators_push(pubsub_emulator_host, sim, tmp_path):
    names = h.unique_names("track")
    h.create_topics(names)
    with h.handler("track", h.handler_env(names, sim.url), tmp_path / "track.log") as url:
        h.create_push_subscription(names, url)
        ids = [
            publish_track({"id": f"user-{i}"}, "purchase", {"n": i}, topic=names.source)
            for i in range(30)
        ]
        ids.append(
            publish_track(
                {"email": "jane@example.com"}, "/pricing", action="page", topic=names.source
            )
        )
        # a producer's own retry, with its idempotency key, publishes the same event again
        first = publish_track(
            "u-9", "paid", idempotency_key="order-9", timestamp=TS, topic=names.source
        )
        again = publish_track(
            "u-9", "paid", idempotency_key="order-9", timestamp=TS, topic=names.source
        )
        assert first == again
        ids.append(first)
        # something that bypassed the helper and can never succeed
        from google.cloud import pubsub_v1

        pubsub_v1.PublisherClient().publish(names.source, b"{not json", origin="legacy").result()

        assert h.wait_until(lambda: set(ids) <= set(sim.events()), timeout=30)
        [dead] = h.pull_dead_letters(names, expected=1)
    events = sim.events()
    assert events[first]["duplicates"] == 1, (
        "the retried publish reached Customer.io and was deduplicated"
    )
    assert events[ids[0]]["data"] == {"n": 0} and events[ids[30]]["type"] == "page"
    assert dead.data == b"{not json"
    assert dead.attributes["cio_reason"] == "invalid_json" and dead.attributes["origin"] == "legacy"
    assert dead.attributes["cio_source_topic"] == names.source
    assert dead.attributes["cio_retryable"] == "false" and dead.attributes["cio_handler"] == "track"
    log_lines = [
        json.loads(line)
        for line in (tmp_path / "track.log").read_text().splitlines()
        if line.startswith("{")
    ]
    decisions = [line["decision"] for line in log_lines if "decision" in line]
    assert decisions.count("dead_lettered") == 1 and decisions.count("delivered") >= 32
    assert "jane@example.com" not in (tmp_path / "track.log").read_text()


def test_identify_updates_are_ordered_by_their_timestamp(pubsub_emulator_host, sim, tmp_path):
    names = h.unique_names("identify")
    h.create_topics(names)
    env = h.handler_env(names, sim.url, CIO_BATCH_ENABLED="false")
    with h.handler("identify", env, tmp_path / "identify.log") as url:
        newer = produced(publish_identify, {"id": "ord-1"}, {"plan": "pro"}, timestamp=TS + 60)
        older = produced(publish_identify, {"id": "ord-1"}, {"plan": "free"}, timestamp=TS)
        device = produced(
            publish,
            "identify",
            {"id": "ord-1"},
            {"action": "add_device", "device": {"token": "t-1", "platform": "ios"}},
        )
        # redelivery reordered the updates: the newer one arrives first
        for message_id, data in (("1", newer), ("2", older), ("3", device)):
            answer = h.push(url, h.envelope(data, message_id))
            assert (answer.status_code, answer.json()["decision"]) == (200, "delivered")
        # and the whole path: producer helper -> topic -> push -> identify handler, for two
        # people (per-person publish order through an ordered subscription is test_ordering's).
        h.create_push_subscription(names, url)
        publish_identify({"id": "ord-2"}, {"plan": "team"}, topic=names.source)
        publish("identify", {"id": "ord-3"}, {"action": "suppress"}, topic=names.source)
        assert h.wait_until(lambda: _person(sim, "ord-2") is not None, timeout=20)
        assert h.wait_until(lambda: "ord-3" in json.dumps(sim.state()["suppressed"]), timeout=20)
    assert _person(sim, "ord-2")["attributes"]["plan"] == "team"
    person = _person(sim, "ord-1")
    assert person["attributes"]["plan"] == "pro", "an older update never overwrites a newer one"
    assert sim.state()["stale_attribute_updates"] >= 1
    assert [d["token"] for d in person["devices"]] == ["t-1"]


def test_batches_map_per_item_errors_back_to_each_delivery(pubsub_emulator_host, sim, tmp_path):
    names = h.unique_names("track")
    h.create_topics(names)
    env = h.handler_env(names, sim.url, CIO_BATCH_MAX_WAIT_MS="300", CIO_BATCH_MAX_ITEMS="50")
    before = sim.stats()["requests"]
    messages = [h.event_message() for _ in range(11)]
    # valid for our contract, refused by Customer.io (event names are limited to 100 bytes)
    messages[4] = h.event_message(name="n" * 150)
    with h.handler("track", env, tmp_path / "track.log") as url, ThreadPoolExecutor(11) as pool:
        bodies = [h.envelope(json.dumps(m).encode(), str(i)) for i, m in enumerate(messages)]
        answers = list(pool.map(lambda body: h.push(url, body), bodies))
        [dead] = h.pull_dead_letters(names, expected=1)
    assert all(a.status_code == 200 for a in answers)
    decisions = [a.json()["decision"] for a in answers]
    assert decisions[4] == "dead_lettered" and decisions.count("delivered") == 10
    assert (
        dead.attributes["cio_reason"] == "rejected_400" and dead.attributes["cio_status"] == "207"
    )
    assert dead.attributes["cio_event_id"] == messages[4]["event_id"]
    events = sim.events()
    assert all(m["event_id"] in events for i, m in enumerate(messages) if i != 4)
    assert sim.stats()["requests"] - before < len(messages), (
        "deliveries were coalesced into batches"
    )


def test_revoked_key_is_a_retry_not_a_dead_letter(pubsub_emulator_host, sim, tmp_path):
    names = h.unique_names("track")
    h.create_topics(names)
    env = h.handler_env(names, sim.url, CIO_TRACK_API_KEY="revoked", CIO_BATCH_ENABLED="false")
    with h.handler("track", env, tmp_path / "track.log") as url:
        answer = h.push(url, h.envelope(json.dumps(h.event_message()).encode()))
        assert h.pull_dead_letters(names, expected=1, timeout=1) == []
    assert answer.status_code == 503
    assert answer.json() == {"decision": "retry", "reason": "unauthorized"}


def test_local_rate_limit_turns_a_spike_into_retries_not_429s(pubsub_emulator_host, sim, tmp_path):
    names = h.unique_names("track")
    h.create_topics(names)
    env = h.handler_env(
        names,
        sim.url,
        CIO_BATCH_ENABLED="false",
        CIO_RATE_LIMIT_PER_SECOND="5",
        CIO_RATE_LIMIT_MAX_WAIT_MS="300",
    )
    before = sim.stats()["rate_limited_429"]
    with h.handler("track", env, tmp_path / "track.log") as url, ThreadPoolExecutor(20) as pool:
        bodies = [h.envelope(json.dumps(h.event_message()).encode(), str(i)) for i in range(20)]
        answers = list(pool.map(lambda body: h.push(url, body), bodies))
    reasons = [a.json()["reason"] for a in answers]
    assert 0 < reasons.count("ok") < 20
    assert reasons.count("local_rate_limit") == 20 - reasons.count("ok")
    assert all(a.status_code == 503 for a in answers if a.json()["reason"] == "local_rate_limit")
    assert sim.stats()["rate_limited_429"] == before


BAD = {
    "malformed_json": (b'{"schema_version": 1,', "invalid_json"),
    "wrong_base64": ("@@not-base64@@", "invalid_base64"),
    "missing_fields": (
        json.dumps({"schema_version": 1, "action": "event"}).encode(),
        "schema_invalid",
    ),
    "unknown_type": (json.dumps(h.event_message(action="teleport")).encode(), "schema_invalid"),
    "oversized": (
        json.dumps(h.event_message(attributes={"blob": "x" * 100_000})).encode(),
        "too_large",
    ),
    "huge_attribute_map": (
        json.dumps(
            h.event_message(attributes={f"attr_{i}": "v" * 20 for i in range(20_000)})
        ).encode(),
        "too_large",
    ),
}


def test_bad_input_over_http_gets_its_documented_decision(pubsub_emulator_host, sim, tmp_path):
    names = h.unique_names("track")
    h.create_topics(names)
    with h.handler("track", h.handler_env(names, sim.url), tmp_path / "track.log") as url:
        answers = {case: h.push(url, h.envelope(data, case)) for case, (data, _) in BAD.items()}
        unicode_event = h.event_message(
            name="achat ✓", attributes={"ville": "Zürich", "名前": "太郎", "e": "🚀"}
        )
        answers["unicode"] = h.push(
            url, h.envelope(json.dumps(unicode_event, ensure_ascii=False).encode(), "u")
        )
        answers["not_an_envelope"] = h.push(url, b"hello")
        dead = h.pull_dead_letters(names, expected=len(BAD) + 1)
    for case, (_, reason) in BAD.items():
        assert (answers[case].status_code, answers[case].json()["reason"]) == (200, reason), case
    assert answers["unicode"].json()["decision"] == "delivered"
    assert sim.events()[unicode_event["event_id"]]["data"]["名前"] == "太郎"
    assert answers["not_an_envelope"].json()["reason"] == "envelope_invalid"
    by_message = {m.attributes["cio_message_id"]: m for m in dead}
    assert {k: m.attributes["cio_reason"] for k, m in by_message.items() if k} == {
        case: reason for case, (_, reason) in BAD.items()
    }
    assert by_message["wrong_base64"].data == b"@@not-base64@@"


class _Capture:
    """A publisher stand-in that keeps what the producer would publish (for direct pushes)."""

    data: bytes = b""

    def publish(self, topic, data, **attributes):
        self.data = data
        return self

    def result(self, timeout=None):
        return "captured"


def _person(sim, customer_id):
    found = [p for p in sim.state()["people"] if p["identifiers"].get("id") == customer_id]
    return found[0] if found else None


def produced(helper, *args, **kwargs) -> bytes:
    """The bytes a producer helper would publish."""
    capture = _Capture()
    helper(*args, topic="captured", publisher=capture, **kwargs)
    return capture.data
