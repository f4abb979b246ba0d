"""Hashed, complete requirements files generated from the project's locks.

What Cloud Build installs for a handler, and what `make venv` / `make checkov-venv` install,
is exactly what the tests ran against: every package pinned to the lock's version, with the
sha256 of every file PyPI publishes for that version, so pip's `--require-hashes` accepts
whichever file fits the machine (a cp312 manylinux wheel in Cloud Build, a cp311 wheel
here) and nothing else.

- `functions/<handler>/requirements.txt` from `functions/<handler>/requirements.in` (the
  handler's top-level packages, names only): the transitive closure read from the installed
  metadata in .venv (importlib.metadata, markers evaluated for the functions' runtime,
  CPython 3.12 on Linux: stacks/handler.py RUNTIME), versions from requirements/lock.txt.
- `requirements/pip.hashed.txt` (pip itself, requirements/pip.txt),
  `requirements/lock.hashed.txt` (every pin of requirements/lock.txt) and
  `requirements/checkov.hashed.txt` (every pin of requirements/checkov.txt).

Writing asks PyPI's simple index (JSON, PEP 691) for the hashes; `--check` is offline: it
recomputes the closures and compares names and versions with the files, and requires at
least one hash per pin (tests/test_handler_requirements.py runs it).

    .venv/bin/python scripts/handler_requirements.py          # regenerate everything
    .venv/bin/python scripts/handler_requirements.py --check  # offline, exit 1 when stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = REPO / "functions"
LOCK = REPO / "requirements" / "lock.txt"
CHECKOV = REPO / "requirements" / "checkov.txt"
# (pinned source, hashed output)
LOCKS = (
    (REPO / "requirements" / "pip.txt", REPO / "requirements" / "pip.hashed.txt"),
    (LOCK, REPO / "requirements" / "lock.hashed.txt"),
    (CHECKOV, REPO / "requirements" / "checkov.hashed.txt"),
)
COMMAND = ".venv/bin/python scripts/handler_requirements.py"
INDEX = "https://pypi.org/simple/{name}/"
# The functions' runtime: python312 (stacks/handler.py RUNTIME) on Linux x86_64.
RUNTIME_MARKERS = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.0",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.12.0",
    "python_version": "3.12",
    "sys_platform": "linux",
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


class RequirementsError(RuntimeError):
    """The lock, the installed packages or a generated file do not agree."""


@dataclass(frozen=True)
class Pin:
    name: str  # as the lock spells it
    version: str


def read_pins(path: Path) -> dict[str, Pin]:
    """`name==version` lines of a lock (comments, blanks and hash continuations skipped),
    by canonical name."""
    pins: dict[str, Pin] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[canonicalize_name(match.group(1))] = Pin(match.group(1), match.group(2))
    return pins


def read_names(path: Path) -> list[str]:
    """A requirements.in: one top-level package name a line (`#` comments allowed)."""
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            names.append(text)
    return names


def _applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    marker: Marker | None = requirement.marker
    if marker is None:
        return True
    return any(
        marker.evaluate({**RUNTIME_MARKERS, "extra": extra}) for extra in ("", *sorted(extras))
    )


def closure(
    top: Sequence[str],
    lock: Mapping[str, Pin],
    requires: Mapping[str, list[str]] | None = None,
) -> dict[str, Pin]:
    """Every package `top` needs on the functions' runtime, with the lock's versions.

    `requires` (canonical name -> requirement strings) stands in for the installed metadata
    in tests; by default each package's `Requires-Dist` is read with importlib.metadata and
    its installed version must be the lock's.
    """
    found: dict[str, Pin] = {}
    seen: dict[str, set[str]] = {}
    queue = [Requirement(spec) for spec in top]
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        extras = {canonicalize_name(e) for e in requirement.extras}
        if name in seen and extras <= seen[name]:
            continue
        seen.setdefault(name, set()).update(extras)
        pin = lock.get(name)
        if pin is None:
            raise RequirementsError(
                f"{requirement.name} is needed on python312 but not pinned in "
                f"{LOCK.relative_to(REPO)}; add it to the lock, then run `{COMMAND}`"
            )
        found[name] = pin
        queue += [
            child
            for child in map(Requirement, _requires(name, pin, requires))
            if _applies(child, seen[name])
        ]
    return dict(sorted(found.items()))


def _requires(name: str, pin: Pin, requires: Mapping[str, list[str]] | None) -> list[str]:
    if requires is not None:
        return list(requires.get(name, []))
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise RequirementsError(
            f"{pin.name} is not installed in .venv: run `make venv` first"
        ) from None
    if Version(dist.version) != Version(pin.version):
        raise RequirementsError(
            f"{pin.name} {dist.version} is installed but the lock pins {pin.version}: "
            "run `make venv` first"
        )
    return list(dist.requires or [])


def fetch_hashes(pin: Pin) -> list[str]:
    """sha256 of every file PyPI publishes for the pinned version (sdist and wheels)."""
    name = canonicalize_name(pin.name)
    request = urllib.request.Request(  # noqa: S310 (a constant https URL)
        INDEX.format(name=name), headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        files = json.load(response)["files"]
    wanted = Version(pin.version)
    hashes = sorted(
        {
            f["hashes"]["sha256"]
            for f in files
            if _file_version(f["filename"], name) == wanted and "sha256" in f.get("hashes", {})
        }
    )
    if not hashes:
        raise RequirementsError(f"PyPI lists no file of {pin.name}=={pin.version}")
    return hashes


def _file_version(filename: str, name: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            parsed_name, version, _, _ = parse_wheel_filename(filename)
        elif filename.endswith((".tar.gz", ".zip")):
            parsed_name, version = parse_sdist_filename(filename)
        else:
            return None
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return version if canonicalize_name(parsed_name) == name else None


def render(header: str, pins: Iterable[Pin], hashes: Mapping[str, list[str]]) -> str:
    lines = [f"# {row}".rstrip() for row in header.splitlines()]
    for pin in pins:
        digests = hashes[canonicalize_name(pin.name)]
        lines.append(f"{pin.name}=={pin.version} \\")
        lines += [f"    --hash=sha256:{d} \\" for d in digests[:-1]]
        lines.append(f"    --hash=sha256:{digests[-1]}")
    return "\n".join(lines) + "\n"


def read_hashed(path: Path) -> dict[str, tuple[Pin, int]]:
    """A generated file: canonical name -> (pin, number of hashes)."""
    found: dict[str, tuple[Pin, int]] = {}
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            found[current] = (Pin(match.group(1), match.group(2)), 0)
        elif current is not None and HASH.search(line):
            pin, count = found[current]
            found[current] = (pin, count + 1)
    return found


def handlers() -> list[Path]:
    return sorted(p.parent for p in FUNCTIONS.glob("*/requirements.in"))


def handler_header(folder: Path) -> str:
    return (
        f"What the Cloud Functions build installs for {folder.name} (python312), with\n"
        "pip's --require-hashes: generated from requirements.in and requirements/lock.txt by\n"
        f"`{COMMAND}`; do not edit."
    )


def lock_header(source: Path) -> str:
    return (
        f"{source.relative_to(REPO)} with the sha256 of every file PyPI publishes for each pin,\n"
        f"for `pip install --require-hashes`: generated by `{COMMAND}`; do not edit."
    )


def expected() -> dict[Path, tuple[str, list[Pin]]]:
    """Every generated file -> (its header, the pins it must hold)."""
    lock = read_pins(LOCK)
    files: dict[Path, tuple[str, list[Pin]]] = {}
    for folder in handlers():
        pins = closure(read_names(folder / "requirements.in"), lock)
        files[folder / "requirements.txt"] = (handler_header(folder), list(pins.values()))
    for source, target in LOCKS:
        files[target] = (lock_header(source), list(read_pins(source).values()))
    return files


def check(files: Mapping[Path, tuple[str, list[Pin]]]) -> list[str]:
    """Offline: each file holds exactly the expected pins, each with at least one hash."""
    problems = []
    for path, (_, pins) in files.items():
        shown = path.relative_to(REPO)
        if not path.exists():
            problems.append(f"{shown} is missing")
            continue
        have = read_hashed(path)
        want: dict[str, Pin] = {canonicalize_name(p.name): p for p in pins}
        for name in sorted(set(want) - set(have)):
            problems.append(f"{shown}: {want[name].name}=={want[name].version} is missing")
        for name in sorted(set(have) - set(want)):
            problems.append(f"{shown}: {have[name][0].name} is not needed (or not locked)")
        for name in sorted(set(want) & set(have)):
            pin, count = have[name]
            if pin.version != want[name].version:
                problems.append(
                    f"{shown}: {pin.name}=={pin.version}, the lock pins {want[name].version}"
                )
            if count == 0:
                problems.append(f"{shown}: {pin.name} has no --hash")
    return problems


def write(files: Mapping[Path, tuple[str, list[Pin]]]) -> None:
    cache: dict[str, list[str]] = {}
    for path, (header, pins) in files.items():
        for pin in pins:
            key = f"{canonicalize_name(pin.name)}=={pin.version}"
            if key not in cache:
                cache[key] = fetch_hashes(pin)
        hashes: dict[str, list[str]] = {
            str(canonicalize_name(p.name)): cache[f"{canonicalize_name(p.name)}=={p.version}"]
            for p in pins
        }
        path.write_text(render(header, pins, hashes), encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)} ({len(pins)} packages)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="offline: exit 1 when stale")
    args = parser.parse_args(argv)
    try:
        files = expected()
        if not args.check:
            write(files)
        problems = check(files)
    except RequirementsError as exc:
        print(f"handler requirements: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"stale generated requirements: run `{COMMAND}`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
