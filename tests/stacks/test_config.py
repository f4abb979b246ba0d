"""The environment model: good files load, bad ones fail naming the file, key and expectation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks.config import ConfigError, json_schema, load_all, load_environment
from tests.support.environments import environment_names

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENTS = REPO / "environments"


def write_env(folder: Path, env_name: str, **overrides: object) -> Path:
    data = yaml.safe_load((ENVIRONMENTS / "dev.yaml").read_text())
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = folder / f"{env_name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def error_for(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_environment(path)
    return str(info.value)


def test_the_repository_environments_load() -> None:
    envs = {env.name: env for env in load_all(ENVIRONMENTS)}
    assert sorted(envs) == environment_names()
    for name, env in envs.items():
        raw = yaml.safe_load((ENVIRONMENTS / f"{name}.yaml").read_text())
        assert env.protected is bool(raw.get("protected", False))
        assert env.resource_name("track") == f"cio-{name}-track"
        assert env.dataset_name("analytics") == f"cio_{name}_analytics"


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = write_env(tmp_path, "qa", pubsub={"max_delivery_attemps": 5})
    message = error_for(path)
    assert str(path) in message
    assert "pubsub.max_delivery_attemps" in message
    assert "unknown key" in message


def test_wrong_type_says_what_is_expected(tmp_path: Path) -> None:
    message = error_for(write_env(tmp_path, "qa", customerio={"region": "asia"}))
    assert "customerio.region" in message and "'us' or 'eu'" in message


def test_missing_project_is_named(tmp_path: Path) -> None:
    message = error_for(write_env(tmp_path, "qa", project_id=None))
    assert "project_id: required key is missing" in message


def test_protected_environment_needs_warm_instances(tmp_path: Path) -> None:
    path = write_env(tmp_path, "qa", protected=True, handlers={"track": {"min_instances": 0}})
    assert "handlers.track.min_instances" in error_for(path)


def test_ack_deadline_must_cover_the_function_timeout(tmp_path: Path) -> None:
    path = write_env(
        tmp_path,
        "qa",
        pubsub={"ack_deadline_seconds": 30},
        handlers={"track": {"timeout_seconds": 60}},
    )
    assert "ack_deadline_seconds (30) must be >= handlers.track.timeout_seconds (60)" in error_for(
        path
    )


def test_timeout_must_exceed_customerio_call_batch_and_rate_limit_waits(tmp_path: Path) -> None:
    path = write_env(
        tmp_path,
        "qa",
        customerio={"call_timeout_seconds": 10, "batch_max_wait_ms": 500},
        handlers={"track": {"timeout_seconds": 20}},
    )
    # 10 s call + 0.5 s batching + the default 10 s rate-limit wait
    assert "plus the batching and rate-limit waits (20.5 s)" in error_for(path)
    path = write_env(
        tmp_path,
        "qa",
        customerio={"call_timeout_seconds": 10, "rate_limit_max_wait_ms": 2000},
        handlers={"track": {"timeout_seconds": 12}},
    )
    assert "plus the batching and rate-limit waits (12.025 s)" in error_for(path)


def test_request_shares_split_one_budget(tmp_path: Path) -> None:
    path = write_env(
        tmp_path,
        "qa",
        handlers={"track": {"request_share": 0.7}, "identify": {"request_share": 0.5}},
    )
    assert "add up to 1.2" in error_for(path)


def test_backoff_order(tmp_path: Path) -> None:
    path = write_env(tmp_path, "qa", pubsub={"min_backoff_seconds": 60, "max_backoff_seconds": 10})
    assert "min_backoff_seconds (60) must not exceed max_backoff_seconds (10)" in error_for(path)


def test_invalid_yaml_and_name_mismatch(tmp_path: Path) -> None:
    broken = tmp_path / "qa.yaml"
    broken.write_text("project_id: [unclosed\n")
    assert "not valid YAML" in error_for(broken)
    renamed = write_env(tmp_path, "uat", name="prod")
    assert "differs from the file name" in error_for(renamed)


def test_environment_name_rules(tmp_path: Path) -> None:
    assert "environment name 'Bad_Name'" in error_for(write_env(tmp_path, "Bad_Name"))


def test_checked_in_schema_matches_the_model() -> None:
    checked_in = json.loads((ENVIRONMENTS / "schema.json").read_text())
    assert checked_in == json.loads(json.dumps(json_schema())), "run `make schema`"


def test_cli_validate_reports_bad_file_and_exits_2(tmp_path: Path) -> None:
    write_env(tmp_path, "qa", region=7)
    result = subprocess.run(
        [sys.executable, "-m", "stacks.cli", "validate", "--env-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 2
    assert "qa.yaml" in result.stderr and "region" in result.stderr


def test_cli_validate_accepts_the_repository() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stacks.cli", "validate"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for name in environment_names():
        assert f"{name}: ok" in result.stdout
