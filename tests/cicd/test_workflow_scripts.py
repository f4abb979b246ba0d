"""The workflows' own shell steps, run with bash the way a runner runs them (`bash -e`),
on summaries written by the real scripts/plan_summary.py; `gh` is a recording stand-in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cicd.support import REPO, load

SUMMARY = REPO / "scripts" / "plan_summary.py"
pytestmark = pytest.mark.skipif(shutil.which("jq") is None, reason="jq (on every runner) missing")


def step(workflow: str, job: str, name_part: str) -> dict:
    jobs = load(REPO / ".github" / "workflows" / workflow)["jobs"]
    return next(s for s in jobs[job]["steps"] if name_part in s.get("name", ""))


def plan_with(tmp: Path, env: str, resource_changes: list, drift: list | None = None) -> None:
    """reports/plan/<env>/summary.{md,json} as `make plan` leaves them."""
    out = tmp / "reports" / "plan" / env
    out.mkdir(parents=True)
    plan = {
        "format_version": "1.2",
        "resource_changes": resource_changes,
        "resource_drift": drift or [],
        "relevant_attributes": [{"resource": d["address"], "attribute": []} for d in drift or []],
    }
    (out / "plan.json").write_text(json.dumps(plan))
    subprocess.run(
        [
            sys.executable,
            str(SUMMARY),
            str(out / "plan.json"),
            "--env",
            env,
            "--markdown",
            str(out / "summary.md"),
            "--json",
            str(out / "summary.json"),
        ],
        check=True,
    )


def run_step(script: str, tmp: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    files = {name: tmp / name for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    for path in files.values():
        path.write_text("")
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=tmp,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": os.environ["PATH"], **{k: str(v) for k, v in files.items()}, **env},
    )
    outputs = dict(
        line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines() if line
    )
    return result, {"outputs": outputs, "summary": files["GITHUB_STEP_SUMMARY"].read_text()}


CREATE = {"address": "google_pubsub_topic.t", "mode": "managed", "change": {"actions": ["create"]}}
NOOP = {"address": "google_pubsub_topic.t", "mode": "managed", "change": {"actions": ["no-op"]}}


def test_promote_plan_step_exports_fingerprint_and_changes(tmp_path: Path) -> None:
    plan_with(tmp_path, "staging", [CREATE])
    script = step("promote.yml", "plan", "Show the plan")["run"]
    result, got = run_step(script, tmp_path, TARGET_ENV="staging")
    assert result.returncode == 0, result.stderr
    expected = json.loads((tmp_path / "reports/plan/staging/summary.json").read_text())
    assert got["outputs"] == {"fingerprint": expected["fingerprint"], "has_changes": "true"}
    assert "1 to add, 0 to change, 0 to destroy" in got["summary"]


def test_promote_plan_step_without_changes_skips_the_deploy(tmp_path: Path) -> None:
    plan_with(tmp_path, "prod", [NOOP])
    result, got = run_step(
        step("promote.yml", "plan", "Show the plan")["run"], tmp_path, TARGET_ENV="prod"
    )
    assert result.returncode == 0, result.stderr
    assert got["outputs"]["has_changes"] == "false"
    deploy = load(REPO / ".github/workflows/promote.yml")["jobs"]["deploy"]
    assert deploy["if"].startswith("needs.plan.outputs.has_changes == 'true'")


@pytest.fixture
def fake_gh(tmp_path: Path) -> Path:
    """A `gh` that records its arguments; `issue list` answers with OPEN_ISSUE (or nothing)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(
        "#!/bin/bash\n"
        'echo "$*" >> "$GH_LOG"\n'
        'if [ "$1 $2" = "issue list" ]; then echo -n "${OPEN_ISSUE:-}"; fi\n'
    )
    gh.chmod(0o755)
    return bin_dir


def drift(
    tmp: Path, fake_gh: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = tmp / "gh.log"
    log.write_text("")
    script = step("drift.yml", "drift", "Report drift")["run"]
    path = f"{fake_gh}:{os.environ['PATH']}"
    env = {"PLAN_OUTCOME": "success", **env}
    result, _ = run_step(script, tmp, TARGET_ENV="prod", GH_LOG=str(log), PATH=path, **env)
    return result, log.read_text().splitlines()


def test_no_drift_reports_nothing(tmp_path: Path, fake_gh: Path) -> None:
    plan_with(tmp_path, "prod", [NOOP])
    result, calls = drift(tmp_path, fake_gh)
    assert result.returncode == 0 and "no drift in prod" in result.stdout
    assert calls == []


def test_drift_opens_an_issue_and_fails(tmp_path: Path, fake_gh: Path) -> None:
    update = {
        "address": "google_pubsub_topic.t",
        "mode": "managed",
        "change": {"actions": ["update"]},
    }
    plan_with(tmp_path, "prod", [NOOP], drift=[update])
    result, calls = drift(tmp_path, fake_gh)
    assert result.returncode == 1
    assert "::error::prod has drifted from main" in result.stdout
    assert calls[0].startswith("issue list --state open --search")
    assert calls[1] == "issue create --title Drift in prod --body-file reports/plan/prod/summary.md"


def test_drift_comments_on_the_open_issue(tmp_path: Path, fake_gh: Path) -> None:
    plan_with(tmp_path, "prod", [CREATE])
    result, calls = drift(tmp_path, fake_gh, OPEN_ISSUE="42")
    assert result.returncode == 1
    assert calls[1] == "issue comment 42 --body-file reports/plan/prod/summary.md"


def test_gcp_auth_resolves_the_account_of_the_environment(tmp_path: Path) -> None:
    action = load(REPO / ".github/actions/gcp-auth/action.yml")
    script = next(s for s in action["runs"]["steps"] if s.get("id") == "identity")["run"]
    env_file = yaml.safe_load((REPO / "environments/prod.yaml").read_text())

    def resolve(account: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
        out = tmp_path / f"{account}.out"
        out.write_text("")
        env = {"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(out), "RUNNER_TEMP": str(tmp_path)}
        result = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={**env, "TARGET_ENV": "prod", "ACCOUNT": account},
        )
        return result, dict(line.split("=", 1) for line in out.read_text().splitlines())

    result, outputs = resolve("deployer")
    assert result.returncode == 0, result.stderr
    project = env_file["project_id"]
    assert outputs["service_account"] == f"cio-prod-deployer@{project}.iam.gserviceaccount.com"
    assert outputs["workload_identity_provider"].startswith(
        f"projects/{env_file['project_number']}/locations/global/workloadIdentityPools/"
    )
    refused, outputs = resolve("owner")
    assert refused.returncode == 1 and "::error::unknown account owner" in refused.stdout
    assert outputs == {}
