"""Track API behaviour as track-api.openapi.json and Customer.io's docs describe it."""

from __future__ import annotations

import base64
import threading

import pytest
import requests
from cio_simulator import Simulator

from tests.simulator.conftest import SITE_ID, TRACK_KEY, Client, make_config

pytestmark = pytest.mark.integration

ACME_IDENTIFY = {
    "type": "object",
    "identifiers": {"object_type_id": "1", "object_id": "acme"},
    "action": "identify",
    "attributes": {"name": "Acme"},
}


def test_region_endpoint_returns_region_url_and_workspace(client: Client) -> None:
    response = client.track("GET", "/api/v1/accounts/region")
    assert response.status_code == 200
    assert response.json() == {
        "url": "https://track.customer.io",
        "region": "us",
        "environment_id": 1,
    }


@pytest.mark.parametrize(
    "auth_header",
    [
        None,
        "Basic " + base64.b64encode(f"{SITE_ID}:wrong".encode()).decode(),
        "Basic " + base64.b64encode(f"other:{TRACK_KEY}".encode()).decode(),
        "Basic not-base64!!",
        "Bearer " + TRACK_KEY,
    ],
)
def test_bad_or_missing_credentials_get_401_and_change_nothing(
    client: Client, auth_header: str | None
) -> None:
    headers = {"Authorization": auth_header} if auth_header else {}
    response = client.track(
        "PUT", "/api/v1/customers/42", json={"plan": "pro"}, auth=None, headers=headers
    )
    assert response.status_code == 401
    assert response.json() == {"meta": {"error": "Unauthorized request"}}
    assert client.state()["people"] == []


def test_identify_creates_then_updates_a_person(client: Client) -> None:
    assert (
        client.track(
            "PUT", "/api/v1/customers/42", json={"email": "ada@example.com", "plan": "free"}
        ).status_code
        == 200
    )
    assert client.track("PUT", "/api/v1/customers/42", json={"plan": "pro"}).json() == {}
    person = client.person("id", "42")
    assert person is not None
    assert person["identifiers"]["email"] == "ada@example.com"
    assert person["attributes"]["plan"] == "pro"
    assert len(client.state()["people"]) == 1


