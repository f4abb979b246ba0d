"""What one check found, and the exit code a list of results adds up to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_CANNOT_CHECK = 2


class Status(StrEnum):
    OK = "ok"
    FAIL = "fail"
    UNCHECKED = "could_not_check"

    @property
    def label(self) -> str:
        return {"ok": "OK", "fail": "FAIL", "could_not_check": "COULD NOT CHECK"}[self.value]


@dataclass(frozen=True)
class Result:
    """One line of the report.

    `message` says what was found; for a failure `why` says why the apply would fail and `fix`
    holds the exact commands (or environment-file lines) that fix it, in order. For a check
    that could not run, `why` says what stopped it and `fix` how to make it checkable.
    """

    check: str
    subject: str
    status: Status
    message: str
    why: str = ""
    fix: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {
            "check": self.check,
            "subject": self.subject,
            "status": self.status.value,
            "message": self.message,
            "why": self.why,
            "fix": list(self.fix),
        }


def ok(check: str, subject: str, message: str) -> Result:
    return Result(check, subject, Status.OK, message)


def fail(check: str, subject: str, message: str, why: str, *fix: str) -> Result:
    return Result(check, subject, Status.FAIL, message, why, tuple(fix))


def unchecked(check: str, subject: str, message: str, why: str = "", *fix: str) -> Result:
    return Result(check, subject, Status.UNCHECKED, message, why, tuple(fix))


def exit_code(results: Iterable[Result]) -> int:
    """1 if anything failed, else 2 if anything could not be checked, else 0.

    Unlike cio-doctor, a finding outranks an unchecked item: `make plan` and the deploy
    workflow stop on 1 and only warn on 2 (a custom org-policy constraint is never
    checkable), so an unchecked item must not hide a certain failure.
    """
    statuses = {r.status for r in results}
    if Status.FAIL in statuses:
        return EXIT_FINDINGS
    if Status.UNCHECKED in statuses:
        return EXIT_CANNOT_CHECK
    return EXIT_OK
