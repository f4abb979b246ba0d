"""The preflight report: one line per check, the failures' why and fix, a summary line."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from stacks.preflight.results import Result, Status, exit_code

WIDTH = len(Status.UNCHECKED.label)


@dataclass(frozen=True)
class Report:
    env: str
    project_id: str
    project_number: str | None
    credentials: str
    results: Sequence[Result] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        return exit_code(self.results)

    def counts(self) -> dict[str, int]:
        counted = Counter(r.status for r in self.results)
        return {status.value: counted.get(status, 0) for status in Status}

    def summary(self) -> str:
        counts = self.counts()
        verdict = {
            0: "ready to apply",
            1: "fix the failures above before applying",
            2: ("some checks could not run; the apply may still fail"),
        }[self.exit_code]
        return (
            f"preflight {self.env}: {counts['ok']} ok, {counts['fail']} failed, "
            f"{counts['could_not_check']} could not check: {verdict} (exit {self.exit_code})"
        )

    def text(self) -> str:
        number = self.project_number or "unknown"
        lines = [
            f"preflight {self.env}: project {self.project_id} (number {number}), "
            f"credentials: {self.credentials}"
        ]
        for result in self.results:
            lines.append(
                f"{result.status.label:<{WIDTH}}  {result.check:<10} {result.subject}: "
                f"{result.message}"
            )
            if result.why:
                lines.append(f"{'':<{WIDTH}}    why: {result.why}")
            lines.extend(f"{'':<{WIDTH}}    fix: {command}" for command in result.fix)
        lines.append(self.summary())
        return "\n".join(lines)

    def to_json(self) -> str:
        data = {
            "env": self.env,
            "project_id": self.project_id,
            "project_number": self.project_number,
            "credentials": self.credentials,
            "status": {0: "ok", 1: "findings", 2: "could_not_check"}[self.exit_code],
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "checks": [r.to_dict() for r in self.results],
        }
        return json.dumps(data, indent=2)