def test_email_in_path_is_case_insensitive(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/Ada@Example.com", json={"plan": "free"})
    client.track("PUT", "/api/v1/customers/ada@example.com", json={"plan": "pro"})
    people = client.state()["people"]
    assert len(people) == 1
    assert people[0]["attributes"]["plan"] == "pro"


def test_older_timestamp_does_not_overwrite_newer_attributes(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/42", json={"plan": "pro", "_timestamp": 2000})
    late = client.track(
        "PUT", "/api/v1/customers/42", json={"plan": "free", "seats": 3, "_timestamp": 1000}
    )
    assert late.status_code == 200
    person = client.person("id", "42")
    assert person is not None
    assert person["attributes"]["plan"] == "pro"  # newer value kept
    assert person["attributes"]["seats"] == 3  # attributes not set before are applied
    assert person["attribute_timestamps"]["plan"] == 2000
    client.track("PUT", "/api/v1/customers/42", json={"plan": "team", "_timestamp": 3000})
    assert client.person("id", "42")["attributes"]["plan"] == "team"  # type: ignore[index]


def test_v2_identify_timestamp_has_the_same_ordering(client: Client) -> None:
    def identify(plan: str, timestamp: int) -> int:
        operation = {
            "type": "person",
            "identifiers": {"id": "7"},
            "action": "identify",
            "timestamp": timestamp,
            "attributes": {"plan": plan},
        }
        return client.track("POST", "/api/v2/entity", json=operation).status_code

    assert identify("new", 500) == 200
    assert identify("old", 100) == 200
    assert client.person("id", "7")["attributes"]["plan"] == "new"  # type: ignore[index]


def test_update_only_does_not_create_a_person(client: Client) -> None:
    response = client.track("PUT", "/api/v1/customers/99", json={"plan": "x", "_update": True})
    assert response.status_code == 200
    state = client.state()
    assert state["people"] == []
    assert state["ignored"][0]["reason"] == "_update is true and no person matches"


def test_repeated_event_id_is_accepted_but_stored_once(client: Client) -> None:
    event = {"name": "purchase", "id": "01HZX3Q4J2W8V6N9M5K7T1R0AB", "data": {"price": 23}}
    for _ in range(3):
        assert client.track("POST", "/api/v1/customers/42/events", json=event).status_code == 200
    events = client.state()["events"]
    assert len(events) == 1
    assert events[0]["duplicates"] == 2
    assert events[0]["data"] == {"price": 23}
    assert client.admin("GET", "stats").json()["duplicate_events"] == 2


def test_v2_event_ids_share_the_dedupe_with_v1(client: Client) -> None:
    event_id = "01HZX3Q4J2W8V6N9M5K7T1R0CD"
    client.track("POST", "/api/v1/customers/42/events", json={"name": "signup", "id": event_id})
    operation = {
        "type": "person",
        "identifiers": {"id": "42"},
        "action": "event",
        "name": "signup",
        "id": event_id,
    }
    assert client.track("POST", "/api/v2/entity", json=operation).status_code == 200
    assert len(client.state()["events"]) == 1


def test_events_without_id_are_all_stored(client: Client) -> None:
    for _ in range(2):
        client.track("POST", "/api/v1/customers/42/events", json={"name": "click"})
    assert len(client.state()["events"]) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": {}}, "event name must not be blank"),
        ({"name": "   "}, "event name must not be blank"),
        ({"name": "x" * 101}, "event name cannot be longer than 100 bytes"),
        ({"name": "ok", "data": "text"}, "event data must be a hash"),
        (
            {"name": "ok", "data": {"blob": "x" * 100_001}},
            "event data cannot be longer than 100000 bytes",
        ),
        ({"name": "ok", "type": "screen"}, "anonymous_id"),
        ({"name": "ok", "timestamp": "yesterday"}, "timestamp"),
    ],
)
def test_invalid_events_get_400_with_a_reason(client: Client, body: dict, message: str) -> None:
    response = client.track("POST", "/api/v1/customers/42/events", json=body)
    assert response.status_code == 400
    assert message in response.json()["meta"]["error"]
    assert client.state()["events"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {f"a{i}": i for i in range(301)},
            "cannot identify more than 300 attributes in one request",
        ),
        ({"n" * 151: 1}, "attribute name cannot be longer than 150 bytes"),
        ({"bio": "x" * 1001}, "value for attribute 'bio' cannot be longer than 1000 bytes"),
        ({"score": 1.5}, "score"),
        ({"nested": {"a": 1}}, "nested"),
    ],
)
def test_identify_limits_and_schema(client: Client, body: dict, message: str) -> None:
    response = client.track("PUT", "/api/v1/customers/42", json=body)
    assert response.status_code == 400
    assert message in response.json()["meta"]["error"]


def test_id_longer_than_150_bytes_is_rejected(client: Client) -> None:
    response = client.track("PUT", "/api/v1/customers/" + "i" * 151, json={"plan": "x"})
    assert response.status_code == 400
    assert "150 bytes" in response.json()["meta"]["error"]


