"""Deterministic handler zips: the handler's folder plus the shared library at the zip root.

Byte-identical input gives a byte-identical zip (fixed timestamps, sorted entries, no
caches), so the object name derived from its hash changes only when the code does.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

SHARED_PACKAGE = "cio_shared"
_EXCLUDED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", "tests"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class HandlerPackage:
    name: str
    path: Path
    sha256: str

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


def build_package(handler_dir: Path, shared_dir: Path, out_dir: Path) -> HandlerPackage:
    """Zip `handler_dir` with `shared_dir` as `cio_shared/`; name the result by its hash."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{handler_dir.name}.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for path in _files(handler_dir):
            _add(archive, path, path.relative_to(handler_dir).as_posix())
        for path in _files(shared_dir):
            _add(archive, path, f"{SHARED_PACKAGE}/{path.relative_to(shared_dir).as_posix()}")
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    return HandlerPackage(handler_dir.name, target, digest)
