"""`cio-doctor api probe` for a Pipelines environment, as a process against two simulators: one
plays the US hosts, the other the EU hosts, and the Pipelines key is known in the US only."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.toolkit.doctor import run
from tests.toolkit.simulator_fixture import Sim, simulator_process

pytestmark = pytest.mark.integration

PIPELINES_KEY = "doctor-pipelines-key"


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Sim]]:
    logs = tmp_path_factory.mktemp("regions")
    key = ("--pipelines-api-key", PIPELINES_KEY, "--pipelines-key-region", "us")
    us = simulator_process(logs / "us.log", "--region", "us", *key)
    eu = simulator_process(logs / "eu.log", "--region", "eu", *key)
    yield {"us": next(us), "eu": next(eu)}
    for process in (us, eu):
        next(process, None)


@pytest.fixture
def sims(regions: dict[str, Sim]) -> dict[str, Sim]:
    for sim in regions.values():
        sim.reset()
    return regions


def pipelines_env(sims: dict[str, Sim], region: str, key: str = PIPELINES_KEY) -> dict[str, str]:
    return sims[region].env(
        CIO_DELIVERY_API="pipelines",
        CIO_REGION=region,
        CIO_PIPELINES_API_KEY=key,
        CIO_PIPELINES_URL_US=sims["us"].url,
        CIO_PIPELINES_URL_EU=sims["eu"].url,
    )


def test_probe_accepts_the_key_in_strict_mode_and_creates_nothing(
    sims: dict[str, Sim], tmp_path: Path, make_env: Callable[..., str], env_dir: Path
) -> None:
    """The environment file's customerio.api chooses the probe; the key comes from the shell."""
    name = make_env(customerio={"region": "us", "api": "pipelines"})
    env = {**pipelines_env(sims, "us"), "CIO_DOCTOR_ENV_DIR": str(env_dir)}
    del env["CIO_DELIVERY_API"], env["CIO_REGION"]
    trace = tmp_path / "trace.jsonl"
    result = run(["api", "probe", "--env", name, "--json", "--trace", str(trace)], env=env)
    assert result.code == 0, result.stdout + result.stderr
    pipelines, app = result.json["checks"]
    assert pipelines["data"]["request"] == f"POST {sims['us'].url}/v1/track"
    assert pipelines["data"]["status"] == 400
    assert pipelines["data"]["key"] == "accepted"
    assert pipelines["data"]["request_headers"]["X-Strict-Mode"] == "1"
    assert pipelines["data"]["request_headers"]["Authorization"] == "[redacted]"
    assert app["data"]["status"] == 200
    assert PIPELINES_KEY not in trace.read_text() + result.stdout
    assert [json.loads(line)["api"] for line in trace.read_text().splitlines()] == [
        "pipelines",
        "app",
    ]
    state = sims["us"].state()
    assert state["people"] == [] and state["events"] == []
    assert sims["eu"].requests_seen() == []


def test_probe_names_a_key_from_the_other_region(sims: dict[str, Sim]) -> None:
    result = run(["api", "probe", "--json"], env=pipelines_env(sims, "eu"))
    assert result.code == 1, result.stdout + result.stderr
    assert result.finding_codes() == ["pipelines_key_wrong_region"]
    finding = result.json["findings"][0]
    assert "belongs to the us region, configured: eu" in finding["title"]
    assert "CIO_REGION=us" in finding["next_step"]
    pipelines = result.json["checks"][0]["data"]
    assert (pipelines["status"], pipelines["other_region"]["status"]) == (401, 400)
    assert [r["status"] for r in sims["eu"].requests_seen() if r["path"] == "/v1/track"] == [401]


def test_probe_names_a_key_refused_in_both_regions(sims: dict[str, Sim]) -> None:
    result = run(["api", "probe", "--json"], env=pipelines_env(sims, "us", key="revoked-key"))
    assert result.code == 1, result.stdout + result.stderr
    assert result.finding_codes() == ["pipelines_key_refused"]
    assert "wrong workspace or revoked key" in result.json["findings"][0]["title"]
    assert result.json["checks"][0]["data"]["key"] == "refused in both regions"


def test_a_pipelines_call_needs_write_and_is_strict(sims: dict[str, Sim]) -> None:
    env = pipelines_env(sims, "us")
    call = ["api", "pipelines", "POST", "/v1/identify", "--data", '{"userId": "p1"}', "--json"]
    assert run(call, env=env).code == 2
    done = run([*call, "--write"], env=env)
    assert done.code == 0, done.stdout + done.stderr
    assert [p["identifiers"]["id"] for p in sims["us"].state()["people"]] == ["p1"]