def test_body_that_is_not_json_gets_400(client: Client) -> None:
    response = client.track(
        "PUT",
        "/api/v1/customers/42",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["meta"]["error"]


def test_delete_removes_the_person(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/42", json={"plan": "x"})
    assert client.track("DELETE", "/api/v1/customers/42").status_code == 200
    assert client.state()["people"] == []


def test_devices_add_and_delete(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/42", json={"plan": "x"})
    device = {"device": {"id": "tok-1", "platform": "ios", "last_used": 1700000000}}
    assert client.track("PUT", "/api/v1/customers/42/devices", json=device).status_code == 200
    assert client.person("id", "42")["devices"][0]["id"] == "tok-1"  # type: ignore[index]
    bad = client.track(
        "PUT", "/api/v1/customers/42/devices", json={"device": {"id": "t", "platform": "pager"}}
    )
    assert bad.status_code == 400
    assert client.track("DELETE", "/api/v1/customers/42/devices/tok-1").status_code == 200
    assert client.person("id", "42")["devices"] == []  # type: ignore[index]


def test_suppress_deletes_and_blocks_the_identifiers_until_unsuppressed(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/42", json={"email": "sup@example.com"})
    assert client.track("POST", "/api/v1/customers/42/suppress").status_code == 200
    assert client.state()["people"] == []
    client.track("PUT", "/api/v1/customers/42", json={"plan": "x"})
    client.track("POST", "/api/v1/customers/42/events", json={"name": "ignored"})
    state = client.state()
    assert state["people"] == [] and state["events"] == []
    assert {s.get("id") or s.get("email") for s in state["suppressed"]} == {"42", "sup@example.com"}
    client.track("POST", "/api/v1/customers/42/unsuppress")
    client.track("PUT", "/api/v1/customers/42", json={"plan": "back"})
    assert client.person("id", "42")["attributes"]["plan"] == "back"  # type: ignore[index]


def test_merge_moves_missing_attributes_and_deletes_secondary(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/1", json={"plan": "pro"})
    client.track("PUT", "/api/v1/customers/2", json={"plan": "free", "city": "Oslo"})
    body = {"primary": {"id": "1"}, "secondary": {"id": "2"}}
    assert client.track("POST", "/api/v1/merge_customers", json=body).status_code == 200
    state = client.state()
    assert [p["identifiers"]["id"] for p in state["people"]] == ["1"]
    assert state["people"][0]["attributes"] == {"plan": "pro", "city": "Oslo"}
    assert state["merges"][0]["secondary_existed"] is True


def test_merge_without_primary_does_nothing(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/2", json={"plan": "free"})
    body = {"primary": {"id": "nobody"}, "secondary": {"id": "2"}}
    assert client.track("POST", "/api/v1/merge_customers", json=body).status_code == 200
    assert client.person("id", "2") is not None
    bad = client.track("POST", "/api/v1/merge_customers", json={"primary": {"id": "1"}})
    assert bad.status_code == 400


def test_new_path_id_with_a_known_email_updates_that_person(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/42", json={"email": "ada@example.com", "plan": "free"})
    client.track("PUT", "/api/v1/customers/43", json={"email": "ada@example.com", "plan": "pro"})
    [person] = client.state()["people"]
    assert person["identifiers"]["id"] == "43"  # "the existing person gets the new id"
    assert person["attributes"]["plan"] == "pro"


def test_email_of_another_person_is_an_attribute_update_failure(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/1", json={"email": "one@example.com"})
    client.track("PUT", "/api/v1/customers/2", json={"email": "two@example.com"})
    assert (
        client.track(
            "PUT", "/api/v1/customers/2", json={"email": "one@example.com", "a": 1}
        ).status_code
        == 200
    )
    two = client.person("id", "2")
    assert two is not None
    assert two["identifiers"]["email"] == "two@example.com"
    assert two["attributes"] == {"email": "two@example.com", "a": 1}
    assert "belongs to another person" in client.state()["ignored"][-1]["reason"]


def test_cio_id_reference_updates_identifiers(client: Client) -> None:
    client.track("PUT", "/api/v1/customers/42", json={"email": "old@example.com"})
    cio_id = client.person("id", "42")["cio_id"]  # type: ignore[index]
    client.track("PUT", "/api/v1/customers/42", json={"email": "new@example.com"})
    assert client.person("id", "42")["identifiers"]["email"] == "old@example.com"  # type: ignore[index]
    assert client.person("id", "42")["attributes"]["email"] == "old@example.com"  # type: ignore[index]
    client.track("PUT", f"/api/v1/customers/cio_{cio_id}", json={"email": "new@example.com"})
    assert client.person("id", "42")["identifiers"]["email"] == "new@example.com"  # type: ignore[index]
    client.track("PUT", "/api/v1/customers/cio_ffffffff", json={"plan": "x"})
    assert len(client.state()["people"]) == 1


def test_batch_all_valid_answers_200(client: Client) -> None:
    batch = [
        {
            "type": "person",
            "identifiers": {"id": "42"},
            "action": "identify",
            "attributes": {"plan": "pro"},
        },
        {
            "type": "person",
            "identifiers": {"id": "42"},
            "action": "event",
            "name": "upgrade",
            "id": "01HZX3Q4J2W8V6N9M5K7T1R0EF",
            "attributes": {"from": "free"},
        },
        ACME_IDENTIFY,
    ]
    response = client.track("POST", "/api/v2/batch", json={"batch": batch})
    assert response.status_code == 200
    assert response.json() == {}
    state = client.state()
    assert state["people"][0]["attributes"] == {"plan": "pro"}
    assert state["events"][0]["name"] == "upgrade"
    assert state["objects"][0]["attributes"] == {"name": "Acme"}


def test_batch_with_invalid_items_answers_207_and_applies_the_rest(client: Client) -> None:
    batch = [
        {
            "type": "person",
            "identifiers": {"id": "1"},
            "action": "identify",
            "attributes": {"a": 1},
        },
        {"type": "person", "identifiers": {"id": "1"}, "action": "event"},
        {
            "type": "person",
            "identifiers": {"id": "1", "email": "a@example.com"},
            "action": "identify",
        },
        {"type": "person", "identifiers": {"id": "2"}, "action": "teleport"},
        {
            "type": "person",
            "identifiers": {"id": "3"},
            "action": "event",
            "name": "big",
            "attributes": {"blob": "x" * 33_000},
        },
        {"type": "person", "identifiers": {"id": "4"}, "action": "event", "name": "ok"},
    ]
    response = client.track("POST", "/api/v2/batch", json={"batch": batch})
    assert response.status_code == 207
    errors = response.json()["errors"]
    assert [e["batch_index"] for e in errors] == [1, 2, 3, 4]
    assert errors[0]["field"] == "name"
    assert errors[1]["field"] == "identifiers"
    assert errors[2]["field"] == "action"
    assert errors[3]["reason"] == "too_large"
    assert all(set(e) == {"batch_index", "reason", "field", "message"} for e in errors)
    state = client.state()
    assert [p["identifiers"]["id"] for p in state["people"]] == ["1"]
    assert [e["name"] for e in state["events"]] == ["ok"]


def test_batch_over_500kb_is_rejected_whole(client: Client) -> None:
    item = {
        "type": "person",
        "identifiers": {"id": "1"},
        "action": "event",
        "name": "e",
        "attributes": {"blob": "x" * 30_000},
    }
    response = client.track("POST", "/api/v2/batch", json={"batch": [item] * 18})
    assert response.status_code == 400
    assert response.json()["errors"][0]["reason"] == "too_large"
    assert client.state()["events"] == []


def test_entity_over_32kb_is_rejected(client: Client) -> None:
    operation = {
        "type": "person",
        "identifiers": {"id": "1"},
        "action": "identify",
        "attributes": {f"k{i}": "x" * 900 for i in range(40)},
    }
    response = client.track("POST", "/api/v2/entity", json=operation)
    assert response.status_code == 400
    assert "32kb" in response.json()["errors"][0]["message"]


def test_entity_invalid_gets_400_in_v2_error_shape(client: Client) -> None:
    response = client.track("POST", "/api/v2/entity", json={"type": "person", "action": "identify"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error == {
        "reason": "invalid",
        "field": "identifiers",
        "message": "'identifiers' is a required property",
    }


def test_v2_phone_identifier_and_merge(client: Client) -> None:
    ops = [
        {
            "type": "person",
            "identifiers": {"phone": "+14155552671"},
            "action": "identify",
            "attributes": {"a": 1},
        },
        {
            "type": "person",
            "identifiers": {"id": "9"},
            "action": "identify",
            "attributes": {"b": 2},
        },
        {
            "type": "person",
            "action": "merge",
            "primary": {"id": "9"},
            "secondary": {"phone": "+14155552671"},
        },
    ]
    for op in ops[:2]:
        assert client.track("POST", "/api/v2/entity", json=op).status_code == 200
    response = client.track("POST", "/api/v2/entity", json=ops[2])
    assert response.status_code == 400  # the document's merge identifiers are id, email or cio_id
    assert len(client.state()["people"]) == 2


def test_every_v2_person_action_through_one_batch(client: Client) -> None:
    person = {"type": "person", "identifiers": {"id": "5"}}
    other = {"type": "person", "identifiers": {"id": "6"}}
    rel = [
        {
            "identifiers": {"object_type_id": "1", "object_id": "acme"},
            "relationship_attributes": {"role": "admin"},
        }
    ]
    batch = [
        {
            **person,
            "action": "identify",
            "attributes": {"plan": "pro", "email": "five@example.com"},
        },
        {**other, "action": "identify", "attributes": {"city": "Oslo"}},
        {**person, "action": "add_device", "device": {"token": "tok-5", "platform": "android"}},
        {**person, "action": "add_relationships", "cio_relationships": rel},
        {**person, "action": "page", "name": "/pricing", "id": "01HZX3Q4J2W8V6N9M5K7T1R0P1"},
        {**person, "action": "screen", "name": "home", "id": "01HZX3Q4J2W8V6N9M5K7T1R0S1"},
        {"type": "person", "action": "merge", "primary": {"id": "5"}, "secondary": {"id": "6"}},
        {
            "type": "delivery",
            "action": "event",
            "identifiers": {"id": "RPIyMTM6OjEyMzQ="},
            "name": "opened",
            "attributes": {"device_token": "tok-5"},
        },
        ACME_IDENTIFY,
    ]
    assert client.track("POST", "/api/v2/batch", json={"batch": batch}).status_code == 200
    state = client.state()
    [five] = state["people"]
    assert five["identifiers"]["email"] == "five@example.com"
    assert five["attributes"] == {"plan": "pro", "email": "five@example.com", "city": "Oslo"}
    assert [d["token"] for d in five["devices"]] == ["tok-5"]
    assert five["relationships"] == rel
    assert [(e["type"], e["name"]) for e in state["events"]] == [
        ("page", "/pricing"),
        ("screen", "home"),
    ]
    assert state["deliveries"][0]["name"] == "opened"
    assert state["objects"][0]["attributes"] == {"name": "Acme"}

    later = [
        {**person, "action": "delete_relationships", "cio_relationships": rel},
        {**person, "action": "delete_device", "device": {"token": "tok-5", "platform": "android"}},
        {**person, "action": "suppress"},
    ]
    assert client.track("POST", "/api/v2/batch", json={"batch": later}).status_code == 200
    state = client.state()
    assert state["people"] == []
    assert {s.get("id") or s.get("email") for s in state["suppressed"]} == {"5", "five@example.com"}
    unsuppress = {**person, "action": "unsuppress"}
    assert client.track("POST", "/api/v2/entity", json=unsuppress).status_code == 200
    assert (
        client.track("POST", "/api/v2/entity", json={**person, "action": "identify"}).status_code
        == 200
    )
    assert (
        client.track("POST", "/api/v2/entity", json={**person, "action": "delete"}).status_code
        == 200
    )
    assert client.state()["people"] == []


def test_object_delete_and_relationship_changes(client: Client) -> None:
    obj = {"type": "object", "identifiers": {"object_type_id": "1", "object_id": "acme"}}
    rel = [{"identifiers": {"id": "42"}}]
    for operation in (
        {**obj, "action": "identify", "attributes": {"seats": 5}},
        {**obj, "action": "add_relationships", "cio_relationships": rel},
    ):
        assert client.track("POST", "/api/v2/entity", json=operation).status_code == 200
    assert client.state()["objects"][0]["relationships"] == rel
    client.track(
        "POST",
        "/api/v2/entity",
        json={**obj, "action": "delete_relationships", "cio_relationships": rel},
    )
    assert client.state()["objects"][0]["relationships"] == []
    client.track("POST", "/api/v2/entity", json={**obj, "action": "delete"})
    assert client.state()["objects"] == []


def test_anonymous_event(client: Client) -> None:
    body = {"name": "visit", "anonymous_id": "anon-1", "data": {"page": "/"}}
    assert client.track("POST", "/api/v1/events", json=body).status_code == 200
    assert client.state()["events"][0]["anonymous_id"] == "anon-1"
    assert client.track("POST", "/api/v1/events", json={"anonymous_id": "a"}).status_code == 400


def test_concurrent_redeliveries_of_the_same_ids_are_stored_once(client: Client) -> None:
    ids = [f"01HZX3Q4J2W8V6N9M5K7T1C{i:03d}" for i in range(20)]
    failures: list[int] = []

    def deliver() -> None:
        with requests.Session() as session:
            for event_id in ids:
                response = session.post(
                    f"{client.url}/api/v1/customers/42/events",
                    json={"name": "paid", "id": event_id},
                    auth=("test-site", "test-track-key"),
                    timeout=5,
                )
                if response.status_code != 200:
                    failures.append(response.status_code)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    events = client.state()["events"]
    assert sorted(e["id"] for e in events) == ids
    assert sum(e["duplicates"] for e in events) == 20 * 7


def test_without_validation_floats_pass_and_malformed_bodies_still_get_400() -> None:

    sim = Simulator(make_config(validate_schemas=False)).start()
    try:
        auth = (SITE_ID, TRACK_KEY)
        ok = requests.put(
            f"{sim.url}/api/v1/customers/42", json={"score": 1.5}, auth=auth, timeout=5
        )
        assert ok.status_code == 200
        no_device = requests.put(
            f"{sim.url}/api/v1/customers/42/devices", json={}, auth=auth, timeout=5
        )
        assert no_device.status_code == 400
        assert "schema validation is off" in no_device.json()["meta"]["error"]
        limit = requests.put(
            f"{sim.url}/api/v1/customers/42", json={"b": "x" * 1001}, auth=auth, timeout=5
        )
        assert limit.status_code == 400  # the documented limits still apply
    finally:
        sim.stop()
