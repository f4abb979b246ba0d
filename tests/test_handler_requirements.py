"""The hashed requirements files are complete and in step with the locks (offline).

Each handler's requirements.txt holds exactly the closure of its requirements.in on the
functions' runtime (CPython 3.12, Linux), read from the installed metadata, at the lock's
versions, each with its hashes; requirements/*.hashed.txt hold every pin of their lock. A
lock bump without regenerating fails here with the command that regenerates.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from scripts import handler_requirements as hr

HANDLERS = [p.name for p in hr.handlers()]


def test_every_handler_with_a_manifest_has_a_requirements_in():
    manifests = sorted(p.parent.name for p in hr.FUNCTIONS.glob("*/handler.yaml"))
    assert manifests == HANDLERS


def test_generated_files_match_the_locks_and_the_installed_closure():
    problems = hr.check(hr.expected())
    assert not problems, "\n".join([*problems, f"regenerate: {hr.COMMAND}"])


@pytest.mark.parametrize("handler", HANDLERS)
def test_handler_file_is_the_complete_hashed_closure(handler):
    folder = hr.FUNCTIONS / handler
    lock = hr.read_pins(hr.LOCK)
    want = hr.closure(hr.read_names(folder / "requirements.in"), lock)
    have = hr.read_hashed(folder / "requirements.txt")
    assert set(have) == set(want), f"stale: run `{hr.COMMAND}`"
    for name, (pin, hashes) in have.items():
        assert pin.version == lock[name].version, f"{pin.name}: run `{hr.COMMAND}`"
        assert hashes >= 1, f"{pin.name} has no --hash"
    # What the deploy-time resolution used to pick freely is now pinned.
    assert {"grpcio", "protobuf", "google-auth", "urllib3"} <= set(have)


@pytest.mark.parametrize("handler", HANDLERS)
def test_handler_file_pins_every_line_for_require_hashes(handler):
    """pip's hash-checking mode needs `==` on every requirement and a hash on each."""
    text = (hr.FUNCTIONS / handler / "requirements.txt").read_text(encoding="utf-8")
    requirements = [line for line in text.splitlines() if line and line[0] not in "# "]
    assert requirements
    for line in requirements:
        assert hr.PIN.match(line) and line.endswith("\\"), line


def test_lock_bump_without_regenerating_fails_with_the_command():
    track = hr.FUNCTIONS / "track" / "requirements.txt"
    lock = hr.read_pins(hr.LOCK)
    closure = hr.closure(hr.read_names(track.with_suffix(".in")), lock)
    pins = [hr.Pin(p.name, "9.9.9") if n == "grpcio" else p for n, p in closure.items()]
    problems = hr.check({track: ("", pins)})
    assert problems == [
        f"functions/track/requirements.txt: grpcio=={lock['grpcio'].version}, the lock pins 9.9.9"
    ]


def test_main_check_names_the_command_when_stale(monkeypatch, capsys):
    monkeypatch.setattr(hr, "check", lambda files: ["functions/track/requirements.txt: x"])
    assert hr.main(["--check"]) == 1
    assert f"run `{hr.COMMAND}`" in capsys.readouterr().err


def test_check_reports_missing_extra_and_unhashed_pins(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(hr, "REPO", tmp_path)
    path = tmp_path / "requirements.txt"
    path.write_text("a==1 \\\n    --hash=sha256:" + "0" * 64 + "\nc==3\n", encoding="utf-8")
    pins = [hr.Pin("a", "1"), hr.Pin("b", "2")]
    assert hr.check({path: ("", pins)}) == [
        "requirements.txt: b==2 is missing",
        "requirements.txt: c is not needed (or not locked)",
    ]
    path.write_text("a==1\nb==2\n", encoding="utf-8")
    assert hr.check({path: ("", pins)}) == [
        "requirements.txt: a has no --hash",
        "requirements.txt: b has no --hash",
    ]


def test_closure_evaluates_markers_for_python312_on_linux_and_follows_extras():
    names = ("top", "core-x", "win", "old", "new", "grpc-y")
    lock = {str(canonicalize_name(n)): hr.Pin(n, "1") for n in names}
    requires = {
        "top": ["core-x[grpc]", "win; sys_platform == 'win32'", "old; python_version < '3.12'"],
        "core-x": ["new; python_version >= '3.12'", "grpc-y; extra == 'grpc'"],
    }
    found = hr.closure(["top"], lock, requires)
    assert sorted(found) == ["core-x", "grpc-y", "new", "top"]


def test_closure_refuses_a_package_missing_from_the_lock():
    with pytest.raises(hr.RequirementsError, match=r"not pinned in requirements/lock\.txt"):
        hr.closure(["top"], {"top": hr.Pin("top", "1")}, {"top": ["absent"]})


@pytest.mark.parametrize("source, target", hr.LOCKS, ids=lambda p: p.name)
def test_hashed_locks_hold_exactly_the_lock_versions(source: Path, target: Path):
    want = hr.read_pins(source)
    have = hr.read_hashed(target)
    assert {n: p.version for n, p in want.items()} == {n: p.version for n, (p, _) in have.items()}
    assert all(count >= 1 for _, count in have.values())
