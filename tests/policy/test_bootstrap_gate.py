"""The bootstrap stacks (bootstrap-<env>) go through the same gate as the environments:
structure, checkov with the project checks, and suppressions that select them on purpose
(`{bootstrap: true}`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from stacks.policy_gate.selectors import BOOTSTRAP, parse_selector
from tests.policy.gate import GateRun, run_gate, synthesize_bootstrap
from tests.support.environments import environment_names

BOOTSTRAPS = [f"bootstrap-{env}" for env in environment_names()]
SA_USER = "roles/iam.serviceAccountUser"


def test_the_real_bootstrap_stacks_pass_the_gate(real_gate: GateRun):
    assert real_gate.returncode == 0, real_gate.stdout + real_gate.stderr
    for name in BOOTSTRAPS:
        line = real_gate.line(name)
        assert line.split()[-1] == "PASS", line
    summary = json.loads((real_gate.reports / "summary.json").read_text(encoding="utf-8"))
    assert set(BOOTSTRAPS) <= set(summary["environments"])


def test_no_project_wide_impersonation_role_in_the_bootstrap(real_gate: GateRun):
    """CKV_GCP_41 / CKV_GCP_49 (serviceAccountUser / serviceAccountAdmin on the project)
    run on every project grant of the bootstrap and pass: nothing is suppressed for them."""
    results = real_gate.checkov_results
    for name in BOOTSTRAPS:
        for check in ("CKV_GCP_41", "CKV_GCP_49"):
            outcomes = {r for (env, c, _), r in results.items() if env == name and c == check}
            assert outcomes == {"PASSED"}, (name, check, outcomes)


def test_a_rule_without_bootstrap_never_selects_a_bootstrap_stack():
    env_facts = {"protected": False, "kms": False, "deploy_handlers": True, BOOTSTRAP: False}
    boot_facts = {**env_facts, BOOTSTRAP: True}
    everything = parse_selector("all")
    only_boot = parse_selector({"bootstrap": True})
    assert everything.matches(env_facts) and not everything.matches(boot_facts)
    assert only_boot.matches(boot_facts) and not only_boot.matches(env_facts)
    assert everything.mismatch(boot_facts) == "it is a bootstrap stack"


def _bootstrap_copy(real_gate: GateRun, tmp_path: Path, name: str) -> Path:
    source = real_gate.outdir / "bootstrap" / "stacks" / name / "cdk.tf.json"
    target = tmp_path / "bootstrap" / "stacks" / name / "cdk.tf.json"
    target.parent.mkdir(parents=True)
    shutil.copyfile(source, target)
    return target


def test_a_bootstrap_granting_service_account_user_project_wide_fails(
    real_gate: GateRun, tmp_path: Path
):
    """The real bootstrap of dev plus one project-level serviceAccountUser grant to the
    deployer, named like the per-account grants: checkov's CKV_GCP_41/49 and our CKV_CIO_12
    fail on it, and no suppression (the repository's, which select bootstrap stacks) hides
    them."""
    path = _bootstrap_copy(real_gate, tmp_path, "bootstrap-dev")
    stack = json.loads(path.read_text(encoding="utf-8"))
    stack["resource"]["google_project_iam_member"]["deployer-acts-as-anyone"] = {
        "//": {"metadata": {"path": "bootstrap-dev/deployer-acts-as-anyone"}},
        "project": "acme-cio-dev",
        "role": SA_USER,
        "member": "serviceAccount:${google_service_account.deployer.email}",
    }
    path.write_text(json.dumps(stack, indent=2), encoding="utf-8")
    run = run_gate(tmp_path, tmp_path / "reports", "--env", "bootstrap-dev")
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.line("bootstrap-dev").split()[-1] == "FAIL"
    address = "google_project_iam_member.deployer-acts-as-anyone"
    failed = {
        line.split()[1]
        for line in run.stdout.splitlines()
        if line.strip().startswith("bootstrap-dev:") and address in line
    }
    assert {"CKV_GCP_41", "CKV_GCP_49", "CKV_CIO_12"} <= failed, run.stdout


def test_make_platform_requires_the_bootstrap_to_be_synthesized(tmp_path: Path):
    """With --require-bootstrap (make platform, make policy) a missing bootstrap synth output
    is an error naming the command, not a silently skipped stack."""
    env_stack = tmp_path / "stacks" / "dev" / "cdk.tf.json"
    env_stack.parent.mkdir(parents=True)
    env_stack.write_text("{}", encoding="utf-8")
    run = run_gate(tmp_path, tmp_path / "reports", "--require-bootstrap")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "python -m bootstrap.app --out" in run.stderr
    assert "bootstrap-dev" in run.stderr


def test_synthesize_bootstrap_lays_out_one_stack_per_environment(tmp_path: Path):
    synthesize_bootstrap(tmp_path / "bootstrap")
    found = sorted(p.name for p in (tmp_path / "bootstrap" / "stacks").iterdir())
    assert found == sorted(BOOTSTRAPS)
