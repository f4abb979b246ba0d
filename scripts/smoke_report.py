"""The smoke check's result: one line per check, each failure with what failed and the fix.

Exit codes: 0 every check passed, 1 at least one finding (something is wrong and the line says
how to fix it), 2 nothing was found wrong but some check could not run (no access, a service
unreachable). A finding wins over an unchecked item: it is the more useful answer.
Secrets passed to `render` are replaced wherever they would appear in the output.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum

REDACTED = "[redacted]"


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 (a status, not a password)
    FAIL = "fail"
    UNCHECKED = "unchecked"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class Report:
    env: str
    checks: list[Check] = field(default_factory=list)

    def passed(self, name: str, detail: str) -> None:
        self.checks.append(Check(name, Status.PASS, detail))

    def failed(self, name: str, detail: str, fix: str) -> None:
        self.checks.append(Check(name, Status.FAIL, detail, fix))

    def unchecked(self, name: str, detail: str, fix: str) -> None:
        self.checks.append(Check(name, Status.UNCHECKED, detail, fix))

    def count(self, status: Status) -> int:
        return sum(check.status is status for check in self.checks)

    @property
    def exit_code(self) -> int:
        if self.count(Status.FAIL):
            return 1
        return 2 if self.count(Status.UNCHECKED) else 0

    def render(self, as_json: bool, secrets: list[str]) -> str:
        if as_json:
            text = json.dumps(
                {
                    "env": self.env,
                    "exit_code": self.exit_code,
                    "passed": self.count(Status.PASS),
                    "failed": self.count(Status.FAIL),
                    "unchecked": self.count(Status.UNCHECKED),
                    "checks": [asdict(check) for check in self.checks],
                },
                indent=2,
            )
        else:
            lines = []
            for check in self.checks:
                label = {"pass": "ok  ", "fail": "FAIL", "unchecked": "SKIP"}[check.status]
                fix = f" -- fix: {check.fix}" if check.fix else ""
                lines.append(f"{label} {check.name}: {check.detail}{fix}")
            total = len(self.checks)
            lines.append(
                f"smoke {self.env}: {self.count(Status.PASS)}/{total} checks passed"
                + (f", {self.count(Status.UNCHECKED)} could not run" if self.exit_code == 2 else "")
            )
            text = "\n".join(lines)
        for secret in secrets:
            if secret:
                text = text.replace(secret, REDACTED)
        return text
