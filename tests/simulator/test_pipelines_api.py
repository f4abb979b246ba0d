"""The simulator's Pipelines API against pipelines-api.openapi.json: auth, strict and permissive
mode, the size limits, batch semantics, semantic events, rate limit and faults.

Tested against Customer.io's document (its examples and its prose), not against our client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cio_simulator import Simulator
from cio_simulator.reference import PIPELINES_API, load_document

from tests.simulator.conftest import make_config

KEY = "test-pipelines-key"
STRICT = {"X-Strict-Mode": "1"}
TS = "2026-01-01T00:00:00Z"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(make_config(pipelines_api_key=KEY)).start()
    try:
        yield simulator
    finally:
        simulator.stop()


def post(sim: Simulator, path: str, body: Any, *, strict: bool = True, key: str = KEY, **kw: Any):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(STRICT if strict else {})}
    return requests.post(
        f"{sim.url}/v1/{path}", data=data, headers=headers, auth=(key, ""), timeout=5, **kw
    )


def state(sim: Simulator) -> dict[str, Any]:
    return requests.get(f"{sim.url}/_admin/state", timeout=5).json()  # type: ignore[no-any-return]


def last_outcome(sim: Simulator) -> str:
    log = requests.get(f"{sim.url}/_admin/requests", timeout=5).json()["requests"]
    return str(sorted(log, key=lambda e: e["seq"])[-1]["outcome"])


def test_the_documents_batch_example_is_accepted_and_applied(sim):
    sample = load_document(PIPELINES_API)["paths"]["/batch"]["post"]["x-codeSamples"]
    curl = next(s["source"] for s in sample if s["lang"] == "shell")
    body = json.loads(curl.split("--data-raw '", 1)[1].rsplit("'", 1)[0])
    answer = post(sim, "batch", body)
    assert answer.status_code == 200
    people = state(sim)["people"]
    assert any(p["identifiers"].get("id") == "97980cfea0067" for p in people)
    assert [e["name"] for e in state(sim)["events"]] == ["Course Started"]


def test_identify_track_page_screen_and_the_semantic_events_act_on_the_person(sim):
    assert post(sim, "identify", {"userId": "u1", "traits": {"plan": "pro"}}).status_code == 200
    for path, call in [
        ("track", {"userId": "u1", "event": "paid", "properties": {"n": 1}, "messageId": "m1"}),
        ("page", {"userId": "u1", "name": "/pricing"}),
        ("screen", {"userId": "u1", "name": "home"}),
        (
            "track",
            {
                "userId": "u1",
                "event": "Device Created or Updated",
                "context": {"device": {"token": "tok", "type": "ios"}},
            },
        ),
        ("track", {"userId": "u1", "event": "User Suppressed", "timestamp": TS}),
    ]:
        assert post(sim, path, {**call, "timestamp": TS}).status_code == 200, call
    snapshot = state(sim)
    types = sorted(e["type"] for e in snapshot["events"])
    assert types == ["event", "page", "screen"]
    event = next(e for e in snapshot["events"] if e["type"] == "event")
    assert event["client_message_id"] == "m1" and event["id"] != "m1"  # Customer.io sets it
    assert {s.get("id") for s in snapshot["suppressed"]} == {"u1"}


def test_a_repeated_message_id_is_stored_twice_no_documented_dedup(sim):
    call = {"userId": "u1", "event": "paid", "messageId": "same"}
    assert post(sim, "track", call).status_code == 200
    assert post(sim, "track", call).status_code == 200
    sent = [e["client_message_id"] for e in state(sim)["events"]]
    assert sent == ["same", "same"]


def test_identify_timestamps_do_not_order_updates_the_last_to_arrive_wins(sim):
    post(sim, "identify", {"userId": "u1", "traits": {"v": 2}, "timestamp": TS})
    post(sim, "identify", {"userId": "u1", "traits": {"v": 1}, "timestamp": "2025-01-01T00:00:00Z"})
    person = next(p for p in state(sim)["people"] if p["identifiers"].get("id") == "u1")
    assert person["attributes"]["v"] == 1


def test_strict_mode_answers_400_and_401_permissive_mode_answers_200_and_drops(sim):
    invalid = {"userId": "u1"}  # a track call without `event`
    assert post(sim, "track", invalid).status_code == 400
    answer = post(sim, "track", invalid, strict=False)
    assert answer.status_code == 200 and last_outcome(sim) == "unprocessed_invalid"
    assert post(sim, "track", {"userId": "u1", "event": "x"}, key="wrong").status_code == 401
    answer = post(sim, "track", {"userId": "u1", "event": "x"}, key="wrong", strict=False)
    assert answer.status_code == 200 and last_outcome(sim) == "unprocessed_unauthorized"
    assert state(sim)["events"] == []


def test_the_size_limits_32kb_a_call_500kb_a_batch(sim):
    big = {"userId": "u1", "event": "x", "properties": {"blob": "a" * 32_000}}
    assert post(sim, "track", big).status_code == 400
    assert post(sim, "track", big, strict=False).status_code == 200
    assert last_outcome(sim) == "unprocessed_too_large"
    calls = [{"type": "track", "userId": "u1", "event": "x", "properties": {"b": "a" * 30_000}}]
    assert post(sim, "batch", {"batch": calls * 17}).status_code == 400  # > 500 KB
    assert state(sim)["events"] == []


def test_a_strict_batch_with_one_bad_call_is_refused_whole_permissive_drops_only_it(sim):
    good = {"type": "track", "userId": "u1", "event": "ok"}
    bad = {"type": "track", "userId": "u1"}
    answer = post(sim, "batch", {"batch": [good, bad]})
    assert answer.status_code == 400 and "batch[1]" in answer.text
    assert state(sim)["events"] == []
    assert post(sim, "batch", {"batch": [good, bad]}, strict=False).status_code == 200
    assert [e["name"] for e in state(sim)["events"]] == ["ok"]


def test_rate_limit_answers_429_with_retry_after():
    simulator = Simulator(
        make_config(pipelines_api_key=KEY, pipelines_rate_limit=2, rate_burst=2)
    ).start()
    try:
        statuses = [post(simulator, "track", {"userId": "u", "event": "e"}) for _ in range(5)]
    finally:
        simulator.stop()
    refused = [a for a in statuses if a.status_code == 429]
    assert refused and all(int(a.headers["Retry-After"]) >= 1 for a in refused)


def test_injected_faults_apply_to_the_pipelines_paths(sim):
    requests.post(
        f"{sim.url}/_admin/faults", json={"faults": ["500:1.0"], "path_prefix": "/v1/"}, timeout=5
    ).raise_for_status()
    assert post(sim, "track", {"userId": "u", "event": "e"}).status_code == 500
