"""Combine structure problems, checkov findings and suppressions into one verdict per
environment."""

from __future__ import annotations

from dataclasses import dataclass, field

from stacks.policy_gate.scanner import Finding, ScanResult
from stacks.policy_gate.selectors import Facts
from stacks.policy_gate.stackfile import StackFile
from stacks.policy_gate.suppressions import Suppression


@dataclass(frozen=True)
class Suppressed:
    finding: Finding
    suppression: Suppression


@dataclass(frozen=True)
class Excluded:
    """A failed finding that a suppression would hide, had its rule selected this environment."""

    suppression: Suppression
    findings: tuple[Finding, ...]
    why: str  # why the environment does not match the rule

    def message(self, env: str) -> str:
        s = self.suppression
        count = f" ({len(self.findings)} findings)" if len(self.findings) > 1 else ""
        return (
            f"{s.check}{count} is suppressed for environments with {s.environments} "
            f"({s.source} #{s.index}, {s.resource}: {s.excerpt!r}); "
            f"{env} does not match: {self.why}"
        )


@dataclass
class Verdict:
    env: str
    resources: int
    passed: int = 0
    failed: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    structure: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.structure or self.problems)


def _suppression_problems(
    stack: StackFile, facts: Facts | None, suppressions: list[Suppression], used: set[int]
) -> list[str]:
    """A suppression that matches no resource is stale; one that matches but hides no
    finding is no longer needed. Both fail the gate, so the file stays true."""
    problems = []
    entities = [*stack.resources.values(), *stack.data_sources.values()]
    for s in suppressions:
        if not s.environments.matches(facts):
            continue
        if not any(s.covers(info) for info in entities):
            problems.append(
                f"stale {s.label}: no resource {s.resource!r} in {stack.env}, which its "
                f"environments {s.environments} select; remove it, update the resource or "
                f"narrow the rule ({s.source})"
            )
        elif s.index not in used:
            problems.append(
                f"unused {s.label}: {s.check} passes on it in {stack.env}, which its "
                f"environments {s.environments} select; remove it or narrow the rule so "
                f"{stack.env} is excluded ({s.source})"
            )
    return problems


def _excluded(
    stack: StackFile, facts: Facts | None, suppressions: list[Suppression], failed: list[Finding]
) -> list[Excluded]:
    """Suppressions for a failed check and resource whose rule leaves this environment out."""
    found = []
    for s in suppressions:
        hits = tuple(f for f in failed if f.check_id == s.check and s.covers(stack.info(f.address)))
        if hits:
            found.append(Excluded(s, hits, s.environments.mismatch(facts)))
    return found


def judge(
    stack: StackFile,
    scan: ScanResult,
    structure: list[str],
    suppressions: list[Suppression],
    facts: Facts | None,
) -> Verdict:
    """`facts`: the environment file's properties (None: no file; only `all` rules apply)."""
    verdict = Verdict(stack.env, len(stack.resources), passed=len(scan.passed))
    verdict.structure = list(structure)
    verdict.problems = list(scan.problems)
    used: set[int] = set()
    for finding in scan.failed:
        info = stack.info(finding.address)
        match = next((s for s in suppressions if s.applies(facts, finding.check_id, info)), None)
        if match is None:
            verdict.failed.append(finding)
        else:
            used.add(match.index)
            verdict.suppressed.append(Suppressed(finding, match))
    verdict.excluded = _excluded(stack, facts, suppressions, verdict.failed)
    verdict.problems += _suppression_problems(stack, facts, suppressions, used)
    return verdict
