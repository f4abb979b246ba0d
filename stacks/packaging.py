"""Deterministic handler zips: the handler's folder plus the parts of the shared library it uses.

A handler's zip carries the handler folder and, under `cio_shared/`, only the subpackages (and
top-level modules such as `contract.py`) that its imports reach, transitively, plus
`cio_shared/__init__.py`. What a file imports is read with `ast` from the source text: the
stacks never import `cio_shared` code (docs/design.md), only `cio_shared.contract`. So a
change to webhook-only code changes the webhook's zip and object name, not track's or
identify's.

Byte-identical input gives a byte-identical zip (fixed timestamps, sorted entries, no
caches), so the object name derived from its hash changes only when the code does.
"""

from __future__ import annotations

import ast
import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

SHARED_PACKAGE = "cio_shared"
_EXCLUDED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", "tests"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class PackagingError(ValueError):
    """A handler or shared module imports a `cio_shared` module that does not exist."""


@dataclass(frozen=True)
class HandlerPackage:
    name: str
    path: Path
    sha256: str
    # The parts of cio_shared in the zip: subpackage and top-level module names, sorted.
    shared_parts: tuple[str, ...] = ()

    @property
    def object_name(self) -> str:
        return f"{self.name}-{self.sha256[:16]}.zip"


def _files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not _EXCLUDED_PARTS.intersection(p.relative_to(root).parts)
        and p.suffix not in _EXCLUDED_SUFFIXES
    )


def _add(archive: zipfile.ZipFile, source: Path, arcname: str) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_FIXED_TIME)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, source.read_bytes())


def _module_of(path: Path, shared_dir: Path) -> str | None:
    """`cio_shared.a.b` for a file inside `shared_dir`, None for a file outside it."""
    try:
        parts = list(path.relative_to(shared_dir).with_suffix("").parts)
    except ValueError:
        return None
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([SHARED_PACKAGE, *parts])


def shared_imports(path: Path, module: str | None = None) -> set[str]:
    """The `cio_shared` modules a file imports; `from cio_shared.x import y` yields both
    `cio_shared.x` and `cio_shared.x.y` (y may be a submodule). `module` (the file's own
    module name) resolves relative imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                if module is None:
                    continue  # a handler's own relative import
                package = module.split(".")
                if path.name != "__init__.py":
                    package.pop()
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return {m for m in found if m == SHARED_PACKAGE or m.startswith(SHARED_PACKAGE + ".")}


def _part(module: str, shared_dir: Path) -> str | None:
    """The top-level part of `cio_shared` (a subpackage or module) that `module` lives in."""
    names = module.split(".")
    if len(names) < 2:
        return None
    top = names[1]
    if (shared_dir / top / "__init__.py").is_file() or (shared_dir / f"{top}.py").is_file():
        return top
    return None


def _part_files(part: str, shared_dir: Path) -> list[Path]:
    folder = shared_dir / part
    return _files(folder) if folder.is_dir() else [shared_dir / f"{part}.py"]


def shared_parts(handler_dir: Path, shared_dir: Path) -> list[str]:
    """The subpackages and top-level modules of `shared_dir` the handler's imports reach,
    following the imports of every file of each part reached (and of `__init__.py`)."""
    wanted: set[str] = set()
    pending: list[tuple[Path, str | None]] = [
        (p, None) for p in _files(handler_dir) if p.suffix == ".py"
    ]
    init = shared_dir / "__init__.py"
    if init.is_file():
        pending.append((init, SHARED_PACKAGE))
    while pending:
        path, module = pending.pop()
        for imported in sorted(shared_imports(path, module)):
            if imported == SHARED_PACKAGE:
                continue
            part = _part(imported, shared_dir)
            if part is None:
                raise PackagingError(
                    f"{path} imports {imported}, but {shared_dir} has no subpackage or "
                    f"module {imported.split('.')[1]!r}"
                )
            if part not in wanted:
                wanted.add(part)
                pending += [
                    (file, _module_of(file, shared_dir))
                    for file in _part_files(part, shared_dir)
                    if file.suffix == ".py"
                ]
    return sorted(wanted)


def build_package(handler_dir: Path, shared_dir: Path, out_dir: Path) -> HandlerPackage:
    """Zip `handler_dir` with the parts of `shared_dir` it imports as `cio_shared/`; name the
    result by its hash."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{handler_dir.name}.zip"
    parts = shared_parts(handler_dir, shared_dir)
    shared_files = sorted(
        {file for part in parts for file in _part_files(part, shared_dir)}
        | ({shared_dir / "__init__.py"} if parts else set())
    )
    with zipfile.ZipFile(target, "w") as archive:
        for path in _files(handler_dir):
            _add(archive, path, path.relative_to(handler_dir).as_posix())
        for path in shared_files:
            _add(archive, path, f"{SHARED_PACKAGE}/{path.relative_to(shared_dir).as_posix()}")
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    return HandlerPackage(handler_dir.name, target, digest, tuple(parts))
