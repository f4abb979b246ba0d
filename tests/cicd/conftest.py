"""Synthesized output for the CI/CD tests, built once per session into temporary folders
(never the shared cdktf.out): the environment stacks and the bootstrap stacks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cicd.support import PYTHON, REPO, Stacks


def _read(outdir: Path) -> Stacks:
    return {
        path.parent.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((outdir / "stacks").glob("*/cdk.tf.json"))
    }


@pytest.fixture(scope="session")
def synthesized_stacks(tmp_path_factory: pytest.TempPathFactory) -> Stacks:
    """`cio-platform synth --all`: the environment stacks, keyed by environment."""
    outdir = tmp_path_factory.mktemp("stacks-out")
    cli = REPO / ".venv" / "bin" / "cio-platform"
    result = subprocess.run(
        [str(cli), "synth", "--all", "--outdir", str(outdir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, f"cio-platform synth failed:\n{result.stdout}\n{result.stderr}"
    stacks = _read(outdir)
    assert stacks, "synth produced no stack"
    return stacks


@pytest.fixture(scope="session")
def bootstrap_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m bootstrap.app` into a temporary folder."""
    outdir = tmp_path_factory.mktemp("bootstrap-out")
    result = subprocess.run(
        [str(PYTHON), "-m", "bootstrap.app", "--out", str(outdir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, f"bootstrap synth failed:\n{result.stdout}\n{result.stderr}"
    return outdir


@pytest.fixture(scope="session")
def bootstrap_stacks(bootstrap_outdir: Path) -> Stacks:
    """The bootstrap stacks, keyed by stack name."""
    return _read(bootstrap_outdir)
