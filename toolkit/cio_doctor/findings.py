"""Findings, check results and the exit code they add up to.

Exit codes mean the same thing for every command:
- 0: healthy, every check ran and nothing of severity low or above was found;
- 1: findings: every check ran and at least one finding needs attention;
- 2: could not check: a check could not run (bad input, missing credentials, unreachable
  service, rate limited, timed out), so the report is incomplete.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from cio_shared.common import redact_email

EXIT_HEALTHY = 0
EXIT_FINDINGS = 1
EXIT_CANNOT_CHECK = 2


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    """Something an on-call engineer should know, and what to do about it."""

    severity: Severity
    code: str
    title: str
    detail: str = ""
    next_step: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity.label,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "next_step": self.next_step,
        }


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CannotCheck(Exception):
    """A check could not run; the message says why, without secrets or personal data."""


@dataclass
class Check:
    """One check's outcome: facts it gathered, findings, or why it could not run."""

    name: str
    started_at: str = field(default_factory=now_iso)
    finished_at: str = ""
    duration_ms: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None

    def add(
        self,
        severity: Severity,
        code: str,
        title: str,
        detail: str = "",
        next_step: str = "",
    ) -> None:
        """Record a finding; email addresses in its text are shortened (j***@example.com)."""
        self.findings.append(
            Finding(severity, code, redact_email(title), redact_email(detail), next_step)
        )

    def public_data(self) -> dict[str, Any]:
        """`data` as shown and written: every email address shortened, wherever it appears
        (a provider's failure message often quotes the recipient)."""
        shown = _without_emails(self.data)
        return shown if isinstance(shown, dict) else {}

    def fail(self, reason: str) -> None:
        self.error = reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_ms": round(self.duration_ms, 1),
            "status": status_of([self]),
            "error": self.error,
            "data": self.public_data(),
            "findings": [f.to_dict() for f in ranked(self.findings)],
        }


def _without_emails(value: Any) -> Any:
    if isinstance(value, str):
        return redact_email(value)
    if isinstance(value, dict):
        return {k: _without_emails(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_emails(v) for v in value]
    return value


@contextmanager
def running_check(name: str) -> Iterator[Check]:
    """Time a check; a `CannotCheck` raised inside marks it as not checked, not as a crash."""
    check = Check(name)
    start = time.perf_counter()
    try:
        yield check
    except CannotCheck as exc:
        check.fail(str(exc))
    finally:
        check.duration_ms = (time.perf_counter() - start) * 1000
        check.finished_at = now_iso()


def ranked(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: -int(f.severity))


def exit_code(checks: Iterable[Check]) -> int:
    checks = list(checks)
    if any(c.error for c in checks):
        return EXIT_CANNOT_CHECK
    if any(f.severity >= Severity.LOW for c in checks for f in c.findings):
        return EXIT_FINDINGS
    return EXIT_HEALTHY


def status_of(checks: Iterable[Check]) -> str:
    return {EXIT_HEALTHY: "healthy", EXIT_FINDINGS: "findings", EXIT_CANNOT_CHECK: "not_checked"}[
        exit_code(checks)
    ]


@dataclass
class Report:
    """What a command prints: its checks, all findings ranked, and the exit code."""

    command: str
    target: str = ""
    started_at: str = field(default_factory=now_iso)
    checks: list[Check] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def findings(self) -> list[Finding]:
        return ranked(f for c in self.checks for f in c.findings)

    @property
    def exit_code(self) -> int:
        return exit_code(self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "target": self.target,
            "started_at": self.started_at,
            "finished_at": now_iso(),
            "status": status_of(self.checks),
            "exit_code": self.exit_code,
            "checks": [c.to_dict() for c in self.checks],
            "findings": [f.to_dict() for f in self.findings()],
            **self.extra,
        }
