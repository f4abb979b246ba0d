"""The dependency rules of docs/design.md, checked on every module's imports."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CDK_PACKAGES = {
    "cdktf",
    "constructs",
    "cdktf_cdktf_provider_google",
    "cdktf_cdktf_provider_time",
    "jsii",
}
SEAM = {REPO / "stacks" / "cdk.py", REPO / "stacks" / "cdk_bootstrap.py"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def python_files(*parts: str) -> list[Path]:
    folder = REPO.joinpath(*parts)
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def handler_files() -> list[Path]:
    return [
        p
        for p in python_files("functions")
        if p.relative_to(REPO / "functions").parts[0] != "cio_shared"
    ]


RULES: list[tuple[str, list[Path], set[str]]] = [
    (
        "stacks import no runtime code (cio_shared.contract aside: see below)",
        python_files("stacks"),
        {"cio_simulator", "cio_doctor", "main"},
    ),
    (
        "the shared library imports no handler",
        python_files("functions", "cio_shared"),
        {"stacks", "cio_simulator", "cio_doctor", "main", "bootstrap"},
    ),
    (
        "handlers import no infrastructure",
        handler_files(),
        {"stacks", "cio_simulator", "cio_doctor", "bootstrap"},
    ),
    (
        "the simulator shares nothing with our client",
        python_files("simulator"),
        {"cio_shared", "stacks", "cio_doctor", "main"},
    ),
    (
        "the toolkit uses the shared library, never a handler",
        python_files("toolkit"),
        {"stacks", "main", "cio_simulator", "bootstrap"},
    ),
]


@pytest.mark.parametrize(("rule", "files", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_dependency_rules(rule: str, files: list[Path], forbidden: set[str]) -> None:
    offenders = {
        str(p.relative_to(REPO)): sorted(imported_roots(p) & forbidden)
        for p in files
        if imported_roots(p) & forbidden
    }
    assert not offenders, f"{rule}: {offenders}"


def shared_modules(path: Path) -> set[str]:
    """The `cio_shared` modules a file imports (`from cio_shared import x` counts as x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("cio_shared"))
        elif isinstance(node, ast.ImportFrom) and node.module == "cio_shared":
            found.update(f"cio_shared.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cio_shared."):
            found.add(str(node.module))
    return found


def test_stacks_share_only_the_contract_with_the_handlers() -> None:
    """The one shared module the stacks read is the dependency-free contract of names."""
    offenders = {
        str(p.relative_to(REPO)): sorted(shared_modules(p) - {"cio_shared.contract"})
        for p in python_files("stacks")
        if shared_modules(p) - {"cio_shared.contract"}
    }
    assert not offenders, offenders
    contract = REPO / "functions" / "cio_shared" / "contract.py"
    assert imported_roots(contract) <= {"__future__"}, "the contract imports nothing"


SKIPPED = {"node_modules", "cdktf.out", "build", ".git", "__pycache__"}  # plus .venv*


def project_python_files() -> list[Path]:
    """Every .py file of the project, pruning installed and generated trees while walking
    (node_modules holds node-gyp's Python after `make cdktf-cli`, .venv* the dependencies)."""
    found = []
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [d for d in subfolders if d not in SKIPPED and not d.startswith(".venv")]
        found += [Path(folder, name) for name in files if name.endswith(".py")]
    return sorted(found)


def test_only_the_seam_imports_cdktf() -> None:
    candidates = project_python_files()
    offenders = sorted(
        str(p.relative_to(REPO))
        for p in candidates
        if p not in SEAM and imported_roots(p) & CDK_PACKAGES
    )
    assert not offenders, f"import cdktf/provider names from stacks.cdk instead: {offenders}"
