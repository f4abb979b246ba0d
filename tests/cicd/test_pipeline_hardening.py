"""What actionlint cannot see: the setup action's apt steps, the drift report when the plan
itself failed, the matrix step's exit code (all as bash processes with recording stand-ins),
deploys restricted to main, artifact re-runs, pinned Python, the provider cache only for the
planner, the SARIF retargeting, and ignored credential files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.cicd.support import ACTIONS, REPO, WORKFLOWS, load, steps

SETUP = REPO / ".github" / "actions" / "setup" / "action.yml"


def stubs(folder: Path, log: Path, **scripts: str) -> str:
    """Executables that append their name and arguments to log; returns a PATH."""
    folder.mkdir(exist_ok=True)
    for name, body in scripts.items():
        tool = folder / name
        tool.write_text(f'#!/bin/bash\necho "{name} $*" >> "{log}"\n{body}\n')
        tool.chmod(0o755)
    return f"{folder}:{os.environ['PATH']}"


def test_the_emulator_step_adds_googles_apt_repository_before_installing(tmp_path: Path) -> None:
    script = next(s for s in load(SETUP)["runs"]["steps"] if "Pub/Sub" in s.get("name", ""))
    log = tmp_path / "calls.log"
    path = stubs(
        tmp_path / "bin",
        log,
        sudo='exec "$@"',
        curl='echo "-----BEGIN PGP PUBLIC KEY BLOCK-----"',
        gpg="cat > /dev/null",
        tee=f'cat >> "{tmp_path}/tee.out"',
        **{"apt-get": ""},
    )
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script["run"]],
        env={"PATH": path},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    calls = [c for c in log.read_text().splitlines() if not c.startswith("sudo ")]
    order = [c.split()[0] + (" " + c.split()[1] if c.startswith("apt-get") else "") for c in calls]
    # curl and gpg run as one pipeline (either may log first); the rest strictly in order.
    assert sorted(order[:2]) == ["curl", "gpg"], calls
    assert order[2:] == ["tee", "apt-get update", "apt-get install"], calls
    text = " ".join(calls)
    assert "curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg" in text
    assert "--dearmor -o /usr/share/keyrings/cloud.google.gpg" in text
    assert "tee /etc/apt/sources.list.d/google-cloud-sdk.list" in text
    assert (tmp_path / "tee.out").read_text().strip() == (
        "deb [signed-by=/usr/share/keyrings/cloud.google.gpg] "
        "https://packages.cloud.google.com/apt cloud-sdk main"
    )
    assert calls[-1].endswith("install -y -qq google-cloud-cli-pubsub-emulator")


def test_a_drift_check_that_could_not_plan_opens_an_issue(tmp_path: Path) -> None:
    jobs = load(REPO / ".github/workflows/drift.yml")["jobs"]
    report = next(s for s in jobs["drift"]["steps"] if "Report drift" in s.get("name", ""))
    assert report["if"] == "${{ !cancelled() }}"
    assert report["env"]["PLAN_OUTCOME"] == "${{ steps.plan.outcome }}"
    log = tmp_path / "gh.log"
    path = stubs(tmp_path / "bin", log, gh="")
    summary = tmp_path / "summary.md"
    result = subprocess.run(
        ["bash", "-e", "-c", report["run"]],
        cwd=tmp_path,
        env={
            "PATH": path,
            "TARGET_ENV": "prod",
            "PLAN_OUTCOME": "failure",
            "CIO_RUN_URL": "https://ci/run/7",
            "GITHUB_STEP_SUMMARY": str(summary),
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 1
    assert "::error::the drift check of prod could not plan" in result.stdout
    calls = log.read_text().splitlines()
    assert (
        calls[-1] == "gh issue create --title Drift in prod --body-file reports/plan/prod/failed.md"
    )
    body = (tmp_path / "reports/plan/prod/failed.md").read_text()
    assert "could not plan" in body and "`failure`" in body and "https://ci/run/7" in body
    assert body in summary.read_text()


def test_the_matrix_step_fails_when_its_command_fails(tmp_path: Path) -> None:
    for name in ("plan.yml", "drift.yml"):
        listing = next(
            s
            for s in load(REPO / ".github/workflows" / name)["jobs"]["environments"]["steps"]
            if s.get("id") == "list"
        )
        output = tmp_path / f"{name}.out"
        output.write_text("")
        path = stubs(tmp_path / "bin", tmp_path / "py.log", python="exit 2")
        result = subprocess.run(
            ["bash", "-e", "-c", listing["run"]],
            env={"PATH": path, "GITHUB_OUTPUT": str(output)},
            capture_output=True,
            check=False,
            timeout=30,
        )
        assert result.returncode != 0, f"{name}: a failing matrix command must fail the step"
        assert output.read_text() == ""


def test_only_main_deploys() -> None:
    chain = load(REPO / ".github/workflows/deploy.yml")["jobs"]
    assert all(job["if"] == "github.ref == 'refs/heads/main'" for job in chain.values())
    deploy = load(REPO / ".github/workflows/promote.yml")["jobs"]["deploy"]
    assert "github.ref == 'refs/heads/main'" in deploy["if"]


def test_artifacts_overwrite_on_a_re_run_and_python_is_pinned_to_a_patch() -> None:
    for path in WORKFLOWS + ACTIONS:
        for step in steps(load(path)):
            uses = str(step.get("uses", ""))
            if uses.startswith("actions/upload-artifact@"):
                assert step["with"]["overwrite"] is True, path.name
            if uses.startswith("actions/setup-python@"):
                version = str(step["with"]["python-version"])
                assert re.fullmatch(r"3\.11\.\d+", version), f"{path.name}: {version}"


def test_pins_sit_on_node24_majors() -> None:
    """Majors whose action.yml runs on node24 (read from each action's tag, by SHA)."""
    minimum = {
        "actions/checkout": 6,
        "actions/setup-python": 6,
        "actions/upload-artifact": 6,
        "actions/cache": 5,
        "github/codeql-action/upload-sarif": 4,
        "hashicorp/setup-terraform": 4,
        "google-github-actions/auth": 3,
        "marocchino/sticky-pull-request-comment": 3,
    }
    for path in WORKFLOWS + ACTIONS:
        for line in path.read_text().splitlines():
            match = re.search(r"uses: ([^@\s]+)@[0-9a-f]{40} # v(\d+)", line)
            if match:
                action, major = match.group(1), int(match.group(2))
                assert major >= minimum[action], f"{path.name}: {action} v{major}"


def test_the_provider_cache_is_for_planner_jobs_only() -> None:
    promote = (REPO / ".github/workflows/promote.yml").read_text()
    assert "terraform-provider-cache" not in promote, "the deployer downloads from the registry"
    for name in ("plan.yml", "drift.yml"):
        assert 'terraform-provider-cache: "true"' in (REPO / ".github/workflows" / name).read_text()
    cache = next(s for s in load(SETUP)["runs"]["steps"] if "actions/cache@" in s.get("uses", ""))
    assert cache["with"]["path"] == "~/.terraform.d/plugin-cache"


def test_sarif_findings_point_at_tracked_files(tmp_path: Path) -> None:
    sarif = tmp_path / "checkov.sarif"
    finding = {
        "ruleId": "CKV_CIO_6",
        "message": {"text": "labels"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": "cdktf.out/stacks/prod/cdk.tf.json"},
                    "region": {"startLine": 412},
                }
            }
        ],
    }
    sarif.write_text(json.dumps({"version": "2.1.0", "runs": [{"results": [finding]}]}))
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sarif_tracked.py"), str(sarif)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    (moved,) = json.loads(sarif.read_text())["runs"][0]["results"]
    location = moved["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "environments/prod.yaml"
    assert "cdktf.out/stacks/prod/cdk.tf.json line 412" in moved["message"]["text"]
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", "environments/prod.yaml"], cwd=REPO, check=False
    )
    assert tracked.returncode == 0
    ci = (REPO / ".github/workflows/ci.yml").read_text()
    assert ci.index("sarif_tracked.py") < ci.index("upload-sarif@")


def test_google_credential_files_are_ignored() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "-q", "gha-creds-0123abcd.json"], cwd=REPO, check=False
    )
    assert result.returncode == 0
