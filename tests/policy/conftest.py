"""Policy-gate fixtures: the gate over the real stacks and over fabricated ones, each run
once per session (a gate run is one checkov process, a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.policy.fabricated import CHECKS_DATA, checks_stack, document, no_kms_stack, write_stack
from tests.policy.gate import GateRun, run_gate, synthesize_bootstrap, write_suppressions


@pytest.fixture(scope="session")
def real_gate(synthesized: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> GateRun:
    """The gate, with the repository's suppressions, over every synthesized environment and
    its bootstrap stack (synthesized here into OUTDIR/bootstrap, as make platform does)."""
    outdir = next(iter(synthesized.values())).parents[2]
    synthesize_bootstrap(outdir / "bootstrap")
    return run_gate(outdir, tmp_path_factory.mktemp("reports-real"), "--require-bootstrap")


@pytest.fixture(scope="session")
def fabricated_gate(tmp_path_factory: pytest.TempPathFactory) -> GateRun:
    """The gate without suppressions over two fabricated stacks: `fab` (every check's good
    and bad resources, KMS in use) and `fabnokms` (no KMS key anywhere)."""
    outdir = tmp_path_factory.mktemp("cdktf.out-fabricated")
    write_stack(outdir, "fab", document("fab", checks_stack("fab"), CHECKS_DATA))
    write_stack(outdir, "fabnokms", document("fabnokms", no_kms_stack("fabnokms")))
    empty = write_suppressions(outdir / "suppressions.yaml", [])
    reports = tmp_path_factory.mktemp("reports-fabricated")
    return run_gate(
        outdir, reports, "--env", "fab", "--env", "fabnokms", "--suppressions", str(empty)
    )
