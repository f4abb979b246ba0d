"""Run checkov from its own virtual environment over every stack and read back its JSON
results. Checkov is never imported here: its dependency pins conflict with ours."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.policy_gate.stackfile import StackFile

JSON_REPORT = "results_json.json"
SARIF_REPORT = "results_sarif.sarif"
LOG = "checkov.log"
PROJECT_PREFIX = "CKV_CIO_"
# Lines checkov logs (and then carries on) when a project check is broken.
LOAD_ERRORS = ("Cannot load external check", "Failed to run check")
CHECKOV_TIMEOUT = 300
IGNORED_VARIABLES = ("CKV_", "BC_", "PRISMA_", "CHECKOV_")


class ScannerError(RuntimeError):
    """Checkov could not run, or its output is not what the gate expects."""


@dataclass(frozen=True)
class Finding:
    check_id: str
    check_name: str
    address: str
    lines: tuple[int, int]
    details: tuple[str, ...] = ()


@dataclass
class ScanResult:
    env: str
    version: str
    passed: list[Finding] = field(default_factory=list)
    failed: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    report_dir: Path = Path()
    cached: bool = False  # checkov's reports reused from an identical earlier scan


def _finding(stack: StackFile, record: dict[str, Any]) -> Finding:
    return Finding(
        check_id=record["check_id"],
        check_name=record["check_name"],
        address=stack.address_of(record["resource"]),
        lines=(int(record["file_line_range"][0]), int(record["file_line_range"][1])),
        details=tuple(record.get("details") or ()),
    )


def checkov_environment() -> dict[str, str]:
    """The caller's environment without the variables that change what checkov checks
    (CKV_SKIP_CHECK, CKV_CHECK, CKV_FRAMEWORK, ...) or make it call Prisma Cloud."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(IGNORED_VARIABLES)}
    return {**kept, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}


def refuse_config_files(cwd: Path) -> None:
    """checkov reads .checkov.yaml from its working directory and the home directory; one
    could skip checks with no reason on record, so the gate does not run beside one."""
    found = [
        folder / name
        for folder in (cwd, Path.home())
        for name in (".checkov.yaml", ".checkov.yml")
        if (folder / name).exists()
    ]
    if found:
        raise ScannerError(
            f"checkov would read {', '.join(map(str, found))}: the gate is configured by its "
            "command line and policy/suppressions.yaml only; remove the file"
        )


