"""Each project check loads under checkov, fails on a fabricated bad resource and passes on
a good one (the gate runs checkov with --external-checks-dir policy/checks)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.policy.fabricated import EXPECTATIONS, document, no_kms_stack, write_stack
from tests.policy.gate import GateRun, run_gate, write_suppressions
from tests.support.processes import REPO

CHECK_ID = re.compile(r"""id=["'](CKV_CIO_\d+)["']""")


def project_check_ids() -> set[str]:
    return {
        found
        for path in (REPO / "policy" / "checks").glob("*.py")
        for found in CHECK_ID.findall(path.read_text(encoding="utf-8"))
    }


@pytest.mark.parametrize(("check", "address", "expected"), EXPECTATIONS)
def test_project_check_result(
    fabricated_gate: GateRun, check: str, address: str, expected: str
) -> None:
    results = fabricated_gate.checkov_results
    assert results.get(("fab", check, address), "absent") == expected


def test_every_project_check_has_a_failing_and_a_passing_case() -> None:
    covered = {
        result: {check for check, _, r in EXPECTATIONS if r == result}
        for result in ("PASSED", "FAILED")
    }
    assert project_check_ids() == covered["PASSED"] == covered["FAILED"]


def test_secret_cmek_check_does_not_apply_without_kms(fabricated_gate: GateRun) -> None:
    results = fabricated_gate.checkov_results
    secret = "google_secret_manager_secret.plain_secret"
    assert results[("fabnokms", "CKV_CIO_4", secret)] == "PASSED"
    assert ("fabnokms", "CKV_CIO_5", secret) not in results


def test_gate_fails_and_names_each_failure(fabricated_gate: GateRun) -> None:
    assert fabricated_gate.returncode == 1, fabricated_gate.stderr
    assert fabricated_gate.line("fab").endswith("FAIL")
    assert fabricated_gate.line("fabnokms").endswith("PASS")
    assert (
        "fab: CKV_CIO_2 google_cloudfunctions2_function.bad_open_function [bad_open_function]"
        in fabricated_gate.stdout
    )
    assert "(grants roles/run.invoker to allUsers)" in fabricated_gate.stdout


BROKEN_AT_IMPORT = 'raise RuntimeError("broken on purpose")\n'
BROKEN_AT_RUN = """
from cio_policy import StackResourceCheck


class Raises(StackResourceCheck):
    def __init__(self):
        super().__init__(name="raises", id="CKV_CIO_98", supported_resources=("google_*",))

    def evaluate(self, stack, rtype, name, resource):
        raise KeyError("broken on purpose")


check = Raises()
"""


def test_gate_fails_when_a_project_check_is_broken(tmp_path: Path) -> None:
    """checkov logs a check that does not import or raises, and carries on: the gate fails."""
    checks = tmp_path / "checks"
    shutil.copytree(REPO / "policy" / "checks", checks, ignore=shutil.ignore_patterns("__py*"))
    (checks / "cio_zz_import.py").write_text(BROKEN_AT_IMPORT, encoding="utf-8")
    (checks / "cio_zz_run.py").write_text(BROKEN_AT_RUN, encoding="utf-8")
    write_stack(tmp_path, "fabnokms", document("fabnokms", no_kms_stack("fabnokms")))
    empty = write_suppressions(tmp_path / "none.yaml", [])
    run = run_gate(
        tmp_path, tmp_path / "reports", "--env", "fabnokms",
        "--checks-dir", str(checks), "--suppressions", str(empty),
    )  # fmt: skip
    assert run.returncode == 1
    assert run.line("fabnokms").endswith("FAIL")
    assert "fabnokms: checkov: Cannot load external check 'cio_zz_import'" in run.stdout
    assert (
        "fabnokms: checkov: Failed to run check CKV_CIO_98 on /stacks/fabnokms/cdk.tf.json:"
        "google_secret_manager_secret.plain_secret" in run.stdout
    )
