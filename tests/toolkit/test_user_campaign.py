"""`cio-doctor user` and `campaign` as processes against the Customer.io simulator."""

from __future__ import annotations

import time

import pytest

from tests.toolkit.doctor import run
from tests.toolkit.simulator_fixture import Sim

pytestmark = pytest.mark.integration
NOW = int(time.time())

WORLD = {
    "segments": [{"id": 7, "name": "Trial users"}, {"id": 8, "name": "Nobody"}],
    "people": [
        {
            "id": "42",
            "email": "jane@example.com",
            "segments": [7],
            "attributes": {"first_name": "Jane", "created_at": NOW - 86400},
        },
        {"id": "43", "unsubscribed": True, "attributes": {"plan": "free"}},
        {"id": "44", "email": "bounce@example.com"},
        {"id": "46", "email": "fine@example.com", "segments": [7]},
        {"id": "45", "email": "gone@example.com"},
    ],
    "suppressed": [{"id": "45"}],
    "esp_suppressions": [
        {
            "type": "bounces",
            "email": "bounce@example.com",
            "reason": "550 5.1.1 mailbox does not exist",
        }
    ],
    "campaigns": [
        {
            "id": 1,
            "name": "Onboarding",
            "state": "running",
            "trigger": {"segment_ids": [7]},
            "metrics": {"sent": 100, "delivered": 90, "bounced": 8, "spammed": 0},
            "actions": [
                {
                    "id": 101,
                    "name": "Welcome",
                    "type": "email",
                    "delivery_errors": [{"reason": "Liquid error: undefined customer.first_name"}],
                },
                {"id": 102, "name": "Day 3", "type": "email", "sending_state": "draft"},
            ],
        },
        {"id": 2, "name": "Winback", "state": "paused", "trigger": {"event_name": "churned"}},
        {
            "id": 3,
            "name": "Empty audience",
            "state": "running",
            "trigger": {"segment_ids": [8]},
            "metrics": {"sent": 0},
        },
    ],
    "messages": [
        {
            "id": "m1",
            "customer_id": "42",
            "campaign_id": 1,
            "action_id": 101,
            "created": NOW - 600,
            "metrics": {"sent": NOW - 600, "delivered": NOW - 590},
        },
        {
            "id": "m2",
            "customer_id": "42",
            "campaign_id": 1,
            "action_id": 101,
            "created": NOW - 300,
            "metrics": {"sent": NOW - 300, "bounced": NOW - 290},
            "failure_message": "550 mailbox full for jane@example.com",
        },
        {
            "id": "m3",
            "customer_id": "46",
            "campaign_id": 1,
            "action_id": 101,
            "created": NOW - 200,
            "metrics": {"sent": NOW - 200, "delivered": NOW - 190},
        },
        {
            "id": "m4",
            "customer_id": "43",
            "campaign_id": 1,
            "action_id": 102,
            "created": NOW - 100,
            "metrics": {"failed": NOW - 100},
            "failure_message": "Liquid error: undefined customer.plan",
        },
    ],
    "activities": [
        {"customer_id": "42", "type": "event", "name": "signed_up", "timestamp": NOW - 900},
    ],
}


@pytest.fixture
def world(sim: Sim) -> Sim:
    sim.seed(WORLD)
    return sim


def doctor(sim: Sim, *args: str, **env: str):
    return run([*args, "--json"], env=sim.env(**env))


def codes(result) -> list[str]:
    return result.finding_codes()


def test_user_by_email_shows_messages_segments_and_failures(world: Sim) -> None:
    result = doctor(world, "user", "jane@example.com")
    assert result.code == 1, result.stdout + result.stderr
    data = result.json["checks"][0]["data"]
    assert data["identifiers"]["id"] == "42"
    assert data["identifiers"]["email"] == "j***@example.com"
    assert "jane@example.com" not in result.stdout
    assert data["has_email"] is True
    assert data["segments"] == [{"id": 7, "name": "Trial users"}]
    assert [m["id"] for m in data["recent_messages"]] == ["m2", "m1"]
    assert data["recent_messages"][0]["state"] == "bounced"
    assert data["recent_activities"][0]["name"] == "signed_up"
    assert codes(result) == ["message_failures"]
    assert "j***@example.com" in result.json["findings"][0]["detail"]
    assert data["recent_messages"][0]["failure"] == "550 mailbox full for j***@example.com"


def test_healthy_user_exits_0(world: Sim) -> None:
    result = doctor(world, "user", "46")
    assert result.code == 0, result.stdout
    assert result.json["status"] == "healthy"


