"""The Pipelines API destination: the mapping of the v1 contract to Pipelines calls, settings,
strict mode, size checks, batching rules and decisions, against the in-process simulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from cio_shared.delivery import Decision, Settings, SettingsError
from cio_shared.delivery.handler import DeliveryHandler, build_handler
from cio_shared.delivery.pipelines import (
    MAX_CALL_BYTES,
    PipelinesClient,
    call_type,
    encode_call,
    has_context,
    iso_timestamp,
    to_call,
)
from cio_shared.delivery.pipelines_guard import GuardedSender
from cio_shared.delivery.senders import PipelinesBatchSender, build_sender
from cio_shared.messages import build_message, new_event_id
from cio_simulator import Simulator

from tests.delivery.conftest import PIPELINES_KEY

KEY = PIPELINES_KEY
TS = 1_767_225_600


def message(action: str, person: dict[str, str] | None = None, **fields: Any):
    return build_message(
        {
            "event_id": new_event_id(),
            "action": action,
            "person": person or {"id": "42"},
            "timestamp": TS,
            **fields,
        }
    )


def env(url: str, **extra: str) -> dict[str, str]:
    return {
        "CIO_DELIVERY_API": "pipelines",
        "CIO_PIPELINES_API_KEY": KEY,
        "CIO_PIPELINES_URL": url,
        "CIO_DEAD_LETTER_TOPIC": "cio-unit-track-dead-letter",
        "GOOGLE_CLOUD_PROJECT": "local-project",
        **extra,
    }


@pytest.fixture
def sim(pipelines_sim: Simulator) -> Simulator:
    return pipelines_sim


def test_each_action_maps_to_its_documented_call() -> None:
    ts = iso_timestamp(TS)
    assert ts == "2026-01-01T00:00:00Z"
    identify = to_call(message("identify", attributes={"plan": "pro"}))
    assert identify == {
        "type": "identify",
        "userId": "42",
        "traits": {"plan": "pro"},
        "timestamp": ts,
        "messageId": identify["messageId"],  # type: ignore[index]
    }
    by_email = to_call(message("identify", {"email": "a@example.com"}, attributes={}))
    assert by_email["userId"] == "" and by_email["traits"] == {"email": "a@example.com"}  # type: ignore[index]
    event = to_call(message("event", name="paid", attributes={"n": 1}))
    assert (event["type"], event["event"], event["properties"]) == ("track", "paid", {"n": 1})  # type: ignore[index]
    page = to_call(message("page", name="/pricing", attributes={}))
    assert (page["type"], page["name"]) == ("page", "/pricing")  # type: ignore[index]
    semantic = {
        "suppress": "User Suppressed",
        "unsuppress": "User Unsuppressed",
        "delete": "User Deleted",
    }
    for action, name in semantic.items():
        assert to_call(message(action))["event"] == name  # type: ignore[index]
    device = to_call(message("add_device", device={"token": "t", "platform": "ios"}))
    assert device["event"] == "Device Created or Updated"  # type: ignore[index]
    assert device["context"] == {"device": {"token": "t", "type": "ios"}}  # type: ignore[index]
    deleted = to_call(message("delete_device", device={"token": "t"}))
    assert deleted["event"] == "Device Deleted"  # type: ignore[index]


def test_what_the_pipelines_api_cannot_express_is_refused_not_changed() -> None:
    for refused in [
        message("merge", secondary={"id": "7"}),
        message("identify", {"cio_id": "abc"}, attributes={}),
        message("event", {"email": "a@example.com"}, name="x", attributes={}),
        message("suppress", {"email": "a@example.com"}),
    ]:
        outcome = encode_call(refused)
        assert not isinstance(outcome, bytes)
        assert outcome.decision is Decision.DEAD_LETTER
        assert outcome.reason == "unsupported_on_pipelines"


def test_an_oversize_call_is_refused_before_sending() -> None:
    big = message("event", name="x", attributes={"blob": "a" * MAX_CALL_BYTES})
    outcome = encode_call(big)
    assert not isinstance(outcome, bytes) and outcome.reason == "too_large"


def test_encoded_calls_say_their_type_and_whether_they_carry_context() -> None:
    device = encode_call(message("add_device", device={"token": "t"}))
    event = encode_call(message("event", name="x", attributes={}))
    assert isinstance(device, bytes) and isinstance(event, bytes)
    assert has_context(device) and not has_context(event)
    assert call_type(device) == "track" and call_type(event) == "track"
    assert call_type(encode_call(message("screen", name="home", attributes={}))) == "screen"  # type: ignore[arg-type]


def test_settings_need_only_the_chosen_apis_credentials() -> None:
    settings = Settings.from_env({**env(""), "CIO_PIPELINES_URL": "", "CIO_REGION": "eu"})
    assert settings.pipelines_url == "https://cdp-eu.customer.io"
    assert settings.site_id == "" and KEY not in repr(settings)
    with pytest.raises(SettingsError, match="CIO_PIPELINES_API_KEY"):
        Settings.from_env({**env("http://x"), "CIO_PIPELINES_API_KEY": ""})
    with pytest.raises(SettingsError, match="CIO_DELIVERY_API"):
        Settings.from_env({**env("http://x"), "CIO_DELIVERY_API": "segment"})


def test_the_client_sends_strict_mode_and_maps_400_and_401(sim: Simulator) -> None:
    settings = Settings.from_env(env(sim.url, CIO_BATCH_ENABLED="false"))
    sender = build_sender(settings, PipelinesClient(settings))
    ok = sender.send(encode_call(message("event", name="x", attributes={})))  # type: ignore[arg-type]
    assert ok.decision is Decision.DELIVERED
    invalid = b'{"type":"track","userId":"42"}'  # no event: strict mode answers 400
    assert sender.send(invalid).reason == "rejected_400"
    wrong = Settings.from_env(env(sim.url, CIO_PIPELINES_API_KEY="wrong"))
    refused = build_sender(wrong, PipelinesClient(wrong)).send(invalid)
    assert (refused.decision, refused.reason) == (Decision.RETRY, "unauthorized")
    log = requests.get(f"{sim.url}/_admin/requests", timeout=5).json()["requests"]
    assert {e["outcome"] for e in log} >= {"stored", "invalid", "unauthorized"}


def test_a_bad_call_in_a_batch_is_found_one_by_one_and_device_calls_go_alone(
    sim: Simulator,
) -> None:
    settings = Settings.from_env(env(sim.url))
    guarded = build_sender(settings, PipelinesClient(settings))
    assert isinstance(guarded, GuardedSender) and guarded.ledger is None  # no Firestore database
    sender = guarded.inner
    assert isinstance(sender, PipelinesBatchSender)
    calls = [encode_call(message("event", name=f"e{i}", attributes={})) for i in range(3)]
    outcomes = sender._send_batch([*calls, b'{"type":"track","userId":"42"}'])  # type: ignore[list-item]
    assert [o.decision for o in outcomes] == [Decision.DELIVERED] * 3 + [Decision.DEAD_LETTER]
    device = encode_call(message("add_device", device={"token": "t"}))
    identify = encode_call(message("identify", attributes={}))
    assert sender.send(identify).decision is Decision.DELIVERED  # type: ignore[arg-type]
    assert sender.send(device).decision is Decision.DELIVERED  # type: ignore[arg-type]
    log = requests.get(f"{sim.url}/_admin/requests", timeout=5).json()["requests"]
    assert any(e["path"] == "/v1/track" and b"context" in _raw(e) for e in log)
    state = requests.get(f"{sim.url}/_admin/state", timeout=5).json()
    assert sorted(e["name"] for e in state["events"]) == ["e0", "e1", "e2"]


def test_the_handler_dead_letters_an_unsupported_message_without_calling(sim: Simulator) -> None:
    handler = build_handler("identify", "identify", env(sim.url))
    assert isinstance(handler, DeliveryHandler)
    prepared = handler.prepare(_push(message("merge", secondary={"id": "7"})))
    assert getattr(prepared, "reason", None) == "unsupported_on_pipelines"


def _raw(entry: dict[str, Any]) -> bytes:
    body = entry["body"]
    return json.dumps(body).encode() if not isinstance(body, int) else b""


def _push(msg: Any) -> Any:
    from cio_shared.delivery.push import PushMessage
    from cio_shared.messages import message_bytes

    return PushMessage(data=message_bytes(msg))
