"""The gate over the real synthesized stacks, with the repository's suppressions."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.policy.fabricated import document, no_kms_stack, write_stack
from tests.policy.gate import GateRun, run_gate
from tests.policy.test_checks import project_check_ids
from tests.support.environments import environments


def test_gate_passes_on_every_environment(real_gate: GateRun, synthesized: dict[str, Path]) -> None:
    assert real_gate.returncode == 0, real_gate.stdout + real_gate.stderr
    for env in synthesized:
        # environment, resources, passed, failed, suppressed, structure, result
        assert re.fullmatch(rf"{env}\s+\d+\s+\d+\s+0\s+\d+\s+ok\s+PASS", real_gate.line(env))
    assert "policy gate passed in" in real_gate.stdout


def test_every_project_check_runs_on_the_real_stacks(real_gate: GateRun) -> None:
    ran = {check for _, check, _ in real_gate.checkov_results if check.startswith("CKV_CIO_")}
    assert ran == project_check_ids()


def test_summary_lists_each_suppressed_finding_with_its_reason(
    real_gate: GateRun, synthesized: dict[str, Path]
) -> None:
    summary = json.loads((real_gate.reports / "summary.json").read_text(encoding="utf-8"))
    assert summary["passed"] is True
    bootstraps = {f"bootstrap-{env}" for env in synthesized}  # gated with the environments
    assert set(summary["environments"]) == set(synthesized) | bootstraps
    with_handlers = [name for name, env in environments().items() if env.deploy_handlers]
    assert with_handlers, "some environment deploys its handlers"
    for name in with_handlers:
        webhook = [
            s for s in summary["environments"][name]["suppressed"] if s["check"] == "CKV_CIO_3"
        ]
        assert [s["resource"].split(".")[0] for s in webhook] == [
            "google_cloud_run_v2_service_iam_member"
        ]
        assert "HMAC-SHA256" in webhook[0]["reason"]


def test_sarif_for_code_scanning_holds_only_unsuppressed_findings(real_gate: GateRun) -> None:
    sarif = json.loads((real_gate.reports / "checkov.sarif").read_text(encoding="utf-8"))
    (run,) = sarif["runs"]
    assert run["tool"]["driver"]["name"] == "Checkov"
    assert run["results"] == [], "the gate passes: nothing for code scanning to open"
    assert not (real_gate.reports / "results_sarif.sarif").exists()


def test_full_sarif_marks_every_suppressed_result(
    real_gate: GateRun, synthesized: dict[str, Path]
) -> None:
    sarif = json.loads((real_gate.reports / "checkov-all.sarif").read_text(encoding="utf-8"))
    (run,) = sarif["runs"]
    assert run["results"], "the real stacks have suppressed findings"
    for result in run["results"]:
        stacks = {*synthesized, *(f"bootstrap-{env}" for env in synthesized)}
        assert result["properties"]["environment"] in stacks
        (suppression,) = result["suppressions"]
        assert suppression["kind"] == "external" and suppression["justification"]


def test_sarif_for_code_scanning_lists_failures(fabricated_gate: GateRun) -> None:
    sarif = json.loads((fabricated_gate.reports / "checkov.sarif").read_text(encoding="utf-8"))
    found = {(r["ruleId"], r["properties"]["environment"]) for r in sarif["runs"][0]["results"]}
    assert ("CKV_CIO_2", "fab") in found
    assert all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
               == "stacks/fab/cdk.tf.json" for r in sarif["runs"][0]["results"])  # fmt: skip


def test_gate_cannot_run_without_checkov(tmp_path: Path) -> None:
    write_stack(tmp_path, "fabnokms", document("fabnokms", no_kms_stack("fabnokms")))
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "checkov.sarif").write_text("{}", encoding="utf-8")
    run = run_gate(
        tmp_path, tmp_path / "reports", "--env", "fabnokms", "--checkov", str(tmp_path / "nope")
    )
    assert run.returncode == 2
    assert "build it with `make checkov-venv`" in run.stderr
    assert not (tmp_path / "reports" / "checkov.sarif").exists(), "no stale report to upload"


def test_gate_ignores_variables_that_would_change_checkov(tmp_path: Path) -> None:
    write_stack(tmp_path, "fabnokms", document("fabnokms", no_kms_stack("fabnokms")))
    only_one = {"CKV_CHECK": "CKV_GCP_62", "CKV_SKIP_CHECK": "CKV_CIO_4"}
    run = run_gate(tmp_path, tmp_path / "reports", "--env", "fabnokms", env=only_one)
    assert run.returncode == 0, run.stdout + run.stderr
    assert ("fabnokms", "CKV_CIO_4", "google_secret_manager_secret.plain_secret") in (
        run.checkov_results
    )


def test_gate_refuses_to_run_beside_a_checkov_config_file(tmp_path: Path) -> None:
    write_stack(tmp_path, "fabnokms", document("fabnokms", no_kms_stack("fabnokms")))
    (tmp_path / ".checkov.yaml").write_text("skip-check: [CKV_CIO_4]\n", encoding="utf-8")
    run = run_gate(tmp_path, tmp_path / "reports", "--env", "fabnokms")
    assert run.returncode == 2
    assert f"checkov would read {tmp_path / '.checkov.yaml'}" in run.stderr


def test_a_warm_gate_reuses_checkovs_results_until_an_input_changes(
    real_gate: GateRun, tmp_path: Path
) -> None:
    """`make platform` twice: synth is deterministic, so the second gate reads checkov's
    reports back instead of starting it; any changed byte of a stack runs checkov again."""
    assert "reused" not in real_gate.stdout.splitlines()[0]
    again = run_gate(real_gate.outdir, real_gate.reports)
    assert "checkov's results reused (identical inputs)" in again.stdout.splitlines()[0]
    assert again.returncode == real_gate.returncode
    assert again.stdout.splitlines()[1:-1] == real_gate.stdout.splitlines()[1:-1]
    copy = tmp_path / "out"
    for path in real_gate.outdir.glob("stacks/*/cdk.tf.json"):
        target = copy / path.relative_to(real_gate.outdir)
        target.parent.mkdir(parents=True)
        target.write_bytes(path.read_bytes() + b"\n")
    changed = run_gate(copy, real_gate.reports)
    assert "reused" not in changed.stdout.splitlines()[0]
    assert changed.returncode == real_gate.returncode
