"""`cio-doctor api` as a process against the simulator: probe, errors, trace, read-only guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.toolkit.doctor import run
from tests.toolkit.simulator_fixture import APP_KEY, TRACK_KEY, Sim

pytestmark = pytest.mark.integration


def test_probe_shows_each_call_and_traces_without_credentials(sim: Sim, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    result = run(["api", "probe", "--json", "--trace", str(trace)], env=sim.env())
    assert result.code == 0, result.stdout + result.stderr
    checks = result.json["checks"]
    assert [c["data"]["status"] for c in checks] == [200, 200]
    assert checks[0]["data"]["request"] == f"GET {sim.url}/api/v1/accounts/region"
    assert checks[0]["data"]["request_headers"]["Authorization"] == "[redacted]"
    assert checks[0]["data"]["response_body"]["region"] == "us"
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [line["api"] for line in lines] == ["track", "app"]
    assert all(line["latency_ms"] >= 0 for line in lines)
    text = trace.read_text() + result.stdout
    assert TRACK_KEY not in text and APP_KEY not in text
    assert [r["method"] for r in sim.requests_seen()] == ["GET", "GET"]


def test_wrong_track_key_shows_customerio_error(sim: Sim) -> None:
    result = run(
        ["api", "track", "GET", "/api/v1/accounts/region", "--json"],
        env=sim.env(CIO_TRACK_API_KEY="not-the-key"),
    )
    assert result.code == 1
    finding = result.json["findings"][0]
    assert finding["code"] == "http_401"
    assert "Unauthorized request" in finding["detail"]


def test_not_found_and_rate_limited(sim: Sim) -> None:
    missing = run(["api", "app", "GET", "/v1/campaigns/999", "--json"], env=sim.env())
    assert missing.code == 1
    assert missing.json["checks"][0]["data"]["response_body"] == {
        "meta": {"error": "campaign not found"}
    }
    sim.faults(faults=["429:1.0"])
    limited = run(["api", "app", "GET", "/v1/segments", "--json"], env=sim.env())
    assert limited.code == 1
    assert limited.finding_codes() == ["http_429"]


def test_timeout_cannot_check(sim: Sim) -> None:
    sim.faults(faults=["timeout:1.0"], timeout_hold="2s")
    result = run(["api", "probe", "--json", "--timeout", "0.5"], env=sim.env())
    assert result.code == 2
    assert "timed out after 0.5 s" in result.json["checks"][0]["error"]


def test_writes_need_write_flag(sim: Sim, tmp_path: Path) -> None:
    body = tmp_path / "person.json"
    body.write_text(json.dumps({"email": "new@example.com"}))
    refused = run(
        ["api", "track", "PUT", "/api/v1/customers/77", "--data", f"@{body}", "--json"],
        env=sim.env(),
    )
    assert refused.code == 2
    assert "--write" in refused.json["error"]
    assert sim.requests_seen() == []
    done = run(
        ["api", "track", "PUT", "/api/v1/customers/77", "--data", f"@{body}", "--write", "--json"],
        env=sim.env(),
    )
    assert done.code == 0, done.stdout
    assert done.json["checks"][0]["data"]["request_body"] == {"email": "n***@example.com"}


def test_bad_input(sim: Sim) -> None:
    assert run(["api", "nowhere", "--json"], env=sim.env()).code == 2
    bad = run(["api", "app", "GET", "/v1/segments", "--param", "novalue", "--json"], env=sim.env())
    assert bad.code == 2
    assert "key=value" in bad.json["error"]


def test_probe_finds_a_workspace_in_another_region(sim: Sim) -> None:
    result = run(["api", "probe", "--region", "eu", "--json"], env=sim.env())
    assert result.code == 1
    assert result.finding_codes() == ["region_mismatch"]
    assert "CIO_REGION=us" in result.json["findings"][0]["next_step"]
