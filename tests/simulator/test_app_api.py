"""App API lookups: bearer auth, people written by the Track API, seeded campaigns,
messages, activities, segments and ESP suppressions, 404 for unknown ids."""

from __future__ import annotations

import pytest

from tests.simulator.conftest import Client

pytestmark = pytest.mark.integration

SEED = {
    "segments": [{"id": 3, "name": "VIP"}, {"id": 4, "name": "Trial", "type": "manual"}],
    "campaigns": [
        {
            "id": 7,
            "name": "Welcome",
            "state": "running",
            "trigger": {"event_name": "signup"},
            "actions": [
                {
                    "id": 71,
                    "type": "email",
                    "name": "Welcome email",
                    "delivery_errors": [{"reason": "Mailbox full", "count": 2}],
                },
                {"id": 72, "type": "webhook", "name": "Notify CRM"},
            ],
            "metrics": {"sent": 120, "delivered": 118, "bounced": 2},
        },
        {"id": 8, "name": "Old promo", "state": "stopped", "trigger": {"segment_ids": [3]}},
        {"id": 9, "name": "Draft", "state": "draft"},
    ],
    "people": [
        {
            "id": "42",
            "email": "ada@example.com",
            "attributes": {"plan": "pro"},
            "segments": [3],
            "unsubscribed": True,
        },
        {"id": "43", "email": "bob@example.com", "segments": [3, 4]},
    ],
    "messages": [
        {
            "id": "m1",
            "customer_id": "42",
            "campaign_id": 7,
            "action_id": 71,
            "type": "email",
            "recipient": "ada@example.com",
            "created": 1700000000,
            "metrics": {"sent": 1700000001, "delivered": 1700000005},
        },
        {
            "id": "m2",
            "customer_id": "42",
            "campaign_id": 7,
            "action_id": 72,
            "type": "webhook",
            "created": 1700000100,
            "failure_message": "HTTP 500 from endpoint",
            "metrics": {"failed": 1700000101},
        },
        {
            "id": "m3",
            "customer_id": "43",
            "campaign_id": 8,
            "action_id": 81,
            "type": "email",
            "created": 1700000200,
            "metrics": {"bounced": 1700000201},
        },
    ],
    "activities": [
        {
            "customer_id": "42",
            "type": "delivered_email",
            "delivery_id": "m1",
            "timestamp": 1700000005,
        },
    ],
    "esp_suppressions": [
        {
            "type": "bounces",
            "email": "bob@example.com",
            "reason": "550 mailbox unavailable",
            "status": "550",
        },
        {"type": "spam_reports", "email": "eve@example.com"},
    ],
}


@pytest.fixture
def seeded(client: Client) -> Client:
    response = client.admin("POST", "seed", json=SEED)
    assert response.status_code == 200
    assert response.json()["seeded"]["campaigns"] == 3
    return client