def test_unsubscribed_person_without_email(world: Sim) -> None:
    result = doctor(world, "user", "43")
    assert result.code == 1
    assert set(codes(result)) >= {"email_missing", "unsubscribed"}


def test_bounced_address_is_reported_with_the_providers_reason(world: Sim) -> None:
    result = doctor(world, "user", "bounce@example.com")
    assert result.code == 1
    finding = result.json["findings"][0]
    assert finding["code"] == "email_suppressed_bounces"
    assert finding["severity"] == "high"
    assert "mailbox does not exist" in finding["detail"]


def test_suppressed_person_is_not_found_and_the_reason_is_explained(world: Sim) -> None:
    for who in ("45", "gone@example.com"):
        result = doctor(world, "user", who)
        assert result.code == 1
        assert codes(result) == ["person_not_found"]
        assert "suppressed" in result.json["findings"][0]["detail"]


def test_wrong_app_key_rate_limit_and_timeout_cannot_check(world: Sim) -> None:
    wrong = doctor(world, "user", "42", CIO_APP_API_KEY="key-zq81-old")
    assert wrong.code == 2
    assert "401" in wrong.json["checks"][0]["error"]
    assert "key-zq81-old" not in wrong.stdout + wrong.stderr

    world.faults(faults=["429:1.0"], path_prefix="/v1/")
    limited = doctor(world, "user", "42")
    assert limited.code == 2
    assert "rate limited (429)" in limited.json["checks"][0]["error"]
    assert "retry in 1 s" in limited.json["checks"][0]["error"]

    world.faults(faults=["timeout:1.0"], path_prefix="/v1/", timeout_hold="2s")
    slow = run(["user", "42", "--json", "--timeout", "0.5"], env=world.env())
    assert slow.code == 2
    assert "timed out after 0.5 s" in slow.json["checks"][0]["error"]


def test_missing_credentials_is_a_clear_error(world: Sim) -> None:
    result = run(["user", "42"], env={"CIO_APP_URL": world.url})
    assert result.code == 2
    assert "CIO_APP_API_KEY" in result.stderr


def test_running_campaign_with_errors_bounces_and_a_draft_action(world: Sim) -> None:
    result = doctor(world, "campaign", "1")
    assert result.code == 1, result.stdout + result.stderr
    data = result.json["checks"][0]["data"]
    assert data["state"] == "running"
    assert data["metrics_last_7_days"]["sent"] == 100
    assert data["rates"]["bounce"] == 0.08
    assert data["audience"] == [
        {"segment_id": 7, "name": "Trial users", "state": "finished", "members": 2}
    ]
    assert {r["id"] for r in data["recent_sends"]} == {"m1", "m2", "m3", "m4"}
    assert {f["failure"] for f in data["failure_messages"]} == {
        "550 mailbox full for j***@example.com",
        "Liquid error: undefined customer.plan",
    }
    actions = {a["id"]: a for a in data["actions"]}
    assert actions[101]["delivery_errors"] == 1  # the action's own error list
    assert actions[102]["delivery_errors"] == 1  # its failed delivery
    errors = [f for f in result.json["findings"] if f["code"] == "action_delivery_errors"]
    assert {f["detail"] for f in errors} == {
        "Liquid error: undefined customer.first_name x1",
        "Liquid error: undefined customer.plan x1",
    }
    assert {f["severity"] for f in result.json["findings"][:3]} == {"high"}
    assert "action_not_sending" in codes(result)


def test_paused_campaign(world: Sim) -> None:
    result = doctor(world, "campaign", "2")
    assert result.code == 1
    assert result.json["findings"][0]["code"] == "campaign_paused"
    assert result.json["checks"][0]["data"]["trigger"]["event_name"] == "churned"


def test_empty_audience_and_unknown_campaign(world: Sim) -> None:
    empty = doctor(world, "campaign", "3")
    assert "audience_empty" in codes(empty)
    missing = doctor(world, "campaign", "999")
    assert missing.code == 1
    assert codes(missing) == ["campaign_not_found"]
    assert run(["campaign", "not-a-number"]).code == 2


def test_campaign_when_customerio_fails_or_rejects_the_key(world: Sim) -> None:
    world.faults(faults=["500:1.0"], path_prefix="/v1/")
    failing = doctor(world, "campaign", "1")
    assert failing.code == 2
    assert "HTTP 500" in failing.json["checks"][0]["error"]
    world.faults()
    rejected = doctor(world, "campaign", "1", CIO_APP_API_KEY="key-zq81-old")
    assert rejected.code == 2
    assert "credentials rejected (401)" in rejected.json["checks"][0]["error"]