def _run_checkov(argv: list[str], cwd: Path, report_dir: Path) -> Path:
    env = checkov_environment()
    try:
        done = subprocess.run(
            argv,
            check=False,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=CHECKOV_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScannerError(f"checkov did not run: {exc}") from None
    log = report_dir / LOG
    log.write_text(done.stdout + done.stderr, encoding="utf-8")
    report = report_dir / JSON_REPORT
    if done.returncode != 0 or not report.exists():
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ScannerError(f"checkov exited {done.returncode} without results (log: {log})\n{tail}")
    return log


def _command(checkov: Path, files: list[str], checks_dir: Path, report_dir: Path) -> list[str]:
    inputs = [arg for relative in files for arg in ("--file", relative)]
    return [
        str(checkov),
        *inputs,
        "--framework", "terraform_json",
        "--external-checks-dir", str(checks_dir.resolve()),
        "--skip-download",  # offline: no guidelines or severities from Prisma Cloud
        "--soft-fail",  # findings are the gate's to judge; a non-zero exit means a crash
        "--output", "json", "--output", "sarif",
        "--output-file-path", str(report_dir.resolve()),
    ]  # fmt: skip


CACHE_DIR = ".cache"
CACHED_FILES = (JSON_REPORT, SARIF_REPORT, LOG)
CACHE_KEEP = 8


def scan_key(command: list[str], stacks: list[StackFile], checks_dir: Path, cwd: Path) -> str:
    """Everything checkov's verdict depends on: its command line (version pinned by the
    checkov venv's requirements), the project checks, and every stack's bytes."""
    digest = hashlib.sha256()
    requirements = cwd / "requirements" / "checkov.txt"
    inputs = [*sorted(checks_dir.rglob("*.py")), *(s.path for s in stacks)]
    if requirements.exists():
        inputs.append(requirements)
    digest.update("\0".join(command).encode())
    for path in inputs:
        digest.update(str(path.resolve()).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class ScanCache:
    """checkov's reports for inputs already scanned: a warm gate over unchanged stacks (the
    synth is byte-for-byte deterministic) reads them instead of starting checkov again."""

    folder: Path
    key: str

    @property
    def entry(self) -> Path:
        return self.folder / self.key

    def restore(self, report_dir: Path) -> bool:
        if os.environ.get("CIO_POLICY_CACHE") == "off" or not all(
            (self.entry / name).exists() for name in CACHED_FILES
        ):
            return False
        for name in CACHED_FILES:
            shutil.copyfile(self.entry / name, report_dir / name)
        return True

    def store(self, report_dir: Path) -> None:
        self.entry.mkdir(parents=True, exist_ok=True)
        for name in CACHED_FILES:
            if (report_dir / name).exists():
                shutil.copyfile(report_dir / name, self.entry / name)
        entries = sorted(self.folder.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[CACHE_KEEP:]:
            shutil.rmtree(old, ignore_errors=True)


def _terraform_json_part(report: Path) -> dict[str, Any]:
    """checkov's terraform_json report, refusing one with skipped checks."""
    data = json.loads(report.read_text(encoding="utf-8"))
    parts = [p for p in (data if isinstance(data, list) else [data]) if isinstance(p, dict)]
    part = next((p for p in parts if p.get("check_type") == "terraform_json"), None)
    if part is None:
        raise ScannerError(f"no terraform_json results in {report}")
    skipped = part.get("results", {}).get("skipped_checks") or []
    if skipped:
        raise ScannerError(
            f"checkov skipped {len(skipped)} checks (e.g. {skipped[0].get('check_id')}): "
            "suppressions belong in policy/suppressions.yaml, with a reason"
        )
    return part


def _logged_errors(log: Path) -> list[str]:
    return [
        "checkov: " + line.split("[ERROR]", 1)[-1].strip()
        for line in log.read_text(encoding="utf-8").splitlines()
        if any(marker in line for marker in LOAD_ERRORS)
    ]


def scan(
    stacks: list[StackFile], checkov: Path, checks_dir: Path, report_dir: Path, cwd: Path
) -> dict[str, ScanResult]:
    """One checkov process over every stack (its start-up is most of its run time).

    Files are passed relative to `cwd` (checkov's working directory): the project checks
    find the document through that path, and SARIF locations stay repository-relative.
    """
    if not os.access(checkov, os.X_OK):
        raise ScannerError(f"{checkov} is missing: build it with `make checkov-venv`")
    refuse_config_files(cwd)
    report_dir.mkdir(parents=True, exist_ok=True)
    by_file = {"/" + os.path.relpath(s.path, cwd): s for s in stacks}
    files = [relative.lstrip("/") for relative in by_file]
    command = _command(checkov, files, checks_dir, report_dir)
    cache = ScanCache(report_dir / CACHE_DIR, scan_key(command, stacks, checks_dir, cwd))
    cached = cache.restore(report_dir)
    if cached:
        log = report_dir / LOG
    else:
        log = _run_checkov(command, cwd, report_dir)
        cache.store(report_dir)
    part = _terraform_json_part(report_dir / JSON_REPORT)
    version = str(part["summary"].get("checkov_version", ""))
    results = {
        s.env: ScanResult(s.env, version, report_dir=report_dir, cached=cached) for s in stacks
    }
    for key, target in (("passed_checks", "passed"), ("failed_checks", "failed")):
        for record in part.get("results", {}).get(key, []):
            stack = by_file.get(record["file_path"])
            if stack is None:
                raise ScannerError(f"checkov reported an unexpected file {record['file_path']}")
            try:
                finding = _finding(stack, record)
            except LookupError as exc:
                raise ScannerError(str(exc)) from None
            getattr(results[stack.env], target).append(finding)
    errors = _logged_errors(log)
    parsing = {Path(e) for e in part.get("results", {}).get("parsing_errors", [])}
    for relative, stack in by_file.items():
        result = results[stack.env]
        # A check that failed on one stack's resource names that stack's file; a check that
        # did not load concerns every stack.
        result.problems += [
            e for e in errors if not any(f in e for f in by_file) or f"{relative}:" in e
        ]
        if stack.path.resolve() in parsing:
            result.problems.append(f"checkov could not parse {stack.path}")
        if stack.resources and not any(
            f.check_id.startswith(PROJECT_PREFIX) for f in result.passed + result.failed
        ):
            result.problems.append(f"no {PROJECT_PREFIX}* result: the project checks did not run")
    return results