def test_missing_or_wrong_bearer_key_gets_401(client: Client) -> None:
    assert client.app("/v1/campaigns", headers={}).status_code == 401
    wrong = client.app("/v1/campaigns", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    track_creds = client.app("/v1/campaigns", headers={}, auth=("test-site", "test-track-key"))
    assert track_creds.status_code == 401


def test_person_from_track_api_is_visible_in_app_api(client: Client) -> None:
    client.track(
        "PUT",
        "/api/v1/customers/77",
        json={
            "email": "Zed@Example.com",
            "plan": "team",
            "seats": 5,
            "beta": True,
            "_timestamp": 1700000000,
        },
    )
    client.track(
        "POST", "/api/v1/customers/77/events", json={"name": "login", "timestamp": 1700000500}
    )
    found = client.app("/v1/customers", params={"email": "zed@example.com"}).json()
    assert found["results"][0]["id"] == "77"
    cio_id = found["results"][0]["cio_id"]
    customer = client.app("/v1/customers/77/attributes").json()["customer"]
    assert customer["identifiers"] == {"email": "Zed@Example.com", "id": "77", "cio_id": cio_id}
    assert customer["attributes"]["plan"] == "team"
    assert customer["attributes"]["seats"] == "5"  # the App API returns attribute values as strings
    assert customer["attributes"]["beta"] == "true"
    assert customer["timestamps"]["plan"] == 1700000000
    assert customer["unsubscribed"] is False
    by_email = client.app("/v1/customers/zed@example.com/attributes", params={"id_type": "email"})
    by_cio = client.app(f"/v1/customers/{cio_id}/attributes", params={"id_type": "cio_id"})
    assert by_email.json() == by_cio.json() == {"customer": customer}
    events = client.app("/v1/customers/77/activities", params={"type": "event"}).json()
    assert [(a["type"], a["name"], a["timestamp"]) for a in events["activities"]] == [
        ("event", "login", 1700000500)
    ]
    changes = client.app("/v1/customers/77/activities", params={"type": "attribute_change"})
    [change] = changes.json()["activities"]
    assert change["data"]["plan"] == {"from": "", "to": "team"}
    assert change["data"]["beta"] == {"from": "", "to": "true"}


def test_identify_changes_and_failures_show_as_activities(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/1", json={"email": "one@example.com", "plan": "free"})
    client.track("PUT", "/api/v1/customers/2", json={"email": "two@example.com"})
    client.track("PUT", "/api/v1/customers/1", json={"plan": "pro"})
    client.track("PUT", "/api/v1/customers/1", json={"plan": "pro"})  # no change: no activity
    client.track("PUT", "/api/v1/customers/1", json={"email": "two@example.com"})
    client.track(
        "PUT", "/api/v1/customers/1/devices", json={"device": {"id": "t1", "platform": "ios"}}
    )
    activities = client.app("/v1/customers/1/activities").json()["activities"]
    by_type: dict[str, list] = {}
    for activity in activities:
        by_type.setdefault(activity["type"], []).append(activity["data"])
    assert {"plan": {"from": "free", "to": "pro"}} in by_type["attribute_change"]
    assert len(by_type["attribute_change"]) == 2
    assert by_type["failed_attribute_change"] == [
        {"email": {"from": "one@example.com", "to": "two@example.com"}}
    ]
    assert by_type["device_change"] == [{"device_id": "t1", "action": "added"}]


def test_unknown_ids_get_404(seeded: Client) -> None:
    for path in (
        "/v1/customers/nobody/attributes",
        "/v1/customers/nobody/messages",
        "/v1/customers/nobody/activities",
        "/v1/customers/nobody/segments",
        "/v1/campaigns/999",
        "/v1/campaigns/abc",
        "/v1/campaigns/999/actions",
        "/v1/campaigns/7/actions/5",
        "/v1/messages/nope",
        "/v1/segments/99",
    ):
        response = seeded.app(path)
        assert response.status_code == 404, path
        assert "not found" in response.json()["meta"]["error"]
    assert seeded.app("/v1/customers", params={"email": "nobody@example.com"}).json() == {
        "results": []
    }
    assert (
        seeded.app("/v1/customers/42/attributes", params={"id_type": "nickname"}).status_code == 400
    )


def test_seeded_person_attributes_segments_and_unsubscribed(seeded: Client) -> None:
    customer = seeded.app("/v1/customers/42/attributes").json()["customer"]
    assert customer["unsubscribed"] is True
    assert customer["attributes"]["plan"] == "pro"
    segments = seeded.app("/v1/customers/43/segments").json()["segments"]
    assert [(s["id"], s["name"], s["type"]) for s in segments] == [
        (3, "VIP", "dynamic"),
        (4, "Trial", "manual"),
    ]
    members = seeded.app("/v1/segments/3/membership").json()
    assert sorted(members["ids"]) == ["42", "43"]


def test_campaigns_listing_detail_actions_and_metrics(seeded: Client) -> None:
    campaigns = seeded.app("/v1/campaigns").json()["campaigns"]
    assert [(c["id"], c["state"], c["active"]) for c in campaigns] == [
        (7, "running", True),
        (8, "stopped", False),
        (9, "draft", False),
    ]
    welcome = seeded.app("/v1/campaigns/7").json()["campaign"]
    assert welcome["event_name"] == "signup" and welcome["type"] == "event"
    assert welcome["actions"] == [{"id": 71, "type": "email"}, {"id": 72, "type": "webhook"}]
    assert seeded.app("/v1/campaigns/8").json()["campaign"]["trigger_segment_ids"] == [3]
    actions = seeded.app("/v1/campaigns/7/actions").json()
    assert [a["name"] for a in actions["actions"]] == ["Welcome email", "Notify CRM"]
    assert actions["next"] == ""
    action = seeded.app("/v1/campaigns/7/actions/71").json()["action"]
    assert action["delivery_errors"] == [{"reason": "Mailbox full", "count": 2}]
    metrics = seeded.app(
        "/v1/campaigns/7/metrics", params={"version": "1", "period": "days", "steps": 3}
    )
    assert metrics.json() == {
        "metric": {"series": {"sent": [0, 0, 120], "delivered": [0, 0, 118], "bounced": [0, 0, 2]}}
    }
    assert seeded.app("/v1/campaigns/7/metrics").status_code == 400  # version is required


def test_messages_filters_paging_and_detail(seeded: Client) -> None:
    everything = seeded.app("/v1/messages").json()
    assert [m["id"] for m in everything["messages"]] == ["m3", "m2", "m1"]  # newest first
    by_campaign = seeded.app("/v1/messages", params={"campaign_id": 7}).json()["messages"]
    assert {m["id"] for m in by_campaign} == {"m1", "m2"}
    failed = seeded.app("/v1/messages", params={"metric": "failed"}).json()["messages"]
    assert [m["failure_message"] for m in failed] == ["HTTP 500 from endpoint"]
    page = seeded.app("/v1/messages", params={"limit": 2}).json()
    assert len(page["messages"]) == 2 and page["next"]
    rest = seeded.app("/v1/messages", params={"limit": 2, "start": page["next"]}).json()
    assert [m["id"] for m in rest["messages"]] == ["m1"] and rest["next"] == ""
    message = seeded.app("/v1/messages/m1").json()["message"]
    cio_id = seeded.app("/v1/customers/42/attributes").json()["customer"]["identifiers"]["cio_id"]
    assert message["customer_identifiers"] == {
        "email": "ada@example.com",
        "id": "42",
        "cio_id": cio_id,
    }
    assert message["metrics"]["delivered"] == 1700000005
    person_messages = seeded.app("/v1/customers/42/messages").json()["messages"]
    assert [m["id"] for m in person_messages] == ["m2", "m1"]


def test_person_activities_include_seeded_and_filter_by_type(seeded: Client) -> None:
    seeded.track(
        "POST", "/api/v1/customers/42/events", json={"name": "purchase", "timestamp": 1700000010}
    )
    activities = seeded.app("/v1/customers/42/activities").json()["activities"]
    assert [a["type"] for a in activities] == ["event", "delivered_email"]
    only = seeded.app("/v1/customers/42/activities", params={"type": "delivered_email"}).json()
    assert [a["delivery_id"] for a in only["activities"]] == ["m1"]


def test_esp_suppression_lookups(seeded: Client) -> None:
    bob = seeded.app("/v1/esp/search_suppression/bob@example.com").json()
    assert bob["category"] == "bounces"
    assert bob["suppressions"][0]["reason"] == "550 mailbox unavailable"
    assert set(bob["suppressions"][0]) == {"created", "email", "reason", "status"}
    assert seeded.app("/v1/esp/search_suppression/ada@example.com").json()["suppressions"] == []
    spam = seeded.app("/v1/esp/suppression/spam_reports").json()
    assert spam["category"] == "spam" and [s["email"] for s in spam["suppressions"]] == [
        "eve@example.com"
    ]
    assert seeded.app("/v1/esp/suppression/everything").status_code == 400


def test_search_customers_by_attribute_filter(seeded: Client) -> None:
    body = {
        "filter": {
            "and": [
                {"segment": {"id": 3}},
                {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
            ]
        }
    }
    response = seeded.session.post(
        f"{seeded.url}/v1/customers",
        json=body,
        headers={"Authorization": "Bearer test-app-key"},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["ids"] == ["42"]
    inverse = {
        "filter": {
            "and": [
                {"segment": {"id": 3}},
                {"attribute": {"field": "plan", "operator": "eq", "value": "pro", "inverse": True}},
            ]
        }
    }
    others = seeded.session.post(
        f"{seeded.url}/v1/customers",
        json=inverse,
        headers={"Authorization": "Bearer test-app-key"},
        timeout=5,
    )
    assert others.json()["ids"] == ["43"]


def test_ip_addresses_need_no_key(client: Client) -> None:
    response = client.app("/v1/info/ip_addresses", headers={})
    assert response.status_code == 200
    assert "35.188.196.183" in response.json()["ip_addresses"]


def test_seed_rejects_bad_input(client: Client) -> None:
    assert (
        client.admin(
            "POST", "seed", json={"campaigns": [{"id": 1, "state": "exploded"}]}
        ).status_code
        == 400
    )
    assert client.admin("POST", "seed", json={"robots": []}).status_code == 400
    assert client.admin("POST", "seed", json={"people": [{"attributes": {}}]}).status_code == 400


def test_seeded_suppressed_identifiers_block_identify(client: Client) -> None:
    client.admin("POST", "seed", json={"suppressed": [{"email": "gone@example.com"}]})
    client.track("PUT", "/api/v1/customers/gone@example.com", json={"plan": "x"})
    assert client.state()["people"] == []
