"""Combine structure problems, checkov findings and suppressions into one verdict per
environment."""

from __future__ import annotations

from dataclasses import dataclass, field

from stacks.policy_gate.scanner import Finding, ScanResult
from stacks.policy_gate.stackfile import StackFile
from stacks.policy_gate.suppressions import Suppression


@dataclass(frozen=True)
class Suppressed:
    finding: Finding
    suppression: Suppression


@dataclass
class Verdict:
    env: str
    resources: int
    passed: int = 0
    failed: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    structure: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.structure or self.problems)


def _suppression_problems(
    stack: StackFile, suppressions: list[Suppression], used: set[int]
) -> list[str]:
    """A suppression that matches no resource is stale; one that matches but hides no
    finding is no longer needed. Both fail the gate, so the file stays true."""
    problems = []
    for s in suppressions:
        if stack.env not in s.environments:
            continue
        entities = [*stack.resources.values(), *stack.data_sources.values()]
        if not any(s.covers(info) for info in entities):
            problems.append(
                f"stale {s.label}: no resource {s.resource!r} in {stack.env}; remove it or "
                "update the resource"
            )
        elif s.index not in used:
            problems.append(
                f"unused {s.label}: {s.check} passes on it in {stack.env}; remove "
                f"{stack.env} from its environments"
            )
    return problems


def judge(
    stack: StackFile, scan: ScanResult, structure: list[str], suppressions: list[Suppression]
) -> Verdict:
    verdict = Verdict(stack.env, len(stack.resources), passed=len(scan.passed))
    verdict.structure = list(structure)
    verdict.problems = list(scan.problems)
    used: set[int] = set()
    for finding in scan.failed:
        info = stack.info(finding.address)
        match = next(
            (s for s in suppressions if s.applies(stack.env, finding.check_id, info)), None
        )
        if match is None:
            verdict.failed.append(finding)
        else:
            used.add(match.index)
            verdict.suppressed.append(Suppressed(finding, match))
    verdict.problems += _suppression_problems(stack, suppressions, used)
    return verdict
