"""The dependency rules of docs/design.md, checked on every module's imports."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CDK_PACKAGES = {
    "cdktf",
    "constructs",
    "cdktf_cdktf_provider_google",
    "cdktf_cdktf_provider_time",
    "cdktn",
    "cdktn_provider_google",
    "cdktn_provider_time",
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
    assert imported_roots(contract) <= set(sys.stdlib_module_names), (
        "the contract imports the standard library only"
    )


SHARED = REPO / "functions" / "cio_shared"
# Each part of the shared library and the other parts it may import (docs/design.md): the
# webhook handler's code and the delivery path never import each other, so a change to one
# never redeploys the other (stacks/packaging.py zips only what a handler's imports reach).
SHARED_PARTS: dict[str, set[str]] = {
    "contract": set(),
    "common": set(),
    "messages": {"contract"},
    "producer": {"common", "contract", "messages"},
    "delivery": {"common", "contract", "messages"},
    "webhooks": {"common", "contract"},
    "transactional": {"common", "contract", "messages"},
}


def shared_part_files() -> list[tuple[str, Path]]:
    return [
        (p.relative_to(SHARED).with_suffix("").parts[0], p)
        for p in python_files("functions", "cio_shared")
        if p != SHARED / "__init__.py"
    ]


def test_every_part_of_the_shared_library_declares_its_dependencies() -> None:
    parts = {part for part, _ in shared_part_files()}
    assert parts == set(SHARED_PARTS), "add the new part to SHARED_PARTS (and docs/design.md)"
    assert shared_modules(SHARED / "__init__.py") == set(), "cio_shared/__init__ imports nothing"


def test_the_shared_library_uses_absolute_imports() -> None:
    offenders = sorted(
        str(p.relative_to(REPO))
        for _, p in shared_part_files()
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level
    )
    assert not offenders, offenders


@pytest.mark.parametrize("part", sorted(SHARED_PARTS))
def test_a_shared_part_imports_only_the_parts_it_may(part: str) -> None:
    """`cio_shared.webhooks` imports nothing of `cio_shared.delivery` and vice versa, ..."""
    offenders = {}
    for owner, path in shared_part_files():
        if owner != part:
            continue
        used = {m.split(".")[1] for m in shared_modules(path) if "." in m} - {part}
        if used - SHARED_PARTS[part]:
            offenders[str(path.relative_to(REPO))] = sorted(used - SHARED_PARTS[part])
    assert not offenders, f"cio_shared.{part} may import only {sorted(SHARED_PARTS[part])}"


def test_one_part_uses_another_only_through_its_public_package() -> None:
    """Across parts, `from cio_shared.common import get_logger`, never `cio_shared.common.logs`:
    each part's `__init__` is its curated API."""
    offenders = {
        str(path.relative_to(REPO)): sorted(bad)
        for part, path in shared_part_files()
        if (
            bad := {
                m for m in shared_modules(path) if m.split(".")[1] != part and len(m.split(".")) > 2
            }
        )
    }
    assert not offenders, offenders


def test_code_outside_the_library_imports_only_its_public_packages() -> None:
    """Handlers, the toolkit, scripts and benchmarks import `cio_shared.<part>` (its curated
    `__init__`) or `cio_shared.contract`, never a module inside a part; only tests reach in."""
    public = {f"cio_shared.{part}" for part in SHARED_PARTS}
    files = [*handler_files(), *python_files("toolkit"), *python_files("scripts")]
    files += python_files("bench")
    offenders = {
        str(p.relative_to(REPO)): sorted(shared_modules(p) - public)
        for p in files
        if shared_modules(p) - public
    }
    assert not offenders, offenders


def test_handlers_import_only_the_part_they_run_on() -> None:
    """The webhook handler imports nothing of delivery, the delivery handlers nothing of
    webhooks, and no handler the producer (what application teams call)."""
    for path in handler_files():
        used = {m.split(".")[1] for m in shared_modules(path) if "." in m}
        assert "producer" not in used, path
        assert not {"delivery", "webhooks"} <= used, path


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
