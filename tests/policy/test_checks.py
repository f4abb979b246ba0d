"""Each project check loads under checkov, fails on a fabricated bad resource and passes on
a good one (the gate runs checkov with --external-checks-dir policy/checks)."""

from __future__ import annotations

import re

import pytest

from tests.policy.fabricated import EXPECTATIONS
from tests.policy.gate import GateRun
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
