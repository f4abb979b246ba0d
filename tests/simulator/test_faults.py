"""Fault injection: status errors, latency, timeouts, dropped connections, outage windows,
path prefixes, and the after-store mode. Injected failures must not change state."""

from __future__ import annotations

import time

import pytest
import requests
from cio_simulator import FaultConfig, Simulator
from cio_simulator.config import ConfigError, parse_fault, parse_outage

from tests.simulator.conftest import Client, make_config

pytestmark = pytest.mark.integration


def _events(client: Client, count: int, prefix: str = "E") -> list[requests.Response | Exception]:
    answers: list[requests.Response | Exception] = []
    for i in range(count):
        try:
            answers.append(
                client.track(
                    "POST",
                    "/api/v1/customers/42/events",
                    json={"name": "e", "id": f"{prefix}{i}"},
                    timeout=2,
                )
            )
        except requests.RequestException as exc:
            answers.append(exc)
    return answers


def test_status_faults_at_full_rate_store_nothing(client: Client) -> None:
    client.admin("POST", "faults", json={"faults": ["500:1.0"]})
    answers = _events(client, 3)
    assert [a.status_code for a in answers] == [500, 500, 500]  # type: ignore[union-attr]
    assert client.state()["events"] == []
    assert client.admin("GET", "stats").json()["injected_faults"] == {"500": 3}


def test_mixed_fault_rates_are_roughly_respected(client: Client) -> None:
    client.admin("POST", "faults", json={"faults": ["500:0.3", "429:0.2"], "seed": 7})
    answers = _events(client, 200)
    statuses = [a.status_code for a in answers]  # type: ignore[union-attr]
    assert 35 <= statuses.count(500) <= 85
    assert 20 <= statuses.count(429) <= 60
    assert all(a.headers.get("Retry-After") == "1" for a in answers if a.status_code == 429)  # type: ignore[union-attr]
    stored = {e["id"] for e in client.state()["events"]}
    ok = {f"E{i}" for i, status in enumerate(statuses) if status == 200}
    assert stored == ok


def test_fault_after_store_answers_5xx_but_keeps_the_event(client: Client) -> None:
    client.admin("POST", "faults", json={"faults": ["503:1.0"], "after_store": True})
    answers = _events(client, 2)
    assert [a.status_code for a in answers] == [503, 503]  # type: ignore[union-attr]
    assert [e["id"] for e in client.state()["events"]] == ["E0", "E1"]
    client.admin("POST", "faults", json={})
    retried = _events(client, 2)  # the client retries the same ids: dedup makes it harmless
    assert [a.status_code for a in retried] == [200, 200]  # type: ignore[union-attr]
    assert [e["duplicates"] for e in client.state()["events"]] == [1, 1]


def test_after_store_fault_on_a_refused_request_still_answers_the_fault(client: Client) -> None:
    client.admin("POST", "faults", json={"faults": ["502:1.0"], "after_store": True})
    response = client.track("POST", "/api/v1/customers/42/events", json={"name": "e"}, auth=None)
    assert response.status_code == 502  # the injected failure, not the 401 behind it
    assert client.state()["events"] == []
    stats = client.admin("GET", "stats").json()
    assert stats["injected_faults"] == {"502": 1} and stats["by_status"] == {"status_502": 1}


def test_after_store_does_not_apply_to_4xx_faults(client: Client) -> None:
    client.admin("POST", "faults", json={"faults": ["429:1.0"], "after_store": True})
    assert [a.status_code for a in _events(client, 1)] == [429]  # type: ignore[union-attr]
    assert client.state()["events"] == []


def test_dropped_connection_gets_no_answer_and_stores_nothing(client: Client) -> None:
    client.admin("POST", "faults", json={"faults": ["drop:1.0"]})
    answers = _events(client, 2)
    assert all(isinstance(a, requests.ConnectionError) for a in answers)
    client.admin("POST", "faults", json={})
    assert client.state()["events"] == []
    outcomes = [e["outcome"] for e in client.admin("GET", "requests").json()["requests"]]
    assert outcomes == ["drop", "drop"]


def test_timeout_holds_the_request_past_the_client_timeout(client: Client) -> None:
    client.admin("POST", "faults", json={"faults": ["timeout:1.0"], "timeout_hold_seconds": 1.5})
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        client.track(
            "POST", "/api/v1/customers/42/events", json={"name": "e", "id": "T1"}, timeout=0.5
        )
    assert time.monotonic() - started < 1.5
    client.admin("POST", "faults", json={})
    assert client.state()["events"] == []


def test_latency_and_jitter_delay_answers(client: Client) -> None:
    client.admin("POST", "faults", json={"latency_ms": 150, "jitter_ms": 50, "seed": 1})
    started = time.monotonic()
    assert client.track("GET", "/api/v1/accounts/region").status_code == 200
    assert time.monotonic() - started >= 0.15


def test_faults_limited_to_a_path_prefix(client: Client) -> None:
    client.admin("POST", "faults", json={"faults": ["500:1.0"], "path_prefix": "/api/v2/"})
    assert client.track("GET", "/api/v1/accounts/region").status_code == 200
    operation = {"type": "person", "identifiers": {"id": "1"}, "action": "identify"}
    assert client.track("POST", "/api/v2/entity", json=operation).status_code == 500
    assert client.admin("GET", "state").status_code == 200  # admin is never faulted


def test_outage_window_answers_503_only_inside_it(client: Client) -> None:
    client.admin("POST", "faults", json={"outage": "0.3s+0.4s"})
    assert client.track("GET", "/api/v1/accounts/region").status_code == 200
    time.sleep(0.4)
    inside = client.track("GET", "/api/v1/accounts/region")
    assert inside.status_code == 503
    assert inside.headers["Retry-After"] == "1"
    time.sleep(0.4)
    assert client.track("GET", "/api/v1/accounts/region").status_code == 200
    assert client.admin("GET", "stats").json()["injected_faults"] == {"outage": 1}


def test_outage_from_start_up_config() -> None:
    sim = Simulator(make_config(faults=FaultConfig(outages=[(0.0, 30.0)]))).start()
    try:
        response = requests.get(f"{sim.url}/api/v1/accounts/region", timeout=5)
        assert response.status_code == 503  # before auth: the whole service is down
    finally:
        sim.stop()


def test_reset_restores_start_up_faults(client: Client) -> None:
    client.admin("POST", "faults", json={"faults": ["500:1.0"]})
    client.admin("POST", "reset")
    assert client.admin("GET", "faults").json()["rates"] == {}
    assert client.track("GET", "/api/v1/accounts/region").status_code == 200


@pytest.mark.parametrize(
    "settings",
    [
        {"faults": ["500:1.5"]},
        {"faults": ["500:0.6", "429:0.6"]},
        {"faults": ["abc:0.1"]},
        {"outage": "5s"},
        {"latency_ms": -1},
        {"unknown": 1},
    ],
)
def test_invalid_fault_settings_are_refused(client: Client, settings: dict) -> None:
    response = client.admin("POST", "faults", json=settings)
    assert response.status_code == 400
    assert response.json()["meta"]["error"]


def test_parsers() -> None:
    assert parse_fault("timeout:0.25") == ("timeout", 0.25)
    assert parse_outage("250ms+1.5s") == (0.25, 1.5)
    with pytest.raises(ConfigError):
        parse_fault("500")
